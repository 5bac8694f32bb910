"""desired_children and plan: which partition leaders a supervisor runs, decided without a process."""

from __future__ import annotations

from actors.children import Desired, Retire, Running, desired_children, leader_name, plan
from actors.specs import LeaderArgs
from wire.metadata import ClusterImage, PartitionState, TopicState


def _image(*topics: TopicState) -> ClusterImage:
    return ClusterImage(version=1, topics={t.name: t for t in topics})


def _topic(name: str, topic_id: str, leaders: list[int], dirs: dict[int, str] | None = None) -> TopicState:
    return TopicState(name=name, topic_id=topic_id, partitions=[
        PartitionState(partition=p, replicas=[leader], leader=leader, replica_dirs=dict(dirs or {}))
        for p, leader in enumerate(leaders)
    ])


def _default_dir(broker: int) -> str:
    return f"/data/broker-{broker}"


def test_a_supervisor_runs_a_leader_for_each_partition_its_brokers_lead():
    image = _image(_topic("orders", "id-o", [1, 2, 3, 1]), _topic("audit", "id-a", [3], {3: "/disk2/broker-3"}))
    desired = desired_children(image, [1, 3], _default_dir)
    assert sorted(desired) == ["leader-audit-0", "leader-orders-0", "leader-orders-2", "leader-orders-3"]
    assert desired["leader-orders-2"] == Desired("leader-orders-2", "leader", 3,
                                                 LeaderArgs("orders", 2, "id-o", "/data/broker-3"))
    assert desired["leader-audit-0"].args.log_dir == "/disk2/broker-3"  # the dir the controller placed it in
    assert desired_children(image, [2], _default_dir).keys() == {"leader-orders-1"}
    assert desired_children(ClusterImage(), [1, 2, 3], _default_dir) == {}


def test_a_partition_without_a_leader_gets_no_child():
    image = _image(_topic("t", "id", [-1, 2]))
    assert desired_children(image, [1, 2, 3], _default_dir).keys() == {"leader-t-1"}


def _running(desired: dict[str, Desired], stopping: set[str] = frozenset()) -> dict[str, Running]:
    return {name: Running(d.broker_id, d.args, name in stopping) for name, d in desired.items()}


def test_plan_starts_what_is_missing_and_keeps_what_matches():
    desired = desired_children(_image(_topic("t", "id", [1, 1])), [1], _default_dir)
    assert plan({}, desired) == (list(desired.values()), [])
    assert plan(_running(desired), desired) == ([], [])


def test_plan_retires_a_deleted_topics_leaders_with_their_data():
    before = desired_children(_image(_topic("t", "id", [1, 1])), [1], _default_dir)
    assert plan(_running(before), {}) == ([], [Retire("leader-t-0", True), Retire("leader-t-1", True)])


def test_a_topic_created_again_replaces_its_leaders_only_after_the_old_ones_are_gone():
    old = desired_children(_image(_topic("t", "old-id", [1])), [1], _default_dir)
    new = desired_children(_image(_topic("t", "new-id", [1])), [1], _default_dir)
    first = plan(_running(old), new)
    assert first == ([], [Retire("leader-t-0", True)])  # no second writer beside the old one
    assert plan(_running(old, stopping={"leader-t-0"}), new) == ([], [])  # still stopping: wait
    assert plan({}, new).start == [new["leader-t-0"]]  # gone: the successor starts


def test_a_leadership_that_moves_to_another_broker_retires_the_child_but_keeps_the_data():
    here = desired_children(_image(_topic("t", "id", [1])), [1, 2], _default_dir)
    moved = desired_children(_image(_topic("t", "id", [2])), [1, 2], _default_dir)
    assert plan(_running(here), moved) == ([], [Retire("leader-t-0", False)])


def test_leader_names_follow_the_design_contract():
    assert leader_name("orders", 0) == "leader-orders-0"
