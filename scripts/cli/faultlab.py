"""The fault lab's pure parts: fault names, the schedule a seed gives, victims, failovers and the verdict.

No processes, sockets or clocks here (``scripts/cli/chaos.py`` runs the lab and
passes times in), so everything is unit-tested directly
(``tests/unit/test_chaos_*.py``). docs/fault-lab.md is the user's tour.

* :func:`parse_faults` reads ``--faults`` (``kill,pause,actor:broker-2,...``);
  :func:`check_available` refuses the names whose machinery does not exist yet.
* :func:`plan_faults` turns (seed, faults, duration, interval) into the schedule:
  the same seed always gives the same schedule (times, kinds and each fault's
  ``pick``, the number that chooses its victim among the candidates of the moment).
* :func:`leader_actors`, :func:`follower_actors`, :func:`stoppable_brokers`,
  :func:`choose` and :func:`partitions_led_by` find victims and the partitions a
  fault takes down.
* :class:`FailoverClock` measures failovers: fault → first acknowledgement of a
  record sent to an affected partition after the fault (for a fault that takes a
  while, like a controlled stop, also the longest wait of a record sent meanwhile);
  :func:`failover_stats_by` breaks them down by fault.
* :func:`judge` compares what was acknowledged with what was read back.
* The consumer group (``--consumers N``): :func:`parse_member_log` reads a member's
  log (``scripts/cli/lab_consumer.py`` writes it); :func:`consumed_records` and
  :func:`judge_group` give the consumer-side verdict (missing, consumed again);
  :func:`rebalances` finds the windows in which some partition had no owner and
  blames each on the fault (or member restart) before it; :func:`commit_gaps`
  measures fault → first acknowledged commit.
"""

from __future__ import annotations

import math
import random
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import NamedTuple, Protocol

# -- fault names -------------------------------------------------------------------------------

KILL, ACTOR, FOLLOWER, CONTROLLER, BROKER, STOP, PAUSE, MEMBER, COORDINATOR = (
    "kill", "actor", "follower", "controller", "broker", "stop", "pause", "member", "coordinator",
)
FAULT_HELP = {
    KILL: "SIGKILL a random partition leader",
    ACTOR: "SIGKILL the named actor, e.g. actor:broker-2 (repeatable)",
    FOLLOWER: "SIGKILL a random follower (a fetcher-... actor; needs RF > 1 and replication)",
    CONTROLLER: "SIGKILL the controller",
    BROKER: "crash a whole broker (SIGKILL every actor of it) and keep it down --broker-down seconds",
    STOP: "stop a random broker cleanly (controlled shutdown: its leaderships moved to in-sync replicas "
          "first), keep it down --broker-down seconds, then start it again",
    PAUSE: "SIGSTOP a random partition leader for --pause seconds, then SIGCONT",
    MEMBER: "SIGKILL a random consumer-group member process (needs --consumers) and start a new one "
            "--member-down seconds later",
    COORDINATOR: "SIGKILL the group coordinator actor (coordinator-N) of the broker that serves the lab's group "
                 "(needs --consumers)",
}
KINDS = tuple(FAULT_HELP)
# Faults, not operations: a controlled stop (``stop``) is a planned restart, chosen on purpose
# (it is what to compare ``broker`` with); leaving it out also keeps every default seed's schedule.
DEFAULT_FAULTS = "kill,pause,broker,controller"
GROUP_FAULTS = (MEMBER, COORDINATOR)


class FaultError(ValueError):
    """``--faults`` names something that is no fault (a usage error)."""


class FaultNotAvailable(Exception):
    """A known fault this run cannot take (a group fault without a consumer group)."""


@dataclass(frozen=True, order=True)
class Fault:
    kind: str
    target: str = ""  # the actor's name, for ``actor:NAME``

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}" if self.target else self.kind


