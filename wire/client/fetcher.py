"""The consumer's engine: per-partition positions, fetches in flight, buffered batches.

Every assigned partition has at most one fetch in flight and at most one fetched
response waiting undecoded; a response is decoded (decompressed, records built)
only when the user needs its records, and the next fetch goes out at that moment.
So while the user works through one response, the next one is already on its way
— and all partitions fetch in parallel, each from its own leader.

Positions follow Kafka: ``position`` is the offset of the next record ``poll``
returns. A fetch may return a batch starting before the requested offset (a batch
is atomic); records below it are skipped. Unknown positions are resolved by
``ListOffsets`` per ``auto_offset_reset``; an out-of-range fetch resets the same way.

Single-threaded: the consumer's thread drives it through ``run``.
"""

from __future__ import annotations

import logging
import time

from storage.batch import iter_batches
from storage.errors import CorruptRecordError
from wire.client.errors import NoOffsetForPartition
from wire.client.metadata import ClusterMetadata, moved_by_hint
from wire.client.records import ConsumerRecord, TopicPartition
from wire.connections import ConnectionPool, Reply
from wire.errors import (
    METADATA_REFRESH_ERRORS,
    CorruptRecord,
    OffsetOutOfRange,
    RequestTimedOut,
    UnknownServerError,
    UnknownTopicOrPartition,
    ZafkaError,
    error_for,
)
from wire.fetch import EARLIEST, LATEST, Fetch, FetchResponse, ListOffsets, ListOffsetsResponse

log = logging.getLogger(__name__)

_new = tuple.__new__
_METADATA_ERRORS = METADATA_REFRESH_ERRORS
RESETS = {"earliest": EARLIEST, "latest": LATEST, "none": None}


class AssignedPartition:
    """One partition assigned to the consumer: its position, its requests in flight, its buffered records."""

    __slots__ = (
        "tp", "position", "fetch_offset", "fetching", "payload", "records", "index", "records_end",
        "reset_to", "resetting", "epoch", "high_watermark", "log_start_offset", "retry_at", "error",
        "backoff", "awaiting_committed",
    )

    def __init__(self, tp: TopicPartition):
        self.tp = tp
        self.position: int | None = None  # next offset poll() returns
        self.fetch_offset: int | None = None  # next offset to fetch (end of buffered data)
        self.fetching: int | None = None  # corr of the fetch in flight
        self.payload = None  # (frame, from_offset, end_offset) fetched, not decoded yet
        self.records: list = []
        self.index = 0
        self.records_end = 0
        self.reset_to: int | None = None  # EARLIEST/LATEST: ListOffsets before fetching
        self.resetting: int | None = None  # corr of the ListOffsets in flight
        self.epoch = 0  # bumped by seeks; replies to older requests are dropped
        self.high_watermark = -1
        self.log_start_offset = -1
        self.retry_at = 0.0
        self.error: ZafkaError | None = None
        self.backoff = 0.0
        self.awaiting_committed = False  # a group's new partition: its position is the committed offset

    def has_records(self) -> bool:
        return self.index < len(self.records) or self.payload is not None


