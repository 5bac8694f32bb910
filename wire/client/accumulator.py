"""The producer's record accumulator: per-partition batches, when they are ready, in what order.

Pure logic (no sockets, no threads, an injectable clock) so batching rules are
unit-tested directly. The sender thread owns one instance.

Per partition there is a queue of batches: closed ones waiting to go and, at the
tail, the open one receiving records. Records are encoded into a
``storage.batch.BatchBuilder`` as they arrive (one pass); a batch is compressed
once, when it is first drained. Only the head of a queue is ever sent, and a batch
that must be retried goes back to the head, so a partition's records are written
in the order ``send()`` was called even across retries — as long as the sender
keeps at most one request per partition in flight (it does).

A queue's head is ready when the batch is full (a closed batch exists), when it
has waited ``linger_ms``, when it is a retry whose backoff has passed, or when the
producer is flushing.
"""

from __future__ import annotations

from collections import deque

from storage.batch import HEADER_SIZE, BatchBuilder

RECORD_OVERHEAD = 32  # upper bound of one record's varint fields (length, deltas, lengths)


def record_size(key, value, headers) -> int:
    """An upper bound of a record's encoded size, compared with ``batch_size``."""
    size = RECORD_OVERHEAD
    if key is not None:
        size += len(key)
    if value is not None:
        size += len(value)
    if headers:
        for hkey, hvalue in headers:
            size += 10 + len(hkey) + (len(hvalue) if hvalue is not None else 0)
    return size


class ProducerBatch:
    """One batch of one partition, its records' completion entries and retry state."""

    __slots__ = (
        "tp", "builder", "entries", "created", "size", "data", "closed",
        "attempts", "retry_at", "last_error", "solo", "producer_id", "sequence",
    )

    def __init__(self, tp, compression, now: float):
        self.tp = tp
        self.builder: BatchBuilder | None = BatchBuilder(compression)
        self.entries: list = []
        self.created = now
        self.size = HEADER_SIZE
        self.data: bytes | None = None
        self.closed = False
        self.attempts = 0
        self.retry_at = 0.0
        self.last_error: Exception | None = None
        self.solo = False  # send alone (its neighbours were rejected together with it)
        self.producer_id = -1  # an idempotent producer's id and first sequence, once numbered
        self.sequence = -1

    def __len__(self) -> int:
        return len(self.entries)

    def build(self) -> bytes:
        """The batch's bytes, encoded and compressed once; later calls reuse them."""
        if self.data is None:
            self.data = self.builder.build()
            self.builder = None
            self.closed = True
        return self.data


def _owner(batch: ProducerBatch, producer_id: int) -> int:
    return batch.producer_id if batch.sequence >= 0 else producer_id


class RecordAccumulator:
    def __init__(self, compression="none", batch_size: int = 65536, linger_ms: float = 5.0):
        self.compression = compression
        self.batch_size = batch_size
        self.linger = linger_ms / 1000.0
        self._queues: dict[object, deque[ProducerBatch]] = {}
        self.records = 0  # records held in batches not yet drained or re-enqueued

    def append(self, tp, key, value, headers, timestamp: int, entry, size: int, now: float) -> ProducerBatch:
        """Add one record (``size`` from ``record_size``) to the partition's open batch."""
        queue = self._queues.get(tp)
        if queue is None:
            queue = self._queues[tp] = deque()
        batch = queue[-1] if queue else None
        if batch is None or batch.closed or (batch.entries and batch.size + size > self.batch_size):
            if batch is not None:
                batch.closed = True
            batch = ProducerBatch(tp, self.compression, now)
            queue.append(batch)
        batch.builder.append(value, key, headers, timestamp)
        batch.entries.append(entry)
        batch.size += size
        self.records += 1
        return batch

    def _head_ready(self, queue: deque, now: float, flushing: bool) -> bool:
        head = queue[0]
        if head.retry_at > now:
            return False
        return head.closed or len(queue) > 1 or head.attempts > 0 or flushing or now - head.created >= self.linger

    def ready(self, now: float, skip=(), flushing: bool = False) -> list:
        """Partitions whose head batch should be sent now (``skip``: busy or leaderless)."""
        return [
            tp for tp, queue in self._queues.items()
            if queue and tp not in skip and self._head_ready(queue, now, flushing)
        ]

    def next_ready_time(self, now: float, skip=(), flushing: bool = False) -> float | None:
        """When the next not-skipped head becomes ready (``now`` if one already is)."""
        soonest = None
        for tp, queue in self._queues.items():
            if not queue or tp in skip:
                continue
            head = queue[0]
            if head.retry_at > now:
                when = head.retry_at
            elif self._head_ready(queue, now, flushing):
                return now
            else:
                when = head.created + self.linger
            if soonest is None or when < soonest:
                soonest = when
        return soonest

    def drain(self, tp, max_bytes: int, max_batches: int | None = None,
              producer_id: int | None = None) -> list[ProducerBatch]:
        """Take head batches of ``tp`` for one request: in order, at most ``max_bytes`` (at least one)
        and at most ``max_batches``.

        ``producer_id`` (an idempotent producer's current id): every batch taken is of
        one producer id — its own if it was numbered, else this one — so a batch left
        numbered under an earlier id never shares a request (and a refusal) with others.
        """
        queue = self._queues.get(tp)
        taken: list[ProducerBatch] = []
        total = 0
        while queue:
            batch = queue[0]
            if taken and (batch.solo or len(taken) == max_batches):
                break
            if taken and producer_id is not None and _owner(batch, producer_id) != _owner(taken[0], producer_id):
                break
            size = len(batch.build())
            if taken and total + size > max_bytes:
                break
            queue.popleft()
            taken.append(batch)
            total += size
            self.records -= len(batch)
            if batch.solo:
                break
        if queue is not None and not queue:
            del self._queues[tp]
        return taken

    def reenqueue(self, batches: list[ProducerBatch], retry_at: float) -> None:
        """Put batches back at the head of their partition, in their original order, for a retry."""
        for batch in reversed(batches):
            batch.retry_at = retry_at
            queue = self._queues.get(batch.tp)
            if queue is None:
                queue = self._queues[batch.tp] = deque()
            queue.appendleft(batch)
            self.records += len(batch)

    def expire(self, now: float, timeout: float) -> list[ProducerBatch]:
        """Remove queued batches created more than ``timeout`` seconds ago (delivery timeout).

        Batches are created in order, so only a queue's leading batches can have expired.
        """
        expired: list[ProducerBatch] = []
        for tp in list(self._queues):
            queue = self._queues[tp]
            while queue and now - queue[0].created >= timeout:
                batch = queue.popleft()
                self.records -= len(batch)
                expired.append(batch)
            if not queue:
                del self._queues[tp]
        return expired

    def abort_all(self) -> list[ProducerBatch]:
        batches = [batch for queue in self._queues.values() for batch in queue]
        self._queues.clear()
        self.records = 0
        return batches

    def partitions(self) -> list:
        return list(self._queues)

    def queued(self, tp) -> list[ProducerBatch]:
        return list(self._queues.get(tp, ()))

    def __bool__(self) -> bool:
        return bool(self._queues)
