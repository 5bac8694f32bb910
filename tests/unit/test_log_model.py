"""Model-based test of ``storage.Log``: any sequence of appends, rolls, truncations,
retention deletions and reopenings behaves like a plain list model.

The model is deliberately simple and independent of the code under test:

* segments: a list of ``_Seg`` (base offset, list of batches); batches are atomic,
  so a batch is ``_Batch(base, values, epoch, max_timestamp, size)``;
* a segment rolls when the active one is non-empty and the next batch would take
  it past ``segment.bytes`` or is more than ``segment.ms`` (record time) after the
  segment's first batch (Kafka's rules), or on an explicit ``roll()``;
* the log start is the first segment's base, the log end the last batch's next
  offset (or the active segment's base when it is empty);
* retention and ``delete_segments_below`` only ever remove a prefix of *closed*
  segments; ``truncate_to`` drops every batch holding an offset >= k (a straddling
  batch goes whole), and ``truncate_to(k)`` with ``k <= log start`` restarts the
  log empty at ``k``;
* the leader-epoch cache and the high watermark follow the rules their docstrings
  state (Kafka's ``LeaderEpochFileCache`` / ``Log.updateHighWatermark``).

After every step the whole log is read back through ``Log.read`` (in one large
read, in small reads, and up to the high watermark) and compared record by record
with the model; every offset must read from the batch holding it,
``offset_for_timestamp`` must find the first batch at or after each timestamp, and
segment boundaries, sizes and max timestamps (what retention decides on), the high
watermark and the epoch cache must match. Reopening covers a clean close (which
must need no repair), ``abandon()`` and a simulated kill (file descriptors dropped
without flushing the indexes, a torn batch left at the end of the active segment).

Each run uses a fresh directory, on tmpfs when there is one (the log fsyncs often).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from storage import Log, LogConfig, OffsetOutOfRangeError, Record, build_batch, iter_batches

T0 = 1_700_000_000_000  # record timestamps are T0 + [0, TS_SPREAD]
TS_SPREAD = 10_000
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
WEEK_MS = 7 * 24 * 3_600_000


@dataclass
class _Batch:
    base: int
    values: list
    epoch: int
    max_timestamp: int
    size: int

    @property
    def next(self) -> int:
        return self.base + len(self.values)


@dataclass
class _Seg:
    base: int
    batches: list = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(b.size for b in self.batches)

    @property
    def next(self) -> int:
        return self.batches[-1].next if self.batches else self.base

    @property
    def max_timestamp(self) -> int:
        return max((b.max_timestamp for b in self.batches), default=-1)


class _Collect(logging.Handler):
    def __init__(self, into: list):
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record)


values_st = st.one_of(st.none(), st.binary(max_size=24))
# one batch: its record values and timestamps, and a codec
batch_st = st.tuples(
    st.lists(st.tuples(values_st, st.integers(0, TS_SPREAD)), min_size=1, max_size=5),
    st.sampled_from(CODECS),
)


def _build(records, codec, **kwargs) -> bytes:
    """One batch of ``(value, timestamp - T0)`` records."""
    return build_batch([Record(None, value, [], T0 + ts) for value, ts in records], compression_type=codec, **kwargs)


class LogMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        # tmpfs when there is one: the log fsyncs on every roll and checkpoint
        shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
        self.dir = tempfile.mkdtemp(prefix="zafka-log-model-", dir=shm)
        self.log: Log | None = None
        self.warnings: list[logging.LogRecord] = []
        self._handler = _Collect(self.warnings)
        logging.getLogger("storage").addHandler(self._handler)

    # -- model helpers ---------------------------------------------------------
    @property
    def m_start(self) -> int:
        return self.segs[0].base

    @property
    def m_end(self) -> int:
        return self.segs[-1].next

    def m_batches(self) -> list[_Batch]:
        return [b for s in self.segs for b in s.batches]

    def m_clamp_hw(self) -> None:
        self.hw = min(max(self.hw, self.m_start), self.m_end)

    # model of the leader-epoch cache (epoch -> start offset)
    def m_epoch_assign(self, epoch: int, offset: int) -> None:
        # Kafka's LeaderEpochFileCache.assign (leader and follower appends alike): a
        # newer epoch replaces any entry starting at the same offset (an epoch that
        # covers no offsets is not kept), so start offsets stay strictly increasing
        if epoch < 0:
            return
        if self.epochs and (epoch <= self.epochs[-1][0] or offset < self.epochs[-1][1]):
            return
        self.epochs = [(e, o) for e, o in self.epochs if o < offset]
        self.epochs.append((epoch, offset))

    def m_epoch_truncate_from_end(self, end: int) -> None:
        self.epochs = [(e, o) for e, o in self.epochs if o < end]

    def m_epoch_truncate_from_start(self, start: int) -> None:
        covering = [i for i, (_, o) in enumerate(self.epochs) if o <= start]
        if not covering:
            return
        i = covering[-1]
        self.epochs = [(self.epochs[i][0], start)] + self.epochs[i + 1 :]

    def m_delete_oldest(self, count: int) -> list[int]:
        deleted = [s.base for s in self.segs[:count]]
        del self.segs[:count]
        if deleted:
            self.m_epoch_truncate_from_start(self.m_start)
            self.hw = max(self.hw, self.m_start)
        return deleted

    def m_roll(self) -> None:
        if self.segs[-1].size:
            self.segs.append(_Seg(self.m_end))

    def m_add_batch(self, batch: _Batch) -> None:
        """Append at the end, rolling first when the active segment is non-empty and the
        batch would take it past segment.bytes, or its timestamp is more than
        segment.ms after the segment's first batch (record time, as Kafka does)."""
        active = self.segs[-1]
        if active.batches and (
            active.size + batch.size > self.config.segment_bytes
            or batch.max_timestamp - active.batches[0].max_timestamp > self.config.segment_ms
        ):
            self.m_roll()
        self.segs[-1].batches.append(batch)

    # -- setup / teardown ------------------------------------------------------
    @initialize(
        segment_bytes=st.integers(400, 700),
        # mostly no time-based rolls, so segments hold several batches
        segment_ms=st.sampled_from([WEEK_MS, WEEK_MS, WEEK_MS, 2_000, 6_000]),
        retention_bytes=st.one_of(st.just(-1), st.integers(500, 2500)),
        retention_ms=st.one_of(st.just(-1), st.integers(100, 5_000)),
        index_interval_bytes=st.sampled_from([0, 1, 100, 4096]),
        small_read=st.integers(1, 400),
    )
    def open_log(self, segment_bytes, segment_ms, retention_bytes, retention_ms, index_interval_bytes, small_read):
        self.config = LogConfig(
            segment_bytes=segment_bytes,
            segment_ms=segment_ms,
            retention_bytes=retention_bytes,
            retention_ms=retention_ms,
            index_interval_bytes=index_interval_bytes,
        )
        self.small_read = small_read
        self.log = Log(self.dir, self.config)
        self.segs = [_Seg(0)]
        self.epoch = 0
        self.epochs: list[tuple[int, int]] = []
        self.hw = 0
        self.hw_checkpoint: int | None = None  # what high-watermark-checkpoint holds

    def teardown(self):
        logging.getLogger("storage").removeHandler(self._handler)
        if self.log is not None:
            try:
                self.log.close()
            except Exception:
                self.log.abandon()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- appends ---------------------------------------------------------------
    def _append(self, batches) -> None:
        payload, expected = b"", []
        for records, codec in batches:
            data = _build(records, codec)
            payload += data
            expected.append(([v for v, _ in records], max(T0 + ts for _, ts in records), len(data)))
        first = self.m_end
        info = self.log.append(payload, leader_epoch=self.epoch)
        # model: assign the epoch at the log end, then each batch (rolling first if it would not fit)
        self.m_epoch_assign(self.epoch, first)
        for values, max_ts, size in expected:
            self.m_add_batch(_Batch(self.m_end, values, self.epoch, max_ts, size))
        count = sum(len(v) for v, _, _ in expected)
        assert (info.first_offset, info.last_offset) == (first, first + count - 1), info
        assert info.record_count == count, info
        assert info.size == len(payload), info
        assert info.max_timestamp == max(ts for _, ts, _ in expected), info

    @rule(batches=st.lists(batch_st, min_size=1, max_size=3))
    def append(self, batches):
        self._append(batches)

    @rule(batch=batch_st, bump=st.integers(1, 3))
    def append_with_new_epoch(self, batch, bump):
        self.epoch += bump
        self._append([batch])

    @rule(batches=st.lists(batch_st, min_size=1, max_size=3), bump=st.integers(0, 2))
    def append_as_follower(self, batches, bump):
        """Replicated batches: offsets and epoch already stamped by the leader."""
        self.epoch += bump
        payload, first = b"", self.m_end
        base = first
        for records, codec in batches:
            data = _build(records, codec, base_offset=base, partition_leader_epoch=self.epoch)
            payload += data
            values, max_ts = [v for v, _ in records], max(T0 + ts for _, ts in records)
            self.m_epoch_assign(self.epoch, base)
            self.m_add_batch(_Batch(base, values, self.epoch, max_ts, len(data)))
            base += len(values)
        info = self.log.append_as_follower(payload)
        assert (info.first_offset, info.last_offset) == (first, self.m_end - 1), info
        assert info.size == len(payload), info

    # -- rolls, flushes, high watermark ------------------------------------------
    @rule()
    def roll(self):
        self.log.roll()
        self.m_roll()

    @rule()
    def flush(self):
        self.log.flush()

    @rule(data=st.data())
    def update_high_watermark(self, data):
        target = data.draw(st.integers(max(0, self.m_start - 2), self.m_end + 2), label="hw")
        got = self.log.update_high_watermark(target)
        self.hw = target
        self.m_clamp_hw()
        assert got == self.hw

    @rule()
    def checkpoint_high_watermark(self):
        self.log.checkpoint_high_watermark()
        self.hw_checkpoint = self.hw

    # -- truncation ------------------------------------------------------------
    @rule(data=st.data())
    def truncate_to(self, data):
        # any offset, or one at a batch's start or just inside it (a straddling cut)
        inside = sorted({b.base + d for b in self.m_batches() for d in (0, 1)})
        anywhere = st.integers(max(0, self.m_start - 2), self.m_end + 1)
        k = data.draw(st.one_of(anywhere, st.sampled_from(inside)) if inside else anywhere, label="k")
        got = self.log.truncate_to(k)
        if k >= self.m_end:
            pass  # nothing to drop
        elif k <= self.m_start:  # truncate_fully_and_start_at(k)
            self.segs = [_Seg(k)]
            self.epochs = []
            self.hw = k
        else:
            # segments starting at or above k go; the one holding k loses its tail,
            # including a batch that straddles k (start < k, so one segment remains)
            self.segs = [s for s in self.segs if s.base < k]
            for seg in self.segs:
                seg.batches = [b for b in seg.batches if b.next - 1 < k]
            self.m_epoch_truncate_from_end(self.m_end)
            self.m_clamp_hw()
        assert got == self.m_end, (k, got, self.m_end)

    # -- deletion --------------------------------------------------------------
    @rule(data=st.data())
    def delete_segments_below(self, data):
        k = data.draw(st.integers(0, self.m_end + 2), label="k")
        count = 0
        while count + 1 < len(self.segs) and self.segs[count + 1].base <= k:
            count += 1
        expected = self.m_delete_oldest(count)
        assert self.log.delete_segments_below(k) == expected

    @rule(data=st.data())
    def apply_retention(self, data):
        rb, rms = self.config.retention_bytes, self.config.retention_ms
        # a random time, or exactly when some segment expires (so off-by-one and stale
        # max timestamps show)
        edges = [s.max_timestamp + rms + d for s in self.segs if s.batches for d in (0, 1)] if rms >= 0 else []
        anytime = st.integers(T0, T0 + 2 * TS_SPREAD)
        now_ms = data.draw(st.one_of(anytime, st.sampled_from(edges)) if edges else anytime, label="now_ms")
        closed = self.segs[:-1]
        by_size = 0
        if rb >= 0:
            excess = sum(s.size for s in self.segs) - rb
            for seg in closed:
                if excess - seg.size < 0:
                    break
                excess -= seg.size
                by_size += 1
        by_time = 0
        if rms >= 0:
            for seg in closed:
                if now_ms - seg.max_timestamp <= rms:
                    break
                by_time += 1
        count = max(by_size, by_time)
        active = self.segs[-1]
        if count == len(closed) and active.size and rms >= 0 and now_ms - active.max_timestamp > rms:
            self.m_roll()  # all expired: roll so the old active segment can go too
            count += 1
        expected = self.m_delete_oldest(count)
        assert self.log.apply_retention(now_ms=now_ms) == expected

    # -- reopening -------------------------------------------------------------
    def _reopen(self) -> None:
        self.log = Log(self.dir, self.config)
        assert self.log.recovered_bytes == 0
        self.m_epoch_truncate_from_end(self.m_end)
        self.hw = self.hw_checkpoint or 0
        self.m_clamp_hw()

    @rule()
    def reopen_clean(self):
        self.log.close()
        self.hw_checkpoint = self.hw
        self.warnings.clear()
        self._reopen()
        assert self.log.was_clean
        # after a clean shutdown nothing should need repairing
        assert not self.warnings, [r.getMessage() for r in self.warnings]

    @rule()
    def reopen_unclean(self):
        self.log.abandon()
        self._reopen()
        assert not self.log.was_clean

    @rule(batch=batch_st, keep=st.floats(0, 1, exclude_max=True))
    def reopen_after_crash(self, batch, keep):
        """A killed process: in-memory index entries are lost and the active segment
        ends in a torn batch (a prefix of the next one); recovery must cut exactly it."""
        records, codec = batch
        data = _build(records, codec, base_offset=self.m_end, partition_leader_epoch=self.epoch)
        torn = data[: int(len(data) * keep)]
        active = self.log.active.log_path
        for seg in self.log.segments:  # drop the fds without flushing the indexes
            os.close(seg._fd)
            seg._fd = -1
        self.log._closed = True
        self.log._lock.release()
        with open(active, "ab") as f:
            f.write(torn)
        self.log = Log(self.dir, self.config)
        assert not self.log.was_clean
        assert self.log.recovered_bytes == len(torn)
        self.m_epoch_truncate_from_end(self.m_end)
        self.hw = self.hw_checkpoint or 0
        self.m_clamp_hw()

    # -- reads -----------------------------------------------------------------
    def _read_all(self, max_bytes: int, max_offset: int | None = None) -> list:
        """Read from the log start to the end (or max_offset) in reads of max_bytes."""
        out, pos = [], self.log.log_start_offset
        stop = self.log.log_end_offset if max_offset is None else min(max_offset, self.log.log_end_offset)
        while pos < stop:
            data = self.log.read(pos, max_bytes=max_bytes, max_offset=max_offset)
            assert data, f"empty read at offset {pos} below {stop}"
            batches = list(iter_batches(data, validate=True))
            assert batches and sum(b.size for b in batches) == len(data), "read returned a partial batch"
            assert batches[0].base_offset <= pos <= batches[0].last_offset
            for b in batches:
                records = list(b.records())
                assert [r.offset for r in records] == list(range(b.base_offset, b.next_offset))
                out.append(
                    (b.base_offset, [r.value for r in records], b.partition_leader_epoch, b.max_timestamp, b.size)
                )
            pos = batches[-1].next_offset
        return out

    def _expected(self, max_offset: int | None = None) -> list:
        return [
            (b.base, b.values, b.epoch, b.max_timestamp, b.size)
            for b in self.m_batches()
            if max_offset is None or b.base < max_offset
        ]

    # -- invariants ------------------------------------------------------------
    @invariant()
    def offsets_match(self):
        if self.log is None:
            return
        assert (self.log.log_start_offset, self.log.log_end_offset) == (self.m_start, self.m_end)

    @invariant()
    def segments_match(self):
        if self.log is None:
            return
        got = [(s.base_offset, s.size) for s in self.log.segments]
        assert got == [(s.base, s.size) for s in self.segs]
        # what time retention decides on: the largest record timestamp of each segment
        facts = self.log.segment_facts()
        got = [f.largest_timestamp_ms for f, s in zip(facts, self.segs) if s.batches]
        assert got == [s.max_timestamp for s in self.segs if s.batches]

    @invariant()
    def contents_match(self):
        if self.log is None:
            return
        # the model itself: batches are contiguous from the log start to the log end
        offset = self.m_start
        for b in self.m_batches():
            assert b.base == offset
            offset = b.next
        assert offset == self.m_end
        expected = self._expected()
        assert self._read_all(1 << 20) == expected
        assert self._read_all(self.small_read) == expected
        assert self.log.read(self.m_end) == b""
        if self.hw < self.m_end:  # what a consumer sees: batches starting below the high watermark
            assert self._read_all(self.small_read, max_offset=self.hw) == self._expected(self.hw)

    @invariant()
    def every_offset_reads_from_its_batch(self):
        if self.log is None:
            return
        holding = {o: b.base for b in self.m_batches() for o in range(b.base, b.next)}
        for k in range(max(0, self.m_start - 1), self.m_end + 2):
            if k < self.m_start or k > self.m_end:
                with pytest.raises(OffsetOutOfRangeError):
                    self.log.read(k, max_bytes=1)
                continue
            got = list(iter_batches(self.log.read(k, max_bytes=1)))
            assert [b.base_offset for b in got] == ([holding[k]] if k < self.m_end else []), k

    @invariant()
    def offset_for_timestamp_matches(self):
        # ListOffsets: the base offset of the first batch whose max timestamp is >= ts
        if self.log is None:
            return
        batches = self.m_batches()
        for ts in sorted({T0 - 1} | {b.max_timestamp + d for b in batches for d in (0, 1)}):
            expected = next((b.base for b in batches if b.max_timestamp >= ts), None)
            assert self.log.offset_for_timestamp(ts) == expected, ts

    @invariant()
    def high_watermark_matches(self):
        if self.log is None:
            return
        assert self.m_start <= self.log.high_watermark <= self.m_end
        assert self.log.high_watermark == self.hw

    @invariant()
    def leader_epochs_match(self):
        if self.log is None:
            return
        entries = self.log.leader_epochs.entries()
        for (e1, o1), (e2, o2) in zip(entries, entries[1:]):
            assert e1 < e2 and o1 < o2, entries
        assert all(self.m_start <= o <= self.m_end for _, o in entries), (entries, self.m_start, self.m_end)
        assert entries == self.epochs


LogMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=30,
    deadline=None,
    # shrink only the smallest failure: shrinking several at once can take minutes
    report_multiple_bugs=False,
    # no explain phase: it re-runs the failing case many times over for its comments
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestLogModel = LogMachine.TestCase
