"""The producer's background thread: the only code that touches the producer's sockets.

``Producer.send`` only appends a ``PendingRecord`` to a deque; this thread drains
it, picks partitions, fills the accumulator's batches, sends ready batches to
partition leaders, and completes futures from the replies. At most one produce
request per partition is in flight (many partitions in parallel), and a failed
batch goes back to the head of its partition's queue, so per-partition order
survives retries.

Retriable failures (no leader yet, ``NotLeader``, timeouts, a lost connection,
``NotEnoughReplicas``) refresh metadata with backoff and retry until ``retries`` or
``delivery_timeout_ms`` run out; then the records fail with the last error's type.

With idempotence (``enable_idempotence``) the thread first asks a broker for a
producer id (``InitProducerId``) and numbers each batch when it first sends it:
per partition, sequences count records from 0. A retry resends the same numbers,
so a batch whose first attempt was stored after all is answered with the offsets
it was stored at instead of being written twice, and a request holds at most
``IDEMPOTENT_BATCHES_PER_REQUEST`` batches, all the broker remembers per
producer. When a numbered batch fails for good (its delivery timeout, or a broker
that lacks a batch before it: ``OutOfOrderSequenceNumber``) the partition's
sequence can no longer continue: the thread takes a new producer id, and that
partition's waiting batches are numbered afresh under it.

Every record ends in ``complete_records`` — acknowledged, failed, expired or aborted
here through ``Sender._complete`` (which then counts flushes down and frees buffer
memory), or refused at once by ``send``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from typing import NamedTuple

from storage.batch import HEADER_SIZE, with_producer_state
from wire.client.accumulator import ProducerBatch, RecordAccumulator
from wire.client.errors import ClientClosed
from wire.client.interceptors import InterceptorChain
from wire.client.metadata import ClusterMetadata, moved_by_hint
from wire.client.partitioner import Partitioner
from wire.client.records import RecordMetadata
from wire.connections import ConnectionPool, Reply, Waker
from wire.errors import (
    METADATA_REFRESH_ERRORS,
    InvalidProducerEpoch,
    LeaderNotAvailable,
    NotLeader,
    OutOfOrderSequenceNumber,
    RecordTooLarge,
    RequestTimedOut,
    UnknownServerError,
    UnknownTopicOrPartition,
    ZafkaError,
    error_for,
)
from wire.produce import InitProducerId, InitProducerIdResponse, Produce, ProduceResponse

log = logging.getLogger(__name__)

_new = tuple.__new__
_METADATA_ERRORS = METADATA_REFRESH_ERRORS
_EXPIRY_CHECK = 0.05  # seconds between delivery-timeout scans
_STALL_S = 0.5  # a produce unanswered this long makes the producer check whether its leader moved
_IDLE_WAIT = 1.0
IDEMPOTENT_BATCHES_PER_REQUEST = 5  # what a broker remembers per producer (storage.producer_state)
_SEQUENCE_BREAKING = (OutOfOrderSequenceNumber, InvalidProducerEpoch)


class PendingRecord(NamedTuple):
    """One record ``Producer.send`` queued for the sender thread.

    Built with ``tuple.__new__``, skipping the NamedTuple constructor's Python-level
    call: ``send`` is the hot path.
    """

    topic: str
    partition: int | None  # None: the partitioner picks
    key: bytes | None
    value: bytes | None
    headers: list | None
    timestamp_ms: int
    future: Future
    callback: Callable | None  # callback(metadata, exception)
    size: int  # buffer memory reserved for it (``accumulator.record_size``)


class BatchedRecord(NamedTuple):
    """A record's place in a ``ProducerBatch``: what completing it needs."""

    future: Future
    callback: Callable | None
    timestamp_ms: int
    seq: int  # order taken from ``incoming``: flushes wait for the records before them


