"""Behaviour of storage.Log: offsets, reads, rolls, truncation, retention, corruption."""

from __future__ import annotations

import os

import pytest

from storage import (
    CorruptRecordError,
    InvalidRecordError,
    Log,
    LogConfig,
    OffsetOutOfRangeError,
    RecordTooLargeError,
    build_batch,
    iter_batches,
)
from storage.batch import HEADER_SIZE, RecordBatch
from storage.segment import segment_name

SMALL = LogConfig(segment_bytes=1024, index_interval_bytes=128)


def values_in(data) -> list[tuple[int, bytes]]:
    return [(r.offset, r.value) for b in iter_batches(data) for r in b.records()]


def read_all(log: Log, max_bytes: int = 1 << 20) -> list[tuple[int, bytes]]:
    out, offset = [], log.log_start_offset
    while offset < log.log_end_offset:
        data = log.read(offset, max_bytes)
        batches = list(iter_batches(data))
        assert batches, f"no progress reading at {offset}"
        for b in batches:
            out += [(r.offset, r.value) for r in b.records()]
        offset = batches[-1].next_offset
    return out


def fill(log: Log, batches: int, per_batch: int = 3, epoch: int = 0) -> list[tuple[int, bytes]]:
    expected = []
    for i in range(batches):
        vals = [f"b{i}-r{j}".encode() * 3 for j in range(per_batch)]
        info = log.append(build_batch(vals), leader_epoch=epoch)
        expected += list(zip(range(info.first_offset, info.last_offset + 1), vals))
    return expected


def test_offsets_start_at_zero_and_are_contiguous_across_batches(tmp_path):
    with Log(tmp_path / "t-0", SMALL) as log:
        first = log.append(build_batch([b"a", b"b"]))
        second = log.append(build_batch([b"c"]))
        assert (first.first_offset, first.last_offset) == (0, 1)
        assert (second.first_offset, second.last_offset) == (2, 2)
        assert log.log_end_offset == 3
        assert values_in(log.read(0)) == [(0, b"a"), (1, b"b"), (2, b"c")]


def test_leader_append_stamps_offsets_and_epoch_without_breaking_the_crc(tmp_path):
    with Log(tmp_path / "t-0", SMALL) as log:
        log.append(build_batch([b"x"]))
        log.append(build_batch([b"y"], base_offset=999), leader_epoch=7)
        batches = list(iter_batches(log.read(0), validate=True))
        assert [b.base_offset for b in batches] == [0, 1]
        assert [b.partition_leader_epoch for b in batches] == [-1, 7]
        assert log.leader_epochs.entries() == [(7, 1)]


def test_read_starts_at_the_batch_holding_the_offset(tmp_path):
    with Log(tmp_path / "t-0", SMALL) as log:
        expected = fill(log, 20)
        for offset in (0, 1, 5, 31, log.log_end_offset - 1):
            data = log.read(offset, 1)
            (batch,) = list(iter_batches(data))
            assert batch.base_offset <= offset <= batch.last_offset
        assert read_all(log) == expected
        assert read_all(log, max_bytes=1) == expected


def test_read_respects_byte_limit_but_returns_at_least_one_whole_batch(tmp_path):
    with Log(tmp_path / "t-0", LogConfig(segment_bytes=1 << 20)) as log:
        big = log.append(build_batch([b"x" * 5000]))
        log.append(build_batch([b"y"]))
        data = log.read(0, max_bytes=100)
        assert len(data) == RecordBatch(data).size and RecordBatch(data).base_offset == big.first_offset
        two = log.read(0, max_bytes=1 << 20)
        assert [b.base_offset for b in iter_batches(two)] == [0, 1]


def test_read_stops_below_max_offset(tmp_path):
    with Log(tmp_path / "t-0", SMALL) as log:
        fill(log, 5, per_batch=2)
        data = log.read(0, 1 << 20, max_offset=4)
        assert [b.base_offset for b in iter_batches(data)] == [0, 2]
        assert log.read(4, 1 << 20, max_offset=4) == b""


def test_read_outside_the_log_raises_offset_out_of_range(tmp_path):
    with Log(tmp_path / "t-0", SMALL) as log:
        fill(log, 2)
        assert log.read(log.log_end_offset) == b""
        with pytest.raises(OffsetOutOfRangeError) as err:
            log.read(log.log_end_offset + 1)
        assert err.value.log_end == log.log_end_offset


def test_segments_roll_on_segment_bytes_and_are_named_by_base_offset(tmp_path):
    with Log(tmp_path / "t-0", SMALL) as log:
        expected = fill(log, 30)
        assert len(log.segments) > 3
        assert all(s.size <= SMALL.segment_bytes for s in log.segments)
        names = sorted(f for f in os.listdir(log.directory) if f.endswith(".log"))
        assert names == [segment_name(s.base_offset, ".log") for s in log.segments]
        assert all(len(n) == len("00000000000000000000.log") for n in names)
        assert read_all(log) == expected


