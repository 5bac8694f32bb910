"""``zafka topics describe [TOPIC] [--under-replicated]``: what it prints, with a fake Admin; and the Admin's
describe_topic against the fake broker when a partition is offline or its leader is gone.

Kafka's rules: a partition is *under-replicated* when its ISR is smaller than its replica list, *offline*
when it has no leader. Offsets of an offline partition print as ``-`` (there is no leader to ask), those a
leader did not report in time as ``?``.
"""

from __future__ import annotations

import time

import pytest

from scripts.cli import main as cli
from scripts.cli import topics
from scripts.cli.topics import DESCRIBE_HEADERS, describe_lines, partition_flags
from wire import errors
from wire.client.admin import PartitionDescription, TopicDescription


def part(p, leader, replicas, isr, epoch=0, start=0, hw=0, end=0, unclean=0):
    return PartitionDescription(partition=p, leader=leader, replicas=list(replicas), isr=list(isr),
                                leader_epoch=epoch, log_start_offset=start, log_end_offset=end, high_watermark=hw,
                                leader_endpoint=None if leader < 0 else f"tcp://127.0.0.1:{9000 + leader}",
                                unclean_elections=unclean)


HEALTHY = TopicDescription("orders", [part(1, 2, [2, 3, 1], [2, 3, 1], epoch=1, start=5, hw=42, end=42),
                                      part(0, 1, [1, 2, 3], [1, 2, 3], epoch=0, start=0, hw=10, end=12)])
DEGRADED = TopicDescription("degraded", [
    part(0, 1, [1, 2, 3], [1, 2, 3], hw=7, end=7),
    part(1, 2, [2, 3, 1], [2, 1], epoch=3, hw=4, end=4),             # broker 3 dropped out of the ISR
    part(2, -1, [3, 1, 2], [3], epoch=5, start=-1, hw=-1, end=-1),   # the last ISR member is down
])
LONELY = TopicDescription("lonely", [part(0, -1, [3], [3], epoch=2, start=-1, hw=-1, end=-1)])  # RF 1, offline
UNCLEAN = TopicDescription("risky", [part(0, 2, [1, 2], [2], epoch=4, hw=3, end=3, unclean=1)])


def rows(lines: list[str]) -> list[list[str]]:
    return [line.split() for line in lines[2:] if line and not line.startswith("note:")]


# -- the model: Kafka's definitions ----------------------------------------------------------------------------

def test_partition_description_flags_follow_kafka():
    healthy, shrunk, offline = DEGRADED.partitions
    assert (healthy.offline, healthy.under_replicated) == (False, False)
    assert (shrunk.offline, shrunk.under_replicated) == (False, True)
    assert (offline.offline, offline.under_replicated) == (True, True)
    lonely = LONELY.partitions[0]
    assert (lonely.offline, lonely.under_replicated) == (True, False)  # ISR still names its last leader
    assert partition_flags(healthy) == []
    assert partition_flags(offline) == ["offline", "under-replicated"]
    assert partition_flags(UNCLEAN.partitions[0]) == ["under-replicated", "unclean-elections=1"]


def test_partition_description_is_backward_compatible():
    # the fields existing callers build positionally, in their order; the new one defaults
    p = PartitionDescription(0, 1, [1], [1], 0, 0, 5)
    assert (p.high_watermark, p.leader_endpoint, p.unclean_elections) == (-1, None, 0)
    assert PartitionDescription._fields[:9] == ("partition", "leader", "replicas", "isr", "leader_epoch",
                                                "log_start_offset", "log_end_offset", "high_watermark",
                                                "leader_endpoint")


# -- the layout ---------------------------------------------------------------------------------------------------

def test_healthy_topic_layout():
    lines = describe_lines("orders", HEALTHY, {"retention.ms": "600000", "min.insync.replicas": "2"})
    assert lines[0] == ("Topic: orders  PartitionCount: 2  ReplicationFactor: 3  "
                        "Configs: min.insync.replicas=2,retention.ms=600000")
    assert lines[1].split() == DESCRIBE_HEADERS
    assert lines[1].split()[:4] == ["PARTITION", "LEADER", "REPLICAS", "ISR"]
    assert rows(lines) == [["0", "1", "1,2,3", "1,2,3", "0", "0", "10", "12"],  # sorted; no flags: nothing more
                           ["1", "2", "2,3,1", "2,3,1", "1", "5", "42", "42"]]
    assert len(lines) == 4


