"""PartitionReplica: the one process that holds a partition's replica on one broker — leader or follower.

Each replica of a partition is a process of its own, and it keeps its directory
(and its lock) whatever its role, so a leader change moves no files and hands
over no lock: the follower that is elected starts serving produce requests the
moment it learns its new epoch, and a deposed leader carries on as a follower.
The supervisor names the process by its current role — ``leader-<topic>-<p>``
while it leads, ``fetcher-<topic>-<p>-<broker>`` while it follows.

As the **leader** (DESIGN's PartitionLeader) it appends produce batches as they
came (checked, offsets and epoch stamped), serves fetches as long polls, tracks
each follower's progress, advances the high watermark to the lowest log end over
the ISR, answers ``acks=all`` once the ISR holds a batch, asks the controller to
shrink or grow the ISR, and heartbeats to the controller from its own loop.

As a **follower** (DESIGN's FollowerFetcher) it first agrees with the leader on
where their logs diverge (KIP-101/279: ask for the end of its latest epoch,
truncate, repeat until the epochs agree), then long-polls the leader and appends
the batches exactly as the leader stored them. Followers never serve clients.

The role comes from the controller's image (a metadata watch): whoever the image
names as leader at the highest epoch leads. A leader that learns of a newer epoch
— from the image, a fenced heartbeat or a follower fetching with a newer epoch —
steps down at once and fails the produce requests still waiting for replication.

**Cleaning**, in either role, as every Kafka broker cleans its own logs: when the
RetentionCleaner asks (``ApplyRetention``), a replica whose topic's
``cleanup.policy`` includes ``delete`` applies retention, and one whose policy
includes ``compact`` (while ``log.cleaner.enable``) starts a compaction pass
(``storage.compaction.CompactionPass``), which never reaches the high watermark —
so a follower compacts only what its leader committed. The pass runs here, on the
actor thread that owns the log, one step (about 1 MiB read) per tick and only after
as long without cleaning as the last step took: at most half of this process's time
goes to compaction, and requests are served between steps. A truncation, a change
of policy or a stop abandons the pass in progress.
"""

from __future__ import annotations

import logging
import os
import time

from storage import Log
from storage.batch import whole_batches_length
from storage.compaction import CompactionPass, cleanup_actions, compaction_config, truncate_checkpoint
from storage.epochs import truncation_offset
from storage.errors import StorageError
from storage.log import EARLIEST_TIMESTAMP
from wire import control, errors
from wire.fetch import EpochEndOffset, EpochEndOffsetResponse, Fetch, FetchResponse, ListOffsets, ListOffsetsResponse
from wire.metadata import ClusterImage
from wire.produce import DescribeProducers, DescribeProducersResponse, Produce, ProduceResponse, ProducerState

from .children import fetcher_name, leader_name
from .config import effective_topic_configs
from .links import Answer, ControllerLink, FollowerFetcher
from .replication import FollowerProgress, high_watermark, isr_changes
from .runtime import Actor
from .watch import ImageUpdate, watch_for

HW_CHECKPOINT_INTERVAL = 5.0
IDLE_TICK_S = 0.25  # the periodic checks' period when no deadline is nearer
CONTROL_TIMEOUT_MS = 2000
ISR_RETRY_S = 0.5  # after an ISR change the controller did not grant
LEADER, FOLLOWER, NONE = "leader", "follower", "none"
TRUNCATING, FETCHING = "truncating", "fetching"


class PendingFetch:
    __slots__ = ("peer", "request", "deadline")

    def __init__(self, peer: bytes, request: Fetch, deadline: float):
        self.peer = peer
        self.request = request
        self.deadline = deadline


class PendingAck:
    """An ``acks=all`` produce written by the leader, waiting for the ISR to hold it."""

    __slots__ = ("peer", "corr", "needed", "deadline", "response")

    def __init__(self, peer: bytes, corr: int, needed: int, deadline: float, response: ProduceResponse):
        self.peer = peer
        self.corr = corr
        self.needed = needed  # the high watermark that commits it (its last offset + 1)
        self.deadline = deadline
        self.response = response