def test_segment_rolls_when_segment_ms_has_passed_by_record_time(tmp_path):
    with Log(tmp_path / "t-0", LogConfig(segment_ms=1000)) as log:
        log.append(build_batch([b"a"]))
        t0 = RecordBatch(log.read(0)).max_timestamp
        from storage.batch import Record

        log.append(build_batch([Record(None, b"b", [], t0 + 500)]))
        assert len(log.segments) == 1
        log.append(build_batch([Record(None, b"c", [], t0 + 1500)]))
        assert len(log.segments) == 2 and log.active.base_offset == 2


def test_bad_batches_are_refused_and_change_nothing(tmp_path):
    with Log(tmp_path / "t-0", LogConfig(max_message_bytes=2000)) as log:
        fill(log, 2)
        end, size = log.log_end_offset, log.size_bytes
        good = build_batch([b"ok"])
        corrupt = bytearray(good)
        corrupt[-1] ^= 0xFF
        with pytest.raises(CorruptRecordError):
            log.append(bytes(corrupt))
        with pytest.raises(CorruptRecordError):  # a good batch followed by a bad one: all or nothing
            log.append(good + bytes(corrupt))
        with pytest.raises(CorruptRecordError):
            log.append(good[:-5])
        with pytest.raises(RecordTooLargeError):
            log.append(build_batch([os.urandom(3000)]))
        with pytest.raises(InvalidRecordError):
            log.append(b"")
        assert (log.log_end_offset, log.size_bytes) == (end, size)


def test_follower_append_keeps_offsets_and_refuses_going_backwards(tmp_path):
    with Log(tmp_path / "leader", SMALL) as leader, Log(tmp_path / "follower", SMALL) as follower:
        fill(leader, 6, epoch=3)
        offset = 0
        while offset < leader.log_end_offset:
            data = leader.read(offset, 300)
            follower.append_as_follower(data)
            offset = follower.log_end_offset
        assert read_all(follower) == read_all(leader)
        assert follower.leader_epochs.entries() == leader.leader_epochs.entries()
        with pytest.raises(InvalidRecordError):
            follower.append_as_follower(leader.read(0))


def test_truncate_to_drops_the_straddling_batch_and_later_segments(tmp_path):
    with Log(tmp_path / "t-0", SMALL) as log:
        expected = fill(log, 30, per_batch=3, epoch=1)
        log.append(build_batch([b"e2"]), leader_epoch=2)
        segments_before = len(log.segments)
        new_end = log.truncate_to(10)  # batch 9..11 straddles 10
        assert new_end == 9
        assert read_all(log) == expected[:9]
        assert len(log.segments) < segments_before
        assert log.leader_epochs.entries() == [(1, 0)]
        more = log.append(build_batch([b"after"]))
        assert more.first_offset == 9


def test_truncate_below_log_start_restarts_empty_at_that_offset(tmp_path):
    with Log(tmp_path / "t-0", SMALL) as log:
        fill(log, 5)
        log.truncate_fully_and_start_at(100)
        assert (log.log_start_offset, log.log_end_offset) == (100, 100)
        assert log.append(build_batch([b"z"])).first_offset == 100


def test_delete_segments_below_advances_log_start_and_reads_below_fail(tmp_path):
    with Log(tmp_path / "t-0", SMALL) as log:
        expected = fill(log, 30)
        bases = [s.base_offset for s in log.segments]
        deleted = log.delete_segments_below(bases[2] + 1)
        assert deleted == bases[:2]
        assert log.log_start_offset == bases[2]
        assert read_all(log) == [e for e in expected if e[0] >= bases[2]]
        with pytest.raises(OffsetOutOfRangeError):
            log.read(bases[2] - 1)
        log.delete_segments_below(10**9)
        assert len(log.segments) == 1  # never the active segment


def test_retention_by_time_deletes_expired_segments_and_finally_the_active_one(tmp_path):
    from storage.batch import Record

    cfg = LogConfig(segment_bytes=400, retention_ms=10_000)
    with Log(tmp_path / "t-0", cfg) as log:
        for ts in (1_000, 2_000, 3_000, 50_000):
            for _ in range(4):
                log.append(build_batch([Record(None, b"v" * 40, [], ts)]))
        old = [s.base_offset for s in log.segments if s.max_timestamp < 40_000]
        assert old
        deleted = log.apply_retention(now_ms=55_000)
        assert deleted == old
        assert all(s.max_timestamp >= 50_000 for s in log.segments)
        end = log.log_end_offset
        log.apply_retention(now_ms=10**9)
        assert (log.log_start_offset, log.log_end_offset, log.size_bytes) == (end, end, 0)


