"""Idempotent producers' state: duplicates answered with their stored offsets, gaps and old epochs refused,
and the state rebuilt exactly after a restart, a crash, a truncation and on a follower."""

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage import Log, LogConfig, Record, build_batch, iter_batches
from storage.producer_state import (
    INT32_MAX,
    InvalidProducerEpochError,
    OutOfOrderSequenceError,
    ProducerStateManager,
    next_sequence,
    snapshot_name,
)


def batch(pid, seq, n=2, epoch=0, tag="r"):
    return build_batch([f"{tag}{seq + i}".encode() for i in range(n)], producer_id=pid, producer_epoch=epoch,
                       base_sequence=seq)


def values(log):
    out, offset = [], log.log_start_offset
    while offset < log.log_end_offset:
        data = log.read(offset, 1 << 20)
        for b in iter_batches(data):
            out.extend(r.value for r in b.records())
            offset = b.next_offset
    return out


def test_a_retried_batch_is_answered_with_its_stored_offsets_and_not_written_again(tmp_path):
    with Log(str(tmp_path / "p")) as log:
        first = log.append(batch(7, 0))
        second = log.append(batch(7, 2))
        again = log.append(batch(7, 0))  # the retry of the first, whose answer was lost
        assert (again.first_offset, again.last_offset, again.duplicates) == (first.first_offset, 1, 1)
        assert again.record_count == 0 and log.log_end_offset == second.last_offset + 1 == 4
        assert values(log) == [b"r0", b"r1", b"r2", b"r3"]


def test_a_payload_of_stored_and_new_batches_writes_the_new_ones_and_answers_each_offset(tmp_path):
    with Log(str(tmp_path / "p")) as log:
        log.append(batch(7, 0) + batch(7, 2))
        info = log.append(batch(7, 0) + batch(7, 2) + batch(7, 4))
        assert info.batch_offsets == (0, 2, 4) and info.duplicates == 2 and info.record_count == 2
        assert values(log) == [b"r0", b"r1", b"r2", b"r3", b"r4", b"r5"]


def test_a_gap_in_the_sequence_is_refused_and_nothing_of_the_payload_is_written(tmp_path):
    with Log(str(tmp_path / "p")) as log:
        log.append(batch(7, 0))
        with pytest.raises(OutOfOrderSequenceError, match="does not follow 1"):
            log.append(batch(7, 3))
        with pytest.raises(OutOfOrderSequenceError):
            log.append(batch(7, 2) + batch(7, 5))  # the second batch of the payload leaves a gap
        assert log.log_end_offset == 2
        log.append(batch(7, 2))  # the right next sequence is still accepted


def test_an_older_epoch_is_fenced_and_a_new_epoch_starts_at_zero(tmp_path):
    with Log(str(tmp_path / "p")) as log:
        log.append(batch(7, 0, epoch=1))
        with pytest.raises(InvalidProducerEpochError, match="epoch 1 has taken over"):
            log.append(batch(7, 2, epoch=0))
        with pytest.raises(OutOfOrderSequenceError, match="new epoch 2 starts at sequence 5"):
            log.append(batch(7, 5, epoch=2))
        log.append(batch(7, 0, epoch=2))
        assert log.log_end_offset == 4


def test_an_unknown_producer_may_start_at_any_sequence_and_others_are_independent(tmp_path):
    with Log(str(tmp_path / "p")) as log:
        log.append(batch(7, 40))  # KIP-360: its earlier batches may have gone with retention
        log.append(batch(8, 0))
        log.append(build_batch([b"plain"]))  # a producer without idempotence is not checked
        log.append(build_batch([b"plain"]))
        log.append(batch(7, 42))
        assert log.log_end_offset == 8


def test_sequences_wrap_after_int32_max(tmp_path):
    assert next_sequence(INT32_MAX, 1) == 0 and next_sequence(INT32_MAX - 1, 3) == 1
    with Log(str(tmp_path / "p")) as log:
        log.append(batch(7, INT32_MAX - 1, n=2))
        log.append(batch(7, 0, n=1))
        assert log.append(batch(7, 0, n=1)).duplicates == 1


