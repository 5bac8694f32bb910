"""The rules of replication, as pure functions: elections, the ISR, the high watermark.

Kept apart from the actors that apply them so every rule is tested directly (and
by hypothesis) without a process:

* ``elect_leader`` — Kafka's clean election: the first replica, in assignment
  order, that is in the ISR and alive; with ``unclean.leader.election.enable`` the
  first live replica at all when no ISR member is left (the election is then
  marked unclean: records the old leader had acknowledged may be gone);
* ``FollowerProgress`` — what a leader knows of one follower: its log end offset
  and when it was last caught up, by Kafka's ``lastCaughtUpTimeMs`` rule;
* ``high_watermark`` — the lowest log end offset over the ISR (leader included);
* ``isr_changes`` — who leaves the ISR (not caught up for ``replica.lag.time.max.ms``)
  and who joins it (caught up to the high watermark).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

NO_LEADER = -1


class Election(NamedTuple):
    leader: int  # NO_LEADER: the partition is offline
    isr: list[int]
    unclean: bool = False


def elect_leader(replicas: list[int], isr: Iterable[int], alive: Iterable[int], unclean_allowed: bool) -> Election:
    """The new leader and ISR after the current leader is gone (or when a partition has none).

    The ISR keeps only live members; it never becomes empty — an offline partition
    keeps its last ISR, so the member that returns first can lead without loss, as
    in Kafka. An unclean election makes the chosen replica the whole ISR.
    """
    live = set(alive)
    in_sync = list(isr)
    live_isr = [b for b in replicas if b in in_sync and b in live]
    if live_isr:
        return Election(live_isr[0], live_isr)
    if unclean_allowed:
        for b in replicas:
            if b in live:
                return Election(b, [b], unclean=True)
    return Election(NO_LEADER, in_sync or list(replicas))


@dataclass
class FollowerProgress:
    """A leader's view of one follower, updated on each of its fetches."""

    log_end_offset: int = -1  # unknown until its first fetch
    last_caught_up_ms: float = 0.0
    last_fetch_ms: float = 0.0
    leader_end_at_last_fetch: int = -1

    def on_fetch(self, fetch_offset: int, leader_end_offset: int, now_ms: float) -> None:
        """Kafka's rule: caught up now if it asked for the leader's end; as of its previous
        fetch if it asked for at least what the leader's end was then."""
        if fetch_offset >= leader_end_offset:
            self.last_caught_up_ms = now_ms
        elif fetch_offset >= self.leader_end_at_last_fetch >= 0:
            self.last_caught_up_ms = max(self.last_caught_up_ms, self.last_fetch_ms)
        self.log_end_offset = fetch_offset
        self.last_fetch_ms = now_ms
        self.leader_end_at_last_fetch = leader_end_offset


def preferred_leader_ready(replicas: list[int], leader: int, isr: list[int], alive: Iterable[int]) -> str | None:
    """Why the preferred (first) replica cannot take over now, or None when it can and is not leading."""
    preferred = replicas[0]
    if leader == preferred:
        return "already led by its preferred replica"
    if preferred not in isr:
        return f"preferred replica {preferred} is not in the ISR {isr}"
    if preferred not in set(alive):
        return f"preferred replica {preferred} is not alive"
    return None


def imbalanced_brokers(partitions: Iterable[tuple[list[int], int]], max_percentage: int) -> set[int]:
    """Brokers whose share of partitions they should lead but do not is above ``max_percentage``
    (Kafka's leader.imbalance.per.broker.percentage rule); ``partitions`` is (replicas, leader)."""
    preferred_count: dict[int, int] = {}
    not_leading: dict[int, int] = {}
    for replicas, leader in partitions:
        preferred = replicas[0]
        preferred_count[preferred] = preferred_count.get(preferred, 0) + 1
        if leader != preferred:
            not_leading[preferred] = not_leading.get(preferred, 0) + 1
    return {b for b, n in not_leading.items() if n * 100 > max_percentage * preferred_count[b]}


def high_watermark(leader: int, leader_end_offset: int, isr: Iterable[int],
                   followers: Mapping[int, FollowerProgress]) -> int | None:
    """The lowest log end offset over the ISR, or None while an ISR follower has not fetched yet."""
    lowest = leader_end_offset
    for b in isr:
        if b == leader:
            continue
        progress = followers.get(b)
        if progress is None or progress.log_end_offset < 0:
            return None
        lowest = min(lowest, progress.log_end_offset)
    return lowest


def isr_changes(leader: int, isr: list[int], replicas: list[int], followers: Mapping[int, FollowerProgress],
                high_watermark_now: int, now_ms: float, lag_time_max_ms: int) -> list[int] | None:
    """The ISR the leader should ask the controller for, or None when it stays as it is.

    A follower leaves after ``lag_time_max_ms`` without being caught up; one outside
    joins once its log end reaches the high watermark. The leader itself always stays.
    """
    new = []
    for b in replicas:
        if b == leader:
            new.append(b)
            continue
        progress = followers.get(b)
        if b in isr:
            stale = progress is None or now_ms - progress.last_caught_up_ms > lag_time_max_ms
            if not stale:
                new.append(b)
        elif (progress is not None and progress.log_end_offset >= high_watermark_now >= 0
              and now_ms - progress.last_fetch_ms <= lag_time_max_ms):  # caught up, and fetching now
            new.append(b)
    if leader not in new:
        new.insert(0, leader)
    return None if sorted(new) == sorted(isr) else new


class ShutdownMove(NamedTuple):
    """What a controlled shutdown does to one partition (Kafka's ControlledShutdownLeaderSelector)."""

    leader: int
    isr: list[int]
    outcome: str  # MOVED, SHRUNK, UNCHANGED, REMAINING or STRANDED


MOVED, SHRUNK, UNCHANGED, REMAINING, STRANDED = "moved", "shrunk", "unchanged", "remaining", "stranded"


def controlled_shutdown_move(replicas: list[int], leader: int, isr: list[int], alive: Iterable[int],
                             shutting: Iterable[int]) -> ShutdownMove:
    """Leadership and ISR of one partition once the brokers in ``shutting`` are about to stop.

    A shutting-down leader hands over to the first live ISR member that is not shutting
    down, and the ISR loses every shutting-down broker — those replicas are about to go,
    and acks=all writes must not wait for them. With no such successor the leader keeps
    its partition: REMAINING when a live replica outside the shutdown could take over
    once it is back in sync (worth asking again), STRANDED when none exists (a whole
    cluster stopping: nothing to move to). The ISR never loses its last member, and a
    partition whose ISR is all shutting down keeps it whole: a cluster stopping as one
    restarts with the ISR it had.
    """
    live = set(alive)
    stopping = set(shutting)
    staying = [b for b in isr if b not in stopping]
    if leader < 0:
        return ShutdownMove(leader, list(isr), UNCHANGED)
    if leader not in stopping:
        if staying == list(isr):
            return ShutdownMove(leader, list(isr), UNCHANGED)
        return ShutdownMove(leader, staying, SHRUNK)
    successors = [b for b in replicas if b in staying and b in live]
    if successors:
        return ShutdownMove(successors[0], [b for b in replicas if b in staying], MOVED)
    could_lead = any(b in live and b not in stopping for b in replicas)
    return ShutdownMove(leader, list(isr), REMAINING if could_lead else STRANDED)