def complete_records(entries: list[BatchedRecord], topic: str | None, partition: int | None, error,
                     interceptors: InterceptorChain, base_offset: int = -1, append_time: int = -1) -> None:
    """Settle records in order: each one's future, the user's callback, the interceptors' ``on_acknowledgement``.

    On success (``error`` None) entry i landed at ``base_offset + i`` (every offset
    is -1 when ``base_offset`` is, as with acks=0), stamped with the broker's
    ``append_time`` if it gave one, else the record's own timestamp. On failure
    every entry gets ``error``. Neither a future the user completed nor a raising
    callback stops the caller. One loop with no call per record: this is the
    producer's hot path.
    """
    step = 1 if base_offset >= 0 else 0
    offset = base_offset
    has_ack = interceptors.has_ack
    meta = None
    for entry in entries:
        try:
            if error is None:
                timestamp = append_time if append_time >= 0 else entry.timestamp_ms
                meta = _new(RecordMetadata, (topic, partition, offset, timestamp))
                offset += step
                entry.future.set_result(meta)
            else:
                entry.future.set_exception(error)
        except InvalidStateError:
            pass  # the user completed the future; the record was sent anyway
        callback = entry.callback
        if callback is not None:
            try:
                callback(meta, error)
            except Exception:  # noqa: BLE001 - a user callback must not stop the sender
                log.exception("producer callback %r raised", callback)
        if has_ack:
            interceptors.on_acknowledgement(meta, error)


class FlushMarker:
    """Queued by ``flush``: done once every record queued before it has completed."""

    __slots__ = ("event", "seq", "remaining")

    def __init__(self):
        self.event = threading.Event()
        self.seq = 0
        self.remaining = 0


class StopMarker:
    """Queued by ``close``: stop the thread, failing what is left when ``force``."""

    __slots__ = ("force",)

    def __init__(self, force: bool):
        self.force = force


class _InFlight:
    __slots__ = ("tp", "batches", "endpoint", "sent_at")

    def __init__(self, tp, batches, endpoint, sent_at: float):
        self.tp = tp
        self.batches = batches
        self.endpoint = endpoint
        self.sent_at = sent_at


class _IdentityRequest:
    """The context of an ``InitProducerId`` in flight: a token its reply is recognised by."""

    __slots__ = ()


