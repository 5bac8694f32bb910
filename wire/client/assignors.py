"""Consumer-group partition assignors: pure logic, no sockets.

In the classic group protocol the coordinator only relays: every member lists the
strategies it can run (``partition.assignment.strategy``, in preference order), the
coordinator picks one all members share (``choose_protocol``), and the leader member
runs that strategy over everyone's ``Subscription`` and hands the result back in
SyncGroup. Each strategy here matches a Kafka class, so a zafka group splits
partitions the way a Java group would:

====================  ==============================================  ============
name                  Kafka class (``org.apache.kafka.clients.``)     protocol
====================  ==============================================  ============
range                 ``consumer.RangeAssignor``                      eager
roundrobin            ``consumer.RoundRobinAssignor``                 eager
sticky                ``consumer.StickyAssignor``                     eager
cooperative-sticky    ``consumer.CooperativeStickyAssignor``          cooperative
====================  ==============================================  ============

Where Kafka's result depends on ``HashMap`` iteration order (which member of a
uniform group keeps an extra partition it owns, whether a newer claim survives a
dispute between two older ones, a tie in the protocol vote) zafka decides by sorted
member id or the stated rule, so equal input always gives equal output.

Rack-aware assignment (KIP-881) is not done: ``Subscription.rack`` is carried but
ignored, because zafka's metadata has no replica racks to align with; the result
is Kafka's for members without a rack.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from wire.client.errors import ClientConfigError
from wire.client.records import TopicPartition
from wire.errors import InconsistentGroupProtocol  # Kafka's code 23: JoinGroup answers it too

EAGER = "eager"
COOPERATIVE = "cooperative"
NO_GENERATION = -1  # Kafka's AbstractStickyAssignor.DEFAULT_GENERATION

Assignment = dict[str, list[TopicPartition]]


class Subscription(NamedTuple):
    """What one member tells the leader in its JoinGroup metadata.

    ``owned`` and ``generation`` are ConsumerProtocolSubscription v1+'s owned
    partitions and generation id: the sticky strategies keep what a member owns,
    and when two members claim one partition the claim from the newer generation
    wins (the other member missed a rebalance and its view is stale).
    """

    topics: tuple[str, ...]
    owned: tuple[TopicPartition, ...] = ()
    generation: int = NO_GENERATION
    rack: str | None = None  # carried for the wire, ignored by every strategy (see module docstring)


class Assignor(Protocol):
    name: str
    protocol: str
    supported_protocols: tuple[str, ...]

    def assign(self, partitions_per_topic: Mapping[str, int],
               subscriptions: Mapping[str, Subscription]) -> Assignment: ...


class UnknownAssignor(ClientConfigError):
    """``partition.assignment.strategy`` names no strategy zafka has."""


# -- shared helpers ------------------------------------------------------------------------------

def _tp(p) -> TopicPartition:
    return p if type(p) is TopicPartition else TopicPartition(p[0], p[1])


def _assignable_topics(partitions_per_topic: Mapping[str, int],
                       subscriptions: Mapping[str, Subscription]) -> dict[str, int]:
    """Subscribed topics that exist: Kafka's AbstractPartitionAssignor skips a topic without partitions."""
    subscribed = {t for s in subscriptions.values() for t in s.topics}
    return {t: n for t, n in partitions_per_topic.items() if t in subscribed and n > 0}


def _finish(assignment: Mapping[str, Iterable[TopicPartition]], members: Iterable[str]) -> Assignment:
    """Every member present (an empty list when it gets nothing), each list sorted."""
    return {m: sorted(assignment.get(m, ())) for m in sorted(members)}


def _all_partitions(topics: Mapping[str, int], order: Iterable[str]) -> list[TopicPartition]:
    return [TopicPartition(t, i) for t in order for i in range(topics[t])]


# -- range and roundrobin ------------------------------------------------------------------------

