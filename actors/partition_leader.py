"""PartitionLeader: the one process that writes a partition's log and serves it.

Produce appends the producer's batches as they came (checked, offsets and the
leader epoch stamped, no per-record work); fetch is a long poll served from the
page cache with ``pread``. The leader learns its epoch from the controller when it
starts (``LeaderReady``); until then it answers ``LeaderNotAvailable`` so clients
retry. Only this process holds the partition directory's lock.

With a single replica the high watermark is the log end. Followers, the ISR and
``acks=all`` over several replicas come with replication.
"""

from __future__ import annotations

import threading
import time

from storage import Log
from wire import control, errors
from wire.fetch import Fetch, FetchResponse, ListOffsets, ListOffsetsResponse
from wire.metadata import ClusterImage
from wire.produce import Produce, ProduceResponse
from wire.transport import Connection

from .config import effective_topic_configs
from .runtime import Actor
from .watch import ImageUpdate, watch_for

HW_CHECKPOINT_INTERVAL = 5.0


class Ready:
    __slots__ = ("epoch", "configs")

    def __init__(self, epoch: int, configs: dict[str, str]):
        self.epoch = epoch
        self.configs = configs


class PendingFetch:
    __slots__ = ("peer", "request", "deadline")

    def __init__(self, peer: bytes, request: Fetch, deadline: float):
        self.peer = peer
        self.request = request
        self.deadline = deadline


