"""The admin client: topics, configs and the cluster, through the controller.

Admin requests go to the controller (its endpoint comes with every metadata
answer). While the controller restarts or moves, calls keep retrying — on
``NotController``, timeouts and lost connections, refreshing metadata with
backoff — until ``timeout_ms`` runs out.

A retried create or delete may find its first attempt did land after all (the
reply was lost). After such an ambiguous attempt ``TopicAlreadyExists`` for a
create and ``UnknownTopicOrPartition`` for a delete count as success.
"""

from __future__ import annotations

import logging
import time
from typing import NamedTuple

from wire.admin import (
    AlterConfigs,
    ClusterResponse,
    ConfigsResponse,
    CreatePartitions,
    CreateTopic,
    DeleteTopic,
    DescribeCluster,
    DescribeConfigs,
    ElectLeaders,
)
from wire.base import Request, Response
from wire.client.errors import ClientClosed, ClientConfigError
from wire.client.records import TopicPartition
from wire.groups import (
    CommitOffset,
    DeleteGroups,
    DescribeGroups,
    FindCoordinator,
    GroupListing,
    ListGroups,
    OffsetCommit,
    OffsetFetch,
)
from wire.client.metadata import DEFAULT_BOOTSTRAP, ClusterMetadata
from wire.connections import ConnectionPool, Reply
from wire.errors import (
    BrokerNotAvailable,
    CoordinatorLoadInProgress,
    CoordinatorNotAvailable,
    LeaderNotAvailable,
    NonEmptyGroup,
    NotCoordinator,
    NotController,
    NotLeader,
    RequestTimedOut,
    TopicAlreadyExists,
    UnknownMemberId,
    UnknownTopicOrPartition,
    ZafkaError,
    error_for,
)
from wire.fetch import EARLIEST, LATEST, ListOffsets
from wire.metadata import BrokerInfo
from wire.produce import DescribeProducers, DescribeProducersResponse, ProducerState

log = logging.getLogger("zafka.admin")

_RETRY = (NotController, RequestTimedOut, BrokerNotAvailable, LeaderNotAvailable, NotCoordinator,
          CoordinatorNotAvailable, CoordinatorLoadInProgress)
_AMBIGUOUS = (RequestTimedOut, BrokerNotAvailable)


class PartitionDescription(NamedTuple):
    """One partition as ``describe_topic`` sees it: metadata plus the offsets its leader reported.

    The offsets are -1 when the leader could not be asked: the partition is
    offline (no leader), or its leader did not answer in time.
    """

    partition: int
    leader: int  # broker id, -1 while there is none
    replicas: list[int]
    isr: list[int]
    leader_epoch: int
    log_start_offset: int  # -1 when the leader could not be asked
    log_end_offset: int
    high_watermark: int = -1
    leader_endpoint: str | None = None
    unclean_elections: int = 0  # leaders chosen from outside the ISR: acknowledged records may be gone

    @property
    def offline(self) -> bool:
        """No leader: the partition can be neither written nor read (Kafka's "unavailable")."""
        return self.leader < 0

    @property
    def under_replicated(self) -> bool:
        """Fewer in-sync replicas than replicas, as Kafka's ``--under-replicated-partitions`` counts."""
        return len(self.isr) < len(self.replicas)


class TopicDescription(NamedTuple):
    name: str
    partitions: list[PartitionDescription]


class ConfigEntry(NamedTuple):
    """One topic config as Kafka's DescribeConfigs gives it, plus whether zafka acts on its value."""

    name: str
    value: str
    source: str  # "topic" (an override) or "default" (the broker's or Kafka's)
    in_effect: bool
    note: str = ""  # why not, when in_effect is False


class GroupMemberDescription(NamedTuple):
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    assignment: list  # TopicPartition


class GroupOffset(NamedTuple):
    committed: int  # -1: nothing committed
    log_end_offset: int  # the high watermark: what a consumer can read (-1: its leader did not answer)

    @property
    def lag(self) -> int | None:
        if self.committed < 0 or self.log_end_offset < 0:
            return None
        return max(0, self.log_end_offset - self.committed)


class GroupDescription(NamedTuple):
    group_id: str
    state: str  # Empty, PreparingRebalance, CompletingRebalance, Stable, Dead (no such group)
    protocol_type: str
    protocol: str  # the assignment strategy chosen
    generation: int
    leader: str
    members: list[GroupMemberDescription]
    offsets: dict  # TopicPartition -> GroupOffset, for every partition with a commit


