"""message.timestamp.type=LogAppendTime: the leader stamps its clock into each batch, as Kafka does."""

from __future__ import annotations

import pytest
from kafka.record.default_records import DefaultRecordBatch as KafkaBatch

from storage import Log, LogConfig, build_batch, iter_batches
from storage.batch import ATTR_TIMESTAMP_TYPE, Record
from storage.errors import InvalidConfigError

APPEND_MS = 1_800_000_000_123
CREATE_MS = 1_700_000_000_000


def _batch(n: int, codec: str = "none") -> bytes:
    return build_batch([Record(b"k%d" % i, b"v%d" % i, [], CREATE_MS + i) for i in range(n)], codec)


@pytest.mark.parametrize("codec", ["none", "lz4", "zstd"])
def test_log_append_time_stamps_attributes_and_max_timestamp_and_keeps_a_valid_crc(tmp_path, codec):
    log = Log(str(tmp_path / "t-0"), LogConfig(message_timestamp_type="LogAppendTime"), clock=lambda: APPEND_MS / 1000)
    info = log.append(_batch(3, codec), leader_epoch=4)
    log.append(_batch(2, codec), leader_epoch=4)
    assert info.log_append_time == APPEND_MS and info.max_timestamp == APPEND_MS
    batches = list(iter_batches(log.read(0, 1 << 20), validate=True))  # validate: the CRC was recomputed
    assert [b.base_offset for b in batches] == [0, 3]
    for batch in batches:
        assert batch.attributes & ATTR_TIMESTAMP_TYPE
        assert batch.max_timestamp == APPEND_MS
        assert batch.base_timestamp == CREATE_MS  # the producer's base timestamp is left as sent
        assert batch.partition_leader_epoch == 4
        # every record reads back with the append time, not its create time
        assert {r.timestamp for r in batch.records()} == {APPEND_MS}
        # and so does Kafka's own reader, which also checks the CRC
        kafka = KafkaBatch(bytes(batch.raw()))
        assert kafka.validate_crc() and kafka.timestamp_type == 1
        assert [r.timestamp for r in kafka] == [APPEND_MS] * batch.record_count
    assert [r.value for b in batches for r in b.records()] == [b"v0", b"v1", b"v2", b"v0", b"v1"]
    # the time index holds the append time, so a timestamp lookup finds the batch
    assert log.offset_for_timestamp(APPEND_MS) == 0
    log.close()


def test_create_time_keeps_the_producers_timestamps_and_answers_no_append_time(tmp_path):
    log = Log(str(tmp_path / "t-0"), LogConfig(), clock=lambda: APPEND_MS / 1000)
    info = log.append(_batch(2), leader_epoch=0)
    assert info.log_append_time == -1 and info.max_timestamp == CREATE_MS + 1
    (batch,) = iter_batches(log.read(0, 1 << 20), validate=True)
    assert not batch.attributes & ATTR_TIMESTAMP_TYPE
    assert [r.timestamp for r in batch.records()] == [CREATE_MS, CREATE_MS + 1]
    log.close()


def test_a_follower_stores_a_log_append_time_batch_as_the_leader_stamped_it(tmp_path):
    leader = Log(str(tmp_path / "leader"), LogConfig(message_timestamp_type="LogAppendTime"), clock=lambda: APPEND_MS / 1000)
    leader.append(_batch(2), leader_epoch=1)
    follower = Log(str(tmp_path / "follower"), LogConfig(), clock=lambda: 0)
    follower.append_as_follower(leader.read(0, 1 << 20))
    assert bytes(follower.read(0, 1 << 20)) == bytes(leader.read(0, 1 << 20))
    leader.close()
    follower.close()


def test_topic_timestamp_type_beats_the_broker_key():
    assert LogConfig.from_configs({}, {}).message_timestamp_type == "CreateTime"
    assert LogConfig.from_configs({}, {"log.message.timestamp.type": "LogAppendTime"}).message_timestamp_type == "LogAppendTime"
    both = LogConfig.from_configs({"message.timestamp.type": "CreateTime"}, {"log.message.timestamp.type": "LogAppendTime"})
    assert both.message_timestamp_type == "CreateTime"
    with pytest.raises(InvalidConfigError, match="message.timestamp.type"):
        LogConfig.from_configs({"message.timestamp.type": "WallClock"}, {})