def test_the_state_survives_a_clean_restart_through_its_snapshot(tmp_path):
    path = str(tmp_path / "p")
    with Log(path) as log:
        log.append(batch(7, 0))
    assert snapshot_name(2) in os.listdir(path)
    with Log(path) as log:
        assert log.append(batch(7, 0)).duplicates == 1
        with pytest.raises(OutOfOrderSequenceError):
            log.append(batch(7, 9))


def test_the_state_survives_a_crash_by_replaying_the_headers_after_the_last_snapshot(tmp_path):
    path = str(tmp_path / "p")
    log = Log(path, LogConfig(segment_bytes=200))
    for seq in range(0, 20, 2):
        log.append(batch(7, seq))
    assert len(log.segments) > 2
    log.abandon()  # a crash: no snapshot at the end, so the tail is replayed
    with Log(path, LogConfig(segment_bytes=200)) as log:
        assert log.append(batch(7, 18)).duplicates == 1
        assert log.append(batch(7, 20)).duplicates == 0


def test_an_unreadable_snapshot_is_dropped_and_the_log_replayed(tmp_path):
    path = str(tmp_path / "p")
    with Log(path) as log:
        log.append(batch(7, 0))
    with open(os.path.join(path, snapshot_name(2)), "r+b") as f:
        f.seek(8)
        f.write(b"\xff\xff")
    with Log(path) as log:
        assert log.append(batch(7, 0)).duplicates == 1


def test_after_a_truncation_a_cut_batch_is_written_again_not_taken_for_a_duplicate(tmp_path):
    path = str(tmp_path / "p")
    with Log(path, LogConfig(segment_bytes=200)) as log:
        for seq in range(0, 12, 2):
            log.append(batch(7, seq))
        log.truncate_to(6)  # a follower cutting a divergent tail
        assert log.log_end_offset == 6
        again = log.append(batch(7, 6))
        assert again.duplicates == 0 and again.first_offset == 6
        with pytest.raises(OutOfOrderSequenceError):
            log.append(batch(7, 10))
        log.truncate_fully_and_start_at(100)
        assert log.append(batch(7, 50)).first_offset == 100  # nothing of the old history is left


def test_a_follower_builds_the_same_state_and_dedupes_once_it_leads(tmp_path):
    with Log(str(tmp_path / "leader")) as leader, Log(str(tmp_path / "follower")) as follower:
        leader.append(batch(7, 0))
        leader.append(batch(7, 2))
        follower.append_as_follower(leader.read(0, 1 << 20))
        assert follower.append(batch(7, 2)).first_offset == 2  # the retry after a failover
        assert follower.append(batch(7, 4)).first_offset == 4


def test_producers_silent_for_the_expiration_are_forgotten(tmp_path):
    sent_ms = 1_000_000_000
    with Log(str(tmp_path / "p"), producer_id_expiration_ms=60_000) as log:
        log.append(build_batch([Record(None, b"x", timestamp=sent_ms)], producer_id=7, producer_epoch=0,
                               base_sequence=0))
        assert log.expire_producers(sent_ms + 59_000) == []
        assert log.expire_producers(sent_ms + 60_000) == [7]
        log.append(build_batch([b"y"], producer_id=7, producer_epoch=0, base_sequence=30))  # unknown again


def test_snapshots_are_bounded_and_those_below_the_log_start_go(tmp_path):
    with Log(str(tmp_path / "p"), LogConfig(segment_bytes=200, retention_bytes=1)) as log:
        for seq in range(0, 40, 2):
            log.append(batch(7, seq))
        assert len(log.producer_state.snapshot_offsets()) <= 3
        log.apply_retention()
        assert all(o >= log.log_start_offset for o in log.producer_state.snapshot_offsets())
        assert log.append(batch(7, 38)).duplicates == 1


