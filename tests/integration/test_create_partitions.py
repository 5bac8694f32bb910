"""Growing a topic (CreatePartitions, ``zafka topics alter --partitions``) on a real cluster."""

from __future__ import annotations

import time

import pytest

from wire import Admin, Consumer, Producer, TopicPartition
from wire.errors import InvalidPartitions, UnknownTopicOrPartition

from .conftest import wait_for


def ready(admin: Admin, topic: str, count: int):
    """The topic's description once it has ``count`` partitions, each with a serving leader."""
    desc = admin.describe_topic(topic)
    if len(desc.partitions) != count:
        return None
    if any(p.leader < 0 or not p.leader_endpoint or p.log_end_offset < 0 for p in desc.partitions):
        return None
    return desc


def produce(bootstrap: str, topic: str, partition: int, values: list[bytes]) -> list[int]:
    with Producer(bootstrap=bootstrap, acks=1) as producer:
        futures = [producer.send(topic, value=v, partition=partition) for v in values]
        metas = [f.result(timeout=20) for f in futures]
    assert {m.partition for m in metas} == {partition}
    return [m.offset for m in metas]


def consume(bootstrap: str, topic: str, partitions: list[int], expected: int, timeout: float = 20.0):
    """partition -> [(offset, value)] from the beginning, once ``expected`` records came in all."""
    consumer = Consumer(bootstrap=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False)
    got: list = []
    try:
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        deadline = time.monotonic() + timeout
        while len(got) < expected and time.monotonic() < deadline:
            got += consumer.poll(timeout_ms=500)
    finally:
        consumer.close()
    out = {p: [(r.offset, r.value) for r in got if r.partition == p] for p in partitions}
    assert len(got) == expected, f"consumed {len(got)} of {expected} records: {out}"
    return out


def test_a_topic_grows_from_2_to_4_partitions_that_serve_and_keeps_its_data(cluster):
    admin = Admin(bootstrap=cluster.bootstrap)
    try:
        admin.create_topic("grow", partitions=2, replication_factor=1)
        before = wait_for(lambda: ready(admin, "grow", 2), what="the topic's 2 leaders")
        old = {p: [f"old-{p}-{i}".encode() for i in range(5)] for p in (0, 1)}
        for p, values in old.items():
            assert produce(cluster.bootstrap, "grow", p, values) == list(range(5))

        admin.create_partitions("grow", 4)
        desc = wait_for(lambda: ready(admin, "grow", 4), what="leaders of the 2 new partitions")

        assert [p.partition for p in desc.partitions] == [0, 1, 2, 3]
        live = {b.id for b in admin.describe_cluster().brokers}
        for p in desc.partitions[2:]:
            assert p.leader in live and p.replicas == [p.leader] and p.isr == [p.leader]
            assert (p.log_start_offset, p.log_end_offset) == (0, 0)
        for was, now in zip(before.partitions, desc.partitions[:2]):  # growing moves nothing
            assert (now.leader, now.replicas, now.leader_epoch) == (was.leader, was.replicas, was.leader_epoch)
            assert (now.log_start_offset, now.log_end_offset) == (0, 5)

        new = {p: [f"new-{p}-{i}".encode() for i in range(3)] for p in (2, 3)}
        for p, values in new.items():
            assert produce(cluster.bootstrap, "grow", p, values) == [0, 1, 2]
        records = consume(cluster.bootstrap, "grow", [0, 1, 2, 3], expected=2 * 5 + 2 * 3)
        for p, values in {**old, **new}.items():
            assert records[p] == list(enumerate(values)), f"partition {p}"

        # a key-less producer spreads over all four now
        with Producer(bootstrap=cluster.bootstrap, acks=1, partitioner="round_robin") as producer:
            spread = {producer.send("grow", value=b"rr").result(timeout=20).partition for _ in range(8)}
        assert spread == {0, 1, 2, 3}
    finally:
        admin.close()


def test_shrinking_or_keeping_the_partition_count_is_refused_and_changes_nothing(cluster):
    admin = Admin(bootstrap=cluster.bootstrap)
    try:
        admin.create_topic("fixed", partitions=2, replication_factor=1)
        wait_for(lambda: ready(admin, "fixed", 2), what="the topic's leaders")
        for p in (0, 1):
            produce(cluster.bootstrap, "fixed", p, [b"a", b"b"])
        admin.create_partitions("fixed", 4)
        before = wait_for(lambda: ready(admin, "fixed", 4), what="4 partitions")

        for count in (4, 3, 1, 0):
            with pytest.raises(InvalidPartitions, match="4 partitions"):
                admin.create_partitions("fixed", count)
        with pytest.raises(UnknownTopicOrPartition):
            admin.create_partitions("no-such-topic", 4)

        after = ready(admin, "fixed", 4)
        assert after is not None, "a refused request changed the topic"
        assert [(p.partition, p.leader, p.leader_epoch, p.log_end_offset) for p in after.partitions] == [
            (p.partition, p.leader, p.leader_epoch, p.log_end_offset) for p in before.partitions
        ]
        records = consume(cluster.bootstrap, "fixed", [0, 1], expected=4)
        assert records == {0: [(0, b"a"), (1, b"b")], 1: [(0, b"a"), (1, b"b")]}
    finally:
        admin.close()


def test_a_running_producer_can_send_to_a_partition_added_after_its_metadata(cluster):
    admin = Admin(bootstrap=cluster.bootstrap)
    try:
        admin.create_topic("later", partitions=2, replication_factor=1)
        wait_for(lambda: ready(admin, "later", 2), what="the topic's leaders")
        with Producer(bootstrap=cluster.bootstrap, acks=1, max_block_ms=20_000) as producer:
            assert producer.send("later", value=b"early", partition=1).result(timeout=20).offset == 0
            admin.create_partitions("later", 4)
            wait_for(lambda: ready(admin, "later", 4), what="leaders of the new partitions")
            meta = producer.send("later", value=b"late", partition=3).result(timeout=30)
        assert (meta.partition, meta.offset) == (3, 0)
    finally:
        admin.close()
