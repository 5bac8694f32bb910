"""Idempotent producers' state in one partition: what makes a retried batch land once.

An idempotent producer stamps each batch with its producer id, epoch and the
sequence number of its first record (sequences count records per partition from
0). The leader keeps, per producer, its epoch and the metadata of the last
``NUM_BATCHES_TO_RETAIN`` batches it wrote (Kafka's ``ProducerStateManager``):

* a batch whose sequences match one of those is a **duplicate** — a retry of a
  batch that was written though its answer was lost — and is answered with the
  offsets it was stored at, not written again;
* a batch of the current epoch must start right after the last sequence
  (``OUT_OF_ORDER_SEQUENCE_NUMBER`` otherwise: a batch in between is missing);
* a newer epoch starts over at sequence 0; an older epoch is fenced
  (``INVALID_PRODUCER_EPOCH``);
* a producer this partition does not know may start at any sequence (KIP-360:
  its earlier batches may have gone with retention).

The state is rebuilt from the batch headers, so followers, which append the
leader's batches, hold the same state and a new leader dedupes at once. To keep
a restart from reading every header of the log, a **snapshot**
(``<20-digit offset>.snapshot``, the state as of that offset, CRC-checked) is
written when a segment rolls and at a clean close; opening loads the newest one
at or below the log end and replays the headers after it. A truncation reloads
from the newest snapshot at or below the new log end, so a batch that was cut
is never mistaken for a duplicate afterwards. Producers unheard of for
``producer.id.expiration.ms`` are dropped.

Pure logic and small files; ``storage.log.Log`` owns one and calls it.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from typing import NamedTuple

import msgspec
from crc32c import crc32c

from .checkpoint import write_atomically
from .errors import CorruptSnapshotError, InvalidProducerEpochError, InvalidRecordError, OutOfOrderSequenceError

NUM_BATCHES_TO_RETAIN = 5  # Kafka's: an idempotent producer has at most 5 requests in flight
SNAPSHOT_SUFFIX = ".snapshot"
NO_PRODUCER_ID = -1
INT32_MAX = 2**31 - 1
SNAPSHOT_VERSION = 1
_SNAPSHOT_HEADER = struct.Struct(">hI")  # version, CRC-32C of the body


def next_sequence(sequence: int, increment: int) -> int:
    """Sequences wrap from INT32_MAX to 0, as Kafka's ``DefaultRecordBatch.incrementSequence``."""
    if sequence > INT32_MAX - increment:
        return increment - (INT32_MAX - sequence) - 1
    return sequence + increment


def in_sequence(last_sequence: int, first_sequence: int) -> bool:
    return first_sequence == last_sequence + 1 or (first_sequence == 0 and last_sequence == INT32_MAX)


class BatchMetadata(msgspec.Struct, array_like=True, frozen=True):
    """Where one of a producer's batches landed."""

    first_seq: int
    last_seq: int
    first_offset: int
    last_offset: int
    timestamp: int


class ProducerEntry(msgspec.Struct, array_like=True):
    producer_id: int
    epoch: int
    batches: list[BatchMetadata]  # oldest first, at most NUM_BATCHES_TO_RETAIN
    last_timestamp: int  # the newest batch's max timestamp: what expiry looks at

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq if self.batches else -1

    def find(self, first_seq: int, last_seq: int) -> BatchMetadata | None:
        for batch in self.batches:
            if batch.first_seq == first_seq and batch.last_seq == last_seq:
                return batch
        return None


class _Snapshot(msgspec.Struct, array_like=True):
    offset: int
    entries: list[ProducerEntry]


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(_Snapshot)


class ProducerBatch(NamedTuple):
    """What the state needs of one batch header."""

    producer_id: int
    epoch: int
    first_seq: int
    first_offset: int  # the batch's base offset
    last_offset: int  # base offset + last offset delta (compaction keeps the delta, so this too)
    max_timestamp: int

    @property
    def last_seq(self) -> int:
        """As Kafka's ``lastSequence``: counted by offset delta, which compaction leaves as it was."""
        return next_sequence(self.first_seq, self.last_offset - self.first_offset)


def snapshot_name(offset: int) -> str:
    return f"{offset:020d}{SNAPSHOT_SUFFIX}"


def parse_snapshot_name(name: str) -> int | None:
    stem = name[: -len(SNAPSHOT_SUFFIX)] if name.endswith(SNAPSHOT_SUFFIX) else ""
    return int(stem) if len(stem) == 20 and stem.isdigit() else None


