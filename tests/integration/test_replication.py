"""Replication on real clusters: followers hold the data, leaders fail over, acks=all means the ISR has it."""

from __future__ import annotations

import glob
import os
import signal
import time

import pytest

from storage import build_batch, iter_batches
from wire import Admin, Producer, errors
from wire.fetch import Fetch
from wire.produce import Produce
from wire.transport import Connection

from . import rawclient as rc
from .conftest import wait_for

FAST_LEADERS = {"leader.heartbeat.interval.ms": "100", "leader.session.timeout.ms": "800",
                "replica.lag.time.max.ms": "2000"}


def _partition(cluster, topic: str, p: int = 0):
    """The partition's metadata from the first broker that answers (tests crash brokers)."""
    last: Exception | None = None
    for endpoint in cluster.broker_endpoints.values():
        try:
            return rc.metadata(endpoint, [topic]).topics[0].partitions[p]
        except errors.ZafkaError as exc:
            last = exc
    raise AssertionError(f"no broker answered: {last}")


def _wait_partition(cluster, topic: str, check, what: str, p: int = 0, timeout: float = 20.0):
    def ready():
        part = _partition(cluster, topic, p)
        return part if not part.error and part.leader_endpoint and check(part) else None
    return wait_for(ready, timeout=timeout, what=what)


def _replica_batches(cluster, topic: str, p: int, broker: int) -> list[tuple[int, int, bytes]]:
    """(base offset, epoch, bytes) of every batch in a replica's segment files, read from disk."""
    out = []
    for path in sorted(glob.glob(os.path.join(cluster.broker_log_dirs(broker)[0], f"{topic}-{p}", "*.log"))):
        with open(path, "rb") as f:
            data = f.read()
        out.extend((b.base_offset, b.partition_leader_epoch, bytes(b.raw()[21:])) for b in iter_batches(data))
    return out


def _create(cluster, topic: str, partitions: int = 1, rf: int = 3, min_isr: int = 2, **configs) -> None:
    with Admin(bootstrap=cluster.bootstrap) as admin:
        admin.create_topic(topic, partitions=partitions, replication_factor=rf,
                           configs={"min.insync.replicas": str(min_isr), **configs})
    for p in range(partitions):
        _wait_partition(cluster, topic, lambda part: len(part.isr) == rf, f"{topic}-{p} ready", p)


def _produce_all(cluster, topic: str, values: list[bytes], partition: int = 0) -> list[int]:
    with Producer(bootstrap=cluster.bootstrap_servers, acks="all", linger_ms=2) as producer:
        futures = [producer.send(topic, value=v, partition=partition) for v in values]
        return [f.result(timeout=30).offset for f in futures]


def test_every_isr_member_holds_every_acknowledged_record_byte_for_byte(make_cluster):
    cluster = make_cluster(config=FAST_LEADERS)
    _create(cluster, "held")
    offsets = _produce_all(cluster, "held", [b"r%d" % i for i in range(600)])
    assert offsets == list(range(600))
    part = _wait_partition(cluster, "held", lambda part: len(part.isr) == 3, "ISR of 3")

    def replicated():
        copies = {b: _replica_batches(cluster, "held", 0, b) for b in part.replicas}
        ends = {b: (c[-1][0] if c else -1) for b, c in copies.items()}
        return copies if len(set(map(tuple, copies.values()))) == 1 and ends[part.leader] >= 0 else None

    copies = wait_for(replicated, what="every replica's files equal")
    batches = copies[part.leader]
    assert sum(1 for _ in batches) >= 1
    # the records are the acknowledged ones, in order, with the leader's epoch stamped
    values = [r.value for _, _, raw in batches for r in _records(raw)]
    assert values == [b"r%d" % i for i in range(600)]
    assert {epoch for _, epoch, _ in batches} == {part.leader_epoch}


def _records(raw_from_attributes: bytes):
    # rebuild a batch header prefix (offset, length, epoch, magic, crc are outside raw[21:])
    from storage.batch import RecordBatch
    header = b"\x00" * 8 + (len(raw_from_attributes) + 9).to_bytes(4, "big") + b"\x00" * 4 + b"\x02" + b"\x00" * 4
    return RecordBatch(header + raw_from_attributes).records()


