"""The controller's state machine: metadata events applied to a ``ClusterImage``.

Pure logic, no sockets. The controller validates a request, turns it into one
event, appends the event to its metadata log (``storage.Log``) and only then
applies it here; on restart it replays the log through the same ``apply``, so the
rebuilt image is exactly the one it served. Liveness (which brokers heartbeat) is
not an event: it is re-learned within a heartbeat after a restart.
"""

from __future__ import annotations

import re
import uuid

import msgspec

from wire import errors
from wire.metadata import (
    BrokerInfo,
    ClusterImage,
    MetadataResponse,
    PartitionMetadata,
    PartitionState,
    TopicMetadata,
    TopicState,
)

TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")


class ClusterIdSet(msgspec.Struct, tag="cluster_id"):
    cluster_id: str


class BrokerRegistered(msgspec.Struct, tag="broker_registered"):
    broker: BrokerInfo


class TopicCreated(msgspec.Struct, tag="topic_created"):
    topic: TopicState


class TopicDeleted(msgspec.Struct, tag="topic_deleted"):
    name: str


class PartitionsAdded(msgspec.Struct, tag="partitions_added"):
    topic: str
    partitions: list[PartitionState]


class ConfigsChanged(msgspec.Struct, tag="configs_changed"):
    topic: str
    configs: dict[str, str]  # the topic's complete set of overrides after the change


class LeaderChanged(msgspec.Struct, tag="leader_changed"):
    topic: str
    partition: int
    leader: int
    leader_epoch: int
    isr: list[int]
    leader_endpoint: str | None = None


class ReplicaRegistered(msgspec.Struct, tag="replica_registered"):
    """A replica's actor listens at ``endpoint`` (it is the leader's endpoint while it leads)."""

    topic: str
    partition: int
    broker: int
    endpoint: str
    pid: int = 0


class LeaderElected(msgspec.Struct, tag="leader_elected"):
    """A new leader (or none: -1, offline) under a new epoch, with the ISR that goes with it."""

    topic: str
    partition: int
    leader: int
    leader_epoch: int
    isr: list[int]
    unclean: bool = False


class IsrChanged(msgspec.Struct, tag="isr_changed"):
    topic: str
    partition: int
    isr: list[int]


class ProducerIdsAllocated(msgspec.Struct, tag="producer_ids_allocated"):
    """A block of producer ids handed to a broker (KIP-730): no id is ever handed out twice."""

    broker: int
    first: int
    count: int


PRODUCER_ID_BLOCK = 1000  # Kafka's ProducerIdsBlock size


def allocate_producer_ids(image: ClusterImage, broker: int) -> ProducerIdsAllocated:
    return ProducerIdsAllocated(broker, image.next_producer_id, PRODUCER_ID_BLOCK)


# LeaderChanged is kept so metadata logs written before replication still replay
Event = (ClusterIdSet | BrokerRegistered | TopicCreated | TopicDeleted | PartitionsAdded | ConfigsChanged
         | LeaderChanged | ReplicaRegistered | LeaderElected | IsrChanged | ProducerIdsAllocated)
EVENT_ENCODER = msgspec.msgpack.Encoder()
EVENT_DECODER = msgspec.msgpack.Decoder(Event)


def apply(image: ClusterImage, event: Event) -> None:
    """Change ``image`` by one event (the only way the image changes)."""
    if isinstance(event, ClusterIdSet):
        image.cluster_id = event.cluster_id
    elif isinstance(event, BrokerRegistered):
        old = image.brokers.get(event.broker.id)
        image.brokers[event.broker.id] = msgspec.structs.replace(
            event.broker, alive=old.alive if old is not None else False
        )
    elif isinstance(event, TopicCreated):
        image.topics[event.topic.name] = event.topic
    elif isinstance(event, TopicDeleted):
        image.topics.pop(event.name, None)
    elif isinstance(event, PartitionsAdded):
        image.topics[event.topic].partitions.extend(event.partitions)
    elif isinstance(event, ConfigsChanged):
        image.topics[event.topic].configs = dict(event.configs)
    elif isinstance(event, LeaderChanged):
        part = image.topics[event.topic].partitions[event.partition]
        part.leader = event.leader
        part.leader_epoch = event.leader_epoch
        part.isr = list(event.isr)
        part.leader_endpoint = event.leader_endpoint
    elif isinstance(event, ReplicaRegistered):
        part = image.topics[event.topic].partitions[event.partition]
        part.replica_endpoints = {**part.replica_endpoints, event.broker: event.endpoint}
        part.replica_pids = {**part.replica_pids, event.broker: event.pid}
        if part.leader == event.broker:
            part.leader_endpoint = event.endpoint
    elif isinstance(event, LeaderElected):
        part = image.topics[event.topic].partitions[event.partition]
        part.leader = event.leader
        part.leader_epoch = event.leader_epoch
        part.isr = list(event.isr)
        part.leader_endpoint = part.replica_endpoints.get(event.leader) if event.leader >= 0 else None
        if event.unclean:
            part.unclean_elections += 1
    elif isinstance(event, IsrChanged):
        image.topics[event.topic].partitions[event.partition].isr = list(event.isr)
    elif isinstance(event, ProducerIdsAllocated):
        image.next_producer_id = max(image.next_producer_id, event.first + event.count)
    image.version += 1


