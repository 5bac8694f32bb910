"""The partition log: ordered segments, offsets, truncation, retention and recovery.

A ``Log`` owns one partition directory ``<log.dir>/<topic>-<partition>/``::

    00000000000000000000.log / .index / .timeindex    the segments
    leader-epoch-checkpoint                           epoch -> first offset
    high-watermark-checkpoint                         last checkpointed high watermark
    00000000000000000042.snapshot                     idempotent producers' state as of an offset
    recovery-point-offset-checkpoint                  everything below is fsynced
    .clean_shutdown                                   present only between close and open
    .lock                                             flock of the single writer

Durability follows Kafka: an append is in the page cache when it returns, which a
process crash does not lose; ``flush.messages``/``flush.ms`` add fsyncs for those
who also want to survive a power cut. A segment is fsynced when it is rolled, which
moves the recovery point to the new segment's base offset. Opening after an unclean
stop re-validates every segment from the recovery point on; a clean-shutdown marker
lets a clean open skip that scan.
"""

from __future__ import annotations

import bisect
import logging
import os
import time
from typing import NamedTuple

from . import checkpoint, retention
from .batch import STAMPED_PREFIX_SIZE, BatchHeader, check_keys, check_payload, log_append_time_chunks, stamped_prefix
from .checkpoint import CorruptCheckpointError, fsync_directory
from .config import LOG_APPEND_TIME, LogConfig
from .epochs import CHECKPOINT_FILE as EPOCH_FILE
from .epochs import LeaderEpochCache
from .errors import (
    CorruptRecordError,
    InvalidRecordError,
    OffsetOutOfRangeError,
    RecordTooLargeError,
    StorageError,
)
from .lock import DirectoryLock
from .producer_state import NO_PRODUCER_ID, BatchMetadata, ProducerBatch, ProducerStateManager
from .recovery import recover_segment
from .segment import (
    CLEANED_SUFFIX,
    DELETED_SUFFIX,
    SWAP_SUFFIX,
    LogSegment,
    parse_segment_file,
    parse_segment_name,
    plan_swap_recovery,
    segment_next_offset,
)

log = logging.getLogger(__name__)

CLEAN_SHUTDOWN_FILE = ".clean_shutdown"
RECOVERY_POINT_FILE = "recovery-point-offset-checkpoint"
HIGH_WATERMARK_FILE = "high-watermark-checkpoint"
_MAX_RELATIVE_OFFSET = 0xFFFFFFFF
# ListOffsets' special timestamps, as in Kafka's protocol
EARLIEST_TIMESTAMP = -2
LATEST_TIMESTAMP = -1


SNAPSHOTS_KEPT = 3  # producer-state snapshots kept: a truncation reloads from the newest below its point


class AppendInfo(NamedTuple):
    first_offset: int
    last_offset: int
    max_timestamp: int
    record_count: int
    size: int
    log_append_time: int = -1  # the broker's stamp under LogAppendTime, -1 under CreateTime
    # set only when the payload held a batch already stored (an idempotent producer's retry): each
    # batch's base offset in payload order, the stored ones where they were stored
    batch_offsets: tuple[int, ...] = ()
    duplicates: int = 0