def test_a_killed_leader_fails_over_to_an_in_sync_follower_and_rejoins_as_a_follower(make_cluster):
    cluster = make_cluster(config=FAST_LEADERS)
    _create(cluster, "failover")
    _produce_all(cluster, "failover", [b"before-%d" % i for i in range(100)])
    before = _partition(cluster, "failover")
    old_leader, old_epoch = before.leader, before.leader_epoch
    cluster.kill("leader-failover-0")
    after = _wait_partition(cluster, "failover", lambda p: p.leader != old_leader and p.leader_epoch > old_epoch,
                            "a new leader")
    assert after.leader in before.isr and after.leader_epoch == old_epoch + 1
    offsets = _produce_all(cluster, "failover", [b"after-%d" % i for i in range(100)])
    assert offsets == list(range(100, 200))  # nothing acknowledged before the kill was lost or overwritten
    # the old leader's process came back as a follower, caught up, and is in the ISR again
    _wait_partition(cluster, "failover", lambda p: sorted(p.isr) == [1, 2, 3], "the ISR back to 3")
    names = {a.name: a for a in cluster.actors(memory=False)}
    assert f"fetcher-failover-0-{old_leader}" in names and names[f"fetcher-failover-0-{old_leader}"].restarts == 1
    records = rc.read_partition(cluster.bootstrap, "failover", 0)
    assert [v for _, v in records] == [b"before-%d" % i for i in range(100)] + [b"after-%d" % i for i in range(100)]


def test_a_frozen_leader_is_replaced_and_after_it_resumes_acknowledges_nothing(make_cluster):
    cluster = make_cluster(config=FAST_LEADERS)
    _create(cluster, "frozen")
    _produce_all(cluster, "frozen", [b"x"])
    before = _partition(cluster, "frozen")
    stale_endpoint = before.leader_endpoint
    frozen_pid = cluster.kill("leader-frozen-0", signal.SIGSTOP)
    frozen_at = time.monotonic()
    try:
        after = _wait_partition(cluster, "frozen", lambda p: p.leader != before.leader, "a leader replacing the frozen one")
        assert time.monotonic() - frozen_at < 5  # noticed by its missing heartbeats, not by a death
        _produce_all(cluster, "frozen", [b"y"])
    finally:
        os.kill(frozen_pid, signal.SIGCONT)
    # resumed, it is fenced: a write sent straight to it is refused, never acknowledged
    with Connection(stale_endpoint) as conn:
        def refused():
            try:
                conn.call(Produce(topic="frozen", partition=0, acks=-1), [build_batch([b"stale"])], timeout_ms=3000)
            except (errors.NotLeader, errors.LeaderNotAvailable, errors.NotEnoughReplicas,
                    errors.NotEnoughReplicasAfterAppend, errors.RequestTimedOut, errors.FencedLeaderEpoch) as exc:
                return exc
            raise AssertionError("a deposed leader acknowledged an acks=all write")
        assert wait_for(refused, what="the stale leader refusing")
    _wait_partition(cluster, "frozen", lambda p: sorted(p.isr) == [1, 2, 3], "the resumed replica back in the ISR")
    assert after.leader_epoch > before.leader_epoch
    assert [v for _, v in rc.read_partition(cluster.bootstrap, "frozen", 0)] == [b"x", b"y"]


def test_acks_all_is_refused_with_nothing_appended_while_the_isr_is_below_min_insync_replicas(make_cluster):
    cluster = make_cluster(config=FAST_LEADERS)
    _create(cluster, "guarded")
    _produce_all(cluster, "guarded", [b"ok"])
    part = _partition(cluster, "guarded")
    followers = [b for b in part.replicas if b != part.leader]
    for b in followers:
        cluster.kill_broker(b, down_s=60)  # two brokers down: the ISR shrinks to the leader alone
    shrunk = _wait_partition(cluster, "guarded", lambda p: p.isr == [part.leader], "the ISR shrunk to the leader")
    with Connection(shrunk.leader_endpoint) as conn:
        def log_end() -> int:
            response, _ = conn.call(Fetch(topic="guarded", partition=0, offset=0, max_wait_ms=0), timeout_ms=5000)
            return response.log_end_offset

        def refused():
            # the leader learns of the smaller ISR a moment after the controller: a write in that
            # moment is appended, then answered NotEnoughReplicasAfterAppend (as in Kafka); retry
            try:
                conn.call(Produce(topic="guarded", partition=0, acks=-1), [build_batch([b"refused"])], timeout_ms=5000)
            except errors.NotEnoughReplicasAfterAppend:
                return None
            except errors.NotEnoughReplicas as exc:
                return exc
            raise AssertionError("acks=all was acknowledged with the ISR below min.insync.replicas")

        end_before = log_end()
        assert "min.insync.replicas=2" in str(wait_for(refused, what="NotEnoughReplicas"))
        end = log_end()
        with pytest.raises(errors.NotEnoughReplicas):
            conn.call(Produce(topic="guarded", partition=0, acks=-1), [build_batch([b"refused"])], timeout_ms=5000)
        assert log_end() == end >= end_before  # a refused batch takes no offset
        ok, _ = conn.call(Produce(topic="guarded", partition=0, acks=1), [build_batch([b"acks=1"])], timeout_ms=5000)
    assert ok.base_offset == end


