"""Log compaction (``cleanup.policy=compact``): keep the latest record of every key.

Kafka's ``LogCleaner``, storage side only. A compacted log keeps, per key, the record
with the highest offset; offsets never change, so a compacted batch has gaps
between its records (and between batches), which readers already handle: a fetch at
a compacted-away offset returns the batch holding it or the next batch (one emptied
at the end of a cleaned segment comes back with no records, as in Kafka), and
consumers resume at each batch's ``next_offset``, so they reach the next kept record.

How a pass works (``compact``), with the Kafka class/method each step follows:

1. **Plan** (``cleanable_range``, Kafka's ``LogCleanerManager.cleanableOffsets`` and
   ``LogToClean``). The log is a *clean* section ``[log start, first dirty)`` that an
   earlier pass compacted, then a *dirty* section. The first dirty offset is
   checkpointed in the partition directory (``cleaner-offset-checkpoint``); an
   invalid one (below the log start, past the log end, or not a segment boundary —
   a truncation went through it) resets to the log start. The cleanable part of the
   dirty section stops before the active segment (never cleaned), before the
   segment holding the high watermark (Kafka: the last stable offset), and before
   the first segment whose largest timestamp is within ``min.compaction.lag.ms`` of
   now. A pass runs when the dirty ratio ``cleanable bytes / (clean + cleanable
   bytes)`` exceeds ``min.cleanable.dirty.ratio``, or when a dirty segment's first
   batch is older than ``max.compaction.lag.ms`` (``LogCleanerManager.maxCompactionDelay``).
2. **Offset map** (``Cleaner.buildOffsetMap``): key -> latest offset over the
   cleanable dirty section (control batches skipped). Kafka's map is a bounded hash
   table that may cover only part of the dirty section; this one is a dict over all of it.
3. **Filter** (``Cleaner.shouldRetainRecord``, KIP-534): every segment from the log
   start to the end of the cleanable range is recopied, grouped into runs whose
   total size fits ``segment.bytes`` (``Cleaner.groupSegmentsBySize``). A record is
   kept unless a later record has its key; a kept tombstone (null value) is kept
   until its batch's *delete horizon*: the first pass that keeps a tombstone stamps
   ``now + delete.retention.ms`` into the batch (base timestamp field + attribute bit
   6, as ``MemoryRecords.filterTo``), and a pass at or after that time drops it. So a
   consumer has ``delete.retention.ms`` after a tombstone was first cleaned to see it.
4. **Re-encode** (``MemoryRecords.buildRetainedRecordsInto``): a batch whose records
   all stay (and that needs no horizon) is copied byte for byte; otherwise it is
   rebuilt with the same base offset, *last offset delta* (so the producer's last
   sequence survives), leader epoch, producer id/epoch/base sequence, timestamp type
   and codec, each record with its own offset, timestamp, key, value and headers. A
   batch left with no record is dropped, except the last one of each group, kept
   empty (header only, as Kafka's ``BatchRetention.RETAIN_EMPTY``) so a cleaned
   segment ends at the same offset as the segments it replaces — which is what crash
   recovery relies on to know what a swap file replaces — and an idempotent
   producer's last batch, kept empty too (as Kafka's cleaner keeps it), so a
   replay of the log still knows the producer's last sequence.
5. **Swap** (``Log.replace_segments``, Kafka's ``LocalLog.replaceSegments``): each
   group is written to ``<base>.log.cleaned`` (+ ``.index`` / ``.timeindex``), fsynced,
   renamed ``.swap`` (the commit point), the old segments renamed ``.deleted``, the
   swap renamed to the final names, the old files unlinked. ``Log`` open finishes or
   undoes whatever a crash left (``storage.segment.plan_swap_recovery``). The log
   start and end offsets, the high watermark and the leader-epoch cache never change.

How a replica uses it (``actors.replica``, asked by the RetentionCleaner's timer)::

    actions = cleanup_actions(log.config.cleanup_policy, log_cleaner_enable)  # compact and/or delete
    if actions.delete:
        log.apply_retention()   # compact,delete does both, as Kafka; compact alone never deletes
    if actions.compact:
        cleaning = CompactionPass(log, compaction_config(log.config))   # plans; cheap
        while cleaning.step(): ...   # one bounded step per loop tick, requests served in between

``compact(log, config, now_ms)`` runs a whole pass at once.

Config keys (topic key / broker default / Kafka default): ``min.cleanable.dirty.ratio`` /
``log.cleaner.min.cleanable.ratio`` / 0.5; ``min.compaction.lag.ms`` /
``log.cleaner.min.compaction.lag.ms`` / 0; ``max.compaction.lag.ms`` /
``log.cleaner.max.compaction.lag.ms`` / 2**63-1; ``delete.retention.ms`` /
``log.cleaner.delete.retention.ms`` / 86400000. Grouping uses the log's ``segment.bytes``.
A pass runs on the thread that owns the ``Log`` (it is the log's writer, like
``append``) and is CPU-bound, so ``CompactionPass`` does it in steps of about
``STEP_BYTES`` read, pausing between them (5-50 ms each on the 2-core dev machine).

Where it differs from Kafka, and what the broker side does:

* Keyless records: a compacted topic refuses them at produce time, as Kafka
  (``Log.append``: "Compacted topic cannot accept message without key"); Kafka's
  cleaner also drops any it finds (written before the topic became compacted), while
  this one *keeps* them rather than lose data silently.
* Transactions: control batches (markers) are copied unchanged and never removed;
  aborted transactional records are not removed; the last batch of an active
  idempotent producer is not specially kept (zafka keeps no producer state).
* Followers: compacted batches have offset gaps (``last offset delta >= record count
  - 1``) and may be empty (0 records); ``Log.append_as_follower`` accepts both
  (``check_payload(compacted=True)``), ``Log.append`` (producer input) neither.
* Truncation below the checkpoint: Kafka's ``LogCleanerManager.maybeTruncateCheckpoint``
  — the replica calls ``truncate_checkpoint`` after ``Log.truncate_to``. (Without it a
  truncation is still caught when the checkpoint is no longer a segment boundary.)
* ``min.compaction.lag.ms`` above ``max.compaction.lag.ms`` is not refused (Kafka refuses
  the pair); the minimum then wins.
"""