# -- the property: whatever answers are lost and however the leader restarts, each batch is stored once ------


@st.composite
def histories(draw):
    steps = []
    for i in range(draw(st.integers(1, 25))):
        steps.append(("send", draw(st.integers(1, 3)), draw(st.integers(0, 2))))  # size, answers lost
        steps.append(draw(st.sampled_from(["none", "none", "roll", "close", "crash"])))
    return steps


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(histories())
def test_retries_through_restarts_store_every_batch_exactly_once_in_order(tmp_path_factory, steps):
    path = str(tmp_path_factory.mktemp("prop") / "p")
    config = LogConfig(segment_bytes=300)
    log = Log(path, config)
    seq, expected, acked = 0, [], []
    try:
        for step in steps:
            if step[0] == "send":
                _, n, lost = step
                payload = batch(11, seq, n=n)
                first = None
                for _ in range(lost + 1):  # the producer resends until an answer arrives
                    info = log.append(payload)
                    first = info.first_offset if first is None else first
                    assert info.first_offset == first  # every retry is told where the batch is
                expected.extend(f"r{seq + i}".encode() for i in range(n))
                acked.append(first)
                seq = next_sequence(seq, n)
            elif step == "roll":
                log.roll()
            elif step in ("close", "crash"):
                log.close() if step == "close" else log.abandon()
                log = Log(path, config)
        assert values(log) == expected
        assert acked == sorted(set(acked))
    finally:
        log.close()


def test_the_manager_alone_checks_a_payload_without_changing_anything(tmp_path):
    from storage.producer_state import ProducerBatch

    state = ProducerStateManager(str(tmp_path))
    state.update(ProducerBatch(1, 0, 0, 0, 4, 10))
    twins = state.check([ProducerBatch(1, 0, 0, 0, 4, 10), ProducerBatch(1, 0, 5, 0, 1, 10)])
    assert twins[0].first_offset == 0 and twins[1] is None
    assert state.producers[1].last_seq == 4  # check records nothing


def test_producer_id_expiration_ms_in_the_broker_config_is_what_a_replica_expires_by(tmp_path):
    from actors.config import BrokerConfig

    cfg, _ = BrokerConfig.from_properties({"producer.id.expiration.ms": "60000"})
    assert cfg.producer_id_expiration_ms == 60_000
    with Log(str(tmp_path / "p"), producer_id_expiration_ms=cfg.producer_id_expiration_ms) as log:
        log.append(build_batch([Record(None, b"x", timestamp=1_000)], producer_id=3, producer_epoch=0,
                               base_sequence=0))
        assert log.expire_producers(60_999) == [] and log.expire_producers(61_000) == [3]
    default, _ = BrokerConfig.from_properties({})
    assert default.producer_id_expiration_ms == 86_400_000  # Kafka's default: a day


def test_a_batch_with_a_producer_id_but_a_negative_epoch_or_sequence_is_refused_and_changes_nothing(tmp_path):
    from storage.errors import InvalidRecordError

    with Log(str(tmp_path / "p")) as log:
        for pid, epoch, seq in ((5, -1, 0), (5, 0, -1), (-7, 0, 0)):
            with pytest.raises(InvalidRecordError, match="at least 0"):
                log.append(build_batch([b"x"], producer_id=pid, producer_epoch=epoch, base_sequence=seq))
        assert log.log_end_offset == 0 and log.producer_state.producers == {}


def test_a_retry_on_a_log_append_time_topic_reports_the_stamp_the_batch_was_stored_with(tmp_path):
    now = [1_000.0]
    config = LogConfig(message_timestamp_type="LogAppendTime")
    with Log(str(tmp_path / "p"), config, clock=lambda: now[0]) as log:
        first = log.append(batch(7, 0))
        now[0] += 60
        again = log.append(batch(7, 0))
        assert first.log_append_time == 1_000_000 and again.log_append_time == 1_000_000
