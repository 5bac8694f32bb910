"""Settings are honoured or say they are not: LogAppendTime, delete.topic.enable, "not in effect yet"."""

from __future__ import annotations

import logging
import os
import time

import pytest

from wire import Admin, Consumer, Producer, TopicPartition, errors

from . import rawclient
from .conftest import wait_for


def _read_all(bootstrap: str, topic: str, count: int) -> list:
    consumer = Consumer(bootstrap=bootstrap, auto_offset_reset="earliest")
    try:
        consumer.assign([TopicPartition(topic, 0)])
        records: list = []
        wait_for(lambda: records.extend(consumer.poll(timeout_ms=200)) or len(records) >= count,
                 what=f"{count} records of {topic}")
        return records
    finally:
        consumer.close()


def test_log_append_time_topic_stamps_the_brokers_clock_on_produce_and_consume(cluster):
    admin = Admin(bootstrap=cluster.bootstrap)
    try:
        admin.create_topic("appended", partitions=1, configs={"message.timestamp.type": "LogAppendTime"})
        admin.create_topic("created", partitions=1)
        wait_for(lambda: rawclient.leaders(cluster.bootstrap, "appended") and rawclient.leaders(cluster.bootstrap, "created"),
                 what="leaders")
    finally:
        admin.close()
    an_hour_ago = int(time.time() * 1000) - 3_600_000
    with Producer(bootstrap=cluster.bootstrap, acks=1, linger_ms=1) as producer:
        before = int(time.time() * 1000)
        appended = [producer.send("appended", value=b"a%d" % i, timestamp_ms=an_hour_ago).result(timeout=20)
                    for i in range(3)]
        after = int(time.time() * 1000)
        created = producer.send("created", value=b"c", timestamp_ms=an_hour_ago).result(timeout=20)
    # the acknowledgement carries the append time, as Kafka's RecordMetadata does
    assert all(before - 1000 <= m.timestamp <= after + 1000 for m in appended), appended
    assert created.timestamp == an_hour_ago
    # consumers see the append time too (and the CRC the leader recomputed checks out)
    records = _read_all(cluster.bootstrap, "appended", 3)
    assert [r.timestamp for r in records] == [m.timestamp for m in appended]
    (record,) = _read_all(cluster.bootstrap, "created", 1)
    assert record.timestamp == an_hour_ago


def test_broker_log_message_timestamp_type_applies_to_topics_without_their_own(make_cluster):
    cluster = make_cluster(brokers=1, config={"log.message.timestamp.type": "LogAppendTime"})
    rawclient.create_topic(cluster.bootstrap, "t")
    with Producer(bootstrap=cluster.bootstrap, acks=1) as producer:
        meta = producer.send("t", value=b"x", timestamp_ms=1_000).result(timeout=20)
    assert meta.timestamp > 1_000_000_000_000  # an append time, not the 1970 create time sent


def test_delete_topic_enable_false_refuses_deletion_with_a_typed_error_and_keeps_the_data(make_cluster):
    cluster = make_cluster(brokers=1, config={"delete.topic.enable": "false"})
    rawclient.create_topic(cluster.bootstrap, "kept")
    rawclient.produce(cluster.bootstrap, "kept", 0, [b"one", b"two"])
    admin = Admin(bootstrap=cluster.bootstrap)
    try:
        with pytest.raises(errors.TopicDeletionDisabled, match="delete.topic.enable"):
            admin.delete_topic("kept")
        with pytest.raises(errors.TopicDeletionDisabled):  # even a topic that does not exist: as Kafka answers
            admin.delete_topic("never-created")
        assert "kept" in admin.list_topics()
    finally:
        admin.close()
    assert [r.value for r in _read_all(cluster.bootstrap, "kept", 2)] == [b"one", b"two"]
    assert any(os.path.isdir(os.path.join(d, "kept-0")) for d in cluster.broker_log_dirs(1))


def test_configs_not_in_effect_are_flagged_in_describe_and_warned_about_when_set(cluster, caplog):
    admin = Admin(bootstrap=cluster.bootstrap)
    try:
        with caplog.at_level(logging.WARNING, logger="zafka.admin"):
            warnings = admin.create_topic("flagged", configs={"compression.type": "gzip", "retention.ms": "60000"})
        assert len(warnings) == 1 and warnings[0].startswith("compression.type=gzip is accepted but not in effect yet")
        assert any("compression.type=gzip" in r.getMessage() for r in caplog.records)
        entries = {e.name: e for e in admin.describe_topic_config_entries("flagged")}
        assert entries["compression.type"].value == "gzip" and not entries["compression.type"].in_effect
        assert "recompression is not built yet" in entries["compression.type"].note
        assert entries["retention.ms"].in_effect and entries["retention.ms"].source == "topic"
        assert entries["unclean.leader.election.enable"].in_effect  # its default, false, is what zafka does
        # setting a key back to a value zafka honours clears the flag and warns about nothing
        assert admin.alter_topic_configs("flagged", {"compression.type": "producer"}) == []
        assert {e.name: e for e in admin.describe_topic_config_entries("flagged")}["compression.type"].in_effect
        warned = admin.alter_topic_configs("flagged", {"unclean.leader.election.enable": "true"})
        assert [w.split("=")[0] for w in warned] == ["unclean.leader.election.enable"]
    finally:
        admin.close()
    controller_log = open(os.path.join(cluster.logs_dir, "controller.log")).read()
    assert "topic flagged: unclean.leader.election.enable=true is accepted but not in effect yet" in controller_log