class Sender(threading.Thread):
    def __init__(self, producer_config, incoming: deque, waker: Waker, release, interceptors: InterceptorChain):
        super().__init__(name="zafka-producer-sender", daemon=True)
        c = producer_config
        self.cfg = c
        self.incoming = incoming
        self.waker = waker
        self.release = release  # gives reserved buffer bytes back to send()
        self.interceptors = interceptors
        self.idle = False  # True while about to block in poll: send() then wakes the thread
        self.pool = ConnectionPool(waker=waker)
        self.metadata = ClusterMetadata(
            c.bootstrap, self.pool, timeout_ms=c.metadata_timeout_ms, retry_backoff_ms=c.retry_backoff_ms,
            retry_backoff_max_ms=c.retry_backoff_max_ms, allow_auto_create=c.allow_auto_create_topics,
        )
        self.partitioner = Partitioner(c.partitioner)
        self.acc = RecordAccumulator(c.compression, c.batch_size, c.linger_ms)
        self.in_flight: dict[tuple, _InFlight] = {}
        self.no_leader: set = set()  # ready partitions without a leader (until the next refresh)
        self.blocked: set = set()  # ready partitions whose leader has max_in_flight requests already
        self.pending: dict[str, list] = {}  # records of topics without metadata yet
        self.pending_since: dict[str, float] = {}
        self.partition_wait: dict[tuple, float] = {}  # (topic, partition) unknown to metadata -> since
        self.flushes: list[FlushMarker] = []
        self.seq = 0
        self.outstanding = 0  # records taken from ``incoming`` and not completed
        self.stop_marker: StopMarker | None = None
        self._next_expiry_check = 0.0
        self.crashed: BaseException | None = None
        # idempotence: this producer's id (-1: none yet), the next sequence per partition
        self.idempotent = c.enable_idempotence
        self.producer_id = -1
        self.producer_epoch = -1
        self.next_sequence: dict[tuple, int] = {}
        self.identity_request: _IdentityRequest | None = None
        self.identity_retry_at = 0.0
        self.identity_attempts = 0
        self.identity_error: ZafkaError | None = None

    # -- thread body ---------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # noqa: BLE001 - never leave futures hanging
            self.crashed = exc
            log.exception("the producer's sender thread crashed; failing every pending record")
            self._abort(UnknownServerError(f"the producer's sender thread crashed: {exc!r}; create a new Producer"))
        finally:
            self.pool.close()
            self.waker.close()  # send() may still call wake(): the waker makes that a no-op

    def _loop(self) -> None:
        while True:
            now = time.monotonic()
            self._drain(now)
            if self.stop_marker is not None:
                if self.stop_marker.force or self.outstanding == 0:
                    self._abort(ClientClosed("the producer was closed before the record was acknowledged"))
                    return
            self._refresh_metadata(now)
            if now >= self._next_expiry_check:
                self._expire(now)
                self._next_expiry_check = now + _EXPIRY_CHECK
            if self.idempotent and self.producer_id < 0:
                self._request_identity(now)
            self._send_ready(now)
            timeout = self._wait_time(time.monotonic())
            self.idle = True
            if self.incoming:
                timeout = 0.0
            events = self.pool.poll(timeout * 1000)
            self.idle = False
            for event in events:
                if isinstance(event.context, _IdentityRequest):
                    self._on_identity(event)
                elif isinstance(event, Reply):
                    self._on_reply(event.context, event.response)
                else:
                    self._on_failure(event.context, event.error)

    def _skip(self):
        """Partitions the sender cannot send now: in flight, leaderless or behind a busy leader."""
        if not self.no_leader and not self.blocked:
            return self.in_flight
        return self.in_flight.keys() | self.no_leader | self.blocked

    def _wait_time(self, now: float) -> float:
        if self.idempotent and self.producer_id < 0 and self.outstanding:
            if self.identity_request is not None:  # its reply wakes the poll
                return _EXPIRY_CHECK
            return min(max(self.identity_retry_at - now, 0.0), _EXPIRY_CHECK)
        skip = self._skip()
        soonest = self.acc.next_ready_time(now, skip, bool(self.flushes))
        due = self.metadata.next_due() if self.outstanding else None
        if due is not None and (soonest is None or due < soonest):
            soonest = due
        cap = _EXPIRY_CHECK if self.outstanding else _IDLE_WAIT
        if soonest is None:
            return cap
        return min(max(soonest - now, 0.0), cap)

    # -- taking records in ---------------------------------------------------------------
    def _drain(self, now: float) -> None:
        incoming = self.incoming
        topics = self.metadata.topics
        pending = self.pending
        while incoming:
            item = incoming.popleft()
            if type(item) is not PendingRecord:
                self._on_marker(item)
                continue
            self.outstanding += 1
            seq = self.seq
            self.seq = seq + 1
            topic = item.topic
            if topic in topics and topic not in pending:
                self._route(item, seq, now)
            else:
                self._park(item, seq, now)

    def _route(self, record: PendingRecord, seq: int, now: float) -> None:
        """Pick the record's partition and append it to that partition's open batch."""
        topic, partition, key = record.topic, record.partition, record.key
        info = self.metadata.topics[topic]
        try:
            if partition is None:
                partition = self.partitioner.partition(topic, key, info.ids, info.available)
            elif partition not in info.partitions and self._await_partition(topic, partition, now):
                # the topic may have grown since this metadata: refresh and look again, for up to
                # max_block_ms, as Kafka's producer waits on metadata for a partition it does not know
                self._park(record, seq, now)
                return
            if partition not in info.partitions:
                raise UnknownTopicOrPartition(
                    f"partition {partition} of topic {topic!r} does not exist: it has partitions {info.ids}"
                )
        except Exception as exc:  # noqa: BLE001 - a user partitioner may raise anything
            self._fail_record(record, seq, exc)
            return
        self.partition_wait.pop((topic, partition), None)
        entry = _new(BatchedRecord, (record.future, record.callback, record.timestamp_ms, seq))
        self.acc.append((topic, partition), key, record.value, record.headers, record.timestamp_ms, entry,
                        record.size, now)

    def _await_partition(self, topic: str, partition: int, now: float) -> bool:
        """True while a record for an unknown partition may still wait for fresher metadata."""
        since = self.partition_wait.setdefault((topic, partition), now)
        if (now - since) * 1000 < self.cfg.max_block_ms:
            return True
        del self.partition_wait[(topic, partition)]
        return False

    def _park(self, record: PendingRecord, seq: int, now: float) -> None:
        """Hold a record until its topic's metadata is known (bounded by ``max_block_ms``)."""
        topic = record.topic
        if topic not in self.pending:
            self.pending[topic] = []
            self.pending_since[topic] = now
            self.metadata.request_update()
        self.pending[topic].append((record, seq))

    def _route_pending(self, now: float) -> None:
        for topic in list(self.pending):
            # metadata fetched after the records were parked (a record for a partition the
            # cached metadata lacked must see a newer answer, or it would be re-parked at once)
            if topic in self.metadata.topics and self.metadata.last_refresh >= self.pending_since[topic]:
                del self.pending_since[topic]
                for record, seq in self.pending.pop(topic):
                    self._route(record, seq, now)
                continue
            error = self.metadata.topic_errors.get(topic)
            waited = now - self.pending_since[topic]
            if error is not None and not error.retriable:
                self._fail_pending(topic, type(error)(f"cannot send to topic {topic!r}: {error}"))
            elif waited * 1000 >= self.cfg.max_block_ms:
                self._fail_pending(topic, self._no_metadata_error(topic, error))

    def _no_metadata_error(self, topic: str, topic_error: ZafkaError | None) -> ZafkaError:
        """Why a topic's records waited ``max_block_ms`` in vain, in the most useful type and words."""
        waited = f"after {self.cfg.max_block_ms:.0f} ms"
        if topic_error is None and self.metadata.last_error is not None:
            cause = self.metadata.last_error  # the cluster itself did not answer
            return type(cause)(f"no metadata for topic {topic!r} {waited}: {cause}")
        if topic_error is None or isinstance(topic_error, UnknownTopicOrPartition):
            return UnknownTopicOrPartition(
                f"topic {topic!r} does not exist ({waited}); create it first, or enable "
                "auto.create.topics.enable on the brokers"
            )
        return type(topic_error)(f"topic {topic!r} has no usable metadata {waited}: {topic_error}")

    def _fail_pending(self, topic: str, error: ZafkaError) -> None:
        parked = self.pending.pop(topic, [])
        self.pending_since.pop(topic, None)
        self.metadata.forget(topic)
        for record, seq in parked:
            self._fail_record(record, seq, error)

    def _on_marker(self, marker) -> None:
        if isinstance(marker, FlushMarker):
            marker.seq = self.seq
            marker.remaining = self.outstanding
            if marker.remaining == 0:
                marker.event.set()
            else:
                self.flushes.append(marker)
        elif isinstance(marker, StopMarker):
            self.stop_marker = marker

    # -- metadata ----------------------------------------------------------------------
    def _wanted_topics(self) -> set:
        wanted = set(self.pending)
        wanted.update(tp[0] for tp in self.acc.partitions())
        wanted.update(tp[0] for tp in self.in_flight)
        return wanted

    def _refresh_metadata(self, now: float) -> None:
        if now - self.metadata.last_refresh > self.cfg.metadata_max_age_ms / 1000:
            self.metadata.request_update()
        if self.metadata.due():
            wanted = self._wanted_topics()
            if wanted and self.metadata.refresh_if_due(wanted):
                self.no_leader.clear()
                self._abandon_moved()
        if self.pending:
            self._route_pending(time.monotonic())

    # -- idempotence ---------------------------------------------------------------------
    def _request_identity(self, now: float) -> None:
        """Ask a broker for a producer id (once records wait for one, one request at a time)."""
        if self.identity_request is not None or now < self.identity_retry_at or not self.outstanding:
            return
        endpoints = self.metadata.endpoints()
        endpoint = endpoints[self.identity_attempts % len(endpoints)]
        request = self.identity_request = _IdentityRequest()
        try:
            self.pool.send(endpoint, InitProducerId(), timeout_ms=self.cfg.request_timeout_ms, context=request)
        except ZafkaError as exc:
            self._identity_failed(exc, now)

    def _on_identity(self, event) -> None:
        if event.context is not self.identity_request:
            return
        now = time.monotonic()
        if not isinstance(event, Reply):
            self._identity_failed(event.error, now)
            return
        response = event.response
        if response.error or not isinstance(response, InitProducerIdResponse):
            error = error_for(response.error, response.message) if response.error else UnknownServerError(
                f"unexpected reply {type(response).__name__} to InitProducerId")
            if not error.retriable:
                self._fail_all_waiting(type(error)(f"no producer id for the idempotent producer: {error}"))
            self._identity_failed(error, now)
            return
        self.identity_request = None
        self.identity_attempts = 0
        self.identity_error = None
        self.producer_id, self.producer_epoch = response.producer_id, response.producer_epoch
        log.debug("idempotent producer id %d epoch %d", self.producer_id, self.producer_epoch)

    def _identity_failed(self, error: ZafkaError, now: float) -> None:
        self.identity_request = None
        self.identity_error = error
        self.identity_attempts += 1
        backoff = min(self.cfg.retry_backoff_ms * 2 ** (self.identity_attempts - 1), self.cfg.retry_backoff_max_ms)
        self.identity_retry_at = now + backoff / 1000
        log.debug("InitProducerId failed (%s); retrying in %.0f ms", error, backoff)

    def _fail_all_waiting(self, error: ZafkaError) -> None:
        """A refusal no retry can change: every record waiting in the accumulator fails with it."""
        for batch in self.acc.abort_all():
            self._complete_batch(batch, -1, error)

    def _number(self, batches: list[ProducerBatch]) -> None:
        """Give each batch that has none the partition's next sequence under this producer id."""
        for batch in batches:
            if batch.sequence >= 0:
                continue  # a retry resends the very numbers it was first sent with
            tp = batch.tp
            seq = self.next_sequence.get(tp, 0)
            batch.producer_id, batch.sequence = self.producer_id, seq
            batch.data = with_producer_state(batch.data, self.producer_id, self.producer_epoch, seq)
            self.next_sequence[tp] = (seq + len(batch)) & 0x7FFFFFFF  # sequences wrap after 2**31 - 1

    def _sequence_broken(self, tp) -> None:
        """A numbered batch of ``tp`` failed for good: the sequence cannot go on past it. Take a new
        producer id (nothing of ``tp`` is in flight now).

        ``tp``'s batches never sent are numbered afresh under it. Those already sent keep
        their numbers — one may be stored, and renumbering it would store it twice;
        if it is not, the broker refuses it (``OutOfOrderSequenceNumber``) and its
        records fail with that error, never silently duplicated. A request never mixes
        producer ids (``RecordAccumulator.drain``), so such a refusal takes no fresh
        batch with it.
        """
        if self.producer_id >= 0:
            log.warning("%s-%d: a numbered batch failed for good; the idempotent producer takes a new producer id",
                        tp[0], tp[1])
        self.producer_id = self.producer_epoch = -1
        self.next_sequence.clear()
        for batch in self.acc.queued(tp):
            if batch.attempts == 0:
                batch.producer_id = batch.sequence = -1

    # -- sending -----------------------------------------------------------------------
    def _send_ready(self, now: float) -> None:
        self.blocked.clear()
        if self.idempotent and self.producer_id < 0:
            return  # batches wait for the producer id
        for tp in self.acc.ready(now, self._skip(), bool(self.flushes)):
            endpoint = self.metadata.leader_endpoint(*tp)
            if endpoint is None:
                self.no_leader.add(tp)
                self.metadata.request_update()
                continue
            if self.pool.in_flight(endpoint) >= self.cfg.max_in_flight:
                self.blocked.add(tp)  # that endpoint's next reply wakes the thread
                continue
            if self.idempotent:
                batches = self.acc.drain(tp, self.cfg.max_request_size, IDEMPOTENT_BATCHES_PER_REQUEST,
                                         self.producer_id)
                self._number(batches)
            else:
                batches = self.acc.drain(tp, self.cfg.max_request_size)
            data = batches[0].data if len(batches) == 1 else b"".join(b.data for b in batches)
            request = Produce(topic=tp[0], partition=tp[1], acks=self.cfg.acks,
                              timeout_ms=int(self.cfg.request_timeout_ms))
            for batch in batches:
                batch.attempts += 1
            try:
                if self.cfg.acks == 0:
                    self.pool.send(endpoint, request, [data], timeout_ms=0, expect_reply=False)
                else:
                    flight = _InFlight(tp, batches, endpoint, now)
                    self.pool.send(endpoint, request, [data], timeout_ms=self.cfg.request_timeout_ms + 1000,
                                   context=flight)
                    self.in_flight[tp] = flight
            except ZafkaError as exc:
                self._retry_or_fail(tp, batches, exc, now)
                continue
            if self.cfg.acks == 0:
                for batch in batches:
                    self._complete_batch(batch, -1, None)

    # -- replies -------------------------------------------------------------------------
    def _on_reply(self, flight: _InFlight, response) -> None:
        if self.in_flight.get(flight.tp) is flight:
            del self.in_flight[flight.tp]
        if response.error:
            error = error_for(response.error, response.message)
            # KIP-951: a NOT_LEADER naming the new leader is retried there at once, no backoff, no refresh
            moved = moved_by_hint(self.metadata, flight.tp, error, response)
            self._on_failure(flight, error, popped=True, moved=moved)
            return
        if not isinstance(response, ProduceResponse):
            self._on_failure(flight, UnknownServerError(f"unexpected reply {type(response).__name__} to a produce"),
                             popped=True)
            return
        offset = response.base_offset
        append_time = response.log_append_time
        if response.batch_offsets and len(response.batch_offsets) == len(flight.batches):
            # some batches were stored by an earlier attempt: each one's offset is where it was stored
            for batch, offset in zip(flight.batches, response.batch_offsets):
                self._complete_batch(batch, offset, None, append_time)
            return
        for batch in flight.batches:
            count = len(batch)  # completion empties the batch
            self._complete_batch(batch, offset, None, append_time)
            offset += count

    def _on_failure(self, flight: _InFlight, error: ZafkaError, popped: bool = False, moved: bool = False) -> None:
        if not popped and self.in_flight.get(flight.tp) is flight:
            del self.in_flight[flight.tp]
        now = time.monotonic()
        if isinstance(error, RecordTooLarge) and len(flight.batches) > 1:
            for batch in flight.batches:  # find the oversized one: send each alone
                batch.solo = True
                batch.attempts -= 1
            self.acc.reenqueue(flight.batches, now)
            return
        if isinstance(error, _METADATA_ERRORS) and not moved:
            self.metadata.request_update()
        self._retry_or_fail(flight.tp, flight.batches, error, now, backoff=not moved)

    def _retry_or_fail(self, tp, batches: list[ProducerBatch], error: ZafkaError, now: float,
                       backoff: bool = True) -> None:
        cfg = self.cfg
        retry, failed = [], []
        for batch in batches:
            batch.last_error = error
            expired = (now - batch.created) * 1000 >= cfg.delivery_timeout_ms
            if error.retriable and batch.attempts <= cfg.retries and not expired:
                retry.append(batch)
            else:
                failed.append(batch)
        broken = any(b.sequence >= 0 for b in failed) or isinstance(error, _SEQUENCE_BREAKING)
        for batch in failed:
            self._complete_batch(batch, -1, self._final_error(batch, error))
        if retry:
            attempts = max(b.attempts for b in retry)
            delay = min(cfg.retry_backoff_ms * 2 ** (attempts - 1), cfg.retry_backoff_max_ms) / 1000 if backoff else 0.0
            log.debug("retrying %d batches of %s-%d in %.3f s after %s", len(retry), tp[0], tp[1], delay, error)
            self.acc.reenqueue(retry, now + delay)
        if broken and self.idempotent:
            self._sequence_broken(tp)

    def _final_error(self, batch: ProducerBatch, error: ZafkaError) -> ZafkaError:
        if not error.retriable:
            return error
        return type(error)(
            f"{len(batch)} records for {batch.tp[0]}-{batch.tp[1]} failed after {batch.attempts} attempts "
            f"in {(time.monotonic() - batch.created) * 1000:.0f} ms: {error}"
        )

    def _abandon_moved(self) -> None:
        """Fail requests in flight to a leader the metadata no longer names (a frozen or fenced one
        answers nothing): they are retried against the new leader instead of waiting out the request
        timeout. The old leader cannot acknowledge them any more; what it wrote it truncates."""
        for tp, flight in list(self.in_flight.items()):
            now_leader = self.metadata.leader_endpoint(*tp)
            if now_leader is not None and now_leader != flight.endpoint:
                error = NotLeader(f"{tp[0]}-{tp[1]} moved from {flight.endpoint} to {now_leader}")
                for failure in self.pool.fail_endpoint(flight.endpoint, error):
                    self._on_failure(failure.context, failure.error)

    def _expire(self, now: float) -> None:
        if any(now - f.sent_at > _STALL_S for f in self.in_flight.values()):
            self.metadata.request_update()  # a stalled leader may have been replaced: look
        for batch in self.acc.expire(now, self.cfg.delivery_timeout_ms / 1000):
            cause = batch.last_error
            text = (
                f"{len(batch)} records for {batch.tp[0]}-{batch.tp[1]} expired: delivery_timeout_ms="
                f"{self.cfg.delivery_timeout_ms:.0f} passed after {batch.attempts} attempts"
            )
            if cause is None and batch.tp in self.no_leader:
                cause = LeaderNotAvailable(f"{batch.tp[0]}-{batch.tp[1]} has no leader")
            if cause is None and self.idempotent and self.producer_id < 0 and self.identity_error is not None:
                cause = self.identity_error  # the records waited for a producer id in vain
            error = type(cause)(f"{text}: {cause}") if cause is not None else RequestTimedOut(text)
            numbered = batch.sequence >= 0
            self._complete_batch(batch, -1, error)
            if numbered:
                self._sequence_broken(batch.tp)

    # -- completion ----------------------------------------------------------------------
    def _complete_batch(self, batch: ProducerBatch, base_offset: int, error, append_time: int = -1) -> None:
        """Complete every record of ``batch`` (emptying it); on success they start at ``base_offset``."""
        entries, batch.entries = batch.entries, []
        topic, partition = batch.tp
        self._complete(topic, partition, entries, error, base_offset, append_time, batch.size - HEADER_SIZE)

    def _fail_record(self, record: PendingRecord, seq: int, error) -> None:
        """Fail a record that never reached a batch (taken in as number ``seq``)."""
        entry = _new(BatchedRecord, (record.future, record.callback, record.timestamp_ms, seq))
        self._complete(record.topic, record.partition, [entry], error, size=record.size)

    def _complete(self, topic: str, partition: int | None, entries: list, error, base_offset: int = -1,
                  append_time: int = -1, size: int = 0) -> None:
        """The one way the sender completes records: ``complete_records``, then the bookkeeping.

        Flushes waiting for these records count down and ``size`` bytes of buffer
        memory are released, once for all of them.
        """
        complete_records(entries, topic, partition, error, self.interceptors, base_offset, append_time)
        self.outstanding -= len(entries)
        if self.flushes:
            self._count_down_flushes(entries)
        if size:
            self.release(size)

    def _count_down_flushes(self, entries: list) -> None:
        """These records completed: each flush queued after some of them waits for that many fewer."""
        for marker in self.flushes:
            marker.remaining -= sum(1 for entry in entries if entry.seq < marker.seq)
            if marker.remaining == 0:
                marker.event.set()
        self.flushes = [m for m in self.flushes if m.remaining > 0]

    def _abort(self, error: ZafkaError) -> None:
        """Fail everything not yet acknowledged (close without flush, or a crash)."""
        batches = self.acc.abort_all()
        for flight in self.in_flight.values():
            batches.extend(flight.batches)
        self.in_flight.clear()
        for batch in batches:
            if batch.entries:
                self._complete_batch(batch, -1, error)
        for topic in list(self.pending):
            self._fail_pending(topic, error)
        while self.incoming:
            item = self.incoming.popleft()
            if type(item) is PendingRecord:
                self.outstanding += 1
                self._fail_record(item, self.seq, error)
            elif isinstance(item, FlushMarker):
                item.event.set()
        for marker in self.flushes:
            marker.event.set()
        self.flushes = []