# -- placement ----------------------------------------------------------------
def assign_replicas(partitions: int, replication_factor: int, brokers: list[int], start: int) -> list[list[int]]:
    """Kafka's round-robin replica assignment: leaders spread evenly, replicas on distinct brokers.

    Partition ``p``'s replicas are consecutive brokers starting at ``start + p``, so
    leaders (the first replica) rotate over all brokers.
    """
    if replication_factor < 1 or replication_factor > len(brokers):
        raise errors.InvalidReplicationFactor(
            f"replication factor {replication_factor} is not between 1 and the {len(brokers)} live brokers"
        )
    ordered = sorted(brokers)
    n = len(ordered)
    return [[ordered[(start + p + j) % n] for j in range(replication_factor)] for p in range(partitions)]


def log_dir_load(image: ClusterImage) -> dict[tuple[int, str], int]:
    """How many replicas each (broker, log dir) holds."""
    load: dict[tuple[int, str], int] = {}
    for topic in image.topics.values():
        for part in topic.partitions:
            for broker_id, d in part.replica_dirs.items():
                load[(broker_id, d)] = load.get((broker_id, d), 0) + 1
    return load


def choose_log_dir(broker: BrokerInfo, load: dict[tuple[int, str], int]) -> str | None:
    """The broker's log dir holding the fewest replicas (Kafka's rule for new replicas)."""
    if not broker.log_dirs:
        return None
    return min(broker.log_dirs, key=lambda d: (load.get((broker.id, d), 0), broker.log_dirs.index(d)))


def new_partitions(
    image: ClusterImage, first: int, count: int, rf: int, live: list[int]
) -> list[PartitionState]:
    """Partitions ``first .. first+count-1`` placed over live brokers and their log dirs."""
    start = sum(len(t.partitions) for t in image.topics.values())
    load = log_dir_load(image)
    out = []
    for i, replicas in enumerate(assign_replicas(count, rf, live, start + first)):
        dirs = {}
        for broker_id in replicas:
            chosen = choose_log_dir(image.brokers[broker_id], load)
            if chosen:
                dirs[broker_id] = chosen
                load[(broker_id, chosen)] = load.get((broker_id, chosen), 0) + 1
        out.append(
            PartitionState(first + i, replicas, leader=replicas[0], leader_epoch=0, isr=list(replicas), replica_dirs=dirs)
        )
    return out


def validate_topic_name(name: str) -> None:
    if not TOPIC_NAME.match(name or "") or name in (".", ".."):
        raise errors.InvalidTopic(f"invalid topic name {name!r}")


def new_topic_id() -> str:
    return uuid.uuid4().hex


# -- views ----------------------------------------------------------------------
def partition_metadata(part: PartitionState) -> PartitionMetadata:
    ready = part.leader >= 0 and part.leader_endpoint is not None
    return PartitionMetadata(
        partition=part.partition, leader=part.leader, leader_epoch=part.leader_epoch,
        replicas=list(part.replicas), isr=list(part.isr), leader_endpoint=part.leader_endpoint,
        error=0 if ready else errors.LeaderNotAvailable.code, unclean_elections=part.unclean_elections,
    )


def topic_metadata(image: ClusterImage, name: str) -> TopicMetadata:
    topic = image.topics.get(name)
    if topic is None:
        return TopicMetadata(
            name=name, error=errors.UnknownTopicOrPartition.code,
            message=f"topic {name!r} does not exist",
        )
    return TopicMetadata(name=name, partitions=[partition_metadata(p) for p in topic.partitions])


def metadata_response(image: ClusterImage, topics: list[str] | None) -> MetadataResponse:
    names = sorted(image.topics) if topics is None else topics
    return MetadataResponse(
        cluster_id=image.cluster_id,
        controller_endpoint=image.controller_endpoint,
        brokers=[b for _, b in sorted(image.brokers.items()) if b.alive],
        topics=[topic_metadata(image, n) for n in names],
        version=image.version,
    )
