"""``zafka chaos`` (also ``scripts/chaos.py``): the fault lab.

Starts its own cluster (in a temp dir unless ``--data-dir``), creates a topic,
produces at ``--rate`` records/s with ``--acks`` and keeps (partition, offset,
value) of every acknowledged record — every value is unique (``f"{seq}"``), sent
round robin by ``seq % partitions`` — while the seeded schedule of
:func:`scripts.cli.faultlab.plan_faults` injects a fault every ``--interval``
seconds. Then it reads every partition back from the log start to the high
watermark and prints the verdict (:func:`scripts.cli.faultlab.judge`) and the
failover durations. docs/fault-lab.md is the tour.

The pure parts — fault names, the schedule, victims, failover clock and verdict —
live in ``scripts/cli/faultlab.py``; this module runs processes and threads:

* the **load** thread owns one ``Producer``; its callbacks (on the producer's
  sender thread) record acknowledgements and close failovers;
* the **main** thread injects faults, releases what they hold (resumes paused
  actors, starts stopped brokers again), prints every event as one line, then
  reads back.

Importing this module imports nothing heavy (the CLI's rule, see ``main``).
"""

from __future__ import annotations

import heapq
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from functools import partial
from typing import NamedTuple

from . import faultlab as fl
from .output import CommandError, UsageError, table

TOPIC = "chaos"
# fast failure detection, and restarts that never give up during a run
LAB_CONFIG = {
    "broker.heartbeat.interval.ms": "100",
    "broker.session.timeout.ms": "1500",
    "supervisor.restart.backoff.ms": "50",
    "supervisor.restart.backoff.max.ms": "500",
    "supervisor.max.restarts": "1000000",
}
WARMUP_TIMEOUT_S = 20.0  # the first record of every partition must be acknowledged by then
FOLLOWER_WAIT_S = 5.0  # how long to look for follower actors before refusing --faults follower
MAX_OUTSTANDING = 50_000  # sends waiting for their acknowledgement before the load holds back
STATUS_EVERY_S = 5.0
REQUEST_TIMEOUT_MS = 10_000
END_WAIT_S = 30.0  # after the load: the last acknowledgements may take this long (plus the longest hold)
WHOLE_TIMEOUT_S = 30.0  # then every actor must run again within this (plus the longest hold)
OFFSETS_TIMEOUT_S = 30.0  # to learn where each partition starts and ends
READ_TIMEOUT_S = 60.0  # to read them


# -- options ----------------------------------------------------------------------------------

@dataclass
class LabOptions:
    duration: float = 60.0
    interval: float = 2.0
    seed: int | None = None
    faults: list = field(default_factory=lambda: fl.parse_faults(fl.DEFAULT_FAULTS))
    brokers: int = 3
    partitions: int = 3
    replication_factor: int | None = None  # default: 3 with 3 brokers or more, else 1
    min_insync_replicas: int | None = None  # default: 2, at most the replication factor
    acks: str | int = "all"
    broker_down: float = 3.0
    pause: float = 3.0
    rate: int = 1000
    topic: str = TOPIC

    def resolved(self, brokers: int | None = None) -> "LabOptions":
        """Defaults filled in and checked; a ``CommandError`` names what cannot work."""
        o = LabOptions(**{k: getattr(self, k) for k in self.__dataclass_fields__})
        o.brokers = brokers or o.brokers
        if o.seed is None:
            o.seed = random.SystemRandom().randrange(1 << 31)
        if o.replication_factor is None:
            o.replication_factor = 3 if o.brokers >= 3 else 1
        if o.min_insync_replicas is None:
            o.min_insync_replicas = min(2, o.replication_factor)
        o.acks = "all" if o.acks in ("all", "-1", -1) else int(o.acks)
        fl.check_available(o.faults)
        if o.replication_factor > o.brokers:
            raise CommandError(f"--replication-factor {o.replication_factor} needs at least that many brokers "
                               f"(--brokers {o.brokers})")
        if o.min_insync_replicas > o.replication_factor:
            raise CommandError(f"--min-insync-replicas {o.min_insync_replicas} is more than the replication factor "
                               f"{o.replication_factor}: acks=all could never be acknowledged")
        if any(f.kind == fl.FOLLOWER for f in o.faults) and o.replication_factor < 2:
            raise CommandError("--faults follower: RF 1 has no followers; use --replication-factor 2 or more "
                               "(or leave follower out)")
        return o


# -- the load ---------------------------------------------------------------------------------

