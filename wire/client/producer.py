"""The producer: ``send`` returns a future at once; a background thread batches and delivers.

``send`` does the least it can on the caller's thread — interceptors, serializers,
a size check, a timestamp, reserving buffer memory — and appends one
``PendingRecord`` to a deque; the sender thread (``wire.client.sender``) owns every
socket, because ZeroMQ sockets are not thread-safe. Callbacks, interceptors'
``on_acknowledgement`` and future completion all run on that thread, in
per-partition order: keep them short.

Idempotence (``enable_idempotence``, Kafka's rule for its default): on when
``acks="all"`` unless set to False, and then a retried batch whose first attempt
was stored after all is answered with its stored offsets instead of being written
twice (``wire.client.sender``; the broker side is ``storage.producer_state``).
Order within a partition is kept either way (one request per partition in flight).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from storage import compression as _compression
from storage.batch import HEADER_SIZE
from storage.errors import UnsupportedCompressionError
from wire.client.accumulator import RECORD_OVERHEAD, record_size
from wire.client.errors import ClientClosed, ClientConfigError
from wire.client.futures import RecordFuture
from wire.client.interceptors import InterceptorChain
from wire.client.metadata import DEFAULT_BOOTSTRAP, ClusterMetadata, parse_bootstrap
from wire.client.partitioner import STRATEGIES
from wire.client.records import ProducerRecord
from wire.client.sender import BatchedRecord, FlushMarker, PendingRecord, Sender, StopMarker, complete_records
from wire.connections import ConnectionPool, Waker
from wire.errors import RecordTooLarge, RequestTimedOut, ZafkaError

log = logging.getLogger(__name__)

_new = tuple.__new__
_ACKS = {0: 0, 1: 1, -1: -1, "0": 0, "1": 1, "-1": -1, "all": -1}


@dataclass
class ProducerConfig:
    bootstrap: list[str]
    acks: int = 1
    compression: str = "none"
    partitioner: Any = "round_robin"
    linger_ms: float = 5
    batch_size: int = 65536
    max_request_size: int = 1048576
    buffer_memory: int = 33554432
    retries: int = 2147483647
    enable_idempotence: bool = False
    retry_backoff_ms: float = 100
    retry_backoff_max_ms: float = 1000
    request_timeout_ms: float = 30000
    delivery_timeout_ms: float = 120000
    max_block_ms: float = 5000
    metadata_timeout_ms: float = 5000
    metadata_max_age_ms: float = 300000
    max_in_flight: int = 5
    allow_auto_create_topics: bool = True


def _positive(name: str, value, *, zero_ok: bool = False):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0 or (value == 0 and not zero_ok):
        allowed = "a number >= 0" if zero_ok else "a number > 0"
        raise ClientConfigError(f"invalid value {value!r} for {name}: must be {allowed}")
    return value


def _to_bytes(value, what: str):
    if value is None or type(value) is bytes:
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError(
        f"the record {what} must be bytes, str or None, not {type(value).__name__}; "
        f"pass {what}_serializer= to the Producer to convert it"
    )


def _headers(headers) -> list:
    if not headers:
        return []
    items = headers.items() if isinstance(headers, dict) else headers
    out = []
    for key, value in items:
        if not isinstance(key, str):
            raise TypeError(f"header keys must be str, not {type(key).__name__}")
        out.append((key, _to_bytes(value, "header value")))
    return out


class BufferMemory:
    """Bytes of records handed to ``send`` and not completed yet, bounded by ``buffer_memory``.

    Shared by the producer (``reserve``) and its sender thread (``release``) so the
    thread holds no reference to the ``Producer``: an unclosed producer can still be
    garbage-collected, and its finalizer stops the thread.
    """

    __slots__ = ("limit", "used", "lock", "cond", "waiters", "closed")

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0
        self.lock = threading.Lock()  # entered directly on the hot path (a C-level lock)
        self.cond = threading.Condition(self.lock)  # the same lock, for waiting
        self.waiters = 0
        self.closed = False

    def reserve(self, size: int, max_block_s: float) -> bool:
        """Take ``size`` bytes, waiting up to ``max_block_s`` for completions to free them."""
        with self.lock:
            if self.used + size <= self.limit:
                self.used += size
                return True
            deadline = time.monotonic() + max_block_s
            self.waiters += 1
            try:
                while self.used + size > self.limit and self.used > 0:
                    left = deadline - time.monotonic()
                    if left <= 0 or self.closed:
                        return False
                    self.cond.wait(left)
            finally:
                self.waiters -= 1
            self.used += size
            return True

    def release(self, size: int) -> None:
        with self.lock:
            self.used -= size
            if self.waiters:
                self.cond.notify_all()

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.cond.notify_all()


def _stop_sender(incoming: deque, waker: Waker) -> None:
    """Finalizer of a producer dropped without ``close``: deliver what is queued, then stop."""
    incoming.append(StopMarker(force=False))
    waker.wake()


class Producer:
    """Publishes records to zafka topics (see README.md, "From Python", and the module docstring).

    Thread-safe: any number of threads may call ``send`` concurrently.
    """

    def __init__(
        self,
        bootstrap: str = DEFAULT_BOOTSTRAP,
        *,
        acks: int | str = 1,
        compression: str = "none",
        partitioner: Any = "round_robin",
        linger_ms: float = 5,
        batch_size: int = 65536,
        max_request_size: int = 1048576,
        buffer_memory: int = 33554432,
        retries: int = 2147483647,
        retry_backoff_ms: float = 100,
        retry_backoff_max_ms: float = 1000,
        request_timeout_ms: float = 30000,
        delivery_timeout_ms: float = 120000,
        max_block_ms: float = 5000,
        metadata_max_age_ms: float = 300000,
        enable_idempotence: bool | None = None,
        interceptors=None,
        max_in_flight: int = 5,
        key_serializer=None,
        value_serializer=None,
        allow_auto_create_topics: bool = True,
    ):
        if acks not in _ACKS:
            raise ClientConfigError(f"invalid value {acks!r} for acks: use 0, 1 or 'all' (-1)")
        try:
            _compression.codec_id(compression)
        except UnsupportedCompressionError as exc:
            raise ClientConfigError(f"invalid value {compression!r} for compression: {exc}") from None
        if not callable(partitioner) and partitioner not in STRATEGIES:
            raise ClientConfigError(
                f"invalid value {partitioner!r} for partitioner: use one of {', '.join(STRATEGIES)} "
                "or a callable (topic, key, partitions) -> partition"
            )
        for name, value, zero_ok in (
            ("linger_ms", linger_ms, True), ("batch_size", batch_size, False),
            ("max_request_size", max_request_size, False), ("buffer_memory", buffer_memory, False),
            ("retries", retries, True), ("retry_backoff_ms", retry_backoff_ms, True),
            ("retry_backoff_max_ms", retry_backoff_max_ms, True), ("request_timeout_ms", request_timeout_ms, False),
            ("delivery_timeout_ms", delivery_timeout_ms, False), ("max_block_ms", max_block_ms, True),
            ("max_in_flight", max_in_flight, False), ("metadata_max_age_ms", metadata_max_age_ms, False),
        ):
            _positive(name, value, zero_ok=zero_ok)
        if delivery_timeout_ms < linger_ms + request_timeout_ms:
            raise ClientConfigError(
                f"delivery_timeout_ms={delivery_timeout_ms} must be at least linger_ms + request_timeout_ms "
                f"({linger_ms + request_timeout_ms}), or no batch could be retried"
            )
        idempotent = _idempotence(enable_idempotence, _ACKS[acks], retries, max_in_flight)
        self.config = ProducerConfig(
            bootstrap=parse_bootstrap(bootstrap), acks=_ACKS[acks], compression=compression.lower(),
            partitioner=partitioner, linger_ms=linger_ms, batch_size=batch_size,
            max_request_size=max_request_size, buffer_memory=buffer_memory, retries=retries,
            retry_backoff_ms=retry_backoff_ms, retry_backoff_max_ms=retry_backoff_max_ms,
            request_timeout_ms=request_timeout_ms, delivery_timeout_ms=delivery_timeout_ms,
            max_block_ms=max_block_ms, metadata_timeout_ms=min(request_timeout_ms, 5000),
            metadata_max_age_ms=metadata_max_age_ms, max_in_flight=max_in_flight,
            allow_auto_create_topics=allow_auto_create_topics, enable_idempotence=idempotent,
        )
        self.enable_idempotence = idempotent
        self._record_limit = min(max_request_size, buffer_memory) - HEADER_SIZE
        self._key_serializer = key_serializer
        self._value_serializer = value_serializer
        self._interceptors = InterceptorChain(interceptors)
        self._incoming: deque = deque()
        self._memory = BufferMemory(buffer_memory)
        self._max_block_s = max_block_ms / 1000
        self._has_send_interceptors = self._interceptors.has_send
        self._closed = False
        self._close_lock = threading.Lock()
        self._waker = Waker()
        self._sender = Sender(self.config, self._incoming, self._waker, self._memory.release, self._interceptors)
        self._sender.start()
        weakref.finalize(self, _stop_sender, self._incoming, self._waker)

    # -- sending ---------------------------------------------------------------------------
    def send(self, topic: str, value=None, key=None, partition: int | None = None, headers=None,
             timestamp_ms: int | None = None, callback=None) -> Future:
        """Queue one record; the future resolves to its ``RecordMetadata`` once acknowledged.

        ``callback(metadata, exception)`` runs on the sender thread when the record
        completes (``metadata`` is None on failure).
        """
        if self._closed:
            raise ClientClosed("send() on a closed Producer; create a new one")
        if self._has_send_interceptors:
            topic, value, key, partition, headers, timestamp_ms = self._interceptors.on_send(
                ProducerRecord(topic, value, key, partition, headers, timestamp_ms)
            )
        if key is not None:
            if self._key_serializer is not None:
                key = self._key_serializer(key)
            if type(key) is not bytes:
                key = _to_bytes(key, "key")
        if value is not None:
            if self._value_serializer is not None:
                value = self._value_serializer(value)
            if type(value) is not bytes:
                value = _to_bytes(value, "value")
        if headers:
            headers = _headers(headers)
            size = record_size(key, value, headers)
        else:
            headers = None
            size = RECORD_OVERHEAD + (len(key) if key is not None else 0) + (len(value) if value is not None else 0)
        if timestamp_ms is None:
            timestamp_ms = time.time_ns() // 1_000_000
        future = RecordFuture()
        if size > self._record_limit:
            error = RecordTooLarge(
                f"a record of about {size + HEADER_SIZE} bytes exceeds max_request_size="
                f"{self.config.max_request_size}/buffer_memory={self.config.buffer_memory}"
            )
            return self._fail_now(future, callback, error)
        if not self._memory.reserve(size, self._max_block_s):
            return self._fail_now(future, callback, RequestTimedOut(
                f"send() waited {self.config.max_block_ms:.0f} ms for buffer space: buffer_memory="
                f"{self.config.buffer_memory} bytes are waiting for the cluster; slow down or raise "
                "buffer_memory/max_block_ms"
            ))
        record = _new(PendingRecord, (topic, partition, key, value, headers, timestamp_ms, future, callback, size))
        self._incoming.append(record)
        if self._sender.idle:
            self._sender.idle = False
            self._waker.wake()
        return future

    def _fail_now(self, future: Future, callback, error) -> Future:
        """Fail a record the sender thread never took in (so it has no sequence number)."""
        entry = _new(BatchedRecord, (future, callback, -1, -1))
        complete_records([entry], None, None, error, self._interceptors)  # no topic or partition: it failed
        return future

    # -- flushing and closing ----------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> None:
        """Send everything queued now without waiting for ``linger_ms``; wait until all of it completed.

        Raises ``RequestTimedOut`` if that takes longer than ``timeout`` seconds.
        """
        if threading.current_thread() is self._sender:
            raise RuntimeError("flush() from a producer callback would wait for itself; call it elsewhere")
        if not self._sender.is_alive():
            return
        marker = FlushMarker()
        self._incoming.append(marker)
        self._waker.wake()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
            if marker.event.wait(max(left, 0)):
                return
            if not self._sender.is_alive():
                return  # the thread stopped (closed or crashed): it failed every record
            if deadline is not None and time.monotonic() >= deadline:
                raise RequestTimedOut(f"flush() did not complete within {timeout} s; records are still in flight")

    def partitions_for(self, topic: str, timeout: float = 10.0) -> list[int]:
        """The topic's partition ids (auto-creating the topic if the producer and brokers allow it).

        Asked on the caller's thread with its own short-lived connections, so the
        sender thread never waits for it.
        """
        if self._closed:
            raise ClientClosed("partitions_for() on a closed Producer")
        deadline = time.monotonic() + timeout
        pool = ConnectionPool()
        try:
            metadata = ClusterMetadata(
                self.config.bootstrap, pool, timeout_ms=self.config.metadata_timeout_ms,
                allow_auto_create=self.config.allow_auto_create_topics,
            )
            backoff = self.config.retry_backoff_ms / 1000
            while True:
                try:
                    metadata.refresh([topic])
                    error = metadata.topic_errors.get(topic)
                except ZafkaError as exc:
                    error = exc
                parts = metadata.partitions(topic)
                if parts is not None:
                    return list(parts)
                if error is not None and not error.retriable or time.monotonic() + backoff >= deadline:
                    raise error or RequestTimedOut(f"no metadata for topic {topic!r} within {timeout} s")
                time.sleep(backoff)  # retry backoff while a new topic's leaders start
                backoff = min(backoff * 2, self.config.retry_backoff_max_ms / 1000)
        finally:
            pool.close()

    def close(self, timeout: float | None = None) -> None:
        """Deliver what is queued (at most ``timeout`` seconds), then stop; the rest fails with ``ClientClosed``."""
        with self._close_lock:
            if self._closed and not self._sender.is_alive():
                return
            self._closed = True
        self._memory.close()  # sends blocked on buffer space give up
        if threading.current_thread() is self._sender:
            self._incoming.append(StopMarker(force=True))  # from a callback: cannot wait for ourselves
            return
        deadline = None if timeout is None else time.monotonic() + timeout
        flushed = True
        try:
            self.flush(timeout)
        except RequestTimedOut:
            flushed = False
        self._incoming.append(StopMarker(force=not flushed))
        self._waker.wake()
        left = None if deadline is None else max(deadline - time.monotonic(), 0.1)
        self._sender.join(left)
        if self._sender.is_alive():
            log.warning("the producer's sender thread did not stop in time")
            return
        self._fail_leftovers()

    def _fail_leftovers(self) -> None:
        """Records a racing ``send`` queued after the sender's last look: fail them, never hang them."""
        error = ClientClosed("the producer was closed before the record was sent")
        while self._incoming:
            item = self._incoming.popleft()
            if type(item) is PendingRecord:
                self._fail_now(item.future, item.callback, error)
            elif isinstance(item, FlushMarker):
                item.event.set()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "Producer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Producer(bootstrap={','.join(self.config.bootstrap)!r}, acks={self.config.acks})"


def _idempotence(asked: bool | None, acks: int, retries: int, max_in_flight: int) -> bool:
    """Whether the producer is idempotent, by Kafka's rules (``ProducerConfig``, KIP-679).

    Asked for explicitly, it needs acks=all, retries > 0 and at most 5 requests in
    flight per connection, or the config is refused. Left unset it is on exactly
    when those hold (Kafka >= 3.2 turns it off quietly otherwise): zafka's default
    acks=1 leaves it off, acks="all" turns it on.
    """
    if asked is not None and not isinstance(asked, bool):
        raise ClientConfigError(f"invalid value {asked!r} for enable_idempotence: use True, False or None")
    conflicts = [text for bad, text in (
        (acks != -1, "acks must be 'all'"), (retries == 0, "retries must be above 0"),
        (max_in_flight > 5, "max_in_flight must be at most 5"),
    ) if bad]
    if asked and conflicts:
        raise ClientConfigError(f"enable_idempotence=True needs: {'; '.join(conflicts)}")
    return asked if asked is not None else not conflicts
