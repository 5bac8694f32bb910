"""Fetch and ListOffsets: reading a partition.

A fetch is a long poll: the leader answers once ``min_bytes`` are available or
``max_wait_ms`` has passed. The records come back as one raw frame of whole
batches (possibly with a partial trailing batch cut by ``max_bytes``, which the
reader skips, as in Kafka).
"""

from __future__ import annotations

from .base import Request, Response

EARLIEST = -2
LATEST = -1


class Fetch(Request, tag="fetch"):
    topic: str
    partition: int
    offset: int
    max_bytes: int = 1 << 20
    max_wait_ms: int = 500
    min_bytes: int = 1
    replica_id: int = -1  # -1 for consumers; a broker id for followers
    leader_epoch: int = -1  # the fetcher's view of the leader epoch (-1: unknown)


class FetchResponse(Response, tag="fetch_r"):
    high_watermark: int = -1
    log_start_offset: int = -1
    log_end_offset: int = -1
    leader_epoch: int = -1  # the answering leader's epoch


class EpochEndOffset(Request, tag="epoch_end_offset"):
    """Kafka's OffsetsForLeaderEpoch: where does ``leader_epoch`` end in the leader's log (KIP-101/279)."""

    topic: str
    partition: int
    leader_epoch: int  # the follower's latest epoch
    current_leader_epoch: int = -1  # the follower's view of the leader's epoch (fencing)


class EpochEndOffsetResponse(Response, tag="epoch_end_offset_r"):
    leader_epoch: int = -1  # the largest epoch <= the one asked about that the leader holds (-1: none)
    end_offset: int = -1
    log_start_offset: int = -1


class ListOffsets(Request, tag="list_offsets"):
    topic: str
    partition: int
    timestamp: int = LATEST  # EARLIEST, LATEST or a timestamp in ms


class ListOffsetsResponse(Response, tag="list_offsets_r"):
    offset: int = -1
    timestamp: int = -1
    log_start_offset: int = -1
    log_end_offset: int = -1
    high_watermark: int = -1