class ClusterDescription(NamedTuple):
    cluster_id: str
    controller: str  # the controller's endpoint
    brokers: list[BrokerInfo]


class Admin:
    """Creates, describes, alters and deletes topics (see README.md, "From Python"). One thread at a time."""

    def __init__(self, bootstrap: str = DEFAULT_BOOTSTRAP, *, request_timeout_ms: float = 10000,
                 timeout_ms: float = 30000, retry_backoff_ms: float = 100, retry_backoff_max_ms: float = 1000):
        for name, value in (("request_timeout_ms", request_timeout_ms), ("timeout_ms", timeout_ms)):
            if not isinstance(value, (int, float)) or value <= 0:
                raise ClientConfigError(f"invalid value {value!r} for {name}: must be a positive number")
        self.request_timeout_ms = request_timeout_ms
        self.timeout_ms = timeout_ms
        self._backoff_min = retry_backoff_ms / 1000
        self._backoff_max = max(retry_backoff_max_ms, retry_backoff_ms) / 1000
        self._pool = ConnectionPool()
        self._metadata = ClusterMetadata(
            bootstrap, self._pool, timeout_ms=min(request_timeout_ms, 5000), retry_backoff_ms=retry_backoff_ms,
            retry_backoff_max_ms=retry_backoff_max_ms, allow_auto_create=False,
        )
        self._closed = False

    # -- plumbing ---------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise ClientClosed("this Admin client is closed; create a new one")

    def _retrying(self, attempt, what: str, timeout_ms: float | None, accept_after_ambiguous=()):
        """Run ``attempt()`` until it succeeds, fails for good, or the time is up."""
        self._check_open()
        timeout_ms = self.timeout_ms if timeout_ms is None else timeout_ms
        deadline = time.monotonic() + timeout_ms / 1000
        backoff = self._backoff_min
        ambiguous = False
        answered = None  # the last error a broker actually answered with
        while True:
            try:
                return attempt(deadline)
            except accept_after_ambiguous:
                if ambiguous:
                    return None
                raise
            except _RETRY as exc:
                ambiguous = ambiguous or isinstance(exc, _AMBIGUOUS)
                if not isinstance(exc, _AMBIGUOUS):
                    answered = exc
                left = deadline - time.monotonic()
                if left <= 0:
                    # A last attempt the deadline cut short says less than the answer before it: report
                    # that answer's type, and the silence after it, as Kafka's admin keeps the cause.
                    if isinstance(exc, _AMBIGUOUS) and answered is not None:
                        raise type(answered)(f"{what} did not complete within {timeout_ms:.0f} ms: {answered}"
                                             f" (then: {exc})") from None
                    raise type(exc)(f"{what} did not complete within {timeout_ms:.0f} ms: {exc}") from None
                self._metadata.request_update()
                time.sleep(min(backoff, left))  # backoff between retries, not synchronisation
                backoff = min(backoff * 2, self._backoff_max)

    def _controller(self, deadline: float) -> str:
        if self._metadata.stale or not self._metadata.controller_endpoint:
            self._metadata.refresh([])
        if not self._metadata.controller_endpoint:
            raise NotController("the cluster named no controller yet")
        return self._metadata.controller_endpoint

    def _call(self, endpoint: str, request: Request, deadline: float) -> Response:
        left_ms = max((deadline - time.monotonic()) * 1000, 1)
        response, _ = self._pool.call(endpoint, request, timeout_ms=min(self.request_timeout_ms, left_ms))
        if response.error:
            raise error_for(response.error, response.message)
        return response

    def _to_controller(self, request: Request, what: str, timeout_ms: float | None, accept_after_ambiguous=()):
        def attempt(deadline):
            return self._call(self._controller(deadline), request, deadline)

        return self._retrying(attempt, what, timeout_ms, accept_after_ambiguous)

    # -- topics ---------------------------------------------------------------------------------------
    def create_topic(self, name: str, partitions: int = 1, replication_factor: int = 1, configs: dict | None = None,
                     timeout_ms: float | None = None) -> list[str]:
        """Create a topic; returns warnings for configs accepted but not in effect yet (also logged)."""
        request = CreateTopic(name=name, partitions=partitions, replication_factor=replication_factor,
                              configs={str(k): str(v) for k, v in (configs or {}).items()})
        response = self._to_controller(request, f"creating topic {name!r}", timeout_ms, (TopicAlreadyExists,))
        return _warned(name, response)

    def delete_topic(self, name: str, timeout_ms: float | None = None) -> None:
        self._to_controller(DeleteTopic(name=name), f"deleting topic {name!r}", timeout_ms, (UnknownTopicOrPartition,))
        self._metadata.forget(name)

    def create_partitions(self, name: str, count: int, timeout_ms: float | None = None) -> None:
        """Grow ``name`` to ``count`` partitions in total (partitions can never shrink)."""
        self._to_controller(CreatePartitions(name=name, count=count), f"growing topic {name!r}", timeout_ms)

    def list_topics(self, include_internal: bool = False, timeout_ms: float | None = None) -> list[str]:
        """Every topic's name, sorted; internal topics (``__…``) only if asked for."""
        def attempt(deadline):
            response = self._metadata.refresh(None, allow_auto_create=False)
            return sorted(t.name for t in response.topics
                          if not t.error and (include_internal or not t.name.startswith("__")))

        return self._retrying(attempt, "listing topics", timeout_ms)

    def _topic(self, name: str):
        """Fresh metadata of an existing topic (never auto-created), or the error the cluster gave for it."""
        self._metadata.refresh([name], allow_auto_create=False)
        error = self._metadata.topic_errors.get(name)
        if error is not None:
            raise error
        return self._metadata.topics[name]

    def describe_topic(self, name: str, timeout_ms: float | None = None) -> TopicDescription:
        """Partitions with leader, replicas, ISR, epoch, unclean elections and log start/end offsets and
        high watermark (asked of each leader at once; -1 for a partition that is offline or whose
        leader did not answer, so one offline partition neither fails nor delays the description)."""
        def attempt(deadline):
            info = self._topic(name)
            offsets = self._offsets(name, [info.partitions[p] for p in info.ids], deadline)
            parts = []
            for p in info.ids:
                meta = info.partitions[p]
                start, end, hw = offsets.get(p, (-1, -1, -1))
                parts.append(PartitionDescription(
                    partition=p, leader=meta.leader, replicas=list(meta.replicas), isr=list(meta.isr),
                    leader_epoch=meta.leader_epoch, log_start_offset=start, log_end_offset=end,
                    high_watermark=hw, leader_endpoint=meta.leader_endpoint,
                    unclean_elections=meta.unclean_elections,
                ))
            return TopicDescription(name, parts)

        return self._retrying(attempt, f"describing topic {name!r}", timeout_ms)

    def describe_producers(self, topic: str, partitions: list[int] | None = None,
                           timeout_ms: float | None = None) -> dict[int, list[ProducerState]]:
        """The idempotent producers each partition's leader knows: id, epoch, last sequence, last
        timestamp, last offset (Kafka's ``describeProducers``); every partition unless ``partitions``."""
        def attempt(deadline):
            info = self._topic(topic)
            wanted = info.ids if partitions is None else list(partitions)
            unknown = [p for p in wanted if p not in info.partitions]
            if unknown:
                raise UnknownTopicOrPartition(f"topic {topic!r} has partitions {info.ids}, not {unknown}")
            out = {}
            for p in wanted:
                endpoint = info.partitions[p].leader_endpoint
                if not endpoint:
                    raise LeaderNotAvailable(f"{topic}-{p} has no leader right now")
                try:
                    response = self._call(endpoint, DescribeProducers(topic=topic, partition=p), deadline)
                except NotLeader as exc:  # moved since this metadata: look again
                    raise LeaderNotAvailable(str(exc)) from None
                if not isinstance(response, DescribeProducersResponse):
                    raise error_for(-1, f"unexpected reply {type(response).__name__} to DescribeProducers")
                out[p] = list(response.producers)
            return out

        return self._retrying(attempt, f"describing the producers of topic {topic!r}", timeout_ms)

    def _offsets(self, topic: str, partitions: list, deadline: float) -> dict[int, tuple[int, int, int]]:
        """(log start, log end, high watermark) per partition, asking all leaders at once.

        An offline partition (no leader) is not asked at all, and a leader that
        does not answer in time (or whose connection fails) leaves its partition
        at -1: the description is still useful while a partition is failing over.
        """
        pending: set[tuple[int, int]] = set()
        answers: dict[tuple[int, int], tuple] = {}
        for meta in partitions:
            if meta.leader < 0 or not meta.leader_endpoint or meta.error:
                continue
            for ts in (EARLIEST, LATEST):
                request = ListOffsets(topic=topic, partition=meta.partition, timestamp=ts)
                left_ms = max((deadline - time.monotonic()) * 1000, 1)
                try:
                    self._pool.send(meta.leader_endpoint, request, context=(meta.partition, ts),
                                    timeout_ms=min(self.request_timeout_ms, left_ms))
                except ZafkaError:
                    continue
                pending.add((meta.partition, ts))
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for event in self._pool.poll(left * 1000):
                if event.context not in pending:
                    continue
                pending.discard(event.context)
                if isinstance(event, Reply) and not event.response.error:
                    answers[event.context] = event.response
        out = {}
        for meta in partitions:
            early, late = answers.get((meta.partition, EARLIEST)), answers.get((meta.partition, LATEST))
            start = early.offset if early is not None else -1
            end = -1
            hw = -1
            if late is not None:
                end = late.log_end_offset if late.log_end_offset >= 0 else late.offset
                hw = late.high_watermark if late.high_watermark >= 0 else late.offset
            out[meta.partition] = (start, end, hw)
        return out

    # -- configs ------------------------------------------------------------------------------------------
    def alter_topic_configs(self, name: str, configs: dict, timeout_ms: float | None = None) -> list[str]:
        """Set topic configs; a value of None removes the override (back to the broker default).

        Returns a warning for each value the cluster accepted but does not act on yet (also logged).
        """
        set_ = {str(k): str(v) for k, v in configs.items() if v is not None}
        delete = [str(k) for k, v in configs.items() if v is None]
        response = self._to_controller(AlterConfigs(topic=name, set=set_, delete=delete),
                                       f"altering configs of topic {name!r}", timeout_ms)
        return _warned(name, response)

    def describe_topic_configs(self, name: str, timeout_ms: float | None = None) -> dict[str, str]:
        """Every effective topic config (overrides and defaults)."""
        response = self._to_controller(DescribeConfigs(topic=name), f"describing configs of topic {name!r}",
                                       timeout_ms)
        if not isinstance(response, ConfigsResponse):
            raise error_for(-1, f"unexpected reply {type(response).__name__} to DescribeConfigs")
        return dict(response.configs)

    def describe_topic_config_overrides(self, name: str, timeout_ms: float | None = None) -> list[str]:
        """The config keys set on the topic itself (the rest are broker defaults)."""
        response = self._to_controller(DescribeConfigs(topic=name), f"describing configs of topic {name!r}",
                                       timeout_ms)
        return list(response.overrides)

    def describe_topic_config_entries(self, name: str, timeout_ms: float | None = None) -> list[ConfigEntry]:
        """Every topic config with its value, where it comes from and whether it is in effect, sorted by key."""
        response = self._to_controller(DescribeConfigs(topic=name), f"describing configs of topic {name!r}",
                                       timeout_ms)
        overrides = set(response.overrides)
        return [
            ConfigEntry(key, value, "topic" if key in overrides else "default",
                        key not in response.not_in_effect, response.not_in_effect.get(key, ""))
            for key, value in sorted(response.configs.items())
        ]

    # -- cluster and groups ------------------------------------------------------------------------------------
    def elect_preferred_leaders(self, topic: str | None = None,
                                timeout_ms: float | None = None) -> tuple[list[str], list[str]]:
        """Move leadership back to each partition's preferred replica (of ``topic``, or of every topic).

        Returns (partitions moved, partitions left as they are with the reason), as "topic-p" strings.
        """
        response = self._to_controller(ElectLeaders(topic=topic), "electing preferred leaders", timeout_ms)
        return list(response.elected), list(response.skipped)

    def describe_cluster(self, timeout_ms: float | None = None) -> ClusterDescription:
        response = self._to_controller(DescribeCluster(), "describing the cluster", timeout_ms)
        if not isinstance(response, ClusterResponse):
            raise error_for(-1, f"unexpected reply {type(response).__name__} to DescribeCluster")
        return ClusterDescription(response.cluster_id, response.controller_endpoint, list(response.brokers))

    def list_groups(self, timeout_ms: float | None = None) -> list[GroupListing]:
        """Every group of the cluster, sorted: each broker's coordinator lists the groups it serves."""
        def attempt(deadline):
            self._metadata.refresh([])
            out = {}
            for broker in self._metadata.brokers:
                if not broker.coordinator_endpoint:
                    continue
                for g in self._call(broker.coordinator_endpoint, ListGroups(), deadline).groups:
                    out[g.group_id] = g
            return [out[g] for g in sorted(out)]

        return self._retrying(attempt, "listing groups", timeout_ms)

    def describe_group(self, group_id: str, timeout_ms: float | None = None) -> GroupDescription:
        """State, protocol, members with their assignment, and per partition the committed offset,
        the log end (high watermark) and the lag."""
        def attempt(deadline):
            found = None
            for endpoint in self._metadata.endpoints():
                try:
                    found = self._call(endpoint, FindCoordinator(key=group_id), deadline).endpoint
                    break
                except (BrokerNotAvailable, RequestTimedOut):
                    continue
            if found is None:
                raise BrokerNotAvailable("no broker answered FindCoordinator")
            described = self._call(found, DescribeGroups(group_ids=[group_id]), deadline).groups[0]
            if described.error:
                raise error_for(described.error, f"describing group {group_id!r}")
            fetched = self._call(found, OffsetFetch(group_id=group_id), deadline).offsets
            return described, fetched, deadline

        described, fetched, deadline = self._retrying(attempt, f"describing group {group_id!r}", timeout_ms)
        from wire.client.group import decode_assignment

        members = [GroupMemberDescription(m.member_id, m.group_instance_id, m.client_id, m.client_host,
                                          decode_assignment(m.assignment)) for m in described.members]
        committed = {TopicPartition(o.topic, o.partition): o.offset for o in fetched}
        ends: dict[TopicPartition, int] = {}
        for topic in sorted({tp.topic for tp in committed}):
            self._metadata.refresh([topic])
            info = self._metadata.topics.get(topic)
            if info is not None:
                for p, (_, _, hw) in self._offsets(topic, list(info.partitions.values()), deadline).items():
                    ends[TopicPartition(topic, p)] = hw
        offsets = {tp: GroupOffset(c, ends.get(tp, -1)) for tp, c in sorted(committed.items())}
        return GroupDescription(group_id, described.state, described.protocol_type, described.protocol,
                                described.generation_id, described.leader, members, offsets)

    def _group_coordinator(self, group_id: str, deadline: float) -> str:
        for endpoint in self._metadata.endpoints():
            try:
                return self._call(endpoint, FindCoordinator(key=group_id), deadline).endpoint
            except (BrokerNotAvailable, RequestTimedOut):
                continue
        raise BrokerNotAvailable("no broker answered FindCoordinator")

    def delete_group(self, group_id: str, timeout_ms: float | None = None) -> None:
        """Delete an empty group and its committed offsets (``NonEmptyGroup`` while it has members)."""
        def attempt(deadline):
            response = self._call(self._group_coordinator(group_id, deadline), DeleteGroups(group_ids=[group_id]),
                                  deadline)
            code = response.results.get(group_id, 0)
            if code:
                raise error_for(code, f"deleting group {group_id!r}")

        self._retrying(attempt, f"deleting group {group_id!r}", timeout_ms)

    def alter_group_offsets(self, group_id: str, offsets: dict, timeout_ms: float | None = None) -> None:
        """Set a group's committed offsets ({TopicPartition: next offset to read}), as Kafka's
        alterConsumerGroupOffsets; refused while the group has members (they own their positions)."""
        request = OffsetCommit(group_id=group_id, offsets=[
            CommitOffset(tp.topic, tp.partition, int(o)) for tp, o in sorted(offsets.items())])

        def attempt(deadline):
            request.corr = 0
            try:
                response = self._call(self._group_coordinator(group_id, deadline), request, deadline)
            except UnknownMemberId:
                raise NonEmptyGroup(f"group {group_id!r} has members: stop its consumers first") from None
            failed = [r for r in response.results if r.error]
            if failed:
                raise error_for(failed[0].error, f"committing {failed[0].topic}-{failed[0].partition}")

        self._retrying(attempt, f"altering the offsets of group {group_id!r}", timeout_ms)

    def partition_offsets(self, topic: str, timeout_ms: float | None = None) -> dict[int, tuple[int, int]]:
        """(log start, high watermark) per partition of ``topic``: what a consumer can read."""
        description = self.describe_topic(topic, timeout_ms)
        return {p.partition: (p.log_start_offset, p.high_watermark) for p in description.partitions}

    # -- closing ------------------------------------------------------------------------------------------------
    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._pool.close()

    def __enter__(self) -> "Admin":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _warned(topic: str, response) -> list[str]:
    warnings = list(getattr(response, "warnings", None) or [])
    for warning in warnings:
        log.warning("topic %s: %s", topic, warning)
    return warnings