def parse_faults(texts: str | Iterable[str]) -> list[Fault]:
    """``"kill,pause,actor:broker-2"`` (or several such strings) → faults, first appearance first, no repeats."""
    items = [texts] if isinstance(texts, str) else list(texts)
    out: list[Fault] = []
    for text in items:
        for raw in str(text).split(","):
            word = raw.strip()
            if not word:
                continue
            kind, sep, target = word.partition(":")
            kind = kind.strip().lower()
            target = target.strip()
            if kind not in KINDS:
                raise FaultError(f"unknown fault {word!r}; faults are {', '.join(k if k != ACTOR else 'actor:NAME' for k in KINDS)}")
            if kind == ACTOR:
                if not target:
                    raise FaultError(f"{word!r}: name the actor, e.g. actor:broker-2 or actor:leader-chaos-0 "
                                     "(see `zafka actors`)")
            elif sep:
                raise FaultError(f"{word!r}: only actor:NAME takes a name; {kind} picks its own victim")
            fault = Fault(kind, target)
            if fault not in out:
                out.append(fault)
    if not out:
        raise FaultError("--faults names no fault")
    return out


def check_available(faults: Iterable[Fault], consumers: int = 0) -> None:
    """Refuse, in one line, the group faults of a run without a consumer group (they would do nothing)."""
    for fault in faults:
        if fault.kind in GROUP_FAULTS and consumers < 1:
            raise FaultNotAvailable(f"--faults {fault.kind}: the run has no consumer group; add --consumers N "
                                    f"(N >= 1), or leave {fault.kind} out")


# -- the schedule ------------------------------------------------------------------------------

class PlannedFault(NamedTuple):
    index: int  # 1-based
    at: float  # seconds after the load started
    fault: Fault
    pick: float  # in [0, 1): which of the candidates of the moment is the victim


def plan_faults(seed: int, faults: Sequence[Fault], duration: float, interval: float) -> list[PlannedFault]:
    """One fault every ``interval`` seconds (at interval, 2×interval, ... before ``duration``).

    The kinds are dealt like cards: each round of ``len(faults)`` slots uses every
    fault once, in an order shuffled by the seed, so a short run still exercises
    every kind. Depends on nothing but its arguments.
    """
    if not interval > 0 or not duration > 0:
        raise ValueError("duration and interval must be positive")
    if not faults:
        return []
    rnd = random.Random(seed)
    planned: list[PlannedFault] = []
    deck: list[Fault] = []
    k = 1
    while k * interval < duration:
        if not deck:
            deck = list(faults)
            rnd.shuffle(deck)
        fault = deck.pop()
        planned.append(PlannedFault(k, k * interval, fault, rnd.random()))
        k += 1
    return planned


# -- victims -----------------------------------------------------------------------------------

class ActorLike(Protocol):  # supervisor's control.ActorStatus has these fields
    name: str
    kind: str
    broker: int
    alive: bool
    endpoint: str
    pid: int


class LeaderInfo(NamedTuple):
    """A partition's leader as metadata names it."""

    broker: int
    endpoint: str


def leader_name(topic: str, partition: int) -> str:
    return f"leader-{topic}-{partition}"


def leader_actors(actors: Iterable[ActorLike], topic: str, partitions: int,
                  leaders: dict[int, LeaderInfo] | None = None) -> dict[int, ActorLike]:
    """partition → the running actor that leads it.

    The actor whose endpoint metadata names as the partition's leader; failing
    that (no metadata, or it names a dead actor) the running ``leader-<topic>-<p>``.
    """
    alive = [a for a in actors if a.alive]
    by_endpoint = {a.endpoint: a for a in alive if a.endpoint}
    by_name = {a.name: a for a in alive}
    out = {}
    for p in range(partitions):
        info = (leaders or {}).get(p)
        actor = by_endpoint.get(info.endpoint) if info and info.endpoint else None
        actor = actor or by_name.get(leader_name(topic, p))
        if actor is not None:
            out[p] = actor
    return out


def follower_actors(actors: Iterable[ActorLike]) -> list[ActorLike]:
    """Running followers: actors of kind ``fetcher`` or named ``fetcher-...`` (DESIGN.md §6's names)."""
    return sorted((a for a in actors if a.alive and (a.kind == "fetcher" or a.name.startswith("fetcher-"))),
                  key=lambda a: a.name)


def stoppable_brokers(actors: Iterable[ActorLike], stopped: Iterable[int] = (),
                      paused_pids: Iterable[int] = ()) -> list[int]:
    """Brokers a controlled stop may take, sorted: the broker actor runs (not crashed, not held
    down), the lab has not stopped it already, and none of its actors is SIGSTOPped (a stopped
    process takes its SIGTERM only once resumed, so the stop would hang until then)."""
    actors = list(actors)
    stopped, paused = set(stopped), set(paused_pids)
    frozen = {a.broker for a in actors if a.alive and a.pid in paused}
    return sorted({a.broker for a in actors if a.kind == "broker" and a.alive and a.broker >= 0}
                  - stopped - frozen)