def range_assign(partitions_per_topic: Mapping[str, int], subscriptions: Mapping[str, Subscription]) -> Assignment:
    """Kafka's RangeAssignor: each topic alone, contiguous ranges over its subscribers sorted by id.

    The first ``n % m`` members get one extra partition of every topic, so with many
    topics the low member ids carry the surplus of each: range is balanced per topic,
    not overall. It is also the strategy that co-partitions (p of every topic to the
    same member), which joins of keyed topics rely on.
    """
    out: Assignment = {m: [] for m in subscriptions}
    for topic, count in _assignable_topics(partitions_per_topic, subscriptions).items():
        members = sorted(m for m, s in subscriptions.items() if topic in s.topics)
        share, extra = divmod(count, len(members))
        for i, member in enumerate(members):
            start = i * share + min(i, extra)
            out[member].extend(TopicPartition(topic, p) for p in range(start, start + share + (i < extra)))
    return _finish(out, subscriptions)


def roundrobin_assign(partitions_per_topic: Mapping[str, int],
                      subscriptions: Mapping[str, Subscription]) -> Assignment:
    """Kafka's RoundRobinAssignor: every partition, sorted, dealt to members sorted by id.

    One dealer goes round the whole group across topics (it is not restarted per
    topic) and passes over members not subscribed to the partition's topic. Equal
    subscriptions make the counts differ by at most one; unequal ones can skew badly.
    """
    topics = _assignable_topics(partitions_per_topic, subscriptions)
    members = sorted(subscriptions)
    out: Assignment = {m: [] for m in members}
    turn = 0
    for tp in _all_partitions(topics, sorted(topics)):
        while tp.topic not in subscriptions[members[turn % len(members)]].topics:
            turn += 1
        out[members[turn % len(members)]].append(tp)
        turn += 1
    return out


# -- sticky: who really owns what ----------------------------------------------------------------

class _Claims(NamedTuple):
    owned: dict[str, list[TopicPartition]]  # per member: valid, still-existing claims
    contested: set[TopicPartition]           # claimed by two members of the newest claiming generation
    max_generation: int


def _resolve_claims(topics: Mapping[str, int], subscriptions: Mapping[str, Subscription]) -> _Claims:
    """Kafka's AbstractStickyAssignor.allSubscriptionsEqual, the ownership half.

    A partition claimed by several members goes to the claim from the newest
    generation; if two members claim it in that same generation neither keeps it
    (one of them is wrong, and the leader cannot tell which). Claims on topics that
    no member subscribes any more, or on partitions that do not exist, are dropped.
    """
    claimants: dict[TopicPartition, list[tuple[int, str]]] = {}
    max_generation = NO_GENERATION
    for member in sorted(subscriptions):
        sub = subscriptions[member]
        max_generation = max(max_generation, sub.generation)
        for tp in dict.fromkeys(map(_tp, sub.owned)):
            if 0 <= tp.partition < topics.get(tp.topic, 0):
                claimants.setdefault(tp, []).append((sub.generation, member))
    owned: dict[str, list[TopicPartition]] = {m: [] for m in subscriptions}
    contested: set[TopicPartition] = set()
    for tp, claims in claimants.items():
        newest = max(g for g, _ in claims)
        winners = [m for g, m in claims if g == newest]
        if len(winners) == 1:
            owned[winners[0]].append(tp)
        else:
            contested.add(tp)
    return _Claims(owned, contested, max_generation)


# -- sticky, uniform subscriptions ---------------------------------------------------------------

