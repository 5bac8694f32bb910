"""A whole zafka cluster in one thread, for testing clients without processes.

It speaks the real wire protocol on real ZeroMQ sockets: one ROUTER endpoint is
bootstrap broker and controller at once (Metadata and admin requests), and every
partition has its own ROUTER endpoint acting as its PartitionLeader (Produce,
Fetch, ListOffsets) over a real ``storage.Log`` in a temporary directory. It
follows the contract the BrokerActor, Controller and PartitionLeader implement
(``docs/architecture.md``, "The data path"), with knobs to inject faults:
error replies, swallowed requests, moved or killed leaders, leaderless partitions.

Sockets live on the broker thread only; test-thread calls are queued as commands
and waited for.
"""

from __future__ import annotations

import os
import queue
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import zmq

from storage import Log, LogConfig
from actors.errors import to_wire_error
from storage.errors import OffsetOutOfRangeError, StorageError
from wire import admin, errors, protocol
from wire.base import Response
from wire.fetch import Fetch, FetchResponse, ListOffsets, ListOffsetsResponse
from wire.metadata import BrokerInfo, Metadata, MetadataResponse, PartitionMetadata, TopicMetadata
from wire.produce import InitProducerId, InitProducerIdResponse, Produce, ProduceResponse

KNOWN_CONFIGS = {
    "retention.ms": "604800000", "retention.bytes": "-1", "cleanup.policy": "delete",
    "min.insync.replicas": "1", "max.message.bytes": "1048588", "segment.bytes": "1073741824",
    "compression.type": "producer",
}
_TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")


@dataclass
class _Partition:
    topic: str
    partition: int
    log: Log
    socket: zmq.Socket | None = None
    endpoint: str | None = None
    stale: list = field(default_factory=list)  # old (socket, endpoint) answering NotLeader
    epoch: int = 0
    hint: bool = False  # the stale endpoints' NotLeader names the current leader (KIP-951)
    available: bool = True


_DROP_REPLY = -2  # a _Fault code: serve the request, send no reply


@dataclass
class _Fault:
    request: type
    code: int | None  # None: swallow the request (no reply at all)
    times: int
    topic: str | None = None
    partition: int | None = None
    message: str = ""


