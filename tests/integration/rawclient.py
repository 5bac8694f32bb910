"""A minimal client over raw wire messages, for tests that must not depend on wire.Producer.

Process-level tests (kills, restarts, recovery) check the cluster with the least
code between them and the sockets, so a client bug cannot hide or fake a loss.
"""

from __future__ import annotations

import time

from storage import build_batch, iter_batches
from wire import errors
from wire.admin import CreateTopic
from wire.fetch import EARLIEST, Fetch, ListOffsets
from wire.metadata import Metadata
from wire.produce import Produce
from wire.transport import Connection

from .conftest import wait_for


def metadata(bootstrap: str, topics=None, auto_create: bool = False):
    with Connection(bootstrap) as conn:
        response, _ = conn.call(Metadata(topics=topics, allow_auto_create=auto_create), timeout_ms=2000)
    return response


def create_topic(bootstrap: str, name: str, partitions: int = 1, rf: int = 1, configs=None) -> None:
    controller = metadata(bootstrap).controller_endpoint
    with Connection(controller) as conn:
        conn.call(CreateTopic(name=name, partitions=partitions, replication_factor=rf, configs=configs or {}))
    wait_for(lambda: leaders(bootstrap, name), what=f"leaders of {name}")


def leaders(bootstrap: str, topic: str) -> dict[int, str] | None:
    """partition -> leader endpoint, or None while any partition has no ready leader."""
    md = metadata(bootstrap, [topic])
    parts = md.topics[0].partitions
    if md.topics[0].error or not parts or any(p.error or not p.leader_endpoint for p in parts):
        return None
    return {p.partition: p.leader_endpoint for p in parts}


def produce(bootstrap: str, topic: str, partition: int, values: list[bytes], *, acks: int = 1, timeout: float = 20.0, compression="none") -> int:
    """Send one batch and return its base offset once acknowledged; retries retriable errors."""
    batch = build_batch(values, compression)
    deadline = time.monotonic() + timeout
    while True:
        try:
            endpoint = (leaders(bootstrap, topic) or {}).get(partition)
            if endpoint:
                with Connection(endpoint) as conn:
                    response, _ = conn.call(Produce(topic=topic, partition=partition, acks=acks), [batch], timeout_ms=1000)
                return response.base_offset
        except errors.ZafkaError as exc:
            if not exc.retriable or time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise TimeoutError(f"could not produce to {topic}-{partition}")
        time.sleep(0.05)


def read_partition(bootstrap: str, topic: str, partition: int, timeout: float = 20.0) -> list[tuple[int, bytes]]:
    """Every record of a partition, from its log start to its high watermark."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            endpoint = (leaders(bootstrap, topic) or {}).get(partition)
            if endpoint:
                return _read_all(endpoint, topic, partition)
        except errors.ZafkaError as exc:
            if not exc.retriable or time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise TimeoutError(f"could not read {topic}-{partition}")
        time.sleep(0.05)


def _read_all(endpoint: str, topic: str, partition: int) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    with Connection(endpoint) as conn:
        earliest, _ = conn.call(ListOffsets(topic=topic, partition=partition, timestamp=EARLIEST), timeout_ms=2000)
        offset = earliest.offset
        while True:
            response, frames = conn.call(
                Fetch(topic=topic, partition=partition, offset=offset, max_wait_ms=0), timeout_ms=2000
            )
            batches = list(iter_batches(frames[0].buffer)) if frames else []
            for batch in batches:
                out += [(r.offset, r.value) for r in batch.records() if r.offset >= offset]
            if not batches or batches[-1].next_offset >= response.high_watermark:
                return out
            offset = batches[-1].next_offset