def brokers_down(actors: Iterable[ActorLike], brokers: int, stopped: Iterable[int] = ()) -> set[int]:
    """Brokers not serving now: crashed (and held down), restarting, or stopped by the lab; with
    ``--one-broker-down`` no broker fault starts while this is not empty."""
    up = {a.broker for a in actors if a.kind == "broker" and a.alive and a.broker >= 0}
    return (set(range(1, brokers + 1)) - up) | set(stopped)


def choose(candidates: Sequence, pick: float):
    """The ``pick``-th of the candidates (sorted by name, or as given for plain values); None if there are none."""
    if not candidates:
        return None
    ordered = sorted(candidates, key=lambda c: getattr(c, "name", c))
    return ordered[min(int(pick * len(ordered)), len(ordered) - 1)]


def partitions_led_by(victims: Iterable[ActorLike], topic: str, partitions: int,
                      leaders: dict[int, LeaderInfo] | None = None) -> list[int]:
    """The partitions whose leader is among ``victims`` (by endpoint in metadata, or by name)."""
    victims = list(victims)
    endpoints = {v.endpoint for v in victims if v.endpoint}
    names = {v.name for v in victims}
    out = []
    for p in range(partitions):
        info = (leaders or {}).get(p)
        if (info is not None and info.endpoint in endpoints) or leader_name(topic, p) in names:
            out.append(p)
    return out


# -- failovers ---------------------------------------------------------------------------------

class Failover(NamedTuple):
    fault: int  # the fault's index
    partition: int
    at: float  # when the fault was injected
    duration: float  # fault → first acknowledgement of a record sent after it


@dataclass
class _Open:
    index: int
    at: float  # the fault began
    settled: float  # the fault was complete (math.inf: not yet)
    worst: float = 0.0  # the longest wait of a record sent in [at, settled)