def _constrained(topics: Mapping[str, int], members: Sequence[str],
                 claims: _Claims) -> tuple[Assignment, dict[TopicPartition, str]]:
    """Kafka's ConstrainedAssignmentBuilder, for groups whose members all subscribe the same topics.

    Quotas are fixed up front: ``total // members`` each, and ``total % members`` of
    them one more. Each member first keeps its owned partitions up to its quota (the
    one-more slots go to members that already own that many, in member-id order),
    then what is left is dealt round-robin to members under quota. Returns the
    assignment and the partitions handed from one member to another, which the
    cooperative strategy must withhold for a round.
    """
    total = sum(topics.values())
    min_quota, extra_slots = divmod(total, len(members))
    max_quota = min_quota + (extra_slots > 0)
    over_min = 0
    assignment: Assignment = {m: [] for m in members}
    maybe_revoked: dict[TopicPartition, str] = {}
    under_min: list[str] = []
    at_min: deque[str] = deque()

    for member in members:
        owned = sorted(claims.owned[member], key=lambda tp: (tp.partition, tp.topic))
        if len(owned) < min_quota:
            keep = len(owned)
            under_min.append(member)
        elif len(owned) >= max_quota and over_min < extra_slots:
            keep = max_quota
            over_min += 1
            if over_min == extra_slots:
                at_min.clear()
        else:
            keep = min_quota
            if over_min < extra_slots:
                at_min.append(member)
        assignment[member].extend(owned[:keep])
        maybe_revoked.update((tp, member) for tp in owned[keep:])

    taken = {tp for tps in assignment.values() for tp in tps}
    unassigned = [tp for tp in _all_partitions(topics, sorted(topics)) if tp not in taken]
    transferring: dict[TopicPartition, str] = {}
    cursor = 0  # round-robin over the members under min_quota, then one each to those at it
    for tp in unassigned:
        if under_min:
            cursor %= len(under_min)
            member = under_min[cursor]
        elif at_min:
            member = at_min.popleft()
        else:  # the quotas add up to the total, so this is a bug, not bad input
            raise AssertionError(f"no member under quota left for {tp}")
        assignment[member].append(tp)
        if maybe_revoked.get(tp, member) != member or tp in claims.contested:
            transferring[tp] = member
        if under_min and under_min[cursor] == member:
            if len(assignment[member]) == min_quota:
                at_min.append(under_min.pop(cursor))
            else:
                cursor += 1
    return assignment, transferring


# -- sticky, any subscriptions -------------------------------------------------------------------

class _Movements:
    """Kafka's PartitionMovements: where partitions went this round, to avoid swapping A->B and B->A.

    When a partition must leave ``old`` for ``new`` but some partition of the same
    topic already went ``new -> old`` earlier in this round, Kafka sends that one
    back instead, so the round never moves two partitions of one topic in opposite
    directions between the same pair of members.
    """

    def __init__(self) -> None:
        self.moved: dict[TopicPartition, tuple[str, str]] = {}
        self.by_topic: dict[str, dict[tuple[str, str], set[TopicPartition]]] = {}

    def _forget(self, tp: TopicPartition) -> tuple[str, str]:
        pair = self.moved.pop(tp)
        pairs = self.by_topic[tp.topic]
        pairs[pair].discard(tp)
        if not pairs[pair]:
            del pairs[pair]
        if not pairs:
            del self.by_topic[tp.topic]
        return pair

    def _record(self, tp: TopicPartition, pair: tuple[str, str]) -> None:
        self.moved[tp] = pair
        self.by_topic.setdefault(tp.topic, {}).setdefault(pair, set()).add(tp)

    def move(self, tp: TopicPartition, old: str, new: str) -> None:
        if tp in self.moved:
            src, _ = self._forget(tp)
            if src != new:  # a partition that goes back home is no longer a movement
                self._record(tp, (src, new))
        else:
            self._record(tp, (old, new))

    def partition_to_move(self, tp: TopicPartition, old: str, new: str) -> TopicPartition:
        pairs = self.by_topic.get(tp.topic)
        if not pairs:
            return tp
        if tp in self.moved:
            old = self.moved[tp][0]
        reverse = pairs.get((new, old))
        return min(reverse) if reverse else tp


