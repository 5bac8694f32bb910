"""Controlled shutdown on real clusters: a broker stopped cleanly hands its leaderships over before it exits."""

from __future__ import annotations

import glob
import os

from wire import Admin

from . import rawclient as rc
from .conftest import wait_for
from .test_replication import FAST_LEADERS, _create, _partition, _wait_partition

TOPIC = "handover"


def _leaders(cluster, topic: str, partitions: int) -> dict[int, tuple[int, int]]:
    """partition -> (leader, epoch)"""
    return {p: (part.leader, part.leader_epoch) for p in range(partitions)
            for part in [_partition(cluster, topic, p)]}


def _replica_log(cluster, name: str) -> str:
    with open(os.path.join(cluster.logs_dir, f"{name}.log")) as f:
        return f.read()


def test_a_broker_stop_moves_its_leaderships_before_its_actors_exit_and_loses_nothing(make_cluster, acked_producer):
    cluster = make_cluster(config=FAST_LEADERS)
    _create(cluster, TOPIC, partitions=3)
    before = _leaders(cluster, TOPIC, 3)
    led_by_1 = [p for p, (leader, _) in before.items() if leader == 1]
    assert led_by_1, before  # round-robin placement gives broker 1 a partition to lead
    producer = acked_producer(cluster.bootstrap_servers, TOPIC, partitions=3, count=6000, chunk=100, pause_ms=20)
    wait_for(lambda: len(producer.acked()) >= 1000, what="the producer under way")

    result = cluster.stop_broker(1)

    # the controller moved each of broker 1's leaderships to an in-sync replica elsewhere, one epoch on
    assert result.controlled and not result.remaining and not result.stranded
    assert sorted(m.partition for m in result.moved) == led_by_1
    for m in result.moved:
        assert m.leader in (2, 3) and m.leader_epoch == before[m.partition][1] + 1
        part = _partition(cluster, TOPIC, m.partition)
        assert (part.leader, part.leader_epoch) == (m.leader, m.leader_epoch)
        # ... and the old leader's process learnt it while alive: it stepped down to follow the new leader
        # (a crash would have left no such line: its successor would be elected after its death)
        text = _replica_log(cluster, f"fetcher-{TOPIC}-{m.partition}-1")
        assert f"following broker {m.leader} for {TOPIC}-{m.partition} at epoch {m.leader_epoch} (was leader)" in text
    for p in range(3):  # broker 1 left every ISR, so acks=all never waited for it
        assert 1 not in _partition(cluster, TOPIC, p).isr
    # every actor of broker 1 stopped, and none comes back by itself
    assert sorted(result.stopped) == sorted(["broker-1", "cleaner-1", "coordinator-1"]
                                            + [f"fetcher-{TOPIC}-{p}-1" for p in range(3)])
    producer.wait(timeout=120)
    mine = [a for a in cluster.actors(memory=False) if a.broker == 1]
    assert {a.name for a in mine} == {"broker-1", "cleaner-1", "coordinator-1"} and not any(a.alive for a in mine)
    assert all(a.state == "stopped" for a in mine)

    # nothing acknowledged is lost or moved, in any partition, across the handover
    acked = producer.acked()
    assert not producer.failed() and len(acked) == 6000
    for p in range(3):
        stored = dict(rc.read_partition(cluster.bootstrap_servers.split(",")[1], TOPIC, p))
        mine = [(o, v) for q, o, v, _ in acked if q == p]
        assert all(stored.get(o) == v for o, v in mine), f"partition {p}: an acknowledged record is missing"
        assert [o for o, _ in mine] == sorted(o for o, _ in mine)

    # back again: its replicas open their logs as closed cleanly (no recovery) and rejoin every ISR
    assert sorted(cluster.start_broker(1)) == ["broker-1", "cleaner-1", "coordinator-1"]
    for p in range(3):
        _wait_partition(cluster, TOPIC, lambda part: sorted(part.isr) == [1, 2, 3], f"{TOPIC}-{p} ISR back to 3", p,
                        timeout=30)
    for path in glob.glob(os.path.join(cluster.logs_dir, f"fetcher-{TOPIC}-*-1.log")):
        with open(path) as f:
            opened = [line for line in f if "opened " in line]
        assert opened[-1].rstrip().endswith("clean shutdown") and "unclean" not in opened[-1], opened[-1]