class FailoverClock:
    """Open failovers per partition; an acknowledgement closes those it proves over.

    A failover of partition p opened at ``at`` closes at the first acknowledgement
    of a record *sent to p at or after* ``at`` — a record sent before the fault and
    acknowledged after it proves nothing about the new leader. Its duration is
    fault → that acknowledgement.

    A fault that takes a while (a controlled stop: leaderships move, then the
    broker stops) is opened *unsettled*, and :meth:`settle` says when it is complete.
    Until then the old leader may still be serving, so an acknowledgement proves
    nothing; instead each record sent to p meanwhile counts with its own wait
    (sent → acknowledged). The failover closes at the first acknowledgement of a
    record sent at or after the settling, and lasts the longest of: those waits,
    and settling → that acknowledgement (a partition the stop could not move waits
    for the broker to be back). A settled fault (``settled`` at ``at``) is the
    plain rule above. Not thread-safe: the caller holds its own lock.
    """

    def __init__(self) -> None:
        self._open: dict[int, list[_Open]] = defaultdict(list)
        self.closed: list[Failover] = []

    def fault(self, index: int, partitions: Iterable[int], at: float, *, settled: bool = True) -> None:
        for p in partitions:
            self._open[p].append(_Open(index, at, at if settled else math.inf))

    def settle(self, index: int, when: float) -> None:
        """Fault ``index`` is complete at ``when``: from now on acknowledgements can close its failovers."""
        for waiting in self._open.values():
            for w in waiting:
                if w.index == index:
                    w.settled = max(when, w.at)

    def cancel(self, index: int) -> None:
        """Fault ``index`` did not happen after all: forget its open failovers."""
        for p, waiting in self._open.items():
            self._open[p] = [w for w in waiting if w.index != index]

    def ack(self, partition: int, sent_at: float, acked_at: float) -> list[Failover]:
        waiting = self._open.get(partition)
        if not waiting:
            return []
        done, still = [], []
        for w in waiting:
            if sent_at >= w.settled:
                done.append(Failover(w.index, partition, w.at, max(acked_at - w.settled, w.worst)
                                     if w.settled > w.at else acked_at - w.at))
                continue
            if sent_at >= w.at:
                w.worst = max(w.worst, acked_at - sent_at)
            still.append(w)
        if done:
            self._open[partition] = still
            self.closed.extend(done)
        return done

    def unresolved(self) -> list[tuple[int, int, float]]:
        """(fault, partition, at) of every failover no acknowledgement closed."""
        return sorted((w.index, p, w.at) for p, waiting in self._open.items() for w in waiting)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest rank: the smallest value with at least ``p`` % of the values at or below it."""
    if not values:
        raise ValueError("no values")
    if not 0 < p <= 100:
        raise ValueError(f"p must be in (0, 100], got {p}")
    ordered = sorted(values)
    return ordered[max(math.ceil(p / 100 * len(ordered)), 1) - 1]


@dataclass(frozen=True)
class FailoverStats:
    count: int
    median: float | None
    p99: float | None
    max: float | None


def failover_stats(durations: Iterable[float]) -> FailoverStats:
    values = sorted(durations)
    if not values:
        return FailoverStats(0, None, None, None)
    return FailoverStats(len(values), statistics.median(values), percentile(values, 99), values[-1])


def failover_stats_by(failovers: Iterable[Failover], names: dict[int, str]) -> dict[str, FailoverStats]:
    """Failover stats per fault name (``names``: fault index → its name, e.g. ``stop`` or
    ``actor:broker-2``), in the order the names first appear by fault index; only names with
    failovers. A failover of an index ``names`` does not know counts under ``?``."""
    durations: dict[str, list[float]] = defaultdict(list)
    for f in failovers:
        durations[names.get(f.fault, "?")].append(f.duration)
    order = [n for _, n in sorted(names.items())] + ["?"]
    return {n: failover_stats(durations[n]) for n in dict.fromkeys(order) if n in durations}


# -- the verdict -------------------------------------------------------------------------------

class Record(NamedTuple):
    """One record: where it is (or was acknowledged) and its sequence number (the value, ``f"{seq}"``)."""

    partition: int
    offset: int  # -1: unknown (acks=0 acknowledges nothing)
    seq: int


EXAMPLES = 5


@dataclass
class Verdict:
    acknowledged: int = 0
    found: int = 0  # acknowledged and read back (wherever)
    lost: int = 0  # acknowledged and not read back anywhere
    duplicated: int = 0  # extra copies: records read back whose value was read back before
    reordered: int = 0  # acknowledged records read back after a record sent later, in the same partition
    wrong_offset: int = 0  # acknowledged and read back, but not at the acknowledged partition and offset
    unacknowledged: int = 0  # sends that failed: they may or may not be stored, and are not "lost"
    unacknowledged_stored: int = 0  # ... of which read back
    stored: int = 0  # records read back
    foreign: int = 0  # records read back whose value is no sequence number of this run
    idempotent: bool = False  # the producer was: then a duplicate is a failure, not a retry's side effect
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Nothing acknowledged was lost, reordered or moved, something was acknowledged at all, and an
        idempotent producer stored nothing twice."""
        return self.acknowledged > 0 and not (self.lost or self.reordered or self.wrong_offset
                                              or (self.idempotent and self.duplicated))

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def judge(acknowledged: Iterable[Record], stored: Iterable[Record], unacknowledged: Iterable[int] = (),
          foreign: int = 0, idempotent: bool = False) -> Verdict:
    """Compare what the producer had acknowledged with what was read back.

    * lost — an acknowledged value read back nowhere;
    * wrong offset — read back, but not at the partition and offset acknowledged;
    * duplicated — a value read back more than once (each extra copy counts; a
      retried batch whose first attempt was written after all, as Kafka without
      idempotence does: reported, not a failure — unless ``idempotent``: an
      idempotent producer stores each batch once, so then it fails the run);
    * reordered — in a partition's log, an acknowledged record standing after one
      sent later (each acknowledged record is taken where it was acknowledged, or
      at its first copy in that partition when it is not there);
    * unacknowledged — failed sends, with how many of them were stored anyway.
    """
    acked = list(acknowledged)
    log = list(stored)
    v = Verdict(acknowledged=len(acked), stored=len(log), foreign=foreign, idempotent=idempotent)
    at: dict[tuple[int, int], int] = {}
    copies: Counter = Counter()
    first_in: dict[tuple[int, int], int] = {}  # (partition, seq) -> first offset
    for r in log:
        at[(r.partition, r.offset)] = r.seq
        copies[r.seq] += 1
        key = (r.partition, r.seq)
        if key not in first_in or r.offset < first_in[key]:
            first_in[key] = r.offset
    v.duplicated = sum(n - 1 for n in copies.values() if n > 1)
    examples: dict[str, list[str]] = defaultdict(list)

    def example(what: str, text: str) -> None:
        if len(examples[what]) < EXAMPLES:
            examples[what].append(text)

    positions: dict[int, list[tuple[int, int]]] = defaultdict(list)  # partition -> (offset, seq)
    for a in acked:
        if copies[a.seq] == 0:
            v.lost += 1
            example("lost", f"{a.seq} at {a.partition}:{a.offset}")
            continue
        v.found += 1
        if a.offset >= 0 and at.get((a.partition, a.offset)) != a.seq:
            v.wrong_offset += 1
            if len(examples["wrong_offset"]) < EXAMPLES:  # the scan is for the examples only
                where = sorted((p, o) for (p, o), s in at.items() if s == a.seq)
                example("wrong_offset", f"{a.seq} acknowledged at {a.partition}:{a.offset}, found at "
                                        + ",".join(f"{p}:{o}" for p, o in where[:3]))
        if a.offset >= 0 and at.get((a.partition, a.offset)) == a.seq:
            positions[a.partition].append((a.offset, a.seq))
        elif (a.partition, a.seq) in first_in:
            positions[a.partition].append((first_in[(a.partition, a.seq)], a.seq))
    for p, seen in positions.items():
        highest = None
        for offset, seq in sorted(seen):
            if highest is not None and seq < highest[1]:
                v.reordered += 1
                example("reordered", f"{seq} at {p}:{offset} after {highest[1]} at {p}:{highest[0]}")
            elif highest is None or seq > highest[1]:
                highest = (offset, seq)
    failed = set(unacknowledged)
    v.unacknowledged = len(failed)
    v.unacknowledged_stored = sum(1 for s in failed if copies[s])
    v.examples = {k: list(x) for k, x in examples.items()}
    return v


