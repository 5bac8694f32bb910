"""``zafka chaos`` (also ``scripts/chaos.py``): the fault lab.

Starts its own cluster (in a temp dir unless ``--data-dir``), creates a topic,
produces at ``--rate`` records/s with ``--acks`` and keeps (partition, offset,
value) of every acknowledged record — every value is unique (``f"{seq}"``), sent
round robin by ``seq % partitions`` — while the seeded schedule of
:func:`scripts.cli.faultlab.plan_faults` injects a fault every ``--interval``
seconds. Then it reads every partition back from the log start to the high
watermark and prints the verdict (:func:`scripts.cli.faultlab.judge`) and the
failover durations. docs/fault-lab.md is the tour.

With ``--consumers N`` a consumer group (``chaos-group``) of N member processes
(``scripts/cli/lab_consumer.py``, each logging to ``<data dir>/consumers/``) reads
the topic meanwhile; the ``member`` and ``coordinator`` faults hit it, and after
the read-back the lab waits for the group to catch up and prints the
consumer-side verdict (:func:`scripts.cli.faultlab.judge_group`, rebalances).

The pure parts — fault names, the schedule, victims, failover clock and verdict —
live in ``scripts/cli/faultlab.py``; this module runs processes and threads:

* the **load** thread owns one ``Producer``; its callbacks (on the producer's
  sender thread) record acknowledgements and close failovers;
* the **main** thread injects faults, releases what they hold (resumes paused
  actors, starts stopped brokers and killed members again), prints every event as
  one line, then reads back;
* :class:`Members` runs the group's member processes (started, killed, restarted,
  stopped) and reads their logs.

Importing this module imports nothing heavy (the CLI's rule, see ``main``).
"""

from __future__ import annotations

import heapq
import json
import os
import random
import shutil
import signal
import subprocess
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
    "leader.heartbeat.interval.ms": "200",
    "leader.session.timeout.ms": "1000",
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
GROUP = "chaos-group"  # the lab's consumer group (--consumers N)
DEFAULT_STRATEGY = "range,cooperative-sticky"  # Kafka's default partition.assignment.strategy
GROUP_FORM_TIMEOUT_S = 45.0  # the members must own every partition by then (before the load starts)
CATCHUP_TIMEOUT_S = 30.0  # after the read-back: the group must have consumed everything by then (plus a session)
MEMBER_STOP_S = 10.0  # a member SIGTERMed must be gone by then (else SIGKILL)
MEMBER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lab_consumer.py")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def cluster_config(opts: "LabOptions") -> dict:
    """The lab's cluster config; with consumers, a coordinator that takes the lab's short sessions and
    rebalances a starting group at once."""
    config = dict(LAB_CONFIG)
    if opts.consumers:
        config["group.initial.rebalance.delay.ms"] = "0"
        config["group.min.session.timeout.ms"] = str(min(opts.group_session_ms, 1000))
        config["group.max.session.timeout.ms"] = str(max(opts.group_session_ms, 1_800_000))
    return config


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
    consumers: int = 0  # members of GROUP, each a process of its own (0: no consumer group)
    group_session_ms: int = 3000
    assignment_strategy: str = DEFAULT_STRATEGY
    member_down: float = 3.0  # a killed member's new process starts this long after the kill
    one_broker_down: bool = False  # broker and stop faults wait for every broker to be back
    idempotence: bool = True  # False: --no-idempotence (it is on only with acks=all either way)

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
        o.idempotence = bool(o.idempotence) and o.acks == "all"  # Kafka's rule: it needs acks=all
        fl.check_available(o.faults, o.consumers)
        if o.consumers < 0:
            raise CommandError(f"--consumers {o.consumers}: a number of members, 0 for none")
        if o.consumers:
            from wire.client.assignors import parse_strategy
            from wire.errors import ZafkaError

            if o.group_session_ms < 100:
                raise CommandError(f"--group-session-ms {o.group_session_ms}: at least 100 (heartbeats go every "
                                   "tenth of it)")
            try:
                parse_strategy(o.assignment_strategy)
            except (ZafkaError, ValueError) as exc:
                raise CommandError(f"--assignment-strategy: {exc}") from None
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
                                allow_auto_create_topics=False, enable_idempotence=o.idempotence)
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


