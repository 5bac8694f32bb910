"""The small runtime every actor process shares: one pykka actor fed from ZeroMQ.

Each actor process runs ``run(spec)``:

* The main thread owns the ROUTER socket (ZeroMQ sockets are not thread-safe). It
  decodes each inbound frame once (``wire.protocol.decode_request``) — malformed,
  unknown and oversized frames get an error reply right there and never reach the
  actor — and ``tell``s the actor an ``Inbound``. It also forwards the actor's
  replies (arriving on an inproc PULL socket) and sends a ``Tick`` every
  ``tick_ms`` so actors can expire long polls and run timers without threads —
  or, for an actor that names its next deadline (``next_tick_at``), only then.
* The pykka actor thread runs the actor's handlers one message at a time: the
  mailbox is the only synchronisation an actor needs.
* SIGTERM stops the loop, stops the actor (its ``on_stop`` closes logs cleanly)
  and exits 0. The process also dies with its supervisor: ``PR_SET_PDEATHSIG``
  covers the forkserver parent, and a watchdog thread exits when the supervisor's
  pid is gone, so no actor outlives a SIGKILLed supervisor.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time

import msgspec
import pykka
import zmq

from wire import protocol, sockets
from wire.base import Request, Response
from wire.errors import InvalidRequest, UnknownServerError, ZafkaError

from .errors import to_wire_error
from .kinds import actor_class
from .log_limit import LogLimit
from .specs import ActorSpec, decode_spec

__all__ = ["Actor", "ActorSpec", "Inbound", "TICK", "run", "run_encoded"]

log = logging.getLogger("zafka.actor")

class Inbound(msgspec.Struct):
    peer: bytes
    request: Request
    frames: list


class Tick:
    __slots__ = ()


TICK = Tick()
MIN_TICK_GAP_S = 0.002  # however near deadlines are, ticks are this far apart
WAKE = b""  # a one-frame outbox message: no reply, only "the next tick is due sooner than you think"


class TickPlan:
    """When the loop next ticks the actor: written by the actor thread, read by the loop.

    An actor that knows its next deadline (``Actor.next_tick_at``) lets an idle
    process sleep until then instead of waking every ``tick_ms``: with a process
    per partition, idle wake-ups are most of an idle cluster's CPU. A deadline that
    moves earlier wakes the loop through the outbox.
    """

    __slots__ = ("due",)

    def __init__(self, due: float):
        self.due = due


class Actor(pykka.ThreadingActor):
    """Base of every zafka actor: dispatch by request type, reply through the loop.

    A handler returns a ``Response``, a ``(Response, frames)`` pair, or ``None`` when
    it will answer later with ``reply`` (long polls) or not at all (acks=0). An
    exception in a handler becomes an error reply to that request alone; the actor
    keeps serving everyone else.
    """

    def __init__(self, spec: ActorSpec, outbox: str, plan: TickPlan | None = None):
        super().__init__()
        self._plan = plan
        self.spec = spec
        self.name = spec.name
        self._outbox_address = outbox
        self._outbox: zmq.Socket | None = None
        self.handlers: dict[type, object] = {}
        self.log = logging.getLogger(f"zafka.{spec.kind}")
        self._refusals = LogLimit(self.log)

    # -- pykka hooks ---------------------------------------------------------
    def on_start(self) -> None:
        self._outbox = sockets.push(linger_ms=sockets.OUTBOX_LINGER_MS)
        self._outbox.connect(self._outbox_address)
        self.setup()

    def on_stop(self) -> None:
        try:
            self.teardown()
        finally:
            if self._outbox is not None:
                self._outbox.close()

    def on_failure(self, exception_type, exception_value, traceback) -> None:
        log.error("actor %s crashed: %s", self.name, exception_value, exc_info=(exception_type, exception_value, traceback))
        os._exit(70)  # let the supervisor restart a clean process

    def on_receive(self, message) -> None:
        try:
            if message is TICK:
                self.on_tick()
            elif isinstance(message, Inbound):
                self._dispatch(message)
            else:
                self.on_message(message)
        finally:
            if self._plan is not None:
                self._plan_next_tick()

    def _plan_next_tick(self) -> None:
        now = time.monotonic()
        due = self.next_tick_at(now)
        if due is None:
            return  # every tick_ms, as the loop keeps it
        due = max(due, now)
        plan = self._plan
        if due < plan.due - 0.001 and self._outbox is not None:
            plan.due = due
            self._outbox.send(WAKE)  # the loop sleeps until the old due time: wake it
        else:
            plan.due = due

    # -- for subclasses ------------------------------------------------------
    def setup(self) -> None:
        """Open files and start helpers; runs in the actor thread before any message."""

    def teardown(self) -> None:
        """Close files cleanly; runs on SIGTERM."""

    def on_tick(self) -> None:
        """Timers and long-poll expiry, every ``tick_ms``."""

    def next_tick_at(self, now: float) -> float | None:
        """The monotonic time this actor next needs ``on_tick`` (None: ``tick_ms`` from now).

        Asked after every message; a later time lets an idle process sleep. It is
        a bound, not a promise: the loop may tick earlier.
        """
        return None

    def on_message(self, message) -> None:
        """Messages from the actor's own helper threads (``self.actor_ref.tell``)."""

    def rename(self, name: str) -> None:
        """Take the name the supervisor now gives this process (a replica's role changed): log under it."""
        if name != self.name:
            self.log.info("%s is now %s", self.name, name)
            self.name = name
            setup_logging(self.spec.data_dir, name)

    def reply(self, peer: bytes, corr: int, response: Response, frames=()) -> None:
        response.corr = corr
        parts = [peer, protocol.encode(response), *frames]
        self._outbox.send_multipart(parts, copy=False)

    def reply_error(self, peer: bytes, corr: int, error: Exception) -> None:
        wire_error = to_wire_error(error)
        response = protocol.ErrorResponse(error=wire_error.code, message=str(wire_error))
        hint = getattr(wire_error, "current_leader", None)  # (leader, epoch, endpoint): see ErrorResponse
        if hint is not None:
            response.leader, response.leader_epoch, response.leader_endpoint = hint
        self.reply(peer, corr, response)

    def _dispatch(self, inbound: Inbound) -> None:
        """Run one request's handler and answer it; nothing it raises leaves this method.

        A ``ZafkaError`` is the handler refusing the request (answered, not logged);
        any other exception is a bug or a fault met while serving this one request —
        logged with the request type, answered with an error, and the actor goes on.
        """
        request = inbound.request
        try:
            handler = self.handlers.get(type(request))
            if handler is None:
                raise InvalidRequest(f"{self.name} does not handle {protocol.request_name(request)} requests")
            result = handler(request, inbound.frames, inbound.peer)
            if result is None:
                return
            if isinstance(result, tuple):
                self.reply(inbound.peer, request.corr, result[0], result[1])
            else:
                self.reply(inbound.peer, request.corr, result)
        except ZafkaError as exc:
            self._answer_error(inbound, exc)
        except Exception as exc:  # noqa: BLE001 - one bad request must not stop the actor
            now = time.monotonic()
            if not isinstance(to_wire_error(exc), UnknownServerError):
                self._refusals.log(now, logging.INFO, "%s refused: %s", protocol.request_name(request), exc)
            else:
                self._refusals.log(now, logging.ERROR, "%s failed", protocol.request_name(request),
                                   exc_info=exc)
            self._answer_error(inbound, exc)

    def _answer_error(self, inbound: Inbound, exc: Exception) -> None:
        try:
            self.reply_error(inbound.peer, inbound.request.corr, exc)
        except Exception:  # noqa: BLE001 - e.g. the outbox is closing; the peer times out
            self.log.exception("could not answer %s", protocol.request_name(inbound.request))


