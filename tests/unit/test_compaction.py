"""Log compaction (storage.compaction): planning, per-record rules, the pass on a Log, crash safety.

The model the properties check against is a dict, independent of the code: after a
pass covering the closed segments, the log holds, at its original offset and with
its original timestamp and headers, the latest record of every key (and every
keyless record); a tombstone stays until a pass at or after ``delete.retention.ms``
past the first pass that covered it; the active segment is byte for byte what it was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage import InvalidConfigError, Log, LogConfig, Record, build_batch, iter_batches
from storage.batch import ATTR_TIMESTAMP_TYPE, RecordBatch
from storage.compaction import (
    ATTR_DELETE_HORIZON,
    CompactionConfig,
    SegmentInfo,
    build_offset_map,
    cleanable_range,
    cleanup_policies,
    compact,
    delete_horizon,
    dirty_ratio,
    empty_batch,
    encode_batch,
    filter_batch,
    group_segments,
    read_checkpoint,
    should_retain,
    truncate_checkpoint,
)
from storage.errors import OutOfOrderSequenceError
from storage.segment import plan_swap_recovery

T0 = 1_700_000_000_000
DAY = 86_400_000
ALWAYS = CompactionConfig(min_cleanable_dirty_ratio=0.0)  # clean whenever anything is cleanable
SMALL = LogConfig(segment_bytes=300, index_interval_bytes=64)
_SHM = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


# -- helpers ------------------------------------------------------------------------
def rec(key, value, ts=0, headers=()):
    return Record(key, value, list(headers), T0 + ts)


def append(log: Log, records, codec="none", epoch=0):
    return log.append(build_batch(records, compression_type=codec), leader_epoch=epoch)


def read_all(log: Log) -> list[tuple]:
    """Every record, read forward as a consumer does (each fetch resumes at the batch's next offset)."""
    out, offset = [], log.log_start_offset
    while offset < log.log_end_offset:
        batches = list(iter_batches(log.read(offset, 1 << 16), validate=True))
        assert batches, f"no progress at offset {offset}"
        for b in batches:
            out += [(r.offset, r.key, r.value, list(r.headers), r.timestamp) for r in b.records()]
        offset = batches[-1].next_offset
    return out


def first_record_from(log: Log, offset: int) -> int | None:
    while offset < log.log_end_offset:
        batches = list(iter_batches(log.read(offset, 1 << 16)))
        records = [r.offset for b in batches for r in b.records() if r.offset >= offset]
        if records:
            return records[0]
        offset = batches[-1].next_offset
    return None


def leftovers(directory) -> list[str]:
    return sorted(n for n in os.listdir(directory) if n.endswith((".cleaned", ".swap", ".deleted", ".tmp")))


def kill(log: Log) -> None:
    """A killed process: descriptors dropped, nothing flushed, the lock released by the kernel."""
    for seg in log.segments:
        if seg._fd >= 0:
            os.close(seg._fd)
            seg._fd = -1
    log._closed = True
    log._lock.release()


@contextlib.contextmanager
def fresh_dir():
    path = tempfile.mkdtemp(prefix="zafka-compaction-", dir=_SHM)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def seg(base, size, largest=T0, first=T0):
    return SegmentInfo(base, size, largest, first)


# -- planning -----------------------------------------------------------------------
def test_the_active_segment_is_never_cleanable():
    plan = cleanable_range([seg(0, 1000)], None, log_end_offset=50, high_watermark=50, now_ms=T0, config=ALWAYS)
    assert not plan.should_clean and plan.first_uncleanable_offset == 0 and plan.cleanable_bytes == 0


def test_a_pass_needs_a_dirty_ratio_above_min_cleanable_dirty_ratio():
    segments = [seg(0, 100), seg(10, 100), seg(20, 5)]
    half = cleanable_range(segments, 10, log_end_offset=25, high_watermark=25, now_ms=T0, config=CompactionConfig())
    assert (half.clean_bytes, half.cleanable_bytes, half.dirty_ratio) == (100, 100, 0.5)
    assert not half.should_clean  # Kafka compares with ">"
    segments[1] = seg(10, 101)
    assert cleanable_range(segments, 10, log_end_offset=25, high_watermark=25, now_ms=T0,
                           config=CompactionConfig()).should_clean
    assert dirty_ratio(0, 0) == 0.0


def test_the_segment_holding_the_high_watermark_is_not_cleaned():
    segments = [seg(0, 100), seg(10, 100), seg(20, 100), seg(30, 0)]
    plan = cleanable_range(segments, None, log_end_offset=30, high_watermark=15, now_ms=T0, config=ALWAYS)
    assert plan.first_uncleanable_offset == 10 and plan.cleanable_bytes == 100
    plan = cleanable_range(segments, None, log_end_offset=30, high_watermark=20, now_ms=T0, config=ALWAYS)
    assert plan.first_uncleanable_offset == 20


def test_min_compaction_lag_holds_back_segments_with_recent_records():
    segments = [seg(0, 100, largest=T0), seg(10, 100, largest=T0 + 5000), seg(20, 100, largest=T0), seg(30, 0)]
    cfg = CompactionConfig(min_cleanable_dirty_ratio=0.0, min_compaction_lag_ms=1000)
    plan = cleanable_range(segments, None, log_end_offset=30, high_watermark=30, now_ms=T0 + 5500, config=cfg)
    assert plan.first_uncleanable_offset == 10  # the first too-recent segment stops the range


def test_max_compaction_lag_forces_a_pass_below_the_ratio():
    segments = [seg(0, 1000), seg(10, 10, first=T0), seg(20, 0)]
    lazy = CompactionConfig(min_cleanable_dirty_ratio=0.9, max_compaction_lag_ms=DAY)
    kwargs = dict(log_end_offset=20, high_watermark=20, config=lazy)
    assert not cleanable_range(segments, 10, now_ms=T0 + DAY, **kwargs).should_clean
    assert cleanable_range(segments, 10, now_ms=T0 + DAY + 1, **kwargs).should_clean


@pytest.mark.parametrize("checkpoint", [-1, 5, 40, 15])  # below start, past end, mid-segment (a truncation)
def test_an_invalid_checkpoint_resets_to_the_log_start(checkpoint):
    segments = [seg(10, 100), seg(20, 100), seg(30, 0)]
    plan = cleanable_range(segments, checkpoint, log_end_offset=30, high_watermark=30, now_ms=T0, config=ALWAYS)
    assert plan.first_dirty_offset == 10 and plan.reset_checkpoint
    ok = cleanable_range(segments, 20, log_end_offset=30, high_watermark=30, now_ms=T0, config=ALWAYS)
    assert ok.first_dirty_offset == 20 and not ok.reset_checkpoint


def test_segments_are_grouped_by_size_and_by_offset_span():
    segments = [seg(0, 100), seg(10, 100), seg(20, 150), seg(30, 60)]
    assert group_segments(segments, max_bytes=250, end_offset=40) == [[0, 10], [20, 30]]
    assert group_segments(segments, max_bytes=99, end_offset=40) == [[0], [10], [20], [30]]
    wide = [seg(0, 10), seg(2**32, 10), seg(2**32 + 5, 10)]
    assert group_segments(wide, max_bytes=1000, end_offset=2**32 + 9) == [[0], [2**32, 2**32 + 5]]


@given(
    sizes=st.lists(st.integers(0, 500), min_size=1, max_size=8),
    checkpoint=st.one_of(st.none(), st.integers(-5, 100)),
    hw_back=st.integers(0, 30),
)
def test_plans_never_reach_the_active_segment_or_the_high_watermark(sizes, checkpoint, hw_back):
    segments = [seg(i * 10, s) for i, s in enumerate(sizes)] + [seg(len(sizes) * 10, 0)]
    end = len(sizes) * 10
    hw = max(0, end - hw_back)
    plan = cleanable_range(segments, checkpoint, log_end_offset=end, high_watermark=hw, now_ms=T0, config=ALWAYS)
    bases = [s.base_offset for s in segments]
    assert plan.first_uncleanable_offset in bases and plan.first_dirty_offset in bases
    assert plan.first_dirty_offset <= plan.first_uncleanable_offset <= max(plan.first_dirty_offset, hw, 0)
    assert plan.first_uncleanable_offset <= segments[-1].base_offset
    assert not plan.should_clean or plan.cleanable_bytes > 0


def test_config_values_are_validated_with_typed_errors():
    for bad in (dict(min_cleanable_dirty_ratio=1.5), dict(min_compaction_lag_ms=-1),
                dict(max_compaction_lag_ms=0), dict(delete_retention_ms="1")):
        with pytest.raises(InvalidConfigError):
            CompactionConfig(**bad)
    assert cleanup_policies("compact, delete") == {"compact", "delete"}
    assert cleanup_policies(["compact"]) == {"compact"}
    with pytest.raises(InvalidConfigError):
        cleanup_policies("compact,shred")


# -- per-record rules ---------------------------------------------------------------
def test_only_the_latest_record_of_a_key_is_retained_and_keyless_records_stay():
    offsets = build_offset_map([(0, b"a"), (1, b"b"), (2, None), (3, b"a")])
    assert offsets == {b"a": 3, b"b": 1}
    assert not should_retain(0, b"a", False, offsets, None, T0)
    assert should_retain(3, b"a", False, offsets, None, T0)
    assert should_retain(7, b"z", False, offsets, None, T0)  # a clean-section key the dirty section lacks
    assert should_retain(2, None, False, offsets, None, T0)


def test_a_tombstone_stays_until_its_batch_delete_horizon():
    offsets = {b"a": 5}
    assert should_retain(5, b"a", True, offsets, None, T0)  # never cleaned yet: no horizon
    assert should_retain(5, b"a", True, offsets, T0 + 1, T0)
    assert not should_retain(5, b"a", True, offsets, T0, T0)


def test_an_untouched_batch_is_copied_byte_for_byte():
    data = build_batch([rec(b"a", b"1"), rec(b"b", b"2")], compression_type="lz4")
    out = filter_batch(RecordBatch(data), {b"a": 0, b"b": 1}, now_ms=T0, delete_retention_ms=DAY)
    assert out.data == data and (out.read, out.kept) == (2, 2)


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_a_rebuilt_batch_keeps_offsets_fields_codec_and_record_contents(codec):
    records = [rec(b"a", b"1", 5, [("h", b"x")]), rec(b"b", b"2", 3), rec(b"a", b"3", 9, [("n", None)]), rec(b"c", b"4", 1)]
    data = build_batch(records, compression_type=codec, producer_id=42, producer_epoch=3, base_sequence=17,
                       base_offset=100, partition_leader_epoch=6)
    original = RecordBatch(data)
    out = filter_batch(original, {b"a": 102, b"b": 101, b"c": 200}, now_ms=T0, delete_retention_ms=DAY)
    batch = RecordBatch(out.data)
    batch.validate()
    assert (batch.base_offset, batch.last_offset, batch.record_count) == (100, 103, 2)  # last offset delta kept
    assert (batch.partition_leader_epoch, batch.producer_id, batch.producer_epoch, batch.base_sequence) == (6, 42, 3, 17)
    assert batch.compression == original.compression and batch.max_timestamp == T0 + 9
    assert [(r.offset, r.key, r.value, r.headers, r.timestamp) for r in batch.records()] == [
        (101, b"b", b"2", [], T0 + 3), (102, b"a", b"3", [("n", None)], T0 + 9)]


def test_a_kept_tombstone_gets_a_delete_horizon_and_goes_once_it_passes():
    data = build_batch([rec(b"a", None, 1, [("h", b"x")]), rec(b"b", b"v", 2)], compression_type="gzip")
    first = filter_batch(RecordBatch(data), {b"a": 0, b"b": 1}, now_ms=T0 + 50, delete_retention_ms=DAY)
    stamped = RecordBatch(first.data)
    assert stamped.attributes & ATTR_DELETE_HORIZON and delete_horizon(stamped) == T0 + 50 + DAY
    assert [(r.offset, r.value, r.headers, r.timestamp) for r in stamped.records()] == [
        (0, None, [("h", b"x")], T0 + 1), (1, b"v", [], T0 + 2)]  # record timestamps survive the new base
    early = filter_batch(stamped, {b"a": 0, b"b": 1}, now_ms=T0 + 49 + DAY, delete_retention_ms=DAY)
    assert early.data == first.data  # nothing changes before the horizon
    late = RecordBatch(filter_batch(stamped, {b"a": 0, b"b": 1}, now_ms=T0 + 50 + DAY, delete_retention_ms=DAY).data)
    assert [(r.offset, r.value) for r in late.records()] == [(1, b"v")]
    assert delete_horizon(late) == T0 + 50 + DAY and late.last_offset == 1


def test_log_append_time_batches_keep_the_brokers_stamp():
    with fresh_dir() as d, Log(d, LogConfig(message_timestamp_type="LogAppendTime"), clock=lambda: 7.0) as log:
        append(log, [rec(b"a", b"1"), rec(b"a", b"2")])
        original = RecordBatch(log.read(0))
    out = RecordBatch(filter_batch(original, {b"a": 1}, now_ms=T0, delete_retention_ms=DAY).data)
    assert out.attributes & ATTR_TIMESTAMP_TYPE and out.max_timestamp == 7000
    assert [(r.offset, r.timestamp) for r in out.records()] == [(1, 7000)]


def test_an_emptied_batch_goes_unless_it_ends_the_group():
    data = build_batch([rec(b"a", b"1", 4), rec(b"a", b"2", 6)], base_offset=10, partition_leader_epoch=2)
    batch = RecordBatch(data)
    assert filter_batch(batch, {b"a": 99}, now_ms=T0, delete_retention_ms=DAY).data is None
    kept = RecordBatch(filter_batch(batch, {b"a": 99}, now_ms=T0, delete_retention_ms=DAY, keep_if_empty=True).data)
    kept.validate()
    assert (kept.base_offset, kept.next_offset, kept.record_count, kept.max_timestamp) == (10, 12, 0, T0 + 6)
    assert list(kept.records()) == [] and empty_batch(batch) == bytes(kept.raw())


record_st = st.builds(
    Record,
    st.one_of(st.none(), st.binary(max_size=30)),
    st.one_of(st.none(), st.binary(max_size=300)),
    st.lists(st.tuples(st.text(max_size=5), st.one_of(st.none(), st.binary(max_size=10))), max_size=3),
    st.integers(0, 2**40),
)


@given(records=st.lists(record_st, min_size=1, max_size=8), codec=st.sampled_from(["none", "gzip", "lz4", "zstd"]))
def test_the_cleaners_encoder_writes_what_the_codec_builder_writes(records, codec):
    """Same records, same bases: the cleaner's own encoder is byte-identical to storage.codec's."""
    data = build_batch(records, compression_type=codec, base_offset=7, partition_leader_epoch=1)
    batch = RecordBatch(data)
    assert encode_batch(batch, list(batch.records()), delete_horizon_ms=None) == data


# -- the pass on a Log --------------------------------------------------------------
def fill_example(log: Log) -> list[tuple]:
    """Keys a/b/c updated many times, b deleted, a keyless record, over several segments."""
    batches = [
        ([rec(b"a", b"a0", 1), rec(b"b", b"b0", 2), rec(b"c", b"c0", 3)], "none"),
        ([rec(b"a", b"a1", 4, [("h", b"1")]), rec(None, b"free", 5)], "gzip"),
        ([rec(b"b", b"b1", 6), rec(b"a", b"a2", 7)], "lz4"),
        ([rec(b"c", b"c1", 8), rec(b"b", None, 9)], "none"),
        ([rec(b"a", b"a3", 10), rec(b"c", b"c2", 11)], "zstd"),
        ([rec(b"c", b"c3", 12)], "none"),
    ]
    for records, codec in batches:
        append(log, records, codec, epoch=3)
        log.roll()
    append(log, [rec(b"a", b"active", 13)], epoch=3)  # the active segment: never cleaned
    log.update_high_watermark(log.log_end_offset)
    return read_all(log)


def test_compaction_keeps_the_latest_record_per_key_at_its_offset(tmp_path):
    with Log(tmp_path / "t-0", SMALL) as log:
        before = fill_example(log)
        start, end, hw, epochs = log.log_start_offset, log.log_end_offset, log.high_watermark, log.leader_epochs.entries()
        active = open(log.active.log_path, "rb").read()
        result = compact(log, ALWAYS, now_ms=T0 + 100)
        assert result.cleaned and result.records_read == 12 and result.records_kept == 4
        after = read_all(log)
        assert [(o, k, v) for o, k, v, _, _ in after] == [
            (4, None, b"free"), (8, b"b", None), (9, b"a", b"a3"), (11, b"c", b"c3"), (12, b"a", b"active")]
        by_offset = {r[0]: r for r in before}
        assert all(by_offset[r[0]] == r for r in after)  # timestamps and headers too
        assert (log.log_start_offset, log.log_end_offset, log.high_watermark) == (start, end, hw)
        assert log.leader_epochs.entries() == epochs and open(log.active.log_path, "rb").read() == active
        assert read_checkpoint(log.directory) == log.active.base_offset
        assert not leftovers(log.directory)
        # a fetch at a compacted-away offset gets the batch holding it, or the next one: a consumer
        # resuming at each batch's next offset sees the next record still there (an emptied batch
        # that ends a cleaned segment has no records, as in Kafka)
        assert [r.offset for b in iter_batches(log.read(0)) for r in b.records()][:1] == [4]
        assert [r.offset for b in iter_batches(log.read(3)) for r in b.records()][:1] == [4]
        for offset in range(5, 9):
            assert first_record_from(log, offset) == 8
        assert first_record_from(log, 10) == 11
    with Log(tmp_path / "t-0", SMALL) as log:  # and it all reopens as it was
        assert read_all(log) == after


def test_a_second_pass_waits_for_new_dirty_data(tmp_path):
    with Log(tmp_path / "t-0", SMALL) as log:
        fill_example(log)
        assert compact(log, CompactionConfig(), now_ms=T0 + 100).cleaned
        assert not compact(log, CompactionConfig(), now_ms=T0 + 200).cleaned  # nothing dirty: ratio 0
        for i in range(4):
            append(log, [rec(b"a", b"x" * 40, 20 + i), rec(b"d", b"y" * 40, 20 + i)])
        log.roll()
        log.update_high_watermark(log.log_end_offset)
        again = compact(log, CompactionConfig(), now_ms=T0 + 300)
        assert again.cleaned and again.plan.first_dirty_offset == 12
        values = {k: v for _, k, v, _, _ in read_all(log) if k is not None}
        assert values == {b"a": b"x" * 40, b"b": None, b"c": b"c3", b"d": b"y" * 40}


def test_tombstones_survive_delete_retention_after_their_first_pass(tmp_path):
    with Log(tmp_path / "t-0", SMALL) as log:
        fill_example(log)
        compact(log, ALWAYS, now_ms=T0 + 100)
        append(log, [rec(b"e", b"e0", 20)])
        log.roll()
        log.update_high_watermark(log.log_end_offset)
        compact(log, ALWAYS, now_ms=T0 + 99 + DAY)
        assert (8, b"b", None) in [r[:3] for r in read_all(log)]
        append(log, [rec(b"e", b"e1", 21)])
        log.roll()
        log.update_high_watermark(log.log_end_offset)
        compact(log, ALWAYS, now_ms=T0 + 100 + DAY)
        assert b"b" not in [r[1] for r in read_all(log)]


def test_truncation_below_the_checkpoint_makes_the_data_dirty_again(tmp_path):
    with Log(tmp_path / "t-0", SMALL) as log:
        fill_example(log)
        compact(log, ALWAYS, now_ms=T0)
        truncate_checkpoint(log.directory, 9)
        assert read_checkpoint(log.directory) == 9
        truncate_checkpoint(log.directory, 11)  # never moves it forward
        assert read_checkpoint(log.directory) == 9


class _Crash(BaseException):
    """A kill at this instant: BaseException, so no cleanup handler in the code under test runs."""


@contextlib.contextmanager
def file_ops_fail_after(n: int, exc: type[BaseException], ops=("replace", "rename", "unlink")):
    """The ``os`` functions ``ops`` raise ``exc`` once ``n`` calls of them have succeeded."""
    real = {name: getattr(os, name) for name in ops}
    calls = [0]

    def wrap(fn):
        def op(*args, **kwargs):
            calls[0] += 1
            if calls[0] > n:
                raise exc(f"injected failure at file operation {calls[0]}")
            return fn(*args, **kwargs)
        return op

    for name, fn in real.items():
        setattr(os, name, wrap(fn))
    try:
        yield calls
    finally:
        for name, fn in real.items():
            setattr(os, name, fn)


@pytest.mark.parametrize("succeeding", [0, 1, 2])  # the .log, .index or .timeindex rename to .swap fails
def test_a_failure_before_the_commit_point_leaves_the_log_as_it_was(tmp_path, succeeding):
    with Log(tmp_path / "t-0", SMALL) as log:
        before = fill_example(log)
        segments = list(log.segments)
        with file_ops_fail_after(succeeding, OSError, ops=("replace", "rename")), pytest.raises(OSError):
            compact(log, ALWAYS, now_ms=T0)
        assert log.segments == segments and read_all(log) == before
        assert not leftovers(log.directory) and read_checkpoint(log.directory) is None
        assert compact(log, ALWAYS, now_ms=T0).cleaned  # and the next pass just works
        assert len(read_all(log)) == 5


def test_a_crash_at_any_file_operation_of_the_swap_loses_nothing_compaction_keeps():
    with fresh_dir() as d, Log(d, SMALL) as log:  # the outcome of an uninterrupted pass
        original = fill_example(log)
        compact(log, ALWAYS, now_ms=T0)
        expected = read_all(log)
    by_offset = {r[0]: r for r in original}
    crashes = 0
    for n in range(1000):
        with fresh_dir() as d:
            log = Log(d, SMALL)
            fill_example(log)
            try:
                with file_ops_fail_after(n, _Crash):
                    compact(log, ALWAYS, now_ms=T0)
            except _Crash:
                crashes += 1
                kill(log)
                log = Log(d, SMALL)
                assert not leftovers(d), n
                seen = read_all(log)
                offsets = [r[0] for r in seen]
                assert offsets == sorted(set(offsets)), n
                assert all(by_offset[r[0]] == r for r in seen), n  # nothing half-written or altered
                assert {r[0] for r in expected} <= set(offsets), n  # nothing compaction keeps was lost
                assert (log.log_start_offset, log.log_end_offset) == (0, 13)
                log.update_high_watermark(13)  # the reopened log knows only its checkpointed high watermark
                compact(log, ALWAYS, now_ms=T0)
                assert read_all(log) == expected, n
                log.close()
                continue
            assert read_all(log) == expected
            log.close()
            break
    assert crashes > 20  # every step of every group's swap was interrupted once


def test_recovery_plan_completes_swaps_and_drops_cleaned_and_deleted_files():
    names = [
        "00000000000000000000.log.swap", "00000000000000000000.index.swap", "00000000000000000000.log.deleted",
        "00000000000000000005.log", "00000000000000000005.index", "00000000000000000010.log",
        "00000000000000000010.log.cleaned", "00000000000000000010.timeindex.cleaned", "leader-epoch-checkpoint",
    ]
    deletions, renames = plan_swap_recovery(names, {0: 10})
    assert sorted(deletions) == sorted([
        "00000000000000000000.log.deleted", "00000000000000000005.log", "00000000000000000005.index",
        "00000000000000000010.log.cleaned", "00000000000000000010.timeindex.cleaned"])
    assert sorted(renames) == [("00000000000000000000.index.swap", "00000000000000000000.index"),
                               ("00000000000000000000.log.swap", "00000000000000000000.log")]


# -- the model property -------------------------------------------------------------
key_st = st.sampled_from([b"a", b"b", b"c", b"d", b"e", None])
model_record_st = st.tuples(
    key_st,
    st.one_of(st.none(), st.binary(max_size=24)),
    st.lists(st.tuples(st.sampled_from(["h", "trace"]), st.one_of(st.none(), st.binary(max_size=4))), max_size=2),
    st.integers(0, 1000),
)
batch_st = st.tuples(st.lists(model_record_st, min_size=1, max_size=5), st.sampled_from(["none", "gzip", "lz4"]),
                     st.booleans())
stage_st = st.lists(batch_st, min_size=1, max_size=10)


def _append_stage(log: Log, stage, originals: dict) -> None:
    for records, codec, roll in stage:
        info = append(log, [Record(k, v, h, T0 + ts) for k, v, h, ts in records], codec)
        for offset, (k, v, h, ts) in zip(range(info.first_offset, info.last_offset + 1), records):
            originals[offset] = (offset, k, v, h, T0 + ts)
        if roll:
            log.roll()


def _expected(originals: dict, covered_end: int, first_cover: dict, now_ms: int) -> list[tuple]:
    """The dict model: below ``covered_end``, latest per key (+ keyless), tombstones until their horizon."""
    latest = {}
    for offset in sorted(originals):
        if offset < covered_end and originals[offset][1] is not None:
            latest[originals[offset][1]] = offset
    out = []
    for offset in sorted(originals):
        _, key, value, _, _ = originals[offset]
        if offset >= covered_end or key is None:
            out.append(originals[offset])
        elif latest[key] == offset and (value is not None or now_ms < first_cover[offset] + DAY):
            out.append(originals[offset])
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=stage_st, tail=stage_st, second=stage_st, past_horizon=st.booleans())
def test_a_compacted_log_reads_back_as_the_dict_model(first, tail, second, past_horizon):
    with fresh_dir() as d:
        log = Log(d, SMALL)
        originals: dict = {}
        first_cover: dict = {}
        try:
            for stage, now in ((first, T0 + 5000), (second, T0 + 5000 + DAY - (0 if past_horizon else 1))):
                _append_stage(log, stage, originals)
                log.roll()
                _append_stage(log, tail, originals)  # some of it stays in the active segment
                log.update_high_watermark(log.log_end_offset)
                active_base, active_bytes = log.active.base_offset, open(log.active.log_path, "rb").read()
                start, end, bases = log.log_start_offset, log.log_end_offset, {s.base_offset for s in log.segments}
                compact(log, ALWAYS, now_ms=now)
                for offset in originals:
                    if offset < active_base:
                        first_cover.setdefault(offset, now)
                expected = _expected(originals, active_base, first_cover, now)
                got = read_all(log)
                assert got == expected
                assert [r[0] for r in got] == sorted({r[0] for r in got})
                assert (log.log_start_offset, log.log_end_offset) == (start, end)
                assert {s.base_offset for s in log.segments} <= bases
                assert log.active.base_offset == active_base
                assert open(log.active.log_path, "rb").read() == active_bytes
                kill(log)  # and a crash right after the pass changes nothing
                log = Log(d, SMALL)
                assert read_all(log) == expected
        finally:
            if not log._closed:
                log.close()