def test_a_follower_that_stops_fetching_leaves_the_isr_after_the_lag_time_and_rejoins_when_caught_up(make_cluster):
    cluster = make_cluster(config=FAST_LEADERS)  # replica.lag.time.max.ms=2000
    _create(cluster, "lagging")
    part = _partition(cluster, "lagging")
    follower = [b for b in part.replicas if b != part.leader][0]
    pid = cluster.kill(f"fetcher-lagging-0-{follower}", signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        _produce_all(cluster, "lagging", [b"a%d" % i for i in range(50)])  # acks=all: waits for the ISR...
        shrunk = _wait_partition(cluster, "lagging", lambda p: follower not in p.isr, "the lagging follower dropped")
        assert time.monotonic() - stopped >= 1.5  # ... until the lag time ran out, not before
        assert sorted(shrunk.isr) == sorted(b for b in part.replicas if b != follower)
    finally:
        os.kill(pid, signal.SIGCONT)
    _wait_partition(cluster, "lagging", lambda p: sorted(p.isr) == [1, 2, 3], "the follower back in the ISR")
    assert [v for _, v in rc.read_partition(cluster.bootstrap, "lagging", 0)] == [b"a%d" % i for i in range(50)]


def test_small_replica_fetches_still_replicate_everything(make_cluster):
    cluster = make_cluster(config={**FAST_LEADERS, "replica.fetch.max.bytes": "300",
                                   "replica.fetch.wait.max.ms": "50", "replica.fetch.min.bytes": "1"})
    _create(cluster, "small")
    values = [os.urandom(100) for _ in range(200)]
    assert _produce_all(cluster, "small", values) == list(range(200))  # acks=all: each ISR member has it all
    part = _partition(cluster, "small")
    for b in part.isr:
        held = [r.value for _, _, raw in _replica_batches(cluster, "small", 0, b) for r in _records(raw)]
        assert held[:200] == values


@pytest.mark.parametrize("unclean", [False, True])
def test_with_the_whole_isr_gone_the_partition_stays_offline_unless_unclean_election_is_enabled(make_cluster, unclean):
    cluster = make_cluster(config=FAST_LEADERS)
    _create(cluster, "lonely", rf=2, min_isr=1)
    part = _partition(cluster, "lonely")
    leader, follower = part.leader, [b for b in part.replicas if b != part.leader][0]
    follower_pid = cluster.kill(f"fetcher-lonely-0-{follower}", signal.SIGSTOP)
    _wait_partition(cluster, "lonely", lambda p: p.isr == [leader], "the ISR down to the leader")
    _produce_all(cluster, "lonely", [b"only-on-the-leader"])
    os.kill(follower_pid, signal.SIGCONT)
    cluster.kill_broker(leader, down_s=60)  # the last ISR member goes, with a record the follower lacks
    if unclean:
        with Admin(bootstrap=cluster.broker_endpoints[follower]) as admin:
            admin.alter_topic_configs("lonely", {"unclean.leader.election.enable": "true"})
        elected = _wait_partition(cluster, "lonely", lambda p: p.leader == follower, "an unclean election")
        assert elected.unclean_elections == 1 and elected.isr == [follower]
        assert _produce_all(cluster, "lonely", [b"after"]) == [0]  # the lost record's offset is taken again
    else:
        def offline():
            p = _partition(cluster, "lonely")
            return p if p.leader == -1 and p.error == errors.LeaderNotAvailable.code else None
        wait_for(offline, what="the partition offline")
        deadline = time.monotonic() + 2  # and it stays so: the follower outside the ISR never leads
        while time.monotonic() < deadline:
            assert _partition(cluster, "lonely").leader == -1
