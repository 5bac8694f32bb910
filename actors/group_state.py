"""One consumer group's membership, as Kafka's classic GroupCoordinator runs it — pure, with time passed in.

States (Kafka's ``GroupState``)::

    EMPTY --join--> PREPARING_REBALANCE --everyone rejoined / timeout--> COMPLETING_REBALANCE
      ^                    ^                                                   | leader's SyncGroup
      |                    +------ member joins, leaves, expires, changes -----+--> STABLE
      +---- last member gone ---------------------------------------------------------+

* **Join.** A join is *held* (its reply deferred) while the group prepares a
  rebalance; the rebalance completes once every known member has rejoined, or when
  the longest member ``rebalance_timeout_ms`` has passed (members that did not
  rejoin are dropped), and never before ``group.initial.rebalance.delay.ms`` after
  the first member of an empty group arrived (so a group starting with N members
  rebalances once, not N times). Then the generation is bumped, the protocol chosen
  by the members' votes (``wire.client.assignors.choose_protocol``' rule), a leader
  picked (the old one if still there), and every held join answered — the leader's
  with all subscriptions.
* **Sync.** The leader's SyncGroup hands in the assignment: it is stored (a
  ``Store`` effect: appended to ``__consumer_offsets`` with acks=all) and only then
  every held sync is answered and the group is STABLE.
* **Liveness.** Any request from a member refreshes it; one silent past its
  ``session_timeout_ms`` is removed — except while its join or sync is held (it is
  waiting on the group, not gone). ``max.poll.interval.ms`` is the client's to
  enforce (it leaves the group), as in Kafka; the server only uses it as the
  rebalance timeout.
* **Static members** (KIP-345, ``group.instance.id``): a restarted instance takes
  over its old member's place and assignment; in a STABLE group whose protocol it
  does not change that is no rebalance at all (Kafka's rule: a changed
  subscription alone does not rebalance). A request from the member id an instance
  replaced is refused ``FENCED_INSTANCE_ID``.
* **Offsets.** A commit is checked against the member and generation (a stale one
  is refused ``ILLEGAL_GENERATION``), stored, and only applied — visible to
  ``OffsetFetch`` — once the store succeeded.

Methods return effects for the actor to carry out: ``Reply(token, response)``
answers a request (``token`` is opaque: the actor's peer and correlation id), and
``Store(records, then, failed)`` persists records and then carries out ``then()``
(more effects), or ``failed()`` when the append did not make it.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from wire import errors
from wire.client import assignors
from wire.groups import (
    CommitOffset,
    HeartbeatResponse,
    JoinGroup,
    JoinGroupMember,
    JoinGroupResponse,
    LeaveGroupResponse,
    MemberDescription,
    OffsetCommitResponse,
    PartitionResult,
    SyncGroup,
    SyncGroupResponse,
)

EMPTY, PREPARING, COMPLETING, STABLE, DEAD = "Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"


class Reply(NamedTuple):
    token: Any
    response: Any  # a wire Response, or a ZafkaError to answer with


class Store(NamedTuple):
    records: list  # what to append: GroupRecord / OffsetRecord (``actors.offsets_log``)
    then: Callable[[], list]  # after the append: more effects
    failed: Callable[[Exception], list]  # the append failed: effects (error replies)


class GroupRecord(NamedTuple):
    """The group's membership after a rebalance (None: the group is deleted)."""

    group_id: str
    value: "GroupSnapshot | None"


class OffsetRecord(NamedTuple):
    group_id: str
    topic: str
    partition: int
    value: "Committed | None"  # None: the offset is removed (expired, group deleted)


class Committed(NamedTuple):
    offset: int
    metadata: str
    commit_ms: int
    leader_epoch: int = -1


class MemberSnapshot(NamedTuple):
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    session_timeout_ms: int
    rebalance_timeout_ms: int
    subscription: bytes
    assignment: bytes