def test_an_idempotent_producers_last_batch_is_kept_empty_so_a_replay_still_knows_its_sequence(tmp_path):
    path = tmp_path / "t-0"
    with Log(path, SMALL) as log:
        log.append(build_batch([rec(b"a", b"from-p", T0)], producer_id=9, producer_epoch=0, base_sequence=0))
        log.roll()
        append(log, [rec(b"a", b"superseded-p", T0 + 1)])  # a plain producer supersedes p's only record
        log.roll()
        append(log, [rec(b"z", b"active", T0 + 2)])
        log.update_high_watermark(log.log_end_offset)
        assert compact(log, ALWAYS, now_ms=T0 + 100).cleaned
        kept = [b for seg in log.segments for _, b in seg.scan_headers(0)]
        p_batches = [b for b in kept if b.producer_id == 9]
        assert [(b.base_offset, b.record_count, b.base_sequence) for b in p_batches] == [(0, 0, 0)]
    for name in os.listdir(path):  # every snapshot lost: the state comes from the batches alone
        if name.endswith(".snapshot"):
            os.unlink(path / name)
    with Log(path, SMALL) as log:
        with pytest.raises(OutOfOrderSequenceError):
            log.append(build_batch([rec(b"a", b"gap", T0 + 3)], producer_id=9, producer_epoch=0, base_sequence=5))
        log.append(build_batch([rec(b"a", b"next", T0 + 3)], producer_id=9, producer_epoch=0, base_sequence=1))