def test_a_supervisor_stopping_moves_its_brokers_leaderships_to_the_other_supervisors(make_cluster, tmp_path):
    first = make_cluster(brokers=3, data_dir=tmp_path / "one", config=FAST_LEADERS)
    second = make_cluster(brokers=1, data_dir=tmp_path / "two", config=FAST_LEADERS,
                          controller=first.controller_endpoint, broker_ids=[4])
    wait_for(lambda: sorted(b.id for b in rc.metadata(first.bootstrap).brokers) == [1, 2, 3, 4],
             what="broker 4 registered")
    _create(first, "spread", partitions=4, rf=2, min_isr=1)
    before = _leaders(first, "spread", 4)
    led_by_4 = sorted(p for p, (leader, _) in before.items() if leader == 4)
    assert led_by_4, before

    second.stop()  # what SIGTERM (or Ctrl-C, or `zafka cluster stop`) of its `zafka broker start` does

    after = _leaders(first, "spread", 4)
    for p in led_by_4:
        leader, epoch = after[p]
        assert leader in (1, 2, 3) and epoch == before[p][1] + 1, (p, before[p], after[p])
    assert all(after[p] == before[p] for p in before if p not in led_by_4)
    with open(os.path.join(first.logs_dir, "controller.log")) as f:
        text = f.read()
    for p in led_by_4:
        assert f"spread-{p}: controlled shutdown moves leadership to broker {after[p][0]}" in text


def test_with_controlled_shutdown_disabled_a_broker_stop_moves_nothing_first(make_cluster):
    cluster = make_cluster(config={**FAST_LEADERS, "controlled.shutdown.enable": "false"})
    _create(cluster, "abrupt", partitions=3)
    before = _leaders(cluster, "abrupt", 3)
    led_by_1 = [p for p, (leader, _) in before.items() if leader == 1]

    result = cluster.stop_broker(1)

    assert not result.controlled and result.moved == []
    for p in led_by_1:  # its partitions fail over only once the controller hears of the death
        _wait_partition(cluster, "abrupt", lambda part: part.leader in (2, 3), f"abrupt-{p} failed over", p)
        assert _partition(cluster, "abrupt", p).leader_epoch == before[p][1] + 1
        # the old leader was stopped while it still led: it never stepped down to follow anyone
        assert not os.path.exists(os.path.join(cluster.logs_dir, f"fetcher-abrupt-{p}-1.log"))


def test_a_stopped_broker_cannot_be_stopped_twice_and_only_a_stopped_one_starts(make_cluster):
    import pytest

    from wire import errors

    cluster = make_cluster(brokers=2)
    with pytest.raises(errors.InvalidRequest, match="not stopped"):
        cluster.start_broker(2)
    cluster.stop_broker(2)
    with pytest.raises(errors.InvalidRequest, match="already stopped"):
        cluster.stop_broker(2)
    with pytest.raises(errors.UnknownActor, match="not supervised here"):
        cluster.stop_broker(7)
    with Admin(bootstrap=cluster.bootstrap) as admin:  # new replicas avoid the stopped broker
        admin.create_topic("after", partitions=2, replication_factor=1)
    assert {p.leader for p in rc.metadata(cluster.bootstrap, ["after"]).topics[0].partitions} == {1}


def test_a_shutdown_leaving_a_partition_behind_is_retried_and_moves_it_once_a_follower_is_back_in_sync(make_cluster):
    import signal
    import threading

    cluster = make_cluster(config={**FAST_LEADERS, "controlled.shutdown.max.retries": "5",
                                   "controlled.shutdown.retry.backoff.ms": "2000"})
    _create(cluster, "behind", partitions=1, rf=2, min_isr=1)
    leader = _partition(cluster, "behind").leader
    follower = next(a for a in cluster.actors(memory=False) if a.name.startswith("fetcher-behind-0-"))
    os.kill(follower.pid, signal.SIGSTOP)  # alive but not fetching: the leader drops it from the ISR
    try:
        _wait_partition(cluster, "behind", lambda part: part.isr == [leader], "the ISR down to the leader")
        results = []
        stopping = threading.Thread(target=lambda: results.append(cluster.stop_broker(leader)), daemon=True)
        stopping.start()
        # the first attempt finds no in-sync replica elsewhere: the partition stays behind, to be asked again
        wait_for(lambda: "attempt 1 of 5: behind-0 still led by them" in _replica_log(cluster, "supervisor"),
                 what="a first attempt leaving behind-0 behind")
    finally:
        os.kill(follower.pid, signal.SIGCONT)
    stopping.join(60)
    result = results[0]
    # thawed, the follower caught up and rejoined the ISR before a later attempt, which moved the leadership
    assert [(m.topic, m.partition, m.leader) for m in result.moved] == [("behind", 0, follower.broker)]
    assert result.remaining == [] and result.controlled
    assert _partition(cluster, "behind").leader == follower.broker
