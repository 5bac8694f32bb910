"""RetentionCleaner: one per broker, nothing but a timer.

Every ``log.retention.check.interval.ms`` it asks each partition replica on its
broker — leaders and followers alike, as each Kafka broker cleans its own logs —
to apply retention, handing over the topic's current configs. The replica owns
its log, so the deletion happens in the only process allowed to write that
directory; the cleaner holds no files and loses nothing when killed.
"""

from __future__ import annotations

import time

from wire import control, errors
from wire.metadata import ClusterImage
from wire.transport import Connection

from .runtime import Actor
from .watch import ImageUpdate, watch_for


class RetentionCleaner(Actor):
    def setup(self) -> None:
        self.image = ClusterImage()
        self.interval = self.spec.config.log_retention_check_interval_ms / 1000
        self.next_run = time.monotonic() + self.interval
        self.runs = 0
        self.watcher = watch_for(self)
        self.handlers = {control.Ping: lambda *_: control.Ack()}

    def teardown(self) -> None:
        self.watcher.stop()

    def on_message(self, message) -> None:
        if isinstance(message, ImageUpdate):
            self.image = message.image

    def on_tick(self) -> None:
        now = time.monotonic()
        if now < self.next_run:
            return
        self.next_run = now + self.interval
        self.run_once()

    def run_once(self) -> None:
        self.runs += 1
        deleted = 0
        for topic in list(self.image.topics.values()):
            for part in topic.partitions:
                endpoint = part.replica_endpoints.get(self.spec.broker_id)  # leaders and followers alike
                if endpoint is None:
                    continue
                request = control.ApplyRetention(configs=dict(topic.configs))
                try:
                    with Connection(endpoint) as conn:
                        response, _ = conn.call(request, timeout_ms=2000)
                    deleted += response.deleted_segments
                except errors.ZafkaError as exc:
                    self.log.info("retention on %s-%d skipped: %s", topic.name, part.partition, exc)
        if deleted:
            self.log.info("retention run %d deleted %d segments", self.runs, deleted)
