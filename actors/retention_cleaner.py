"""RetentionCleaner: one per broker, nothing but a timer.

It asks each partition replica on its broker — leaders and followers alike, as each
Kafka broker cleans its own logs — to clean its log, handing over the topic's
current configs, on two clocks:

* every ``log.retention.check.interval.ms``, replicas of topics whose
  ``cleanup.policy`` includes ``delete`` apply retention;
* every ``log.cleaner.backoff.ms``, replicas of topics whose policy includes
  ``compact`` start a compaction pass if one is due (while ``log.cleaner.enable``).

The replica owns its log, so deletion and compaction happen in the only process
allowed to write that directory (a compaction pass then goes on in the replica's own
loop, step by step, see ``actors.replica``); the cleaner holds no files and loses
nothing when killed.
"""

from __future__ import annotations

import time

from storage.compaction import cleanup_actions
from wire import control, errors
from wire.metadata import ClusterImage
from wire.transport import Connection

from .config import effective_topic_configs
from .runtime import Actor
from .watch import ImageUpdate, watch_for

#: A replica down (or stopping first at a cluster stop) costs the cleaner's run this long.
REPLY_TIMEOUT_MS = 500


class RetentionCleaner(Actor):
    def setup(self) -> None:
        cfg = self.spec.config
        self.image = ClusterImage()
        self.retention_interval = cfg.log_retention_check_interval_ms / 1000
        self.compaction_interval = cfg.log_cleaner_backoff_ms / 1000
        now = time.monotonic()
        self.next_retention = now + self.retention_interval
        self.next_compaction = now + self.compaction_interval
        self.runs = 0
        self.watcher = watch_for(self)
        self.handlers = {control.Ping: lambda *_: control.Ack()}
        if not cfg.log_cleaner_enable:
            self.log.warning("log.cleaner.enable=false: no log on broker %d is compacted", self.spec.broker_id)

    def teardown(self) -> None:
        self.watcher.stop()

    def on_message(self, message) -> None:
        if isinstance(message, ImageUpdate):
            self.image = message.image

    def on_tick(self) -> None:
        now = time.monotonic()
        retention, compaction = now >= self.next_retention, now >= self.next_compaction
        if retention or compaction:
            self.run_once(retention=retention, compaction=compaction)
            done = time.monotonic()  # the next run counts from the end of this one: ticks queued meanwhile wait
            if retention:
                self.next_retention = done + self.retention_interval
            if compaction:
                self.next_compaction = done + self.compaction_interval

    def run_once(self, *, retention: bool = True, compaction: bool = True) -> None:
        self.runs += 1
        cfg = self.spec.config
        deleted = 0
        for topic in list(self.image.topics.values()):
            policy = effective_topic_configs(cfg, topic.configs)["cleanup.policy"]
            actions = cleanup_actions(policy, cfg.log_cleaner_enable)
            request = control.ApplyRetention(configs=dict(topic.configs), retention=retention and actions.delete,
                                             compaction=compaction and actions.compact)
            if not (request.retention or request.compaction):
                continue
            for part in topic.partitions:
                endpoint = part.replica_endpoints.get(self.spec.broker_id)  # leaders and followers alike
                if endpoint is None:
                    continue
                try:
                    with Connection(endpoint) as conn:  # a replica answers at once: a pass goes on in its loop
                        response, _ = conn.call(request, timeout_ms=REPLY_TIMEOUT_MS)
                    deleted += response.deleted_segments
                except errors.ZafkaError as exc:
                    self.log.info("cleaning %s-%d skipped: %s", topic.name, part.partition, exc)
        if deleted:
            self.log.info("retention run %d deleted %d segments", self.runs, deleted)
