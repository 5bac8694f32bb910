"""Controller: the one actor that decides — topics, placement, leaders, epochs.

Its state is a ``ClusterImage`` rebuilt on start from its own metadata log
(``<data-dir>/controller/__cluster_metadata-0``, a ``storage.Log``): every change
is appended there as an event, and fsynced, before it is applied or answered, so a
killed controller comes back with exactly what it had decided. Restarts stay fast
however long the cluster has run: the image is snapshotted next to the log every
``metadata.log.max.record.bytes.between.snapshots`` (``actors.metadata_snapshot``)
and a restart replays only the events after the newest snapshot; segments every
kept snapshot covers are deleted. It never touches partition data.

Admin requests come here directly (clients find the controller in metadata, as
Kafka's admin client does). Everyone else keeps a copy of the image fresh through
``WatchMetadata`` long polls, answered here as soon as the image changes.
"""

from __future__ import annotations

import logging
import os
import time

from storage import Log, LogConfig, build_batch, iter_batches
from wire import admin, control, errors
from wire.metadata import BrokerInfo, ClusterImage, Metadata, MetadataImage, WatchMetadata

from . import cluster_state as cs
from . import metadata_snapshot
from .config import (
    TOPIC_CONFIG_KEYS,
    ConfigError,
    effective_topic_configs,
    not_in_effect,
    topic_config_warnings,
    validate_topic_configs,
)
from .replication import (
    MOVED,
    REMAINING,
    SHRUNK,
    STRANDED,
    controlled_shutdown_move,
    elect_leader,
    imbalanced_brokers,
    preferred_leader_ready,
)
from .runtime import Actor

METADATA_LOG = "__cluster_metadata-0"
STALL_GRACE_S = 0.25  # a tick this much later than due: the controller itself was not running
METADATA_SEGMENT_BYTES = 8 << 20  # KRaft's smallest metadata.log.segment.bytes; snapshots let old ones go
DIED, SILENT, FENCED = "died", "silent", "fenced"  # why a replica may not lead until it registers again


