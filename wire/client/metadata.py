"""The clients' view of the cluster: which endpoint leads each partition, where the controller is.

Clients bootstrap from any BrokerActor and then talk to partition leaders
directly; a ``NotLeader``, a timeout or a lost connection invalidates the view
and the next refresh asks a broker again. Refreshes back off exponentially while
the answer stays unusable (a leader being elected), so a cluster in failover is
not flooded. When a broker does not answer, the next one is tried: first the
bootstrap list, then every broker a previous answer named, so killing the
bootstrap broker does not cut a running client off.

One instance per client thread; it sends through that thread's ``ConnectionPool``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import msgspec

from wire.client.errors import ClientConfigError
from wire.connections import ConnectionPool
from wire.errors import BrokerNotAvailable, LeaderNotAvailable, NotLeader, ZafkaError, error_for
from wire.metadata import BrokerInfo, Metadata, MetadataResponse, PartitionMetadata, TopicMetadata

DEFAULT_BOOTSTRAP = "tcp://127.0.0.1:9092"


def parse_bootstrap(bootstrap: str | Iterable[str]) -> list[str]:
    """``"tcp://h:1,h:2"`` or a list → endpoints (``tcp://`` added where missing)."""
    items = bootstrap.split(",") if isinstance(bootstrap, str) else list(bootstrap)
    endpoints = []
    for item in items:
        item = str(item).strip()
        if not item:
            continue
        if "://" not in item:
            item = "tcp://" + item
        if item not in endpoints:
            endpoints.append(item)
    if not endpoints:
        raise ClientConfigError(f"bootstrap {bootstrap!r} names no endpoint; use e.g. {DEFAULT_BOOTSTRAP}")
    return endpoints


class TopicInfo:
    __slots__ = ("name", "partitions", "ids", "available")

    def __init__(self, meta: TopicMetadata):
        self.name = meta.name
        self.partitions: dict[int, PartitionMetadata] = {p.partition: p for p in meta.partitions}
        self.ids = sorted(self.partitions)
        self.available = [p for p in self.ids if self.partitions[p].leader_endpoint and not self.partitions[p].error]


class ClusterMetadata:
    def __init__(
        self,
        bootstrap: str | Iterable[str],
        pool: ConnectionPool,
        *,
        timeout_ms: float = 5000,
        retry_backoff_ms: float = 100,
        retry_backoff_max_ms: float = 1000,
        allow_auto_create: bool = False,
        clock=time.monotonic,
    ):
        self.bootstrap = parse_bootstrap(bootstrap)
        self._pool = pool
        self.timeout_ms = timeout_ms
        self._backoff_min = retry_backoff_ms / 1000
        self._backoff_max = max(retry_backoff_max_ms, retry_backoff_ms) / 1000
        self._backoff = self._backoff_min
        self.allow_auto_create = allow_auto_create
        self._clock = clock
        self._next = 0  # index of the endpoint to ask first
        self.topics: dict[str, TopicInfo] = {}
        self.topic_errors: dict[str, ZafkaError] = {}
        self.cluster_id = ""
        self.controller_endpoint = ""
        self.brokers: list[BrokerInfo] = []
        self.stale = True
        self.last_refresh = float("-inf")
        self.last_error: ZafkaError | None = None

    # -- lookups -----------------------------------------------------------------------
    def endpoints(self) -> list[str]:
        """Where to ask: bootstrap endpoints first, then brokers learnt from answers."""
        known = [b.endpoint for b in self.brokers if b.alive and b.endpoint]
        return self.bootstrap + [e for e in known if e not in self.bootstrap]

    def partitions(self, topic: str) -> list[int] | None:
        info = self.topics.get(topic)
        return info.ids if info is not None else None

    def available(self, topic: str) -> list[int]:
        info = self.topics.get(topic)
        return info.available if info is not None else []

    def partition(self, topic: str, partition: int) -> PartitionMetadata | None:
        info = self.topics.get(topic)
        return info.partitions.get(partition) if info is not None else None

    def update_leader(self, topic: str, partition: int, leader: int, epoch: int, endpoint: str) -> bool:
        """A broker named the partition's current leader (KIP-951): use it now if it is news.

        Only a newer epoch than the cached one counts, so a late hint never moves a
        partition back; True when the cache changed.
        """
        info = self.topics.get(topic)
        meta = info.partitions.get(partition) if info is not None else None
        if meta is None or epoch <= meta.leader_epoch or not endpoint:
            return False
        info.partitions[partition] = msgspec.structs.replace(
            meta, leader=leader, leader_epoch=epoch, leader_endpoint=endpoint, error=0,
        )
        if partition not in info.available:
            info.available = sorted([*info.available, partition])
        return True

    def leader_endpoint(self, topic: str, partition: int) -> str | None:
        meta = self.partition(topic, partition)
        if meta is None or meta.error:
            return None
        return meta.leader_endpoint

    # -- staleness and backoff -----------------------------------------------------------
    def request_update(self) -> None:
        """Something was wrong (NotLeader, timeout, no leader): refresh when the backoff allows."""
        self.stale = True

    def due(self) -> bool:
        return self.stale and self._clock() - self.last_refresh >= self._backoff

    def next_due(self) -> float | None:
        """Clock time of the next allowed refresh, or None when nothing is stale."""
        return self.last_refresh + self._backoff if self.stale else None

    def refresh_if_due(self, topics: Iterable[str] | None) -> bool:
        """Refresh when stale and the backoff has passed; errors are kept in ``last_error``."""
        if not self.due():
            return False
        try:
            self.refresh(topics)
        except ZafkaError as exc:
            self.last_error = exc
        return True

    # -- refreshing ------------------------------------------------------------------------
    def refresh(
        self, topics: Iterable[str] | None = None, *, allow_auto_create: bool | None = None
    ) -> MetadataResponse:
        """Ask brokers in turn until one answers; merge its answer into the view.

        ``topics=None`` asks for every topic. Raises ``BrokerNotAvailable`` naming the
        endpoints tried when none answered.
        """
        wanted = None if topics is None else sorted(set(topics))
        auto = self.allow_auto_create if allow_auto_create is None else allow_auto_create
        endpoints = self.endpoints()
        tried = []
        self.last_refresh = self._clock()
        for i in range(len(endpoints)):
            endpoint = endpoints[(self._next + i) % len(endpoints)]
            try:
                response, _ = self._pool.call(
                    endpoint, Metadata(topics=wanted, allow_auto_create=auto), timeout_ms=self.timeout_ms
                )
            except ZafkaError as exc:
                tried.append(f"{endpoint} ({exc})")
                continue
            if response.error:
                tried.append(f"{endpoint} ({error_for(response.error, response.message)})")
                continue
            self._next = (self._next + i) % len(endpoints)
            self._apply(response, wanted)
            return response
        self._next = (self._next + 1) % max(len(endpoints), 1)
        self._grow_backoff()
        error = BrokerNotAvailable(f"no broker answered a metadata request: {'; '.join(tried)}")
        self.last_error = error
        raise error

    def _apply(self, response: MetadataResponse, wanted: list[str] | None) -> None:
        self.cluster_id = response.cluster_id
        self.controller_endpoint = response.controller_endpoint
        if response.brokers:
            self.brokers = list(response.brokers)
        seen = set()
        usable = True
        for meta in response.topics:
            seen.add(meta.name)
            if meta.error:
                self.topics.pop(meta.name, None)
                self.topic_errors[meta.name] = error_for(
                    meta.error, meta.message or f"metadata for topic {meta.name!r}"
                )
                usable = False
                continue
            info = TopicInfo(meta)
            old = self.topics.get(meta.name)
            if old is not None:  # a broker whose image lags never undoes a newer leader learnt from a hint
                for p, known in old.partitions.items():
                    fresh = info.partitions.get(p)
                    if fresh is not None and known.leader_epoch > fresh.leader_epoch and not known.error:
                        info.partitions[p] = known
                info.available = [p for p in info.ids
                                  if info.partitions[p].leader_endpoint and not info.partitions[p].error]
            self.topics[meta.name] = info
            self.topic_errors.pop(meta.name, None)
            if len(info.available) < len(info.ids):
                usable = False
        for name in wanted or ():
            if name not in seen:
                usable = False
                self.topic_errors[name] = LeaderNotAvailable(f"the broker's answer left out topic {name!r}")
        self.last_error = None
        if usable:
            self.stale = False
            self._backoff = self._backoff_min
        else:
            self._grow_backoff()

    def _grow_backoff(self) -> None:
        self._backoff = min(self._backoff * 2, self._backoff_max)

    def forget(self, topic: str) -> None:
        self.topics.pop(topic, None)
        self.topic_errors.pop(topic, None)


def moved_by_hint(metadata: "ClusterMetadata", tp, error: ZafkaError, response) -> bool:
    """KIP-951: a NOT_LEADER reply that names the partition's new leader updates the cache at once;
    True when it did (the caller retries there without backoff or a metadata round trip)."""
    return isinstance(error, NotLeader) and metadata.update_leader(
        *tp, getattr(response, "leader", -1), getattr(response, "leader_epoch", -1),
        getattr(response, "leader_endpoint", ""))
