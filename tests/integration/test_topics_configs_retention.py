"""Topics, configs and retention on a real cluster, driven by raw wire requests."""

from __future__ import annotations

import os

import pytest

from wire import errors
from wire.admin import AlterConfigs, CreateTopic, DeleteTopic, DescribeConfigs
from wire.fetch import EARLIEST, ListOffsets
from wire.metadata import Metadata
from wire.transport import Connection

from tests.course_example import with_log_dirs

from . import rawclient as rc
from .conftest import free_port_block, wait_for





def controller(cluster) -> Connection:
    return Connection(cluster.controller_endpoint)


def test_course_example_properties_start_a_cluster_with_only_log_dirs_changed(tmp_path, make_cluster):
    dirs = [tmp_path / f"kafka{i}" for i in (1, 2, 3)]
    path = tmp_path / "server.properties"
    path.write_text(with_log_dirs([str(d) for d in dirs]))
    sup = make_cluster(brokers=3, config_file=str(path), port=free_port_block(3), data_dir=tmp_path / "data")
    assert any("advertised.listeners" in w for w in sup.warnings)
    assert any("zookeeper.connect" in w and "not needed" in w for w in sup.warnings)
    rc.create_topic(sup.bootstrap, "course", partitions=9)
    for p in range(9):
        rc.produce(sup.bootstrap, "course", p, [b"x"])
    for broker in (1, 2, 3):  # three partitions per broker, one in each of its log dirs
        counts = [len([e for e in os.scandir(d / f"broker-{broker}") if e.name.startswith("course-")]) for d in dirs]
        assert counts == [1, 1, 1], f"broker {broker}: {counts}"
    md = rc.metadata(sup.bootstrap, ["nope"])
    assert md.topics[0].error == errors.UnknownTopicOrPartition.code  # auto.create.topics.enable = false


def test_auto_create_topics_on_metadata_when_enabled(make_cluster):
    sup = make_cluster(brokers=1, config={"auto.create.topics.enable": "true", "num.partitions": "2"})
    assert rc.metadata(sup.bootstrap, ["auto-made"]).topics[0].error == errors.UnknownTopicOrPartition.code
    wait_for(
        lambda: rc.metadata(sup.bootstrap, ["auto-made"], auto_create=True) and rc.leaders(sup.bootstrap, "auto-made"),
        what="the auto-created topic",
    )
    assert len(rc.metadata(sup.bootstrap, ["auto-made"]).topics[0].partitions) == 2


def test_bad_topic_requests_get_typed_errors_and_change_nothing(cluster):
    with controller(cluster) as conn:
        conn.call(CreateTopic(name="ok", partitions=1))
        cases = [
            (CreateTopic(name="ok", partitions=1), errors.TopicAlreadyExists),
            (CreateTopic(name="bad name!", partitions=1), errors.InvalidTopic),
            (CreateTopic(name="zero", partitions=0), errors.InvalidPartitions),
            (CreateTopic(name="rf", partitions=1, replication_factor=4), errors.InvalidReplicationFactor),
            (CreateTopic(name="cfg", partitions=1, configs={"retention.hours": "1"}), errors.InvalidConfig),
            (CreateTopic(name="cfg2", partitions=1, configs={"cleanup.policy": "forever"}), errors.InvalidConfig),
            (AlterConfigs(topic="ok", set={"retention.ms": "soon"}), errors.InvalidConfig),
            (DeleteTopic(name="missing"), errors.UnknownTopicOrPartition),
        ]
        for request, error in cases:
            with pytest.raises(error):
                conn.call(request)
        response, _ = conn.call(DescribeConfigs(topic="ok"))
    assert response.overrides == []
    names = [t.name for t in rc.metadata(cluster.bootstrap).topics]
    assert names == ["ok"]


def test_topic_configs_change_at_run_time_and_show_in_describe(cluster):
    rc.create_topic(cluster.bootstrap, "cfg", configs={"retention.ms": "3600000"})
    with controller(cluster) as conn:
        before, _ = conn.call(DescribeConfigs(topic="cfg"))
        after, _ = conn.call(AlterConfigs(topic="cfg", set={"retention.ms": "60000", "segment.bytes": "1048576"}))
    assert before.configs["retention.ms"] == "3600000"
    assert after.configs["retention.ms"] == "60000" and after.configs["segment.bytes"] == "1048576"
    assert sorted(after.overrides) == ["retention.ms", "segment.bytes"]
    assert after.configs["max.message.bytes"] == before.configs["max.message.bytes"]


def test_deleting_a_topic_stops_its_leaders_and_removes_its_directories(cluster):
    rc.create_topic(cluster.bootstrap, "gone", partitions=2)
    rc.produce(cluster.bootstrap, "gone", 0, [b"x"])
    dirs = [os.path.join(cluster.broker_log_dirs(b)[0], f"gone-{p}") for b in (1, 2, 3) for p in (0, 1)]
    assert any(os.path.isdir(d) for d in dirs)
    with controller(cluster) as conn:
        conn.call(DeleteTopic(name="gone"))
    wait_for(lambda: not any(a.name.startswith("leader-gone-") for a in cluster.actors(memory=False)), what="leaders stopped")
    wait_for(lambda: not any(os.path.exists(d) for d in dirs), what="directories removed")
    assert rc.metadata(cluster.bootstrap, ["gone"]).topics[0].error == errors.UnknownTopicOrPartition.code


