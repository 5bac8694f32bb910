"""The GroupCoordinator on a real cluster, spoken to with raw group requests (the consumer's side comes later)."""

from __future__ import annotations

from actors import offsets_log
from wire import errors
from wire.groups import (
    CommitOffset,
    FindCoordinator,
    GroupProtocol,
    Heartbeat,
    JoinGroup,
    OffsetCommit,
    OffsetFetch,
    SyncAssignment,
    SyncGroup,
    TopicPartitionRef,
)
from wire.transport import Connection

from . import rawclient as rc
from .conftest import wait_for

GROUPS = {"offsets.topic.num.partitions": "4", "offsets.topic.replication.factor": "2",
          "group.initial.rebalance.delay.ms": "0", "group.min.session.timeout.ms": "1000",
          "leader.heartbeat.interval.ms": "100", "leader.session.timeout.ms": "800"}


def _call(endpoint: str, request, timeout_ms: int = 5000):
    with Connection(endpoint) as conn:
        response, _ = conn.call(request, timeout_ms=timeout_ms)
    return response


def _coordinator(cluster, group: str) -> str:
    def found():
        for endpoint in cluster.broker_endpoints.values():
            try:
                return _call(endpoint, FindCoordinator(key=group), 2000).endpoint
            except errors.ZafkaError:
                continue
        return None
    return wait_for(found, timeout=30, what=f"a coordinator for group {group}")


def _retrying(cluster, group: str, make_request):
    """Send to the group's coordinator, finding it again while it moves or loads (as a client does)."""
    def attempt():
        try:
            return _call(_coordinator(cluster, group), make_request(), 3000)
        except (errors.NotCoordinator, errors.CoordinatorLoadInProgress, errors.CoordinatorNotAvailable,
                errors.RequestTimedOut):
            return None
    return wait_for(attempt, timeout=30, what="the coordinator to answer")


def _join_and_sync(cluster, group: str) -> tuple[str, int]:
    joined = _retrying(cluster, group, lambda: JoinGroup(
        group_id=group, session_timeout_ms=10_000, rebalance_timeout_ms=10_000,
        protocols=[GroupProtocol("range", b"subscription")], client_id="test"))
    assert joined.generation_id == 1 and joined.leader == joined.member_id
    assert [m.metadata for m in joined.members] == [b"subscription"]
    synced = _call(_coordinator(cluster, group), SyncGroup(
        group_id=group, generation_id=1, member_id=joined.member_id,
        assignments=[SyncAssignment(joined.member_id, b"orders-0")]))
    assert synced.assignment == b"orders-0"
    return joined.member_id, joined.generation_id


def _committed(cluster, group: str) -> int:
    fetched = _retrying(cluster, group, lambda: OffsetFetch(
        group_id=group, partitions=[TopicPartitionRef("orders", 0)]))
    return fetched.offsets[0].offset


def test_a_group_joins_syncs_commits_and_keeps_its_offsets_across_a_failover_of_its_partition(make_cluster):
    cluster = make_cluster(config=GROUPS)
    member, generation = _join_and_sync(cluster, "billing")
    coordinator = _coordinator(cluster, "billing")
    offsets_topic = rc.metadata(cluster.bootstrap, [offsets_log.TOPIC]).topics[0]  # made by the first FindCoordinator
    assert len(offsets_topic.partitions) == 4 and {len(p.replicas) for p in offsets_topic.partitions} == {2}
    commit = _call(coordinator, OffsetCommit(group_id="billing", generation_id=generation, member_id=member,
                                             offsets=[CommitOffset("orders", 0, 42, "after batch 7")]))
    assert [r.error for r in commit.results] == [0]
    assert _committed(cluster, "billing") == 42
    # a commit from a stale generation is refused, and changes nothing
    try:
        _call(coordinator, OffsetCommit(group_id="billing", generation_id=generation - 1, member_id=member,
                                        offsets=[CommitOffset("orders", 0, 99)]))
        raise AssertionError("a stale-generation commit was accepted")
    except errors.IllegalGeneration:
        pass
    assert _committed(cluster, "billing") == 42

    # the group's partition of __consumer_offsets fails over: the coordinator moves with it
    p = offsets_log.partition_for("billing", 4)
    old = rc.metadata(cluster.bootstrap, [offsets_log.TOPIC]).topics[0].partitions[p]
    cluster.kill(f"leader-{offsets_log.TOPIC}-{p}")
    wait_for(lambda: (lambda part: part.leader != old.leader and part.leader_endpoint)(
        rc.metadata(cluster.bootstrap, [offsets_log.TOPIC]).topics[0].partitions[p]), what="a new offsets leader")
    assert _coordinator(cluster, "billing") != coordinator
    assert _committed(cluster, "billing") == 42  # replicated before it was acknowledged, so it survived
    # and the member's generation with it: it heartbeats on without rejoining
    beat = _retrying(cluster, "billing", lambda: Heartbeat(group_id="billing", generation_id=generation,
                                                          member_id=member))
    assert beat.error == 0


def test_a_killed_coordinator_comes_back_and_reloads_the_groups(make_cluster):
    cluster = make_cluster(config=GROUPS)
    member, generation = _join_and_sync(cluster, "reload")
    _call(_coordinator(cluster, "reload"), OffsetCommit(group_id="reload", generation_id=generation, member_id=member,
                                                        offsets=[CommitOffset("orders", 0, 7)]))
    p = offsets_log.partition_for("reload", 4)
    leader = rc.metadata(cluster.bootstrap, [offsets_log.TOPIC]).topics[0].partitions[p].leader
    cluster.kill(f"coordinator-{leader}")
    assert _committed(cluster, "reload") == 7
    restarted = {a.name: a for a in cluster.actors(memory=False)}[f"coordinator-{leader}"]
    assert restarted.restarts == 1  # the answer came from the restarted process, which read the partition back
    with open(f"{cluster.logs_dir}/coordinator-{leader}.log") as f:
        assert f"{offsets_log.TOPIC}-{p}: loaded 1 groups" in f.read()