class GroupSnapshot(NamedTuple):
    protocol_type: str
    generation: int
    protocol: str
    leader: str
    members: list[MemberSnapshot]


@dataclass
class Member:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    session_timeout_ms: int
    rebalance_timeout_ms: int
    protocol_type: str
    protocols: list[tuple[str, bytes]]  # (strategy, subscription) in the member's order of preference
    last_seen_ms: float
    assignment: bytes = b""
    join_token: Any = None  # a held JoinGroup
    sync_token: Any = None  # a held SyncGroup

    def subscription(self, protocol: str) -> bytes:
        return next((m for n, m in self.protocols if n == protocol), b"")


def choose_protocol(preferences: list[list[str]]) -> str | None:
    """The group's strategy by the members' votes (``wire.client.assignors.choose_protocol``, Kafka's
    ``selectProtocol``), or None when they share none."""
    try:
        return assignors.choose_protocol(preferences)
    except errors.InconsistentGroupProtocol:
        return None


_member_seq = itertools.count(1)


def new_member_id(client_id: str) -> str:
    return f"{client_id or 'consumer'}-{uuid.uuid4().hex[:12]}-{next(_member_seq)}"


@dataclass
class GroupLimits:
    min_session_timeout_ms: int = 6000  # group.min.session.timeout.ms
    max_session_timeout_ms: int = 1_800_000  # group.max.session.timeout.ms
    initial_rebalance_delay_ms: int = 3000  # group.initial.rebalance.delay.ms


