"""BrokerActor: a broker's front door (its bootstrap endpoint).

It answers metadata from its copy of the controller's image, which a watcher
thread keeps fresh, so clients bootstrap and find leaders even while the
controller restarts. A heartbeat thread registers the broker (endpoint, rack,
log dirs, its GroupCoordinator's endpoint) with the controller and proves it
alive. Producing to an unknown topic auto-creates it here when
``auto.create.topics.enable`` is true, as in Kafka.

``InitProducerId`` is answered here for idempotent producers: from a block of
producer ids the controller hands this broker (KIP-730), logged by the controller
before it is given, so no id is ever handed out twice; a broker that restarts
asks for a new block. While it waits for one, requests queue.

``FindCoordinator`` is answered here too, from the image: the coordinator of a
group is the one on the broker leading the group's partition of
``__consumer_offsets``, which the first FindCoordinator creates (clients never
auto-create a ``__`` topic).
"""

from __future__ import annotations

import os
import threading

from wire import admin, control, errors
from wire.groups import COORDINATOR_GROUP, FindCoordinator, FindCoordinatorResponse
from wire.metadata import ClusterImage, Metadata
from wire.produce import InitProducerId, InitProducerIdResponse
from wire.transport import Connection

from . import cluster_state as cs
from . import offsets_log
from .links import Answer, ControllerLink
from .runtime import Actor
from .watch import ImageUpdate, watch_for

PRODUCER_IDS_TIMEOUT_MS = 5000


