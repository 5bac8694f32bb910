"""A consumer's membership of its group: Kafka's ConsumerCoordinator, on the classic protocol.

The consumer's thread drives the rebalance from ``poll`` (as Kafka's does): find
the coordinator, JoinGroup (held by the coordinator until the rebalance
completes), and — when this member is the leader — run the group's assignor over
every member's subscription; then SyncGroup hands each member its partitions.
These go out one at a time on the consumer's connection pool and their replies are
taken up by later ``poll`` rounds, so ``poll`` keeps to its timeout while the
coordinator holds a join, and the partitions a member keeps go on being fetched.
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
from wire.client.records import OffsetAndMetadata, TopicPartition
from wire.connections import Failure
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


class RebalanceInProgressCommit(CommitFailed):
    """The commit came while this member was rejoining (Kafka's RebalanceInProgressException)."""

    hint = "poll() finishes the rebalance; then commit again what is still assigned"
    retriable = True


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
        # the rebalance in progress (consumer thread only): one request in flight at a time
        self._token = object()  # marks this member's replies among the pool's events
        self._in_flight: int | None = None  # number of the FindCoordinator, JoinGroup or SyncGroup out
        self._sent = 0
        self._corr: int | None = None  # its correlation id, to cancel it on close
        self._inbox: list = []
        self._retry_at = 0.0
        self._find_turn = -1
        self._owned_hint: list[TopicPartition] = []  # eagerly revoked, still named in the next join
        self._next_complaint = 0.0
        self._rejoin_after = False  # the subscription changed while a join was in flight

    def renewed(self) -> "GroupMember":
        """A member with the same settings and no membership yet (after ``close``: a new subscription)."""
        return GroupMember(self.group_id, self._pool, self._metadata, **self._settings)

    # -- talking to the coordinator ------------------------------------------------------------------
    def _find_coordinator(self, deadline: float) -> str:
        """Ask the brokers in turn until one names the coordinator, within the caller's whole deadline.

        Retriable answers (``__consumer_offsets`` being created, its leader moving, a
        broker down) are retried with the backoff; giving up names what each broker said.
        """
        started = time.monotonic()
        answers: dict[str, str] = {}
        while True:
            for endpoint in self._metadata.endpoints():
                left_ms = (deadline - time.monotonic()) * 1000
                if left_ms <= 0:
                    break
                try:
                    response, _ = self._pool.call(endpoint, FindCoordinator(key=self.group_id),
                                                  timeout_ms=min(self.request_timeout_ms, 5000, left_ms))
                    if response.error:
                        raise errors.error_for(response.error, response.message)
                    with self._lock:
                        self.coordinator = response.endpoint
                    return response.endpoint
                except errors.ZafkaError as exc:
                    if not exc.retriable:
                        raise
                    answers[endpoint] = f"{type(exc).__name__}: {exc}"
            if time.monotonic() + self.backoff_s >= deadline:
                said = "; ".join(f"{ep}: {answer}" for ep, answer in sorted(answers.items())) or "no broker asked"
                raise errors.CoordinatorNotAvailable(
                    f"no coordinator for group {self.group_id!r} found in {time.monotonic() - started:.1f} s "
                    f"(the brokers said: {said})")
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
    def step(self, topics: Sequence[str], partitions_of: Callable[[str], int | None],
             on_revoke: Callable[[list], None], on_assign: Callable[[list], None],
             on_lost: Callable[[list], None] | None = None) -> bool:
        """Advance the rebalance as far as the replies that came allow, without waiting for one.

        Called from every ``poll`` round (Kafka's ``poll`` is bounded by its timeout
        during a rebalance too): a JoinGroup held by the coordinator stays in flight
        across polls, and meanwhile the partitions this member keeps go on being
        fetched. True when the assignment changed. Errors no retry can mend (a fenced
        static member, a refused session timeout) are raised.

        Partitions of a membership the group already dropped are *lost*, not revoked
        (Kafka's onPartitionsLost): someone else may own them now, so nothing is
        committed for them.
        """
        now = time.monotonic()
        self.last_poll = now
        changed = False
        inbox, self._inbox = self._inbox, []
        for event in inbox:
            changed |= self._on_reply(event, partitions_of, on_revoke, on_assign)
        if self.needs_join and self._in_flight is None and not self._closing.is_set() and now >= self._retry_at:
            self._start_join(topics, on_revoke, on_lost or on_revoke)
        if changed:
            self._start_heartbeats()
        return changed

    def take(self, event) -> bool:
        """Keep a reply to this member's request for the next ``step``; False if it is not one."""
        context = event.context
        if type(context) is not tuple or context[0] is not self._token:
            return False
        if self._in_flight is not None and context[1] == self._in_flight:
            self._inbox.append(event)
        return True  # a reply to a request given up on is dropped

    def request_rejoin(self) -> None:
        """The subscription changed: join again (after the rebalance in flight, if one is)."""
        with self._lock:
            if self._in_flight is not None:
                self._rejoin_after = True
            self.needs_join = True

    def next_wakeup(self) -> float | None:
        """When a retry is due with nothing in flight (the poll's wait ends then)."""
        if self.needs_join and self._in_flight is None and self._retry_at > time.monotonic():
            return self._retry_at
        return None

    def _send(self, kind: str, endpoint: str, request, timeout_ms: float) -> None:
        self._sent += 1
        self._corr = self._pool.send(endpoint, request, timeout_ms=timeout_ms,
                                     context=(self._token, self._sent, kind, endpoint))
        self._in_flight = self._sent

    def _start_join(self, topics: Sequence[str], on_revoke, on_lost) -> None:
        if self.lost and self.assignment:
            on_lost(list(self.assignment))
            self.assignment = []
            self._owned_hint = []
        self.lost = False
        if self.protocol == strategies.EAGER and self.assignment:
            self._owned_hint = list(self.assignment)  # sticky strategies still hear what it held
            on_revoke(list(self.assignment))  # eager: give everything up before the rebalance
            self.assignment = []
        endpoint = self.coordinator
        try:
            if endpoint is None:
                endpoints = self._metadata.endpoints()
                self._find_turn += 1
                self._send("find", endpoints[self._find_turn % len(endpoints)], FindCoordinator(key=self.group_id),
                           min(self.request_timeout_ms, 5000))
                return
            with self._lock:
                member_id, generation = self.member_id, self.generation
            owned = self.assignment or self._owned_hint
            join = JoinGroup(
                group_id=self.group_id, session_timeout_ms=self.session_timeout_ms,
                rebalance_timeout_ms=self.max_poll_interval_ms, member_id=member_id,
                group_instance_id=self.group_instance_id, client_id=self.client_id,
                protocols=[GroupProtocol(a.name, encode_subscription(topics, owned, generation))
                           for a in self.assignors],
            )
            # held by the coordinator until every member rejoined (at most the rebalance timeout)
            self._send("join", endpoint, join, max(self.request_timeout_ms, self.max_poll_interval_ms + 5000))
        except errors.ZafkaError as exc:  # the endpoint's queue is full, or no broker known yet
            self._retry_later(exc, endpoint)

    def _retry_later(self, exc: Exception, endpoint: str | None) -> None:
        self._in_flight = None
        self._retry_at = time.monotonic() + self.backoff_s
        with self._lock:
            if endpoint is not None and self.coordinator == endpoint:
                self.coordinator = None  # find it again
        now = time.monotonic()
        if now >= self._next_complaint:
            self._next_complaint = now + 10
            log.warning("group %s: %s; retrying", self.group_id, exc)
        else:
            log.debug("group %s: %s; retrying", self.group_id, exc)

    def _on_reply(self, event, partitions_of, on_revoke, on_assign) -> bool:
        _, _, kind, endpoint = event.context
        self._in_flight = None
        error = event.error if isinstance(event, Failure) else (
            errors.error_for(event.response.error, event.response.message) if event.response.error else None)
        if error is not None:
            if isinstance(error, errors.UnknownMemberId):
                with self._lock:  # the group forgot this member: its partitions are lost; join afresh
                    self.member_id, self.generation, self.lost = "", -1, True
            elif isinstance(error, (errors.RebalanceInProgress, errors.IllegalGeneration)):
                pass  # the group moved on to another generation: join it
            elif isinstance(error, errors.FencedInstanceId):
                with self._lock:
                    self.lost = True
                raise error
            elif error.retriable:  # the coordinator moving or loading, a lost connection, a timeout
                self._retry_later(error, endpoint if kind != "find" else None)
            else:
                raise error
            return False
        response = event.response
        if kind == "find":
            with self._lock:
                self.coordinator = response.endpoint
            return False
        if kind == "join":
            assignments = self._assign(response, partitions_of) if response.leader == response.member_id else []
            with self._lock:
                self.member_id, self.generation = response.member_id, response.generation_id
            sync = SyncGroup(group_id=self.group_id, generation_id=response.generation_id,
                             member_id=response.member_id, group_instance_id=self.group_instance_id,
                             assignments=assignments)
            try:
                self._send("sync", endpoint, sync, max(self.request_timeout_ms, self.max_poll_interval_ms + 5000))
            except errors.ZafkaError as exc:
                self._retry_later(exc, endpoint)
            return False
        with self._lock:
            self.needs_join, self._rejoin_after = self._rejoin_after, False
            generation = self.generation
        new = decode_assignment(response.assignment)
        log.info("group %s generation %d: assigned %s", self.group_id, generation, new)
        self._apply(new, on_revoke, on_assign)
        return True

    def _apply(self, new: list[TopicPartition], on_revoke, on_assign) -> None:
        old, self._owned_hint = self.assignment, []
        if self.protocol == strategies.COOPERATIVE:
            revoked = [tp for tp in old if tp not in new]
            added = [tp for tp in new if tp not in old]
            if revoked:
                on_revoke(revoked)
                with self._lock:
                    self.needs_join = True  # KIP-429: the follow-up rebalance hands them to their new owner
            self.assignment = new
            if added:
                on_assign(added)
        else:
            self.assignment = new
            on_assign(new)

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
    def commit_request(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> OffsetCommit:
        """An OffsetCommit in this member's current generation (the coordinator refuses it if stale)."""
        with self._lock:
            member_id, generation = self.member_id, self.generation
        return OffsetCommit(group_id=self.group_id, generation_id=generation, member_id=member_id,
                            group_instance_id=self.group_instance_id,
                            offsets=[CommitOffset(tp.topic, tp.partition, o.offset, o.metadata)
                                     for tp, o in sorted(offsets.items())])

    def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata], deadline: float) -> None:
        try:
            response = self._call(self.commit_request(offsets), deadline)
        except errors.ZafkaError as exc:
            raise self.commit_error(exc) from None
        error = self._refusal(response)
        if error is not None:
            raise error

    def send_commit(self, offsets: dict[TopicPartition, OffsetAndMetadata], timeout_ms: float,
                    context) -> None:
        """Queue a commit on the consumer's pool; its reply comes out of the pool's ``poll``.

        Only finding a coordinator not known yet waits (as long as ``timeout_ms``).
        """
        endpoint = self.coordinator or self._find_coordinator(time.monotonic() + timeout_ms / 1000)
        self._pool.send(endpoint, self.commit_request(offsets), timeout_ms=timeout_ms, context=(context, endpoint))

    def commit_outcome(self, event) -> errors.ZafkaError | None:
        """What a queued commit's reply (or failure) means: None when every offset was stored."""
        _, endpoint = event.context
        if isinstance(event, Failure):
            error = event.error
        elif event.response.error:
            error = errors.error_for(event.response.error, event.response.message)
        else:
            return self._refusal(event.response)
        if isinstance(error, COORDINATOR_ERRORS):
            with self._lock:
                if self.coordinator == endpoint:
                    self.coordinator = None  # the next request finds it again
        return self.commit_error(error)

    def commit_error(self, exc: errors.ZafkaError) -> errors.ZafkaError:
        """A failed commit as the caller sees it: ``CommitFailed`` when the group moved on."""
        if not isinstance(exc, REJOIN_ERRORS):
            return exc
        with self._lock:
            self.needs_join = True
        if self._in_flight is not None:
            return RebalanceInProgressCommit(f"group {self.group_id} is rebalancing: {exc}")
        return CommitFailed(f"group {self.group_id} rebalanced before the commit: {exc}")

    @staticmethod
    def _refusal(response) -> errors.ZafkaError | None:
        failed = [r for r in response.results if r.error]
        if not failed:
            return None
        first = failed[0]
        return errors.error_for(first.error, f"commit of {first.topic}-{first.partition} refused")

    def committed(self, partitions: Sequence[TopicPartition],
                  deadline: float) -> dict[TopicPartition, OffsetAndMetadata | None]:
        response = self._call(OffsetFetch(group_id=self.group_id, partitions=[
            TopicPartitionRef(tp.topic, tp.partition) for tp in partitions]), deadline)
        return {TopicPartition(o.topic, o.partition): (OffsetAndMetadata(o.offset, o.metadata) if o.offset >= 0
                                                       else None) for o in response.offsets}

    def close(self, leave: bool) -> None:
        """Stop heartbeating; a dynamic member leaves at once (its partitions move without waiting a session)."""
        self._closing.set()
        if self._in_flight is not None and self._corr is not None:
            self._pool.cancel(self._corr)  # a JoinGroup held by the coordinator: nobody waits for it now
            self._in_flight = None
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