def exit_status(verdict: Verdict) -> int:
    """0 when nothing acknowledged was lost, reordered or at a wrong offset (and something was acknowledged)."""
    return 0 if verdict.ok else 1


# -- the consumer group ------------------------------------------------------------------------
# A member's log (scripts/cli/lab_consumer.py writes it; the lab appends ``gone``), one event a line,
# times in time.monotonic() seconds (one clock for every process of the machine).

START, ASSIGN, REVOKE, REC, COMMIT, COMMIT_FAILED, ERROR, STOP, GONE = (
    "start", "assign", "revoke", "rec", "commit", "commit-failed", "error", "stop", "gone",
)
_ENDS = (START, STOP, GONE)  # a process begins or ends: it owns nothing


class MemberEvent(NamedTuple):
    t: float
    member: str  # "member-2#1": the member's slot and its process (1: the first, 2: the one started after a kill)
    kind: str
    partitions: tuple[int, ...] = ()  # assign, revoke; rec: its one partition
    records: tuple[tuple[int, str], ...] = ()  # rec: (offset, value), in the order processed
    started: float = 0.0  # commit, commit-failed: when it began (``t`` is when it was answered)
    detail: str = ""  # commit-failed, error: the error's name; gone: why


def _partitions(word: str) -> tuple[int, ...]:
    return () if word == "-" else tuple(int(x) for x in word.split(","))


def parse_member_line(line: str, member: str) -> MemberEvent:
    """One line of a member's log; ``ValueError`` for a line that is no event (the lab skips and counts it)."""
    words = line.split()
    if len(words) < 2:
        raise ValueError(f"not an event: {line!r}")
    kind, t = words[0], float(words[1])
    if kind in (ASSIGN, REVOKE) and len(words) == 3:
        return MemberEvent(t, member, kind, _partitions(words[2]))
    if kind == REC and len(words) >= 4:
        records = []
        for item in words[3:]:
            offset, sep, value = item.partition(":")
            if not sep:
                raise ValueError(f"not offset:value: {item!r}")
            records.append((int(offset), value))
        return MemberEvent(t, member, kind, (int(words[2]),), tuple(records))
    if kind == COMMIT and len(words) == 3:
        return MemberEvent(float(words[2]), member, kind, started=t)
    if kind == COMMIT_FAILED and len(words) >= 3:
        return MemberEvent(float(words[2]), member, kind, started=t, detail=" ".join(words[3:]))
    if kind in (START, STOP, GONE, ERROR):
        return MemberEvent(t, member, kind, detail=" ".join(words[2:]))
    raise ValueError(f"not an event: {line!r}")