from __future__ import annotations

import logging
import os
import struct
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from crc32c import crc32c

from . import checkpoint, compression
from .batch import (
    ATTR_CONTROL,
    ATTR_TIMESTAMP_TYPE,
    ATTR_TRANSACTIONAL,
    HEADER,
    HEADER_SIZE,
    LOG_OVERHEAD,
    MAGIC,
    RecordBatch,
)
from .checkpoint import CorruptCheckpointError
from .errors import CorruptRecordError, InvalidConfigError, StorageError
from .config import CLEANUP_POLICIES, LogConfig
from .log import Log
from .segment import CLEANED_SUFFIX, LogSegment, parse_segment_file

log = logging.getLogger(__name__)

CLEANER_CHECKPOINT_FILE = "cleaner-offset-checkpoint"
#: Attribute bit 6 of RecordBatch v2: the base timestamp holds the delete horizon (KIP-534).
ATTR_DELETE_HORIZON = 0x40
_KEPT_ATTRIBUTES = compression.CODEC_MASK | ATTR_TIMESTAMP_TYPE | ATTR_TRANSACTIONAL | ATTR_CONTROL
_MAX_RELATIVE_OFFSET = 0xFFFFFFFF  # an index entry holds offset - base in 32 bits
_CRC_AT, _CRC_START = 17, 21  # from the layout table in storage.batch
_UINT32 = struct.Struct(">I")
POLICIES = CLEANUP_POLICIES
#: Bytes a ``CompactionPass`` step reads before it pauses: 5-50 ms of work on the 2-core dev machine.
STEP_BYTES = 1 << 20