class Log:
    """The single writer of one partition directory (see module docstring)."""

    def __init__(self, directory: str, config: LogConfig | None = None, *, clock=time.time,
                 producer_id_expiration_ms: int = 86_400_000):
        self.directory = os.path.abspath(directory)
        self.config = config or LogConfig()
        self._clock = clock
        self.producer_state = ProducerStateManager(self.directory, producer_id_expiration_ms)
        os.makedirs(self.directory, exist_ok=True)
        self._lock = DirectoryLock(self.directory).acquire()
        self.segments: list[LogSegment] = []
        self._bases: list[int] = []
        self._closed = False
        self.recovered_bytes = 0  # bytes cut by recovery at this open
        self.was_clean = False
        try:
            self._open()
        except BaseException:
            for seg in self.segments:
                seg.close()
            self._lock.release()
            raise
        self._unflushed_records = 0
        self._last_flush_ms = self._now_ms()

    # -- opening -------------------------------------------------------------
    def _path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _open(self) -> None:
        """Load the directory in named passes, as Kafka's ``LogLoader`` does."""
        marker = self._path(CLEAN_SHUTDOWN_FILE)
        self.was_clean = os.path.exists(marker)
        bases = self._remove_leftovers()
        self._load_segments(bases, self._read_recovery_point())
        self._load_epochs()
        self._epochs.truncate_from_end(self.log_end_offset)
        self._load_producer_state()
        self._high_watermark = self._clamp_high_watermark(self._read_high_watermark())
        if self.was_clean:
            os.unlink(marker)
        self._checkpoint_recovery_point()

    def _remove_leftovers(self) -> list[int]:
        """Delete what an interrupted write or deletion left behind; the segment base offsets found."""
        self._finish_interrupted_compaction()
        names = os.listdir(self.directory)
        bases = sorted(b for b in map(parse_segment_name, names) if b is not None)
        for name in names:
            stem, _, suffix = name.partition(".")
            if name.endswith(".tmp") or (
                suffix in ("index", "timeindex") and (not stem.isdigit() or int(stem) not in bases)
            ):
                os.unlink(self._path(name))
        return bases

    def _read_recovery_point(self) -> int:
        """Below this offset every segment was fsynced (0: recover everything)."""
        if self.was_clean:
            return 0  # nothing to recover at all; the segments' indexes are loaded as they are
        try:
            return checkpoint.read_offset(self._path(RECOVERY_POINT_FILE)) or 0
        except CorruptCheckpointError as exc:
            log.warning("%s; recovering every segment", exc)
            return 0

    def _load_segments(self, bases: list[int], recovery_point: int) -> None:
        """Open every segment; recover those past the recovery point, cut at the first bad batch."""
        now = self._now_ms()
        for base in bases or [0]:
            self._add_segment(LogSegment(self.directory, base, self.config.index_interval_bytes, created_ms=now))
        for i, seg in enumerate(self.segments):
            fully_flushed = i + 1 < len(self.segments) and self.segments[i + 1].base_offset <= recovery_point
            cut = 0
            if self.was_clean or fully_flushed:
                try:
                    seg.load_indexes()
                except CorruptRecordError as exc:
                    log.warning("%s: %s; recovering it", seg.log_path, exc)
                    cut = recover_segment(seg)
            else:
                cut = recover_segment(seg)
            self.recovered_bytes += cut
            if cut and i + 1 < len(self.segments):
                for later in self.segments[i + 1 :]:
                    log.warning("recovery: deleting %s, which follows the cut", later.log_path)
                    later.delete()
                del self.segments[i + 1 :], self._bases[i + 1 :]
                break

    def _read_high_watermark(self) -> int:
        try:
            return checkpoint.read_offset(self._path(HIGH_WATERMARK_FILE)) or 0
        except CorruptCheckpointError as exc:
            log.warning("%s; high watermark starts at the log start", exc)
            return 0

    def _clamp_high_watermark(self, offset: int) -> int:
        """The one rule for a high watermark: never below the log start nor past the log end."""
        return min(max(offset, self.log_start_offset), self.log_end_offset)

    def _checkpoint_recovery_point(self) -> None:
        """Every segment below the active one was fsynced when it rolled: recovery can skip them."""
        checkpoint.write_offset(self._path(RECOVERY_POINT_FILE), self.active.base_offset)

    def _load_epochs(self) -> None:
        path = self._path(EPOCH_FILE)
        try:
            self._epochs = LeaderEpochCache.load(path)
            return
        except CorruptCheckpointError as exc:
            log.warning("%s; rebuilding the leader-epoch cache from batch headers", exc)
        self._epochs = LeaderEpochCache(path)
        self._epochs.rebuild(
            (batch.partition_leader_epoch, batch.base_offset)
            for seg in self.segments
            for _, batch in seg.scan_headers(0)
        )

    def _load_producer_state(self) -> None:
        """The newest snapshot at or below the log end, then every batch header after it."""
        start = self.producer_state.load(self.log_start_offset, self.log_end_offset)
        i = max(bisect.bisect_right(self._bases, start) - 1, 0)
        update = self.producer_state.update
        for seg in self.segments[i:]:
            position = seg.position_of(start) if seg.base_offset < start else 0
            if position is None:
                continue
            for _, b in seg.scan_headers(position):
                if b.base_offset >= start and b.producer_id >= 0:
                    update(ProducerBatch(b.producer_id, b.producer_epoch, b.base_sequence, b.base_offset,
                                         b.last_offset, b.max_timestamp))

    def _snapshot_producers(self) -> None:
        self.producer_state.take_snapshot(self.log_end_offset)
        self.producer_state.delete_snapshots(below=self.log_start_offset, keep=SNAPSHOTS_KEPT)

    def expire_producers(self, now_ms: int | None = None) -> list[int]:
        """Forget producers silent for ``producer.id.expiration.ms``; their ids."""
        return self.producer_state.expire(self._now_ms() if now_ms is None else now_ms)

    def _add_segment(self, segment: LogSegment) -> None:
        self.segments.append(segment)
        self._bases.append(segment.base_offset)

    # -- facts ---------------------------------------------------------------
    @property
    def active(self) -> LogSegment:
        return self.segments[-1]

    @property
    def log_start_offset(self) -> int:
        return self.segments[0].base_offset

    @property
    def log_end_offset(self) -> int:
        return self.active.next_offset

    @property
    def high_watermark(self) -> int:
        return self._high_watermark

    @property
    def size_bytes(self) -> int:
        return sum(s.size for s in self.segments)

    @property
    def leader_epochs(self) -> LeaderEpochCache:
        return self._epochs

    @property
    def latest_epoch(self) -> int:
        return self._epochs.latest_epoch

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]:
        return self._epochs.end_offset_for(epoch, self.log_end_offset)

    def start_epoch(self, epoch: int) -> None:
        """A replica became leader under ``epoch``: that epoch starts at today's log end (Kafka does
        this at election, so OffsetsForLeaderEpoch answers right before the first append)."""
        self._ensure_open()
        self._epochs.assign(epoch, self.log_end_offset)

    # -- appending -----------------------------------------------------------
    def _check(self, data, *, compacted: bool = False) -> list[BatchHeader]:
        """Check every batch of a payload; nothing is written unless all pass.

        ``compacted``: the batches may be as compaction left them (``check_payload``).
        """
        cfg = self.config
        try:
            return check_payload(data, min(cfg.max_message_bytes, cfg.segment_bytes), compacted=compacted)
        except RecordTooLargeError as exc:
            raise RecordTooLargeError(
                f"{exc} (max.message.bytes={cfg.max_message_bytes}, segment.bytes={cfg.segment_bytes})"
            ) from None

    def append(self, data, *, leader_epoch: int = -1) -> AppendInfo:
        """Append as the leader: assign offsets from the log end and stamp ``leader_epoch``.

        ``data`` is one or more whole batches exactly as a producer sent them; their
        bytes are stored as they are apart from the two stamped fields. A compacted
        topic's log (``cleanup.policy`` includes compact) refuses a payload holding a
        record without a key, as Kafka does, and appends none of it.
        """
        if self._closed:
            self._ensure_open()
        headers = self._check(data)
        if self.config.compacted:
            check_keys(data, headers, os.path.basename(self.directory))
        twins = None
        for h in headers:
            if h.producer_id != NO_PRODUCER_ID:
                twins = self._check_producers(headers)
                break
        view = memoryview(data)
        first = base = self.segments[-1].next_offset
        if leader_epoch >= 0 and leader_epoch != self._epochs.latest_epoch:
            self._epochs.assign(leader_epoch, base)
        append_time = self._now_ms() if self.config.message_timestamp_type == LOG_APPEND_TIME else -1
        if twins is not None and any(twins):
            return self._append_with_duplicates(view, headers, twins, leader_epoch, append_time)
        max_ts, count, size = -1, 0, 0
        for h in headers:
            next_offset = base + h.last_offset_delta + 1
            batch_ts = self._write_as_leader(view, h, base, leader_epoch, append_time, twins is not None)
            if batch_ts > max_ts:
                max_ts = batch_ts
            count += h.record_count
            size += h.size
            base = next_offset
        self._after_append(count)
        return AppendInfo(first, base - 1, max_ts, count, size, append_time)

    def _write_as_leader(self, view, h: BatchHeader, base: int, leader_epoch: int, append_time: int,
                         idempotent: bool) -> int:
        """Write one producer batch at ``base`` (stamped, re-timed under LogAppendTime); its timestamp."""
        next_offset = base + h.last_offset_delta + 1
        if append_time >= 0:
            batch_ts = append_time
            chunks = log_append_time_chunks(view, h, base, leader_epoch, append_time)
        else:
            batch_ts = h.max_timestamp
            chunks = (stamped_prefix(base, h.batch_length, leader_epoch),
                      view[h.position + STAMPED_PREFIX_SIZE : h.position + h.size])
        self._write_batch(chunks, h.size, base, next_offset, batch_ts)
        if idempotent and h.producer_id >= 0:
            self.producer_state.update(ProducerBatch(h.producer_id, h.producer_epoch, h.base_sequence, base,
                                                     next_offset - 1, batch_ts))
        return batch_ts

    def _check_producers(self, headers: list[BatchHeader]) -> list[BatchMetadata | None]:
        """The idempotence rules (``storage.producer_state``): each batch's stored twin, or None."""
        return self.producer_state.check(
            ProducerBatch(h.producer_id, h.producer_epoch, h.base_sequence, 0, h.last_offset_delta, h.max_timestamp)
            for h in headers
        )

    def _append_with_duplicates(self, view, headers, twins, leader_epoch: int, append_time: int) -> AppendInfo:
        """A payload holding batches already stored: write the others; every batch's offset, in order."""
        offsets, count, size, max_ts = [], 0, 0, -1
        first, last = None, -1
        for h, twin in zip(headers, twins):
            if twin is not None:
                offsets.append(twin.first_offset)
                start, end, batch_ts = twin.first_offset, twin.last_offset, twin.timestamp
            else:
                base = self.segments[-1].next_offset
                end = base + h.last_offset_delta
                batch_ts = self._write_as_leader(view, h, base, leader_epoch, append_time, True)
                offsets.append(base)
                start = base
                count += h.record_count
                size += h.size
            first = start if first is None else first
            last = max(last, end)
            max_ts = max(max_ts, batch_ts)
        if count:
            self._after_append(count)
        elif append_time >= 0:
            append_time = max_ts  # only stored batches: the broker's stamp is the one they were stored with
        return AppendInfo(first, last, max_ts, count, size, append_time, tuple(offsets),
                          sum(1 for t in twins if t is not None))

    def append_as_follower(self, data) -> AppendInfo:
        """Append batches that already carry offsets and epochs (replication, restore).

        They may come from a compacted leader log, so batches with offset gaps and
        empty batches are accepted (``check_payload(compacted=True)``); CRC, magic,
        length, codec and size are checked as for a producer's, and offsets must not
        go backwards. Keys are not checked: the leader did.
        """
        self._ensure_open()
        headers = self._check(data, compacted=True)
        expected = self.log_end_offset
        for h in headers:
            if h.base_offset < expected:
                raise InvalidRecordError(
                    f"batch starts at offset {h.base_offset}, below the expected {expected}; "
                    "truncate the log first"
                )
            expected = h.base_offset + h.last_offset_delta + 1
        view = memoryview(data)
        max_ts, count, size = -1, 0, 0
        for h in headers:
            next_offset = h.base_offset + h.last_offset_delta + 1
            self._epochs.assign(h.partition_leader_epoch, h.base_offset)
            self._write_batch((view[h.position : h.position + h.size],), h.size, h.base_offset, next_offset,
                              h.max_timestamp)
            if h.producer_id >= 0:
                self.producer_state.update(ProducerBatch(h.producer_id, h.producer_epoch, h.base_sequence,
                                                         h.base_offset, next_offset - 1, h.max_timestamp))
            max_ts, count, size = max(max_ts, h.max_timestamp), count + h.record_count, size + h.size
        self._after_append(count)
        return AppendInfo(headers[0].base_offset, self.log_end_offset - 1, max_ts, count, size)

    def _write_batch(self, chunks, size: int, base_offset: int, next_offset: int, timestamp: int) -> None:
        """The one write path of leader and follower appends: roll when due, then write the batch."""
        self._maybe_roll(size, timestamp, next_offset)
        self.segments[-1].append(chunks, size, base_offset, next_offset, timestamp)

    def _maybe_roll(self, size: int, max_timestamp: int, next_offset: int) -> None:
        seg = self.segments[-1]
        if seg.size == 0:
            return
        cfg = self.config
        first_ts = seg.first_batch_timestamp
        # segment.ms counts in record time from the first batch, as Kafka does
        waited = max_timestamp - first_ts if first_ts is not None and first_ts >= 0 else self._now_ms() - seg.created_ms
        if (
            seg.size + size > cfg.segment_bytes
            or waited > cfg.segment_ms
            or next_offset - 1 - seg.base_offset > _MAX_RELATIVE_OFFSET
        ):
            self.roll()

    def _after_append(self, records: int) -> None:
        self._unflushed_records += records
        cfg = self.config
        if cfg.flush_messages is None and cfg.flush_ms is None:
            return  # the default: the page cache is enough
        if (cfg.flush_messages is not None and self._unflushed_records >= cfg.flush_messages) or (
            cfg.flush_ms is not None and self._now_ms() - self._last_flush_ms >= cfg.flush_ms
        ):
            self.flush()

    def roll(self) -> LogSegment:
        """Close the active segment (fsync it) and start a new one at the log end."""
        self._ensure_open()
        old = self.active
        if old.size == 0:
            return old
        old.seal()
        old.flush()
        seg = LogSegment(self.directory, self.log_end_offset, self.config.index_interval_bytes, created_ms=self._now_ms())
        self._add_segment(seg)
        self._checkpoint_recovery_point()
        self._snapshot_producers()  # a later open replays only the segments after it
        return seg

    def flush(self) -> None:
        """fsync everything appended so far and checkpoint the recovery point.

        The recovery point names the active segment's base offset, not the log end:
        recovery re-checks the active segment whole whatever the checkpoint says, so a
        finer point would save nothing and cost a segment lookup on open.
        """
        self._ensure_open()
        self.active.flush()  # closed segments were fsynced when they rolled
        self._checkpoint_recovery_point()
        self._unflushed_records = 0
        self._last_flush_ms = self._now_ms()

    def flush_due(self) -> float | None:
        """Seconds until ``flush.ms`` asks for a flush (None: nothing unflushed, or no flush.ms)."""
        if self.config.flush_ms is None or not self._unflushed_records:
            return None
        return max(0.0, (self._last_flush_ms + self.config.flush_ms - self._now_ms()) / 1000)

    def flush_if_due(self) -> bool:
        """For a timer: flush when ``flush.ms`` has passed since the last flush."""
        if self.config.flush_ms is not None and self._unflushed_records and (
            self._now_ms() - self._last_flush_ms >= self.config.flush_ms
        ):
            self.flush()
            return True
        return False

    # -- reading -------------------------------------------------------------
    def read(self, offset: int, max_bytes: int = 1 << 20, *, max_offset: int | None = None) -> bytes:
        """Whole batches from the one holding ``offset``, at most ``max_bytes`` (but at least one).

        ``max_offset`` (the high watermark for consumers) leaves out batches that start
        at or after it. Raises ``OffsetOutOfRangeError`` outside ``[log start, log end]``.
        """
        self._ensure_open()
        if offset < self.log_start_offset or offset > self.log_end_offset:
            raise OffsetOutOfRangeError(offset, self.log_start_offset, self.log_end_offset)
        if offset == self.log_end_offset or (max_offset is not None and offset >= max_offset):
            return b""
        i = bisect.bisect_right(self._bases, offset) - 1
        for seg in self.segments[i:]:
            data = seg.read(max(offset, seg.base_offset), max_bytes, max_offset)
            if data:
                return data
        return b""

    def list_offset(self, timestamp: int) -> int:
        """The offset a ListOffsets request for ``timestamp`` answers, by Kafka's rules.

        ``EARLIEST_TIMESTAMP`` is the log start; ``LATEST_TIMESTAMP`` is the high
        watermark, not the log end — consumers may read only what is committed, and
        with followers the two differ; any other value is the first offset of the
        first batch stamped at or after it, or the high watermark when none is.
        """
        if timestamp == EARLIEST_TIMESTAMP:
            return self.log_start_offset
        if timestamp == LATEST_TIMESTAMP:
            return self._high_watermark
        found = self.offset_for_timestamp(timestamp)
        return self._high_watermark if found is None else found

    def offset_for_timestamp(self, timestamp: int) -> int | None:
        """First offset of the first batch with a timestamp >= ``timestamp`` (ListOffsets)."""
        for seg in self.segments:
            found = seg.offset_for_timestamp(timestamp)
            if found is not None:
                return found
        return None

    # -- high watermark ------------------------------------------------------
    def update_high_watermark(self, offset: int) -> int:
        self._high_watermark = self._clamp_high_watermark(offset)
        return self._high_watermark

    def checkpoint_high_watermark(self) -> None:
        checkpoint.write_offset(self._path(HIGH_WATERMARK_FILE), self._high_watermark)

    # -- truncation and deletion ---------------------------------------------
    def truncate_to(self, offset: int) -> int:
        """Drop every batch that holds an offset at or above ``offset``; returns the new log end.

        A batch that straddles ``offset`` goes whole, so the log end may land below
        ``offset``, as in Kafka.
        """
        self._ensure_open()
        if offset >= self.log_end_offset:
            return self.log_end_offset
        if offset <= self.log_start_offset:
            self.truncate_fully_and_start_at(offset)
            return self.log_end_offset
        while len(self.segments) > 1 and self.active.base_offset >= offset:
            self.segments.pop().delete()
            self._bases.pop()
        self.active.truncate_to(offset)
        self._after_truncation()
        return self.log_end_offset

    def truncate_fully_and_start_at(self, offset: int) -> None:
        """Delete everything; the empty log starts at ``offset`` (a follower behind a log start)."""
        self._ensure_open()
        for seg in self.segments:
            seg.delete()
        self.segments, self._bases = [], []
        self._add_segment(LogSegment(self.directory, offset, self.config.index_interval_bytes, created_ms=self._now_ms()))
        self._epochs.clear()
        self._high_watermark = offset
        self.producer_state.delete_snapshots(below=offset + 1)  # none of the old history holds any more
        self._after_truncation()

    def _after_truncation(self) -> None:
        self._epochs.truncate_from_end(self.log_end_offset)
        self._high_watermark = self._clamp_high_watermark(self._high_watermark)
        self._checkpoint_recovery_point()
        # what the cut batches told the producer state goes with them: reload from below the cut
        self.producer_state.delete_snapshots(above=self.log_end_offset)
        self._load_producer_state()

    def delete_segments_below(self, offset: int) -> list[int]:
        """Delete closed segments that lie wholly below ``offset``; advances the log start."""
        self._ensure_open()
        count = 0
        while count + 1 < len(self.segments) and self.segments[count + 1].base_offset <= offset:
            count += 1
        return self._delete_oldest(count)

    def _delete_oldest(self, count: int) -> list[int]:
        deleted = []
        for seg in self.segments[:count]:
            seg.delete()
            deleted.append(seg.base_offset)
        del self.segments[:count], self._bases[:count]
        if deleted:
            self._epochs.truncate_from_start(self.log_start_offset)
            self.producer_state.delete_snapshots(below=self.log_start_offset)
            self._high_watermark = self._clamp_high_watermark(self._high_watermark)
            log.info("deleted segments %s of %s; log start is now %d", deleted, self.directory, self.log_start_offset)
        return deleted

    def segment_facts(self) -> list[retention.SegmentFacts]:
        return [
            retention.SegmentFacts(
                s.base_offset, s.size, s.max_timestamp if s.max_timestamp >= 0 else s.last_modified_ms
            )
            for s in self.segments
        ]

    def apply_retention(self, now_ms: int | None = None) -> list[int]:
        """Delete segments past ``retention.ms`` / ``retention.bytes``; returns their base offsets.

        The active segment is never deleted; when it alone is left and has expired by
        time, it is rolled first (as Kafka does) so the next check can delete it.
        """
        self._ensure_open()
        now_ms = self._now_ms() if now_ms is None else now_ms
        cfg = self.config
        facts = self.segment_facts()
        doomed = retention.segments_to_delete(
            facts, now_ms=now_ms, retention_ms=cfg.retention_ms, retention_bytes=cfg.retention_bytes
        )
        if len(doomed) == len(facts) - 1 and self.active.size and retention.expired_by_time(
            facts[-1:], now_ms, cfg.retention_ms
        ):
            self.roll()
            doomed.append(facts[-1].base_offset)
        return self._delete_oldest(len(doomed))

    # -- compaction: the segment swap and its crash recovery -----------------
    # storage.compaction writes a cleaned segment as <base>.log.cleaned (+ indexes), fsyncs
    # it and hands it to replace_segments; these two methods are the only code that knows
    # the file protocol (the suffixes are documented in storage.segment).
    def replace_segments(self, cleaned: LogSegment, old: list[LogSegment]) -> None:
        """Swap ``cleaned`` in for the consecutive closed segments ``old``, crash-safely.

        Kafka's ``LocalLog.replaceSegments``: (1) ``.cleaned`` -> ``.swap``, the commit
        point (before it recovery deletes the cleaned files and the old segments stand;
        after it recovery completes the swap); (2) every old segment's files ->
        ``.deleted``; (3) ``.swap`` -> the final names; then the ``.deleted`` files are
        unlinked. The caller fsynced ``cleaned``, whose base offset is the first old
        segment's, so the log start never moves. The segment list switches only at the
        end; until then reads use the old segments, whose descriptors survive the renames.
        A failure in step (1) deletes the cleaned files and leaves the log as it was; an
        ``OSError`` after it leaves the files to recovery: treat it as a failed log
        directory (``abandon`` and reopen), as Kafka does.
        """
        self._ensure_open()
        i = self.segments.index(old[0]) if old and old[0] in self.segments else -1
        if (
            i < 0
            or i + len(old) >= len(self.segments)  # the active segment is never replaced
            or self.segments[i : i + len(old)] != old
            or cleaned.base_offset != old[0].base_offset
            or cleaned.suffix != CLEANED_SUFFIX
        ):
            raise StorageError(f"{self.directory}: {cleaned} cannot replace segments {old}")
        try:
            cleaned.change_suffix(SWAP_SUFFIX)
            fsync_directory(self.directory)
        except Exception:
            cleaned.delete()  # the old segments are untouched yet: undo, as if the pass never ran
            raise
        for seg in old:
            seg.change_suffix(DELETED_SUFFIX)
        fsync_directory(self.directory)  # no final name may reach the disk before the old names are gone
        cleaned.change_suffix("")
        fsync_directory(self.directory)
        self.segments[i : i + len(old)] = [cleaned]
        self._bases[i : i + len(old)] = [cleaned.base_offset]
        for seg in old:
            seg.delete()

    def _finish_interrupted_compaction(self) -> None:
        """Complete or roll back a swap that a crash interrupted (``plan_swap_recovery``'s rules)."""
        names = os.listdir(self.directory)
        swaps = {}
        for name in names:
            parsed = parse_segment_file(name)
            if parsed is not None and parsed[1:] == ("log", SWAP_SUFFIX):
                swaps[parsed[0]] = segment_next_offset(self._path(name), parsed[0])
        deletions, renames = plan_swap_recovery(names, swaps)
        for name in deletions:
            log.warning("recovery: deleting %s, left by an interrupted compaction", self._path(name))
            os.unlink(self._path(name))
        for src, dst in renames:
            log.warning("recovery: completing an interrupted compaction: %s -> %s", src, dst)
            os.replace(self._path(src), self._path(dst))
        if deletions or renames:
            fsync_directory(self.directory)

    # -- lifecycle -----------------------------------------------------------
    def _ensure_open(self) -> None:
        if self._closed:
            raise StorageError(f"log {self.directory} is closed")

    def close(self) -> None:
        """Clean shutdown: fsync, mark clean, release the directory."""
        if self._closed:
            return
        self.flush()
        self.checkpoint_high_watermark()
        self._snapshot_producers()  # a clean open replays nothing
        for seg in self.segments:
            seg.close()
        checkpoint.write_offset(self._path(CLEAN_SHUTDOWN_FILE), self.log_end_offset)
        self._closed = True
        self._lock.release()

    def abandon(self) -> None:
        """Release files without the clean-shutdown steps (tests simulate crashes with it)."""
        if self._closed:
            return
        for seg in self.segments:
            seg.close()
        self._closed = True
        self._lock.release()

    def __enter__(self) -> "Log":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Log({self.directory}, start={self.log_start_offset}, end={self.log_end_offset}, "
            f"hw={self._high_watermark}, segments={len(self.segments)})"
        )
