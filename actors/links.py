"""Actors' helper threads for blocking calls: a replica's link to the controller and its follower
fetcher, a coordinator's link to its __consumer_offsets leaders.

An actor's mailbox must never wait on a socket (a produce or a fetch behind it
would wait too), so every blocking call a replica makes runs in one of these
threads and comes back as a message in its mailbox:

* ``ControllerLink`` sends what the actor queues (registration, leader
  heartbeats, ISR changes) to the controller one at a time and tells the actor
  each answer. The actor thread queues a heartbeat on its own timer, so a leader
  whose actor loop is stuck stops heartbeating even though this thread is fine.
* ``FollowerFetcher`` runs the follower's requests to its leader — long-poll
  fetches and epoch end-offset queries — one at a time, each on behalf of a
  *generation*: when the leader changes, the actor bumps the generation and a
  late answer for the old leader is dropped.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import NamedTuple

from wire import errors
from wire.base import Request
from wire.transport import Connection

log = logging.getLogger(__name__)

POLL_SLICE_S = 0.05  # how often a waiting call checks whether it was abandoned


class Answer(NamedTuple):
    """What came back for a request the actor queued: a response, or the error that stood in its way."""

    tag: object  # whatever the actor gave to recognise the request by
    request: Request
    response: object | None
    frames: list
    error: errors.ZafkaError | None


class _Caller(threading.Thread):
    def __init__(self, owner, name: str):
        super().__init__(name=name, daemon=True)
        self._owner = owner  # the actor's ref: answers are told to it
        self._queue: queue.Queue = queue.Queue()
        self._closing = threading.Event()
        self._connections: dict[str, Connection] = {}

    def submit(self, tag, endpoint: str, request: Request, timeout_ms: int, frames=()) -> None:
        self._queue.put((tag, endpoint, request, timeout_ms, frames))

    def stop(self) -> None:
        self._closing.set()
        self._queue.put(None)

    def run(self) -> None:
        try:
            while not self._closing.is_set():
                item = self._queue.get()
                if item is None:
                    break
                tag, endpoint, request, timeout_ms, frames = item
                answer = self._call(tag, endpoint, request, timeout_ms, frames)
                try:
                    self._owner.tell(answer)
                except Exception:  # noqa: BLE001 - the actor is stopping
                    break
        finally:
            for conn in self._connections.values():
                conn.close()

    def cancelled(self, tag) -> bool:
        """True when the actor no longer wants the answer (the call is abandoned, its socket reset)."""
        return False

    def _call(self, tag, endpoint: str, request: Request, timeout_ms: int, frames=()) -> Answer:
        conn = self._connections.get(endpoint)
        if conn is None:
            conn = self._connections[endpoint] = Connection(endpoint)
        request.corr = 0
        try:
            corr = conn.send(request, frames)
            deadline = time.monotonic() + timeout_ms / 1000
            while True:
                if self.cancelled(tag) or self._closing.is_set():
                    conn.reset()  # a reply to the abandoned request must not answer the next one
                    return Answer(tag, request, None, [], errors.RequestTimedOut("abandoned"))
                left = deadline - time.monotonic()
                if left <= 0:
                    conn.reset()
                    return Answer(tag, request, None, [], errors.RequestTimedOut(
                        f"no reply from {endpoint} to {type(request).__name__} within {timeout_ms} ms"))
                got = conn.recv(int(min(left, POLL_SLICE_S) * 1000) + 1)
                if got is None:
                    continue
                response, frames = got
                if response.corr != corr:
                    continue  # a late reply to an abandoned request
                if response.error:
                    return Answer(tag, request, response, [], errors.error_for(response.error, response.message))
                return Answer(tag, request, response, list(frames), None)
        except errors.ZafkaError as exc:
            return Answer(tag, request, None, [], exc)
        except Exception as exc:  # noqa: BLE001 - a bad endpoint string, a socket error: an answer all the same
            log.warning("%s to %s failed: %s", type(request).__name__, endpoint, exc)
            conn.reset()
            return Answer(tag, request, None, [], errors.UnknownServerError(str(exc)))


class ControllerLink(_Caller):
    def __init__(self, owner):
        super().__init__(owner, "controller-link")


class OffsetsLink(_Caller):
    """A GroupCoordinator's requests to its local __consumer_offsets leaders (stores, loads), in order."""

    def __init__(self, owner):
        super().__init__(owner, "offsets-link")


class FollowerFetcher(_Caller):
    def __init__(self, owner):
        super().__init__(owner, "follower-fetcher")
        self.generation = 0  # set by the actor when its leader changes: older requests are abandoned

    def cancelled(self, tag) -> bool:
        return tag[1] != self.generation