# -- configuration ------------------------------------------------------------------
@dataclass(frozen=True)
class CompactionConfig:
    """The per-topic knobs of compaction, under Kafka's names and defaults (see module docstring)."""

    min_cleanable_dirty_ratio: float = 0.5  # min.cleanable.dirty.ratio
    min_compaction_lag_ms: int = 0  # min.compaction.lag.ms
    max_compaction_lag_ms: int = 2**63 - 1  # max.compaction.lag.ms
    delete_retention_ms: int = 86_400_000  # delete.retention.ms

    def __post_init__(self):
        ratio = self.min_cleanable_dirty_ratio
        if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 <= ratio <= 1:
            raise InvalidConfigError("min.cleanable.dirty.ratio", ratio, "a number from 0 to 1")
        for key, value, minimum in (
            ("min.compaction.lag.ms", self.min_compaction_lag_ms, 0),
            ("max.compaction.lag.ms", self.max_compaction_lag_ms, 1),
            ("delete.retention.ms", self.delete_retention_ms, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise InvalidConfigError(key, value, f"an integer of at least {minimum}")


def compaction_config(config: LogConfig) -> CompactionConfig:
    """The compaction knobs of a log's config (topic keys over the broker's ``log.cleaner.*`` defaults)."""
    return CompactionConfig(
        min_cleanable_dirty_ratio=config.min_cleanable_dirty_ratio, min_compaction_lag_ms=config.min_compaction_lag_ms,
        max_compaction_lag_ms=config.max_compaction_lag_ms, delete_retention_ms=config.delete_retention_ms,
    )


class CleanupActions(NamedTuple):
    compact: bool  # run compaction passes
    delete: bool  # apply retention (retention.ms, retention.bytes)


def cleanup_actions(policy: str | Iterable[str], cleaner_enabled: bool = True) -> CleanupActions:
    """What cleaning a log does under ``cleanup.policy``, as each Kafka broker decides for its own logs.

    ``delete`` deletes old segments by retention; ``compact`` compacts (only while the
    broker's ``log.cleaner.enable`` is true) and never deletes by retention; both do both.
    """
    policies = cleanup_policies(policy)
    return CleanupActions("compact" in policies and cleaner_enabled, "delete" in policies)


def cleanup_policies(value: str | Iterable[str]) -> frozenset[str]:
    """``cleanup.policy`` as a set: ``"compact,delete"`` -> ``{"compact", "delete"}``."""
    items = value.split(",") if isinstance(value, str) else list(value)
    policies = frozenset(item.strip().lower() for item in items if item.strip())
    if not policies or not policies <= set(POLICIES):
        raise InvalidConfigError("cleanup.policy", value, "a comma-separated list of compact and delete")
    return policies


# -- planning (pure) ----------------------------------------------------------------
class SegmentInfo(NamedTuple):
    """What planning needs of one segment; a log's list ends with its active segment."""

    base_offset: int
    size_bytes: int
    largest_timestamp_ms: int  # largest record timestamp (file mtime when none)
    first_timestamp_ms: int = -1  # the first batch's timestamp, -1 when empty


class CleanPlan(NamedTuple):
    """Whether to clean, and what: the log below ``first_uncleanable_offset`` is recopied."""

    should_clean: bool
    first_dirty_offset: int
    first_uncleanable_offset: int  # a segment base; the new first dirty offset after the pass
    clean_bytes: int
    cleanable_bytes: int
    dirty_ratio: float
    reset_checkpoint: bool  # the checkpointed first dirty offset was invalid and is replaced


def dirty_ratio(clean_bytes: int, cleanable_bytes: int) -> float:
    """Kafka's ``LogToClean.cleanableRatio``: cleanable bytes over clean + cleanable bytes."""
    total = clean_bytes + cleanable_bytes
    return cleanable_bytes / total if total else 0.0


def cleanable_range(
    segments: Sequence[SegmentInfo],
    first_dirty_offset: int | None,
    *,
    log_end_offset: int,
    high_watermark: int,
    now_ms: int,
    config: CompactionConfig,
) -> CleanPlan:
    """Plan one pass (Kafka's ``cleanableOffsets`` + the ratio test of ``grabFilthiestCompactedLog``).

    ``first_dirty_offset`` is the checkpointed one (``None``: never cleaned). The
    range is segment-aligned: a segment is cleaned whole or not at all.
    """
    bases = [s.base_offset for s in segments]
    log_start, active_base = bases[0], bases[-1]
    valid = first_dirty_offset is not None and (
        log_start <= first_dirty_offset <= log_end_offset and first_dirty_offset in bases
    )
    first_dirty = first_dirty_offset if valid else log_start
    limit = min(active_base, high_watermark)
    if config.min_compaction_lag_ms > 0:
        for s in segments[:-1]:
            if s.base_offset >= first_dirty and s.largest_timestamp_ms > now_ms - config.min_compaction_lag_ms:
                limit = min(limit, s.base_offset)
                break
    first_uncleanable = max(max(b for b in bases if b <= max(limit, log_start)), first_dirty)
    clean = sum(s.size_bytes for s in segments if s.base_offset < first_dirty)
    cleanable = sum(s.size_bytes for s in segments if first_dirty <= s.base_offset < first_uncleanable)
    ratio = dirty_ratio(clean, cleanable)
    overdue = any(
        0 < s.first_timestamp_ms < now_ms - config.max_compaction_lag_ms
        for s in segments[:-1]
        if s.base_offset >= first_dirty
    )
    should = clean + cleanable > 0 and ((overdue and cleanable > 0) or ratio > config.min_cleanable_dirty_ratio)
    return CleanPlan(should, first_dirty, first_uncleanable, clean, cleanable, ratio,
                     first_dirty_offset is not None and not valid)


def group_segments(segments: Sequence[SegmentInfo], *, max_bytes: int, end_offset: int) -> list[list[int]]:
    """Base offsets of consecutive segments to merge into one cleaned segment each.

    Kafka's ``Cleaner.groupSegmentsBySize``: a group grows while its total size stays
    within ``max_bytes`` (``segment.bytes``) and its offsets fit a 32-bit index entry;
    ``segments`` are those to clean, ``end_offset`` where the last of them ends.
    """
    groups: list[list[int]] = []
    i, n = 0, len(segments)
    while i < n:
        group, size = [segments[i].base_offset], segments[i].size_bytes
        i += 1
        while i < n and size + segments[i].size_bytes <= max_bytes:
            last_offset = (segments[i + 1].base_offset if i + 1 < n else end_offset) - 1
            if segments[i].size_bytes and last_offset - group[0] > _MAX_RELATIVE_OFFSET:
                break
            group.append(segments[i].base_offset)
            size += segments[i].size_bytes
            i += 1
        groups.append(group)
    return groups


# -- deciding per record (pure) -----------------------------------------------------
def build_offset_map(records: Iterable[tuple[int, bytes | None]]) -> dict[bytes, int]:
    """Key -> latest offset over ``(offset, key)`` pairs in offset order (keyless ones ignored)."""
    latest: dict[bytes, int] = {}
    for offset, key in records:
        if key is not None:
            latest[key] = offset
    return latest


def delete_horizon(batch: RecordBatch) -> int | None:
    """The time from which the batch's tombstones may go, if a cleaning pass set one."""
    return batch.base_timestamp if batch.attributes & ATTR_DELETE_HORIZON else None


def should_retain(
    offset: int,
    key: bytes | None,
    is_tombstone: bool,
    offset_map: Mapping[bytes, int],
    horizon_ms: int | None,
    now_ms: int,
) -> bool:
    """Kafka's ``Cleaner.shouldRetainRecord`` (KIP-534 tombstones), keyless records kept.

    A record goes when the map holds a later offset for its key; a tombstone that is
    the latest for its key stays until its batch's delete horizon has passed (a batch
    with no horizon yet is one no pass has cleaned: it keeps its tombstones).
    """
    if key is None:
        return True  # zafka's choice (Kafka drops them; it never lets them in)
    latest = offset_map.get(key)
    if latest is not None and offset < latest:
        return False
    if is_tombstone:
        return horizon_ms is None or now_ms < horizon_ms
    return True


class Filtered(NamedTuple):
    data: bytes | None  # the batch to write in its place; None: nothing
    read: int
    kept: int


def filter_batch(
    batch: RecordBatch,
    offset_map: Mapping[bytes, int],
    *,
    now_ms: int,
    delete_retention_ms: int,
    keep_if_empty: bool = False,
) -> Filtered:
    """The batch that replaces ``batch`` in a cleaned segment (``MemoryRecords.filterTo``)."""
    if batch.is_control:  # transaction markers: kept unchanged (see module docstring)
        return Filtered(bytes(batch.raw()), batch.record_count, batch.record_count)
    horizon = delete_horizon(batch)
    records = list(batch.records())
    kept = [r for r in records if should_retain(r.offset, r.key, r.value is None, offset_map, horizon, now_ms)]
    if not kept:
        return Filtered(empty_batch(batch) if keep_if_empty else None, len(records), 0)
    new_horizon = horizon
    if horizon is None and any(r.value is None for r in kept):
        new_horizon = now_ms + delete_retention_ms
    if len(kept) == len(records) and new_horizon == horizon:
        return Filtered(bytes(batch.raw()), len(records), len(kept))
    return Filtered(encode_batch(batch, kept, delete_horizon_ms=new_horizon), len(records), len(kept))


# -- re-encoding (pure) -------------------------------------------------------------
def _varint(value: int, out: bytearray) -> None:
    """Kafka's zigzag varint/varlong (``ByteUtils.writeVarlong``)."""
    z = (value << 1) ^ (value >> 63)
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)


def _bytes_field(data: bytes | None, out: bytearray) -> None:
    if data is None:
        _varint(-1, out)
    else:
        _varint(len(data), out)
        out += data


def encode_records(records: Iterable, base_offset: int, base_timestamp: int) -> bytes:
    """Records in RecordBatch v2's layout (table in ``storage.batch``), deltas from the given bases.

    The cleaner encodes records itself rather than through ``storage.codec``'s
    builder because it must choose the base timestamp (the delete horizon) and keep
    each record's own offset delta; the builder numbers records 0, 1, 2... from the
    first record's timestamp.
    """
    out = bytearray()
    for r in records:
        body = bytearray(b"\x00")  # record attributes: unused in v2
        _varint(r.timestamp - base_timestamp, body)
        _varint(r.offset - base_offset, body)
        _bytes_field(r.key, body)
        _bytes_field(r.value, body)
        _varint(len(r.headers), body)
        for name, value in r.headers:
            _bytes_field(name.encode(), body)
            _bytes_field(value, body)
        _varint(len(body), out)
        out += body
    return bytes(out)


def _batch_bytes(template: RecordBatch, attributes: int, base_timestamp: int, max_timestamp: int,
                 count: int, records_section: bytes) -> bytes:
    header = bytearray(HEADER.pack(
        template.base_offset, HEADER_SIZE - LOG_OVERHEAD + len(records_section), template.partition_leader_epoch,
        MAGIC, 0, attributes, template.last_offset_delta, base_timestamp, max_timestamp,
        template.producer_id, template.producer_epoch, template.base_sequence, count,
    ))
    crc = crc32c(records_section, crc32c(memoryview(header)[_CRC_START:]))
    _UINT32.pack_into(header, _CRC_AT, crc)
    return bytes(header) + records_section


def encode_batch(template: RecordBatch, records: Sequence, *, delete_horizon_ms: int | None) -> bytes:
    """``records`` (a non-empty subset of ``template``'s) as one batch in ``template``'s place.

    Kept from the original: base offset, last offset delta, leader epoch, producer
    id/epoch/base sequence, codec, timestamp type and the transactional bit. Under
    LogAppendTime the max timestamp stays the broker's stamp (readers give it to
    every record); under CreateTime it is the largest kept record timestamp.
    """
    log_append_time = bool(template.attributes & ATTR_TIMESTAMP_TYPE)
    max_ts = template.max_timestamp if log_append_time else max(r.timestamp for r in records)
    attributes = template.attributes & _KEPT_ATTRIBUTES
    if delete_horizon_ms is not None:
        attributes |= ATTR_DELETE_HORIZON
        base_ts = delete_horizon_ms
    else:
        base_ts = records[0].timestamp
    body = encode_records(records, template.base_offset, base_ts)
    codec_id = template.compression
    if codec_id != compression.NONE:
        body = compression.compress(codec_id, body)
    return _batch_bytes(template, attributes, base_ts, max_ts, len(records), body)


def empty_batch(template: RecordBatch) -> bytes:
    """A header-only batch covering ``template``'s offsets (Kafka's ``DefaultRecordBatch.writeEmptyHeader``)."""
    attributes = template.attributes & (ATTR_TIMESTAMP_TYPE | ATTR_TRANSACTIONAL | ATTR_CONTROL)
    return _batch_bytes(template, attributes, template.max_timestamp, template.max_timestamp, 0, b"")


# -- the pass on a Log (file I/O) ---------------------------------------------------
@dataclass(frozen=True)
class CompactionResult:
    plan: CleanPlan
    groups: tuple[tuple[int, ...], ...] = ()  # base offsets replaced, one tuple per cleaned segment
    records_read: int = 0
    records_kept: int = 0
    bytes_before: int = 0
    bytes_after: int = 0

    @property
    def cleaned(self) -> bool:
        return bool(self.groups)


def segment_infos(log_: Log) -> list[SegmentInfo]:
    return [
        SegmentInfo(
            s.base_offset,
            s.size,
            s.max_timestamp if s.max_timestamp >= 0 else s.last_modified_ms,
            s.first_batch_timestamp if s.first_batch_timestamp is not None else -1,
        )
        for s in log_.segments
    ]


def read_checkpoint(directory: str) -> int | None:
    """The first dirty offset the last pass left, or ``None`` (never cleaned, or unreadable)."""
    try:
        return checkpoint.read_offset(os.path.join(directory, CLEANER_CHECKPOINT_FILE))
    except CorruptCheckpointError as exc:
        log.warning("%s; compacting %s from its start", exc, directory)
        return None


def write_checkpoint(directory: str, first_dirty_offset: int) -> None:
    checkpoint.write_offset(os.path.join(directory, CLEANER_CHECKPOINT_FILE), first_dirty_offset)


def truncate_checkpoint(directory: str, offset: int) -> None:
    """After ``Log.truncate_to(offset)``: data from ``offset`` on is new, hence dirty
    (Kafka's ``LogCleanerManager.maybeTruncateCheckpoint``)."""
    current = read_checkpoint(directory)
    if current is not None and current > offset:
        write_checkpoint(directory, offset)


class LogChangedError(StorageError):
    """The log changed under a pass in progress (truncated, segments deleted): the pass was abandoned."""


class CompactionPass:
    """One cleaning pass done in steps of about ``step_bytes`` of reading each.

    ``compact`` runs a pass to its end; the process that owns a log instead calls
    ``step`` from its loop and serves requests in between, so a pass over a large log
    never holds it for long (5-50 ms per MiB read on the 2-core dev machine, the most
    when gzip batches are re-encoded). Planning happens at construction and is cheap. A step reads batches into the
    offset map or copies them into a group's ``.cleaned`` segment; the step that
    finishes a group swaps it in (``Log.replace_segments``), and the last one
    writes the checkpoint. Between steps the log may take appends and roll (the
    pass covers only closed segments below its end); if instead its segments below
    the pass's end change (truncation, retention) or the high watermark falls below
    it, the next step abandons the pass — groups already swapped in stay, the
    checkpoint is not moved, and the next pass starts over from the log start.
    """

    def __init__(self, log_: Log, config: CompactionConfig | None = None, now_ms: int | None = None, *,
                 step_bytes: int = STEP_BYTES):
        log_._ensure_open()
        self.log = log_
        self.config = config or CompactionConfig()
        self.now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        self.step_bytes = max(1, step_bytes)
        directory = log_.directory
        self.plan = cleanable_range(
            segment_infos(log_), read_checkpoint(directory), log_end_offset=log_.log_end_offset,
            high_watermark=log_.high_watermark, now_ms=self.now_ms, config=self.config,
        )
        if self.plan.reset_checkpoint:
            log.warning("%s: resetting the cleaner checkpoint to the log start %d", directory,
                        self.plan.first_dirty_offset)
            write_checkpoint(directory, self.plan.first_dirty_offset)
        self.result = CompactionResult(self.plan)
        self.abandoned: str | None = None  # why the pass stopped before its end
        end = self.plan.first_uncleanable_offset
        self._covered = [s for s in log_.segments if s.base_offset < end]  # as they must stay between steps
        self._work: Iterator[None] | None = self._run() if self.plan.should_clean else None

    @property
    def done(self) -> bool:
        return self._work is None

    def step(self) -> bool:
        """Do the next piece of the pass; True while more remains.

        Raises ``CorruptRecordError`` (a closed segment does not read back whole; the
        pass is over and nothing of the group in progress is changed) or ``OSError``
        (see ``Log.replace_segments``: after a commit point, reopen the log).
        """
        if self._work is None:
            return False
        try:
            next(self._work)
            return True
        except StopIteration:
            self._work = None
            return False
        except LogChangedError as exc:
            self._work = None
            self.abandoned = str(exc)
            log.info("%s: compaction pass abandoned: %s", self.log.directory, exc)
            return False
        except BaseException:
            self._work = None
            raise

    def abandon(self, why: str) -> None:
        """Stop the pass here (the owner truncates the log, changes policy or stops)."""
        if self._work is not None:
            self._work.close()  # deletes a half-written .cleaned segment
            self._work = None
            self.abandoned = why
            log.info("%s: compaction pass abandoned: %s", self.log.directory, why)

    def _check_unchanged(self) -> None:
        """After a pause: the segments the pass covers must be the ones it planned (or swapped in)."""
        lg, end = self.log, self.plan.first_uncleanable_offset
        if lg._closed:
            raise LogChangedError("the log was closed")
        covered = [s for s in lg.segments if s.base_offset < end]
        if covered != self._covered or not any(s.base_offset == end for s in lg.segments):
            raise LogChangedError(f"the segments below offset {end} changed (truncation or retention)")
        if lg.high_watermark < end:
            raise LogChangedError(f"the high watermark {lg.high_watermark} fell below offset {end}")

    def _pause(self) -> Iterator[None]:
        self._unpaused = 0
        yield
        self._check_unchanged()

    def _pause_due(self, read: int) -> bool:
        """Count ``read`` bytes; True once a step's worth was read since the last pause."""
        self._unpaused += read
        return self._unpaused >= self.step_bytes

    def _run(self) -> Iterator[None]:
        self._check_unchanged()
        lg, plan = self.log, self.plan
        end = plan.first_uncleanable_offset
        dirty = [s for s in self._covered if s.base_offset >= plan.first_dirty_offset]
        offset_map: dict[bytes, int] = {}  # build_offset_map, a batch at a time
        self._unpaused = 0
        for batch in _batches(dirty):
            if not batch.is_control:
                for r in batch.records():
                    if r.key is not None:
                        offset_map[r.key] = r.offset
            if self._pause_due(batch.size):
                yield from self._pause()
        by_base = {s.base_offset: s for s in self._covered}
        infos = [i for i in segment_infos(lg) if i.base_offset < end]
        groups, read, kept, before, after = [], 0, 0, 0, 0
        for bases in group_segments(infos, max_bytes=lg.config.segment_bytes, end_offset=end):
            old = [by_base[b] for b in bases]
            cleaned, group_read, group_kept = yield from self._clean_group(old, offset_map)
            before += sum(s.size for s in old)
            after += cleaned.size
            lg.replace_segments(cleaned, old)
            i = self._covered.index(old[0])
            self._covered[i : i + len(old)] = [cleaned]
            groups.append(tuple(bases))
            read, kept = read + group_read, kept + group_kept
            yield from self._pause()  # a swap fsyncs four times: a step of its own
        write_checkpoint(lg.directory, end)
        log.info("compacted %s below offset %d: %d of %d records kept, %d -> %d bytes",
                 lg.directory, end, kept, read, before, after)
        self.result = CompactionResult(plan, tuple(groups), read, kept, before, after)

    def _clean_group(self, old: list[LogSegment], offset_map: Mapping[bytes, int]):
        """Write the kept records of ``old`` into a fsynced ``<base>.log.cleaned`` segment, in steps.

        The group's last batch is kept even when emptied, so the cleaned segment ends
        where ``old`` ended (see ``plan_swap_recovery``). The file keeps the last old
        segment's modification time, as Kafka's ``Cleaner.cleanSegments`` does. A pass
        abandoned (or failing) meanwhile deletes the cleaned files.
        """
        lg, now_ms, delete_retention_ms = self.log, self.now_ms, self.config.delete_retention_ms
        producers = lg.producer_state.producers
        base = old[0].base_offset
        _remove_cleaned_leftovers(lg.directory, base)
        dest = LogSegment(lg.directory, base, lg.config.index_interval_bytes, created_ms=old[-1].created_ms,
                          suffix=CLEANED_SUFFIX)
        read = kept = 0

        def producers_last(batch: RecordBatch) -> bool:
            entry = producers.get(batch.producer_id) if batch.producer_id >= 0 else None
            return entry is not None and bool(entry.batches) and entry.batches[-1].last_offset == batch.last_offset

        def write(batch: RecordBatch, last: bool) -> None:
            nonlocal read, kept
            result = filter_batch(batch, offset_map, now_ms=now_ms, delete_retention_ms=delete_retention_ms,
                                  keep_if_empty=last or producers_last(batch))
            read, kept = read + result.read, kept + result.kept
            if result.data is not None:
                out = RecordBatch(result.data)
                dest.append((result.data,), out.size, out.base_offset, out.next_offset, out.max_timestamp)

        try:
            pending = None
            for batch in _batches(old):
                if pending is not None:
                    write(pending, last=False)
                pending = batch
                if self._pause_due(batch.size):
                    yield from self._pause()
            if pending is not None:
                write(pending, last=True)
            dest.seal()
            dest.flush()
            mtime = old[-1].last_modified_ms / 1000
            os.utime(dest.log_path, (mtime, mtime))
        except (Exception, GeneratorExit):  # an abandoned pass leaves no .cleaned file either
            dest.delete()
            raise
        return dest, read, kept


def compact(log_: Log, config: CompactionConfig | None = None, now_ms: int | None = None) -> CompactionResult:
    """One cleaning pass over ``log_`` if its plan says so, all at once; see the module docstring.

    Raises ``CorruptRecordError`` (a closed segment does not read back whole; nothing
    is changed) or ``OSError``. A failure before a group's commit point leaves the
    log as it was; after it, see ``Log.replace_segments``.
    """
    cleaning = CompactionPass(log_, config, now_ms)
    while cleaning.step():
        pass
    return cleaning.result


def _batches(segments: Iterable[LogSegment]) -> Iterator[RecordBatch]:
    """Every batch of closed segments, validated; a segment that does not read back whole raises."""
    for seg in segments:
        end = 0
        for position, batch in seg.scan_batches(0):
            batch.validate()
            end = position + batch.size
            yield batch
        if end != seg.size:
            raise CorruptRecordError(f"{seg.log_path}: closed segment ends in a torn batch at position {end}")


def _remove_cleaned_leftovers(directory: str, base_offset: int) -> None:
    """A ``.cleaned`` file from an earlier pass that failed (in this process) before its swap."""
    for name in os.listdir(directory):
        parsed = parse_segment_file(name)
        if parsed is not None and parsed[0] == base_offset and parsed[2] == CLEANED_SUFFIX:
            os.unlink(os.path.join(directory, name))