def parse_member_log(text: str, slot: str) -> tuple[list[MemberEvent], int]:
    """A member slot's log (every process started in it, each from its ``start``) → (events, malformed lines).

    Events are named ``f"{slot}#{k}"`` for the k-th process. A line without its
    newline (the writer was killed mid-line) or that reads as no event is skipped
    and counted: records on it were not committed either (the commit comes after).
    """
    events: list[MemberEvent] = []
    bad = 0
    k = 0
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        if i == len(lines) - 1:  # no newline after it: cut short
            bad += 1
            continue
        if line.startswith(START + " "):
            k += 1
        try:
            events.append(parse_member_line(line, f"{slot}#{k}"))
        except ValueError:
            bad += 1
    return events, bad


class Consumed(NamedTuple):
    partition: int
    offset: int
    value: str
    member: str
    t: float
    committed: bool  # a commit of this member acknowledged after it, before the partition was revoked


def consumed_records(events: Iterable[MemberEvent]) -> list[Consumed]:
    """Every record a member processed, in each member's order, marked committed or not.

    A record is committed when its member's next acknowledged commit came while
    the member still held the partition; a member killed first, a refused commit
    followed by a revocation, leave it uncommitted: its next owner may read it again.
    """
    out: list[Consumed] = []
    pending: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))  # member -> partition -> rows
    for e in events:
        waiting = pending[e.member]
        if e.kind == REC:
            p = e.partitions[0]
            for offset, value in e.records:
                waiting[p].append(len(out))
                out.append(Consumed(p, offset, value, e.member, e.t, False))
        elif e.kind == COMMIT:
            for rows in waiting.values():
                for i in rows:
                    out[i] = out[i]._replace(committed=True)
            waiting.clear()
        elif e.kind == REVOKE:
            for p in e.partitions:
                waiting.pop(p, None)
        elif e.kind in _ENDS:
            waiting.clear()
    return out


