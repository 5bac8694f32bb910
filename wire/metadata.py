"""Cluster metadata: what clients bootstrap with and what actors watch.

``ClusterImage`` is the controller's whole view (brokers, topics, configs, leaders
and their endpoints, epochs). Brokers, supervisors, cleaners and leaders keep a
copy fresh with ``WatchMetadata`` long polls, so they keep serving from it while
the controller restarts. Clients see the narrower ``MetadataResponse``.
"""

from __future__ import annotations

import msgspec

from .base import Request, Response


class BrokerInfo(msgspec.Struct, omit_defaults=True):
    id: int
    endpoint: str  # advertised tcp://host:port of the BrokerActor
    host: str = ""
    rack: str | None = None
    alive: bool = True
    log_dirs: list[str] = []
    coordinator_endpoint: str = ""  # its GroupCoordinator


class PartitionState(msgspec.Struct, omit_defaults=True):
    partition: int
    replicas: list[int]
    leader: int = -1  # broker id, -1 while none
    leader_epoch: int = 0
    isr: list[int] = []
    leader_endpoint: str | None = None  # where the leader replica's actor listens
    replica_dirs: dict[int, str] = {}  # broker id -> the log.dirs entry holding its replica
    replica_endpoints: dict[int, str] = {}  # broker id -> where that replica's actor listens
    replica_pids: dict[int, int] = {}  # broker id -> the process that registered it (a restart is a new one)
    unclean_elections: int = 0  # leaders chosen from outside the ISR: acknowledged records may be gone


class TopicState(msgspec.Struct, omit_defaults=True):
    name: str
    topic_id: str
    partitions: list[PartitionState]
    configs: dict[str, str] = {}


class ClusterImage(msgspec.Struct, omit_defaults=True):
    version: int = 0
    cluster_id: str = ""
    controller_endpoint: str = ""
    brokers: dict[int, BrokerInfo] = {}
    topics: dict[str, TopicState] = {}
    next_producer_id: int = 0  # the first id of the next block of producer ids (KIP-730)


class PartitionMetadata(msgspec.Struct, omit_defaults=True):
    partition: int
    leader: int
    leader_epoch: int
    replicas: list[int]
    isr: list[int]
    leader_endpoint: str | None = None
    error: int = 0
    unclean_elections: int = 0


class TopicMetadata(msgspec.Struct, omit_defaults=True):
    name: str
    partitions: list[PartitionMetadata] = []
    error: int = 0
    message: str = ""


class Metadata(Request, tag="metadata"):
    topics: list[str] | None = None  # None: all topics
    allow_auto_create: bool = True


class MetadataResponse(Response, tag="metadata_r"):
    cluster_id: str = ""
    controller_endpoint: str = ""
    brokers: list[BrokerInfo] = []
    topics: list[TopicMetadata] = []
    version: int = 0


class WatchMetadata(Request, tag="watch_metadata"):
    known_version: int = -1
    max_wait_ms: int = 1000


class MetadataImage(Response, tag="metadata_image"):
    # None: a long poll that saw no change (the watcher keeps its image; a cluster of many partitions has
    # one watcher per replica, and re-sending every one the whole image each second would cost them all)
    image: ClusterImage | None = msgspec.field(default_factory=ClusterImage)