# -- process plumbing ---------------------------------------------------------
def _die_with_parent(supervisor_pid: int) -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    if not supervisor_pid:
        return

    def watchdog() -> None:
        while True:
            try:
                os.kill(supervisor_pid, 0)
            except ProcessLookupError:
                os._exit(71)
            except PermissionError:
                pass
            time.sleep(0.25)

    threading.Thread(target=watchdog, name="watchdog", daemon=True).start()


def setup_logging(data_dir: str, name: str, level: int = logging.INFO) -> str:
    """Log to ``<data_dir>/logs/<name>.log``, appended across restarts, name and pid on every line."""
    logs = os.path.join(data_dir, "logs")
    os.makedirs(logs, exist_ok=True)
    path = os.path.join(logs, f"{name}.log")
    handler = logging.FileHandler(path, mode="a")
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s %(levelname)s [{name} pid=%(process)d] %(name)s: %(message)s")
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return path


def run(spec: ActorSpec) -> None:
    """Process entry point: serve until SIGTERM, then stop cleanly."""
    _die_with_parent(spec.supervisor_pid)
    setup_logging(spec.data_dir, spec.name)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # Ctrl-C in the terminal reaches the whole process group; only the supervisor acts
    # on it (it stops actors with SIGTERM), so an actor never exits early and gets restarted
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    ctx = zmq.Context.instance()
    router = sockets.router(ctx, max_message_bytes=spec.config.socket_request_max_bytes,
                            linger_ms=sockets.ACTOR_LINGER_MS, hwm=sockets.ACTOR_HWM)
    router.bind(spec.bind)
    outbox_address = f"inproc://outbox-{os.getpid()}"
    outbox = ctx.socket(zmq.PULL)
    outbox.bind(outbox_address)
    cls = actor_class(spec.kind)
    tick = spec.tick_ms / 1000
    plan = TickPlan(time.monotonic() + tick)
    try:
        ref = cls.start(spec, outbox_address, plan)
    except Exception:
        log.exception("actor %s failed to start", spec.name)
        sys.exit(72)
    log.info("%s serving at %s (advertised %s)", spec.name, spec.bind, spec.advertised)
    poller = zmq.Poller()
    poller.register(router, zmq.POLLIN)
    poller.register(outbox, zmq.POLLIN)
    max_header = protocol.MAX_HEADER_BYTES
    refusals = LogLimit(log)
    ticked_at = 0.0
    try:
        while not stop.is_set():
            timeout = max(0.0, max(plan.due, ticked_at + MIN_TICK_GAP_S) - time.monotonic())
            events = dict(poller.poll(int(timeout * 1000) + 1))
            if outbox in events:
                for _ in range(1000):
                    try:
                        parts = outbox.recv_multipart(zmq.NOBLOCK, copy=False)
                    except zmq.Again:
                        break
                    if len(parts) > 1:  # a one-frame WAKE only ended the poll
                        router.send_multipart(parts, copy=False)
            if router in events:
                for _ in range(1000):
                    try:
                        parts = router.recv_multipart(zmq.NOBLOCK, copy=False)
                    except zmq.Again:
                        break
                    if not _take(ref, parts, router, max_header, refusals):
                        break
            now = time.monotonic()
            if now >= plan.due and now - ticked_at >= MIN_TICK_GAP_S:
                ticked_at = now
                plan.due = now + tick  # until the actor, having ticked, plans the next one
                if not ref.is_alive():  # on_start or a handler failed beyond recovery
                    log.error("actor %s is dead; exiting so the supervisor restarts it", spec.name)
                    os._exit(73)
                try:
                    ref.tell(TICK)
                except pykka.ActorDeadError:
                    continue
    finally:
        log.info("%s stopping", spec.name)
        try:
            ref.stop(timeout=10)
        except pykka.Timeout:
            log.error("%s did not stop within 10 s", spec.name)
        # flush replies the actor queued while stopping
        while True:
            try:
                parts = outbox.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            if len(parts) > 1:
                router.send_multipart(parts, copy=False)
        outbox.close(linger=0)
        router.close(linger=200)
        logging.shutdown()