class PartitionReplica(Actor):
    def setup(self) -> None:
        args = self.spec.args
        cfg = self.spec.config
        self.topic, self.partition, self.topic_id = args.topic, args.partition, args.topic_id
        self.broker = self.spec.broker_id
        self.configs: dict[str, str] = {}
        self.min_insync_replicas = cfg.min_insync_replicas
        self.log_ = Log(args.directory, cfg.log_config_for({}), producer_id_expiration_ms=cfg.producer_id_expiration_ms)
        if self.log_.recovered_bytes:
            self.log.warning("recovery cut %d bytes from %s", self.log_.recovered_bytes, args.directory)
        self.role = NONE
        self.epoch = -1  # the leader epoch this replica acts under
        self.fenced_epoch = -1  # told a newer epoch exists while leading this one: never lead it again
        self.leader = -1
        self.isr: list[int] = []
        self.replicas: list[int] = []
        self.registered = False
        self.register_in_flight = False
        self.retry_register_at = 0.0
        # leader state
        self.followers: dict[int, FollowerProgress] = {}
        self.pending: list[PendingFetch] = []
        self.acks: list[PendingAck] = []
        self.isr_in_flight = False
        self.isr_retry_at = 0.0  # after the controller did not grant a change, wait before asking again
        self.heartbeat_in_flight = False
        self.next_heartbeat = 0.0
        self.heartbeat_s = cfg.leader_heartbeat_interval_ms / 1000
        self.lag_time_max_ms = cfg.replica_lag_time_max_ms
        # follower state
        self.leader_endpoint: str | None = None
        self.generation = 0
        self.phase = TRUNCATING
        self.fetch_in_flight = False
        self.retry_at = 0.0
        self.leader_end = -1  # the leader's log end as of the last fetch answer
        self._last_hw_checkpoint = time.monotonic()
        self._last_tick = time.monotonic()
        # cleaning
        self.cleaning: CompactionPass | None = None
        self.next_cleaning_step = 0.0
        self.said_not_compacted = False  # the warning that log.cleaner.enable=false leaves this log uncompacted
        self.link = ControllerLink(self.actor_ref)
        self.link.start()
        self.fetcher = FollowerFetcher(self.actor_ref)
        self.fetcher.start()
        self._register()
        self.watcher = watch_for(self)
        self.handlers = {
            Produce: self.produce,
            Fetch: self.fetch,
            ListOffsets: self.list_offsets,
            EpochEndOffset: self.epoch_end_offset,
            DescribeProducers: self.describe_producers,
            control.ApplyRetention: self.apply_retention,
            control.ReplicaStatus: self.status,
            control.Ping: lambda *_: control.Ack(),
        }
        self.log.info("opened %s: offsets [%d, %d), high watermark %d, %s shutdown", args.directory,
                      self.log_.log_start_offset, self.log_.log_end_offset, self.log_.high_watermark,
                      "clean" if self.log_.was_clean else "unclean")

    def teardown(self) -> None:
        self._stop_cleaning("the replica is stopping")
        self.watcher.stop()
        self.link.stop()
        self.fetcher.stop()
        self._fail_waiting(errors.NotLeader(f"{self.topic}-{self.partition}'s leader is stopping"))
        self.log_.close()

    # -- role changes ----------------------------------------------------------------
    def _register(self) -> None:
        self.register_in_flight = True
        self.link.submit(("register",), self.spec.controller, control.ReplicaReady(
            topic=self.topic, partition=self.partition, broker_id=self.broker, endpoint=self.spec.advertised,
            pid=os.getpid(),
        ), CONTROL_TIMEOUT_MS)

    def on_message(self, message) -> None:
        if isinstance(message, ImageUpdate):
            self._on_image(message.image)
        elif isinstance(message, Answer):
            handler = {"register": self._on_registered, "heartbeat": self._on_heartbeat, "isr": self._on_isr,
                       "fetch": self._on_fetched, "epoch": self._on_epoch_end,
                       "start": self._on_leader_start}.get(message.tag[0])
            if handler is not None:
                handler(message)

    def _on_registered(self, answer: Answer) -> None:
        self.register_in_flight = False
        if answer.error is not None:
            self.log.info("waiting for the controller: %s", answer.error)
            self.registered = False
            self.retry_register_at = time.monotonic() + 0.1
            return
        self.registered = True
        self._set_configs(answer.response.configs)

    def _on_image(self, image: ClusterImage) -> None:
        topic = image.topics.get(self.topic)
        if topic is None or topic.topic_id != self.topic_id or self.partition >= len(topic.partitions):
            return  # deleted (or another topic of the same name): the supervisor stops this replica
        part = topic.partitions[self.partition]
        if topic.configs != self.configs:
            self._set_configs(topic.configs)
        self.replicas = list(part.replicas)
        if part.leader_epoch < self.epoch:
            return  # an image older than what this replica already acts on
        if part.leader_epoch > self.epoch or part.leader != self.leader:
            if part.leader == self.broker and part.leader_epoch <= self.fenced_epoch:
                return  # an image from before this replica was fenced: it never leads that epoch again
            if part.leader == self.broker:
                self._become_leader(part.leader_epoch, list(part.isr))
            else:
                self._become_follower(part.leader, part.leader_epoch, part.replica_endpoints.get(part.leader))
        elif self.role == LEADER:
            self._set_isr(list(part.isr))
        elif self.role == FOLLOWER and self.leader_endpoint is None:
            self.leader_endpoint = part.replica_endpoints.get(part.leader)

    def _set_configs(self, configs: dict[str, str]) -> None:
        self.configs = dict(configs)
        cfg = self.spec.config
        self.log_.config = cfg.log_config_for(self.configs)
        effective = effective_topic_configs(cfg, self.configs)
        self.min_insync_replicas = int(effective["min.insync.replicas"])
        if not self._cleanup_actions().compact:
            self._stop_cleaning("the topic's cleanup.policy no longer compacts")
        if self.log_.config.compacted and not cfg.log_cleaner_enable and not self.said_not_compacted:
            self.said_not_compacted = True
            self.log.warning("%s-%d has cleanup.policy=%s but log.cleaner.enable=false: it is not compacted",
                             self.topic, self.partition, ",".join(self.log_.config.cleanup_policy))

    def _new_generation(self) -> None:
        """A new leader or role: answers to requests made for the old one are dropped."""
        self.generation += 1
        self.fetcher.generation = self.generation

    def _become_leader(self, epoch: int, isr: list[int]) -> None:
        was = self.role
        self._new_generation()
        self.role, self.epoch, self.leader = LEADER, epoch, self.broker
        self.log_.start_epoch(epoch)
        self.rename(leader_name(self.topic, self.partition))
        now_ms = time.monotonic() * 1000
        # every follower starts as caught up now: it gets replica.lag.time.max.ms to prove it
        self.followers = {b: FollowerProgress(last_caught_up_ms=now_ms) for b in self.replicas if b != self.broker}
        self.isr = isr
        self.next_heartbeat = 0.0
        self.log.info("leading %s-%d at epoch %d (was %s), ISR %s, log end %d, high watermark %d", self.topic,
                      self.partition, epoch, was, isr, self.log_.log_end_offset, self.log_.high_watermark)
        self._maybe_advance_high_watermark()

    def _not_leader(self, message: str, leader: int, epoch: int, endpoint: str | None) -> errors.NotLeader:
        """NOT_LEADER naming the current leader when it is known, so clients go there at once."""
        error = errors.NotLeader(message)
        if leader >= 0 and leader != self.broker and endpoint:
            error.current_leader = (leader, epoch, endpoint)
        return error

    def _become_follower(self, leader: int, epoch: int, endpoint: str | None) -> None:
        was = self.role
        self._fail_waiting(self._not_leader(
            f"{self.topic}-{self.partition} is now led by broker {leader} (epoch {epoch})", leader, epoch, endpoint
        ))
        self._new_generation()
        self.role = FOLLOWER if leader >= 0 else NONE
        self.epoch, self.leader, self.leader_endpoint = epoch, leader, endpoint
        if leader >= 0:  # offline (no leader): the supervisor keeps the name until someone leads
            self.rename(fetcher_name(self.topic, self.partition, self.broker))
        self.followers = {}
        self.phase = TRUNCATING
        self.fetch_in_flight = False
        self.retry_at = 0.0
        self.log.info("following broker %s for %s-%d at epoch %d (was %s)", leader if leader >= 0 else "none",
                      self.topic, self.partition, epoch, was)
        if was == LEADER:
            self._register()  # proof that this process lives, so it may lead again
        if self.role == FOLLOWER:
            self._follow(time.monotonic())  # at once, not a tick later: the new leader's acks=all wait on it

    def _step_down(self, why: str) -> None:
        """A newer epoch exists: stop acknowledging anything, follow once the image says whom."""
        if self.role != LEADER:
            return
        self.log.warning("stepping down from %s-%d epoch %d: %s", self.topic, self.partition, self.epoch, why)
        self.fenced_epoch = self.epoch
        self._become_follower(-1, self.epoch, None)

    def _fail_waiting(self, error: errors.ZafkaError) -> None:
        for ack in self.acks:
            self.reply_error(ack.peer, ack.corr, error)
        self.acks = []
        for waiting in self.pending:
            self.reply_error(waiting.peer, waiting.request.corr, error)
        self.pending = []

    # -- the timer -------------------------------------------------------------------
    def next_tick_at(self, now: float) -> float:
        """The nearest deadline (a long poll, an acks=all wait, a heartbeat, a retry, a cleaning
        step, flush.ms), and at most IDLE_TICK_S after the last tick for the periodic checks (the
        ISR's lag, the high-watermark checkpoint): an idle replica wakes a few times a second, not 40."""
        due = [self._last_tick + IDLE_TICK_S]
        if not self.registered and not self.register_in_flight:
            due.append(self.retry_register_at)
        if self.role == LEADER:
            if not self.heartbeat_in_flight:
                due.append(self.next_heartbeat)
            if self.acks:
                due.append(min(a.deadline for a in self.acks))
            if not self.isr_in_flight and self.isr_retry_at > now:
                due.append(self.isr_retry_at)
            if len(self.isr) < len(self.replicas):  # a follower may catch up any moment: take it back soon
                due.append(self._last_tick + self.spec.tick_ms / 1000)
        elif self.role == FOLLOWER and not self.fetch_in_flight and self.leader_endpoint:
            due.append(self.retry_at)
        if self.pending:
            due.append(min(p.deadline for p in self.pending))
        if self.cleaning is not None:
            due.append(self.next_cleaning_step)
        flush_at = self.log_.flush_due()
        if flush_at is not None:
            due.append(now + flush_at)
        return min(due)

    def on_tick(self) -> None:
        now = time.monotonic()
        self._last_tick = now
        if not self.registered and not self.register_in_flight and now >= self.retry_register_at:
            self._register()
        if self.role == LEADER:
            self._leader_tick(now)
        elif self.role == FOLLOWER:
            self._follow(now)
        if self.pending:
            self._serve_pending(now)
        if self.cleaning is not None and now >= self.next_cleaning_step:
            self._cleaning_step()
        self.log_.flush_if_due()  # flush.ms also holds when no appends come
        if now - self._last_hw_checkpoint >= HW_CHECKPOINT_INTERVAL:
            self._last_hw_checkpoint = now
            self.log_.checkpoint_high_watermark()

    def _leader_tick(self, now: float) -> None:
        if now >= self.next_heartbeat and not self.heartbeat_in_flight:
            self.next_heartbeat = now + self.heartbeat_s
            self.heartbeat_in_flight = True
            self.link.submit(("heartbeat", self.epoch), self.spec.controller, control.LeaderHeartbeat(
                topic=self.topic, partition=self.partition, broker_id=self.broker, leader_epoch=self.epoch,
            ), CONTROL_TIMEOUT_MS)
        if self.acks:
            expired = [a for a in self.acks if a.deadline <= now]
            if expired:
                self.acks = [a for a in self.acks if a.deadline > now]
                for ack in expired:
                    self.reply_error(ack.peer, ack.corr, errors.RequestTimedOut(
                        f"the ISR {self.isr} did not replicate offset {ack.needed - 1} within the request timeout"
                    ))
        if not self.isr_in_flight and now >= self.isr_retry_at:
            wanted = isr_changes(self.broker, self.isr, self.replicas, self.followers, self.log_.high_watermark,
                                 now * 1000, self.lag_time_max_ms)
            if wanted is not None:
                self.isr_in_flight = True
                self.link.submit(("isr", self.epoch), self.spec.controller, control.AlterIsr(
                    topic=self.topic, partition=self.partition, broker_id=self.broker, leader_epoch=self.epoch,
                    isr=wanted,
                ), CONTROL_TIMEOUT_MS)

    def _on_heartbeat(self, answer: Answer) -> None:
        self.heartbeat_in_flight = False
        if isinstance(answer.error, errors.FencedLeaderEpoch) and answer.tag[1] == self.epoch:
            self._step_down(str(answer.error))

    def _on_isr(self, answer: Answer) -> None:
        self.isr_in_flight = False
        if answer.tag[1] != self.epoch or self.role != LEADER:
            return
        if isinstance(answer.error, errors.FencedLeaderEpoch):
            self._step_down(str(answer.error))
        elif answer.error is None:
            granted = list(answer.response.isr)
            if sorted(granted) != sorted(answer.request.isr):
                self.isr_retry_at = time.monotonic() + ISR_RETRY_S
            self._set_isr(granted)
        else:
            self.isr_retry_at = time.monotonic() + ISR_RETRY_S

    def _set_isr(self, isr: list[int]) -> None:
        if isr == self.isr:
            return
        self.log.info("%s-%d: ISR %s -> %s", self.topic, self.partition, self.isr, isr)
        self.isr = isr
        if len(isr) < self.min_insync_replicas and self.acks:
            waiting, self.acks = self.acks, []
            for ack in waiting:
                self.reply_error(ack.peer, ack.corr, errors.NotEnoughReplicasAfterAppend(
                    f"{self.topic}-{self.partition}: the ISR shrank to {isr}, below min.insync.replicas="
                    f"{self.min_insync_replicas}, before offset {ack.needed - 1} was replicated"
                ))
        self._maybe_advance_high_watermark()

    def _maybe_advance_high_watermark(self) -> bool:
        """Advance the high watermark if the ISR allows; when it moves, answer what it commits."""
        hw = high_watermark(self.broker, self.log_.log_end_offset, self.isr, self.followers)
        if hw is None or hw <= self.log_.high_watermark:
            return False
        self.log_.update_high_watermark(hw)
        if self.acks:
            done = [a for a in self.acks if a.needed <= hw]
            if done:
                self.acks = [a for a in self.acks if a.needed > hw]
                for ack in done:
                    self.reply(ack.peer, ack.corr, ack.response)
        if self.pending:
            self._serve_pending(time.monotonic())
        return True

    def _check_leader(self) -> None:
        if self.role != LEADER:
            if self.leader >= 0 and self.leader != self.broker:
                raise self._not_leader(f"{self.topic}-{self.partition} is led by broker {self.leader}", self.leader,
                                       self.epoch, self.leader_endpoint)
            raise errors.LeaderNotAvailable(f"{self.topic}-{self.partition} has no leader here yet")

    # -- produce ---------------------------------------------------------------------
    def produce(self, request: Produce, frames, peer):
        self._check_leader()
        if request.topic != self.topic or request.partition != self.partition:
            raise errors.NotLeader(f"this is the leader of {self.topic}-{self.partition}")
        if request.acks == -1 and len(self.isr) < self.min_insync_replicas:
            raise errors.NotEnoughReplicas(
                f"{self.topic}-{self.partition} has {len(self.isr)} in-sync replica(s) {self.isr}, "
                f"min.insync.replicas={self.min_insync_replicas}"
            )
        info = self.log_.append(frames[0].buffer, leader_epoch=self.epoch)
        response = ProduceResponse(base_offset=info.first_offset, log_start_offset=self.log_.log_start_offset,
                                   log_append_time=info.log_append_time, batch_offsets=list(info.batch_offsets))
        # a leader alone in its ISR commits at once (and serves waiting fetches); otherwise the new
        # batch is still news to the followers' long polls
        if not self._maybe_advance_high_watermark() and self.pending:
            self._serve_pending(time.monotonic())
        if request.acks == 0:
            return None
        if request.acks == -1 and self.log_.high_watermark <= info.last_offset:
            deadline = time.monotonic() + max(request.timeout_ms, 1) / 1000
            self.acks.append(PendingAck(peer, request.corr, info.last_offset + 1, deadline, response))
            return None
        return response

    def describe_producers(self, request: DescribeProducers, frames, peer):
        self._check_leader()
        if request.topic != self.topic or request.partition != self.partition:
            raise errors.NotLeader(f"this is the leader of {self.topic}-{self.partition}")
        return DescribeProducersResponse(producers=[
            ProducerState(producer_id=e.producer_id, producer_epoch=e.epoch, last_sequence=e.last_seq,
                          last_timestamp=e.last_timestamp, last_offset=e.batches[-1].last_offset if e.batches else -1)
            for _, e in sorted(self.log_.producer_state.producers.items())
        ])

    # -- fetch -----------------------------------------------------------------------
    def _read(self, request: Fetch) -> bytes:
        max_offset = None if request.replica_id >= 0 else self.log_.high_watermark
        return self.log_.read(request.offset, request.max_bytes, max_offset=max_offset)

    def _fetch_response(self, peer: bytes, request: Fetch, data) -> None:
        self.reply(
            peer, request.corr,
            FetchResponse(
                high_watermark=self.log_.high_watermark, log_start_offset=self.log_.log_start_offset,
                log_end_offset=self.log_.log_end_offset, leader_epoch=self.epoch,
            ),
            (data,),
        )

    def fetch(self, request: Fetch, frames, peer):
        self._check_leader()
        if request.replica_id >= 0:
            self._on_follower_fetch(request)
        data = self._read(request)
        if len(data) >= max(request.min_bytes, 1) or request.max_wait_ms <= 0:
            self._fetch_response(peer, request, data)
            return None
        self.pending.append(PendingFetch(peer, request, time.monotonic() + request.max_wait_ms / 1000))
        return None

    def _on_follower_fetch(self, request: Fetch) -> None:
        if request.leader_epoch > self.epoch:
            self._step_down(f"broker {request.replica_id} fetches at epoch {request.leader_epoch}")
            raise errors.NotLeader(f"{self.topic}-{self.partition}: a newer epoch {request.leader_epoch} exists")
        if request.leader_epoch < self.epoch:
            raise errors.FencedLeaderEpoch(
                f"{self.topic}-{self.partition} is at epoch {self.epoch}, the fetch at {request.leader_epoch}"
            )
        progress = self.followers.get(request.replica_id)
        if progress is None:
            if request.replica_id not in self.replicas:
                raise errors.NotLeader(f"broker {request.replica_id} holds no replica of {self.topic}-{self.partition}")
            progress = self.followers[request.replica_id] = FollowerProgress()
        progress.on_fetch(request.offset, self.log_.log_end_offset, time.monotonic() * 1000)
        self._maybe_advance_high_watermark()

    def _serve_pending(self, now: float) -> None:
        keep = []
        for waiting in self.pending:
            try:
                data = self._read(waiting.request)
            except Exception as exc:  # noqa: BLE001 - e.g. the log was truncated under the fetch
                self.reply_error(waiting.peer, waiting.request.corr, exc)
                continue
            if len(data) >= max(waiting.request.min_bytes, 1) or now >= waiting.deadline:
                self._fetch_response(waiting.peer, waiting.request, data)
            else:
                keep.append(waiting)
        self.pending = keep

    # -- as a follower -----------------------------------------------------------------
    def _follow(self, now: float) -> None:
        if self.fetch_in_flight or now < self.retry_at or not self.leader_endpoint:
            return
        self.fetch_in_flight = True
        cfg = self.spec.config
        if self.phase == TRUNCATING:
            self.fetcher.submit(("epoch", self.generation), self.leader_endpoint, EpochEndOffset(
                topic=self.topic, partition=self.partition, leader_epoch=self.log_.latest_epoch,
                current_leader_epoch=self.epoch,
            ), CONTROL_TIMEOUT_MS)
        else:
            self.fetcher.submit(("fetch", self.generation), self.leader_endpoint, Fetch(
                topic=self.topic, partition=self.partition, offset=self.log_.log_end_offset,
                max_bytes=cfg.replica_fetch_max_bytes, max_wait_ms=cfg.replica_fetch_wait_max_ms,
                min_bytes=cfg.replica_fetch_min_bytes, replica_id=self.broker, leader_epoch=self.epoch,
            ), cfg.replica_fetch_wait_max_ms + CONTROL_TIMEOUT_MS)

    def _follower_error(self, answer: Answer) -> bool:
        """True when the answer is stale or failed (and the fetch will be retried)."""
        if answer.tag[1] != self.generation or self.role != FOLLOWER:
            return True
        self.fetch_in_flight = False
        if answer.error is None:
            return False
        if isinstance(answer.error, errors.OffsetOutOfRange) and self.phase == FETCHING:
            self._ask_leader_start()
            return True
        self.log.debug("fetch from broker %d: %s", self.leader, answer.error)
        self.retry_at = time.monotonic() + 0.05  # the image will name the new leader; ask again soon
        return True

    def _on_epoch_end(self, answer: Answer) -> None:
        """One round of KIP-279's truncation: cut where the epochs diverge; repeat until they agree."""
        if self._follower_error(answer):
            return
        response: EpochEndOffsetResponse = answer.response
        end = self.log_.log_end_offset
        cut = truncation_offset(self.log_.leader_epochs, end, response.leader_epoch, response.end_offset)
        if cut is None:
            cut = min(self.log_.high_watermark, end)  # the leader cannot tell: keep only what was committed
        if cut < self.log_.log_start_offset:  # diverged below everything this replica still holds
            self._restart_at(max(cut, response.log_start_offset))
            self.phase = FETCHING
            return
        if cut < end:
            self.log.warning("%s-%d: truncating %d divergent records (%d -> %d) to agree with broker %d epoch %d",
                             self.topic, self.partition, end - cut, end, cut, self.leader, response.leader_epoch)
            self.log_.truncate_to(cut)
            self._truncated(cut)
            if response.leader_epoch != self.log_.latest_epoch:
                self._follow(time.monotonic())  # the leader answered about an epoch this log lacked: ask again
                return
        self.phase = FETCHING
        self._follow(time.monotonic())

    def _on_fetched(self, answer: Answer) -> None:
        if self._follower_error(answer):
            return
        response: FetchResponse = answer.response
        self.leader_end = response.log_end_offset
        data = answer.frames[0].buffer if answer.frames else b""
        whole = whole_batches_length(data)
        if whole:
            self.log_.append_as_follower(memoryview(data)[:whole])
        hw = min(response.high_watermark, self.log_.log_end_offset)
        if hw > self.log_.high_watermark:
            self.log_.update_high_watermark(hw)
        self._follow(time.monotonic())  # the next fetch at once: it tells the leader this one is held

    def _ask_leader_start(self) -> None:
        """The leader has no records at this follower's log end: find where its log starts."""
        self.fetch_in_flight = True
        self.fetcher.submit(("start", self.generation), self.leader_endpoint, ListOffsets(
            topic=self.topic, partition=self.partition, timestamp=EARLIEST_TIMESTAMP,
        ), CONTROL_TIMEOUT_MS)

    def _on_leader_start(self, answer: Answer) -> None:
        if self._follower_error(answer):
            return
        start = answer.response.log_start_offset
        if self.log_.log_end_offset < start:  # everything held is below the leader's log start
            self._restart_at(start)
        else:  # ahead of the leader's log end: agree on the divergence point first
            self.phase = TRUNCATING

    def _restart_at(self, offset: int) -> None:
        self.log.warning("%s-%d: log [%d, %d) is below the leader's log start %d; starting over there",
                         self.topic, self.partition, self.log_.log_start_offset, self.log_.log_end_offset, offset)
        self.log_.truncate_fully_and_start_at(offset)
        self._truncated(offset)

    # -- offsets, divergence and retention -------------------------------------------------
    def list_offsets(self, request: ListOffsets, frames, peer):
        self._check_leader()
        lg = self.log_
        return ListOffsetsResponse(
            offset=lg.list_offset(request.timestamp), timestamp=request.timestamp,
            log_start_offset=lg.log_start_offset, log_end_offset=lg.log_end_offset, high_watermark=lg.high_watermark,
        )

    def epoch_end_offset(self, request: EpochEndOffset, frames, peer):
        self._check_leader()
        if request.current_leader_epoch > self.epoch:
            raise errors.UnknownLeaderEpoch(f"this leader is at epoch {self.epoch}")
        if 0 <= request.current_leader_epoch < self.epoch:
            raise errors.FencedLeaderEpoch(f"this leader is at epoch {self.epoch}")
        epoch, end = self.log_.end_offset_for_epoch(request.leader_epoch)
        return EpochEndOffsetResponse(leader_epoch=epoch, end_offset=end, log_start_offset=self.log_.log_start_offset)

    def status(self, request: control.ReplicaStatus, frames, peer):
        return control.ReplicaStatusResponse(
            role=self.role, leader=self.leader, leader_epoch=self.epoch, log_end_offset=self.log_.log_end_offset,
            high_watermark=self.log_.high_watermark,
            leader_log_end_offset=self.leader_end if self.role == FOLLOWER else -1,
        )

    # -- cleaning: retention and compaction ---------------------------------------------------
    def _cleanup_actions(self):
        return cleanup_actions(self.log_.config.cleanup_policy, self.spec.config.log_cleaner_enable)

    def apply_retention(self, request: control.ApplyRetention, frames, peer):
        """The cleaner's timer: retention now if the policy deletes; a compaction pass started if it compacts."""
        if request.configs != self.configs:
            self._set_configs(request.configs)
        actions = self._cleanup_actions()
        deleted = self.log_.apply_retention() if actions.delete and request.retention else []
        if deleted:
            self.log.info("retention deleted segments %s; log start now %d", deleted, self.log_.log_start_offset)
        expired = self.log_.expire_producers()
        if expired:
            self.log.info("forgot %d producer(s) silent for producer.id.expiration.ms", len(expired))
        if actions.compact and request.compaction and self.cleaning is None:
            self._start_cleaning()
        return control.RetentionResponse(deleted_segments=len(deleted), log_start_offset=self.log_.log_start_offset,
                                         compacting=self.cleaning is not None)

    def _start_cleaning(self) -> None:
        try:
            cleaning = CompactionPass(self.log_, compaction_config(self.log_.config))
        except StorageError as exc:
            self.log.warning("compaction of %s-%d not started: %s", self.topic, self.partition, exc)
            return
        if not cleaning.done:
            plan = cleaning.plan
            self.log.info("compacting %s-%d below offset %d (dirty from %d, dirty ratio %.2f)", self.topic,
                          self.partition, plan.first_uncleanable_offset, plan.first_dirty_offset, plan.dirty_ratio)
            self.cleaning = cleaning

    def _cleaning_step(self) -> None:
        """One step of the pass, then a pause as long as it took (see the module docstring)."""
        started = time.monotonic()
        try:
            more = self.cleaning.step()
        except StorageError as exc:  # a segment that does not read back; an OSError crashes: reopen, recover
            self.log.warning("compaction of %s-%d stopped: %s", self.topic, self.partition, exc)
            more = False
        self.next_cleaning_step = time.monotonic() * 2 - started
        if not more:
            result = self.cleaning.result
            if result.cleaned:
                self.log.info("compacted %s-%d: %d of %d records kept, %d -> %d bytes", self.topic, self.partition,
                              result.records_kept, result.records_read, result.bytes_before, result.bytes_after)
            self.cleaning = None

    def _stop_cleaning(self, why: str) -> None:
        if self.cleaning is not None:
            self.cleaning.abandon(why)
            self.cleaning = None

    def _truncated(self, offset: int) -> None:
        """After a truncation to ``offset``: data from there on is new to the cleaner (Kafka's
        ``maybeTruncateCheckpoint``), and a pass planned on the old log must not go on."""
        self._stop_cleaning(f"the log was truncated to offset {offset}")
        truncate_checkpoint(self.log_.directory, offset)