class Fetcher:
    def __init__(self, pool: ConnectionPool, metadata: ClusterMetadata, *, auto_offset_reset: str,
                 fetch_max_wait_ms: float, fetch_min_bytes: int, max_partition_fetch_bytes: int,
                 fetch_max_bytes: int, request_timeout_ms: float, retry_backoff_ms: float,
                 retry_backoff_max_ms: float, check_crcs: bool = True, key_deserializer=None,
                 value_deserializer=None):
        self.pool = pool
        self.metadata = metadata
        self.reset_policy = RESETS[auto_offset_reset]
        self.auto_offset_reset = auto_offset_reset
        self.max_wait_ms = fetch_max_wait_ms
        self.min_bytes = fetch_min_bytes
        self.partition_bytes = max_partition_fetch_bytes
        self.max_bytes = fetch_max_bytes
        self.request_timeout_ms = request_timeout_ms
        self.backoff_min = retry_backoff_ms / 1000
        self.backoff_max = max(retry_backoff_max_ms, retry_backoff_ms) / 1000
        self.check_crcs = check_crcs
        self.key_deserializer = key_deserializer
        self.value_deserializer = value_deserializer
        self.states: dict[TopicPartition, AssignedPartition] = {}
        self.buffered_bytes = 0
        self._rotation = 0
        self._lookups: dict[object, dict] = {}  # token -> {tp: offset or error}

    # -- assignment and positions ---------------------------------------------------------------
    def assign(self, tps) -> None:
        keep = {}
        for tp in tps:
            keep[tp] = self.states.get(tp) or AssignedPartition(tp)
        for tp, state in self.states.items():
            if tp not in keep:
                self._drop_buffers(state)
        self.states = keep

    def _drop_buffers(self, state: AssignedPartition) -> None:
        if state.fetching is not None:
            self.pool.cancel(state.fetching)
            state.fetching = None
        if state.resetting is not None:
            self.pool.cancel(state.resetting)
            state.resetting = None
        if state.payload is not None:
            self.buffered_bytes -= len(state.payload[0])
            state.payload = None
        state.records = []
        state.index = 0
        state.epoch += 1
        state.error = None
        state.retry_at = 0.0

    def seek(self, state: AssignedPartition, offset: int) -> None:
        self._drop_buffers(state)
        state.position = state.fetch_offset = offset
        state.reset_to = None
        state.awaiting_committed = False

    def request_reset(self, state: AssignedPartition, timestamp: int) -> None:
        self._drop_buffers(state)
        state.position = state.fetch_offset = None
        state.reset_to = timestamp
        state.awaiting_committed = False

    def await_committed(self, state: AssignedPartition) -> None:
        """Hold the partition (no fetch, no reset) until the group's committed offset is looked up."""
        self._drop_buffers(state)
        state.position = state.fetch_offset = None
        state.reset_to = None
        state.awaiting_committed = True

    # -- requests -----------------------------------------------------------------------------------
    def send_requests(self, now: float) -> None:
        need_metadata = False
        for state in self.states.values():
            if state.retry_at > now or state.fetching is not None or state.resetting is not None \
                    or state.awaiting_committed:
                continue
            if state.position is None and state.reset_to is None:
                if self.reset_policy is None:
                    if state.error is None:
                        state.error = NoOffsetForPartition(
                            f"no position for {state.tp.topic}-{state.tp.partition} and auto_offset_reset='none'; "
                            "call seek(), seek_to_beginning() or seek_to_end() first"
                        )
                    continue
                state.reset_to = self.reset_policy
            if state.reset_to is None and (state.payload is not None or self.buffered_bytes >= self.max_bytes):
                continue  # one response waiting per partition, and a bound on everything buffered
            endpoint = self.metadata.leader_endpoint(*state.tp)
            if endpoint is None:
                need_metadata = True
                continue
            try:
                if state.reset_to is not None:
                    request = ListOffsets(topic=state.tp.topic, partition=state.tp.partition, timestamp=state.reset_to)
                    state.resetting = self.pool.send(endpoint, request, timeout_ms=self.request_timeout_ms,
                                                     context=("reset", state, state.epoch))
                else:
                    request = Fetch(topic=state.tp.topic, partition=state.tp.partition, offset=state.fetch_offset,
                                    max_bytes=self.partition_bytes, max_wait_ms=int(self.max_wait_ms),
                                    min_bytes=self.min_bytes)
                    state.fetching = self.pool.send(endpoint, request,
                                                    timeout_ms=self.max_wait_ms + self.request_timeout_ms,
                                                    context=("fetch", state, state.epoch))
            except ZafkaError as exc:
                self._retriable(state, exc, now)
        if need_metadata:
            self.metadata.request_update()

    def refresh_metadata(self, extra_topics=()) -> None:
        topics = {tp.topic for tp in self.states} | set(extra_topics)
        if topics:
            self.metadata.refresh_if_due(topics)

    def next_wakeup(self, now: float) -> float | None:
        """Clock time something needs doing without a reply: a backoff ends, or metadata is due."""
        times = [s.retry_at for s in self.states.values() if s.retry_at > now]
        due = self.metadata.next_due() if self.states else None
        if due is not None:
            times.append(due)
        return min(times, default=None)

    # -- replies --------------------------------------------------------------------------------------
    def handle(self, events: list) -> None:
        now = time.monotonic()
        for event in events:
            kind = event.context[0]
            if kind == "lookup":
                self._on_lookup(event)
                continue
            _, state, epoch = event.context
            if epoch != state.epoch or self.states.get(state.tp) is not state:
                continue  # the user seeked or unassigned meanwhile; a newer request may be in flight
            if kind == "fetch":
                state.fetching = None
            else:
                state.resetting = None
            if not isinstance(event, Reply):
                self._retriable(state, event.error, now)
                continue
            response = event.response
            if response.error:
                error = error_for(response.error, response.message)
                if moved_by_hint(self.metadata, state.tp, error, response):
                    state.retry_at, state.backoff = 0.0, 0.0  # KIP-951: the new leader, at once, no refresh
                    continue
                self._on_error(state, error, now)
            elif kind == "fetch" and isinstance(response, FetchResponse):
                self._on_fetched(state, response, event.payload)
            elif kind == "reset" and isinstance(response, ListOffsetsResponse):
                state.position = state.fetch_offset = response.offset
                state.reset_to = None
                state.backoff = 0.0
            else:
                self._on_error(state, UnknownServerError(f"unexpected reply {type(response).__name__}"), now)

    def _on_fetched(self, state: AssignedPartition, response: FetchResponse, payload: list) -> None:
        state.high_watermark = response.high_watermark
        state.log_start_offset = response.log_start_offset
        state.backoff = 0.0
        if not payload or not len(payload[0]):
            return
        frame = payload[0]
        start = state.fetch_offset
        end = start
        try:
            for batch in iter_batches(frame.buffer):
                end = max(end, batch.next_offset)
        except CorruptRecordError as exc:
            state.error = CorruptRecord(f"{state.tp.topic}-{state.tp.partition} at offset {start}: {exc}")
            state.retry_at = time.monotonic() + self.backoff_max
            return
        if end == start:
            state.error = CorruptRecord(
                f"{state.tp.topic}-{state.tp.partition}: the fetch at offset {start} returned no whole batch"
            )
            state.retry_at = time.monotonic() + self.backoff_max
            return
        state.payload = (frame, start, end)
        state.fetch_offset = end
        self.buffered_bytes += len(frame)

    def _on_error(self, state: AssignedPartition, error: ZafkaError, now: float) -> None:
        if isinstance(error, OffsetOutOfRange):
            tp = state.tp
            if self.reset_policy is None:
                state.error = OffsetOutOfRange(
                    f"offset {state.fetch_offset} of {tp.topic}-{tp.partition} is out of range ({error}); "
                    "auto_offset_reset='none': seek to a valid offset"
                )
                state.retry_at = now + self.backoff_max
                return
            log.info("offset %s of %s-%d is out of range; resetting to the %s offset",
                     state.fetch_offset, tp.topic, tp.partition, self.auto_offset_reset)
            self.request_reset(state, self.reset_policy)
            return
        if error.retriable:
            self._retriable(state, error, now)
            return
        state.error = error
        state.retry_at = now + self.backoff_max

    def _retriable(self, state: AssignedPartition, error: ZafkaError, now: float) -> None:
        if isinstance(error, _METADATA_ERRORS):
            self.metadata.request_update()
        state.backoff = min(max(state.backoff * 2, self.backoff_min), self.backoff_max)
        state.retry_at = now + state.backoff
        log.debug("%s-%d: %s; retrying in %.3f s", state.tp.topic, state.tp.partition, error, state.backoff)

    # -- handing records out -------------------------------------------------------------------------
    def take_error(self) -> ZafkaError | None:
        for state in self.states.values():
            if state.error is not None and not state.has_records():
                error, state.error = state.error, None
                return error
        return None

    def collect(self, max_records: int) -> list:
        out: list = []
        states = list(self.states.values())
        if not states:
            return out
        self._rotation = (self._rotation + 1) % len(states)
        for state in states[self._rotation:] + states[: self._rotation]:
            while len(out) < max_records:
                records = state.records
                if state.index < len(records):
                    start = state.index
                    stop = min(len(records), start + max_records - len(out))
                    out.extend(records[start:stop])
                    state.index = stop
                    if stop == len(records):
                        state.position = state.records_end
                        state.records = []
                        state.index = 0
                    else:
                        state.position = records[stop - 1].offset + 1
                elif state.payload is not None:
                    self._decode(state)
                else:
                    break
            if len(out) >= max_records:
                break
        return out

    def _decode(self, state: AssignedPartition) -> None:
        frame, start, end = state.payload
        state.payload = None
        self.buffered_bytes -= len(frame)
        topic, partition = state.tp
        out: list = []
        append = out.append
        kd, vd = self.key_deserializer, self.value_deserializer
        try:
            for batch in iter_batches(frame.buffer, validate=self.check_crcs):
                if batch.next_offset <= start or batch.is_control:
                    continue
                for r in batch.records():
                    offset = r.offset
                    if offset < start:
                        continue
                    key, value = r.key, r.value
                    if kd is not None and key is not None:
                        key = kd(key)
                    if vd is not None and value is not None:
                        value = vd(value)
                    append(_new(ConsumerRecord, (topic, partition, offset, key, value, r.headers, r.timestamp)))
        except CorruptRecordError as exc:
            # Hand out what decoded cleanly; the error follows, and fetching resumes after
            # the user seeks past the bad batch.
            state.error = CorruptRecord(f"{topic}-{partition}: {exc}; seek past it to skip the batch")
            end = out[-1].offset + 1 if out else start
            state.fetch_offset = end
            state.retry_at = float("inf")
        state.records = out
        state.index = 0
        state.records_end = end
        if not out:
            state.position = end

    # -- offset lookups (beginning/end offsets, offsets for times) ---------------------------------------
    def lookup_offsets(self, requests: dict, deadline: float, wait) -> dict:
        """``{tp: timestamp}`` → ``{tp: offset}`` via ListOffsets to each leader, retrying until ``deadline``.

        ``wait(seconds)`` drives the pool (dispatching every other reply as usual) until
        something happens. A topic the metadata says does not exist fails at once.
        """
        token = object()
        answers: dict = {}
        self._lookups[token] = answers
        offsets: dict = {}
        outstanding: dict = {}
        retry_at: dict = {}
        last_error: ZafkaError | None = None
        try:
            while True:
                for tp, answer in list(answers.items()):
                    del answers[tp]
                    outstanding.pop(tp, None)
                    if isinstance(answer, int):
                        offsets[tp] = answer
                    elif not answer.retriable:
                        raise answer
                    else:
                        last_error = answer
                        retry_at[tp] = time.monotonic() + self.backoff_min
                if len(offsets) == len(requests):
                    return {tp: offsets[tp] for tp in requests}
                now = time.monotonic()
                if now >= deadline:
                    missing = ", ".join(f"{tp.topic}-{tp.partition}" for tp in requests if tp not in offsets)
                    text = f"no offsets for {missing} in time"
                    raise type(last_error)(f"{text}: {last_error}") if last_error else RequestTimedOut(text)
                leaderless = set()
                for tp in requests:
                    if tp in offsets or tp in outstanding or retry_at.get(tp, 0) > now:
                        continue
                    endpoint = self.metadata.leader_endpoint(*tp)
                    if endpoint is None:
                        leaderless.add(tp.topic)
                        continue
                    request = ListOffsets(topic=tp.topic, partition=tp.partition, timestamp=requests[tp])
                    try:
                        outstanding[tp] = self.pool.send(endpoint, request, timeout_ms=self.request_timeout_ms,
                                                         context=("lookup", token, tp))
                    except ZafkaError as exc:
                        last_error = exc
                        retry_at[tp] = now + self.backoff_min
                if leaderless:
                    self.metadata.request_update()
                    self.metadata.refresh_if_due(leaderless | {tp.topic for tp in self.states})
                    for topic in leaderless:
                        error = self.metadata.topic_errors.get(topic)
                        if isinstance(error, UnknownTopicOrPartition) or (error and not error.retriable):
                            raise error
                        if error is not None:
                            last_error = error
                    for tp in requests:
                        info = self.metadata.partitions(tp.topic)
                        if info is not None and tp.partition not in info:
                            raise UnknownTopicOrPartition(
                                f"topic {tp.topic!r} has no partition {tp.partition} (partitions {info})"
                            )
                pause = deadline - now
                if leaderless or retry_at:
                    pause = min(pause, self.backoff_min)
                wait(max(pause, 0.0))
        finally:
            for corr in outstanding.values():
                self.pool.cancel(corr)
            del self._lookups[token]

    def _on_lookup(self, event) -> None:
        _, token, tp = event.context
        results = self._lookups.get(token)
        if results is None:
            return
        if not isinstance(event, Reply):
            results[tp] = event.error
        elif event.response.error:
            error = error_for(event.response.error, event.response.message)
            results[tp] = error
            if isinstance(error, _METADATA_ERRORS):
                self.metadata.request_update()
        else:
            results[tp] = event.response.offset