def test_retention_by_size_keeps_at_least_retention_bytes(tmp_path):
    cfg = LogConfig(segment_bytes=500, retention_bytes=1500, retention_ms=-1)
    with Log(tmp_path / "t-0", cfg) as log:
        fill(log, 60)
        log.apply_retention()
        assert log.size_bytes >= 1500
        assert log.size_bytes - log.segments[0].size < 1500


def test_high_watermark_is_clamped_and_checkpointed(tmp_path):
    d = tmp_path / "t-0"
    with Log(d, SMALL) as log:
        fill(log, 3)
        assert log.update_high_watermark(10**6) == log.log_end_offset
        log.update_high_watermark(4)
        log.checkpoint_high_watermark()
    with Log(d, SMALL) as log:
        assert log.high_watermark == 4


def test_clean_reopen_skips_the_scan_and_keeps_everything(tmp_path, monkeypatch):
    d = tmp_path / "t-0"
    with Log(d, SMALL) as log:
        expected = fill(log, 30)
    import storage.log as log_module

    calls = []
    monkeypatch.setattr(log_module, "recover_segment", lambda seg: calls.append(seg) or 0)
    with Log(d, SMALL) as log:
        assert log.was_clean and calls == []
        assert read_all(log) == expected
        assert not os.path.exists(os.path.join(d, ".clean_shutdown"))  # a crash from now on is unclean


def test_unclean_reopen_recovers_only_segments_past_the_recovery_point(tmp_path, monkeypatch):
    d = tmp_path / "t-0"
    log = Log(d, SMALL)
    expected = fill(log, 30)
    active = log.active.base_offset
    log.abandon()
    import storage.log as log_module

    real = log_module.recover_segment
    seen = []
    monkeypatch.setattr(log_module, "recover_segment", lambda seg: seen.append(seg.base_offset) or real(seg))
    with Log(d, SMALL) as log:
        assert not log.was_clean
        assert seen == [active]
        assert read_all(log) == expected


def _active_log_file(log: Log) -> str:
    return log.active.log_path


def test_cut_tail_in_active_segment_is_truncated_and_earlier_batches_served(tmp_path):
    d = tmp_path / "t-0"
    log = Log(d, LogConfig(segment_bytes=1 << 20, index_interval_bytes=64))
    expected = fill(log, 10)
    last = RecordBatch(log.read(expected[-1][0]))
    path = _active_log_file(log)
    log.abandon()
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 7)
    with Log(d, LogConfig(segment_bytes=1 << 20, index_interval_bytes=64)) as log:
        assert log.recovered_bytes == last.size - 7
        assert log.log_end_offset == last.base_offset
        assert read_all(log) == [e for e in expected if e[0] < last.base_offset]
        assert log.append(build_batch([b"next"])).first_offset == last.base_offset