class BrokerActor(Actor):
    def setup(self) -> None:
        self.image = ClusterImage()
        cfg = self.spec.config
        self.auto_create = cfg.auto_create_topics_enable
        self.heartbeat_interval = cfg.broker_heartbeat_interval_ms / 1000
        self.log_dirs = list(self.spec.args.log_dirs)
        self._creating: set[str] = set()  # topics being auto-created
        self._closing = threading.Event()
        self._heartbeat = threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True)
        self._heartbeat.start()
        self.watcher = watch_for(self)
        self.producer_ids = range(0)  # the rest of this broker's block
        self.awaiting_ids: list[tuple[bytes, int]] = []  # InitProducerId requests waiting for a block
        self.link = ControllerLink(self.actor_ref)
        self.link.start()
        self.handlers = {
            Metadata: self.metadata,
            admin.DescribeCluster: self.describe_cluster,
            FindCoordinator: self.find_coordinator,
            InitProducerId: self.init_producer_id,
            control.Ping: lambda *_: control.Ack(),
        }

    def teardown(self) -> None:
        self._closing.set()
        self.watcher.stop()
        self.link.stop()

    def on_message(self, message) -> None:
        if isinstance(message, ImageUpdate):
            self.image = message.image
        elif isinstance(message, Answer) and message.tag == "producer-ids":
            self._on_producer_ids(message)

    # -- producer ids ------------------------------------------------------------------
    def init_producer_id(self, request: InitProducerId, frames, peer):
        if request.transactional_id is not None:
            raise errors.InvalidRequest("transactional producers are not built yet: leave transactional_id unset")
        if self.producer_ids:
            return self._next_producer_id()
        if not self.awaiting_ids:
            self._ask_for_producer_ids()
        self.awaiting_ids.append((peer, request.corr))
        return None

    def _ask_for_producer_ids(self) -> None:
        self.link.submit("producer-ids", self.spec.controller,
                         control.AllocateProducerIds(broker_id=self.spec.broker_id), PRODUCER_IDS_TIMEOUT_MS)

    def _next_producer_id(self) -> InitProducerIdResponse:
        pid, self.producer_ids = self.producer_ids[0], self.producer_ids[1:]
        return InitProducerIdResponse(producer_id=pid, producer_epoch=0)

    def _on_producer_ids(self, answer: Answer) -> None:
        waiting, self.awaiting_ids = self.awaiting_ids, []
        if answer.error is not None:
            error = errors.CoordinatorNotAvailable(f"no producer id block from the controller: {answer.error}")
            for peer, corr in waiting:
                self.reply_error(peer, corr, error)
            return
        block = answer.response
        self.producer_ids = range(block.first_producer_id, block.first_producer_id + block.count)
        self.log.info("producer ids %d..%d to hand out", self.producer_ids.start, self.producer_ids.stop - 1)
        for peer, corr in waiting:
            if not self.producer_ids:  # more producers waited than a block holds: the rest ask again
                self.awaiting_ids.append((peer, corr))
                continue
            self.reply(peer, corr, self._next_producer_id())
        if self.awaiting_ids:
            self._ask_for_producer_ids()

    def _heartbeat_loop(self) -> None:
        host = self.spec.advertised.split("//", 1)[-1].rsplit(":", 1)[0]
        beat = control.BrokerHeartbeat(
            broker_id=self.spec.broker_id, endpoint=self.spec.advertised, host=host,
            rack=self.spec.config.broker_rack or None, log_dirs=self.log_dirs, pid=os.getpid(),
            coordinator_endpoint=self.spec.args.coordinator,
        )
        conn = Connection(self.spec.controller)
        try:
            while not self._closing.wait(self.heartbeat_interval):
                beat.corr = 0
                try:
                    conn.call(beat, timeout_ms=2000)
                except errors.ZafkaError as exc:
                    self.log.debug("heartbeat failed: %s", exc)
        finally:
            conn.close()

    def metadata(self, request: Metadata, frames, peer):
        asked = set()
        if request.topics and self.auto_create and request.allow_auto_create:
            for name in request.topics:
                if name not in self.image.topics and not name.startswith("__") and self._valid_name(name):
                    asked.add(name)
                    self._auto_create(name)
        response = cs.metadata_response(self.image, request.topics)
        for topic in response.topics:
            if topic.name in asked and topic.error == errors.UnknownTopicOrPartition.code:
                # being created; this broker's image catches up within a watch round trip
                topic.error = errors.LeaderNotAvailable.code
                topic.message = f"topic {topic.name!r} is being created"
        if not response.controller_endpoint:
            response.controller_endpoint = self.spec.controller
        return response

    @staticmethod
    def _valid_name(name: str) -> bool:
        try:
            cs.validate_topic_name(name)
        except errors.InvalidTopic:
            return False
        return True

    def find_coordinator(self, request: FindCoordinator, frames, peer):
        if request.key_type != COORDINATOR_GROUP:
            raise errors.InvalidRequest("only group coordinators exist (transactions are not built yet)")
        if not request.key:
            raise errors.InvalidGroupId("a group id must be a non-empty string")
        topic = self.image.topics.get(offsets_log.TOPIC)
        if topic is None:
            self._create_offsets_topic()
            raise errors.CoordinatorNotAvailable(f"creating {offsets_log.TOPIC}; retry shortly")
        p = offsets_log.partition_for(request.key, len(topic.partitions))
        part = topic.partitions[p]
        broker = self.image.brokers.get(part.leader)
        if part.leader < 0 or broker is None or not broker.alive or not broker.coordinator_endpoint:
            raise errors.CoordinatorNotAvailable(f"{offsets_log.TOPIC}-{p} has no live leader yet; retry shortly")
        return FindCoordinatorResponse(node_id=part.leader, endpoint=broker.coordinator_endpoint)

    def _create_offsets_topic(self) -> None:
        """Kafka's rule: offsets.topic.num.partitions partitions, offsets.topic.replication.factor
        replicas (at most the live brokers), cleanup.policy=compact: the latest commit per group and
        partition is kept, and a deleted group's tombstones go after delete.retention.ms."""
        cfg = self.spec.config
        live = sum(1 for b in self.image.brokers.values() if b.alive) or 1
        self._create(admin.CreateTopic(
            name=offsets_log.TOPIC, partitions=cfg.offsets_topic_num_partitions,
            replication_factor=min(cfg.offsets_topic_replication_factor, live), configs={"cleanup.policy": "compact"},
        ))

    def _auto_create(self, name: str) -> None:
        cfg = self.spec.config
        self._create(admin.CreateTopic(
            name=name, partitions=cfg.num_partitions, replication_factor=cfg.default_replication_factor,
        ))

    def _create(self, request: admin.CreateTopic) -> None:
        """Ask the controller in a helper thread: a slow controller must not stall metadata."""
        name = request.name
        if name in self._creating:
            return
        self._creating.add(name)

        def create() -> None:
            try:
                with Connection(self.spec.controller) as conn:
                    conn.call(request, timeout_ms=2000)
                self.log.info("auto-created topic %s", name)
            except errors.TopicAlreadyExists:
                pass
            except errors.ZafkaError as exc:
                self.log.warning("auto-creating topic %s failed: %s", name, exc)
            finally:
                self._creating.discard(name)

        threading.Thread(target=create, name=f"create-{name}", daemon=True).start()

    def describe_cluster(self, request, frames, peer):
        return admin.ClusterResponse(
            cluster_id=self.image.cluster_id,
            controller_endpoint=self.image.controller_endpoint or self.spec.controller,
            brokers=[b for _, b in sorted(self.image.brokers.items())],
        )