def _take(ref, parts, router, max_header: int, refusals: LogLimit) -> bool:
    """Decode one inbound message and hand it to the actor; False once the actor is gone.

    Every failure — a frame the gate refuses, or anything unexpected on the way —
    is answered here and logged (rate-limited), so no message can stop this loop.
    """
    if len(parts) < 2:  # a ROUTER always prefixes the peer; nothing after it: nothing to answer
        return True
    peer = parts[0].bytes
    try:
        request = protocol.decode_request(parts[1].buffer, len(parts) - 2, max_header)
    except protocol.FrameError as exc:
        refusals.log(time.monotonic(), logging.INFO, "refused a frame: %s", exc)
        _send_quietly(router, [peer, protocol.error_reply(exc.code, str(exc), exc.corr)])
        return True
    except Exception as exc:  # noqa: BLE001 - never let one message end the loop
        refusals.log(time.monotonic(), logging.ERROR, "could not read a frame", exc_info=exc)
        _send_quietly(router, [peer, protocol.error_reply(UnknownServerError.code, f"{type(exc).__name__}")])
        return True
    try:
        ref.tell(Inbound(peer, request, parts[2:]))
    except pykka.ActorDeadError:
        return False
    return True


def _send_quietly(router, parts) -> None:
    try:
        router.send_multipart(parts)
    except zmq.ZMQError as exc:  # the peer went away; nobody is waiting for this answer
        log.debug("could not send an error reply: %s", exc)


def run_encoded(spec_bytes: bytes) -> None:
    """Entry for ``multiprocessing``: the spec travels as msgpack, not pickle."""
    run(decode_spec(spec_bytes))
