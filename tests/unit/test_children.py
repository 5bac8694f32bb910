"""desired_children and plan: which replica processes a supervisor runs, decided without a process."""

from __future__ import annotations

from actors.children import Desired, Retire, Running, desired_children, display_kind, fetcher_name, leader_name, plan
from actors.specs import ReplicaArgs
from wire.metadata import ClusterImage, PartitionState, TopicState


def _image(*topics: TopicState) -> ClusterImage:
    return ClusterImage(version=1, topics={t.name: t for t in topics})


def _topic(name: str, topic_id: str, replicas: list[list[int]], leaders: list[int] | None = None,
           dirs: dict[int, str] | None = None) -> TopicState:
    leaders = leaders if leaders is not None else [r[0] for r in replicas]
    return TopicState(name=name, topic_id=topic_id, partitions=[
        PartitionState(partition=p, replicas=list(r), leader=leaders[p], isr=list(r), replica_dirs=dict(dirs or {}))
        for p, r in enumerate(replicas)
    ])


def _default_dir(broker: int) -> str:
    return f"/data/broker-{broker}"


def _running(desired: dict[str, Desired], stopping: set[str] = frozenset()) -> dict[str, Running]:
    return {name: Running(d.broker_id, d.args, name in stopping) for name, d in desired.items()}


def test_every_replica_on_a_supervisors_brokers_gets_a_process_named_by_its_role():
    image = _image(_topic("orders", "id-o", [[1, 2, 3], [2, 3, 1]]), _topic("audit", "id-a", [[3]], dirs={3: "/d2/b3"}))
    desired = desired_children(image, [1, 3], _default_dir)
    assert sorted(desired) == ["fetcher-orders-0-3", "fetcher-orders-1-1", "fetcher-orders-1-3",
                               "leader-audit-0", "leader-orders-0"]
    assert desired["fetcher-orders-1-3"] == Desired("fetcher-orders-1-3", "replica", 3,
                                                    ReplicaArgs("orders", 1, "id-o", "/data/broker-3"))
    assert desired["leader-audit-0"].args.log_dir == "/d2/b3"  # the dir the controller placed it in
    assert desired_children(ClusterImage(), [1, 2, 3], _default_dir) == {}


def test_plan_starts_what_is_missing_and_keeps_what_matches():
    desired = desired_children(_image(_topic("t", "id", [[1, 2]])), [1, 2], _default_dir)
    assert plan({}, desired) == (list(desired.values()), [], {})
    assert plan(_running(desired), desired) == ([], [], {})


def test_a_leader_change_renames_the_two_processes_and_restarts_none():
    before = desired_children(_image(_topic("t", "id", [[1, 2, 3]], leaders=[1])), [1, 2, 3], _default_dir)
    after = desired_children(_image(_topic("t", "id", [[1, 2, 3]], leaders=[2])), [1, 2, 3], _default_dir)
    changes = plan(_running(before), after)
    assert changes.start == [] and changes.retire == []
    assert changes.rename == {leader_name("t", 0): fetcher_name("t", 0, 1), fetcher_name("t", 0, 2): leader_name("t", 0)}


def test_plan_retires_a_deleted_topics_replicas_with_their_data():
    before = desired_children(_image(_topic("t", "id", [[1], [1]])), [1], _default_dir)
    assert plan(_running(before), {}) == ([], [Retire("leader-t-0", True), Retire("leader-t-1", True)], {})


def test_a_topic_created_again_replaces_its_replicas_only_after_the_old_ones_are_gone():
    old = desired_children(_image(_topic("t", "old-id", [[1]])), [1], _default_dir)
    new = desired_children(_image(_topic("t", "new-id", [[1]])), [1], _default_dir)
    assert plan(_running(old), new) == ([], [Retire("leader-t-0", True)], {})  # no second writer beside it
    assert plan(_running(old, stopping={"leader-t-0"}), new) == ([], [], {})  # still stopping: wait
    assert plan({}, new).start == [new["leader-t-0"]]  # gone: the successor starts


def test_replicas_report_their_role_as_their_kind():
    assert display_kind("leader-t-0", "replica") == "leader"
    assert display_kind("fetcher-t-0-2", "replica") == "fetcher"
    assert display_kind("broker-1", "broker") == "broker"


def test_an_offline_partitions_first_isr_member_keeps_the_leaders_name():
    image = _image(_topic("t", "id", [[1, 2, 3]], leaders=[-1]))
    image.topics["t"].partitions[0].isr = [2]
    assert sorted(desired_children(image, [1, 2, 3], _default_dir)) == ["fetcher-t-0-1", "fetcher-t-0-3", "leader-t-0"]
    assert desired_children(image, [1, 2, 3], _default_dir)["leader-t-0"].broker_id == 2
