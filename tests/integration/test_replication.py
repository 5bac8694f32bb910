"""Replication on real clusters: followers hold the data, leaders fail over, acks=all means the ISR has it."""

from __future__ import annotations

import glob
import os
import signal
import subprocess
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


def test_random_leader_kills_and_a_broker_crash_under_acks_all_lose_nothing_and_reorder_nothing(make_cluster,
                                                                                                acked_producer):
    import random

    cluster = make_cluster(config={**FAST_LEADERS, "supervisor.max.restarts": "1000"})
    _create(cluster, "storm", partitions=3)
    # 20,000 records from a producer process of its own, paced over ~10 s so the faults land mid-stream
    producer = acked_producer(cluster.bootstrap_servers, "storm", partitions=3, count=20_000, chunk=200,
                              pause_ms=100)
    rng = random.Random(7)
    kills, broker_crashed = 0, False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:  # a fault about every second, until the producer has sent everything
            producer.process.wait(timeout=1.0)
            break
        except subprocess.TimeoutExpired:
            pass
        leaders = [a.name for a in cluster.actors(memory=False) if a.kind == "leader" and a.alive]
        if kills == 4 and not broker_crashed:
            cluster.kill_broker(rng.choice([1, 2, 3]), down_s=3)
            broker_crashed = True
        elif leaders:
            cluster.kill(rng.choice(leaders))
        kills += 1
    producer.wait(timeout=120)
    acked, failed = producer.acked(), producer.failed()
    assert kills >= 5 and broker_crashed
    assert len(acked) + len(failed) == 20_000 and len(acked) >= 19_000, (len(acked), failed[:3])
    # every acknowledged record is exactly at its acknowledged offset, in send order per partition
    for p in range(3):
        stored = dict(rc.read_partition(cluster.bootstrap_servers.split(",")[0], "storm", p))
        mine = [(o, v) for q, o, v, _ in acked if q == p]
        assert all(stored.get(o) == v for o, v in mine), f"partition {p}: an acknowledged record is missing"
        offsets = [o for o, _ in mine]
        assert offsets == sorted(offsets), f"partition {p}: acknowledged records reordered"
    for p in range(3):
        _wait_partition(cluster, "storm", lambda part: sorted(part.isr) == [1, 2, 3], f"storm-{p} ISR back to 3",
                        p, timeout=30)


def test_a_returning_replica_truncates_a_divergent_tail_two_epochs_deep(make_cluster):
    cluster = make_cluster(config=FAST_LEADERS)
    _create(cluster, "div", min_isr=1)
    part = _partition(cluster, "div")
    a, b, c = part.replicas  # a leads at epoch e0
    _produce_all(cluster, "div", [b"common-%d" % i for i in range(10)])
    _wait_partition(cluster, "div", lambda p: sorted(p.isr) == [1, 2, 3], "all in sync")
    # epoch e0: a writes a tail nobody else gets (its followers are frozen), then a dies
    frozen = [cluster.kill(f"fetcher-div-0-{x}", signal.SIGSTOP) for x in (b, c)]
    with Connection(part.leader_endpoint) as conn:
        for i in range(5):
            conn.call(Produce(topic="div", partition=0, acks=1), [build_batch([b"divergent-%d" % i])], timeout_ms=5000)
    cluster.kill("leader-div-0", down_s=6)
    for pid in frozen:
        os.kill(pid, signal.SIGCONT)
    e1 = _wait_partition(cluster, "div", lambda p: p.leader in (b, c) and a not in p.isr, "a new leader at e1")
    _produce_all(cluster, "div", [b"e1-%d" % i for i in range(3)])
    # epoch e2: the e1 leader dies too; the last one leads
    cluster.kill("leader-div-0", down_s=2)
    e2 = _wait_partition(cluster, "div", lambda p: p.leader_epoch > e1.leader_epoch and p.leader not in (a, e1.leader),
                         "a new leader at e2")
    _produce_all(cluster, "div", [b"e2-%d" % i for i in range(3)])
    # both come back as followers; a must cut its e0 tail at the end of e0 in the leader's history
    final = _wait_partition(cluster, "div", lambda p: sorted(p.isr) == [1, 2, 3], "everyone back in the ISR",
                            timeout=30)
    assert final.leader == e2.leader
    def converged():
        held = {x: [r.value for _, _, raw in _replica_batches(cluster, "div", 0, x) for r in _records(raw)]
                for x in (a, b, c)}
        return held[a] if held[a] == held[b] == held[c] and held[a][-3:] == [b"e2-%d" % i for i in range(3)] else None

    history = wait_for(converged, what="every replica holding the same history")
    # the committed history: the common records, then whatever of a's e0 tail reached a follower before a
    # died (a fetch already answered when the followers froze), then e1 and e2 — never the rest of the tail
    assert history[:10] == [b"common-%d" % i for i in range(10)]
    kept = history[10:-6]
    assert kept == [b"divergent-%d" % i for i in range(len(kept))] and len(kept) < 5
    assert history[-6:] == [b"e1-%d" % i for i in range(3)] + [b"e2-%d" % i for i in range(3)]
    log_text = open(os.path.join(cluster.logs_dir, f"fetcher-div-0-{a}.log")).read()
    assert f"truncating {5 - len(kept)} divergent records (15 -> {10 + len(kept)})" in log_text


