"""Client side of the ZeroMQ transport: a DEALER connection with correlation ids.

Why DEALER/ROUTER: one socket carries many requests in flight (a producer pipelines
batches to a leader) and ZeroMQ reconnects by itself when an actor restarts on the
same port, so a client only has to retry what timed out. A timed-out connection
is rebuilt (``reset``) so requests queued for a dead peer are dropped rather than
delivered late; replies to requests nobody waits for any more are discarded by
correlation id.
"""

from __future__ import annotations

import itertools
import os
import threading
import time

import zmq

from . import protocol, sockets
from .base import Request, Response
from .errors import RequestTimedOut, error_for

_corr = itertools.count(1)
_corr_lock = threading.Lock()


def next_corr() -> int:
    with _corr_lock:
        return next(_corr)


class Connection:
    """One DEALER socket to one endpoint; not thread-safe (one per thread)."""

    def __init__(self, endpoint: str, *, ctx: zmq.Context | None = None):
        self.endpoint = endpoint
        self._ctx = ctx or sockets.context()
        self._socket: zmq.Socket | None = None
        self._pid = os.getpid()
        self._open()

    def _open(self) -> None:
        sock = sockets.dealer(self._ctx)
        sock.connect(self.endpoint)
        self._socket = sock

    @property
    def socket(self) -> zmq.Socket:
        return self._socket

    def reset(self) -> None:
        """Drop the socket and everything queued on it; connect afresh."""
        self.close()
        self._open()

    def send(self, request: Request, frames=()) -> int:
        """Queue a request (with raw payload frames) and return its correlation id."""
        if not request.corr:
            request.corr = next_corr()
        header = protocol.encode(request)
        if frames:
            self._socket.send(header, zmq.SNDMORE, copy=False)
            last = len(frames) - 1
            for i, frame in enumerate(frames):
                self._socket.send(frame, zmq.SNDMORE if i < last else 0, copy=False)
        else:
            self._socket.send(header, copy=False)
        return request.corr

    def recv(self, timeout_ms: int) -> tuple[Response, list] | None:
        """The next reply and its payload frames, or ``None`` if none came in time."""
        if not self._socket.poll(timeout_ms, zmq.POLLIN):
            return None
        parts = self._socket.recv_multipart(copy=False)
        return protocol.decode_response(parts[0].buffer), parts[1:]

    def call(self, request: Request, frames=(), *, timeout_ms: int = 10_000, raise_errors: bool = True):
        """Send and wait for the matching reply; typed errors for error codes."""
        corr = self.send(request, frames)
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            left = int((deadline - time.monotonic()) * 1000)
            got = self.recv(max(left, 0)) if left > 0 else None
            if got is None:
                self.reset()
                raise RequestTimedOut(
                    f"no reply from {self.endpoint} to {type(request).__name__} within {timeout_ms} ms"
                )
            response, payload = got
            if response.corr != corr:
                continue  # a late reply to an earlier, abandoned request
            if raise_errors and response.error:
                raise error_for(response.error, response.message)
            return response, payload

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def call(endpoint: str, request: Request, frames=(), *, timeout_ms: int = 5_000, raise_errors: bool = True):
    """One request on a short-lived connection (admin commands, control messages)."""
    with Connection(endpoint) as conn:
        return conn.call(request, frames, timeout_ms=timeout_ms, raise_errors=raise_errors)
