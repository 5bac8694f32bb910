"""BrokerActor: a broker's front door (its bootstrap endpoint).

It answers metadata from its copy of the controller's image, which a watcher
thread keeps fresh, so clients bootstrap and find leaders even while the
controller restarts. A heartbeat thread registers the broker (endpoint, rack,
log dirs) with the controller and proves it alive. Producing to an unknown topic
auto-creates it here when ``auto.create.topics.enable`` is true, as in Kafka.
"""

from __future__ import annotations

import os
import threading

from wire import admin, control, errors
from wire.metadata import ClusterImage, Metadata
from wire.transport import Connection

from . import cluster_state as cs
from .runtime import Actor
from .watch import ImageUpdate, watch_for


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
        self.handlers = {
            Metadata: self.metadata,
            admin.DescribeCluster: self.describe_cluster,
            control.Ping: lambda *_: control.Ack(),
        }

    def teardown(self) -> None:
        self._closing.set()
        self.watcher.stop()

    def on_message(self, message) -> None:
        if isinstance(message, ImageUpdate):
            self.image = message.image

    def _heartbeat_loop(self) -> None:
        host = self.spec.advertised.split("//", 1)[-1].rsplit(":", 1)[0]
        beat = control.BrokerHeartbeat(
            broker_id=self.spec.broker_id, endpoint=self.spec.advertised, host=host,
            rack=self.spec.config.broker_rack or None, log_dirs=self.log_dirs, pid=os.getpid(),
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

    def _auto_create(self, name: str) -> None:
        """Ask the controller in a helper thread: a slow controller must not stall metadata."""
        if name in self._creating:
            return
        self._creating.add(name)
        cfg = self.spec.config
        request = admin.CreateTopic(
            name=name, partitions=cfg.num_partitions, replication_factor=cfg.default_replication_factor,
        )

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
