"""GroupCoordinator (``coordinator-<broker>``): the consumer groups whose ``__consumer_offsets`` partition this broker leads.

A group belongs to one partition of ``__consumer_offsets`` (``actors.offsets_log.partition_for``)
and so to whichever broker leads that partition: the coordinator follows the
controller's image, and when its broker becomes leader of a partition it *loads*
it — waits until the new leader's high watermark covers its whole log (everything
acknowledged under the old leader), reads the partition from its log start and
replays it into groups and offsets — then serves those groups; until then their
requests are answered ``COORDINATOR_LOAD_IN_PROGRESS``, and once the leadership
moves away ``NOT_COORDINATOR``, so clients find the new coordinator.

Each group is an ``actors.group_state.Group``; this actor only carries out its
effects: replies (held joins and syncs are answered later, as long polls are) and
stores — one batch per store, produced with ``acks=all`` to the local leader of the
partition through a helper thread (the mailbox never waits on a socket), in order,
the group's follow-up effects run once the ISR has the batch. So a commit is
acknowledged only once replicated, and a failover coordinator reading the
partition finds everything that was acknowledged.
"""

from __future__ import annotations

import itertools
import time

from storage import build_batch, iter_batches
from wire import control, errors
from wire.fetch import EARLIEST, Fetch, ListOffsets
from wire.groups import (
    DeleteGroups,
    DeleteGroupsResponse,
    DescribeGroups,
    DescribeGroupsResponse,
    FetchedOffset,
    GroupDescription,
    GroupListing,
    Heartbeat,
    JoinGroup,
    LeaveGroup,
    ListGroups,
    ListGroupsResponse,
    OffsetCommit,
    OffsetFetch,
    OffsetFetchResponse,
    SyncGroup,
)
from wire.metadata import ClusterImage
from wire.produce import Produce

from . import offsets_log
from .group_state import DEAD, EMPTY, Group, GroupLimits, GroupRecord, OffsetRecord, Reply, Store
from .links import Answer, OffsetsLink
from .runtime import Actor
from .watch import ImageUpdate, watch_for

LOADING, LOADED = "loading", "loaded"
STORE_TIMEOUT_MS = 10_000
LOAD_RETRY_S = 0.05
LOAD_FETCH_BYTES = 1 << 20
EXPIRE_EVERY_S = 0.1
OFFSETS_EXPIRE_EVERY_S = 10.0


def now_ms() -> float:
    return time.time() * 1000  # wall clock, as Kafka's: commit times are kept in the log


class OwnedPartition:
    """A partition of __consumer_offsets this broker leads, and the groups it holds."""

    def __init__(self, partition: int, epoch: int, endpoint: str):
        self.partition = partition
        self.epoch = epoch
        self.endpoint = endpoint  # the local leader replica
        self.state = LOADING
        self.groups: dict[str, Group] = {}
        self.records: list = []  # (key, value) read so far while loading
        self.load_end = -1  # the high watermark to read up to, once it covers the log
        self.load_offset = 0
        self.retry_at = 0.0