class _General:
    """Kafka's GeneralAssignmentBuilder, for groups whose members subscribe different topics.

    Keeps every valid owned partition, hands out the rest one at a time to the
    least-loaded member that can take it, then moves partitions from heavier to
    lighter members until no partition can move to a member holding two fewer
    (``is_balanced``). A rebalance that does not lower the balance score is undone,
    so ownership is only traded for a strictly better spread. Topics with a single
    possible consumer, and members that already hold every partition they could, are
    set aside first because no move can involve them.
    """

    def __init__(self, topics: Mapping[str, int], subscriptions: Mapping[str, Subscription], claims: _Claims):
        self.topics = topics
        self.subscriptions = subscriptions
        self.consumers_of = {t: sorted(m for m, s in subscriptions.items() if t in s.topics) for t in topics}
        self.topics_of = {m: {t for t in s.topics if t in topics} for m, s in subscriptions.items()}
        self.max_size = {m: sum(topics[t] for t in ts) for m, ts in self.topics_of.items()}
        self.current: Assignment = {m: list(claims.owned[m]) for m in subscriptions}
        self.revocation_required = False
        for member, tps in self.current.items():
            kept = [tp for tp in tps if tp.topic in self.topics_of[member]]
            self.revocation_required |= len(kept) != len(tps)
            self.current[member] = kept
        self.owner = {tp: m for m, tps in self.current.items() for tp in tps}
        self.previous = self._previous_owners(claims.max_generation)
        self.active = set(subscriptions)
        self.movements = _Movements()

    def _previous_owners(self, max_generation: int) -> dict[TopicPartition, str]:
        """Kafka's prepopulateCurrentAssignments: each partition's owner in the newest older generation."""
        best: dict[TopicPartition, tuple[int, str]] = {}
        for member in sorted(self.subscriptions):
            sub = self.subscriptions[member]
            if sub.generation < max_generation:
                for tp in map(_tp, sub.owned):
                    if tp not in best or sub.generation > best[tp][0]:
                        best[tp] = (sub.generation, member)
        return {tp: m for tp, (_, m) in best.items()}

    def _by_load(self) -> list[str]:
        return sorted(self.active, key=lambda m: (len(self.current[m]), m))

    def _score(self) -> int:
        """Sum over member pairs of the difference in counts; 0 is perfectly even."""
        sizes = sorted(len(self.current[m]) for m in self.active)
        return sum(s * (2 * i - len(sizes) + 1) for i, s in enumerate(sizes))

    def _is_balanced(self) -> bool:
        sizes = [len(self.current[m]) for m in self.active]
        if min(sizes) >= max(sizes) - 1:
            return True
        for member in self._by_load():
            mine = self.current[member]
            if len(mine) == self.max_size[member]:
                continue
            held = set(mine)
            for topic in self.topics_of[member]:
                for p in range(self.topics[topic]):
                    tp = TopicPartition(topic, p)
                    if tp not in held and len(mine) + 1 < len(self.current[self.owner[tp]]):
                        return False
        return True

    def _movable_member(self, member: str) -> bool:
        if len(self.current[member]) < self.max_size[member]:
            return True
        return any(len(self.consumers_of[tp.topic]) >= 2 for tp in self.current[member])

    def _move(self, tp: TopicPartition, new: str) -> None:
        tp = self.movements.partition_to_move(tp, self.owner[tp], new)
        old = self.owner[tp]
        self.movements.move(tp, old, new)
        self.current[old].remove(tp)
        self.current[new].append(tp)
        self.owner[tp] = new

    def _least_loaded_for(self, topic: str) -> str:
        return next(m for m in self._by_load() if topic in self.topics_of[m])

    def _reassign(self, partitions: Sequence[TopicPartition]) -> bool:
        performed = False
        modified = True
        while modified:
            modified = False
            for tp in partitions:
                if self._is_balanced():
                    break
                owner = self.owner[tp]
                prev = self.previous.get(tp)
                # Kafka assumes the previous owner can take it; zafka checks (it may have left or unsubscribed)
                if (prev is not None and prev in self.active and tp.topic in self.topics_of[prev]
                        and len(self.current[owner]) > len(self.current[prev]) + 1):
                    self._move(tp, prev)
                    performed = modified = True
                    continue
                if any(len(self.current[owner]) > len(self.current[o]) + 1 for o in self.consumers_of[tp.topic]):
                    self._move(tp, self._least_loaded_for(tp.topic))
                    performed = modified = True
        return performed

    def build(self) -> Assignment:
        order = sorted(self.topics, key=lambda t: (len(self.consumers_of[t]), t))
        every = _all_partitions(self.topics, order)
        unassigned = [tp for tp in every if tp not in self.owner]
        initializing = not any(self.current.values())
        for tp in unassigned:
            if self.consumers_of[tp.topic]:
                member = self._least_loaded_for(tp.topic)
                self.current[member].append(tp)
                self.owner[tp] = member

        movable = [tp for tp in every if len(self.consumers_of[tp.topic]) >= 2]
        movable_new = [tp for tp in unassigned if len(self.consumers_of[tp.topic]) >= 2]
        self.active = {m for m in self.subscriptions if self._movable_member(m)}
        if not self.active:
            return self.current

        before = {m: list(tps) for m, tps in self.current.items()}
        before_owner = dict(self.owner)
        before_score = self._score()
        if not self.revocation_required:  # first try moving only the partitions nobody owned
            self._reassign(movable_new)
        if self._reassign(movable) and not initializing and self._score() >= before_score:
            self.current, self.owner = before, before_owner
        return self.current