# -- the consumer group -------------------------------------------------------------------------

class Members:
    """The group's member processes (``lab_consumer.py``), one log per member slot in ``log_dir``.

    A slot (``member-1`` ... ``member-N``) runs one process at a time; a killed one
    is replaced by a new process (a new member of the group, with a new member id)
    in the same slot and log. The lab writes ``gone T WHY`` into the log of a
    process it killed or found dead, since the process cannot.
    """

    def __init__(self, bootstrap: str, opts: LabOptions, log_dir: str, max_seconds: float):
        self.bootstrap = bootstrap
        self.o = opts
        self.log_dir = log_dir
        self.max_seconds = max_seconds
        self.slots = [f"member-{i}" for i in range(1, opts.consumers + 1)]
        self.procs: dict[str, subprocess.Popen] = {}
        self.down: dict[str, int] = {}  # slot -> the fault that killed its process, until a new one starts
        self.started = 0  # processes started in all
        self.restarts: list[fl.Trigger] = []
        self._read: dict[str, int] = {}  # slot -> bytes of its log read by ``consumed``
        self._values: set[int] = set()
        os.makedirs(log_dir, exist_ok=True)
        for slot in self.slots:  # a fresh log per run
            for suffix in (".log", ".out"):
                try:
                    os.remove(os.path.join(log_dir, slot + suffix))
                except FileNotFoundError:
                    pass

    def log_path(self, slot: str) -> str:
        return os.path.join(self.log_dir, f"{slot}.log")

    def start(self, slot: str) -> subprocess.Popen:
        o = self.o
        argv = [sys.executable, MEMBER_SCRIPT, self.bootstrap, GROUP, o.topic, self.log_path(slot),
                "--strategy", o.assignment_strategy, "--session-ms", str(o.group_session_ms),
                "--max-seconds", f"{self.max_seconds:g}"]
        env = {**os.environ, "PYTHONPATH": ROOT}
        with open(os.path.join(self.log_dir, f"{slot}.out"), "ab") as out:  # its stderr: a traceback, if any
            proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT)
        self.procs[slot] = proc
        self.down.pop(slot, None)
        self.started += 1
        return proc

    def start_all(self) -> None:
        for slot in self.slots:
            self.start(slot)

    def live(self) -> list[str]:
        return [s for s in self.slots if s in self.procs and self.procs[s].poll() is None and s not in self.down]

    def _gone(self, slot: str, at: float, why: str) -> None:
        path = self.log_path(slot)
        cut = False  # the process died mid-line: the lab's line must not join it
        try:
            with open(path, "rb") as f:
                size = f.seek(0, os.SEEK_END)
                if size:
                    f.seek(size - 1)
                    cut = f.read(1) != b"\n"
        except FileNotFoundError:
            pass
        with open(path, "a") as f:
            f.write(("\n" if cut else "") + f"{fl.GONE} {at:.6f} {why}\n")

    def kill(self, slot: str, fault: int) -> tuple[int, float]:
        """SIGKILL the slot's process; (its pid, when, monotonic). It stays down until ``restart``."""
        proc = self.procs[slot]
        proc.kill()
        at = time.monotonic()
        proc.wait(10)
        self.down[slot] = fault
        self._gone(slot, at, "SIGKILL")
        return proc.pid, at

    def restart(self, slot: str) -> subprocess.Popen | None:
        fault = self.down.get(slot)
        if fault is None:
            return None
        at = time.monotonic()  # before the process can write its ``start``
        proc = self.start(slot)
        self.restarts.append(fl.Trigger(at, fault, fl.RESTART, from_trigger=False, member=slot))
        return proc

    def check(self) -> list[str]:
        """Processes that exited by themselves (not killed by the lab): noted in their log and started again."""
        notes = []
        for slot, proc in list(self.procs.items()):
            if slot in self.down or proc.poll() is None:
                continue
            self._gone(slot, time.monotonic(), f"exit:{proc.returncode}")
            notes.append(f"{slot} (pid {proc.pid}) exited by itself with status {proc.returncode} "
                         f"(see {os.path.join(self.log_dir, slot + '.out')}); started a new one")
            self.start(slot)
        return notes

    def stop_all(self) -> None:
        """SIGTERM every process (each closes: leaves the group), SIGKILL what is still there after MEMBER_STOP_S."""
        running = {slot: p for slot, p in self.procs.items() if p.poll() is None}
        for p in running.values():
            p.terminate()
        deadline = time.monotonic() + MEMBER_STOP_S
        for slot, p in running.items():
            try:
                p.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
                self._gone(slot, time.monotonic(), "SIGKILL (did not stop)")
        self.down.clear()

    def events(self) -> tuple[list[fl.MemberEvent], int]:
        """Every slot's log parsed: (events, malformed lines)."""
        events: list[fl.MemberEvent] = []
        bad = 0
        for slot in self.slots:
            try:
                with open(self.log_path(slot)) as f:
                    text = f.read()
            except FileNotFoundError:
                continue
            got, n = fl.parse_member_log(text, slot)
            events += got
            bad += n
        return events, bad

    def consumed(self) -> set[int]:
        """The sequence numbers consumed so far, reading only what the logs gained since the last call."""
        for slot in self.slots:
            try:
                with open(self.log_path(slot), "rb") as f:
                    f.seek(self._read.get(slot, 0))
                    data = f.read()
            except FileNotFoundError:
                continue
            end = data.rfind(b"\n") + 1  # whole lines only
            self._read[slot] = self._read.get(slot, 0) + end
            events = []
            for line in data[:end].decode(errors="replace").splitlines():
                if line.startswith(fl.REC + " "):
                    try:
                        events.append(fl.parse_member_line(line, slot))
                    except ValueError:
                        pass
            self._values |= fl.consumed_values(events)
        return self._values

    def owners(self) -> dict[str, set[int]]:
        return fl.owned(self.events()[0])