class GroupCoordinator(Actor):
    def setup(self) -> None:
        cfg = self.spec.config
        self.broker = self.spec.broker_id
        self.limits = GroupLimits(cfg.group_min_session_timeout_ms, cfg.group_max_session_timeout_ms,
                                  cfg.group_initial_rebalance_delay_ms)
        self.retention_ms = cfg.offsets_retention_minutes * 60_000
        self.partition_count = 0  # of __consumer_offsets, once the image has it
        self.owned: dict[int, OwnedPartition] = {}
        self.stores: dict[int, Store] = {}
        self.store_seq = itertools.count(1)
        self.next_expire = 0.0
        self.next_offsets_expire = time.monotonic() + OFFSETS_EXPIRE_EVERY_S
        self.link = OffsetsLink(self.actor_ref)
        self.link.start()
        self.watcher = watch_for(self)
        self.handlers = {
            JoinGroup: self.join_group, SyncGroup: self.sync_group, Heartbeat: self.heartbeat,
            LeaveGroup: self.leave_group, OffsetCommit: self.offset_commit, OffsetFetch: self.offset_fetch,
            ListGroups: self.list_groups, DescribeGroups: self.describe_groups, DeleteGroups: self.delete_groups,
            control.Ping: lambda *_: control.Ack(),
        }

    def teardown(self) -> None:
        self.watcher.stop()
        self.link.stop()

    # -- which partitions are ours ----------------------------------------------------------------
    def on_message(self, message) -> None:
        if isinstance(message, ImageUpdate):
            self._on_image(message.image)
        elif isinstance(message, Answer):
            kind = message.tag[0]
            if kind == "store":
                self._on_stored(message)
            elif kind in ("load-end", "load-fetch"):
                self._on_load(message)

    def _on_image(self, image: ClusterImage) -> None:
        topic = image.topics.get(offsets_log.TOPIC)
        led = {}
        if topic is not None:
            self.partition_count = len(topic.partitions)
            led = {p.partition: (p.leader_epoch, p.leader_endpoint) for p in topic.partitions
                   if p.leader == self.broker and p.leader_endpoint}
        for p in list(self.owned):
            if p not in led or led[p][0] != self.owned[p].epoch:
                self._release(p)
        for p, (epoch, endpoint) in led.items():
            if p not in self.owned:
                self.owned[p] = OwnedPartition(p, epoch, endpoint)
                self.log.info("%s-%d: leading it at epoch %d; loading its groups", offsets_log.TOPIC, p, epoch)
                self._load_step(self.owned[p])

    def _release(self, p: int) -> None:
        """The leadership moved: every held request goes to find the new coordinator."""
        owned = self.owned.pop(p)
        moved = errors.NotCoordinator(f"this coordinator no longer leads {offsets_log.TOPIC}-{p}")
        for group in owned.groups.values():
            for m in group.members.values():
                for token in (m.join_token, m.sync_token):
                    if token is not None:
                        self._reply(token, moved)
                m.join_token = m.sync_token = None
        self.log.info("%s-%d: no longer led here; %d groups handed over", offsets_log.TOPIC, p, len(owned.groups))

    # -- loading ---------------------------------------------------------------------------------
    def _load_step(self, owned: OwnedPartition) -> None:
        if owned.load_end < 0:  # first: wait until the leader's high watermark covers its log
            self.link.submit(("load-end", owned.partition, owned.epoch), owned.endpoint,
                             ListOffsets(topic=offsets_log.TOPIC, partition=owned.partition, timestamp=EARLIEST),
                             STORE_TIMEOUT_MS)
            return
        self.link.submit(("load-fetch", owned.partition, owned.epoch), owned.endpoint, Fetch(
            topic=offsets_log.TOPIC, partition=owned.partition, offset=owned.load_offset, max_bytes=LOAD_FETCH_BYTES,
            max_wait_ms=0), STORE_TIMEOUT_MS)

    def _on_load(self, answer: Answer) -> None:
        _, p, epoch = answer.tag
        owned = self.owned.get(p)
        if owned is None or owned.epoch != epoch or owned.state != LOADING:
            return
        if answer.error is not None:
            self.log.info("%s-%d: loading: %s; retrying", offsets_log.TOPIC, p, answer.error)
            owned.load_end, owned.records = -1, []
            owned.retry_at = time.monotonic() + LOAD_RETRY_S
            return
        response = answer.response
        if answer.tag[0] == "load-end":
            if response.high_watermark < response.log_end_offset:  # followers have not caught up yet
                owned.retry_at = time.monotonic() + LOAD_RETRY_S
                return
            owned.load_end, owned.load_offset = response.high_watermark, response.log_start_offset
        else:
            data = answer.frames[0].buffer if answer.frames else b""
            for batch in iter_batches(data):
                for record in batch.records():
                    if owned.load_offset <= record.offset < owned.load_end:
                        owned.records.append((record.key, record.value))
                owned.load_offset = max(owned.load_offset, batch.next_offset)
            if not data:
                owned.load_offset = owned.load_end  # nothing more below the high watermark
        if owned.load_offset >= owned.load_end:
            self._loaded(owned)
        else:
            self._load_step(owned)

    def _loaded(self, owned: OwnedPartition) -> None:
        now = now_ms()
        try:
            loaded = offsets_log.replay(owned.records)
        except offsets_log.CorruptOffsetsRecord as exc:
            self.log.error("%s-%d: %s; its groups start empty", offsets_log.TOPIC, owned.partition, exc)
            loaded = {}
        owned.groups = {g: Group.restore(g, lg.snapshot, lg.offsets, now, self.limits) for g, lg in loaded.items()}
        owned.records, owned.state = [], LOADED
        self.log.info("%s-%d: loaded %d groups (offsets up to %d)", offsets_log.TOPIC, owned.partition,
                      len(owned.groups), owned.load_end)

    # -- carrying out a group's effects ---------------------------------------------------------
    def _reply(self, token, response) -> None:
        peer, corr = token
        if isinstance(response, Exception):
            self.reply_error(peer, corr, response)
        else:
            self.reply(peer, corr, response)

    def _run(self, owned: OwnedPartition, effects: list) -> None:
        for effect in effects:
            if isinstance(effect, Reply):
                if effect.token is not None:
                    self._reply(effect.token, effect.response)
            else:
                self._store(owned, effect)

    def _store(self, owned: OwnedPartition, store: Store) -> None:
        seq = next(self.store_seq)
        self.stores[seq] = store
        batch = build_batch([offsets_log.encode(r) for r in store.records])
        request = Produce(topic=offsets_log.TOPIC, partition=owned.partition, acks=-1, timeout_ms=STORE_TIMEOUT_MS)
        self.link.submit(("store", owned.partition, owned.epoch, seq), owned.endpoint, request,
                         STORE_TIMEOUT_MS + 1000, frames=[batch])

    def _on_stored(self, answer: Answer) -> None:
        _, p, epoch, seq = answer.tag
        store = self.stores.pop(seq, None)
        if store is None:
            return
        owned = self.owned.get(p)
        if owned is None or owned.epoch != epoch:
            error = answer.error or errors.NotCoordinator(f"{offsets_log.TOPIC}-{p} moved while storing")
            self._run_detached(store.failed(errors.NotCoordinator(str(error))))
            return
        self._run(owned, store.failed(answer.error) if answer.error is not None else store.then())

    def _run_detached(self, effects: list) -> None:
        """Effects of a group this coordinator gave up: only replies go out (its stores are moot)."""
        for effect in effects:
            if isinstance(effect, Reply) and effect.token is not None:
                self._reply(effect.token, effect.response)

    def on_tick(self) -> None:
        now = time.monotonic()
        for owned in list(self.owned.values()):
            if owned.state == LOADING and owned.retry_at and now >= owned.retry_at:
                owned.retry_at = 0.0
                self._load_step(owned)
        if now >= self.next_expire:
            self.next_expire = now + EXPIRE_EVERY_S
            wall = now_ms()
            for owned in self._loaded_partitions():
                for group in list(owned.groups.values()):
                    self._run(owned, group.expire(wall))
        if now >= self.next_offsets_expire:
            self.next_offsets_expire = now + OFFSETS_EXPIRE_EVERY_S
            wall = now_ms()
            for owned in self._loaded_partitions():
                for group in list(owned.groups.values()):
                    self._run(owned, group.expire_offsets(wall, self.retention_ms))

    def _loaded_partitions(self) -> list[OwnedPartition]:
        return [o for o in self.owned.values() if o.state == LOADED]

    # -- finding a group -------------------------------------------------------------------------------
    def _partition_of(self, group_id: str) -> OwnedPartition:
        if not group_id:
            raise errors.InvalidGroupId("a group id must be a non-empty string")
        if not self.partition_count:
            raise errors.CoordinatorNotAvailable(f"{offsets_log.TOPIC} does not exist yet")
        p = offsets_log.partition_for(group_id, self.partition_count)
        owned = self.owned.get(p)
        if owned is None:
            raise errors.NotCoordinator(f"group {group_id} lives in {offsets_log.TOPIC}-{p}, not led by broker "
                                        f"{self.broker}")
        if owned.state != LOADED:
            raise errors.CoordinatorLoadInProgress(f"broker {self.broker} is loading {offsets_log.TOPIC}-{p}")
        return owned

    def _group(self, group_id: str, create: bool) -> tuple[OwnedPartition, Group | None]:
        owned = self._partition_of(group_id)
        group = owned.groups.get(group_id)
        if group is None and create:
            group = owned.groups[group_id] = Group(group_id, self.limits, empty_since_ms=now_ms())
        return owned, group

    # -- the requests ------------------------------------------------------------------------------------
    def join_group(self, request: JoinGroup, frames, peer):
        owned, group = self._group(request.group_id, create=True)
        self._run(owned, group.join(request, (peer, request.corr), now_ms()))
        return None

    def sync_group(self, request: SyncGroup, frames, peer):
        owned, group = self._group(request.group_id, create=False)
        if group is None:
            raise errors.UnknownMemberId(f"group {request.group_id} has no members: join it first")
        self._run(owned, group.sync(request, (peer, request.corr), now_ms()))
        return None

    def heartbeat(self, request: Heartbeat, frames, peer):
        owned, group = self._group(request.group_id, create=False)
        if group is None:
            raise errors.UnknownMemberId(f"group {request.group_id} has no members: join it first")
        self._run(owned, group.heartbeat(request.member_id, request.group_instance_id, request.generation_id,
                                         (peer, request.corr), now_ms()))
        return None

    def leave_group(self, request: LeaveGroup, frames, peer):
        owned, group = self._group(request.group_id, create=False)
        if group is None:
            raise errors.UnknownMemberId(f"group {request.group_id} has no members")
        self._run(owned, group.leave([(m.member_id, m.group_instance_id) for m in request.members],
                                     (peer, request.corr), now_ms()))
        return None

    def offset_commit(self, request: OffsetCommit, frames, peer):
        owned, group = self._group(request.group_id, create=True)
        self._run(owned, group.commit(request.member_id, request.group_instance_id, request.generation_id,
                                      request.offsets, (peer, request.corr), now_ms()))
        return None

    def offset_fetch(self, request: OffsetFetch, frames, peer):
        _, group = self._group(request.group_id, create=False)
        offsets = group.offsets if group is not None else {}
        wanted = sorted(offsets) if request.partitions is None else [(t.topic, t.partition) for t in request.partitions]
        out = []
        for topic, partition in wanted:
            c = offsets.get((topic, partition))
            out.append(FetchedOffset(topic, partition) if c is None else
                       FetchedOffset(topic, partition, c.offset, c.metadata, c.leader_epoch))
        return OffsetFetchResponse(offsets=out)

    def list_groups(self, request: ListGroups, frames, peer):
        return ListGroupsResponse(groups=[
            GroupListing(g.group_id, g.protocol_type, g.state)
            for owned in self._loaded_partitions() for g in owned.groups.values() if g.state != DEAD])

    def describe_groups(self, request: DescribeGroups, frames, peer):
        out = []
        for group_id in request.group_ids:
            try:
                _, group = self._group(group_id, create=False)
            except errors.ZafkaError as exc:
                out.append(GroupDescription(group_id, error=exc.code))
                continue
            if group is None:
                out.append(GroupDescription(group_id, state=DEAD))
                continue
            out.append(GroupDescription(group_id, state=group.state, protocol_type=group.protocol_type,
                                        protocol=group.protocol, generation_id=group.generation, leader=group.leader,
                                        members=group.describe()))
        return DescribeGroupsResponse(groups=out)

    def delete_groups(self, request: DeleteGroups, frames, peer):
        results: dict[str, int] = {}
        waiting = {"left": 0}

        def done(group_id: str, code: int) -> list:
            results[group_id] = code
            waiting["left"] -= 1
            if waiting["left"] == 0:
                self.reply(peer, request.corr, DeleteGroupsResponse(results=results))
            return []

        for group_id in request.group_ids:
            try:
                owned, group = self._group(group_id, create=False)
            except errors.ZafkaError as exc:
                results[group_id] = exc.code
                continue
            if group is None:
                results[group_id] = errors.GroupIdNotFound.code
                continue
            if group.state != EMPTY:
                results[group_id] = errors.NonEmptyGroup.code
                continue
            records = [GroupRecord(group_id, None)] + [OffsetRecord(group_id, t, p, None) for t, p in group.offsets]
            group.state = DEAD
            waiting["left"] += 1

            def stored(owned=owned, group_id=group_id) -> list:
                owned.groups.pop(group_id, None)
                return done(group_id, 0)

            def failed(exc, group=group, group_id=group_id) -> list:
                group.state = EMPTY
                return done(group_id, errors.CoordinatorNotAvailable.code)

            self._store(owned, Store(records, stored, failed))
        if waiting["left"] == 0:
            return DeleteGroupsResponse(results=results)
        return None
