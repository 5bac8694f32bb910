"""A generic supervisor, Erlang/OTP style: start children, watch them, restart them, stop them.

Nothing here knows about topics or brokers. A child is an ``ActorSpec`` run in a
process from a multiprocessing context; its kind's row in ``actors.kinds`` gives
the restart policy, the shutdown timeout and the start rank.

* The watch loop waits on every child's process sentinel, so a death is noticed
  the moment it happens, and hands it to ``on_death`` (the cluster reports it to
  the controller) before deciding on a restart.
* Restarts back off: ``backoff_s`` doubled for each death within the intensity
  window, at most ``backoff_max_s``. Restart intensity: more than
  ``max_restarts`` deaths within ``max_seconds`` and the child is marked
  ``failed`` and left down; the rest keeps running.
* Dynamic children (OTP's ``simple_one_for_one``) are started with ``start`` and
  stopped with ``retire``, which runs off the watch loop, so a child taking
  seconds to stop cleanly never delays noticing another's death.
* ``stop_all`` stops children in reverse start order by rank, each rank given its
  kind's shutdown timeout before SIGKILL; ``stop_group`` does the same for some
  of them (one broker's), which stay down until ``start_again``.
* A child is only ever restarted from ``running``: one being stopped on purpose
  (retired, in a stopped group) that dies is not a death to report or restart.
"""

from __future__ import annotations

import collections
import logging
import multiprocessing
import multiprocessing.connection
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .kinds import DYNAMIC, KINDS, Kind, should_restart
from .runtime import run_encoded
from .specs import ActorSpec, encode_spec

log = logging.getLogger("zafka.supervisor")

RUNNING, RESTARTING, FAILED, STOPPING, STOPPED = "running", "restarting", "failed", "stopping", "stopped"


@dataclass
class ChildSpec:
    """One child: what to run, and (from its kind's row) how to restart and stop it."""

    actor: ActorSpec

    @property
    def kind(self) -> Kind:
        return KINDS[self.actor.kind]

    @property
    def restart(self) -> str:
        return self.kind.restart

    @property
    def shutdown_s(self) -> float:
        return self.kind.shutdown_s


@dataclass
class Child:
    spec: ChildSpec
    process: multiprocessing.process.BaseProcess | None = None
    state: str = "starting"  # running, restarting, failed, stopping, stopped
    restarts: int = 0
    recent: collections.deque = field(default_factory=collections.deque)  # death times within the window
    started_at: float = 0.0
    restart_at: float = 0.0
    held_until: float = 0.0  # monotonic time before which a restart waits (a broker kept down on purpose)

    @property
    def name(self) -> str:
        return self.spec.actor.name

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive()


@dataclass(frozen=True)
class RestartIntensity:
    """At most ``max_restarts`` restarts within ``max_seconds``, with a doubling backoff between them."""

    max_restarts: int = 5
    max_seconds: float = 30.0
    backoff_s: float = 0.1
    backoff_max_s: float = 5.0

    def record_death(self, recent: collections.deque, now: float) -> float | None:
        """Note a death at ``now``; the delay before the restart, or None when the child must give up."""
        recent.append(now)
        while recent and now - recent[0] > self.max_seconds:
            recent.popleft()
        if len(recent) > self.max_restarts:
            return None
        return min(self.backoff_s * (2 ** (len(recent) - 1)), self.backoff_max_s)


