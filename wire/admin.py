"""Admin requests, answered by the controller (as Kafka sends them to its controller)."""

from __future__ import annotations

from .base import Request, Response
from .metadata import BrokerInfo, TopicMetadata


class CreateTopic(Request, tag="create_topic"):
    name: str
    partitions: int = 1
    replication_factor: int = 1
    configs: dict[str, str] = {}


class DeleteTopic(Request, tag="delete_topic"):
    name: str


class CreatePartitions(Request, tag="create_partitions"):
    name: str
    count: int


class AlterConfigs(Request, tag="alter_configs"):
    topic: str
    set: dict[str, str] = {}
    delete: list[str] = []


class DescribeConfigs(Request, tag="describe_configs"):
    topic: str


class DescribeCluster(Request, tag="describe_cluster"):
    pass


class ElectLeaders(Request, tag="elect_leaders"):
    """Kafka's ElectLeaders with the PREFERRED type: move leadership back to each partition's first replica."""

    topic: str | None = None  # None: every topic


class ElectLeadersResponse(Response, tag="elect_leaders_r"):
    elected: list[str] = []  # "topic-partition" now led by its preferred replica
    skipped: list[str] = []  # "topic-partition: why" (preferred replica not in sync, offline, ...)


class TopicResponse(Response, tag="topic_r"):
    topic: TopicMetadata | None = None
    warnings: list[str] = []  # configs accepted but not in effect yet


class ConfigsResponse(Response, tag="configs_r"):
    topic: str = ""
    configs: dict[str, str] = {}  # effective value of every topic key
    overrides: list[str] = []  # keys set on the topic itself (the rest are defaults)
    not_in_effect: dict[str, str] = {}  # key -> why its value is accepted but not acted on yet
    warnings: list[str] = []  # from the AlterConfigs this answers


class ClusterResponse(Response, tag="cluster_r"):
    cluster_id: str = ""
    controller_endpoint: str = ""
    brokers: list[BrokerInfo] = []