@dataclass
class GroupResult:
    """The consumer side of a run (``--consumers N``); times in seconds after the load started."""

    verdict: fl.GroupVerdict
    rebalances: list  # fl.Rebalance, times relative to the load's start
    formed_in: float  # seconds from starting the members to every partition owned (before the load)
    commit_gaps: dict  # fault index -> seconds from the fault to the first acknowledged commit begun after it
    processes: int
    malformed: int
    log_dir: str

    @property
    def stats(self) -> fl.FailoverStats:
        return fl.failover_stats(w.duration for w in self.rebalances if w.closed is not None)

    @property
    def unresolved(self) -> int:
        return sum(1 for w in self.rebalances if w.closed is None)


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
PAUSED, STOPPED, MEMBER_DOWN = "paused", "stopped", "member down"


class Hold(NamedTuple):
    kind: str  # PAUSED: a SIGSTOPped pid, to SIGCONT; STOPPED: a broker stopped cleanly, to start again;
    #            MEMBER_DOWN: a killed member's slot, to start a new process in
    target: int | str  # the pid, the broker id, or the member's slot


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
    group: GroupResult | None = None  # --consumers N

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
        """The producer's verdict (:func:`fl.exit_status`), and with a group: 1 when a member missed anything."""
        status = fl.exit_status(self.verdict)
        if self.group is not None and not self.group.verdict.ok:
            status = status or 1
        return status

    def rebalance_stats_by_fault(self) -> dict[str, tuple[fl.FailoverStats, int]]:
        return fl.rebalance_stats_by(self.group.rebalances) if self.group is not None else {}

    def group_summary(self) -> dict | None:
        g = self.group
        if g is None:
            return None

        def window(w: fl.Rebalance) -> dict:
            return {"fault": w.fault, "label": w.label, "from_s": _round(w.start), "opened_s": _round(w.opened),
                    "closed_s": _round(w.closed), "seconds": _round(w.duration), "absorbed": list(w.absorbed)}

        return {
            "group_id": GROUP, "members": self.options.consumers, "processes": g.processes,
            "verdict": g.verdict.as_dict(), "formed_in_s": _round(g.formed_in),
            "rebalance": {**_stats_dict(g.stats, g.unresolved),
                          "by_fault": {n: _stats_dict(fs, u) for n, (fs, u) in self.rebalance_stats_by_fault().items()},
                          "windows": [window(w) for w in g.rebalances]},
            "commit_gaps_s": {str(i): _round(v) for i, v in g.commit_gaps.items()},
            "malformed_lines": g.malformed, "log_dir": g.log_dir,
        }

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
            "consumers": o.consumers, "group_session_ms": o.group_session_ms,
            "assignment_strategy": o.assignment_strategy, "member_down_s": o.member_down,
            "one_broker_down": o.one_broker_down, "idempotence": o.idempotence,
            "verdict": self.verdict.as_dict(),
            "failover": {**_stats_dict(s, len(self.unresolved)),
                         "by_fault": {n: _stats_dict(fs, u) for n, (fs, u) in self.stats_by_fault().items()}},
            "faults": [{**e.__dict__, "failovers": by_fault.get(e.index, []),
                        **({"rebalances": [{"label": w.label, "seconds": _round(w.duration)}
                                           for w in self.group.rebalances if w.fault == e.index],
                            **({"commit_gap_s": _round(self.group.commit_gaps[e.index])}
                               if e.index in self.group.commit_gaps else {})}
                           if self.group is not None else {})} for e in self.faults],
            "group": self.group_summary(),
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
        self.members: Members | None = None  # --consumers N
        self.fault_at: dict[int, float] = {}  # fault index -> when it was injected (monotonic, unrounded)
        self.group_ready = 0.0  # when the members owned every partition, before the load (monotonic)
        self.group_formed_in = 0.0  # ... seconds after they were started

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
    def _ensure_metadata(self) -> None:
        from wire.client.metadata import ClusterMetadata
        from wire.connections import ConnectionPool

        if self._metadata is None:
            self._pool = ConnectionPool()
            self._metadata = ClusterMetadata(self.sup.bootstrap_servers, self._pool, timeout_ms=1000)

    def group_coordinator(self) -> int | None:
        """The broker whose coordinator serves GROUP (the leader of its ``__consumer_offsets`` partition), as
        FindCoordinator answers it; None when no broker does."""
        from wire.errors import ZafkaError
        from wire.groups import FindCoordinator

        self._ensure_metadata()
        for endpoint in self._metadata.endpoints():
            try:
                response, _ = self._pool.call(endpoint, FindCoordinator(key=GROUP), timeout_ms=2000)
            except ZafkaError:
                continue
            if not response.error and response.node_id >= 0:
                return response.node_id
        return None

    def leader_map(self) -> dict[int, fl.LeaderInfo]:
        """partition → leader (broker, endpoint) from fresh metadata; {} when no broker answers."""
        from wire.errors import ZafkaError

        self._ensure_metadata()
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
        elif fault.kind in (fl.BROKER, fl.STOP) and o.one_broker_down and (
                down := fl.brokers_down(actors, o.brokers, self.stopped)):
            victims = []
            why = f"broker {', '.join(map(str, sorted(down)))} is down and --one-broker-down keeps it to one"
        elif fault.kind == fl.BROKER:
            up = sorted({a.broker for a in actors if a.kind == "broker" and a.alive and a.broker >= 0})
            broker = fl.choose(up, planned.pick)
            victims = [a for a in actors if broker is not None and a.broker == broker and a.alive]
            why = "no broker is up"
        elif fault.kind == fl.STOP:
            broker = fl.choose(fl.stoppable_brokers(actors, self.stopped, self.paused), planned.pick)
            victims = [a for a in actors if broker is not None and a.broker == broker and a.alive]
            why = "no broker is up (every one crashed, held down, stopped or with a paused actor)"
        elif fault.kind == fl.COORDINATOR:
            broker = self.group_coordinator()
            victims = [a for a in actors if broker is not None and a.name == f"coordinator-{broker}" and a.alive]
            why = (f"no broker answered FindCoordinator for {GROUP}" if broker is None
                   else f"coordinator-{broker} is not running (restarting)")
        elif fault.kind == fl.MEMBER:
            return self._kill_member(planned, event)
        else:  # every kind is handled above
            raise CommandError(f"--faults {fault}: unknown to the lab")
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
        self.fault_at[planned.index] = at + self.t0
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
            if fault.kind == fl.COORDINATOR:
                what += f" (serves group {GROUP})"
        self.say(f"fault {planned.index} {fault}: {what}{self._led(partitions)}", at)
        return [(at + o.pause, Hold(PAUSED, pids[v.name])) for v in gone] if fault.kind == fl.PAUSE else []

    def _kill_member(self, planned: fl.PlannedFault, event: FaultEvent) -> list[tuple[float, Hold]]:
        """SIGKILL a random running member process; a new one starts in its slot --member-down seconds later."""
        members = self.members
        slot = fl.choose(members.live(), planned.pick)
        if slot is None:
            event.skipped = "no member is running"
            self.say(f"fault {planned.index} {planned.fault}: skipped, {event.skipped}")
            return []
        held = sorted(set().union(*(ps for m, ps in members.owners().items() if m.partition("#")[0] == slot)))
        pid, when = members.kill(slot, planned.index)
        at = when - self.t0
        event.injected_at = round(at, 4)
        self.fault_at[planned.index] = when
        event.victims = [slot]
        event.action = f"SIGKILL, a new process in {self.o.member_down:g} s"
        owning = (f"owning partition{'s' if len(held) != 1 else ''} {','.join(map(str, held))}" if held
                  else "owning none")
        self.say(f"fault {planned.index} {planned.fault}: SIGKILL {slot} (pid {pid}), {owning}; "
                 f"a new process in {self.o.member_down:g} s", at)
        return [(at + self.o.member_down, Hold(MEMBER_DOWN, slot))]

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
        self.fault_at[planned.index] = at + self.t0
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
        return bool(self.paused or self.stopped or (self.members is not None and self.members.down))

    def release(self, hold: Hold) -> None:
        if hold.kind == PAUSED:
            self.resume(hold.target)
        elif hold.kind == STOPPED:
            self.start(hold.target)
        elif hold.kind == MEMBER_DOWN:
            self.restart_member(hold.target)

    def restart_member(self, slot: str) -> None:
        proc = self.members.restart(slot) if self.members is not None else None
        if proc is not None:
            self.say(f"restart: {slot}: a new process (pid {proc.pid}) joins {GROUP}")

    def check_members(self) -> None:
        if self.members is None:
            return
        for note in self.members.check():
            self.notes.append(note)
            self.say(note)

    def release_all(self) -> None:
        """Resume every paused actor, start every stopped broker and killed member (the end of a run, even a
        failed one)."""
        holds = [Hold(PAUSED, pid) for pid in self.paused] + [Hold(STOPPED, b) for b in self.stopped]
        holds += [Hold(MEMBER_DOWN, slot) for slot in (self.members.down if self.members is not None else ())]
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
            self.check_members()
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

    # -- the consumer group ---------------------------------------------------------------
    def start_group(self) -> None:
        """Start the members and wait until they own every partition (before the load and the first fault)."""
        o = self.o
        log_dir = os.path.join(self.sup.data_dir, "consumers")
        self.members = members = Members(self.sup.bootstrap_servers, o, log_dir, max_seconds=o.duration + 900)
        began = time.monotonic()
        members.start_all()
        everything = set(range(o.partitions))
        while True:  # every partition owned, and by as many members as can have one: everyone joined
            owners = members.owners()
            if everything <= set().union(*owners.values()) and len(owners) >= min(o.consumers, o.partitions):
                break
            self.check_members()
            if time.monotonic() - began >= GROUP_FORM_TIMEOUT_S:
                raise CommandError(f"the consumer group {GROUP} did not take every partition within "
                                   f"{GROUP_FORM_TIMEOUT_S:g} s of starting its members; their logs are in {log_dir}")
            time.sleep(0.1)  # polling the members' logs, with a deadline
        self.group_ready = time.monotonic()
        self.group_formed_in = self.group_ready - began
        split = "; ".join(f"{m.partition('#')[0]} {','.join(map(str, sorted(ps)))}" for m, ps in sorted(owners.items()))
        self.out(f"group {GROUP}: {o.consumers} member processes own the {o.partitions} partitions "
                 f"{self.group_formed_in:.2f} s after they started ({split}); {o.assignment_strategy}, "
                 f"session {o.group_session_ms} ms; their logs are in {log_dir}")

    def finish_group(self, acked: list[fl.Record]) -> GroupResult:
        """Wait (bounded) until the members consumed every acknowledged record, stop them, judge their logs."""
        o = self.o
        members = self.members
        want = {r.seq for r in acked}
        wait_s = CATCHUP_TIMEOUT_S + o.group_session_ms / 1000
        deadline = time.monotonic() + wait_s
        self.say(f"group: waiting up to {wait_s:g} s for {GROUP} to consume the {len(want)} acknowledged records")
        everything = set(range(o.partitions))
        caught_up = False
        while True:  # everything consumed, then the group whole again (a restarted member joined)
            self.check_members()
            if not caught_up:
                left = len(want - members.consumed())
                if not left:
                    caught_up = True
                    self.say("group caught up: every acknowledged record consumed")
            if caught_up:
                owners = members.owners()
                if everything <= set().union(*owners.values()) and len(owners) >= min(o.consumers, o.partitions):
                    break
            if time.monotonic() >= deadline:
                note = (f"the group had not consumed {left} acknowledged records after {wait_s:g} s" if not caught_up
                        else f"the group was not whole again (every member in, every partition owned) {wait_s:g} s "
                             "after the load")
                self.notes.append(note)
                self.say(note)
                break
            time.sleep(0.2)  # polling the members' logs, with a deadline
        until = time.monotonic()
        members.stop_all()
        events, malformed = members.events()
        verdict = fl.judge_group(acked, fl.consumed_records(events))
        injected = [e for e in self.events if not e.skipped and e.index in self.fault_at]
        triggers = [fl.Trigger(self.fault_at[e.index], e.index, e.fault) for e in injected] + members.restarts
        _, windows = fl.rebalances(events, o.partitions, triggers, until, since=self.group_ready)
        hit = [(e.index, self.fault_at[e.index]) for e in injected
               if any(v.startswith("coordinator-") for v in e.victims)]
        gaps = fl.commit_gaps(events, hit)
        t0 = self.t0
        windows = [w._replace(start=w.start - t0, opened=w.opened - t0,
                              closed=None if w.closed is None else w.closed - t0) for w in windows]
        said = [(w.closed if w.closed is not None else w.opened, _rebalance_line(w)) for w in windows]
        for index, gap in gaps.items():
            kind = next(e.fault for e in injected if e.index == index)
            said.append((self.fault_at[index] - t0 + (gap or 0), f"commits after fault {index} ({kind}): " + (
                f"the first acknowledged {gap:.3f} s after it" if gap is not None else "none acknowledged")))
        for at, line in sorted(said):  # what the members' logs tell, in time order
            self.say(line, at)
        if malformed:
            self.notes.append(f"{malformed} lines of the members' logs were cut short or unreadable (skipped)")
        return GroupResult(verdict, windows, self.group_formed_in, gaps, members.started, malformed,
                           members.log_dir)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()