def test_columns_line_up_under_their_headers():
    lines = describe_lines("degraded", DEGRADED)
    header = lines[1]
    for name in ("EPOCH", "LOG-START", "HW", "LOG-END"):  # right-aligned: each value ends where its header does
        end = header.index(name) + len(name)
        for line in lines[2:]:
            assert line[end - 1] != " " and (len(line) == end or line[end] == " "), (name, line)
    flags_at = header.index("FLAGS")
    assert [line[flags_at:] for line in lines[2:]] == ["", "under-replicated", "offline,under-replicated"]


def test_offline_partition_shows_dashes_not_numbers():
    lines = describe_lines("degraded", DEGRADED)
    assert rows(lines)[2] == ["2", "none", "3,1,2", "3", "5", "-", "-", "-", "offline,under-replicated"]
    assert rows(describe_lines("lonely", LONELY)) == [["0", "none", "3", "3", "2", "-", "-", "-", "offline"]]


def test_a_leader_that_did_not_answer_shows_question_marks():
    slow = TopicDescription("slow", [part(0, 1, [1, 2], [1, 2], start=-1, hw=-1, end=-1)])
    assert rows(describe_lines("slow", slow)) == [["0", "1", "1,2", "1,2", "0", "?", "?", "?"]]


def test_unclean_elections_are_flagged_with_a_note():
    lines = describe_lines("risky", UNCLEAN)
    assert rows(lines) == [["0", "2", "1,2", "2", "4", "0", "3", "3", "under-replicated,unclean-elections=1"]]
    assert lines[-1].startswith("note: risky-0 had a leader elected from outside the ISR")
    assert "acknowledged records may have been lost" in lines[-1]
    assert not any(line.startswith("note:") for line in describe_lines("orders", HEALTHY))


def test_under_replicated_only_keeps_the_summary_and_those_rows():
    lines = describe_lines("degraded", DEGRADED, under_replicated_only=True)
    assert lines[0].startswith("Topic: degraded  PartitionCount: 3  ReplicationFactor: 3")  # the whole topic
    assert [r[0] for r in rows(lines)] == ["1", "2"]
    assert describe_lines("orders", HEALTHY, under_replicated_only=True) == []
    assert describe_lines("lonely", LONELY, under_replicated_only=True) == []


# -- the command, with a fake Admin ---------------------------------------------------------------------------

class FakeAdmin:
    def __init__(self, descriptions: dict[str, TopicDescription], overrides: dict[str, dict] | None = None,
                 vanished: tuple[str, ...] = ()):
        self.descriptions = descriptions
        self.overrides = overrides or {}
        self.vanished = vanished  # listed, then deleted before describe
        self.closed = False
        self.config_calls: list[str] = []

    def list_topics(self):
        return sorted([*self.descriptions, *self.vanished])

    def describe_topic(self, name):
        if name not in self.descriptions:
            raise errors.UnknownTopicOrPartition(f"topic {name!r} does not exist")
        return self.descriptions[name]

    def describe_topic_configs(self, name):
        self.config_calls.append(name)
        return {"cleanup.policy": "delete", **self.overrides.get(name, {})}

    def describe_topic_config_overrides(self, name):
        return sorted(self.overrides.get(name, {}))

    def close(self):
        self.closed = True


@pytest.fixture
def fake(monkeypatch):
    holder = {}

    def install(descriptions, **kwargs):
        admin = FakeAdmin(descriptions, **kwargs)
        monkeypatch.setattr(topics, "_admin", lambda args: admin)
        holder["admin"] = admin
        return admin

    return install