def test_a_controller_killed_around_failovers_loses_no_decision(make_cluster):
    cluster = make_cluster(config=FAST_LEADERS)
    _create(cluster, "decided")
    _produce_all(cluster, "decided", [b"a"])
    first = _partition(cluster, "decided")
    # a failover, then the controller dies: the election must survive its replay
    cluster.kill("leader-decided-0")
    elected = _wait_partition(cluster, "decided", lambda p: p.leader_epoch > first.leader_epoch, "an election")
    cluster.kill("controller")
    wait_for(lambda: any(a.name == "controller" and a.alive and a.restarts == 1 for a in cluster.actors(memory=False)),
             what="the controller back")
    replayed = _wait_partition(cluster, "decided", lambda p: p.leader_epoch >= elected.leader_epoch, "metadata again")
    assert (replayed.leader, replayed.leader_epoch) == (elected.leader, elected.leader_epoch)
    # a leader dies while the controller is down: the death report waits for it, and the election follows
    cluster.kill("controller", down_s=1.5)
    cluster.kill("leader-decided-0")
    after = _wait_partition(cluster, "decided", lambda p: p.leader_epoch > elected.leader_epoch,
                            "an election once the controller is back", timeout=30)
    assert after.leader in (1, 2, 3)
    assert _produce_all(cluster, "decided", [b"b"]) == [1]
    assert [v for _, v in rc.read_partition(cluster.bootstrap, "decided", 0)] == [b"a", b"b"]


def test_leaders_elect_preferred_moves_leadership_back_once_the_preferred_replica_is_in_sync(make_cluster):
    import subprocess
    import sys

    cluster = make_cluster(config={**FAST_LEADERS, "auto.leader.rebalance.enable": "false"})
    _create(cluster, "pref")
    preferred = _partition(cluster, "pref").replicas[0]
    cluster.kill("leader-pref-0")
    moved = _wait_partition(cluster, "pref", lambda p: p.leader != preferred and sorted(p.isr) == [1, 2, 3],
                            "a failover and the old leader back in sync")
    env = {**os.environ, "ZAFKA_BOOTSTRAP": cluster.bootstrap, "PYTHONPATH": os.getcwd()}
    out = subprocess.run([sys.executable, "-m", "scripts.cli.main", "leaders", "elect", "--preferred", "--topic", "pref"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "pref-0: now led by its preferred replica" in out.stdout + out.stderr
    back = _wait_partition(cluster, "pref", lambda p: p.leader == preferred, "the preferred replica leading")
    assert back.leader_epoch == moved.leader_epoch + 1
    assert _produce_all(cluster, "pref", [b"after"]) == [0]


def test_auto_leader_rebalance_gives_leadership_back_to_the_preferred_replica(make_cluster):
    cluster = make_cluster(config={**FAST_LEADERS, "auto.leader.rebalance.enable": "true",
                                   "leader.imbalance.check.interval.seconds": "1",
                                   "leader.imbalance.per.broker.percentage": "0"})
    _create(cluster, "auto")
    preferred = _partition(cluster, "auto").replicas[0]
    cluster.kill("leader-auto-0")
    _wait_partition(cluster, "auto", lambda p: p.leader != preferred, "a failover")
    _wait_partition(cluster, "auto", lambda p: p.leader == preferred, "leadership back by itself", timeout=30)


def test_followers_report_how_far_behind_their_leader_they_are(make_cluster):
    from scripts.cli.cluster import follower_lags

    cluster = make_cluster(config=FAST_LEADERS)
    _create(cluster, "lag")
    _produce_all(cluster, "lag", [b"x"] * 50)
    followers = [a for a in cluster.actors(memory=False) if a.kind == "fetcher" and "-lag-" in a.name]
    assert len(followers) == 2
    assert wait_for(lambda: (lambda lags: lags if set(lags.values()) == {"0"} else None)(follower_lags(followers)),
                    what="both followers caught up")
    frozen = cluster.kill(followers[0].name, signal.SIGSTOP)
    try:
        _produce_all(cluster, "lag", [b"y"] * 30)  # acks=all waits until the frozen one leaves the ISR
        lags = follower_lags(followers)
        assert lags[followers[0].name] == "?" and lags[followers[1].name] == "0"  # frozen: no answer
    finally:
        os.kill(frozen, signal.SIGCONT)
    wait_for(lambda: follower_lags(followers) == {f.name: "0" for f in followers}, what="caught up again")