class ProducerStateManager:
    """The producers of one partition directory (see the module docstring)."""

    def __init__(self, directory: str, expiration_ms: int = 86_400_000):
        self.directory = directory
        self.expiration_ms = expiration_ms
        self.producers: dict[int, ProducerEntry] = {}

    # -- the leader's checks -----------------------------------------------------------
    def check(self, batches: Iterable[ProducerBatch]) -> list[BatchMetadata | None]:
        """For each batch of one payload in order: its stored twin (a duplicate) or None (to be written).

        Raises ``InvalidProducerEpochError``, ``OutOfOrderSequenceError`` or, for a
        producer id, epoch or sequence below 0, ``InvalidRecordError`` for the first
        batch that breaks the rules; then nothing of the payload may be
        written. Batches without a producer id pass unchecked. Nothing changes here:
        ``update`` records what was written.
        """
        results: list[BatchMetadata | None] = []
        ahead: dict[int, tuple[int, int]] = {}  # producer -> (epoch, last seq) of earlier batches in this payload
        for b in batches:
            if b.producer_id == NO_PRODUCER_ID:
                results.append(None)
                continue
            if b.producer_id < 0 or b.epoch < 0 or b.first_seq < 0:
                raise InvalidRecordError(
                    f"a batch of producer {b.producer_id} needs a producer id, epoch and base sequence of at least "
                    f"0 (epoch {b.epoch}, base sequence {b.first_seq})"
                )
            entry = self.producers.get(b.producer_id)
            epoch, last_seq = ahead.get(b.producer_id, (entry.epoch, entry.last_seq) if entry else (-1, -1))
            if entry is not None and b.epoch < entry.epoch:
                raise InvalidProducerEpochError(
                    f"producer {b.producer_id} sent epoch {b.epoch}, but epoch {entry.epoch} has taken over"
                )
            twin = entry.find(b.first_seq, b.last_seq) if entry is not None and b.epoch == entry.epoch else None
            if twin is not None and b.producer_id not in ahead:
                results.append(twin)
                continue
            if b.producer_id in ahead or (entry is not None and b.epoch == epoch):
                if not in_sequence(last_seq, b.first_seq):
                    raise OutOfOrderSequenceError(
                        f"producer {b.producer_id} epoch {b.epoch}: sequence {b.first_seq} does not follow "
                        f"{last_seq} (a batch in between is missing)"
                    )
            elif entry is not None and b.first_seq != 0 and entry.epoch >= 0:
                raise OutOfOrderSequenceError(
                    f"producer {b.producer_id}'s new epoch {b.epoch} starts at sequence {b.first_seq}, not 0"
                )
            ahead[b.producer_id] = (b.epoch, b.last_seq)
            results.append(None)
        return results

    # -- what was written ----------------------------------------------------------------
    def update(self, b: ProducerBatch) -> None:
        """Record a batch written to the log (leader or follower append, or a replay of the log)."""
        if b.producer_id == NO_PRODUCER_ID:
            return
        meta = BatchMetadata(b.first_seq, b.last_seq, b.first_offset, b.last_offset, b.max_timestamp)
        entry = self.producers.get(b.producer_id)
        if entry is None or b.epoch != entry.epoch:
            self.producers[b.producer_id] = ProducerEntry(b.producer_id, b.epoch, [meta], b.max_timestamp)
            return
        entry.batches.append(meta)
        if len(entry.batches) > NUM_BATCHES_TO_RETAIN:
            del entry.batches[0]
        entry.last_timestamp = max(entry.last_timestamp, b.max_timestamp)

    def expire(self, now_ms: int) -> list[int]:
        """Drop producers whose newest batch is older than ``producer.id.expiration.ms``; their ids."""
        gone = [pid for pid, e in self.producers.items() if now_ms - e.last_timestamp >= self.expiration_ms]
        for pid in gone:
            del self.producers[pid]
        return gone

    def clear(self) -> None:
        self.producers = {}

    # -- snapshots ---------------------------------------------------------------------------
    def snapshot_offsets(self) -> list[int]:
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        return sorted(o for o in map(parse_snapshot_name, names) if o is not None)

    def take_snapshot(self, offset: int) -> None:
        """Write the state as of ``offset``: the caller has recorded every batch below it, none above."""
        body = _ENCODER.encode(_Snapshot(offset, list(self.producers.values())))
        write_atomically(os.path.join(self.directory, snapshot_name(offset)),
                         _SNAPSHOT_HEADER.pack(SNAPSHOT_VERSION, crc32c(body)) + body)

    @staticmethod
    def read_snapshot(path: str) -> _Snapshot:
        with open(path, "rb") as f:
            data = f.read()
        if len(data) < _SNAPSHOT_HEADER.size:
            raise CorruptSnapshotError(f"{path}: {len(data)} bytes, too short for a snapshot")
        version, crc = _SNAPSHOT_HEADER.unpack_from(data)
        body = memoryview(data)[_SNAPSHOT_HEADER.size:]
        if version != SNAPSHOT_VERSION or crc32c(body) != crc:
            raise CorruptSnapshotError(f"{path}: version {version} or CRC does not match")
        try:
            return _DECODER.decode(body)
        except msgspec.DecodeError as exc:
            raise CorruptSnapshotError(f"{path}: {exc}") from None

    def load(self, log_start: int, log_end: int) -> int:
        """Load the newest readable snapshot within ``[log_start, log_end]``; the offset to replay from.

        Snapshots past the log end (the tail they saw is gone) and unreadable ones
        are deleted. With no snapshot the state starts empty at ``log_start``.
        """
        for offset in reversed(self.snapshot_offsets()):
            path = os.path.join(self.directory, snapshot_name(offset))
            if offset > log_end:
                os.unlink(path)
                continue
            if offset < log_start:
                break
            try:
                snap = self.read_snapshot(path)
            except (OSError, CorruptSnapshotError):
                os.unlink(path)
                continue
            self.producers = {e.producer_id: e for e in snap.entries}
            return snap.offset
        self.clear()
        return log_start

    def delete_snapshots(self, below: int | None = None, above: int | None = None, keep: int | None = None) -> None:
        """Delete snapshots below ``below`` or above ``above``, and all but the ``keep`` newest of the rest."""
        offsets = self.snapshot_offsets()
        kept = [o for o in offsets if (below is None or o >= below) and (above is None or o <= above)]
        if keep is not None:
            kept = kept[-keep:] if keep else []
        for offset in set(offsets).difference(kept):
            try:
                os.unlink(os.path.join(self.directory, snapshot_name(offset)))
            except FileNotFoundError:
                pass