class FakeBroker:
    def __init__(self, data_dir, topics: dict[str, int] | None = None, *, auto_create: bool = False,
                 num_partitions: int = 1, cluster_id: str = "fake-cluster"):
        self.data_dir = str(data_dir)
        self.auto_create = auto_create
        self.num_partitions = num_partitions
        self.cluster_id = cluster_id
        self._initial = dict(topics or {})
        self._ctx = zmq.Context.instance()
        self._commands: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-broker", daemon=True)
        self.topics: dict[str, list[_Partition]] = {}
        self.configs: dict[str, dict[str, str]] = {}
        self.faults: list[_Fault] = []
        self.received: Counter = Counter()  # request type name -> count
        self.produce_acks: list[int] = []
        self.next_producer_id = 1000
        self._lock = threading.Lock()
        self._parked: list = []
        self.bootstrap = ""
        self._main: zmq.Socket | None = None
        self._error: BaseException | None = None

    # -- lifecycle (test thread) --------------------------------------------------------
    def start(self) -> "FakeBroker":
        ready = threading.Event()
        self._thread.start()
        self._commands.put((self._setup, (), ready, []))
        if not ready.wait(10):
            raise RuntimeError("the fake broker did not start")
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        if self._thread.is_alive():
            raise RuntimeError("the fake broker thread did not stop")

    def __enter__(self) -> "FakeBroker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _call(self, fn, *args):
        """Run ``fn`` on the broker thread (which owns the sockets) and return its result."""
        done, box = threading.Event(), []
        self._commands.put((fn, args, done, box))
        if not done.wait(10):
            raise RuntimeError(f"the fake broker did not run {fn.__name__}")
        if box and isinstance(box[0], BaseException):
            raise box[0]
        return box[0] if box else None

    # -- knobs (test thread) ----------------------------------------------------------------
    def create_topic(self, name: str, partitions: int = 1, configs: dict | None = None) -> None:
        self._call(self._create, name, partitions, dict(configs or {}))

    def fail_next(self, request: type, error: type[errors.ZafkaError] | None, times: int = 1,
                  topic: str | None = None, partition: int | None = None, message: str = "") -> None:
        """The next ``times`` matching requests get ``error`` (None: no reply at all)."""
        with self._lock:
            self.faults.append(_Fault(request, None if error is None else error.code, times, topic, partition, message))

    def drop_replies(self, request: type, times: int = 1, topic: str | None = None) -> None:
        """The next ``times`` matching requests are served (a produce is written) but never answered:
        the lost acknowledgement a producer's retry must not turn into a duplicate."""
        with self._lock:
            self.faults.append(_Fault(request, _DROP_REPLY, times, topic))

    def move_leader(self, topic: str, partition: int, hint: bool = False) -> str:
        """A new leader endpoint takes over; the old one answers NotLeader from now on (``hint``:
        naming the new leader, as a zafka replica that knows it does)."""
        return self._call(self._move_leader, topic, partition, hint)

    def kill_leader(self, topic: str, partition: int) -> None:
        """Close the leader's socket (clients see the TCP connection drop); metadata keeps naming it."""
        self._call(self._kill_leader, topic, partition)

    def set_available(self, topic: str, partition: int, available: bool) -> None:
        """False: metadata says LeaderNotAvailable with no endpoint, and the leader refuses requests."""
        self._call(self._set_available, topic, partition, available)

    def leader_endpoint(self, topic: str, partition: int) -> str:
        return self.topics[topic][partition].endpoint

    def log_end(self, topic: str, partition: int) -> int:
        return self._call(lambda: self.topics[topic][partition].log.log_end_offset)

    def read_all(self, topic: str, partition: int) -> list:
        """Every record stored in a partition, decoded here (for assertions)."""
        from storage.batch import iter_batches

        def read():
            lg = self.topics[topic][partition].log
            out, offset = [], lg.log_start_offset
            while offset < lg.log_end_offset:
                data = lg.read(offset, 1 << 24)
                for batch in iter_batches(data):
                    for rec in batch.records():
                        if rec.offset >= offset:
                            out.append(rec)
                    offset = batch.next_offset
            return [(r.offset, r.key, r.value, list(r.headers), r.timestamp) for r in out]

        return self._call(read)

    def batches(self, topic: str, partition: int) -> list:
        """Every stored batch (``storage.batch.RecordBatch``: its header fields, its records)."""
        from storage.batch import iter_batches

        def read():
            lg = self.topics[topic][partition].log
            out, offset = [], lg.log_start_offset
            while offset < lg.log_end_offset:
                for batch in iter_batches(lg.read(offset, 1 << 24)):
                    out.append(batch)
                    offset = batch.next_offset
            return out

        return self._call(read)

    def batch_codecs(self, topic: str, partition: int) -> list[int]:
        """The compression code of every stored batch, as the producer set it."""
        return [batch.compression for batch in self.batches(topic, partition)]

    # -- broker thread ------------------------------------------------------------------------
    def _bind(self) -> tuple[zmq.Socket, str]:
        sock = self._ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.bind("tcp://127.0.0.1:*")
        return sock, sock.getsockopt(zmq.LAST_ENDPOINT).decode()

    def _setup(self) -> None:
        self._main, self.bootstrap = self._bind()
        for name, count in self._initial.items():
            self._create(name, count, {})

    def _create(self, name: str, partitions: int, configs: dict) -> None:
        if name in self.topics:
            raise errors.TopicAlreadyExists(f"topic {name!r} already exists")
        self.topics[name] = []
        self.configs[name] = dict(configs)
        self._add_partitions(name, partitions)

    def _log_config(self, topic: str) -> LogConfig:
        max_bytes = int(self.configs.get(topic, {}).get("max.message.bytes", KNOWN_CONFIGS["max.message.bytes"]))
        return LogConfig(max_message_bytes=max_bytes)

    def _add_partitions(self, name: str, count: int) -> None:
        parts = self.topics[name]
        for p in range(len(parts), count):
            lg = Log(os.path.join(self.data_dir, f"{name}-{p}"), self._log_config(name))
            sock, endpoint = self._bind()
            parts.append(_Partition(name, p, lg, sock, endpoint))

    def _move_leader(self, topic: str, partition: int, hint: bool = False) -> str:
        part = self.topics[topic][partition]
        part.hint = hint
        if part.socket is not None:
            part.stale.append((part.socket, part.endpoint))
        part.socket, part.endpoint = self._bind()
        part.epoch += 1
        return part.endpoint

    def _kill_leader(self, topic: str, partition: int) -> None:
        part = self.topics[topic][partition]
        part.socket.close(linger=0)
        part.socket = None

    def _set_available(self, topic: str, partition: int, available: bool) -> None:
        self.topics[topic][partition].available = available

    def _sockets(self) -> list:
        out = [(self._main, None, False)] if self._main is not None else []
        for parts in self.topics.values():
            for part in parts:
                if part.socket is not None:
                    out.append((part.socket, part, False))
                out.extend((sock, part, True) for sock, _ in part.stale)
        return out

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._run_commands()
                poller = zmq.Poller()
                owners = {}
                for sock, part, stale in self._sockets():
                    poller.register(sock, zmq.POLLIN)
                    owners[sock] = (part, stale)
                wait = 10
                if self._parked:
                    soonest = min(p[3] for p in self._parked)
                    wait = max(0, min(wait, int((soonest - time.monotonic()) * 1000)))
                for sock, _ in poller.poll(wait):
                    if sock.closed:
                        continue  # closed by a request handled just before (a deleted topic)
                    part, stale = owners[sock]
                    while True:
                        try:
                            frames = sock.recv_multipart(zmq.NOBLOCK, copy=False)
                        except zmq.Again:
                            break
                        self._handle(sock, part, stale, frames)
                self._serve_parked(force=False)
        except BaseException as exc:  # noqa: BLE001 - reported to the tests by stop()
            self._error = exc
            raise
        finally:
            for sock, _, _ in self._sockets():
                sock.close(linger=0)
            for parts in self.topics.values():
                for part in parts:
                    part.log.close()

    def _run_commands(self) -> None:
        while True:
            try:
                fn, args, done, box = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                box.append(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - handed back to the caller
                box.append(exc)
            done.set()

    def _reply(self, sock, peer, corr: int, response: Response, frames=()) -> None:
        response.corr = corr
        sock.send_multipart([peer, protocol.encode(response), *frames], copy=False)

    def _error_reply(self, sock, peer, corr: int, code: int, message: str) -> None:
        sock.send_multipart([peer, protocol.error_reply(code, message, corr)])

    def _fault_for(self, request) -> _Fault | None:
        with self._lock:
            for fault in self.faults:
                if not isinstance(request, fault.request) or fault.times <= 0:
                    continue
                if fault.topic is not None and getattr(request, "topic", getattr(request, "name", None)) != fault.topic:
                    continue
                if fault.partition is not None and getattr(request, "partition", None) != fault.partition:
                    continue
                fault.times -= 1
                return fault
        return None

    def _handle(self, sock, part: _Partition | None, stale: bool, frames) -> None:
        peer, header, payload = frames[0], frames[1], frames[2:]
        try:
            request = protocol.decode_request(header.buffer, len(payload))
        except protocol.FrameError as exc:
            sock.send_multipart([peer, protocol.error_reply(exc.code, str(exc), exc.corr)])
            return
        self.received[type(request).__name__] += 1
        fault = self._fault_for(request)
        drop = fault is not None and fault.code == _DROP_REPLY
        if fault is not None and not drop:
            if fault.code is not None:
                self._error_reply(sock, peer, request.corr, fault.code, fault.message or "injected fault")
            return
        try:
            if part is None:
                response = self._main_request(request)
            else:
                if stale and part.hint:
                    sock.send_multipart([peer, protocol.encode(protocol.ErrorResponse(
                        error=errors.NotLeader.code, message="leadership moved", corr=request.corr,
                        leader=1, leader_epoch=part.epoch, leader_endpoint=part.endpoint))])
                    return
                if stale:
                    raise errors.NotLeader(f"not the leader of {part.topic}-{part.partition} any more")
                if not part.available:
                    raise errors.LeaderNotAvailable(f"{part.topic}-{part.partition} has no leader")
                response = self._leader_request(sock, peer, part, request, payload)
        except errors.ZafkaError as exc:
            self._error_reply(sock, peer, request.corr, exc.code, str(exc))
            return
        except StorageError as exc:  # mapped as a PartitionLeader maps it
            self._error_reply(sock, peer, request.corr, to_wire_error(exc).code, str(exc))
            return
        if response is not None and not drop:
            frames_out = ()
            if isinstance(response, tuple):
                response, frames_out = response
            self._reply(sock, peer, request.corr, response, frames_out)

    # -- partition leader ----------------------------------------------------------------------
    def _leader_request(self, sock, peer, part: _Partition, request, payload):
        if getattr(request, "topic", None) != part.topic or getattr(request, "partition", None) != part.partition:
            raise errors.NotLeader(f"this endpoint leads {part.topic}-{part.partition}")
        lg = part.log
        if isinstance(request, Produce):
            self.produce_acks.append(request.acks)  # the decode gate checked the frame count
            info = lg.append(payload[0].buffer, leader_epoch=part.epoch)
            lg.update_high_watermark(lg.log_end_offset)  # one replica: committed once written, as a leader
            self._serve_parked(force=False)
            if request.acks == 0:
                return None
            return ProduceResponse(base_offset=info.first_offset, log_start_offset=lg.log_start_offset,
                                   batch_offsets=list(info.batch_offsets))
        if isinstance(request, Fetch):
            data = lg.read(request.offset, request.max_bytes)
            if len(data) >= max(request.min_bytes, 1) or request.max_wait_ms <= 0:
                return self._fetch_response(part, data)
            self._parked.append((sock, peer, part, time.monotonic() + request.max_wait_ms / 1000, request))
            return None
        if isinstance(request, ListOffsets):  # resolved by storage.Log, exactly as a PartitionLeader does
            return ListOffsetsResponse(
                offset=lg.list_offset(request.timestamp), timestamp=request.timestamp,
                log_start_offset=lg.log_start_offset, log_end_offset=lg.log_end_offset,
                high_watermark=lg.high_watermark,
            )
        raise errors.InvalidRequest(f"a partition leader does not serve {type(request).__name__}")

    def _fetch_response(self, part: _Partition, data: bytes):
        lg = part.log
        return FetchResponse(
            high_watermark=lg.high_watermark, log_start_offset=lg.log_start_offset, log_end_offset=lg.log_end_offset,
        ), (data,)

    def _serve_parked(self, force: bool) -> None:
        if not self._parked:
            return
        now = time.monotonic()
        keep = []
        for sock, peer, part, deadline, request in self._parked:
            if part.socket is not sock:
                if not sock.closed:  # moved: the old leader refuses; a killed one just loses it
                    self._error_reply(sock, peer, request.corr, errors.NotLeader.code, "leadership moved")
                continue
            try:
                data = part.log.read(request.offset, request.max_bytes)
            except OffsetOutOfRangeError as exc:
                self._error_reply(sock, peer, request.corr, errors.OffsetOutOfRange.code, str(exc))
                continue
            if data or now >= deadline or force:
                response, frames = self._fetch_response(part, data)
                self._reply(sock, peer, request.corr, response, frames)
            else:
                keep.append((sock, peer, part, deadline, request))
        self._parked = keep

    # -- bootstrap broker and controller ----------------------------------------------------------
    def _main_request(self, request):
        if isinstance(request, Metadata):
            return self._metadata(request)
        if isinstance(request, InitProducerId):  # as a BrokerActor: ids from a block, never one twice
            if request.transactional_id is not None:
                raise errors.InvalidRequest("transactional producers are not built yet")
            self.next_producer_id += 1
            return InitProducerIdResponse(producer_id=self.next_producer_id - 1, producer_epoch=0)
        if isinstance(request, admin.CreateTopic):
            if not _TOPIC_NAME.match(request.name):
                raise errors.InvalidTopic(f"invalid topic name {request.name!r}")
            if request.partitions < 1:
                raise errors.InvalidPartitions(f"partitions must be at least 1, got {request.partitions}")
            if request.replication_factor != 1:
                raise errors.InvalidReplicationFactor(
                    f"replication factor {request.replication_factor} with 1 broker"
                )
            self._check_configs(request.configs)
            self._create(request.name, request.partitions, request.configs)
            return admin.TopicResponse(topic=self._topic_metadata(request.name))
        if isinstance(request, admin.DeleteTopic):
            parts = self._existing(request.name)
            for part in parts:
                for sock, _ in part.stale:
                    sock.close(linger=0)
                if part.socket is not None:
                    part.socket.close(linger=0)
                part.log.close()
            del self.topics[request.name]
            del self.configs[request.name]
            return admin.TopicResponse()
        if isinstance(request, admin.CreatePartitions):
            parts = self._existing(request.name)
            if request.count <= len(parts):
                raise errors.InvalidPartitions(
                    f"topic {request.name!r} has {len(parts)} partitions; the count can only grow"
                )
            self._add_partitions(request.name, request.count)
            return admin.TopicResponse(topic=self._topic_metadata(request.name))
        if isinstance(request, admin.AlterConfigs):
            self._existing(request.topic)
            self._check_configs(request.set)
            configs = self.configs[request.topic]
            configs.update(request.set)
            for key in request.delete:
                configs.pop(key, None)
            return admin.ConfigsResponse(topic=request.topic, configs=self._effective(request.topic),
                                         overrides=sorted(configs))
        if isinstance(request, admin.DescribeConfigs):
            self._existing(request.topic)
            return admin.ConfigsResponse(topic=request.topic, configs=self._effective(request.topic),
                                         overrides=sorted(self.configs[request.topic]))
        if isinstance(request, admin.DescribeCluster):
            return admin.ClusterResponse(cluster_id=self.cluster_id, controller_endpoint=self.bootstrap,
                                         brokers=[BrokerInfo(id=0, endpoint=self.bootstrap, host="127.0.0.1")])
        raise errors.InvalidRequest(f"the broker does not serve {type(request).__name__}")

    def _existing(self, name: str) -> list[_Partition]:
        if name not in self.topics:
            raise errors.UnknownTopicOrPartition(f"topic {name!r} does not exist")
        return self.topics[name]

    def _check_configs(self, configs: dict) -> None:
        for key, value in configs.items():
            if key not in KNOWN_CONFIGS:
                raise errors.InvalidConfig(f"unknown topic config {key!r}")
            if key != "cleanup.policy" and key != "compression.type" and not str(value).lstrip("-").isdigit():
                raise errors.InvalidConfig(f"invalid value {value!r} for {key}: an integer")

    def _effective(self, topic: str) -> dict:
        return {**KNOWN_CONFIGS, **self.configs[topic]}

    def _topic_metadata(self, name: str) -> TopicMetadata:
        parts = []
        for part in self.topics[name]:
            endpoint = part.endpoint if part.available else None
            parts.append(PartitionMetadata(
                partition=part.partition, leader=0 if part.available else -1, leader_epoch=part.epoch,
                replicas=[0], isr=[0],
                leader_endpoint=endpoint, error=0 if part.available else errors.LeaderNotAvailable.code,
            ))
        return TopicMetadata(name=name, partitions=parts)

    def _metadata(self, request: Metadata) -> MetadataResponse:
        names = sorted(self.topics) if request.topics is None else request.topics
        topics = []
        for name in names:
            if name in self.topics:
                topics.append(self._topic_metadata(name))
            elif not _TOPIC_NAME.match(name):
                topics.append(TopicMetadata(name=name, error=errors.InvalidTopic.code,
                                            message=f"invalid topic name {name!r}"))
            elif self.auto_create and request.allow_auto_create:
                self._create(name, self.num_partitions, {})
                topics.append(TopicMetadata(name=name, error=errors.LeaderNotAvailable.code,
                                            message="the topic was just created"))
            else:
                topics.append(TopicMetadata(name=name, error=errors.UnknownTopicOrPartition.code,
                                            message=f"topic {name!r} does not exist"))
        return MetadataResponse(
            cluster_id=self.cluster_id, controller_endpoint=self.bootstrap,
            brokers=[BrokerInfo(id=0, endpoint=self.bootstrap, host="127.0.0.1")], topics=topics,
        )