class Controller(Actor):
    def setup(self) -> None:
        self.image = ClusterImage(controller_endpoint=self.spec.advertised)
        self.watchers: list[tuple[bytes, int, int, float]] = []  # peer, corr, version, deadline
        self.metadata_dir = os.path.join(self.spec.data_dir, "controller", METADATA_LOG)
        self.metadata_log = Log(self.metadata_dir, LogConfig(segment_bytes=METADATA_SEGMENT_BYTES, retention_ms=-1,
                                                             flush_messages=1))
        self.snapshot_bytes = self.spec.config.metadata_log_max_record_bytes_between_snapshots
        self.snapshot_interval_s = self.spec.config.metadata_log_max_snapshot_interval_ms / 1000
        self.bytes_since_snapshot = 0  # the replayed tail counts: a crash loop still snapshots
        started = time.monotonic()
        snapshot_offset, replayed = self._load()
        self.last_snapshot = time.monotonic()
        if not self.image.cluster_id:
            self._commit(cs.ClusterIdSet(cs.new_topic_id()[:22]))
        # a different version after every restart, so watchers always refetch
        self.image.version = int(time.time() * 1000) * 1000
        self.session_timeout = self.spec.config.broker_session_timeout_ms / 1000
        self.leader_session_s = self.spec.config.leader_session_timeout_ms / 1000
        self.last_heartbeat: dict[int, float] = {}
        self.last_tick = time.monotonic()
        # liveness is not persisted: re-learnt from heartbeats and death reports after a restart
        self.dead_replicas: dict[tuple[str, int, int], str] = {}  # replica -> why it may not lead: died, silent, fenced
        self.fenced_brokers: set[int] = set()
        # brokers in a controlled shutdown -> the pid of the broker actor stopping; they may not lead,
        # join an ISR or get new replicas until another process of theirs heartbeats
        self.shutting_down: dict[int, int] = {}
        self.leader_beats: dict[tuple[str, int], float] = {}
        self.next_rebalance = time.monotonic() + self.spec.config.leader_imbalance_check_interval_seconds
        self.log.info("controller ready in %.0f ms: %s%d events replayed, %d topics",
                      (time.monotonic() - started) * 1000,
                      f"snapshot at offset {snapshot_offset} loaded, " if snapshot_offset is not None else "",
                      replayed, len(self.image.topics))
        self.handlers = {
            admin.CreateTopic: self.create_topic,
            admin.DeleteTopic: self.delete_topic,
            admin.CreatePartitions: self.create_partitions,
            admin.AlterConfigs: self.alter_configs,
            admin.DescribeConfigs: self.describe_configs,
            admin.DescribeCluster: self.describe_cluster,
            admin.ElectLeaders: self.elect_leaders,
            Metadata: self.metadata,
            WatchMetadata: self.watch,
            control.BrokerHeartbeat: self.heartbeat,
            control.ReplicaReady: self.replica_ready,
            control.LeaderHeartbeat: self.leader_heartbeat,
            control.AlterIsr: self.alter_isr,
            control.ActorDied: self.actor_died,
            control.ControlledShutdown: self.controlled_shutdown,
            control.AllocateProducerIds: self.allocate_producer_ids,
            control.Ping: lambda *_: control.Ack(),
        }

    def teardown(self) -> None:
        self.metadata_log.close()

    # -- the metadata log ------------------------------------------------------
    def _load(self) -> tuple[int | None, int]:
        """The image from the newest snapshot plus the events after it: (snapshot offset, events replayed)."""
        lg = self.metadata_log
        snapshot = metadata_snapshot.load_latest(self.metadata_dir)
        if snapshot is None:
            if lg.log_start_offset > 0:  # the records below were deleted on the strength of snapshots now unreadable
                raise RuntimeError(f"the metadata log starts at offset {lg.log_start_offset} and no readable snapshot "
                                   f"in {self.metadata_dir} covers the records before it")
            return None, self._replay(lg.log_start_offset)
        if snapshot.offset < lg.log_start_offset:
            raise RuntimeError(f"the newest readable snapshot ends at offset {snapshot.offset} but the metadata log "
                               f"starts at {lg.log_start_offset}: the records between are gone")
        if snapshot.offset > lg.log_end_offset:  # the log lost a tail the snapshot holds: carry on after it
            self.log.warning("the metadata log ends at %d, before the snapshot at %d; continuing from the snapshot",
                             lg.log_end_offset, snapshot.offset)
            lg.truncate_fully_and_start_at(snapshot.offset)
        self.image = snapshot.image
        self.image.controller_endpoint = self.spec.advertised
        return snapshot.offset, self._replay(snapshot.offset)

    def _replay(self, offset: int) -> int:
        count = 0
        while offset < self.metadata_log.log_end_offset:
            data = self.metadata_log.read(offset, 1 << 20)
            for batch in iter_batches(data):
                for record in batch.records():
                    if record.offset >= offset:
                        cs.apply(self.image, cs.EVENT_DECODER.decode(record.value))
                        count += 1
                self.bytes_since_snapshot += batch.size
                offset = batch.next_offset
        return count

    def _commit(self, event) -> None:
        batch = build_batch([cs.EVENT_ENCODER.encode(event)])
        self.metadata_log.append(batch)
        cs.apply(self.image, event)
        self.bytes_since_snapshot += len(batch)
        if self.bytes_since_snapshot >= self.snapshot_bytes:
            self._snapshot("size")
        self._wake_watchers()

    def _snapshot(self, why: str) -> None:
        """Write the image as of the log end; delete the segments every kept snapshot covers."""
        offset = self.metadata_log.log_end_offset
        started = time.monotonic()
        metadata_snapshot.write(self.metadata_dir, metadata_snapshot.Snapshot(offset, self.image))
        self.bytes_since_snapshot = 0
        self.last_snapshot = time.monotonic()
        deleted = []
        needed = metadata_snapshot.oldest_needed_offset(self.metadata_dir)
        if needed is not None:
            deleted = self.metadata_log.delete_segments_below(needed)
        self.log.info("snapshot at offset %d (%s) in %.1f ms%s", offset, why, (time.monotonic() - started) * 1000,
                      f"; deleted metadata segments {deleted}" if deleted else "")

    def _touch(self) -> None:
        """A change that is not persisted (liveness): bump the version only."""
        self.image.version += 1
        self._wake_watchers()

    # -- watchers ----------------------------------------------------------------
    def watch(self, request: WatchMetadata, frames, peer):
        if request.known_version != self.image.version or request.max_wait_ms <= 0:
            return MetadataImage(image=self.image)
        deadline = time.monotonic() + request.max_wait_ms / 1000
        self.watchers.append((peer, request.corr, request.known_version, deadline))
        return None

    def _wake_watchers(self) -> None:
        if not self.watchers:
            return
        waiting, self.watchers = self.watchers, []
        response = MetadataImage(image=self.image)
        for peer, corr, _, _ in waiting:
            self.reply(peer, corr, response)

    def on_tick(self) -> None:
        now = time.monotonic()
        stalled = now - self.last_tick - self.spec.tick_ms / 1000
        self.last_tick = now
        if stalled > STALL_GRACE_S:
            self._extend_sessions(stalled)
        if (self.bytes_since_snapshot and self.snapshot_interval_s > 0
                and now - self.last_snapshot >= self.snapshot_interval_s):
            self._snapshot("interval")
        if self.watchers:
            keep = []
            unchanged = None
            for entry in self.watchers:
                if entry[3] <= now:
                    if entry[2] == self.image.version:
                        unchanged = unchanged or MetadataImage(image=None)
                        self.reply(entry[0], entry[1], unchanged)
                    else:
                        self.reply(entry[0], entry[1], MetadataImage(image=self.image))
                else:
                    keep.append(entry)
            self.watchers = keep
        changed = False
        for broker_id, seen in list(self.last_heartbeat.items()):
            broker = self.image.brokers.get(broker_id)
            if broker_id not in self.fenced_brokers and now - seen > self.session_timeout:
                self.log.warning("broker %d missed its heartbeats; fencing it", broker_id)
                if broker is not None:
                    broker.alive = False
                changed = True
                self._fence_broker(broker_id)
        if changed:
            self._touch()
        self._check_leader_sessions(now)
        self._rebalance_if_due(now)

    # -- liveness and leadership ---------------------------------------------------
    def heartbeat(self, request: control.BrokerHeartbeat, frames, peer):
        self.last_heartbeat[request.broker_id] = time.monotonic()
        info = BrokerInfo(
            id=request.broker_id, endpoint=request.endpoint, host=request.host,
            rack=request.rack, log_dirs=list(request.log_dirs), coordinator_endpoint=request.coordinator_endpoint,
        )
        old = self.image.brokers.get(request.broker_id)
        if old is None or (old.endpoint, old.host, old.rack, old.log_dirs, old.coordinator_endpoint) != (
                info.endpoint, info.host, info.rack, info.log_dirs, info.coordinator_endpoint):
            self._commit(cs.BrokerRegistered(info))
        broker = self.image.brokers[request.broker_id]
        stopping_pid = self.shutting_down.get(request.broker_id)
        if stopping_pid is not None and request.pid and request.pid != stopping_pid:
            self.log.info("broker %d is back (pid %d); its controlled shutdown is over", request.broker_id, request.pid)
            del self.shutting_down[request.broker_id]
        if request.broker_id in self.fenced_brokers:  # back: its live replicas may lead again
            self.fenced_brokers.discard(request.broker_id)
            for key in [k for k, cause in self.dead_replicas.items() if k[2] == request.broker_id and cause == FENCED]:
                del self.dead_replicas[key]
        if not broker.alive:
            self.log.info("broker %d is up at %s", request.broker_id, request.endpoint)
            broker.alive = True
            self._touch()
        return control.Ack()

    def _topic(self, name: str) -> cs.TopicState:
        """The topic, or the typed error every admin request answers for one that does not exist."""
        state = self.image.topics.get(name)
        if state is None:
            raise errors.UnknownTopicOrPartition(f"topic {name!r} does not exist")
        return state

    def _partition(self, topic: str, partition: int):
        state = self.image.topics.get(topic)
        if state is None or not 0 <= partition < len(state.partitions):
            raise errors.UnknownTopicOrPartition(f"{topic}-{partition} does not exist")
        return state, state.partitions[partition]

    # -- replicas, elections and the ISR ---------------------------------------------
    def replica_ready(self, request: control.ReplicaReady, frames, peer):
        """A (re)started replica process is up: record where it listens; an offline partition may lead again."""
        topic, part = self._partition(request.topic, request.partition)
        if request.broker_id not in part.replicas:
            raise errors.NotLeader(f"broker {request.broker_id} holds no replica of {request.topic}-{request.partition}")
        key = (request.topic, request.partition, request.broker_id)
        self.dead_replicas.pop(key, None)
        previous = part.replica_pids.get(request.broker_id)
        if (part.replica_endpoints.get(request.broker_id), previous) != (request.endpoint, request.pid):
            self._commit(cs.ReplicaRegistered(request.topic, request.partition, request.broker_id, request.endpoint,
                                              request.pid))
        if part.leader == request.broker_id:
            self.leader_beats[(request.topic, request.partition)] = time.monotonic()
            if previous and previous != request.pid:
                # the leader's process was replaced before its death was reported (the controller was
                # away): it lost its in-memory state, so leadership is decided again under a new epoch
                self._elect(topic, part, "its leader's process restarted", force=True)
        elif part.leader < 0:
            self._elect(topic, part, "a replica returned")
        self.log.info("%s-%d: replica on broker %d ready at %s (leader %d, epoch %d)", request.topic,
                      request.partition, request.broker_id, request.endpoint, part.leader, part.leader_epoch)
        return control.ReplicaReadyResponse(leader=part.leader, leader_epoch=part.leader_epoch,
                                            configs=dict(topic.configs))

    def leader_heartbeat(self, request: control.LeaderHeartbeat, frames, peer):
        _, part = self._partition(request.topic, request.partition)
        if part.leader != request.broker_id or part.leader_epoch != request.leader_epoch:
            raise errors.FencedLeaderEpoch(
                f"{request.topic}-{request.partition} is led by broker {part.leader} at epoch {part.leader_epoch}"
            )
        self.leader_beats[(request.topic, request.partition)] = time.monotonic()
        return control.Ack()

    def alter_isr(self, request: control.AlterIsr, frames, peer):
        """A leader changes its ISR; refused unless it is the current leader at the current epoch."""
        _, part = self._partition(request.topic, request.partition)
        if part.leader != request.broker_id or part.leader_epoch != request.leader_epoch:
            raise errors.FencedLeaderEpoch(
                f"{request.topic}-{request.partition} is led by broker {part.leader} at epoch {part.leader_epoch}"
            )
        # a replica the controller knows is dead or fenced never joins (KIP-841), whatever the leader saw
        isr = [b for b in part.replicas if b in request.isr and (b in part.isr or (
            (request.topic, request.partition, b) not in self.dead_replicas and b not in self.shutting_down))]
        if request.broker_id not in isr:
            raise errors.InvalidRequest("a leader's ISR must hold the leader")
        if isr != part.isr:
            self._commit(cs.IsrChanged(request.topic, request.partition, isr))
            self.log.info("%s-%d: ISR now %s (asked by the leader)", request.topic, request.partition, isr)
        return control.IsrResponse(isr=list(part.isr), leader_epoch=part.leader_epoch)

    def actor_died(self, request: control.ActorDied, frames, peer):
        self.log.warning("supervisor reports %s (%s) died", request.name, request.kind)
        if request.kind == "replica" and request.topic in self.image.topics:
            topic, part = self._partition(request.topic, request.partition)
            registered = part.replica_pids.get(request.broker_id)
            if request.pid and registered and registered != request.pid:
                self.log.info("ignoring the late death report of %s pid %d: pid %d has registered since",
                              request.name, request.pid, registered)
                return control.Ack()
            self._replica_gone(topic, part, request.broker_id, f"{request.name} died", DIED)
        elif request.kind == "broker":
            self.shutting_down.pop(request.broker_id, None)  # stopped: from now on it is simply not alive
            broker = self.image.brokers.get(request.broker_id)
            if broker is not None and broker.alive:
                broker.alive = False
                self._touch()
        return control.Ack()

    def _replica_gone(self, topic, part, broker_id: int, why: str, cause: str) -> None:
        """A replica can no longer lead or count as in sync: elect if it led, else drop it from the ISR."""
        self.dead_replicas[(topic.name, part.partition, broker_id)] = cause
        if part.leader == broker_id:
            self._elect(topic, part, why)
        elif broker_id in part.isr and len(part.isr) > 1:
            isr = [b for b in part.isr if b != broker_id]
            self._commit(cs.IsrChanged(topic.name, part.partition, isr))
            self.log.info("%s-%d: ISR now %s (%s)", topic.name, part.partition, isr, why)

    def _running_replicas(self, topic_name: str, part) -> list[int]:
        return [b for b in part.replicas
                if (topic_name, part.partition, b) not in self.dead_replicas and b not in self.fenced_brokers]

    def _live_replicas(self, topic_name: str, part) -> list[int]:
        """The replicas that may lead: running, and not on a broker in a controlled shutdown."""
        return [b for b in self._running_replicas(topic_name, part) if b not in self.shutting_down]

    # -- controlled shutdown ------------------------------------------------------------
    def controlled_shutdown(self, request: control.ControlledShutdown, frames, peer):
        """Kafka's controlled shutdown: leaderships of the stopping brokers go to in-sync replicas
        elsewhere and the ISRs lose them, each change committed before the answer, so the
        supervisor stops the brokers only once nobody needs them to acknowledge anything."""
        unknown = [b for b in request.broker_ids if b not in self.image.brokers]
        if unknown or not request.broker_ids:
            raise errors.InvalidRequest(f"no registered broker {unknown or request.broker_ids} to shut down")
        pids = list(request.broker_pids) + [0] * (len(request.broker_ids) - len(request.broker_pids))
        for broker_id, pid in zip(request.broker_ids, pids):
            if broker_id not in self.shutting_down:
                self.log.info("broker %d begins a controlled shutdown", broker_id)
            self.shutting_down[broker_id] = pid
        stopping = set(self.shutting_down)
        response = control.ControlledShutdownResponse()
        for topic in list(self.image.topics.values()):
            for part in topic.partitions:
                if stopping.isdisjoint(part.replicas):
                    continue
                move = controlled_shutdown_move(part.replicas, part.leader, part.isr,
                                                self._running_replicas(topic.name, part), stopping)
                name = f"{topic.name}-{part.partition}"
                if move.outcome == MOVED:
                    epoch = part.leader_epoch + 1
                    self._commit(cs.LeaderElected(topic.name, part.partition, move.leader, epoch, move.isr))
                    self.leader_beats[(topic.name, part.partition)] = time.monotonic()
                    response.moved.append(control.MovedLeadership(topic.name, part.partition, move.leader, epoch,
                                                                  part.leader_endpoint))
                    self.log.info("%s: controlled shutdown moves leadership to broker %d at epoch %d, ISR %s",
                                  name, move.leader, epoch, move.isr)
                elif move.outcome == SHRUNK:
                    self._commit(cs.IsrChanged(topic.name, part.partition, move.isr))
                    self.log.info("%s: ISR now %s (controlled shutdown)", name, move.isr)
                elif move.outcome == REMAINING:
                    response.remaining.append(name)
                elif move.outcome == STRANDED:
                    response.stranded.append(name)
        return response

    def _elect(self, topic, part, why: str, force: bool = False) -> None:
        unclean_allowed = effective_topic_configs(self.spec.config, topic.configs)["unclean.leader.election.enable"] == "true"
        election = elect_leader(part.replicas, part.isr, self._live_replicas(topic.name, part), unclean_allowed)
        if not force and election.leader == part.leader and election.isr == part.isr:
            return
        epoch = part.leader_epoch + 1
        self._commit(cs.LeaderElected(topic.name, part.partition, election.leader, epoch, election.isr,
                                      election.unclean))
        if election.leader >= 0:
            self.leader_beats[(topic.name, part.partition)] = time.monotonic()
        level = logging.WARNING if election.unclean or election.leader < 0 else logging.INFO
        self.log.log(level, "%s-%d: %s; leader %s at epoch %d, ISR %s%s", topic.name, part.partition, why,
                     election.leader if election.leader >= 0 else "none (offline)", epoch, election.isr,
                     " - UNCLEAN election: acknowledged records may be lost" if election.unclean else "")

    # -- preferred leaders ---------------------------------------------------------------
    def elect_leaders(self, request: admin.ElectLeaders, frames, peer):
        """Move leadership back to each partition's preferred (first) replica where it is in sync."""
        topics = [self._topic(request.topic)] if request.topic is not None else list(self.image.topics.values())
        elected, skipped = [], []
        for topic in topics:
            for part in topic.partitions:
                name = f"{topic.name}-{part.partition}"
                if self._elect_preferred(topic, part, "a preferred-leader election was asked for"):
                    elected.append(name)
                else:
                    why = preferred_leader_ready(part.replicas, part.leader, part.isr,
                                                 self._live_replicas(topic.name, part))
                    skipped.append(f"{name}: {why or 'not moved'}")
        return admin.ElectLeadersResponse(elected=elected, skipped=skipped)

    def _elect_preferred(self, topic, part, why: str) -> bool:
        if preferred_leader_ready(part.replicas, part.leader, part.isr, self._live_replicas(topic.name, part)):
            return False
        preferred = part.replicas[0]
        epoch = part.leader_epoch + 1
        self._commit(cs.LeaderElected(topic.name, part.partition, preferred, epoch, list(part.isr)))
        self.leader_beats[(topic.name, part.partition)] = time.monotonic()
        self.log.info("%s-%d: %s; leader %d (preferred) at epoch %d", topic.name, part.partition, why,
                      preferred, epoch)
        return True

    def _rebalance_if_due(self, now: float) -> None:
        """auto.leader.rebalance.enable: every leader.imbalance.check.interval.seconds, brokers leading
        too few of the partitions they prefer get them back (Kafka's imbalance rule)."""
        cfg = self.spec.config
        if not cfg.auto_leader_rebalance_enable or now < self.next_rebalance:
            return
        self.next_rebalance = now + cfg.leader_imbalance_check_interval_seconds
        parts = [(t, p) for t in self.image.topics.values() for p in t.partitions if p.replicas]
        brokers = imbalanced_brokers([(p.replicas, p.leader) for _, p in parts],
                                     cfg.leader_imbalance_per_broker_percentage)
        for topic, part in parts:
            if part.replicas[0] in brokers:
                self._elect_preferred(topic, part, "leader imbalance above leader.imbalance.per.broker.percentage")

    def _extend_sessions(self, stalled: float) -> None:
        """This controller did not run for ``stalled`` seconds (a long decision, a starved machine):
        the heartbeats it did not read meanwhile say nothing about brokers or leaders, so no
        session may run out on that account."""
        self.log.warning("the controller did not run for %.2f s; every session is extended by as much", stalled)
        for key in self.leader_beats:
            self.leader_beats[key] += stalled
        for broker_id in self.last_heartbeat:
            self.last_heartbeat[broker_id] += stalled

    def _check_leader_sessions(self, now: float) -> None:
        """A leader that stops heartbeating (frozen, stuck) loses its leadership, as a dead one does;
        an offline partition gets a leader as soon as a candidate is live again, whatever made it so
        (a replica registering, its broker unfenced), so no trigger can be missed."""
        for topic in list(self.image.topics.values()):
            for part in topic.partitions:
                if part.leader < 0:
                    if self._live_replicas(topic.name, part):
                        self._elect(topic, part, "a replica is live again")
                    continue
                if part.leader_endpoint is None:
                    continue
                key = (topic.name, part.partition)
                last = self.leader_beats.setdefault(key, now)  # after a restart: a session's grace
                if now - last > self.leader_session_s:
                    self.log.warning("%s-%d: leader on broker %d silent for %.1f s", topic.name, part.partition,
                                     part.leader, now - last)
                    self._replica_gone(topic, part, part.leader, "its leader stopped heartbeating", SILENT)

    def _fence_broker(self, broker_id: int) -> None:
        """A broker silent past its session: none of its replicas may lead or count as in sync."""
        self.fenced_brokers.add(broker_id)
        self.shutting_down.pop(broker_id, None)
        for topic in list(self.image.topics.values()):
            for part in topic.partitions:
                if broker_id in part.replicas:
                    self._replica_gone(topic, part, broker_id, f"broker {broker_id} was fenced", FENCED)

    # -- metadata and admin ----------------------------------------------------------
    def allocate_producer_ids(self, request: control.AllocateProducerIds, frames, peer):
        """A block of producer ids for a broker, logged (and fsynced) before it is given out."""
        event = cs.allocate_producer_ids(self.image, request.broker_id)
        self._commit(event)
        return control.AllocateProducerIdsResponse(first_producer_id=event.first, count=event.count)

    def metadata(self, request: Metadata, frames, peer):
        return cs.metadata_response(self.image, request.topics)

    def describe_cluster(self, request, frames, peer):
        return admin.ClusterResponse(
            cluster_id=self.image.cluster_id,
            controller_endpoint=self.image.controller_endpoint,
            brokers=[b for _, b in sorted(self.image.brokers.items())],
        )

    def _live_brokers(self) -> list[int]:
        """Where new replicas may go: alive, and not in a controlled shutdown."""
        return sorted(b.id for b in self.image.brokers.values() if b.alive and b.id not in self.shutting_down)

    def create_topic(self, request: admin.CreateTopic, frames, peer):
        cs.validate_topic_name(request.name)
        if request.name in self.image.topics:
            raise errors.TopicAlreadyExists(f"topic {request.name!r} already exists")
        partitions = request.partitions if request.partitions > 0 else self.spec.config.num_partitions
        if request.partitions == 0 or partitions < 1:
            raise errors.InvalidPartitions(f"partitions must be at least 1, got {request.partitions}")
        rf = request.replication_factor
        if rf == -1:
            rf = self.spec.config.default_replication_factor
        configs = self._validated(request.configs)
        placed = cs.new_partitions(self.image, 0, partitions, rf, self._live_brokers())
        topic = cs.TopicState(name=request.name, topic_id=cs.new_topic_id(), partitions=placed, configs=configs)
        self._commit(cs.TopicCreated(topic))
        self.log.info("created topic %s: %d partitions, RF %d, configs %s", request.name, partitions, rf, configs)
        return admin.TopicResponse(topic=cs.topic_metadata(self.image, request.name),
                                   warnings=self._warn_not_in_effect(request.name, configs))

    def _warn_not_in_effect(self, topic: str, configs: dict[str, str]) -> list[str]:
        """Log (and hand back to the client) every config that is accepted but not acted on yet."""
        warnings = topic_config_warnings(configs, self.spec.config)
        for warning in warnings:
            self.log.warning("topic %s: %s", topic, warning)
        return warnings

    def delete_topic(self, request: admin.DeleteTopic, frames, peer):
        if not self.spec.config.delete_topic_enable:
            raise errors.TopicDeletionDisabled(f"topic {request.name!r} was not deleted: delete.topic.enable=false")
        self._topic(request.name)
        self._commit(cs.TopicDeleted(request.name))
        self.log.info("deleted topic %s", request.name)
        return admin.TopicResponse()

    def create_partitions(self, request: admin.CreatePartitions, frames, peer):
        topic = self._topic(request.name)
        current = len(topic.partitions)
        if request.count <= current:
            raise errors.InvalidPartitions(
                f"topic {request.name!r} has {current} partitions; the count can only grow"
            )
        rf = len(topic.partitions[0].replicas)
        added = cs.new_partitions(self.image, current, request.count - current, rf, self._live_brokers())
        self._commit(cs.PartitionsAdded(request.name, added))
        return admin.TopicResponse(topic=cs.topic_metadata(self.image, request.name))

    def _validated(self, configs: dict[str, str]) -> dict[str, str]:
        try:
            return validate_topic_configs(configs)
        except ConfigError as exc:
            raise errors.InvalidConfig(str(exc)) from None

    def alter_configs(self, request: admin.AlterConfigs, frames, peer):
        topic = self._topic(request.topic)
        merged = dict(topic.configs)
        changed = self._validated(request.set)
        merged.update(changed)
        for key in request.delete:
            merged.pop(key, None)
        self._commit(cs.ConfigsChanged(request.topic, merged))
        self.log.info("topic %s configs now %s", request.topic, merged)
        response = self.describe_configs(admin.DescribeConfigs(topic=request.topic), frames, peer)
        response.warnings = self._warn_not_in_effect(request.topic, changed)
        return response

    def describe_configs(self, request: admin.DescribeConfigs, frames, peer):
        topic = self._topic(request.topic)
        configs = effective_topic_configs(self.spec.config, topic.configs)
        return admin.ConfigsResponse(
            topic=request.topic, configs=configs, overrides=sorted(topic.configs),
            not_in_effect=not_in_effect(TOPIC_CONFIG_KEYS, configs, self.spec.config),
        )