@dataclass
class Group:
    group_id: str
    limits: GroupLimits = field(default_factory=GroupLimits)
    state: str = EMPTY
    generation: int = 0
    protocol_type: str = ""
    protocol: str = ""
    leader: str = ""
    members: dict[str, Member] = field(default_factory=dict)
    static: dict[str, str] = field(default_factory=dict)  # group.instance.id -> member id
    offsets: dict[tuple[str, int], Committed] = field(default_factory=dict)
    rebalance_deadline_ms: float = 0.0
    initial_delay_until_ms: float = 0.0
    empty_since_ms: float = 0.0
    assignment_pending: bool = False  # the leader's assignment is being stored (COMPLETING)

    # -- joining ---------------------------------------------------------------------------
    def join(self, request: JoinGroup, token: Any, now_ms: float) -> list:
        limits = self.limits
        if not limits.min_session_timeout_ms <= request.session_timeout_ms <= limits.max_session_timeout_ms:
            return [Reply(token, errors.InvalidSessionTimeout(
                f"session.timeout.ms={request.session_timeout_ms} is outside [{limits.min_session_timeout_ms}, "
                f"{limits.max_session_timeout_ms}] (group.min/max.session.timeout.ms)"))]
        if self.state == DEAD:
            return [Reply(token, errors.CoordinatorNotAvailable(f"group {self.group_id} is being deleted"))]
        names = [p.name for p in request.protocols]
        if not names or (self.members and self.protocol_type and request.protocol_type != self.protocol_type):
            return [Reply(token, errors.InconsistentGroupProtocol(
                f"group {self.group_id} uses protocol type {self.protocol_type!r}; the join offers "
                f"{request.protocol_type!r} with strategies {names}"))]
        if self.members and not self._supported_by_all(names, ignore=request.member_id):
            return [Reply(token, errors.InconsistentGroupProtocol(
                f"none of {names} is supported by every member of group {self.group_id}"))]
        instance = request.group_instance_id
        if request.member_id:
            member = self.members.get(request.member_id)
            if member is None:
                return [Reply(token, errors.UnknownMemberId(
                    f"member {request.member_id} is not in group {self.group_id} (any more): join without a member id"))]
            if instance is not None and self.static.get(instance) != request.member_id:
                return [Reply(token, self._fenced(instance))]
            return self._rejoin(member, request, token, now_ms)
        if instance is not None and instance in self.static:
            return self._replace_static(instance, request, token, now_ms)
        member = self._add_member(request, now_ms, join_token=token)
        if not self.protocol_type:
            self.protocol_type = request.protocol_type
        return self._prepare_rebalance(now_ms, new_group=self.state == EMPTY) + self._maybe_complete_join(now_ms)

    def _add_member(self, request: JoinGroup, now_ms: float, **state) -> Member:
        """A new member id for this join (a static one also takes its instance's place)."""
        member = Member(
            member_id=new_member_id(request.client_id), group_instance_id=request.group_instance_id,
            client_id=request.client_id, client_host=request.client_host,
            session_timeout_ms=request.session_timeout_ms, rebalance_timeout_ms=request.rebalance_timeout_ms,
            protocol_type=request.protocol_type, protocols=[(p.name, p.metadata) for p in request.protocols],
            last_seen_ms=now_ms, **state,
        )
        self.members[member.member_id] = member
        if member.group_instance_id is not None:
            self.static[member.group_instance_id] = member.member_id
        return member

    def _supported_by_all(self, names: list[str], ignore: str = "") -> bool:
        others = [m for mid, m in self.members.items() if mid != ignore]
        return any(all(n in [p for p, _ in m.protocols] for m in others) for n in names)

    def _fenced(self, instance: str) -> errors.ZafkaError:
        return errors.FencedInstanceId(
            f"group.instance.id {instance!r} of group {self.group_id} is now member {self.static.get(instance)}")

    def _rejoin(self, member: Member, request: JoinGroup, token: Any, now_ms: float) -> list:
        effects = []
        protocols = [(p.name, p.metadata) for p in request.protocols]
        changed = protocols != member.protocols
        member.protocols = protocols
        member.session_timeout_ms = request.session_timeout_ms
        member.rebalance_timeout_ms = request.rebalance_timeout_ms
        member.last_seen_ms = now_ms
        if member.join_token is not None and member.join_token != token:
            effects.append(Reply(member.join_token, errors.RebalanceInProgress("a newer join from this member")))
        member.join_token = token
        if self.state == PREPARING:
            return effects + self._maybe_complete_join(now_ms)
        if self.state in (STABLE, COMPLETING) and not changed and member.member_id != self.leader:
            member.join_token = None  # nothing changed: the current generation stands (Kafka does the same)
            return effects + [Reply(token, self._join_response(member))]
        return effects + self._prepare_rebalance(now_ms) + self._maybe_complete_join(now_ms)

    def _replace_static(self, instance: str, request: JoinGroup, token: Any, now_ms: float) -> list:
        """A static member restarted: the new member id takes the old one's place and assignment."""
        old = self.members.pop(self.static[instance])
        effects = [Reply(t, self._fenced(instance)) for t in (old.join_token, old.sync_token) if t is not None]
        member = self._add_member(request, now_ms, assignment=old.assignment)
        if self.leader == old.member_id:
            self.leader = member.member_id
        next_protocol = choose_protocol([[n for n, _ in m.protocols] for m in self.members.values()])
        if self.state == STABLE and next_protocol == self.protocol:
            # KIP-345, as Kafka's updateStaticMemberAndRebalance: no rebalance while the group's protocol
            # stays the same (its subscription metadata may differ: a restarted consumer owns nothing yet);
            # the assignment it had is its again, stored under the new id
            return effects + [Store([self.snapshot_record()], lambda: [Reply(token, self._join_response(
                member, with_members=False))], lambda exc: [Reply(token, errors.CoordinatorNotAvailable(str(exc)))])]
        member.join_token = token
        return effects + self._prepare_rebalance(now_ms) + self._maybe_complete_join(now_ms)

    def _prepare_rebalance(self, now_ms: float, new_group: bool = False) -> list:
        effects = []
        if self.state == COMPLETING:  # a sync held for the generation being abandoned: rejoin instead
            for m in self.members.values():
                if m.sync_token is not None:
                    effects.append(Reply(m.sync_token, errors.RebalanceInProgress(
                        f"group {self.group_id} is rebalancing again: rejoin")))
                    m.sync_token = None
        self.assignment_pending = False
        if self.state != PREPARING:
            self.state = PREPARING
            longest = max((m.rebalance_timeout_ms for m in self.members.values()), default=0)
            self.rebalance_deadline_ms = now_ms + longest
            self.initial_delay_until_ms = now_ms + min(self.limits.initial_rebalance_delay_ms, longest) \
                if new_group else 0.0
        return effects

    def _maybe_complete_join(self, now_ms: float) -> list:
        if self.state != PREPARING:
            return []
        everyone = all(m.join_token is not None for m in self.members.values())
        if now_ms < self.rebalance_deadline_ms and (not everyone or now_ms < self.initial_delay_until_ms):
            return []
        return self._complete_join(now_ms)

    def _complete_join(self, now_ms: float) -> list:
        for mid in [mid for mid, m in self.members.items() if m.join_token is None]:
            self._remove(mid)  # did not rejoin within the rebalance timeout
        self.generation += 1
        if not self.members:
            self.state, self.protocol, self.leader, self.empty_since_ms = EMPTY, "", "", now_ms
            return [Store([self.snapshot_record()], lambda: [], lambda exc: [])]
        members = list(self.members.values())
        self.protocol = choose_protocol([[n for n, _ in m.protocols] for m in members]) or ""
        if self.leader not in self.members:
            self.leader = members[0].member_id
        self.state = COMPLETING
        effects = []
        for m in members:
            effects.append(Reply(m.join_token, self._join_response(m)))
            m.join_token = None
            m.last_seen_ms = now_ms
        return effects

    def _join_response(self, member: Member, with_members: bool = True) -> JoinGroupResponse:
        listed = []
        if member.member_id == self.leader and with_members:
            listed = [JoinGroupMember(m.member_id, m.group_instance_id, m.subscription(self.protocol))
                      for m in self.members.values()]
        return JoinGroupResponse(generation_id=self.generation, protocol_name=self.protocol, leader=self.leader,
                                 member_id=member.member_id, members=listed)

    # -- syncing ---------------------------------------------------------------------------------
    def sync(self, request: SyncGroup, token: Any, now_ms: float) -> list:
        member = self.members.get(request.member_id)
        error = self._check_member(member, request.member_id, request.group_instance_id, request.generation_id)
        if error is not None:
            return [Reply(token, error)]
        member.last_seen_ms = now_ms
        if self.state == PREPARING:
            return [Reply(token, errors.RebalanceInProgress(f"group {self.group_id} is rebalancing: rejoin"))]
        if self.state == STABLE:
            return [Reply(token, SyncGroupResponse(protocol_name=self.protocol, assignment=member.assignment))]
        member.sync_token = token  # COMPLETING: held until the leader's assignment is stored
        if member.member_id != self.leader:
            return []
        if self.assignment_pending:
            return []  # the leader synced again: its first assignment is being stored
        assignments = {a.member_id: a.assignment for a in request.assignments}
        generation = self.generation
        for mid, m in self.members.items():
            m.assignment = assignments.get(mid, b"")
        self.assignment_pending = True

        def stored() -> list:
            if self.generation != generation or self.state != COMPLETING:
                return []  # rebalanced again meanwhile: those syncs were answered already
            self.assignment_pending = False
            self.state = STABLE
            return self._answer_syncs()

        def failed(exc: Exception) -> list:
            if self.generation != generation:
                return []
            effects = [Reply(m.sync_token, errors.CoordinatorNotAvailable(f"storing the assignment failed: {exc}"))
                       for m in self.members.values() if m.sync_token is not None]
            for m in self.members.values():
                m.sync_token = None
                m.assignment = b""
            self.assignment_pending = False
            return effects + self._prepare_rebalance(now_ms)

        return [Store([self.snapshot_record()], stored, failed)]

    def _answer_syncs(self) -> list:
        effects = []
        for m in self.members.values():
            if m.sync_token is not None:
                effects.append(Reply(m.sync_token, SyncGroupResponse(protocol_name=self.protocol,
                                                                     assignment=m.assignment)))
                m.sync_token = None
        return effects

    def _check_member(self, member: Member | None, member_id: str, instance: str | None,
                      generation: int) -> errors.ZafkaError | None:
        if instance is not None and instance in self.static and self.static[instance] != member_id:
            return self._fenced(instance)
        if member is None:
            return errors.UnknownMemberId(f"member {member_id!r} is not in group {self.group_id}: rejoin")
        if generation != self.generation:
            return errors.IllegalGeneration(
                f"group {self.group_id} is at generation {self.generation}, the request at {generation}")
        return None

    # -- heartbeats, leaving, expiry ---------------------------------------------------------------
    def heartbeat(self, member_id: str, instance: str | None, generation: int, token: Any, now_ms: float) -> list:
        member = self.members.get(member_id)
        error = self._check_member(member, member_id, instance, generation)
        if error is not None:
            return [Reply(token, error)]
        member.last_seen_ms = now_ms
        if self.state == PREPARING:
            return [Reply(token, errors.RebalanceInProgress(f"group {self.group_id} is rebalancing: rejoin"))]
        return [Reply(token, HeartbeatResponse())]

    def leave(self, leaving: list[tuple[str, str | None]], token: Any, now_ms: float) -> list:
        """Members leave at once (a consumer closing); the others rebalance without waiting a session."""
        effects, gone = [], False
        for member_id, instance in leaving:
            if instance is not None:
                current = self.static.get(instance)
                if current is None:
                    return [Reply(token, errors.UnknownMemberId(f"no member with group.instance.id {instance!r}"))]
                if member_id and member_id != current:
                    return [Reply(token, self._fenced(instance))]
                member_id = current
            member = self.members.get(member_id)
            if member is None:
                return [Reply(token, errors.UnknownMemberId(f"member {member_id!r} is not in group {self.group_id}"))]
            effects += [Reply(t, errors.UnknownMemberId("the member left")) for t in (member.join_token,
                                                                                     member.sync_token) if t]
            self._remove(member_id)
            gone = True
        if gone:
            effects += self._after_removal(now_ms)
        return effects + [Reply(token, LeaveGroupResponse())]

    def expire(self, now_ms: float) -> list:
        """Remove members silent past their session (those waiting on a held join or sync are not)."""
        gone = [mid for mid, m in self.members.items() if m.join_token is None and m.sync_token is None
                and now_ms - m.last_seen_ms > m.session_timeout_ms]
        for mid in gone:
            self._remove(mid)
        effects = self._after_removal(now_ms) if gone else []
        return effects + self._maybe_complete_join(now_ms)

    def _remove(self, member_id: str) -> None:
        member = self.members.pop(member_id)
        if member.group_instance_id is not None and self.static.get(member.group_instance_id) == member_id:
            del self.static[member.group_instance_id]

    def _after_removal(self, now_ms: float) -> list:
        if self.state in (STABLE, COMPLETING):
            if not self.members:
                return self._empty(now_ms)
            return self._prepare_rebalance(now_ms)
        if self.state == PREPARING:
            if not self.members:
                return self._empty(now_ms)
            return self._maybe_complete_join(now_ms)
        return []

    def _empty(self, now_ms: float) -> list:
        self.generation += 1
        self.state, self.protocol, self.leader, self.empty_since_ms = EMPTY, "", "", now_ms
        return [Store([self.snapshot_record()], lambda: [], lambda exc: [])]

    # -- offsets ---------------------------------------------------------------------------------------
    def commit(self, member_id: str, instance: str | None, generation: int, offsets: list[CommitOffset],
               token: Any, now_ms: float, max_metadata_bytes: int = 4096) -> list:
        if generation < 0 and not member_id:
            if self.members:  # a commit outside any generation, to a group with members
                return [Reply(token, errors.UnknownMemberId(
                    f"group {self.group_id} has members: commit as one of them (with its generation)"))]
        else:
            member = self.members.get(member_id)
            error = self._check_member(member, member_id, instance, generation)
            if error is None and self.state == COMPLETING:
                error = errors.RebalanceInProgress(f"group {self.group_id} is completing a rebalance: commit after it")
            if error is not None:
                return [Reply(token, error)]
            member.last_seen_ms = now_ms
        results, records = [], []
        for o in offsets:
            if len(o.metadata.encode()) > max_metadata_bytes:
                results.append(PartitionResult(o.topic, o.partition, errors.OffsetMetadataTooLarge.code))
                continue
            results.append(PartitionResult(o.topic, o.partition))
            records.append(OffsetRecord(self.group_id, o.topic, o.partition,
                                        Committed(o.offset, o.metadata, int(now_ms), o.leader_epoch)))
        response = OffsetCommitResponse(results=results)
        if not records:
            return [Reply(token, response)]

        def stored() -> list:
            for r in records:
                self.offsets[(r.topic, r.partition)] = r.value
            return [Reply(token, response)]

        return [Store(records, stored, lambda exc: [Reply(token, errors.CoordinatorNotAvailable(
            f"the commit was not replicated: {exc}"))])]

    def expire_offsets(self, now_ms: float, retention_ms: int) -> list:
        """``offsets.retention.minutes``: an empty group's offsets go once it has been empty that long."""
        if self.state != EMPTY or retention_ms < 0 or now_ms - self.empty_since_ms < retention_ms:
            return []
        old = [tp for tp, c in self.offsets.items() if now_ms - max(c.commit_ms, self.empty_since_ms) >= retention_ms]
        if not old:
            return []
        records = [OffsetRecord(self.group_id, t, p, None) for t, p in old]

        def stored() -> list:
            for tp in old:
                self.offsets.pop(tp, None)
            return []

        return [Store(records, stored, lambda exc: [])]

    # -- views and persistence ----------------------------------------------------------------------------
    def snapshot(self) -> GroupSnapshot:
        return GroupSnapshot(self.protocol_type, self.generation, self.protocol, self.leader, [
            MemberSnapshot(m.member_id, m.group_instance_id, m.client_id, m.client_host, m.session_timeout_ms,
                           m.rebalance_timeout_ms, m.subscription(self.protocol), m.assignment)
            for m in self.members.values()])

    def snapshot_record(self) -> GroupRecord:
        return GroupRecord(self.group_id, self.snapshot())

    @classmethod
    def restore(cls, group_id: str, snap: GroupSnapshot | None, offsets: dict, now_ms: float,
                limits: GroupLimits | None = None) -> "Group":
        """A coordinator taking a group over from ``__consumer_offsets``: members keep their
        assignment and get a fresh session to heartbeat in, as after a Kafka coordinator failover."""
        group = cls(group_id, limits or GroupLimits(), offsets=dict(offsets))
        if snap is None:
            group.empty_since_ms = now_ms
            return group
        group.protocol_type, group.generation, group.protocol, group.leader = (
            snap.protocol_type, snap.generation, snap.protocol, snap.leader)
        for m in snap.members:
            group.members[m.member_id] = Member(
                m.member_id, m.group_instance_id, m.client_id, m.client_host, m.session_timeout_ms,
                m.rebalance_timeout_ms, snap.protocol_type, [(snap.protocol, m.subscription)], now_ms, m.assignment)
            if m.group_instance_id is not None:
                group.static[m.group_instance_id] = m.member_id
        group.state = STABLE if group.members else EMPTY
        group.empty_since_ms = now_ms
        return group

    def describe(self) -> list[MemberDescription]:
        return [MemberDescription(m.member_id, m.group_instance_id, m.client_id, m.client_host,
                                  m.subscription(self.protocol), m.assignment) for m in self.members.values()]