def _rebalance_line(w: fl.Rebalance) -> str:
    if w.label == fl.UNPROMPTED:
        what, since = "rebalance (no fault before it)", "the first revocation"
    elif w.label == fl.RESTART:
        what, since = f"rebalance after fault {w.fault}'s member restart", "the first revocation"
    else:
        what, since = f"rebalance after fault {w.fault} ({w.label})", "the fault"
    text = (f"{what}: every partition owned again {w.duration:.3f} s after {since}" if w.closed is not None
            else f"{what}: a partition still had no owner at the end")
    if w.absorbed:
        text += f" ({', '.join(w.absorbed)} came meanwhile)"
    return text


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
            sup = Supervisor(data_dir, brokers=opts.brokers, config=cluster_config(opts))
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
    try:
        return _run_lab(lab, sup, opts, schedule)
    finally:
        if lab.members is not None:
            lab.members.stop_all()  # whatever happened: no member outlives the run


def _run_lab(lab: "Lab", sup, opts: LabOptions, schedule) -> LabResult:
    load = None
    try:
        lab.create_topic()
        acked = lab.warm_up()
        lab.check_victims()
        if opts.consumers:
            lab.start_group()
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
    verdict = fl.judge(acked, stored, failed + never, foreign, idempotent=opts.idempotence)
    group = lab.finish_group(acked) if lab.members is not None else None
    return LabResult(opts, sup.data_dir, verdict, lab.events, sorted(failovers, key=lambda f: (f.fault, f.partition)),
                     unresolved, load.sent, lab.notes, group)


