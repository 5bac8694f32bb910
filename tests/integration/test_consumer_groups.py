"""Consumer groups end to end: members of one group share a topic's partitions and keep its offsets."""

from __future__ import annotations

import threading

from wire import Consumer, Producer, TopicPartition

from . import rawclient as rc
from .conftest import wait_for

GROUPS = {"group.initial.rebalance.delay.ms": "0", "group.min.session.timeout.ms": "1000"}


class Member(threading.Thread):
    """A consumer of group ``g`` in a thread of its own, polling and committing after each batch."""

    def __init__(self, bootstrap: str, name: str, topic: str):
        super().__init__(name=name, daemon=True)
        self.bootstrap, self.topic = bootstrap, topic
        self.seen: list[tuple[int, int, bytes]] = []
        self.assigned: set[TopicPartition] = set()
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with Consumer(self.bootstrap, group_id="g", auto_offset_reset="earliest", enable_auto_commit=False,
                          session_timeout_ms=6000, heartbeat_interval_ms=300, max_poll_interval_ms=20_000) as c:
                c.subscribe([self.topic], on_assign=lambda ps: self.assigned.update(ps),
                            on_revoke=lambda ps: self.assigned.difference_update(ps))
                while not self.stop.is_set():
                    records = c.poll(timeout_ms=100)
                    self.seen.extend((r.partition, r.offset, r.value) for r in records)
                    if records:
                        c.commit()  # process first, then commit
        except BaseException as exc:  # noqa: BLE001 - the test reads it
            self.error = exc


def test_two_members_split_the_partitions_and_one_leaving_hands_its_share_to_the_other(make_cluster):
    cluster = make_cluster(config=GROUPS)
    rc.create_topic(cluster.bootstrap, "shared", partitions=4)
    with Producer(cluster.bootstrap, acks="all") as producer:
        for i in range(400):
            producer.send("shared", value=b"%d" % i, partition=i % 4)
    a, b = Member(cluster.bootstrap, "a", "shared"), Member(cluster.bootstrap, "b", "shared")
    a.start()
    b.start()
    try:
        everything = {TopicPartition("shared", p) for p in range(4)}
        wait_for(lambda: a.assigned and b.assigned and not (a.assigned & b.assigned)
                 and a.assigned | b.assigned == everything, timeout=30, what="the partitions split between a and b")
        wait_for(lambda: len({(p, o) for p, o, _ in a.seen + b.seen}) == 400, timeout=30, what="all 400 records")
        # each record was consumed by the member that owned its partition; no partition by both
        by_a = {p for p, _, _ in a.seen}
        by_b = {p for p, _, _ in b.seen}
        assert a.error is None and b.error is None
        assert not by_a & by_b or len(a.seen) + len(b.seen) > 400  # an overlap only with redelivery
        # b leaves (close): a gets everything, and goes on from b's committed offsets
        b.stop.set()
        b.join(20)
        wait_for(lambda: a.assigned == everything, timeout=30, what="a owning every partition")
        before = len(a.seen)
        with Producer(cluster.bootstrap, acks="all") as producer:
            for i in range(400, 480):
                producer.send("shared", value=b"%d" % i, partition=i % 4)
        wait_for(lambda: {v for _, _, v in a.seen} >= {b"%d" % i for i in range(400, 480)}, timeout=30,
                 what="a reading the new records of every partition")
        redelivered = [(p, o) for p, o, _ in a.seen[before:] if o < 100]
        assert not redelivered, f"records b had committed were read again: {redelivered[:5]}"
    finally:
        a.stop.set()
        b.stop.set()
        a.join(20)
        b.join(20)
    assert a.error is None and b.error is None, (a.error, b.error)


def _produce(cluster, topic: str, values: range, partitions: int) -> None:
    with Producer(cluster.bootstrap, acks="all") as producer:
        for i in values:
            producer.send(topic, value=b"%d" % i, partition=i % partitions)