class PartitionLeader(Actor):
    def setup(self) -> None:
        args = self.spec.args
        self.topic = args.topic
        self.partition = args.partition
        self.configs: dict[str, str] = {}
        self.min_insync_replicas = self.spec.config.min_insync_replicas  # until the topic's own configs come
        directory = args.directory
        self.log_ = Log(directory, self.spec.config.log_config_for({}))
        if self.log_.recovered_bytes:
            self.log.warning("recovery cut %d bytes from %s", self.log_.recovered_bytes, directory)
        self.log_.update_high_watermark(self.log_.log_end_offset)
        self.epoch = -1
        self.pending: list[PendingFetch] = []
        self._last_hw_checkpoint = time.monotonic()
        self._closing = threading.Event()
        threading.Thread(target=self._register, name="register", daemon=True).start()
        self.watcher = watch_for(self)
        self.handlers = {
            Produce: self.produce,
            Fetch: self.fetch,
            ListOffsets: self.list_offsets,
            control.ApplyRetention: self.apply_retention,
            control.Ping: lambda *_: control.Ack(),
        }
        self.log.info(
            "opened %s: offsets [%d, %d), %s shutdown", directory, self.log_.log_start_offset,
            self.log_.log_end_offset, "clean" if self.log_.was_clean else "unclean",
        )

    def teardown(self) -> None:
        self._closing.set()
        self.watcher.stop()
        self.log_.close()

    def _register(self) -> None:
        """Ask the controller for a new leader epoch; retry until it answers."""
        request = control.LeaderReady(
            topic=self.topic, partition=self.partition, broker_id=self.spec.broker_id,
            endpoint=self.spec.advertised,
        )
        delay = 0.05
        with Connection(self.spec.controller) as conn:
            while not self._closing.is_set():
                request.corr = 0
                try:
                    response, _ = conn.call(request, timeout_ms=2000)
                except errors.ZafkaError as exc:
                    self.log.info("waiting for the controller: %s", exc)
                    self._closing.wait(delay)
                    delay = min(delay * 2, 1.0)
                    continue
                self.actor_ref.tell(Ready(response.leader_epoch, response.configs))
                return

    def on_message(self, message) -> None:
        if isinstance(message, Ready):
            self.epoch = message.epoch
            self._set_configs(message.configs)
            self.log.info("leading %s-%d at epoch %d", self.topic, self.partition, self.epoch)
        elif isinstance(message, ImageUpdate):
            self._on_image(message.image)

    def _on_image(self, image: ClusterImage) -> None:
        topic = image.topics.get(self.topic)
        if topic is None or self.partition >= len(topic.partitions):
            return  # deleted: the supervisor stops this actor
        part = topic.partitions[self.partition]
        if self.epoch >= 0 and part.leader_epoch > self.epoch:
            self.log.warning("a newer leader epoch %d exists; stepping down", part.leader_epoch)
            self.epoch = -1
        if topic.configs != self.configs:
            self._set_configs(topic.configs)

    def _set_configs(self, configs: dict[str, str]) -> None:
        self.configs = dict(configs)
        self.log_.config = self.spec.config.log_config_for(self.configs)
        self.min_insync_replicas = int(effective_topic_configs(self.spec.config, self.configs)["min.insync.replicas"])

    def _check_leader(self) -> None:
        if self.epoch < 0:
            raise errors.LeaderNotAvailable(f"{self.topic}-{self.partition} is not ready to lead yet")

    # -- produce -------------------------------------------------------------------
    def produce(self, request: Produce, frames, peer):
        self._check_leader()
        if request.topic != self.topic or request.partition != self.partition:
            raise errors.NotLeader(f"this is the leader of {self.topic}-{self.partition}")
        min_isr = self.min_insync_replicas
        if request.acks == -1 and min_isr > 1:
            raise errors.NotEnoughReplicas(
                f"{self.topic}-{self.partition} has 1 in-sync replica, min.insync.replicas={min_isr}"
            )
        info = self.log_.append(frames[0].buffer, leader_epoch=self.epoch)
        self.log_.update_high_watermark(self.log_.log_end_offset)
        if self.pending:
            self._serve_pending(time.monotonic())
        if request.acks == 0:
            return None
        return ProduceResponse(base_offset=info.first_offset, log_start_offset=self.log_.log_start_offset,
                               log_append_time=info.log_append_time)

    # -- fetch -----------------------------------------------------------------------
    def _read(self, request: Fetch) -> bytes:
        max_offset = None if request.replica_id >= 0 else self.log_.high_watermark
        return self.log_.read(request.offset, request.max_bytes, max_offset=max_offset)

    def _fetch_response(self, peer: bytes, request: Fetch, data) -> None:
        self.reply(
            peer, request.corr,
            FetchResponse(
                high_watermark=self.log_.high_watermark, log_start_offset=self.log_.log_start_offset,
                log_end_offset=self.log_.log_end_offset,
            ),
            (data,),
        )

    def fetch(self, request: Fetch, frames, peer):
        self._check_leader()
        data = self._read(request)
        if len(data) >= max(request.min_bytes, 1) or request.max_wait_ms <= 0:
            self._fetch_response(peer, request, data)
            return None
        self.pending.append(PendingFetch(peer, request, time.monotonic() + request.max_wait_ms / 1000))
        return None

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

    def on_tick(self) -> None:
        now = time.monotonic()
        if self.pending:
            self._serve_pending(now)
        self.log_.flush_if_due()  # flush.ms also holds when no appends come
        if now - self._last_hw_checkpoint >= HW_CHECKPOINT_INTERVAL:
            self._last_hw_checkpoint = now
            self.log_.checkpoint_high_watermark()

    # -- offsets and retention -----------------------------------------------------------
    def list_offsets(self, request: ListOffsets, frames, peer):
        self._check_leader()
        lg = self.log_
        return ListOffsetsResponse(
            offset=lg.list_offset(request.timestamp), timestamp=request.timestamp, log_start_offset=lg.log_start_offset,
            log_end_offset=lg.log_end_offset, high_watermark=lg.high_watermark,
        )

    def apply_retention(self, request: control.ApplyRetention, frames, peer):
        if request.configs != self.configs:
            self._set_configs(request.configs)
        deleted = self.log_.apply_retention()
        if deleted:
            self.log.info("retention deleted segments %s; log start now %d", deleted, self.log_.log_start_offset)
        return control.RetentionResponse(deleted_segments=len(deleted), log_start_offset=self.log_.log_start_offset)