class ChildSupervisor:
    """Runs children from ``mp`` and keeps them running; one watch thread, started by ``start_watching``."""

    def __init__(self, mp, intensity: RestartIntensity, *,
                 on_death: Callable[[Child, int | None], None] = lambda child, code: None,
                 between_rounds: Callable[[], None] = lambda: None):
        self._mp = mp
        self.intensity = intensity
        self._on_death_hook = on_death
        self._between_rounds = between_rounds
        self.children: dict[str, Child] = {}
        self.lock = threading.RLock()
        self._stopping = threading.Event()
        self._wakeup_r, self._wakeup_w = multiprocessing.Pipe(duplex=False)
        self._thread: threading.Thread | None = None

    # -- children ---------------------------------------------------------------------------
    def start(self, spec: ChildSpec) -> Child:
        """Start a new child (or, given the spec of a stopped one, a fresh one under the same name)."""
        child = Child(spec)
        self._spawn(child)
        return child

    def _spawn(self, child: Child) -> None:
        # under the lock, and never once stopping has begun: a child started while stop_all takes its
        # snapshot would be missed by it and outlive the supervisor
        with self.lock:
            if self._stopping.is_set():
                child.state = STOPPED
                return
            process = self._mp.Process(target=run_encoded, args=(encode_spec(child.spec.actor),), name=child.name,
                                       daemon=False)
            process.start()
            child.process = process
            child.state = RUNNING
            child.started_at = time.time()
            self.children[child.name] = child
        log.info("started %s (pid %d) at %s", child.name, process.pid, child.spec.actor.bind)

    def snapshot(self) -> list[Child]:
        """The children in start order (by kind rank, then name)."""
        with self.lock:
            children = list(self.children.values())
        return sorted(children, key=lambda c: (c.spec.kind.start_rank, c.name))

    def rename(self, names: dict[str, str]) -> None:
        """Give running children new names at once (two may swap: a leader change renames both)."""
        with self.lock:
            moved = [(new, self.children.pop(old)) for old, new in names.items() if old in self.children]
            for new, child in moved:
                child.spec.actor.name = new
                self.children[new] = child
        for old, new in names.items():
            log.info("%s is now %s", old, new)

    def get(self, name: str) -> Child | None:
        with self.lock:
            return self.children.get(name)

    def retire(self, child: Child, then: Callable[[Child], None] = lambda child: None) -> None:
        """Stop a child for good, off the watch loop; ``then`` runs once it is gone (say, remove its files)."""
        child.state = STOPPING

        def stop() -> None:
            _terminate([child], child.spec.shutdown_s)
            try:
                then(child)
            except Exception:  # noqa: BLE001 - a failed clean-up must not leave the child listed
                log.exception("cleaning up after %s failed", child.name)
            child.state = STOPPED
            with self.lock:
                if self.children.get(child.name) is child:
                    del self.children[child.name]
            self.wake()  # a successor under the same name can start now

        threading.Thread(target=stop, name=f"retire-{child.name}", daemon=True).start()

    # -- the watch loop -----------------------------------------------------------------------
    def start_watching(self) -> None:
        self._thread = threading.Thread(target=self._watch_loop, name="watch", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        try:
            self._wakeup_w.send_bytes(b"x")
        except OSError:
            pass

    def _watch_loop(self) -> None:
        while not self._stopping.is_set():
            with self.lock:
                running = {c.process.sentinel: c for c in self.children.values() if c.state == RUNNING and c.process}
            ready = multiprocessing.connection.wait([*running, self._wakeup_r], timeout=0.05)
            if self._wakeup_r in ready:
                while self._wakeup_r.poll():
                    self._wakeup_r.recv_bytes()
            if self._stopping.is_set():
                return
            for sentinel in ready:
                child = running.get(sentinel)
                if child is not None:
                    self._on_death(child)
            self._restart_due()
            try:
                self._between_rounds()
            except Exception:  # noqa: BLE001 - the loop that notices deaths must outlive any hook
                log.exception("supervisor reconcile failed")

    def _on_death(self, child: Child) -> None:
        child.process.join(0)
        code = child.process.exitcode
        if child.state != RUNNING:  # stopped on purpose between the wait and now
            return
        try:
            self._on_death_hook(child, code)
        except Exception:  # noqa: BLE001
            log.exception("death hook for %s failed", child.name)
        if not should_restart(child.spec.restart, code):
            child.state = STOPPED
            log.info("%s exited (code %s); %s children are not restarted after a clean exit",
                     child.name, code, child.spec.restart)
            return
        delay = self.intensity.record_death(child.recent, time.monotonic())
        if delay is None:
            child.state = FAILED
            log.error(
                "%s died %d times within %.0f s (last exit code %s); giving up on it",
                child.name, len(child.recent), self.intensity.max_seconds, code,
            )
            return
        child.state = RESTARTING
        child.restart_at = max(time.monotonic() + delay, child.held_until)
        log.warning("%s died (exit code %s); restarting in %.2f s", child.name, code, delay)

    def _restart_due(self) -> None:
        now = time.monotonic()
        with self.lock:
            due = [c for c in self.children.values() if c.state == RESTARTING and c.restart_at <= now]
        for child in due:
            child.restarts += 1
            self._spawn(child)

    # -- stopping some children, and starting them again -----------------------------------------
    def stop_group(self, children: list[Child]) -> list[Child]:
        """Stop these children cleanly, highest rank first; none restarts. Dynamic ones are dropped
        (a later ``start`` makes fresh ones); the others stay listed, ``stopped``, for ``start_again``."""
        with self.lock:
            group = [c for c in children if self.children.get(c.name) is c and c.state in (RUNNING, RESTARTING)]
            for c in group:
                c.state = STOPPED
        for rank in sorted({c.spec.kind.start_rank for c in group}, reverse=True):
            ranked = [c for c in group if c.spec.kind.start_rank == rank]
            _terminate(ranked, max(c.spec.shutdown_s for c in ranked))
        with self.lock:
            for c in group:
                if c.spec.kind.scope == DYNAMIC and self.children.get(c.name) is c:
                    del self.children[c.name]
        self.wake()
        return group

    def start_again(self, child: Child) -> None:
        """Start a child that ``stop_group`` stopped, with a clean restart record."""
        with self.lock:
            if self.children.get(child.name) is not child or child.state != STOPPED:
                return
            child.recent.clear()
            child.held_until = 0.0
        self._spawn(child)

    # -- stopping everything ------------------------------------------------------------------
    def stop_all(self) -> None:
        """Stop every child in reverse start order (highest rank first), SIGKILL what will not stop."""
        with self.lock:  # from here on nothing starts (see _spawn)
            self._stopping.set()
        self.wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)  # the watch loop (and any reconcile in it) is done before the snapshot
        children = self.snapshot()
        for rank in sorted({c.spec.kind.start_rank for c in children}, reverse=True):
            group = [c for c in children if c.spec.kind.start_rank == rank and c.alive]
            for c in group:
                c.state = STOPPED
            _terminate(group, max((c.spec.shutdown_s for c in group), default=0))
        for c in children:
            c.state = STOPPED


def _terminate(children: list[Child], timeout_s: float) -> None:
    """SIGTERM each, wait up to ``timeout_s`` for all, then SIGKILL the ones still there."""
    live = [c for c in children if c.process is not None and c.process.is_alive()]
    for c in live:
        try:
            c.process.terminate()
        except (OSError, AttributeError):
            pass
    deadline = time.monotonic() + timeout_s
    for c in live:
        c.process.join(max(0.0, deadline - time.monotonic()))
        if c.process.is_alive():
            log.warning("%s did not stop in time; killing it", c.name)
            c.process.kill()
            c.process.join(5)