# -- sticky, the strategy ------------------------------------------------------------------------

def _sticky(partitions_per_topic: Mapping[str, int], subscriptions: Mapping[str, Subscription]
            ) -> tuple[Assignment, dict[TopicPartition, str] | None]:
    """The sticky assignment and, for uniform groups, the partitions it hands between members."""
    if not subscriptions:
        return {}, {}
    topics = _assignable_topics(partitions_per_topic, subscriptions)
    claims = _resolve_claims(topics, subscriptions)
    uniform = len({frozenset(s.topics) for s in subscriptions.values()}) == 1
    if uniform:
        return _constrained(topics, sorted(subscriptions), claims)
    return _General(topics, subscriptions, claims).build(), None


def sticky_assign(partitions_per_topic: Mapping[str, int], subscriptions: Mapping[str, Subscription]) -> Assignment:
    """Kafka's StickyAssignor (AbstractStickyAssignor): balanced first, then as few moves as possible.

    With equal subscriptions every member gets ``total // members`` or one more and
    keeps as many of its owned partitions as that quota allows. With unequal ones the
    general algorithm balances as far as the subscriptions permit, moving an owned
    partition only when that makes the spread strictly better.
    """
    assignment, _ = _sticky(partitions_per_topic, subscriptions)
    return _finish(assignment, subscriptions)


def _transferring(subscriptions: Mapping[str, Subscription], assignment: Assignment) -> set[TopicPartition]:
    """Kafka's CooperativeStickyAssignor.computePartitionsTransferringOwnership (general case).

    A partition moves if some member gets it without owning it while another member
    that owned it does not get it. Claims count as sent, stale or not: the claimant
    still holds it until it revokes.
    """
    added: set[TopicPartition] = set()
    revoked: set[TopicPartition] = set()
    for member, tps in assignment.items():
        owned = {_tp(tp) for tp in subscriptions[member].owned}
        added.update(tp for tp in tps if tp not in owned)
        revoked.update(owned.difference(tps))
    return added & revoked


def cooperative_sticky_assign(partitions_per_topic: Mapping[str, int],
                              subscriptions: Mapping[str, Subscription]) -> Assignment:
    """Kafka's CooperativeStickyAssignor: the sticky result minus every partition changing hands.

    KIP-429's two phases: a partition that moves from A to B is left out of B's
    assignment this round; A, seeing it is no longer assigned, revokes it and rejoins,
    and in that follow-up rebalance nobody owns it and B gets it. So no partition is
    ever owned by two members at once, and members keep consuming what does not move.
    """
    assignment, transferring = _sticky(partitions_per_topic, subscriptions)
    withheld = set(transferring) if transferring is not None else _transferring(subscriptions, assignment)
    return _finish({m: [tp for tp in tps if tp not in withheld] for m, tps in assignment.items()}, subscriptions)


# -- the strategies as data ----------------------------------------------------------------------

@dataclass(frozen=True)
class Strategy:
    """One row of the table in the module docstring; ``assign`` is all the leader calls."""

    name: str
    kafka_class: str
    run: Callable[[Mapping[str, int], Mapping[str, Subscription]], Assignment]
    supported_protocols: tuple[str, ...] = (EAGER,)

    @property
    def protocol(self) -> str:
        return self.supported_protocols[0]

    def assign(self, partitions_per_topic: Mapping[str, int],
               subscriptions: Mapping[str, Subscription]) -> Assignment:
        return self.run(partitions_per_topic, subscriptions)


_KAFKA = "org.apache.kafka.clients.consumer."
ASSIGNORS: dict[str, Assignor] = {s.name: s for s in (
    Strategy("range", _KAFKA + "RangeAssignor", range_assign),
    Strategy("roundrobin", _KAFKA + "RoundRobinAssignor", roundrobin_assign),
    Strategy("sticky", _KAFKA + "StickyAssignor", sticky_assign),
    Strategy("cooperative-sticky", _KAFKA + "CooperativeStickyAssignor", cooperative_sticky_assign,
             (COOPERATIVE, EAGER)),
)}
KAFKA_CLASS_NAMES: dict[str, str] = {s.kafka_class: s.name for s in ASSIGNORS.values()}
DEFAULT_STRATEGY = ("range", "cooperative-sticky")  # Kafka 3.x ConsumerConfig's default


