"""Many requests in flight to many endpoints from one thread: the clients' I/O core.

A ``ConnectionPool`` keeps one DEALER ``Connection`` per endpoint, remembers every
request waiting for a reply (by correlation id, with a deadline and the caller's
context) and turns what happens into two kinds of events: ``Reply`` and
``Failure``. Producer, consumer and admin all drive it from a single thread, as
ZeroMQ sockets must never be shared between threads.

Why a socket monitor: ZeroMQ reconnects silently, so a killed leader would
otherwise only show up as a request timeout (30 s by default). The monitor reports
the TCP disconnect at once; every request in flight to that endpoint fails with
the retriable ``BrokerNotAvailable`` and the connection is rebuilt, which also
drops anything still queued for the dead peer — a request is either answered or
failed, never delivered late.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any, NamedTuple

import zmq
from zmq.utils.monitor import recv_monitor_message

from . import protocol, sockets
from .base import Request, Response
from .errors import BrokerNotAvailable, RequestTimedOut, ZafkaError
from .transport import Connection

log = logging.getLogger(__name__)

_MONITOR_EVENTS = zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED | zmq.EVENT_CONNECT_RETRIED


class Reply(NamedTuple):
    context: Any
    response: Response
    payload: list  # raw frames after the header (zmq.Frame)


class Failure(NamedTuple):
    context: Any
    error: ZafkaError


class Waker:
    """Lets another thread interrupt a pool's ``poll`` (a pipe the poller watches).

    ``wake`` and ``close`` share a lock so a late ``wake`` never writes into a file
    descriptor number the process has reused since.
    """

    def __init__(self):
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        os.set_blocking(self._w, False)
        self._lock = threading.Lock()
        self._closed = False

    def fileno(self) -> int:
        return self._r

    def wake(self) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                os.write(self._w, b"\0")
            except (BlockingIOError, OSError):
                pass  # the pipe is full: a wake-up is pending anyway

    def drain(self) -> None:
        try:
            while os.read(self._r, 4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            os.close(self._r)
            os.close(self._w)


class _MonitoredConnection(Connection):
    """A ``Connection`` whose socket never blocks on send and reports disconnects."""

    def __init__(self, endpoint: str, ctx: zmq.Context, monitor: bool):
        self._want_monitor = monitor
        self.monitor: zmq.Socket | None = None
        self.ever_connected = False  # tells "cannot connect" from "lost the connection"
        super().__init__(endpoint, ctx=ctx)

    def _open(self) -> None:
        sock = sockets.dealer(self._ctx, send_timeout_ms=0)  # a full queue fails the request, never blocks
        if self._want_monitor:
            self.monitor = sock.get_monitor_socket(_MONITOR_EVENTS)
        sock.connect(self.endpoint)
        self._socket = sock

    def close(self) -> None:
        if self.monitor is not None and self._socket is not None:
            try:
                self._socket.disable_monitor()
            except zmq.ZMQError:
                pass
            self.monitor.close(linger=0)
            self.monitor = None
        super().close()


class _Pending:
    __slots__ = ("endpoint", "deadline", "context", "request")

    def __init__(self, endpoint: str, deadline: float, context: Any, request: str):
        self.endpoint = endpoint
        self.deadline = deadline
        self.context = context
        self.request = request


class ConnectionPool:
    """Connections and in-flight requests of one thread (see module docstring)."""

    def __init__(self, *, waker: Waker | None = None, monitor: bool = True, ctx: zmq.Context | None = None):
        self._ctx = ctx or sockets.context()
        self._waker = waker
        self._monitor = monitor
        self._conns: dict[str, _MonitoredConnection] = {}
        self._pending: dict[int, _Pending] = {}
        self._by_endpoint: dict[str, set[int]] = {}
        self._backlog: list = []  # events seen by call() that belong to other requests
        self._poller: zmq.Poller | None = None
        self._socket_owner: dict = {}
        self._closed = False

    # -- connections -----------------------------------------------------------------
    def _conn(self, endpoint: str) -> _MonitoredConnection:
        conn = self._conns.get(endpoint)
        if conn is None:
            conn = self._conns[endpoint] = _MonitoredConnection(endpoint, self._ctx, self._monitor)
            self._poller = None
        return conn

    def _build_poller(self) -> zmq.Poller:
        poller = zmq.Poller()
        owner: dict = {}
        if self._waker is not None:
            poller.register(self._waker.fileno(), zmq.POLLIN)
        for conn in self._conns.values():
            poller.register(conn.socket, zmq.POLLIN)
            owner[conn.socket] = (conn, False)
            if conn.monitor is not None:
                poller.register(conn.monitor, zmq.POLLIN)
                owner[conn.monitor] = (conn, True)
        self._poller, self._socket_owner = poller, owner
        return poller

    def in_flight(self, endpoint: str) -> int:
        return len(self._by_endpoint.get(endpoint, ()))

    def pending_count(self) -> int:
        return len(self._pending)

    # -- requests --------------------------------------------------------------------
    def send(self, endpoint: str, request: Request, frames=(), *, timeout_ms: float, context: Any = None,
             expect_reply: bool = True) -> int:
        """Queue a request; its reply or failure comes out of ``poll`` with ``context``.

        Raises ``BrokerNotAvailable`` (retriable) when the endpoint's queue is full.
        """
        if self._closed:
            raise BrokerNotAvailable("the connection pool is closed")
        conn = self._conn(endpoint)
        request.corr = 0
        try:
            corr = conn.send(request, frames)
        except zmq.Again:
            raise BrokerNotAvailable(f"{endpoint} is not accepting requests (send queue full)") from None
        if expect_reply:
            self._pending[corr] = _Pending(endpoint, time.monotonic() + timeout_ms / 1000, context,
                                           type(request).__name__)
            self._by_endpoint.setdefault(endpoint, set()).add(corr)
        return corr

    def cancel(self, corr: int) -> None:
        """Forget a request; a reply that still comes is dropped."""
        pending = self._pending.pop(corr, None)
        if pending is not None:
            self._by_endpoint[pending.endpoint].discard(corr)

    def fail_endpoint(self, endpoint: str, error: ZafkaError) -> list[Failure]:
        """Fail everything in flight to ``endpoint`` and rebuild its connection."""
        failures = []
        for corr in sorted(self._by_endpoint.pop(endpoint, ())):
            pending = self._pending.pop(corr, None)
            if pending is not None:
                failures.append(Failure(pending.context, error))
        conn = self._conns.get(endpoint)
        if conn is not None:
            conn.reset()
            self._poller = None
        return failures

    def _expire(self, now: float, events: list) -> None:
        timed_out = [corr for corr, p in self._pending.items() if p.deadline <= now]
        for corr in timed_out:
            pending = self._pending.get(corr)
            if pending is None:
                continue  # failed with its endpoint just now
            error = RequestTimedOut(f"no reply from {pending.endpoint} to {pending.request} in time")
            # The connection is rebuilt, so whatever else was queued on it fails too.
            events.extend(self.fail_endpoint(pending.endpoint, error))

    def next_deadline(self) -> float | None:
        return min((p.deadline for p in self._pending.values()), default=None)

    def poll(self, timeout_ms: float) -> list:
        """Wait up to ``timeout_ms`` for events; returns every event available (maybe none)."""
        events, self._backlog = self._backlog, []
        now = time.monotonic()
        self._expire(now, events)
        if events:
            timeout_ms = 0
        deadline = self.next_deadline()
        if deadline is not None:
            timeout_ms = min(timeout_ms, max(0.0, (deadline - now) * 1000))
        poller = self._poller or self._build_poller()
        ready = poller.poll(max(0, int(timeout_ms + 0.999)) if timeout_ms > 0 else 0)
        for sock, _ in ready:
            if not isinstance(sock, zmq.Socket):
                self._waker.drain()
                continue
            owner = self._socket_owner.get(sock)
            if owner is None:
                continue  # a socket replaced while handling an earlier one
            conn, is_monitor = owner
            if is_monitor:
                self._on_monitor(conn, events)
            else:
                self._receive(conn, events)
        self._expire(time.monotonic(), events)
        return events

    def _receive(self, conn: _MonitoredConnection, events: list) -> None:
        sock = conn.socket
        while True:
            try:
                parts = sock.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            try:
                response = protocol.decode_response(parts[0].buffer)
            except protocol.FrameError as exc:
                log.warning("dropping a malformed reply from %s: %s", conn.endpoint, exc)
                continue
            pending = self._pending.pop(response.corr, None)
            if pending is None:
                continue  # a late reply to a request that timed out or was cancelled
            self._by_endpoint[pending.endpoint].discard(response.corr)
            events.append(Reply(pending.context, response, parts[1:]))

    def _on_monitor(self, conn: _MonitoredConnection, events: list) -> None:
        lost = False
        while conn.monitor is not None:
            try:
                event = recv_monitor_message(conn.monitor, zmq.NOBLOCK)
            except zmq.ZMQError:  # includes Again: nothing more to read
                break
            if event["event"] == zmq.EVENT_CONNECTED:
                conn.ever_connected = True
            elif event["event"] in (zmq.EVENT_DISCONNECTED, zmq.EVENT_CONNECT_RETRIED):
                lost = True
        if lost and self._by_endpoint.get(conn.endpoint):
            what = "lost the connection to" if conn.ever_connected else "cannot connect to"
            events.extend(self.fail_endpoint(conn.endpoint, BrokerNotAvailable(f"{what} {conn.endpoint}")))

    def call(self, endpoint: str, request: Request, frames=(), *, timeout_ms: float) -> tuple[Response, list]:
        """Send and wait for this request's reply; other requests' events are kept for ``poll``.

        Raises the failure's typed error (timeout, lost connection); error codes in
        the reply are the caller's to check.
        """
        token = object()
        self.send(endpoint, request, frames, timeout_ms=timeout_ms, context=token)
        deadline = time.monotonic() + timeout_ms / 1000 + 0.05
        kept: list = []
        try:
            while True:
                left = (deadline - time.monotonic()) * 1000
                events, self._backlog = self._backlog, []
                events.extend(self.poll(max(left, 0)) if left > 0 else [])
                for event in events:
                    if event.context is token:
                        kept.extend(e for e in events if e is not event and e.context is not token)
                        if isinstance(event, Failure):
                            raise event.error
                        return event.response, event.payload
                kept.extend(events)
                if left <= 0:
                    raise RequestTimedOut(f"no reply from {endpoint} to {type(request).__name__} in time")
        finally:
            self._backlog = kept + self._backlog

    def close(self) -> None:
        self._closed = True
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()
        self._pending.clear()
        self._by_endpoint.clear()
        self._poller = None