@dataclass
class GroupVerdict:
    acknowledged: int = 0
    consumed: int = 0  # acknowledged and consumed by some member
    missing: int = 0  # acknowledged, consumed by no member
    duplicated: int = 0  # extra consumptions of one partition:offset
    redelivered_uncommitted: int = 0  # ... whose earlier copy was never committed (a killed member, a failed commit)
    redelivered_committed: int = 0  # ... whose earlier copy had been committed: the group's offset went back
    consumed_total: int = 0  # records the members processed in all
    foreign: int = 0  # consumed values that are no sequence number of this run
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Every acknowledged record was consumed (and something was acknowledged at all)."""
        return self.acknowledged > 0 and not self.missing

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def judge_group(acknowledged: Iterable[Record], consumed: Iterable[Consumed]) -> GroupVerdict:
    """What the producer had acknowledged against what the group's members processed.

    * missing — an acknowledged value no member consumed (anywhere);
    * duplicated — a partition:offset consumed more than once, each extra time
      counted: *uncommitted* when an earlier copy was never committed (at least
      once: expected after a member is killed between processing and committing),
      *committed* when an earlier copy had been (the group's offset went back).
    """
    acked = list(acknowledged)
    rows = list(consumed)
    v = GroupVerdict(acknowledged=len(acked), consumed_total=len(rows))
    examples: dict[str, list[str]] = defaultdict(list)

    def example(what: str, text: str) -> None:
        if len(examples[what]) < EXAMPLES:
            examples[what].append(text)

    values: set[int] = set()
    earlier: dict[tuple[int, int], Consumed] = {}  # the first copy, or a committed one once there is
    for r in sorted(rows, key=lambda r: r.t):
        try:
            values.add(int(r.value))
        except ValueError:
            v.foreign += 1
        key = (r.partition, r.offset)
        first = earlier.get(key)
        if first is None:
            earlier[key] = r
            continue
        v.duplicated += 1
        if first.committed:
            v.redelivered_committed += 1
            example("redelivered_committed", f"{r.partition}:{r.offset} by {r.member}, committed by {first.member}")
        else:
            v.redelivered_uncommitted += 1
        if r.committed and not first.committed:
            earlier[key] = r
    for a in acked:
        if a.seq in values:
            v.consumed += 1
        else:
            v.missing += 1
            example("missing", f"{a.seq} at {a.partition}:{a.offset}")
    v.examples = {k: list(x) for k, x in examples.items()}
    return v


def consumed_values(events: Iterable[MemberEvent]) -> set[int]:
    """The sequence numbers the members processed (the lab's catch-up wait)."""
    out = set()
    for e in events:
        if e.kind == REC:
            for _, value in e.records:
                if value.isdigit():
                    out.add(int(value))
    return out


def owned(events: Iterable[MemberEvent]) -> dict[str, set[int]]:
    """member → the partitions it holds after ``events`` (its assign and revoke lines replayed)."""
    out: dict[str, set[int]] = defaultdict(set)
    for e in _ownership_order(events):
        if e.kind == ASSIGN:
            out[e.member] |= set(e.partitions)
        elif e.kind == REVOKE:
            out[e.member] -= set(e.partitions)
        elif e.kind in _ENDS:
            out.pop(e.member, None)
    return {m: ps for m, ps in out.items() if ps}


def _ownership_order(events: Iterable[MemberEvent]) -> list[MemberEvent]:
    """Ownership changes by time; at one instant, assignments first (no window of zero length)."""
    changes = [(e.t, e.kind != ASSIGN, i, e) for i, e in enumerate(events) if e.kind in (ASSIGN, REVOKE) + _ENDS]
    return [e for *_, e in sorted(changes)]


class Trigger(NamedTuple):
    """Something the lab did that may rebalance the group."""

    at: float
    index: int  # the fault's index
    label: str  # the fault's name (``member``, ``coordinator``, ``kill``, ...), or ``member restart``
    from_trigger: bool = True  # a fault: measured from ``at``; a restart: from the first revocation it caused
    member: str = ""  # a restart: the slot whose new process it started


RESTART = "member restart"
UNPROMPTED = "(no fault)"
EPS = 1e-5  # the logs keep microseconds: a time read back may be this far from the lab's own


class Rebalance(NamedTuple):
    """A window in which some partition had no owner (no live member had it assigned)."""

    fault: int | None  # the fault it is blamed on (or whose member restarted); None: nothing before it
    label: str
    start: float  # what the duration counts from: the fault, else the window's opening
    opened: float  # the first partition without an owner
    closed: float | None  # every partition owned again (None: not before the end)
    absorbed: tuple[str, ...] = ()  # what came while it was open, blamed for nothing: "fault 3 (kill)", ...

    @property
    def duration(self) -> float | None:
        return None if self.closed is None else self.closed - self.start


def ownership_windows(events: Iterable[MemberEvent], partitions: int,
                      until: float = math.inf) -> tuple[float | None, list[tuple[float, float | None]]]:
    """(when every partition first had an owner, [(opened, closed)] of each later time some had none).

    Only events up to ``until`` count (the lab stops its members after it); a
    window still open then has ``closed`` None.
    """
    everything = set(range(partitions))
    held: dict[str, set[int]] = defaultdict(set)
    formed = None
    windows: list[tuple[float, float | None]] = []
    opened = None
    for e in _ownership_order(events):
        if e.t > until:
            break
        if e.kind == ASSIGN:
            held[e.member] |= set(e.partitions)
        elif e.kind == REVOKE:
            held[e.member] -= set(e.partitions)
        else:
            held.pop(e.member, None)
        whole = everything <= set().union(*held.values())
        if formed is None:
            if whole:
                formed = e.t
        elif opened is None and not whole:
            opened = e.t
        elif opened is not None and whole:
            if e.t > opened:
                windows.append((opened, e.t))
            opened = None
    if opened is not None:
        windows.append((opened, None))
    return formed, windows


def _joins(events: list[MemberEvent], restarts: Iterable[Trigger]) -> dict[Trigger, float]:
    """restart → the first assignment of the process it started (that process: the slot's first one
    to start at or after the restart)."""
    starts: dict[str, list[tuple[float, str]]] = defaultdict(list)  # slot -> (start, member)
    first_assign: dict[str, float] = {}
    for e in events:
        if e.kind == START:
            starts[e.member.partition("#")[0]].append((e.t, e.member))
        elif e.kind == ASSIGN and e.member not in first_assign:
            first_assign[e.member] = e.t
    out = {}
    for tr in restarts:
        member = next((m for t, m in sorted(starts.get(tr.member, ())) if t >= tr.at - EPS), None)
        if member in first_assign:
            out[tr] = first_assign[member]
    return out


def rebalances(events: Iterable[MemberEvent], partitions: int, triggers: Iterable[Trigger],
               until: float = math.inf, since: float = -math.inf) -> tuple[float | None, list[Rebalance]]:
    """Each ownership window after the group formed (and opened at or after ``since``: the lab's
    group was complete then), blamed on what caused it.

    In this order: a fault at the very moment it opened (a killed member's
    partitions); a member restart whose new process got its first assignment in
    it (the rebalance its joining caused); else the last fault or restart since
    the previous window opened that no window was blamed on yet. Blamed on a
    fault, a window lasts from the fault to every partition owned again (a killed
    member's partitions wait out the session first); on a restart or on nothing
    (``(no fault)``), from its opening — the first revocation: the new process's
    start-up is no rebalance. What a window was not blamed on but came while it
    was open is *absorbed* by it.
    """
    events = list(events)
    formed, windows = ownership_windows(events, partitions, until)
    windows = [w for w in windows if w[0] >= since]
    ordered = sorted(triggers)
    joins = _joins(events, [tr for tr in ordered if tr.member])
    claimed: set[Trigger] = set()
    spans = []  # (window, blamed trigger or None)
    since = max(formed, since) if formed is not None else math.inf  # triggers before count for nothing
    for opened, closed in windows:
        end = closed if closed is not None else until
        free = [tr for tr in ordered if tr not in claimed and since < tr.at <= opened + EPS
                and not (tr in joins and joins[tr] <= opened)]  # a restart whose process joined before: done
        joined = [tr for tr in ordered if tr not in claimed and tr in joins and opened < joins[tr] <= end + EPS]
        if free and free[-1].from_trigger and free[-1].at >= opened - EPS:
            blamed = free[-1]
        elif joined:
            blamed = joined[0]
        elif free:
            blamed = free[-1]
        else:
            blamed = None
        if blamed is not None:
            claimed.add(blamed)
        spans.append(((opened, closed, end), blamed))
        since = opened
    out = []
    for (opened, closed, end), tr in spans:
        absorbed = tuple(describe(x) for x in ordered if x not in claimed
                         and (opened < x.at <= end or (x in joins and opened < joins[x] <= end)))
        if tr is None:
            out.append(Rebalance(None, UNPROMPTED, opened, opened, closed, absorbed))
        else:
            out.append(Rebalance(tr.index, tr.label, tr.at if tr.from_trigger else opened, opened, closed, absorbed))
    return formed, out


def describe(trigger: Trigger) -> str:
    """``fault 3 (kill)``, or ``fault 2's member restart``."""
    if trigger.label == RESTART:
        return f"fault {trigger.index}'s member restart"
    return f"fault {trigger.index} ({trigger.label})"


def rebalance_stats_by(windows: Iterable[Rebalance]) -> dict[str, tuple[FailoverStats, int]]:
    """label → (the stats of its closed windows, how many never closed), labels in order of first window."""
    windows = sorted(windows, key=lambda w: w.opened)
    durations: dict[str, list[float]] = defaultdict(list)
    unresolved: Counter = Counter()
    for w in windows:
        durations.setdefault(w.label, [])
        if w.closed is None:
            unresolved[w.label] += 1
        else:
            durations[w.label].append(w.duration)
    return {n: (failover_stats(d), unresolved[n]) for n, d in durations.items()}


def commit_gaps(events: Iterable[MemberEvent], faults: Iterable[tuple[int, float]]) -> dict[int, float | None]:
    """fault index → from the fault to the first acknowledged commit (any member) that began after it (None: none)."""
    commits = sorted((e.started, e.t) for e in events if e.kind == COMMIT)
    out = {}
    for index, at in faults:
        ends = [t for started, t in commits if started >= at]
        out[index] = min(ends) - at if ends else None
    return out
