"""The public client API against a real cluster (README.md, "From Python")."""

from __future__ import annotations

import collections
import os

import pytest

from wire import Admin, Consumer, Producer, TopicPartition, errors

from .conftest import wait_for

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def consume_all(bootstrap: str, topic: str, partitions: int, expected: int, timeout: float = 60.0) -> list:
    out = []
    with Consumer(bootstrap=bootstrap, auto_offset_reset="earliest") as consumer:
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])

        def more():
            out.extend(consumer.poll(timeout_ms=500, max_records=5000))
            return len(out) >= expected

        wait_for(more, timeout=timeout, what=f"{expected} records from {topic}")
        assert consumer.poll(timeout_ms=200) == []  # and nothing more
    return out


def test_ten_thousand_keyed_records_come_back_complete_in_order_same_key_same_partition(cluster):
    with Admin(bootstrap=cluster.bootstrap) as admin:
        admin.create_topic("keyed", partitions=3, replication_factor=1)
    sent = collections.defaultdict(list)  # key -> values in send order
    with Producer(bootstrap=cluster.bootstrap, acks=1, linger_ms=5) as producer:
        futures = []
        for i in range(10_000):
            key = f"customer-{i % 37}".encode()
            value = f"{i}".encode()
            sent[key].append(value)
            futures.append((key, producer.send("keyed", key=key, value=value)))
        producer.flush(timeout=60)
        partition_of = collections.defaultdict(set)
        for key, future in futures:
            partition_of[key].add(future.result(timeout=30).partition)
    assert all(len(parts) == 1 for parts in partition_of.values()), "one key, one partition"
    assert len({next(iter(p)) for p in partition_of.values()}) == 3, "keys spread over all partitions"
    records = consume_all(cluster.bootstrap, "keyed", 3, 10_000)
    assert len(records) == 10_000
    by_partition = collections.defaultdict(list)
    received = collections.defaultdict(list)
    for r in records:
        by_partition[r.partition].append(r.offset)
        received[r.key].append(r.value)
        assert r.partition in partition_of[r.key]
    for offsets in by_partition.values():
        assert offsets == list(range(len(offsets)))
    assert received == sent  # per key: all of them, in send order


@pytest.mark.parametrize("codec", CODECS)
def test_every_codec_round_trips_empty_and_one_mebibyte_values(cluster, codec):
    with Admin(bootstrap=cluster.bootstrap) as admin:
        admin.create_topic(f"codec-{codec}", partitions=1, replication_factor=1,
                           configs={"max.message.bytes": str(2 << 20)})
    big = os.urandom(1 << 20)
    values = [b"", big, b"", b"small", None]
    with Producer(bootstrap=cluster.bootstrap, compression=codec, max_request_size=4 << 20) as producer:
        for v in values:
            producer.send(f"codec-{codec}", value=v, key=b"k" if v else None).result(timeout=30)
    records = consume_all(cluster.bootstrap, f"codec-{codec}", 1, len(values))
    assert [r.value for r in records] == values
    assert [r.offset for r in records] == list(range(len(values)))


def test_producing_to_an_unknown_topic_with_auto_create_off_fails_naming_the_topic(make_cluster):
    sup = make_cluster(brokers=1, config={"auto.create.topics.enable": "false"})
    with Producer(bootstrap=sup.bootstrap, max_block_ms=2000) as producer:
        future = producer.send("no-such-topic", value=b"x")
        with pytest.raises(errors.UnknownTopicOrPartition) as info:
            future.result(timeout=30)
    assert "no-such-topic" in str(info.value)
    with Admin(bootstrap=sup.bootstrap) as admin:
        assert "no-such-topic" not in admin.list_topics()


def test_producing_to_an_unknown_topic_auto_creates_it_by_default(make_cluster):
    sup = make_cluster(brokers=1)
    with Producer(bootstrap=sup.bootstrap) as producer:
        meta = producer.send("made-on-demand", value=b"x").result(timeout=30)
    assert meta.offset == 0
    with Admin(bootstrap=sup.bootstrap) as admin:
        assert "made-on-demand" in admin.list_topics()


def test_record_too_large_fails_with_a_typed_error_and_the_partition_keeps_serving(cluster):
    with Admin(bootstrap=cluster.bootstrap) as admin:
        admin.create_topic("small", partitions=1, configs={"max.message.bytes": "1000"})
    with Producer(bootstrap=cluster.bootstrap, max_request_size=1 << 20) as producer:
        with pytest.raises(errors.RecordTooLarge):
            producer.send("small", value=os.urandom(5000)).result(timeout=30)
        assert producer.send("small", value=b"fits").result(timeout=30).offset == 0


def test_acks_zero_delivers_without_acknowledgement(cluster):
    with Admin(bootstrap=cluster.bootstrap) as admin:
        admin.create_topic("fire", partitions=1)
    with Producer(bootstrap=cluster.bootstrap, acks=0) as producer:
        for i in range(100):
            producer.send("fire", value=str(i).encode())
        producer.flush(timeout=30)
    records = consume_all(cluster.bootstrap, "fire", 1, 100)
    assert [r.value for r in records] == [str(i).encode() for i in range(100)]


def test_admin_describes_topics_and_cluster(cluster):
    with Admin(bootstrap=cluster.bootstrap) as admin:
        admin.create_topic("described", partitions=3, replication_factor=1, configs={"retention.ms": "60000"})
        with Producer(bootstrap=cluster.bootstrap) as producer:
            for p in range(3):
                for _ in range(p + 1):
                    producer.send("described", value=b"v", partition=p)
        description = wait_for(
            lambda: (lambda d: d if all(x.leader >= 0 for x in d.partitions) else None)(admin.describe_topic("described")),
            what="leaders",
        )
        assert [p.log_end_offset for p in description.partitions] == [1, 2, 3]
        assert all(p.log_start_offset == 0 and p.leader_epoch == 0 for p in description.partitions)  # Kafka: first epoch 0
        assert sorted(p.leader for p in description.partitions) == [1, 2, 3]
        cluster_info = admin.describe_cluster()
        assert sorted(b.id for b in cluster_info.brokers) == [1, 2, 3]
        assert admin.describe_topic_configs("described")["retention.ms"] == "60000"
        admin.alter_topic_configs("described", {"retention.ms": "120000"})
        assert admin.describe_topic_configs("described")["retention.ms"] == "120000"
        admin.delete_topic("described")
        wait_for(lambda: "described" not in admin.list_topics(), what="topic deleted")


def test_consumer_reads_across_a_leader_restart_without_gaps(cluster):
    with Admin(bootstrap=cluster.bootstrap) as admin:
        admin.create_topic("moving", partitions=1)
    with Producer(bootstrap=cluster.bootstrap) as producer:
        for i in range(500):
            producer.send("moving", value=str(i).encode())
        producer.flush(timeout=30)
        with Consumer(bootstrap=cluster.bootstrap, auto_offset_reset="earliest") as consumer:
            consumer.assign([TopicPartition("moving", 0)])
            got = []
            wait_for(lambda: got.extend(consumer.poll(timeout_ms=200)) or len(got) >= 500, what="first 500")
            cluster.kill("leader-moving-0")
            for i in range(500, 1000):
                producer.send("moving", value=str(i).encode())
            producer.flush(timeout=60)
            wait_for(lambda: got.extend(consumer.poll(timeout_ms=200)) or len(got) >= 1000, what="all 1000")
    assert [r.value for r in got] == [str(i).encode() for i in range(1000)]
