"""A consumer's membership of its group: Kafka's ConsumerCoordinator, on the classic protocol.

The consumer's thread drives the rebalance from ``poll`` (as Kafka's does): find
the coordinator, JoinGroup (held by the coordinator until the rebalance
completes), and — when this member is the leader — run the group's assignor over
every member's subscription; then SyncGroup hands each member its partitions.
Subscriptions and assignments are this module's msgpack encoding (Kafka's
ConsumerProtocol carries the same fields: topics, owned partitions, generation).

A heartbeat thread keeps the membership alive between polls with a connection of
its own (ZeroMQ sockets are never shared between threads). It also enforces
``max.poll.interval.ms``: a consumer whose application has not called ``poll``
for that long leaves the group, so its partitions go to members that are still
working; the next ``poll`` rejoins. Heartbeat answers that say the group is
rebalancing (or that this member's generation is gone) make the next ``poll``
rejoin.

Eager protocol (``range`` in the strategy list, Kafka's default): every partition
is revoked before rejoining. Cooperative (``cooperative-sticky`` alone, KIP-429):
only the partitions that move are revoked, and a member that lost some rejoins at
once so the follow-up rebalance can hand them over.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

import msgspec

from wire import errors
from wire.client import assignors as strategies
from wire.client.records import TopicPartition
from wire.groups import (
    CommitOffset,
    FindCoordinator,
    GroupProtocol,
    Heartbeat,
    JoinGroup,
    LeaveGroup,
    LeavingMember,
    OffsetCommit,
    OffsetFetch,
    SyncAssignment,
    SyncGroup,
    TopicPartitionRef,
)
from wire.transport import Connection

log = logging.getLogger(__name__)

COORDINATOR_ERRORS = (errors.NotCoordinator, errors.CoordinatorNotAvailable, errors.CoordinatorLoadInProgress,
                      errors.BrokerNotAvailable, errors.RequestTimedOut)
REJOIN_ERRORS = (errors.RebalanceInProgress, errors.IllegalGeneration, errors.UnknownMemberId)


class CommitFailed(errors.ZafkaError):
    """The group rebalanced before the commit: another member may own the partitions now."""

    hint = "the records since the last commit may be processed again by their new owner; poll() rejoins"


class _Subscription(msgspec.Struct, array_like=True):
    version: int
    topics: list[str]
    owned: list[tuple[str, int]] = []
    generation: int = -1


class _Assignment(msgspec.Struct, array_like=True):
    version: int
    partitions: list[tuple[str, int]] = []


def encode_subscription(topics: Sequence[str], owned: Sequence[TopicPartition], generation: int) -> bytes:
    return msgspec.msgpack.encode(_Subscription(0, sorted(topics), [tuple(tp) for tp in owned], generation))


def decode_subscription(data: bytes) -> strategies.Subscription:
    s = msgspec.msgpack.decode(data, type=_Subscription)
    return strategies.Subscription(tuple(s.topics), tuple(TopicPartition(*tp) for tp in s.owned), s.generation)


def encode_assignment(partitions: Sequence[TopicPartition]) -> bytes:
    return msgspec.msgpack.encode(_Assignment(0, sorted(tuple(tp) for tp in partitions)))


def decode_assignment(data: bytes) -> list[TopicPartition]:
    if not data:
        return []
    return [TopicPartition(*tp) for tp in msgspec.msgpack.decode(data, type=_Assignment).partitions]


class GroupMember:
    """One consumer's membership; every method but the heartbeat thread runs on the consumer's thread."""

    def __init__(self, group_id: str, pool, metadata, *, session_timeout_ms: int, heartbeat_interval_ms: int,
                 max_poll_interval_ms: int, assignors: list, group_instance_id: str | None, client_id: str,
                 request_timeout_ms: float, retry_backoff_ms: float):
        self._settings = dict(
            session_timeout_ms=session_timeout_ms, heartbeat_interval_ms=heartbeat_interval_ms,
            max_poll_interval_ms=max_poll_interval_ms, assignors=assignors, group_instance_id=group_instance_id,
            client_id=client_id, request_timeout_ms=request_timeout_ms, retry_backoff_ms=retry_backoff_ms)
        self.group_id = group_id
        self._pool = pool
        self._metadata = metadata
        self.session_timeout_ms = session_timeout_ms
        self.heartbeat_interval_s = heartbeat_interval_ms / 1000
        self.max_poll_interval_ms = max_poll_interval_ms
        self.assignors = assignors
        self.protocol = strategies.rebalance_protocol(assignors)
        self.group_instance_id = group_instance_id
        self.client_id = client_id
        self.request_timeout_ms = request_timeout_ms
        self.backoff_s = retry_backoff_ms / 1000
        self._lock = threading.Lock()  # the fields the heartbeat thread reads or changes
        self.coordinator: str | None = None
        self.member_id = ""
        self.generation = -1
        self.assignment: list[TopicPartition] = []
        self.needs_join = True
        self.lost = False  # the group dropped this member (expired, fenced, left): its partitions are lost
        self.last_poll = time.monotonic()
        self._closing = threading.Event()
        self._heartbeats: threading.Thread | None = None

    def renewed(self) -> "GroupMember":
        """A member with the same settings and no membership yet (after ``close``: a new subscription)."""
        return GroupMember(self.group_id, self._pool, self._metadata, **self._settings)

    # -- talking to the coordinator ------------------------------------------------------------------
    def _find_coordinator(self, deadline: float) -> str:
        last: Exception | None = None
        while True:
            for endpoint in self._metadata.endpoints():
                try:
                    response, _ = self._pool.call(endpoint, FindCoordinator(key=self.group_id),
                                                  timeout_ms=min(self.request_timeout_ms, 5000))
                    if response.error:
                        raise errors.error_for(response.error, response.message)
                    with self._lock:
                        self.coordinator = response.endpoint
                    return response.endpoint
                except errors.ZafkaError as exc:
                    if not exc.retriable:
                        raise
                    last = exc
            if time.monotonic() + self.backoff_s >= deadline:
                raise errors.CoordinatorNotAvailable(f"no coordinator for group {self.group_id} found: {last}")
            time.sleep(self.backoff_s)  # retry backoff while __consumer_offsets is created or moves

    def _call(self, request, deadline: float, timeout_ms: float | None = None):
        """A request to the coordinator, finding it again while it moves or loads (retriable errors)."""
        while True:
            endpoint = self.coordinator or self._find_coordinator(deadline)
            left_ms = max((deadline - time.monotonic()) * 1000, 1)
            try:
                response, _ = self._pool.call(endpoint, request, timeout_ms=min(timeout_ms or left_ms, left_ms))
                if response.error:
                    raise errors.error_for(response.error, response.message)
                return response
            except COORDINATOR_ERRORS as exc:
                with self._lock:
                    self.coordinator = None
                if time.monotonic() + self.backoff_s >= deadline:
                    raise
                log.debug("group %s: %s; finding the coordinator again", self.group_id, exc)
                time.sleep(self.backoff_s)
            request.corr = 0

    # -- joining -----------------------------------------------------------------------------------------
    def ensure_active(self, topics: Sequence[str], partitions_of: Callable[[str], int | None],
                      on_revoke: Callable[[list], None], on_assign: Callable[[list], None],
                      on_lost: Callable[[list], None] | None = None) -> bool:
        """Rejoin while the group asks for it; True when the assignment changed.

        Partitions of a membership the group already dropped are *lost*, not revoked
        (Kafka's onPartitionsLost): someone else may own them now, so nothing is
        committed for them.
        """
        self.last_poll = time.monotonic()
        changed = False
        while self.needs_join and not self._closing.is_set():
            if self.lost and self.assignment:
                (on_lost or on_revoke)(list(self.assignment))
                self.assignment = []
            self.lost = False
            old = list(self.assignment)
            if self.protocol == strategies.EAGER and old:
                on_revoke(old)  # eager: give everything up before the rebalance
                self.assignment = []
            new = self._rebalance(topics, partitions_of, owned=old)
            if new is None:
                continue
            if self.protocol == strategies.COOPERATIVE:
                revoked = [tp for tp in old if tp not in new]
                added = [tp for tp in new if tp not in old]
                if revoked:
                    on_revoke(revoked)
                    self.needs_join = True  # KIP-429: the follow-up rebalance hands them to their new owner
                self.assignment = new
                if added:
                    on_assign(added)
            else:
                self.assignment = new
                on_assign(new)
            changed = True
        if changed:
            self._start_heartbeats()
        return changed

    def _rebalance(self, topics: Sequence[str], partitions_of, owned: list) -> list[TopicPartition] | None:
        """One join and sync; the new assignment, or None to try again. ``owned`` (what this member
        held) lets sticky strategies keep partitions where they are, eager or not."""
        deadline = time.monotonic() + (self.max_poll_interval_ms + self.request_timeout_ms) / 1000
        with self._lock:
            member_id, generation = self.member_id, self.generation
        join = JoinGroup(
            group_id=self.group_id, session_timeout_ms=self.session_timeout_ms,
            rebalance_timeout_ms=self.max_poll_interval_ms, member_id=member_id,
            group_instance_id=self.group_instance_id, client_id=self.client_id,
            protocols=[GroupProtocol(a.name, encode_subscription(topics, owned, generation)) for a in self.assignors],
        )
        joined = self._rebalance_call(join, deadline)
        if joined is None:
            return None
        assignments = []
        if joined.leader == joined.member_id:
            assignments = self._assign(joined, partitions_of)
        with self._lock:
            self.member_id, self.generation = joined.member_id, joined.generation_id
        sync = SyncGroup(group_id=self.group_id, generation_id=joined.generation_id, member_id=joined.member_id,
                         group_instance_id=self.group_instance_id, assignments=assignments)
        synced = self._rebalance_call(sync, deadline)
        if synced is None:
            return None
        with self._lock:
            self.needs_join = False
        assigned = decode_assignment(synced.assignment)
        log.info("group %s generation %d: assigned %s", self.group_id, joined.generation_id, assigned)
        return assigned

    def _rebalance_call(self, request, deadline: float):
        """A JoinGroup or SyncGroup; None when the rebalance must start over (this member unknown
        now: its partitions are lost; or the group moved on to another generation)."""
        try:
            return self._call(request, deadline)
        except errors.UnknownMemberId:
            with self._lock:
                self.member_id, self.generation, self.lost = "", -1, True
            return None
        except (errors.RebalanceInProgress, errors.IllegalGeneration):
            return None

    def _assign(self, joined, partitions_of) -> list[SyncAssignment]:
        """The leader's job: the chosen strategy over every member's subscription."""
        assignor = strategies.ASSIGNORS[joined.protocol_name]
        subscriptions = {m.member_id: decode_subscription(m.metadata) for m in joined.members}
        topics = sorted({t for s in subscriptions.values() for t in s.topics})
        counts = {t: n for t in topics if (n := partitions_of(t))}
        plan = assignor.assign(counts, subscriptions)
        return [SyncAssignment(member, encode_assignment(plan.get(member, []))) for member in subscriptions]

    # -- heartbeats ----------------------------------------------------------------------------------------
    def _start_heartbeats(self) -> None:
        if self._heartbeats is None or not self._heartbeats.is_alive():
            self._heartbeats = threading.Thread(target=self._heartbeat_loop, name=f"heartbeat-{self.group_id}",
                                                daemon=True)
            self._heartbeats.start()

    def _heartbeat_loop(self) -> None:
        connections: dict[str, Connection] = {}
        try:
            while not self._closing.wait(self.heartbeat_interval_s):
                with self._lock:
                    endpoint, member_id, generation = self.coordinator, self.member_id, self.generation
                    joined = not self.needs_join and bool(member_id)
                if not joined or endpoint is None:
                    continue
                if (time.monotonic() - self.last_poll) * 1000 > self.max_poll_interval_ms:
                    log.warning("group %s: poll() not called for max.poll.interval.ms=%d: leaving the group so "
                                "its partitions go to a member that is working", self.group_id,
                                self.max_poll_interval_ms)
                    self._leave_from(connections, endpoint, member_id)
                    continue
                conn = connections.get(endpoint) or connections.setdefault(endpoint, Connection(endpoint))
                try:
                    conn.call(Heartbeat(group_id=self.group_id, generation_id=generation, member_id=member_id,
                                        group_instance_id=self.group_instance_id),
                              timeout_ms=int(self.heartbeat_interval_s * 1000) + 1000)
                except REJOIN_ERRORS as exc:
                    with self._lock:
                        if self.generation == generation:
                            self.needs_join = True
                            if isinstance(exc, (errors.UnknownMemberId, errors.IllegalGeneration)):
                                self.lost = True  # the group went on without this member
                            if isinstance(exc, errors.UnknownMemberId):
                                self.member_id = ""
                except errors.FencedInstanceId:
                    with self._lock:
                        self.needs_join, self.lost = True, True
                except errors.ZafkaError as exc:
                    log.debug("group %s: heartbeat failed: %s", self.group_id, exc)
                    if isinstance(exc, COORDINATOR_ERRORS):
                        with self._lock:
                            if self.coordinator == endpoint:
                                self.coordinator = None
        finally:
            for conn in connections.values():
                conn.close()

    def _leave_from(self, connections: dict, endpoint: str, member_id: str) -> None:
        conn = connections.get(endpoint) or connections.setdefault(endpoint, Connection(endpoint))
        try:
            conn.call(LeaveGroup(group_id=self.group_id, members=[LeavingMember(member_id, self.group_instance_id)]),
                      timeout_ms=2000)
        except errors.ZafkaError as exc:
            log.debug("group %s: leave failed: %s", self.group_id, exc)
        with self._lock:
            self.needs_join, self.member_id, self.generation, self.lost = True, "", -1, True

    # -- offsets ---------------------------------------------------------------------------------------------
    def commit(self, offsets: dict[TopicPartition, int], deadline: float) -> None:
        with self._lock:
            member_id, generation = self.member_id, self.generation
        request = OffsetCommit(group_id=self.group_id, generation_id=generation, member_id=member_id,
                               group_instance_id=self.group_instance_id,
                               offsets=[CommitOffset(tp.topic, tp.partition, o) for tp, o in sorted(offsets.items())])
        try:
            response = self._call(request, deadline)
        except REJOIN_ERRORS as exc:
            with self._lock:
                self.needs_join = True
            raise CommitFailed(f"group {self.group_id} rebalanced before the commit: {exc}") from None
        failed = [r for r in response.results if r.error]
        if failed:
            first = failed[0]
            raise errors.error_for(first.error, f"commit of {first.topic}-{first.partition} refused")

    def committed(self, partitions: Sequence[TopicPartition], deadline: float) -> dict[TopicPartition, int | None]:
        response = self._call(OffsetFetch(group_id=self.group_id, partitions=[
            TopicPartitionRef(tp.topic, tp.partition) for tp in partitions]), deadline)
        return {TopicPartition(o.topic, o.partition): (o.offset if o.offset >= 0 else None) for o in response.offsets}

    def close(self, leave: bool) -> None:
        """Stop heartbeating; a dynamic member leaves at once (its partitions move without waiting a session)."""
        self._closing.set()
        with self._lock:
            member_id, endpoint = self.member_id, self.coordinator
        if leave and member_id and endpoint and self.group_instance_id is None:
            try:
                self._pool.call(endpoint, LeaveGroup(group_id=self.group_id, members=[LeavingMember(member_id)]),
                                timeout_ms=2000)
            except errors.ZafkaError as exc:
                log.debug("group %s: leave failed: %s", self.group_id, exc)
        if self._heartbeats is not None:
            self._heartbeats.join(self.heartbeat_interval_s + 3)