@pytest.mark.parametrize("where", ["crc", "records", "length", "magic"])
def test_flipped_bytes_in_active_segment_truncate_there(tmp_path, where):
    d = tmp_path / "t-0"
    cfg = LogConfig(segment_bytes=1 << 20, index_interval_bytes=64)
    log = Log(d, cfg)
    expected = fill(log, 10)
    victim_offset = expected[len(expected) // 2][0]
    position = log.active.position_of(victim_offset)
    victim = RecordBatch(log.read(victim_offset))
    path = _active_log_file(log)
    log.abandon()
    at = {"crc": 18, "records": HEADER_SIZE + 2, "length": 9, "magic": 16}[where]
    with open(path, "r+b") as f:
        f.seek(position + at)
        byte = f.read(1)
        f.seek(position + at)
        f.write(bytes([byte[0] ^ 0x5A]))
    with Log(d, cfg) as log:
        assert log.log_end_offset == victim.base_offset
        assert read_all(log) == [e for e in expected if e[0] < victim.base_offset]
        assert os.path.getsize(path) == position


def test_corrupt_middle_segment_cuts_there_and_drops_later_segments(tmp_path):
    d = tmp_path / "t-0"
    log = Log(d, SMALL)
    expected = fill(log, 40)
    second = log.segments[1]
    later = [s.log_path for s in log.segments[2:]]
    log.abandon()
    os.unlink(os.path.join(d, "recovery-point-offset-checkpoint"))  # force a full scan
    with open(second.log_path, "r+b") as f:
        f.seek(30)
        f.write(b"\xff\xff\xff\xff")
    with Log(d, SMALL) as log:
        assert log.log_end_offset == second.base_offset
        assert read_all(log) == [e for e in expected if e[0] < second.base_offset]
        assert not any(os.path.exists(p) for p in later)


@pytest.mark.parametrize("damage", ["garbage", "odd_size", "past_end", "missing"])
def test_corrupt_index_is_rebuilt_on_open(tmp_path, damage):
    d = tmp_path / "t-0"
    cfg = LogConfig(segment_bytes=1 << 20, index_interval_bytes=64)
    with Log(d, cfg) as log:
        expected = fill(log, 20)
        index_path = log.active.offset_index.path
    good_index = open(index_path, "rb").read()
    assert len(good_index) >= 8 * 5
    if damage == "garbage":
        data = bytearray(good_index)
        data[8:16] = b"\x00\x00\x00\x01\x00\x00\x00\x01"  # goes backwards
        open(index_path, "wb").write(bytes(data))
    elif damage == "odd_size":
        open(index_path, "ab").write(b"\x01\x02\x03")
    elif damage == "past_end":
        open(index_path, "ab").write(b"\x00\x0f\x00\x00\x7f\x00\x00\x00")
    else:
        os.unlink(index_path)
    with Log(d, cfg) as log:
        assert log.was_clean
        assert read_all(log, max_bytes=1) == expected
        for offset, _ in expected:
            (batch,) = iter_batches(log.read(offset, 1))
            assert batch.base_offset <= offset <= batch.last_offset
    assert open(index_path, "rb").read() == good_index


def test_offset_for_timestamp_finds_first_batch_at_or_after(tmp_path):
    from storage.batch import Record

    with Log(tmp_path / "t-0", SMALL) as log:
        offsets = {}
        for ts in range(1000, 31000, 1000):
            offsets[ts] = log.append(build_batch([Record(None, b"v" * 20, [], ts)])).first_offset
        assert log.offset_for_timestamp(0) == 0
        assert log.offset_for_timestamp(5000) == offsets[5000]
        assert log.offset_for_timestamp(5500) == offsets[6000]
        assert log.offset_for_timestamp(10**9) is None


def test_flush_messages_fsyncs_every_n_records(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real(fd))
    with Log(tmp_path / "t-0", LogConfig(flush_messages=4)) as log:
        synced.clear()
        log.append(build_batch([b"a"] * 3))
        assert synced == []
        log.append(build_batch([b"a"]))
        assert synced


def test_default_policy_never_fsyncs_on_append(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd))
    with Log(tmp_path / "t-0", LogConfig(segment_bytes=1 << 20)) as log:
        fill(log, 1, epoch=0)  # a new leader epoch is checkpointed (fsynced) once
        synced.clear()
        fill(log, 50, epoch=0)
        assert synced == []
        log.close()
        assert synced  # a clean shutdown does fsync


def test_truncating_inside_an_indexed_batch_drops_its_index_entry(tmp_path):
    cfg = LogConfig(segment_bytes=1 << 20, index_interval_bytes=0)  # an index entry per batch
    with Log(tmp_path / "t-0", cfg) as log:
        log.append(build_batch([b"a", b"b"]) + build_batch([b"c", b"d"]))
        assert log.truncate_to(3) == 2
        assert read_all(log) == [(0, b"a"), (1, b"b")]
        assert log.append(build_batch([b"e"])).first_offset == 2
    with Log(tmp_path / "t-0", cfg) as log:
        assert read_all(log) == [(0, b"a"), (1, b"b"), (2, b"e")]


def test_truncation_forgets_the_max_timestamp_of_the_batches_it_removes(tmp_path):
    from storage.batch import Record

    with Log(tmp_path / "t-0", LogConfig(index_interval_bytes=100)) as log:
        log.append(build_batch([Record(None, b"a", [], 1000)]))
        log.append(build_batch([Record(None, b"b", [], 5000)]))
        log.roll()  # seals the segment: its max timestamp is indexed
        log.truncate_to(1)
        assert log.segment_facts()[0].largest_timestamp_ms == 1000
        assert log.offset_for_timestamp(2000) is None
    with Log(tmp_path / "t-0", LogConfig(index_interval_bytes=100)) as log:
        assert log.segment_facts()[0].largest_timestamp_ms == 1000


def test_list_offset_answers_earliest_latest_as_the_high_watermark_and_timestamps(tmp_path):
    from storage.batch import Record
    from storage.log import EARLIEST_TIMESTAMP, LATEST_TIMESTAMP

    with Log(tmp_path / "t-0", SMALL) as log:
        for ts in range(1000, 31000, 1000):
            log.append(build_batch([Record(None, b"v" * 20, [], ts)]))
        log.update_high_watermark(12)  # a follower has not caught up: the log end is further on
        log.delete_segments_below(log.segments[1].base_offset)
        start = log.log_start_offset
        assert 0 < start < 12 < log.log_end_offset == 30
        assert log.list_offset(EARLIEST_TIMESTAMP) == start
        assert log.list_offset(LATEST_TIMESTAMP) == 12  # the high watermark, never the log end
        assert log.list_offset(20_000) == 19  # the batch stamped 20 000 holds offset 19
        assert log.list_offset(10**12) == 12  # nothing that late: the high watermark
