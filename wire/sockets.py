"""The ZeroMQ sockets zafka's clients, actors and supervisor open, built here so their options are set once.

Two shapes carry all request traffic:

- ``dealer``: the requesting side (clients, and actors talking to other actors).
  ``LINGER`` 0, because a request nobody waits for any more must never be delivered
  late when the socket closes; a high-water mark of ``CLIENT_HWM`` messages each way.
  ``send_timeout_ms=0`` makes a full send queue raise ``zmq.Again`` instead of
  blocking the thread (the clients' ``ConnectionPool`` turns that into a retriable
  error).
- ``router``: the serving side (each actor's socket, the supervisor's control
  socket). ``MAXMSGSIZE``: ZeroMQ disconnects a peer whose message is larger,
  before reading it into memory. ``ROUTER_MANDATORY`` stays 0, so a reply to a
  peer that has gone is dropped rather than raising. Actors pass
  ``linger_ms=ACTOR_LINGER_MS`` (a stopping actor gets half a second to flush its
  last replies) and ``hwm=ACTOR_HWM``; the supervisor's control socket keeps
  ZeroMQ's defaults.

``push`` is the in-process outbox an actor's handlers reply through
(``linger_ms=OUTBOX_LINGER_MS``).

The factories return unconnected, unbound sockets; callers ``connect``/``bind``.
(Tests that speak raw or hostile frames build their own sockets on purpose.)
"""

from __future__ import annotations

import zmq

CLIENT_HWM = 10_000  # messages queued per DEALER socket, each way
ACTOR_HWM = 100_000  # messages queued per actor ROUTER socket, each way
ACTOR_LINGER_MS = 500  # how long a closing actor socket keeps flushing replies
OUTBOX_LINGER_MS = 1_000  # how long an actor's closing outbox keeps handing replies to its socket
ZMQ_DEFAULT_HWM = 1_000  # ZeroMQ's own default


def context() -> zmq.Context:
    """The process's ZeroMQ context (created lazily, after any fork)."""
    return zmq.Context.instance()


def dealer(ctx: zmq.Context | None = None, *, send_timeout_ms: int | None = None) -> zmq.Socket:
    """A DEALER socket for sending requests (see the module docstring)."""
    sock = (ctx or context()).socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, CLIENT_HWM)
    sock.setsockopt(zmq.RCVHWM, CLIENT_HWM)
    if send_timeout_ms is not None:
        sock.setsockopt(zmq.SNDTIMEO, send_timeout_ms)
    return sock


def router(ctx: zmq.Context | None = None, *, max_message_bytes: int, linger_ms: int = 0,
           hwm: int = ZMQ_DEFAULT_HWM) -> zmq.Socket:
    """A ROUTER socket for serving requests of at most ``max_message_bytes`` per frame."""
    sock = (ctx or context()).socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, linger_ms)
    sock.setsockopt(zmq.ROUTER_MANDATORY, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, max_message_bytes)
    sock.setsockopt(zmq.SNDHWM, hwm)
    sock.setsockopt(zmq.RCVHWM, hwm)
    return sock


def push(ctx: zmq.Context | None = None, *, linger_ms: int) -> zmq.Socket:
    """A PUSH socket (an actor's in-process outbox) that keeps flushing for ``linger_ms`` on close."""
    sock = (ctx or context()).socket(zmq.PUSH)
    sock.setsockopt(zmq.LINGER, linger_ms)
    return sock