def run(capsys, *argv):
    code = cli.main(["topics", "describe", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_describe_without_a_topic_describes_every_topic(fake, capsys):
    admin = fake({"orders": HEALTHY, "degraded": DEGRADED}, overrides={"orders": {"retention.ms": "1"}},
                 vanished=("gone",))
    code, out, err = run(capsys)
    assert (code, err) == (0, "")
    blocks = out.split("\n\n")
    assert [b.splitlines()[0].split()[1] for b in blocks] == ["degraded", "orders"]  # sorted, a blank line between
    assert blocks[1].splitlines()[0].endswith("Configs: retention.ms=1")
    assert "Configs" not in blocks[0].splitlines()[0]  # only overrides are listed, as Kafka does
    assert admin.closed


def test_describe_one_topic_and_an_unknown_one(fake, capsys):
    fake({"orders": HEALTHY})
    code, out, _ = run(capsys, "orders")
    assert code == 0 and out.splitlines()[0].startswith("Topic: orders  PartitionCount: 2")
    code, out, err = run(capsys, "nope")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("zafka: error: topic 'nope' does not exist")


def test_under_replicated_lists_only_those(fake, capsys):
    admin = fake({"orders": HEALTHY, "degraded": DEGRADED})
    code, out, err = run(capsys, "--under-replicated")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith("Topic: degraded ") and "orders" not in out
    assert [r[0] for r in rows(lines)] == ["1", "2"]
    assert admin.config_calls == ["degraded"]  # topics with nothing to show cost no config requests


def test_under_replicated_with_none_says_so_in_one_line(fake, capsys):
    fake({"orders": HEALTHY})
    assert run(capsys, "--under-replicated") == (0, "no under-replicated partitions\n", "")
    assert run(capsys, "orders", "--under-replicated") == (0, "no under-replicated partitions in topic orders\n", "")


def test_under_replicated_names_offline_partitions_it_leaves_out(fake, capsys):
    fake({"orders": HEALTHY, "lonely": LONELY})
    code, out, _ = run(capsys, "--under-replicated")
    assert code == 0 and out.count("\n") == 1
    assert out == "no under-replicated partitions; offline, not under-replicated (so not listed): lonely-0\n"
    assert "lonely-0" in out
    fake({"degraded": DEGRADED, "lonely": LONELY})
    code, out, _ = run(capsys, "--under-replicated")
    assert out.splitlines()[0].startswith("Topic: degraded ")
    assert out.splitlines()[-2:] == ["", "offline, not under-replicated (so not listed): lonely-0"]


def test_a_failure_is_one_line(fake, capsys, monkeypatch):
    admin = fake({"orders": HEALTHY})

    def boom(name):
        raise errors.RequestTimedOut("describing topic 'orders' did not complete within 30000 ms")

    monkeypatch.setattr(admin, "describe_topic", boom)
    code, out, err = run(capsys, "orders")
    assert code == 1 and out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("zafka: error: describing topic 'orders' did not complete")
    assert admin.closed


# -- Admin.describe_topic: an offline partition neither fails nor delays the description -------------------------

@pytest.fixture
def fake_broker(tmp_path):
    from tests.fake_broker import FakeBroker

    with FakeBroker(tmp_path / "data", {"t": 3}) as fb:
        yield fb


def test_admin_describes_an_offline_partition_at_once_with_minus_one_offsets(fake_broker):
    from wire import Admin

    fake_broker.set_available("t", 1, False)
    with Admin(fake_broker.bootstrap, timeout_ms=30_000) as admin:
        started = time.monotonic()
        desc = admin.describe_topic("t")
        elapsed = time.monotonic() - started
    assert elapsed < 5, elapsed  # not the 30 s retry budget, nor a request timeout
    offline = desc.partitions[1]
    assert (offline.leader, offline.offline, offline.log_start_offset, offline.high_watermark,
            offline.log_end_offset) == (-1, True, -1, -1, -1)
    assert [p.log_end_offset for p in desc.partitions if p.partition != 1] == [0, 0]  # the others were asked
    assert rows(describe_lines("t", desc))[1][5:] == ["-", "-", "-", "offline"]


def test_admin_describe_survives_a_leader_whose_socket_is_gone(fake_broker):
    from wire import Admin

    fake_broker.kill_leader("t", 2)  # metadata still names it; the connection fails
    with Admin(fake_broker.bootstrap, request_timeout_ms=3000, timeout_ms=30_000) as admin:
        started = time.monotonic()
        desc = admin.describe_topic("t")
        elapsed = time.monotonic() - started
    assert elapsed < 10, elapsed
    gone = desc.partitions[2]
    assert gone.leader >= 0 and not gone.offline and gone.log_end_offset == -1
    assert rows(describe_lines("t", desc))[2][5:8] == ["?", "?", "?"]