class Load(threading.Thread):
    """One producer at ``rate`` records/s; every acknowledgement checked and kept.

    ``lock`` guards everything the callbacks touch; the main thread takes it to
    open failovers, so a fault and the acknowledgements around it are ordered.
    Once stopped it waits at most ``end_wait_s`` for the last acknowledgements
    (a partition that never comes back must not hold the run forever), then
    closes the producer: what is still waiting fails and counts as unacknowledged.
    """

    def __init__(self, bootstrap: str, opts: LabOptions, first_seq: int, acked: list[fl.Record]):
        super().__init__(name="chaos-load", daemon=True)
        self.bootstrap = bootstrap
        self.opts = opts
        self.seq = first_seq
        self.lock = threading.Lock()
        self.acked: list[fl.Record] = list(acked)
        self.failed: list[int] = []
        self.first_error: BaseException | None = None
        self.outstanding = 0
        self.waiting = Counter()  # partition -> sends not acknowledged or failed yet
        self.clock = fl.FailoverClock()
        self.news: deque = deque()  # failovers closed since the main thread last looked
        self.stopping = threading.Event()
        self.abort = threading.Event()  # set with stopping: no end wait (Ctrl-C, an error)
        self.error: BaseException | None = None
        self.gave_up: dict[int, int] = {}  # partition -> sends still waiting when the end wait ran out
        hold = max(opts.broker_down, opts.pause)
        self.end_wait_s = END_WAIT_S + hold
        self.delivery_timeout_ms = 1000 * (self.end_wait_s + 60)  # the end wait gives up first, and says so

    @property
    def sent(self) -> int:
        return self.seq

    def _done(self, seq: int, partition: int, sent_at: float, metadata, exc) -> None:
        now = time.monotonic()
        with self.lock:
            self.outstanding -= 1
            self.waiting[partition] -= 1
            if exc is None:
                self.acked.append(fl.Record(metadata.partition, metadata.offset, seq))
                closed = self.clock.ack(metadata.partition, sent_at, now)
                if closed:
                    self.news.extend(closed)
            else:
                self.failed.append(seq)
                if self.first_error is None:
                    self.first_error = exc

    def run(self) -> None:
        from wire import Producer
        from wire.errors import RequestTimedOut

        o = self.opts
        producer = None
        try:
            producer = Producer(bootstrap=self.bootstrap, acks=o.acks, linger_ms=5,
                                request_timeout_ms=REQUEST_TIMEOUT_MS, delivery_timeout_ms=self.delivery_timeout_ms,
                                allow_auto_create_topics=False)
            send = producer.send
            start_seq, start = self.seq, time.monotonic()
            while not self.stopping.is_set():
                now = time.monotonic()
                target = start_seq + int((now - start) * o.rate)
                if target - self.seq > o.rate:  # held back a second or more: no burst to catch up
                    start_seq, start = self.seq, now
                    target = self.seq
                while self.seq < target and self.outstanding < MAX_OUTSTANDING:
                    seq = self.seq
                    partition = seq % o.partitions
                    with self.lock:
                        self.outstanding += 1
                        self.waiting[partition] += 1
                    send(o.topic, value=str(seq).encode(), partition=partition,
                         callback=partial(self._done, seq, partition, time.monotonic()))
                    self.seq = seq + 1
                self.stopping.wait(0.005)  # pacing: ~200 rounds a second
            deadline = time.monotonic() + self.end_wait_s
            while True:  # in slices, so an abort does not wait the whole end wait
                try:
                    producer.flush(timeout=0.5)
                    break
                except RequestTimedOut:
                    if self.abort.is_set() or time.monotonic() >= deadline:
                        with self.lock:
                            self.gave_up = {p: n for p, n in sorted(self.waiting.items()) if n > 0}
                        break
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            self.error = exc
        finally:
            if producer is not None:
                producer.close(timeout=5.0)  # what still waits fails (counted as unacknowledged)


# -- what happened ------------------------------------------------------------------------------

@dataclass
class FaultEvent:
    index: int
    at: float  # planned, seconds after the load started
    fault: str
    injected_at: float | None = None  # actual
    action: str = ""
    victims: list = field(default_factory=list)
    partitions: list = field(default_factory=list)
    skipped: str = ""
    details: list = field(default_factory=list)  # a controlled stop: what moved, what could not


# what a fault holds until the lab releases it (``Lab.release``)
PAUSED, STOPPED = "paused", "stopped"


class Hold(NamedTuple):
    kind: str  # PAUSED: a SIGSTOPped pid, to SIGCONT; STOPPED: a broker stopped cleanly, to start again
    target: int  # the pid, or the broker id