def test_three_members_own_six_partitions_once_and_a_killed_members_share_moves_to_the_survivors(
        make_cluster, group_consumer):
    import signal
    import time

    cluster = make_cluster(config=GROUPS)
    rc.create_topic(cluster.bootstrap, "six", partitions=6)
    _produce(cluster, "six", range(600), 6)
    members = [group_consumer(cluster.bootstrap, "g6", "six", "--session-ms", "3000") for _ in range(3)]
    everything = {("six", p) for p in range(6)}

    def split_among(alive):
        owned = [m.assigned() for m in alive]
        return all(len(o) == 6 // len(alive) for o in owned) and set().union(*owned) == everything

    wait_for(lambda: split_among(members), timeout=30, what="6 partitions split 2-2-2")
    wait_for(lambda: {(p, o) for m in members for _, p, o, _, _ in m.records()} >= {(i % 6, i // 6) for i in range(600)},
             timeout=30, what="all 600 records consumed")
    victim, survivors = members[2], members[:2]
    moved = victim.assigned()
    killed_at = time.monotonic()
    victim.process.send_signal(signal.SIGKILL)
    _produce(cluster, "six", range(600, 660), 6)
    wait_for(lambda: split_among(survivors), timeout=30, what="the survivors owning the dead member's partitions")
    wait_for(lambda: {v for m in survivors for _, _, _, v, _ in m.records()} >= {str(i) for i in range(600, 660)},
             timeout=30, what="the new records consumed by the survivors")
    # every produced record was processed at least once, in order per partition per member
    produced = {(i % 6, i // 6) for i in range(660)}
    consumed = [(p, o) for m in members for _, p, o, _, _ in m.records()]
    assert set(consumed) >= produced
    for m in members:
        for p in range(6):
            offsets = [o for _, q, o, _, _ in m.records() if q == p]
            assert all(a < b for a, b in zip(offsets, offsets[1:])) or len(set(offsets)) < len(offsets)
    # duplicates only within what the killed member had read but not committed
    uncommitted = {(p, o) for _, p, o, _, _ in victim.records()[victim.records_before_last_commit():]}
    duplicates = {x for x in consumed if consumed.count(x) > 1}
    assert duplicates <= uncommitted, sorted(duplicates - uncommitted)[:5]
    gaps = {p: min(at for m in survivors for _, q, o, _, at in m.records() if q == p and o >= 100) - killed_at
            for _, p in moved}
    print(f"kill -> first record consumed from each moved partition: "
          f"{', '.join(f'p{p} {g:.2f} s' for p, g in sorted(gaps.items()))} (session.timeout.ms=3000)")
    assert set(gaps) == {p for _, p in moved}


def test_two_groups_each_get_every_record(make_cluster, group_consumer):
    cluster = make_cluster(config=GROUPS)
    rc.create_topic(cluster.bootstrap, "fanout", partitions=3)
    _produce(cluster, "fanout", range(300), 3)
    billing = group_consumer(cluster.bootstrap, "billing", "fanout")
    audit = group_consumer(cluster.bootstrap, "audit", "fanout")
    for member in (billing, audit):
        wait_for(lambda m=member: {v for _, _, _, v, _ in m.records()} == {str(i) for i in range(300)}, timeout=30,
                 what=f"every record in {member.out}")


def test_a_static_member_restarting_within_its_session_takes_its_partitions_back_without_a_rebalance(
        make_cluster, group_consumer):
    import signal

    cluster = make_cluster(config=GROUPS)
    rc.create_topic(cluster.bootstrap, "static", partitions=4)
    first = group_consumer(cluster.bootstrap, "gs", "static", "--instance", "worker-1", "--session-ms", "10000")
    other = group_consumer(cluster.bootstrap, "gs", "static", "--session-ms", "10000")
    wait_for(lambda: len(first.assigned()) == 2 and len(other.assigned()) == 2, timeout=30, what="a 2-2 split")
    mine, rebalances = first.assigned(), other.rebalances()
    first.process.send_signal(signal.SIGKILL)  # a crash: a static member does not leave
    first.process.wait(10)
    again = group_consumer(cluster.bootstrap, "gs", "static", "--instance", "worker-1", "--session-ms", "10000")
    wait_for(lambda: again.assigned() == mine, timeout=30, what="the restarted instance owning its partitions again")
    _produce(cluster, "static", range(40), 4)
    wait_for(lambda: {v for m in (again, other) for _, _, _, v, _ in m.records()} >= {str(i) for i in range(40)},
             timeout=30, what="both consuming")
    assert other.rebalances() == rebalances  # the other member was never revoked nor reassigned


def test_the_brokers_group_settings_bound_sessions_and_delay_a_starting_groups_first_rebalance(make_cluster):
    import time

    import pytest

    from wire import errors

    cluster = make_cluster(config={"group.min.session.timeout.ms": "2000", "group.max.session.timeout.ms": "8000",
                                   "group.initial.rebalance.delay.ms": "1500"})
    rc.create_topic(cluster.bootstrap, "bounded", partitions=1)
    for session in (1000, 9000):  # outside [group.min.session.timeout.ms, group.max.session.timeout.ms]
        with Consumer(cluster.bootstrap, group_id=f"g{session}", session_timeout_ms=session,
                      heartbeat_interval_ms=500) as c:
            c.subscribe(["bounded"])
            deadline = time.monotonic() + 30
            with pytest.raises(errors.InvalidSessionTimeout, match="outside"):
                while time.monotonic() < deadline:  # poll() keeps to its timeout while the group is found
                    c.poll(timeout_ms=100)
    with Consumer(cluster.bootstrap, group_id="delayed", session_timeout_ms=4000, heartbeat_interval_ms=500) as c:
        c.subscribe(["bounded"])
        started = time.monotonic()
        while not c.assignment():
            c.poll(timeout_ms=100)
        # the first member of an empty group waits group.initial.rebalance.delay.ms for others to join
        assert time.monotonic() - started >= 1.5


def test_zafka_consume_group_and_groups_list_describe_show_members_offsets_and_lag(make_cluster, tmp_path):
    from .test_cli import ok, one_line_error, zafka

    data_dir = tmp_path / "cluster"
    cluster = make_cluster(brokers=1, data_dir=data_dir, config=GROUPS)
    ok(zafka(data_dir, "topics", "create", "seen", "--partitions", "2"))
    _produce(cluster, "seen", range(10), 2)
    out = ok(zafka(data_dir, "consume", "seen", "--group", "readers", "--from-beginning", "--max-messages", "6"))
    assert len(out.splitlines()) == 6
    listed = ok(zafka(data_dir, "groups", "list"))
    assert "readers" in listed and "Empty" in listed  # it left when it exited
    described = ok(zafka(data_dir, "groups", "describe", "readers"))
    assert "state Empty" in described
    rows = {line.split()[1]: line.split() for line in described.splitlines() if line.startswith("seen ")}
    committed = sum(int(r[2]) for r in rows.values())
    lags = sum(int(r[4]) for r in rows.values())
    assert committed == 6 and lags == 4 and {r[3] for r in rows.values()} == {"5"}  # 5 records per partition
    # the next member of the group goes on from the committed offsets
    rest = ok(zafka(data_dir, "consume", "seen", "--group", "readers", "--max-messages", "4"))
    assert sorted(out.splitlines() + rest.splitlines(), key=int) == [str(i) for i in range(10)]
    assert "does not exist" in one_line_error(zafka(data_dir, "groups", "describe", "nobody"))


def _poll_until(consumer, condition, what: str, timeout: float = 30.0) -> list:
    """Poll ``consumer`` until ``condition(records so far)``; the records."""
    import time

    seen: list = []
    deadline = time.monotonic() + timeout
    while not condition(seen):
        assert time.monotonic() < deadline, f"timed out waiting for {what}; got {len(seen)} records"
        seen.extend(consumer.poll(timeout_ms=100))
    return seen


def test_a_pattern_subscription_picks_up_a_new_matching_topic_and_a_topic_gaining_partitions(make_cluster):
    from wire import Admin

    cluster = make_cluster(config=GROUPS)
    rc.create_topic(cluster.bootstrap, "pat-a", partitions=1)
    rc.create_topic(cluster.bootstrap, "other", partitions=1)
    _produce(cluster, "pat-a", range(5), 1)
    _produce(cluster, "other", range(5), 1)
    with Consumer(cluster.bootstrap, group_id="pattern", auto_offset_reset="earliest", session_timeout_ms=6000,
                  heartbeat_interval_ms=500, metadata_max_age_ms=300) as c:
        c.subscribe(pattern=r"pat-.*")
        got = _poll_until(c, lambda rs: len(rs) >= 5, "pat-a's records")
        assert {r.topic for r in got} == {"pat-a"}  # "other" does not match
        rc.create_topic(cluster.bootstrap, "pat-b", partitions=1)
        _produce(cluster, "pat-b", range(3), 1)
        got = _poll_until(c, lambda rs: sum(r.topic == "pat-b" for r in rs) >= 3, "the new topic's records")
        assert c.subscription() == {"pat-a", "pat-b"}
        with Admin(cluster.bootstrap) as admin:
            admin.create_partitions("pat-a", 3)
        _produce(cluster, "pat-a", range(100, 103), 3)  # one on each partition, 1 and 2 new
        got = _poll_until(c, lambda rs: {r.partition for r in rs if r.topic == "pat-a"} >= {1, 2},
                          "records of the partitions pat-a gained")
        assert {tp.partition for tp in c.assignment() if tp.topic == "pat-a"} == {0, 1, 2}


def test_a_cooperative_rebalance_revokes_only_what_moves_and_the_rest_keeps_flowing(make_cluster, group_consumer):
    import time

    cluster = make_cluster(config=GROUPS)
    rc.create_topic(cluster.bootstrap, "coop", partitions=4)
    stop = threading.Event()

    def produce() -> None:  # a steady stream on every partition while the group changes
        with Producer(cluster.bootstrap, acks=1, linger_ms=1) as producer:
            i = 0
            while not stop.wait(0.002):
                producer.send("coop", value=b"%d" % i, partition=i % 4)
                i += 1

    feeder = threading.Thread(target=produce, daemon=True)
    feeder.start()
    try:
        a, b = (group_consumer(cluster.bootstrap, "gc", "coop", "--strategy", "cooperative-sticky") for _ in range(2))
        wait_for(lambda: len(a.assigned()) == 2 and len(b.assigned()) == 2, timeout=30, what="a 2-2 split")
        before = {"a": a.assigned(), "b": b.assigned()}
        c_started = time.monotonic()
        c = group_consumer(cluster.bootstrap, "gc", "coop", "--strategy", "cooperative-sticky")
        wait_for(lambda: len(c.assigned()) == 1 and len(a.assigned() | b.assigned()) == 3, timeout=30,
                 what="c taking one partition")
    finally:
        stop.set()
        feeder.join(10)
    # only the one partition that moved was revoked; each old member kept at least one throughout
    revoked = [line for m in (a, b) for line in m.lines() if line[0] == "revoke" and float(line[1]) >= c_started]
    assert len(revoked) == 1 and len(revoked[0][2].split(",")) == 1, revoked
    (moved,) = c.assigned()
    kept = {"a": before["a"] - {moved}, "b": before["b"] - {moved}}
    assert all(kept.values()) and a.assigned() >= kept["a"] and b.assigned() >= kept["b"]
    # and they kept being consumed while the group rebalanced: between the revoke and c's assignment
    revoked_at = float(revoked[0][1])
    assigned_at = min(float(line[1]) for line in c.lines() if line[0] == "assign")
    during = [r for m, name in ((a, "a"), (b, "b")) for r in m.records()
              if (r[0], r[1]) in kept[name] and revoked_at <= r[4] <= assigned_at]
    print(f"rebalance window {assigned_at - revoked_at:.3f} s; {len(during)} records of unmoved partitions "
          "consumed in it")
    assert during, "no record of an unmoved partition was consumed during the rebalance"


def test_committed_offsets_survive_a_whole_broker_crash_of_the_groups_coordinator(make_cluster):
    from actors import offsets_log
    from wire import Admin

    cluster = make_cluster(config={**GROUPS, "leader.heartbeat.interval.ms": "100", "leader.session.timeout.ms": "800"})
    with Admin(cluster.bootstrap) as admin:
        admin.create_topic("durable", partitions=1, replication_factor=3)
    _produce(cluster, "durable", range(100), 1)
    with Consumer(cluster.bootstrap_servers, group_id="survivors", auto_offset_reset="earliest",
                  enable_auto_commit=False, session_timeout_ms=6000, heartbeat_interval_ms=500) as c:
        c.subscribe(["durable"])
        _poll_until(c, lambda rs: len(rs) >= 1, "a first record")
        c.commit({TopicPartition("durable", 0): 50})
        assert c.committed(TopicPartition("durable", 0)) == 50
    p = offsets_log.partition_for("survivors", 3)
    leader = rc.metadata(cluster.bootstrap, [offsets_log.TOPIC]).topics[0].partitions[p].leader
    cluster.kill_broker(leader, down_s=3)  # the coordinator, its offsets replica and its broker, all at once
    with Consumer(cluster.bootstrap_servers, group_id="survivors", auto_offset_reset="earliest",
                  enable_auto_commit=False, session_timeout_ms=6000, heartbeat_interval_ms=500) as c:
        c.subscribe(["durable"])
        got = _poll_until(c, lambda rs: len(rs) >= 50, "the records after the committed offset", timeout=60)
        assert [r.offset for r in got[:50]] == list(range(50, 100))  # not from 0: the commit was kept


def test_zafka_groups_reset_offsets_plans_then_executes_and_delete_removes_an_empty_group(make_cluster, tmp_path):
    from .test_cli import ok, one_line_error, zafka

    data_dir = tmp_path / "cluster"
    cluster = make_cluster(brokers=1, data_dir=data_dir, config=GROUPS)
    ok(zafka(data_dir, "topics", "create", "replay", "--partitions", "2"))
    _produce(cluster, "replay", range(20), 2)
    ok(zafka(data_dir, "consume", "replay", "--group", "rg", "--from-beginning", "--max-messages", "20"))
    dry = ok(zafka(data_dir, "groups", "reset-offsets", "rg", "--all-topics", "--shift-by", "-4"))
    assert "dry run" in dry and [line.split()[2:] for line in dry.splitlines() if line.startswith("replay ")] == [
        ["10", "6"], ["10", "6"]]
    assert "10" in ok(zafka(data_dir, "groups", "describe", "rg"))  # the dry run changed nothing
    ok(zafka(data_dir, "groups", "reset-offsets", "rg", "--topic", "replay", "--to-offset", "7", "--execute"))
    again = ok(zafka(data_dir, "consume", "replay", "--group", "rg", "--max-messages", "6"))
    assert sorted(int(v) for v in again.splitlines()) == [14, 15, 16, 17, 18, 19]  # offsets 7..9 of each partition
    ok(zafka(data_dir, "groups", "delete", "rg"))
    assert "rg" not in ok(zafka(data_dir, "groups", "list"))
    assert "does not exist" in one_line_error(zafka(data_dir, "groups", "describe", "rg"))


def _joined_consumer(cluster, group: str, topic: str, **config):
    """A consumer of ``group`` that has its assignment (polled until it does)."""
    import time

    c = Consumer(cluster.bootstrap_servers, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False,
                 session_timeout_ms=6000, heartbeat_interval_ms=500, **config)
    c.subscribe([topic])
    deadline = time.monotonic() + 30
    while not c.assignment():
        assert time.monotonic() < deadline, "no assignment in 30 s"
        c.poll(timeout_ms=100)
    return c


def test_commit_async_returns_at_once_and_its_callbacks_run_in_order_from_poll_commit_and_close(make_cluster):
    import time

    import pytest

    from wire import OffsetAndMetadata, errors

    cluster = make_cluster(brokers=1, config=GROUPS)
    rc.create_topic(cluster.bootstrap, "later", partitions=1)
    tp = TopicPartition("later", 0)
    committed_seen = []

    class Interceptor:
        def on_commit(self, offsets):
            committed_seen.append(dict(offsets))

    done: list = []

    def callback(offsets, exc):
        done.append(({t: o.offset for t, o in offsets.items()}, exc))

    c = _joined_consumer(cluster, "later", "later", interceptors=[Interceptor()])
    try:
        c.commit_async({tp: 5}, callback)
        c.commit_async({tp: OffsetAndMetadata(7, "batch 7")}, callback)
        c.commit_async({tp: OffsetAndMetadata(8, "x" * 5000)}, callback)  # over offset.metadata.max.bytes
        assert done == []  # nothing waited for a reply: the callbacks come from a later poll
        deadline = time.monotonic() + 30
        while len(done) < 3:
            assert time.monotonic() < deadline, f"callbacks so far: {done}"
            c.poll(timeout_ms=100)
        assert [d[0] for d in done] == [{tp: 5}, {tp: 7}, {tp: 8}]  # in the order they were made
        assert done[0][1] is None and done[1][1] is None
        assert isinstance(done[2][1], errors.OffsetMetadataTooLarge)  # typed, and nothing was stored
        assert c.committed(tp, metadata=True) == OffsetAndMetadata(7, "batch 7") and c.committed(tp) == 7
        assert committed_seen[-1] == {tp: OffsetAndMetadata(7, "batch 7")}  # on_commit heard only what was stored
        # commit() finishes the async commits before its own, so the later one wins
        c.commit_async({tp: 9}, callback)
        c.commit({tp: 10})
        assert done[-1] == ({tp: 9}, None) and c.committed(tp) == 10
        with pytest.raises(ValueError):
            c.commit({tp: -1})  # refused before anything is sent
        assert c.committed(tp) == 10
        c.commit_async({tp: 11}, callback)
    finally:
        c.close()  # finishes the last async commit and calls its callback
    assert done[-1] == ({tp: 11}, None)
    with Consumer(cluster.bootstrap_servers, group_id="later") as reader:
        assert reader.committed(tp) == 11


def test_poll_keeps_to_its_timeout_while_the_coordinator_holds_a_rebalance(make_cluster):
    import time

    cluster = make_cluster(brokers=1, config=GROUPS)
    rc.create_topic(cluster.bootstrap, "held", partitions=2)
    _produce(cluster, "held", range(20), 2)
    # the first member stops polling but goes on heartbeating: the coordinator holds the next
    # rebalance for it until its max_poll_interval_ms (its rebalance timeout) runs out
    first = _joined_consumer(cluster, "held", "held", max_poll_interval_ms=8000)
    second = None
    try:
        second = Consumer(cluster.bootstrap_servers, group_id="held", auto_offset_reset="earliest",
                          enable_auto_commit=False, session_timeout_ms=6000, heartbeat_interval_ms=500)
        second.subscribe(["held"])
        rounds = []
        while not second.assignment():
            started = time.monotonic()
            second.poll(timeout_ms=100)
            rounds.append(time.monotonic() - started)
            assert len(rounds) < 1000, "no assignment after 1000 polls"
        # the join was held for seconds, and not one poll blocked for it
        assert sum(rounds) > 2.0 and max(rounds) < 2.0, (sum(rounds), max(rounds))
    finally:
        first.close()
        if second is not None:
            second.close()


def test_a_subscribed_topic_the_metadata_did_not_show_at_the_rebalance_is_assigned_once_it_appears(make_cluster):
    import time

    cluster = make_cluster(brokers=1, config=GROUPS)
    rc.create_topic(cluster.bootstrap, "other", partitions=1)
    with Consumer(cluster.bootstrap_servers, group_id="early", auto_offset_reset="earliest",
                  allow_auto_create_topics=False, session_timeout_ms=6000, heartbeat_interval_ms=500) as c:
        c.subscribe(["not-yet"])  # metadata_max_age_ms stays at its 5 minutes
        deadline = time.monotonic() + 30
        while c._group.needs_join:  # the group formed, with nothing to assign
            assert time.monotonic() < deadline, "the first rebalance did not complete"
            c.poll(timeout_ms=100)
        assert c.assignment() == set()
        rc.create_topic(cluster.bootstrap, "not-yet", partitions=2)
        _produce(cluster, "not-yet", range(4), 2)
        got = _poll_until(c, lambda rs: len(rs) >= 4, "the new topic's records", timeout=30)
        assert {r.partition for r in got} == {0, 1}
        assert c.assignment() == {TopicPartition("not-yet", 0), TopicPartition("not-yet", 1)}


def test_a_consumer_keeps_committing_through_a_coordinator_kill_and_a_new_member_resumes_there(make_cluster):
    from actors import offsets_log

    cluster = make_cluster(config=GROUPS)
    rc.create_topic(cluster.bootstrap, "kept", partitions=1)
    _produce(cluster, "kept", range(100), 1)
    tp = TopicPartition("kept", 0)
    with Consumer(cluster.bootstrap_servers, group_id="kept", auto_offset_reset="earliest", enable_auto_commit=False,
                  session_timeout_ms=6000, heartbeat_interval_ms=500, max_poll_records=30) as c:
        c.subscribe(["kept"])
        first = _poll_until(c, lambda rs: len(rs) >= 30, "the first records")
        c.commit()
        committed_before = c.committed(tp)
        assert committed_before == first[-1].offset + 1
        p = offsets_log.partition_for("kept", 3)
        leader = rc.metadata(cluster.bootstrap, [offsets_log.TOPIC]).topics[0].partitions[p].leader
        cluster.kill(f"coordinator-{leader}")  # the group's coordinator, SIGKILLed and restarted
        more = _poll_until(c, lambda rs: len(rs) >= 20, "records after the kill")
        c.commit()  # finds the restarted coordinator (it reloads the group from __consumer_offsets)
        last = more[-1].offset + 1
        assert c.committed(tp) == last > committed_before
    with Consumer(cluster.bootstrap_servers, group_id="kept", auto_offset_reset="earliest",
                  enable_auto_commit=False, session_timeout_ms=6000, heartbeat_interval_ms=500) as d:
        d.subscribe(["kept"])
        rest = _poll_until(d, lambda rs: rs and rs[-1].offset == 99, "the rest of the topic")
        assert rest[0].offset == last  # nothing committed was read again