def parse_strategy(value: str | Sequence[str]) -> list[Assignor]:
    """``partition.assignment.strategy`` as assignors, most preferred first.

    Takes a list or a comma-separated string, of zafka's names or Kafka's class
    names, so a Java consumer's config can be pasted in. As in Kafka, the list may
    not be empty and may not name one strategy twice.
    """
    items = value.split(",") if isinstance(value, str) else list(value)
    valid = ", ".join(ASSIGNORS)
    assignors: list[Assignor] = []
    for item in items:
        if not isinstance(item, str):
            raise UnknownAssignor(f"partition.assignment.strategy entries are names, got {item!r}; use {valid}")
        name = item.strip()
        if not name and isinstance(value, str):
            continue
        name = KAFKA_CLASS_NAMES.get(name, name)
        if name not in ASSIGNORS:
            raise UnknownAssignor(
                f"unknown partition.assignment.strategy {item!r}; use one or more of {valid} "
                f"(or Kafka's class names, e.g. {_KAFKA}RangeAssignor)"
            )
        if any(a.name == name for a in assignors):
            raise ClientConfigError(f"partition.assignment.strategy names {name!r} twice; list each strategy once")
        assignors.append(ASSIGNORS[name])
    if not assignors:
        raise ClientConfigError(f"partition.assignment.strategy is empty; use one or more of {valid}")
    return assignors


def rebalance_protocol(assignors: Sequence[Assignor]) -> str:
    """The protocol a consumer runs: the most advanced one all its configured assignors support.

    Kafka's ConsumerCoordinator constructor rule: ``range, cooperative-sticky`` (the
    default) is eager, because range cannot withhold moving partitions; a consumer
    revokes everything on every rebalance until range is dropped from its list.
    """
    common = set.intersection(*(set(a.supported_protocols) for a in assignors)) if assignors else set()
    if not common:
        names = ", ".join(a.name for a in assignors)
        raise ClientConfigError(f"assignors {names or '(none)'} share no rebalance protocol; configure compatible ones")
    return COOPERATIVE if COOPERATIVE in common else EAGER


def choose_protocol(member_preferences: Sequence[Sequence[str]]) -> str:
    """The strategy the coordinator picks for a group from each member's preference list.

    Kafka's ``GroupMetadata.selectProtocol`` (``ClassicGroup.selectProtocol`` since
    the new coordinator): the candidates are the strategies every member supports;
    each member votes for its most preferred candidate; the most votes win. Kafka
    breaks a tie by ``HashMap`` order; zafka by the first member's preference order
    (pass members in join order and that is the first joiner's taste).
    """
    if not member_preferences:
        raise InconsistentGroupProtocol("cannot select a strategy for an empty group")
    candidates = set(member_preferences[0]).intersection(*map(set, member_preferences[1:]))
    if not candidates:
        raise InconsistentGroupProtocol(
            "the members share no partition.assignment.strategy: "
            + "; ".join(",".join(p) or "(none)" for p in member_preferences)
        )
    votes: dict[str, int] = {}
    for prefs in member_preferences:
        vote = next(p for p in prefs if p in candidates)
        votes[vote] = votes.get(vote, 0) + 1
    most = max(votes.values())
    return next(p for p in member_preferences[0] if votes.get(p) == most)


def revocations(old: Mapping[str, Sequence[TopicPartition]],
                new: Mapping[str, Sequence[TopicPartition]]) -> dict[str, list[TopicPartition]]:
    """What each member must give up going from ``old`` to ``new``: the first phase of KIP-429.

    Under the cooperative protocol a member revokes only these (under eager it
    revokes everything before it rejoins). If any member revokes, it rejoins at
    once, and that follow-up rebalance hands the freed partitions to their new
    owners, which the cooperative strategy withheld. A member absent from ``new``
    gives up all it had.
    """
    return {
        m: sorted({_tp(tp) for tp in old.get(m, ())} - {_tp(tp) for tp in new.get(m, ())})
        for m in sorted(set(old) | set(new))
    }
