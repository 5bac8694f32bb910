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
    MEMBER: "kill a consumer-group member (not available yet)",
    COORDINATOR: "kill a group coordinator (not available yet)",
}
KINDS = tuple(FAULT_HELP)
# Faults, not operations: a controlled stop (``stop``) is a planned restart, chosen on purpose
# (it is what to compare ``broker`` with); leaving it out also keeps every default seed's schedule.
DEFAULT_FAULTS = "kill,pause,broker,controller"
GROUPS_NOT_AVAILABLE = "not available yet: consumer groups come with the GroupCoordinator"


class FaultError(ValueError):
    """``--faults`` names something that is no fault (a usage error)."""


class FaultNotAvailable(Exception):
    """A known fault the cluster cannot take yet (consumer groups, followers)."""


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


def check_available(faults: Iterable[Fault]) -> None:
    """Refuse, in one line, the faults that need consumer groups (they would otherwise do nothing)."""
    for fault in faults:
        if fault.kind in (MEMBER, COORDINATOR):
            raise FaultNotAvailable(f"--faults {fault.kind}: {GROUPS_NOT_AVAILABLE}")


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
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Nothing acknowledged was lost, reordered or moved, and something was acknowledged at all."""
        return self.acknowledged > 0 and not (self.lost or self.reordered or self.wrong_offset)

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def judge(acknowledged: Iterable[Record], stored: Iterable[Record], unacknowledged: Iterable[int] = (),
          foreign: int = 0) -> Verdict:
    """Compare what the producer had acknowledged with what was read back.

    * lost — an acknowledged value read back nowhere;
    * wrong offset — read back, but not at the partition and offset acknowledged;
    * duplicated — a value read back more than once (each extra copy counts; a
      retried batch whose first attempt was written after all, as Kafka without
      idempotence does: reported, not a failure);
    * reordered — in a partition's log, an acknowledged record standing after one
      sent later (each acknowledged record is taken where it was acknowledged, or
      at its first copy in that partition when it is not there);
    * unacknowledged — failed sends, with how many of them were stored anyway.
    """
    acked = list(acknowledged)
    log = list(stored)
    v = Verdict(acknowledged=len(acked), stored=len(log), foreign=foreign)
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