# -- the report ---------------------------------------------------------------------------------

def report(result: LabResult) -> list[str]:
    """The verdict as a small table, the failovers, and one closing line."""
    v = result.verdict
    o = result.options
    rows = [
        ("acknowledged", v.acknowledged, "records the producer had acknowledged"),
        ("found", v.found, "of those, read back"),
        ("lost", v.lost, "acknowledged, read back nowhere"),
        ("duplicated", v.duplicated, "extra copies: an idempotent producer's must be 0" if v.idempotent
         else "extra copies (retries of batches written after all; --no-idempotence)"),
        ("reordered", v.reordered, "acknowledged after a later-sent record in its partition"),
        ("wrong offset", v.wrong_offset, "read back, but not where acknowledged"),
        ("unacknowledged", v.unacknowledged, f"sends that failed (may be stored: {v.unacknowledged_stored} are)"),
        ("stored", v.stored, "records read back in all"),
    ]
    if v.foreign:
        rows.append(("foreign", v.foreign, "records read back that this run did not send"))
    lines = [f"verdict (seed {o.seed}, {o.duration:g} s, {sum(1 for e in result.faults if not e.skipped)} faults, "
             f"RF {o.replication_factor}, min.insync.replicas {o.min_insync_replicas}, acks={o.acks}, "
             f"{'idempotent' if o.idempotence else 'not idempotent'}):"]
    lines += table(rows, ("RESULT", "RECORDS", "MEANING"), right=(1,)).splitlines()
    s = result.stats
    no_figure = [e for e in result.faults if not e.skipped and not e.partitions]
    if s.count:
        lines.append("")
        by_fault = result.stats_by_fault()
        rows = [_stats_row("all", s, len(result.unresolved))]
        if len(by_fault) > 1:  # one row per fault, to compare them (stop against broker, say)
            rows += [_stats_row(name, fs, u) for name, (fs, u) in by_fault.items()]
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
        lines.append(f"OK: nothing acknowledged was lost, reordered or moved"
                     + (", nothing stored twice" if v.idempotent else "") + f" ({v.acknowledged} records checked)")
    elif not v.acknowledged:
        lines.append("FAIL: nothing was acknowledged, so the run proves nothing")
    else:
        lines.append(f"FAIL: {v.lost} lost, {v.reordered} reordered, {v.wrong_offset} at a wrong offset"
                     + (f", {v.duplicated} stored twice by an idempotent producer" if v.idempotent else "")
                     + f" (repeat with --seed {o.seed})")
    if result.group is not None:
        lines += group_report(result)
    return lines