def segment_sizes(partition_dir: str) -> list[tuple[int, int]]:
    """(base offset, bytes) of every segment file of a partition directory, oldest first."""
    out = []
    for entry in os.scandir(partition_dir):
        stem, _, suffix = entry.name.partition(".")
        if suffix == "log" and stem.isdigit():
            try:
                out.append((int(stem), entry.stat().st_size))
            except FileNotFoundError:
                pass  # deleted while we looked
    return sorted(out)


def test_retention_cleaner_deletes_segments_past_retention_bytes(make_cluster):
    retention_bytes, segment_bytes = 4096, 2048
    sup = make_cluster(brokers=1, config={"log.retention.check.interval.ms": "200"})
    rc.create_topic(sup.bootstrap, "short", configs={"segment.bytes": str(segment_bytes),
                                                    "retention.bytes": str(retention_bytes)})
    for i in range(60):
        rc.produce(sup.bootstrap, "short", 0, [os.urandom(100) for _ in range(3)])
    partition_dir = os.path.join(sup.broker_log_dirs(1)[0], "short-0")

    def log_start() -> int:
        endpoint = rc.leaders(sup.bootstrap, "short")[0]
        with Connection(endpoint) as conn:
            response, _ = conn.call(ListOffsets(topic="short", partition=0, timestamp=EARLIEST))
        return response.offset

    def settled():
        """The partition once a retention pass ran after the last append (Kafka's rule holds)."""
        segments = segment_sizes(partition_dir)
        size = sum(s for _, s in segments)
        # retention.bytes deletes the oldest closed segment while the log stays at or
        # above the limit without it: so it stops where that no longer holds
        if len(segments) > 1 and size - segments[0][1] >= retention_bytes:
            return None
        start = log_start()
        return (segments, size, start) if start == segments[0][0] else None

    segments, size, start = wait_for(settled, what="retention to delete every segment it may")
    assert start > 0, "nothing was deleted"
    # never deleted below the limit: the log holds at least retention.bytes, so closed
    # segments are kept (the active one alone is smaller than segment.bytes < retention.bytes)
    assert size >= retention_bytes, f"{size} bytes left of a {retention_bytes}-byte retention: {segments}"
    assert len(segments) >= 2
    # ... and the oldest kept segment could not go without taking the log below the limit
    assert size - segments[0][1] < retention_bytes
    assert size < retention_bytes + segment_bytes
    # what is left is the newest stretch of the log, whole: every offset from the log start on
    records = rc.read_partition(sup.bootstrap, "short", 0)
    assert [offset for offset, _ in records] == list(range(start, 180))


def test_retention_ms_changed_at_run_time_takes_effect(make_cluster):
    sup = make_cluster(brokers=1, config={"log.retention.check.interval.ms": "200"})
    rc.create_topic(sup.bootstrap, "timed", configs={"segment.bytes": "1024"})
    for i in range(30):
        rc.produce(sup.bootstrap, "timed", 0, [os.urandom(100) for _ in range(3)])
    with controller(sup) as conn:
        conn.call(AlterConfigs(topic="timed", set={"retention.ms": "1"}))
    # every closed segment, then the rolled active one, expire
    wait_for(lambda: rc.read_partition(sup.bootstrap, "timed", 0) == [], what="expired segments deleted")
    assert rc.produce(sup.bootstrap, "timed", 0, [b"fresh"]) == 90


def test_two_supervisors_on_two_loopback_hosts_form_one_cluster(tmp_path, make_cluster):
    first = make_cluster(brokers=1, data_dir=tmp_path / "host1", host="127.0.0.1")
    second = make_cluster(
        brokers=1, data_dir=tmp_path / "host2", host="127.0.0.2",
        controller=first.controller_endpoint, broker_ids=[2],
    )
    assert second.bootstrap.startswith("tcp://127.0.0.2:")
    md = wait_for(
        lambda: (lambda m: m if sorted(b.id for b in m.brokers) == [1, 2] else None)(rc.metadata(first.bootstrap)),
        what="both brokers registered",
    )
    assert {b.id: b.endpoint.split(":")[1] for b in md.brokers} == {1: "//127.0.0.1", 2: "//127.0.0.2"}
    rc.create_topic(first.bootstrap, "spread", partitions=2)
    endpoints = rc.leaders(first.bootstrap, "spread")
    assert sorted(e.split(":")[1] for e in endpoints.values()) == ["//127.0.0.1", "//127.0.0.2"]
    for p in (0, 1):
        base = rc.produce(second.bootstrap, "spread", p, [b"hello"])
        assert rc.read_partition(first.bootstrap, "spread", p) == [(base, b"hello")]
    assert any(a.name.startswith("leader-spread-") for a in second.actors(memory=False))
    with Connection(second.bootstrap) as conn:
        response, _ = conn.call(Metadata(topics=["spread"]))
    assert len(response.topics[0].partitions) == 2


def test_a_topic_deleted_and_created_again_starts_empty(cluster):
    rc.create_topic(cluster.bootstrap, "again", partitions=1)
    rc.produce(cluster.bootstrap, "again", 0, [b"old"] * 5)
    with controller(cluster) as conn:
        conn.call(DeleteTopic(name="again"))
    wait_for(lambda: rc.metadata(cluster.bootstrap, ["again"]).topics[0].error == errors.UnknownTopicOrPartition.code,
             what="deletion")
    rc.create_topic(cluster.bootstrap, "again", partitions=1)
    assert rc.produce(cluster.bootstrap, "again", 0, [b"new"]) == 0
    assert rc.read_partition(cluster.bootstrap, "again", 0) == [(0, b"new")]
