"""The consumer: ``assign`` partitions, ``poll`` records, ``seek`` around.

Like Kafka's ``KafkaConsumer`` it is meant for one thread; the only cross-thread
call is ``close``, which interrupts a blocked ``poll`` or iteration. Fetching
runs ahead of the user (``wire.client.fetcher``): while ``poll``'s records are
being processed, the next responses are already in flight, so no thread is needed.

With a ``group_id``, ``subscribe`` joins the group (``wire.client.group``): the
partitions are the group's to share, ``poll`` rejoins when it rebalances, the
listeners hear what is revoked and assigned, and ``commit`` / ``committed`` keep
the group's offsets (positions start from them, else ``auto_offset_reset``). With
``enable_auto_commit`` the positions of what ``poll`` returned are committed every
``auto_commit_interval_ms``, before a revocation, and on ``close``.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque

from wire.client import assignors as strategies
from wire.client.errors import ClientClosed, ClientConfigError, NotAssigned
from wire.client.group import CommitFailed, GroupMember
from wire.client.fetcher import RESETS, AssignedPartition, Fetcher
from wire.client.interceptors import InterceptorChain
from wire.client.metadata import DEFAULT_BOOTSTRAP, ClusterMetadata
from wire.client.records import OffsetAndMetadata, TopicPartition
from wire.connections import ConnectionPool, Waker
from wire.errors import RequestTimedOut, UnknownTopicOrPartition, ZafkaError
from wire.fetch import EARLIEST, LATEST

log = logging.getLogger(__name__)
errors_for_close = (ZafkaError,)
UNKNOWN_TOPIC_RECHECK_S = 0.5


def _as_tp(tp) -> TopicPartition:
    if type(tp) is TopicPartition:
        return tp
    try:
        topic, partition = tp
    except (TypeError, ValueError):
        raise TypeError(f"expected TopicPartition(topic, partition), got {tp!r}") from None
    if not isinstance(topic, str) or not isinstance(partition, int) or partition < 0:
        raise TypeError(f"expected TopicPartition(topic: str, partition: int >= 0), got {tp!r}")
    return TopicPartition(topic, partition)


class _CommitToken:
    """One ``commit_async`` call: its reply's context, and its place in the callbacks' order."""

    __slots__ = ()


class Consumer:
    """Reads records from assigned partitions (see README.md, "From Python")."""

    def __init__(
        self,
        bootstrap: str = DEFAULT_BOOTSTRAP,
        *,
        group_id: str | None = None,
        auto_offset_reset: str = "latest",
        enable_auto_commit: bool = True,
        fetch_max_wait_ms: float = 500,
        fetch_min_bytes: int = 1,
        max_partition_fetch_bytes: int = 1048576,
        fetch_max_bytes: int = 52428800,
        max_poll_records: int = 500,
        request_timeout_ms: float = 30000,
        retry_backoff_ms: float = 100,
        retry_backoff_max_ms: float = 1000,
        consumer_timeout_ms: float | None = None,
        check_crcs: bool = True,
        allow_auto_create_topics: bool = True,
        interceptors=None,
        value_deserializer=None,
        key_deserializer=None,
        session_timeout_ms: int = 45_000,
        heartbeat_interval_ms: int = 3000,
        max_poll_interval_ms: int = 300_000,
        auto_commit_interval_ms: int = 5000,
        partition_assignment_strategy=strategies.DEFAULT_STRATEGY,
        group_instance_id: str | None = None,
        client_id: str = "zafka-consumer",
        metadata_max_age_ms: float = 300_000,
    ):
        if auto_offset_reset not in RESETS:
            raise ClientConfigError(
                f"invalid value {auto_offset_reset!r} for auto_offset_reset: use 'earliest', 'latest' or 'none'"
            )
        for name, value in (
            ("fetch_max_wait_ms", fetch_max_wait_ms), ("fetch_min_bytes", fetch_min_bytes),
            ("max_partition_fetch_bytes", max_partition_fetch_bytes), ("fetch_max_bytes", fetch_max_bytes),
            ("max_poll_records", max_poll_records), ("request_timeout_ms", request_timeout_ms),
        ):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0 or (
                value == 0 and name not in ("fetch_max_wait_ms", "fetch_min_bytes")
            ):
                raise ClientConfigError(f"invalid value {value!r} for {name}: must be a positive number")
        group_assignors = None
        if group_id is not None:  # checked before any socket exists: a refused config leaks nothing
            if not isinstance(group_id, str) or not group_id:
                raise ClientConfigError(f"invalid value {group_id!r} for group_id: a non-empty string")
            if not 0 < heartbeat_interval_ms < session_timeout_ms:
                raise ClientConfigError(
                    f"heartbeat_interval_ms={heartbeat_interval_ms} must be positive and below "
                    f"session_timeout_ms={session_timeout_ms}")
            if not max_poll_interval_ms > 0 or not auto_commit_interval_ms >= 0:
                raise ClientConfigError("max_poll_interval_ms must be positive and auto_commit_interval_ms >= 0")
            group_assignors = strategies.parse_strategy(partition_assignment_strategy)
        self.group_id = group_id
        self.enable_auto_commit = enable_auto_commit
        self.max_poll_records = int(max_poll_records)
        self.request_timeout_ms = request_timeout_ms
        self.consumer_timeout_ms = consumer_timeout_ms
        self._interceptors = InterceptorChain(interceptors)
        self._waker = Waker()
        self._pool = ConnectionPool(waker=self._waker)
        self._metadata = ClusterMetadata(
            bootstrap, self._pool, timeout_ms=min(request_timeout_ms, 5000), retry_backoff_ms=retry_backoff_ms,
            retry_backoff_max_ms=retry_backoff_max_ms, allow_auto_create=allow_auto_create_topics,
        )
        self._fetcher = Fetcher(
            self._pool, self._metadata, auto_offset_reset=auto_offset_reset, fetch_max_wait_ms=fetch_max_wait_ms,
            fetch_min_bytes=int(fetch_min_bytes), max_partition_fetch_bytes=int(max_partition_fetch_bytes),
            fetch_max_bytes=int(fetch_max_bytes), request_timeout_ms=request_timeout_ms,
            retry_backoff_ms=retry_backoff_ms, retry_backoff_max_ms=retry_backoff_max_ms, check_crcs=check_crcs,
            key_deserializer=key_deserializer, value_deserializer=value_deserializer,
        )
        self._lock = threading.RLock()  # held while the consumer's thread uses the sockets
        self._closed = False
        self._iter_buffer: deque = deque()
        self._group: GroupMember | None = None
        self._subscription: list[str] = []
        self._listeners = (None, None, None)  # on_assign, on_revoke, on_lost
        self._pattern = None
        self._partition_counts: dict[str, int] | None = None  # what the last topic check saw
        self.metadata_max_age_s = metadata_max_age_ms / 1000
        self._next_topic_check = 0.0
        self.auto_commit_interval_s = auto_commit_interval_ms / 1000
        self._next_auto_commit = 0.0
        self._async_commits: dict = {}  # token -> (offsets, callback), in the order made
        self._commits_done: deque = deque()  # (token, error or None) answered, callback not called yet
        self._committed_retry_at = 0.0
        self._committed_wanted = False  # a partition may be awaiting its committed offset
        if group_id is not None:
            self._group = GroupMember(
                group_id, self._pool, self._metadata, session_timeout_ms=int(session_timeout_ms),
                heartbeat_interval_ms=int(heartbeat_interval_ms), max_poll_interval_ms=int(max_poll_interval_ms),
                assignors=group_assignors, group_instance_id=group_instance_id, client_id=client_id,
                request_timeout_ms=request_timeout_ms, retry_backoff_ms=retry_backoff_ms,
            )

    # -- assignment ----------------------------------------------------------------------------
    def assign(self, partitions) -> None:
        """Read exactly these partitions (replacing the previous assignment; positions of kept ones stay)."""
        tps = list(dict.fromkeys(_as_tp(tp) for tp in partitions))
        if self._subscription:
            raise ClientConfigError("assign() on a consumer that subscribe()d: unsubscribe() first")
        with self._use():
            self._assign(tps)

    def _assign(self, tps: list[TopicPartition]) -> None:
        with self._lock:
            self._fetcher.assign(tps)
            kept = set(tps)
            self._iter_buffer = deque(r for r in self._iter_buffer if (r.topic, r.partition) in kept)
            if tps:
                self._metadata.request_update()

    def assignment(self) -> set[TopicPartition]:
        return set(self._fetcher.states)

    def unsubscribe(self) -> None:
        with self._use():
            if self._subscription and self._group is not None:
                self._revoke(sorted(self.assignment()))
                self._group.close(leave=True)
                self._group = self._group.renewed()
            self._subscription = []
            self._assign([])

    def subscribe(self, topics=None, on_assign=None, on_revoke=None, pattern=None, on_lost=None) -> None:
        """Join the group for ``topics`` (or every topic whose whole name matches the regex ``pattern``,
        re-checked every ``metadata_max_age_ms``); ``on_revoke(partitions)`` runs before partitions go
        (commit there), ``on_assign(partitions)`` once new ones are this consumer's, ``on_lost(partitions)``
        when the group dropped this member (default: ``on_revoke``; nothing is committed for them).
        A subscribed topic gaining partitions, or a new topic matching the pattern, rebalances the group."""
        if self._group is None:
            raise ClientConfigError("subscribe() needs a group_id (or use assign() without a group)")
        if pattern is not None:
            if topics:
                raise ClientConfigError("subscribe() takes topics or a pattern, not both")
            try:
                compiled = re.compile(pattern) if isinstance(pattern, str) else pattern
                compiled.fullmatch("")
            except (re.error, AttributeError, TypeError) as exc:
                raise ClientConfigError(f"invalid pattern {pattern!r}: {exc}") from None
            names = []
        else:
            compiled = None
            names = [topics] if isinstance(topics, str) else list(topics or [])
            if not names or not all(isinstance(t, str) and t for t in names):
                raise ClientConfigError(f"subscribe() takes a list of topic names, got {topics!r}")
        with self._use():
            if self._fetcher.states and not self._subscription:
                self._assign([])  # leaving manual assignment behind
            self._pattern = compiled
            self._subscription = sorted(set(names))
            self._partition_counts = None
            self._next_topic_check = 0.0
            self._listeners = (on_assign, on_revoke, on_lost)
            self._group.request_rejoin()

    def subscription(self) -> set[str]:
        return set(self._subscription)

    def _check_topics(self) -> None:
        """Every ``metadata_max_age_ms``: the pattern's topics and the subscribed topics' partition
        counts; a change makes this member rejoin, and so the group rebalance (Kafka's rule)."""
        now = time.monotonic()
        if now < self._next_topic_check:
            return
        self._next_topic_check = now + self.metadata_max_age_s
        try:
            if self._pattern is not None:
                response = self._metadata.refresh(None, allow_auto_create=False)
                matched = sorted(t.name for t in response.topics
                                 if not t.error and not t.name.startswith("__") and self._pattern.fullmatch(t.name))
                if matched != self._subscription:
                    self._subscription = matched
                    self._group.request_rejoin()
            elif self._subscription:
                self._metadata.refresh(self._subscription)
        except ZafkaError as exc:
            if not exc.retriable:
                raise
            log.warning("group %s: the topic check failed (%s); trying again shortly", self.group_id, exc)
            self._next_topic_check = now + UNKNOWN_TOPIC_RECHECK_S
            return
        counts = {t: len(p) for t in self._subscription if (p := self._metadata.partitions(t)) is not None}
        if self._partition_counts is not None and counts != self._partition_counts:
            self._group.request_rejoin()
        self._partition_counts = counts
        if len(counts) < len(self._subscription):
            # a subscribed topic the metadata does not show yet (just created, or a lagging broker):
            # the group was assigned without it, so look again soon rather than in metadata_max_age_ms
            self._next_topic_check = now + min(self.metadata_max_age_s, UNKNOWN_TOPIC_RECHECK_S)

    def _need_group(self, what: str) -> GroupMember:
        if self._group is None:
            raise ClientConfigError(f"{what} needs a group_id: the offsets are the group's")
        return self._group

    def commit(self, offsets=None) -> None:
        """Commit ``offsets`` ({TopicPartition: next offset to read, or OffsetAndMetadata}), or the
        positions of what poll() returned; returns once ``__consumer_offsets`` has replicated them.
        Raises ``CommitFailed`` if the group rebalanced meanwhile. Earlier ``commit_async`` calls
        are finished (and their callbacks called) first, so commits land in the order made."""
        group = self._need_group("commit()")
        with self._use():
            deadline = time.monotonic() + self.request_timeout_ms / 1000
            self._finish_async_commits(deadline)
            wanted = self._commit_offsets(offsets)
            if wanted:
                group.commit(wanted, deadline)
                self._interceptors.on_commit(wanted)

    def commit_async(self, offsets=None, callback=None) -> None:
        """As ``commit``, without waiting: ``callback(offsets, exception)`` (exception None on success)
        is called from a later ``poll``, ``commit`` or ``close``, in the order the commits were made.

        As in Kafka a failed async commit is not retried (a later commit supersedes it);
        a retriable failure comes to the callback as its typed, retriable error."""
        group = self._need_group("commit_async()")
        with self._use():
            wanted = self._commit_offsets(offsets)
            token = _CommitToken()
            self._async_commits[token] = (wanted, callback)
            if not wanted:
                self._commits_done.append((token, None))
                return
            try:
                group.send_commit(wanted, self.request_timeout_ms, token)
            except ZafkaError as exc:
                self._commits_done.append((token, group.commit_error(exc)))

    def _commit_offsets(self, offsets) -> dict[TopicPartition, OffsetAndMetadata]:
        if offsets is None:
            return {tp: OffsetAndMetadata(o) for tp, o in self._positions().items()}
        if not isinstance(offsets, dict):
            raise TypeError(f"commit offsets are {{TopicPartition: offset or OffsetAndMetadata}}, got {offsets!r}")
        out = {}
        for tp, o in offsets.items():
            if isinstance(o, OffsetAndMetadata):
                offset, metadata = o
            else:
                offset, metadata = o, ""
            if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0 or not isinstance(metadata, str):
                raise ValueError(f"a commit needs an offset (int >= 0) and str metadata, got {o!r} for {tp!r}")
            out[_as_tp(tp)] = OffsetAndMetadata(offset, metadata)
        return out

    def _on_commit_reply(self, event) -> None:
        token = event.context[0]
        if token in self._async_commits:
            self._commits_done.append((token, self._group.commit_outcome(event)))

    def _run_commit_callbacks(self) -> None:
        """Callbacks of finished async commits, oldest first; one still in flight holds back newer ones."""
        done = dict(self._commits_done)
        self._commits_done.clear()
        while self._async_commits:
            token = next(iter(self._async_commits))
            if token not in done:
                break
            offsets, callback = self._async_commits.pop(token)
            error = done.pop(token)
            if error is None and offsets:
                self._interceptors.on_commit(offsets)
            if callback is not None:
                try:
                    callback(offsets, error)
                except Exception:  # noqa: BLE001 - a user's callback must not break the consumer
                    log.exception("commit_async callback %r failed", callback)
        self._commits_done.extend(done.items())

    def _finish_async_commits(self, deadline: float) -> None:
        """Wait (until ``deadline``) for the async commits in flight, then call their callbacks."""
        while len(self._commits_done) < len(self._async_commits) and time.monotonic() < deadline:
            self._wait(deadline - time.monotonic())
        answered = {token for token, _ in self._commits_done}
        for token in self._async_commits:
            if token not in answered:
                self._commits_done.append((token, RequestTimedOut("the async commit was not answered in time")))
        self._run_commit_callbacks()

    def committed(self, partition, metadata: bool = False):
        """The group's committed offset of ``partition`` (None when nothing was committed);
        with ``metadata=True`` an ``OffsetAndMetadata``, note included."""
        group = self._need_group("committed()")
        tp = _as_tp(partition)
        with self._use():
            found = group.committed([tp], time.monotonic() + self.request_timeout_ms / 1000).get(tp)
            if found is None or metadata:
                return found
            return found.offset

    def _positions(self) -> dict[TopicPartition, int]:
        """Where each assigned partition's next returned record is: what poll() has handed out so far."""
        out = {}
        for tp, state in self._fetcher.states.items():
            if state.position is None:
                continue
            out[tp] = state.position
        for record in self._iter_buffer:  # handed to the iterator, not yet yielded
            tp = TopicPartition(record.topic, record.partition)
            out[tp] = min(out.get(tp, record.offset), record.offset)
        return out

    # -- the group's rebalances ---------------------------------------------------------------------
    def _revoke(self, partitions: list) -> None:
        if not partitions:
            return
        if self.enable_auto_commit:
            self._auto_commit(force=True)
        on_revoke = self._listeners[1]
        if on_revoke is not None:
            on_revoke(list(partitions))

    def _on_assigned(self, partitions: list) -> None:
        group = self._group
        new = set(partitions)
        kept = [tp for tp in self._fetcher.states if tp in set(group.assignment) and tp not in new]
        self._fetcher.assign(sorted(set(kept) | new))
        for tp in partitions:
            self._fetcher.await_committed(self._fetcher.states[tp])
        self._committed_retry_at, self._committed_wanted = 0.0, True
        self._fill_committed()
        self._metadata.request_update()
        on_assign = self._listeners[0]
        if on_assign is not None:
            on_assign(list(partitions))  # a seek() here wins over the committed offset

    def _fill_committed(self) -> None:
        """Positions of newly assigned partitions from the group's committed offsets.

        A partition waits (neither fetched nor reset by ``auto_offset_reset``) until its
        committed offset is known: starting it from the reset policy instead would skip
        or repeat records. A coordinator that cannot answer now is asked again later.
        """
        now = time.monotonic()
        if not self._committed_wanted or now < self._committed_retry_at:
            return  # checked on every poll round: no scan of the assignment unless a partition waits
        waiting = [tp for tp, s in self._fetcher.states.items() if s.awaiting_committed]
        if not waiting:
            self._committed_wanted = False  # seeked or unassigned meanwhile
            return
        try:
            found = self._group.committed(waiting, now + min(self.request_timeout_ms / 1000, 5.0))
        except ZafkaError as exc:
            if not exc.retriable:
                raise
            self._committed_retry_at = time.monotonic() + self._fetcher.backoff_min
            log.warning("group %s: committed offsets not read yet (%s); trying again", self.group_id, exc)
            return
        self._committed_wanted = False
        for tp in waiting:
            state = self._fetcher.states.get(tp)
            if state is None or not state.awaiting_committed:
                continue  # unassigned or seeked meanwhile
            state.awaiting_committed = False
            committed = found.get(tp)
            if committed is not None:
                self._fetcher.seek(state, committed.offset)

    def _ensure_group(self) -> None:
        group = self._group
        if group is None or (not self._subscription and self._pattern is None):
            return
        group.last_poll = time.monotonic()
        self._check_topics()
        self._fill_committed()
        if not group.needs_join or not self._subscription:
            return

        def partitions_of(topic: str) -> int | None:
            self._metadata.refresh([topic])
            parts = self._metadata.partitions(topic)
            return len(parts) if parts is not None else None

        def drop(partitions: list) -> None:
            self._fetcher.assign([tp for tp in self._fetcher.states if tp not in set(partitions)])
            self._iter_buffer = deque(r for r in self._iter_buffer
                                      if TopicPartition(r.topic, r.partition) not in set(partitions))

        def revoke(partitions: list) -> None:
            self._revoke(partitions)
            drop(partitions)

        def lose(partitions: list) -> None:
            on_lost = self._listeners[2] or self._listeners[1]
            if on_lost is not None:
                on_lost(list(partitions))  # no commit: another member may own them already
            drop(partitions)

        group.step(self._subscription, partitions_of, revoke, self._on_assigned, lose)

    def _auto_commit(self, force: bool = False) -> None:
        if self._group is None or not self.enable_auto_commit or not self._subscription:
            return
        now = time.monotonic()
        if not force and now < self._next_auto_commit:
            return
        self._next_auto_commit = now + self.auto_commit_interval_s
        positions = self._commit_offsets(None)
        if positions:
            try:
                self._group.commit(positions, now + self.request_timeout_ms / 1000)
            except CommitFailed:
                return  # rebalanced: the next poll rejoins; the records are redelivered to their owner
            self._interceptors.on_commit(positions)

    # -- positions -------------------------------------------------------------------------------
    def _state(self, tp) -> AssignedPartition:
        tp = _as_tp(tp)
        state = self._fetcher.states.get(tp)
        if state is None:
            raise NotAssigned(f"{tp.topic}-{tp.partition} is not assigned to this consumer; assign() it first")
        return state

    def seek(self, partition, offset: int) -> None:
        """The next ``poll`` returns records from ``offset`` of ``partition``."""
        if not isinstance(offset, int) or offset < 0:
            raise ValueError(f"offset must be an int >= 0, got {offset!r}")
        with self._use():
            state = self._state(partition)
            self._drop_iterated(state.tp)
            self._fetcher.seek(state, offset)

    def seek_to_beginning(self, *partitions) -> None:
        """Move to the log start offset (looked up at the next ``poll``/``position``); all assigned if none given."""
        self._seek_to(partitions, EARLIEST)

    def seek_to_end(self, *partitions) -> None:
        """Move to the end (the high watermark): only records produced from now on are read."""
        self._seek_to(partitions, LATEST)

    def _seek_to(self, partitions, timestamp: int) -> None:
        with self._use():
            states = [self._state(tp) for tp in partitions] if partitions else list(self._fetcher.states.values())
            for state in states:
                self._drop_iterated(state.tp)
                self._fetcher.request_reset(state, timestamp)

    def _drop_iterated(self, tp: TopicPartition) -> None:
        if self._iter_buffer:
            self._iter_buffer = deque(r for r in self._iter_buffer if (r.topic, r.partition) != tp)

    def position(self, partition, timeout_ms: float | None = None) -> int:
        """Offset of the next record ``poll`` returns, resolved by ``auto_offset_reset`` if unknown."""
        timeout_ms = self.request_timeout_ms if timeout_ms is None else timeout_ms
        deadline = time.monotonic() + timeout_ms / 1000
        with self._use():
            state = self._state(partition)
            while state.position is None:
                if state.awaiting_committed:
                    self._fill_committed()
                self._fetcher.refresh_metadata()
                self._fetcher.send_requests(time.monotonic())  # starts the ListOffsets lookup
                if state.error is not None:
                    error, state.error = state.error, None
                    raise error
                now = time.monotonic()
                if now >= deadline:
                    raise RequestTimedOut(
                        f"the position of {state.tp.topic}-{state.tp.partition} was not resolved in {timeout_ms} ms"
                    )
                self._wait(deadline - now)
            if self._iter_buffer:  # records handed to the iterator but not yet yielded
                for record in self._iter_buffer:
                    if record.topic == state.tp.topic and record.partition == state.tp.partition:
                        return record.offset
            return state.position

    def highwater(self, partition) -> int | None:
        """The high watermark last seen in a fetch of ``partition`` (None before the first)."""
        hw = self._state(partition).high_watermark
        return hw if hw >= 0 else None

    def beginning_offsets(self, partitions, timeout_ms: float | None = None) -> dict[TopicPartition, int]:
        return self._lookup({_as_tp(tp): EARLIEST for tp in partitions}, timeout_ms)

    def end_offsets(self, partitions, timeout_ms: float | None = None) -> dict[TopicPartition, int]:
        return self._lookup({_as_tp(tp): LATEST for tp in partitions}, timeout_ms)

    def offsets_for_times(self, timestamps: dict, timeout_ms: float | None = None) -> dict[TopicPartition, int]:
        """First offset whose batch timestamp is >= the given ms, per partition (the end offset if none)."""
        for ts in timestamps.values():
            if not isinstance(ts, int) or ts < 0:
                raise ValueError(f"timestamps are ms since the epoch (int >= 0), got {ts!r}")
        return self._lookup({_as_tp(tp): ts for tp, ts in timestamps.items()}, timeout_ms)

    def _lookup(self, requests: dict, timeout_ms: float | None) -> dict[TopicPartition, int]:
        if not requests:
            return {}
        timeout_ms = self.request_timeout_ms if timeout_ms is None else timeout_ms
        deadline = time.monotonic() + timeout_ms / 1000
        with self._use():
            return self._fetcher.lookup_offsets(requests, deadline, self._wait)

    def partitions_for_topic(self, topic: str) -> set[int]:
        """The topic's partition ids, from fresh metadata; ``UnknownTopicOrPartition`` if there is no such topic."""
        with self._use():
            self._metadata.refresh([topic])
            parts = self._metadata.partitions(topic)
            if parts is None:
                error = self._metadata.topic_errors.get(topic)
                raise error or UnknownTopicOrPartition(f"topic {topic!r} does not exist")
            return set(parts)

    def topics(self) -> set[str]:
        """Every topic's name (internal ones included)."""
        with self._use():
            response = self._metadata.refresh(None, allow_auto_create=False)
            return {t.name for t in response.topics if not t.error}

    # -- polling ------------------------------------------------------------------------------------
    def poll(self, timeout_ms: float = 0, max_records: int | None = None) -> list:
        """Records from the assigned partitions, waiting up to ``timeout_ms`` for the first one.

        Returns an empty list when the time runs out or the consumer is closed from
        another thread; raises a partition's error (e.g. ``OffsetOutOfRange`` with
        ``auto_offset_reset='none'``) once, when it has no records left to hand out.
        """
        max_records = self.max_poll_records if max_records is None else max_records
        if max_records < 1:
            raise ValueError(f"max_records must be >= 1, got {max_records}")
        deadline = time.monotonic() + max(timeout_ms, 0) / 1000
        with self._use():
            fetcher = self._fetcher
            self._auto_commit()  # what the previous poll returned counts as processed now, as in Kafka
            while True:
                self._ensure_group()
                self._step(0)
                if self._commits_done:
                    self._run_commit_callbacks()
                records = fetcher.collect(max_records)
                if records:
                    fetcher.send_requests(time.monotonic())  # prefetch while the caller works
                    if self._interceptors.has_consume:
                        records = self._interceptors.on_consume(records)
                    return records
                error = fetcher.take_error()
                if error is not None:
                    raise error
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    return []
                self._wait(left)
                if self._closed:
                    return []

    def _step(self, wait_s: float) -> None:
        """One round: metadata if due, requests out, replies in (waiting at most ``wait_s``)."""
        fetcher = self._fetcher
        fetcher.refresh_metadata()
        fetcher.send_requests(time.monotonic())
        if wait_s > 0:
            self._wait(wait_s)
        else:
            self._handle(self._pool.poll(0))

    def _wait(self, wait_s: float) -> None:
        """Block until a reply, a backoff's end, due metadata or ``close`` — at most ``wait_s``."""
        now = time.monotonic()
        wake = self._fetcher.next_wakeup(now)
        retry = self._group.next_wakeup() if self._group is not None else None
        if retry is not None:
            wake = retry if wake is None else min(wake, retry)
        if wake is not None:
            wait_s = min(wait_s, max(wake - now, 0.0))
        self._handle(self._pool.poll(wait_s * 1000))
        self._fetcher.refresh_metadata()
        self._fetcher.send_requests(time.monotonic())

    def _handle(self, events: list) -> None:
        """Replies to async commits to their callbacks' queue, the rest to the fetcher."""
        fetches = []
        for event in events:
            context = event.context
            if type(context) is tuple and type(context[0]) is _CommitToken:
                self._on_commit_reply(event)
            elif self._group is None or not self._group.take(event):
                fetches.append(event)
        self._fetcher.handle(fetches)

    # -- iteration -----------------------------------------------------------------------------------
    def __iter__(self):
        return self

    def __next__(self):
        """Blocks for the next record; stops when closed (or after ``consumer_timeout_ms`` without records)."""
        if self._iter_buffer:
            return self._iter_buffer.popleft()
        idle_since = time.monotonic()
        while not self._closed:
            try:
                records = self.poll(timeout_ms=200)
            except ClientClosed:
                break  # closed from another thread between two polls
            if records:
                self._iter_buffer.extend(records)
                return self._iter_buffer.popleft()
            idle_ms = (time.monotonic() - idle_since) * 1000
            if self.consumer_timeout_ms is not None and idle_ms >= self.consumer_timeout_ms:
                break
        raise StopIteration

    # -- closing -----------------------------------------------------------------------------------
    def _use(self):
        if self._closed:
            raise ClientClosed("this Consumer is closed; create a new one")
        return self._lock

    def close(self, timeout: float = 5.0) -> None:
        """Stop; a ``poll`` blocked in another thread returns ``[]`` and iteration ends."""
        if self._closed:
            return
        if self._group is not None and self._lock.acquire(timeout=timeout):
            try:  # finish the async commits, commit what was consumed and leave, so the partitions move at once
                self._finish_async_commits(time.monotonic() + min(timeout, self.request_timeout_ms / 1000))
                if self._subscription:
                    try:
                        self._auto_commit(force=True)
                    except errors_for_close as exc:
                        log.warning("the last auto-commit failed: %s", exc)
                self._group.close(leave=True)
            finally:
                self._lock.release()
        self._closed = True
        self._waker.wake()
        if self._lock.acquire(timeout=timeout):
            try:
                self._pool.close()
                self._waker.close()
            finally:
                self._lock.release()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "Consumer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Consumer(bootstrap={','.join(self._metadata.bootstrap)!r}, assignment={sorted(self.assignment())})"