def _stats_row(name: str, fs: fl.FailoverStats, unresolved: int) -> tuple:
    if not fs.count:
        return (name, 0, "-", "-", "-", unresolved)
    return (name, fs.count, f"{fs.median:.3f} s", f"{fs.p99:.3f} s", f"{fs.max:.3f} s", unresolved)


def group_report(result: LabResult) -> list[str]:
    """The consumer side (--consumers N): what the members missed or read again, the rebalances, one closing line."""
    g = result.group
    v = g.verdict
    o = result.options
    rows = [
        ("acknowledged", v.acknowledged, "records the producer had acknowledged"),
        ("consumed", v.consumed, "of those, consumed by a member"),
        ("missing", v.missing, "acknowledged, consumed by no member"),
        ("duplicated", v.duplicated, f"consumed again: {v.redelivered_uncommitted} not committed before "
                                     f"(a killed member, a failed commit), {v.redelivered_committed} committed"),
        ("consumed in all", v.consumed_total, "records the members processed"),
    ]
    if v.foreign:
        rows.append(("foreign", v.foreign, "consumed records that this run did not send"))
    lines = ["", f"consumer verdict (group {GROUP}, {o.consumers} members, {g.processes} processes, "
                 f"{o.assignment_strategy}, session {o.group_session_ms} ms):"]
    lines += table(rows, ("RESULT", "RECORDS", "MEANING"), right=(1,)).splitlines()
    s = g.stats
    if g.rebalances:
        lines.append("")
        by_fault = result.rebalance_stats_by_fault()
        out = [_stats_row("all", s, g.unresolved)]
        if by_fault:  # a row per fault: a killed member against a killed coordinator, say
            out += [_stats_row(name, fs, u) for name, (fs, u) in by_fault.items()]
        lines += table(out, ("FAULT", "REBALANCES", "MEDIAN", "P99", "MAX", "UNRESOLVED"),
                       right=(1, 2, 3, 4, 5)).splitlines()
    else:
        lines.append("rebalances: none (no partition was ever without an owner after the group formed)")
    if g.commit_gaps:
        lines.append("commits after a coordinator was killed: " + "; ".join(
            f"fault {i} {'none acknowledged' if gap is None else f'{gap:.3f} s'}" for i, gap in g.commit_gaps.items()))
    for what, examples in v.examples.items():
        lines.append(f"{what.replace('_', ' ')}, e.g.: " + "; ".join(examples))
    if v.ok:
        lines.append(f"OK (group): every acknowledged record was consumed by a member ({v.acknowledged} checked, "
                     f"{v.duplicated} consumed again)")
    elif not v.acknowledged:
        lines.append("FAIL (group): nothing was acknowledged, so the run proves nothing")
    else:
        lines.append(f"FAIL (group): {v.missing} acknowledged records consumed by no member "
                     f"(repeat with --seed {o.seed}; the members' logs are in {g.log_dir})")
    return lines


# -- the command ------------------------------------------------------------------------------

def options(args) -> LabOptions:
    """The command line's flags as lab options (not yet resolved)."""
    try:
        faults = fl.parse_faults(args.faults or [fl.DEFAULT_FAULTS])
    except fl.FaultError as exc:
        raise UsageError(f"--faults: {exc} (see `zafka chaos --help`)") from None
    return LabOptions(
        duration=args.duration, interval=args.interval, seed=args.seed, faults=faults, brokers=args.brokers,
        partitions=args.partitions, replication_factor=args.replication_factor,
        min_insync_replicas=args.min_insync_replicas, acks=args.acks, broker_down=args.broker_down,
        pause=args.pause, rate=args.rate, consumers=args.consumers, group_session_ms=args.group_session_ms,
        assignment_strategy=args.assignment_strategy, member_down=args.member_down,
        one_broker_down=args.one_broker_down, idempotence=not args.no_idempotence,
    )


def run(args) -> int:
    """``zafka chaos``: parse the options, run the lab, print the verdict (and ``--json``)."""
    if getattr(args, "bootstrap", None):
        raise UsageError("zafka chaos starts its own cluster; it takes no --bootstrap (see `zafka chaos --help`)")
    opts = options(args)
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