@dataclass
class LabResult:
    options: LabOptions
    data_dir: str
    verdict: fl.Verdict
    faults: list
    failovers: list
    unresolved: list
    sent: int
    notes: list

    @property
    def stats(self) -> fl.FailoverStats:
        return fl.failover_stats(f.duration for f in self.failovers)

    def stats_by_fault(self) -> dict[str, tuple[fl.FailoverStats, int]]:
        """fault name (``stop``, ``broker``, ``actor:broker-2``, ...) → (its failover stats, its unresolved count)."""
        names = {e.index: e.fault for e in self.faults}
        stats = fl.failover_stats_by(self.failovers, names)
        unresolved = Counter(names.get(i, "?") for i, _, _ in self.unresolved)
        for name in unresolved:
            stats.setdefault(name, fl.failover_stats(()))
        return {n: (s, unresolved[n]) for n, s in stats.items()}

    @property
    def exit_status(self) -> int:
        return fl.exit_status(self.verdict)

    def summary(self) -> dict:
        o = self.options
        s = self.stats
        by_fault: dict[int, list] = {}
        for f in self.failovers:
            by_fault.setdefault(f.fault, []).append({"partition": f.partition, "seconds": round(f.duration, 4)})
        return {
            "seed": o.seed, "duration_s": o.duration, "interval_s": o.interval,
            "faults_requested": [str(f) for f in o.faults], "brokers": o.brokers, "partitions": o.partitions,
            "replication_factor": o.replication_factor, "min_insync_replicas": o.min_insync_replicas,
            "acks": o.acks, "rate": o.rate, "broker_down_s": o.broker_down, "pause_s": o.pause,
            "topic": o.topic, "data_dir": self.data_dir, "sent": self.sent,
            "verdict": self.verdict.as_dict(),
            "failover": {**_stats_dict(s, len(self.unresolved)),
                         "by_fault": {n: _stats_dict(fs, u) for n, (fs, u) in self.stats_by_fault().items()}},
            "faults": [{**e.__dict__, "failovers": by_fault.get(e.index, [])} for e in self.faults],
            "notes": self.notes, "exit_status": self.exit_status,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _stats_dict(s: fl.FailoverStats, unresolved: int) -> dict:
    return {"count": s.count, "median_s": _round(s.median), "p99_s": _round(s.p99), "max_s": _round(s.max),
            "unresolved": unresolved}


# -- the lab ----------------------------------------------------------------------------------

class Lab:
    def __init__(self, sup, opts: LabOptions, out):
        self.sup = sup
        self.o = opts
        self.out = out
        self.t0 = time.monotonic()
        self.paused: dict[int, str] = {}  # pid -> actor name, while SIGSTOPped
        self.stopped: dict[int, int] = {}  # broker -> the fault that stopped it, until started again
        self.events: list[FaultEvent] = []
        self.notes: list[str] = []
        self._metadata = None
        self._pool = None

    def say(self, text: str, at: float | None = None) -> None:
        at = time.monotonic() - self.t0 if at is None else at
        self.out(f"[{at:7.2f}s] {text}")

    # -- setup ---------------------------------------------------------------------------
    def create_topic(self) -> None:
        from wire import Admin
        from wire.errors import ZafkaError

        o = self.o
        try:
            with Admin(bootstrap=self.sup.bootstrap_servers) as admin:
                if o.topic in admin.list_topics():
                    raise CommandError(f"topic {o.topic!r} already exists in {self.sup.data_dir} (an earlier run?): "
                                       "use a fresh --data-dir")
                admin.create_topic(o.topic, partitions=o.partitions, replication_factor=o.replication_factor,
                                   configs={"min.insync.replicas": str(o.min_insync_replicas)})
        except ZafkaError as exc:
            raise CommandError(f"could not create the lab's topic {o.topic!r}: {exc}") from None
        self.out(f"topic {o.topic}: {o.partitions} partitions, RF {o.replication_factor}, "
                 f"min.insync.replicas {o.min_insync_replicas}; producing with acks={o.acks} at {o.rate} records/s")

    def warm_up(self) -> list[fl.Record]:
        """Record ``p`` to partition ``p``, each acknowledged, before any fault: the cluster takes writes."""
        from wire import Producer

        o = self.o
        futures = []
        with Producer(bootstrap=self.sup.bootstrap_servers, acks=o.acks, linger_ms=0, request_timeout_ms=5000,
                      delivery_timeout_ms=WARMUP_TIMEOUT_S * 1000, allow_auto_create_topics=False) as producer:
            for p in range(o.partitions):
                futures.append(producer.send(o.topic, value=str(p).encode(), partition=p))
            acked = []
            for p, future in enumerate(futures):
                try:
                    meta = future.result(timeout=WARMUP_TIMEOUT_S + 10)
                except Exception as exc:  # noqa: BLE001 - one line below
                    raise CommandError(self._refused(p, exc)) from None
                acked.append(fl.Record(meta.partition, meta.offset, p))
        self.out(f"warm-up: every partition acknowledged a record (acks={o.acks})")
        return acked

    def _refused(self, partition: int, exc: BaseException) -> str:
        from .output import error_message

        o = self.o
        text = f"the cluster did not acknowledge a first record on {o.topic}-{partition} with acks={o.acks}: " \
               f"{type(exc).__name__}: {error_message(exc)}"
        if type(exc).__name__ == "NotEnoughReplicas":
            text += (f"; the partition has fewer in-sync replicas than --min-insync-replicas "
                     f"{o.min_insync_replicas} (without replication it has one): run with --min-insync-replicas 1, "
                     "--replication-factor 1 or --acks 1")
        return text

    def check_victims(self) -> None:
        """Faults that name or need actors the cluster does not run are refused before the first fault."""
        faults = self.o.faults
        if any(f.kind == fl.FOLLOWER for f in faults):
            deadline = time.monotonic() + FOLLOWER_WAIT_S
            while not fl.follower_actors(self.sup.actors(memory=False)):
                if time.monotonic() >= deadline:
                    raise CommandError("--faults follower: the cluster runs no follower actors (fetcher-...) "
                                       "for RF > 1 yet (replication has not landed); leave follower out")
                time.sleep(0.1)  # polling for actors to appear, with a deadline
        names = {a.name for a in self.sup.actors(memory=False)}
        for f in faults:
            if f.kind == fl.ACTOR and f.target not in names:
                raise CommandError(f"--faults actor:{f.target}: the lab's cluster has no actor named {f.target!r}; "
                                   f"its actors are {', '.join(sorted(names))}")

    # -- faults --------------------------------------------------------------------------
    def leader_map(self) -> dict[int, fl.LeaderInfo]:
        """partition → leader (broker, endpoint) from fresh metadata; {} when no broker answers."""
        from wire.client.metadata import ClusterMetadata
        from wire.connections import ConnectionPool
        from wire.errors import ZafkaError

        if self._metadata is None:
            self._pool = ConnectionPool()
            self._metadata = ClusterMetadata(self.sup.bootstrap_servers, self._pool, timeout_ms=1000)
        try:
            self._metadata.refresh([self.o.topic])
        except ZafkaError:
            return {}
        info = self._metadata.topics.get(self.o.topic)
        if info is None:
            return {}
        return {p: fl.LeaderInfo(m.leader, m.leader_endpoint or "") for p, m in info.partitions.items()
                if not m.error and m.leader_endpoint}

    def inject(self, planned: fl.PlannedFault, load: Load) -> list[tuple[float, Hold]]:
        """Apply one planned fault; returns what it holds and when to release it (seconds after the
        load started): a paused pid (``--pause`` later), a stopped broker (``--broker-down`` later)."""
        o = self.o
        fault = planned.fault
        event = FaultEvent(planned.index, planned.at, str(fault))
        self.events.append(event)
        actors = self.sup.actors(memory=False)
        leaders = self.leader_map() if fault.kind in (fl.KILL, fl.PAUSE, fl.BROKER, fl.STOP, fl.ACTOR) else {}
        victims = []
        sig = signal.SIGSTOP if fault.kind == fl.PAUSE else signal.SIGKILL
        if fault.kind in (fl.KILL, fl.PAUSE):
            led = fl.leader_actors(actors, o.topic, o.partitions, leaders)
            pool = {a.name: a for a in led.values() if a.pid not in self.paused}
            victim = fl.choose(list(pool.values()), planned.pick)
            victims = [victim] if victim else []
            why = "no partition leader is running"
        elif fault.kind == fl.ACTOR:
            victims = [a for a in actors if a.name == fault.target and a.alive]
            why = f"{fault.target} is not running (restarting)"
        elif fault.kind == fl.FOLLOWER:
            victim = fl.choose(fl.follower_actors(actors), planned.pick)
            victims = [victim] if victim else []
            why = "no follower is running"
        elif fault.kind == fl.CONTROLLER:
            victims = [a for a in actors if a.kind == "controller" and a.alive]
            why = "the controller is not running (restarting)"
        elif fault.kind == fl.BROKER:
            up = sorted({a.broker for a in actors if a.kind == "broker" and a.alive and a.broker >= 0})
            broker = fl.choose(up, planned.pick)
            victims = [a for a in actors if broker is not None and a.broker == broker and a.alive]
            why = "no broker is up"
        elif fault.kind == fl.STOP:
            broker = fl.choose(fl.stoppable_brokers(actors, self.stopped, self.paused), planned.pick)
            victims = [a for a in actors if broker is not None and a.broker == broker and a.alive]
            why = "no broker is up (every one crashed, held down, stopped or with a paused actor)"
        else:  # refused up front by check_available
            raise CommandError(f"--faults {fault}: {fl.GROUPS_NOT_AVAILABLE}")
        if not victims:
            event.skipped = why
            self.say(f"fault {planned.index} {fault}: skipped, {why}")
            return []
        if fault.kind == fl.STOP:
            return self._stop(planned, event, broker, victims, leaders, load)
        with load.lock:  # no acknowledgement slips between the signal and the failover's start
            pids = {v.name: v.pid for v in victims}
            if fault.kind == fl.BROKER:
                killed = self.sup.kill_broker(broker, signal.SIGKILL, down_s=o.broker_down)
                gone = [v for v in victims if v.name in killed]
            else:
                gone = []
                for v in victims:
                    try:
                        pids[v.name] = self.sup.kill(v.name, sig)
                        gone.append(v)
                    except KeyError:
                        pass
            at = time.monotonic() - self.t0
            partitions = fl.partitions_led_by(gone, o.topic, o.partitions, leaders)
            if gone and o.acks != 0:  # acks=0: no acknowledgement to close a failover
                load.clock.fault(planned.index, partitions, at + self.t0)
        if not gone:
            event.skipped = "the victim exited before the signal"
            self.say(f"fault {planned.index} {fault}: skipped, {event.skipped}")
            return []
        event.injected_at = round(at, 4)
        event.victims = [v.name for v in gone]
        event.partitions = partitions
        names = ", ".join(f"{v.name} (pid {pids[v.name]})" for v in gone)
        if fault.kind == fl.BROKER:
            event.action = f"crash broker {broker} for {o.broker_down:g} s"
            what = f"{event.action}: SIGKILL {names}"
        elif fault.kind == fl.PAUSE:
            event.action = f"SIGSTOP for {o.pause:g} s"
            what = f"SIGSTOP {names} for {o.pause:g} s"
            for v in gone:
                self.paused[pids[v.name]] = v.name
        else:
            event.action = "SIGKILL"
            what = f"SIGKILL {names}"
        self.say(f"fault {planned.index} {fault}: {what}{self._led(partitions)}", at)
        return [(at + o.pause, Hold(PAUSED, pids[v.name])) for v in gone] if fault.kind == fl.PAUSE else []

    @staticmethod
    def _led(partitions: list[int]) -> str:
        if not partitions:
            return "; leads no partition: no failover figure"
        return f"; leader of partition{'s' if len(partitions) > 1 else ''} {','.join(map(str, partitions))}"

    def _stop(self, planned: fl.PlannedFault, event: FaultEvent, broker: int, victims: list, leaders: dict,
              load: Load) -> list[tuple[float, Hold]]:
        """A controlled stop: the failovers open before ``stop_broker`` (the leaderships move inside it),
        unsettled until it returns; the load's lock is held only to open and settle them, never
        across the call, so the lab delays no acknowledgement."""
        from wire.errors import InvalidRequest

        o = self.o
        partitions = fl.partitions_led_by(victims, o.topic, o.partitions, leaders)
        measure = bool(partitions) and o.acks != 0  # acks=0: no acknowledgement to close a failover
        with load.lock:
            at = time.monotonic() - self.t0
            if measure:
                load.clock.fault(planned.index, partitions, at + self.t0, settled=False)
        self.stopped[broker] = planned.index  # from here on the end starts it again, whatever happens
        try:
            answer = self.sup.stop_broker(broker)
        except InvalidRequest as exc:  # stopped by someone else: nothing happened here
            del self.stopped[broker]
            with load.lock:
                load.clock.cancel(planned.index)
            event.skipped = f"broker {broker} could not be stopped: {exc}"
            self.say(f"fault {planned.index} {planned.fault}: skipped, {event.skipped}")
            return []
        done = time.monotonic()
        if measure:
            with load.lock:
                load.clock.settle(planned.index, done)
        pids = {v.name: v.pid for v in victims}
        event.injected_at = round(at, 4)
        event.victims = list(answer.stopped)
        event.partitions = partitions
        event.action = f"controlled stop of broker {broker} for {o.broker_down:g} s"

        def where(topic: str, partition: int) -> str:
            return f"partition {partition}" if topic == o.topic else f"{topic}-{partition}"

        event.details = [f"moved leader of {where(m.topic, m.partition)} to broker {m.leader} "
                         f"(epoch {m.leader_epoch})" for m in answer.moved]
        if answer.remaining:
            event.details.append("not moved, no in-sync replica elsewhere: " + ", ".join(answer.remaining))
        if answer.stranded:
            event.details.append("nowhere to move: " + ", ".join(answer.stranded))
        if not answer.controlled:
            event.details.append("not controlled (controller unreachable or controlled.shutdown.enable=false): "
                                 "nothing moved first")
        stopped = ", ".join(f"{n} (pid {pids[n]})" if n in pids else n for n in answer.stopped) or "nothing"
        self.say(f"fault {planned.index} {planned.fault}: {event.action} (took {done - self.t0 - at:.3f} s): "
                 + "".join(f"{d}; " for d in event.details) + f"stopped {stopped}{self._led(partitions)}", at)
        return [(done - self.t0 + o.broker_down, Hold(STOPPED, broker))]

    # -- releasing what faults hold ---------------------------------------------------------
    @property
    def holding(self) -> bool:
        return bool(self.paused or self.stopped)

    def release(self, hold: Hold) -> None:
        if hold.kind == PAUSED:
            self.resume(hold.target)
        elif hold.kind == STOPPED:
            self.start(hold.target)

    def release_all(self) -> None:
        """Resume every paused actor and start every stopped broker (the end of a run, even a failed one)."""
        holds = [Hold(PAUSED, pid) for pid in self.paused] + [Hold(STOPPED, b) for b in self.stopped]
        for hold in holds:
            try:
                self.release(hold)
            except Exception as exc:  # noqa: BLE001 - the others still get released; a note says so
                note = f"could not release {hold.kind} {hold.target}: {type(exc).__name__}: {exc}"
                self.notes.append(note)
                self.say(note)

    def resume(self, pid: int) -> None:
        name = self.paused.pop(pid, None)
        if name is None:
            return
        try:
            os.kill(pid, signal.SIGCONT)
            self.say(f"resume: SIGCONT {name} (pid {pid})")
        except ProcessLookupError:
            self.say(f"resume: {name} (pid {pid}) is gone already (killed while paused)")

    def start(self, broker: int) -> None:
        from wire.errors import InvalidRequest

        if self.stopped.pop(broker, None) is None:
            return
        try:
            started = self.sup.start_broker(broker)
        except InvalidRequest as exc:  # started by someone else meanwhile
            self.say(f"start: broker {broker}: {exc}")
            return
        self.say(f"start: broker {broker} ({', '.join(started) or 'nothing to start'}; its replicas follow)")

    # -- the run -------------------------------------------------------------------------
    def drive(self, load: Load, schedule: list[fl.PlannedFault]) -> None:
        """Faults at their times, releases (resumes, starts), status lines and failovers as they happen,
        until the load is done and nothing is held."""
        o = self.o
        events: list = [(p.at, 0, p.index, "fault", p) for p in schedule]
        events += [(STATUS_EVERY_S * k, 2, k, "status", None) for k in range(1, int(o.duration / STATUS_EVERY_S) + 1)
                   if STATUS_EVERY_S * k < o.duration]
        events.append((o.duration, 1, 0, "stop", None))
        heapq.heapify(events)
        order = len(events)  # a tie-breaker for events pushed later
        stopped = False
        while True:
            self._print_failovers(load)
            now = time.monotonic() - self.t0
            if events and events[0][0] <= now:
                _, _, _, kind, item = heapq.heappop(events)
                later = []
                if kind == "fault":
                    later = [(at, "release", hold) for at, hold in self.inject(item, load)]
                elif kind == "release":
                    self.release(item)
                elif kind == "status":
                    self._status(load)
                    if stopped and load.is_alive():
                        later = [(now + STATUS_EVERY_S, "status", None)]
                elif kind == "stop":
                    stopped = True
                    load.stopping.set()
                    self.say(f"load stopped after {load.sent} sends; waiting up to {load.end_wait_s:g} s "
                             "for the last acknowledgements")
                    later = [(now + STATUS_EVERY_S, "status", None)]
                for at, what, thing in later:
                    order += 1
                    heapq.heappush(events, (at, 1, order, what, thing))
                continue
            if stopped and not load.is_alive() and not self.holding:
                break
            if not stopped and not load.is_alive():  # the producer died before its time
                raise CommandError(f"the lab's producer stopped: {type(load.error).__name__}: {load.error}")
            wait = max(min(events[0][0] - now if events else 0.05, 0.05), 0.001)
            if stopped:
                load.join(wait)  # wakes as soon as the last acknowledgement is in
            else:
                load.stopping.wait(wait)
        self._print_failovers(load)
        if load.gave_up:
            note = (f"gave up waiting after {load.end_wait_s:g} s: "
                    + ", ".join(f"partition {p} still had {n} sends unacknowledged" for p, n in load.gave_up.items()))
            self.notes.append(note)
            self.say(note)
        if load.error is not None:
            raise CommandError(f"the lab's producer failed: {type(load.error).__name__}: {load.error}")

    def _print_failovers(self, load: Load) -> None:
        while load.news:
            f = load.news.popleft()
            kind = next((e.fault for e in self.events if e.index == f.fault), "?")
            self.say(f"failover: partition {f.partition} after fault {f.fault} ({kind}): {f.duration:.3f} s",
                     f.at + f.duration - self.t0)

    def _status(self, load: Load) -> None:
        with load.lock:
            acked, failed, outstanding = len(load.acked), len(load.failed), load.outstanding
        self.say(f"load: {load.sent} sent, {acked} acknowledged, {failed} failed, {outstanding} waiting")

    def wait_whole(self) -> None:
        """Every actor runs again (held brokers back, restarts done) before reading back."""
        deadline = time.monotonic() + WHOLE_TIMEOUT_S + max(self.o.broker_down, self.o.pause)
        while True:
            down = [a.name for a in self.sup.actors(memory=False) if not a.alive]
            if not down:
                self.say("cluster whole again: every actor is running")
                return
            if time.monotonic() >= deadline:
                note = f"not running when the read-back began: {', '.join(down)}"
                self.notes.append(note)
                self.say(note)
                return
            time.sleep(0.05)  # polling the supervisor, with a deadline

    def read_back(self) -> tuple[list[fl.Record], int]:
        """Every partition from its log start to its high watermark: (records, foreign values).

        A partition whose offsets nobody answers for is left out, with a note: its
        acknowledged records are not read back, so the verdict counts them lost.
        """
        from wire import Consumer, TopicPartition
        from wire.errors import ZafkaError

        o = self.o
        records: list[fl.Record] = []
        foreign = 0
        with Consumer(bootstrap=self.sup.bootstrap_servers, auto_offset_reset="earliest", fetch_max_wait_ms=100,
                      allow_auto_create_topics=False, request_timeout_ms=5000) as consumer:
            bounds: dict[int, tuple[int, int]] = {}
            errors: dict[int, str] = {}
            deadline = time.monotonic() + OFFSETS_TIMEOUT_S
            while len(bounds) < o.partitions and time.monotonic() < deadline:
                for p in range(o.partitions):
                    if p in bounds:
                        continue
                    tp = TopicPartition(o.topic, p)
                    try:
                        start = consumer.beginning_offsets([tp], timeout_ms=2000)[tp]
                        end = consumer.end_offsets([tp], timeout_ms=2000)[tp]
                    except ZafkaError as exc:
                        errors[p] = f"{type(exc).__name__}: {exc}"
                        continue
                    bounds[p] = (start, end)
            for p in range(o.partitions):
                if p not in bounds:
                    note = (f"partition {p} could not be read back: no leader answered within {OFFSETS_TIMEOUT_S:g} s "
                            f"({errors.get(p, 'no answer')})")
                    self.notes.append(note)
                    self.say(note)
            if not bounds:
                return records, foreign
            tps = [TopicPartition(o.topic, p) for p in sorted(bounds)]
            consumer.assign(tps)
            for tp in tps:
                consumer.seek(tp, bounds[tp.partition][0])
            self.say("reading back: " + ", ".join(f"partition {p} offsets {a}..{b}" for p, (a, b) in bounds.items()))
            nxt = {p: a for p, (a, _) in bounds.items()}
            want = {p: b for p, (_, b) in bounds.items()}
            deadline = time.monotonic() + READ_TIMEOUT_S
            while any(nxt[p] < want[p] for p in want) and time.monotonic() < deadline:
                try:
                    batch = consumer.poll(timeout_ms=500, max_records=20_000)
                except ZafkaError as exc:
                    self.say(f"read back: {type(exc).__name__}: {exc}; retrying")
                    continue
                for r in batch:
                    if r.offset >= want[r.partition]:
                        continue
                    nxt[r.partition] = max(nxt[r.partition], r.offset + 1)
                    try:
                        seq = int(r.value)
                    except (TypeError, ValueError):
                        foreign += 1
                        continue
                    records.append(fl.Record(r.partition, r.offset, seq))
            short = [p for p in want if nxt[p] < want[p]]
            if short:
                note = "read back incomplete: " + ", ".join(f"partition {p} read to {nxt[p]} of {want[p]}"
                                                            for p in short)
                self.notes.append(note)
                self.say(note)
        self.say(f"read back {len(records)} records")
        return records, foreign

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()


def run_lab(opts: LabOptions, *, cluster=None, data_dir: str | None = None, keep: bool = False,
            out=print) -> LabResult:
    """One lab run, its progress and verdict printed through ``out``.

    ``cluster``: a running ``Supervisor`` to use (tests); else the lab starts its
    own in ``data_dir`` or a temp dir, and stops it at the end.
    """
    opts = opts.resolved(len(cluster.broker_ids) if cluster is not None else None)
    schedule = fl.plan_faults(opts.seed, opts.faults, opts.duration, opts.interval)
    out(f"chaos: seed {opts.seed} (repeat this run with --seed {opts.seed}); {opts.duration:g} s, "
        f"a fault every {opts.interval:g} s from {','.join(map(str, opts.faults))}")
    out("schedule: " + (", ".join(f"{p.at:g}s {p.fault}" for p in schedule) or "no fault fits in the duration"))
    own = cluster is None
    temp = own and data_dir is None
    if own:
        if data_dir is None:
            data_dir = tempfile.mkdtemp(prefix="zafka-chaos-")
        where = "a temp dir, removed at the end unless --keep or the verdict fails" if temp else "--data-dir, kept"
        out(f"starting {opts.brokers} brokers in {data_dir} ({where})")
    else:
        data_dir = cluster.data_dir
    sup = None
    result = None
    try:
        if own:
            from supervisor import Supervisor

            if os.path.exists(os.path.join(data_dir, "supervisor.json")):
                from .cluster import _check_not_running

                _check_not_running(data_dir)
            sup = Supervisor(data_dir, brokers=opts.brokers, config=LAB_CONFIG)
            try:
                sup.start()
            except (TimeoutError, RuntimeError) as exc:
                raise CommandError(f"the lab's cluster did not start: {exc}") from None
            out(f"cluster serving: bootstrap {sup.bootstrap_servers}; logs in {sup.logs_dir}")
        else:
            sup = cluster
        result = _run(sup, opts, schedule, out)
        for line in report(result):
            out(line)
        return result
    finally:
        if own and sup is not None:
            sup.stop()
        if temp:
            failed = result is not None and result.exit_status != 0
            if keep or failed:
                out(f"kept the cluster's data and logs in {data_dir}")
            else:
                shutil.rmtree(data_dir, ignore_errors=True)


def _run(sup, opts: LabOptions, schedule, out) -> LabResult:
    lab = Lab(sup, opts, out)
    load = None
    try:
        lab.create_topic()
        acked = lab.warm_up()
        lab.check_victims()
        load = Load(sup.bootstrap_servers, opts, first_seq=opts.partitions, acked=acked)
        lab.t0 = time.monotonic()
        load.start()
        lab.say(f"load started; {len(schedule)} faults to come")
        lab.drive(load, schedule)
    except BaseException:
        if load is not None:
            load.abort.set()
        raise
    finally:
        lab.release_all()  # resumed and started again before the read-back, even when the run fails
        if load is not None:
            load.stopping.set()
            load.join(load.end_wait_s + 10)
        lab.close()
    lab.wait_whole()
    stored, foreign = lab.read_back()
    with load.lock:
        acked, failed = list(load.acked), list(load.failed)
        failovers = list(load.clock.closed)
        unresolved = load.clock.unresolved()
    if load.first_error is not None:
        lab.notes.append(f"{len(failed)} sends failed; the first: {type(load.first_error).__name__}: {load.first_error}")
    done = {r.seq for r in acked}.union(failed)
    never = [seq for seq in range(load.sent) if seq not in done]  # neither acknowledged nor failed by the end
    if never:
        lab.notes.append(f"{len(never)} sends neither acknowledged nor failed when the producer closed "
                         "(counted as unacknowledged)")
    verdict = fl.judge(acked, stored, failed + never, foreign)
    return LabResult(opts, sup.data_dir, verdict, lab.events, sorted(failovers, key=lambda f: (f.fault, f.partition)),
                     unresolved, load.sent, lab.notes)


# -- the report ---------------------------------------------------------------------------------

def report(result: LabResult) -> list[str]:
    """The verdict as a small table, the failovers, and one closing line."""
    v = result.verdict
    o = result.options
    rows = [
        ("acknowledged", v.acknowledged, "records the producer had acknowledged"),
        ("found", v.found, "of those, read back"),
        ("lost", v.lost, "acknowledged, read back nowhere"),
        ("duplicated", v.duplicated, "extra copies (retries of batches written after all; no idempotence)"),
        ("reordered", v.reordered, "acknowledged after a later-sent record in its partition"),
        ("wrong offset", v.wrong_offset, "read back, but not where acknowledged"),
        ("unacknowledged", v.unacknowledged, f"sends that failed (may be stored: {v.unacknowledged_stored} are)"),
        ("stored", v.stored, "records read back in all"),
    ]
    if v.foreign:
        rows.append(("foreign", v.foreign, "records read back that this run did not send"))
    lines = [f"verdict (seed {o.seed}, {o.duration:g} s, {sum(1 for e in result.faults if not e.skipped)} faults, "
             f"RF {o.replication_factor}, min.insync.replicas {o.min_insync_replicas}, acks={o.acks}):"]
    lines += table(rows, ("RESULT", "RECORDS", "MEANING"), right=(1,)).splitlines()
    s = result.stats
    no_figure = [e for e in result.faults if not e.skipped and not e.partitions]
    if s.count:
        lines.append("")

        def row(name: str, fs: fl.FailoverStats, unresolved: int) -> tuple:
            if not fs.count:
                return (name, 0, "-", "-", "-", unresolved)
            return (name, fs.count, f"{fs.median:.3f} s", f"{fs.p99:.3f} s", f"{fs.max:.3f} s", unresolved)

        by_fault = result.stats_by_fault()
        rows = [row("all", s, len(result.unresolved))]
        if len(by_fault) > 1:  # one row per fault, to compare them (stop against broker, say)
            rows += [row(name, fs, u) for name, (fs, u) in by_fault.items()]
        lines += table(rows, ("FAULT", "FAILOVERS", "MEDIAN", "P99", "MAX", "UNRESOLVED"),
                       right=(1, 2, 3, 4, 5)).splitlines()
    elif o.acks == 0:
        lines.append("failovers: not measured with acks=0 (nothing is acknowledged; a send counts as acknowledged "
                     "once it left, without an offset)")
    else:
        lines.append("failovers: none measured" + (f" ({len(result.unresolved)} unresolved)" if result.unresolved else ""))
    if no_figure:
        lines.append(f"no failover figure (no partition leader affected): {len(no_figure)} "
                     f"fault{'s' if len(no_figure) != 1 else ''} ("
                     + ", ".join(sorted({e.fault for e in no_figure})) + ")")
    for i, p, _ in result.unresolved[:5]:
        lines.append(f"unresolved: partition {p} after fault {i} acknowledged nothing sent after the fault")
    for what, examples in v.examples.items():
        lines.append(f"{what.replace('_', ' ')}, e.g.: " + "; ".join(examples))
    for note in result.notes:
        lines.append(f"note: {note}")
    if v.ok:
        lines.append(f"OK: nothing acknowledged was lost, reordered or moved ({v.acknowledged} records checked)")
    elif not v.acknowledged:
        lines.append("FAIL: nothing was acknowledged, so the run proves nothing")
    else:
        lines.append(f"FAIL: {v.lost} lost, {v.reordered} reordered, {v.wrong_offset} at a wrong offset "
                     f"(repeat with --seed {o.seed})")
    return lines


# -- the command ------------------------------------------------------------------------------

def run(args) -> int:
    """``zafka chaos``: parse the options, run the lab, print the verdict (and ``--json``)."""
    if getattr(args, "bootstrap", None):
        raise UsageError("zafka chaos starts its own cluster; it takes no --bootstrap (see `zafka chaos --help`)")
    try:
        faults = fl.parse_faults(args.faults or [fl.DEFAULT_FAULTS])
    except fl.FaultError as exc:
        raise UsageError(f"--faults: {exc} (see `zafka chaos --help`)") from None
    opts = LabOptions(
        duration=args.duration, interval=args.interval, seed=args.seed, faults=faults, brokers=args.brokers,
        partitions=args.partitions, replication_factor=args.replication_factor,
        min_insync_replicas=args.min_insync_replicas, acks=args.acks, broker_down=args.broker_down,
        pause=args.pause, rate=args.rate,
    )
    try:
        opts = opts.resolved()
    except fl.FaultNotAvailable as exc:
        raise CommandError(str(exc)) from None
    stream = sys.stderr if args.json else sys.stdout

    def out(line: str) -> None:
        stream.write(line + "\n")
        stream.flush()

    data_dir = getattr(args, "data_dir", None)
    result = run_lab(opts, data_dir=os.path.abspath(data_dir) if data_dir else None, keep=args.keep, out=out)
    if args.json:
        sys.stdout.write(json.dumps(result.summary()) + "\n")
        sys.stdout.flush()
    return result.exit_status
