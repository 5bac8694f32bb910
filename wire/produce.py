"""Produce: record batches to a partition leader.

The batches travel as separate raw frames after the header (sent with
``copy=False``), exactly the bytes the producer built; the leader stores them as
they come.
"""

from __future__ import annotations

from typing import ClassVar

import msgspec

from .base import Request, Response


class Produce(Request, tag="produce"):
    payload_frames: ClassVar[int] = 1  # one frame of whole record batches

    topic: str
    partition: int
    acks: int = 1  # 0: no reply, 1: leader wrote it, -1: all in-sync replicas
    timeout_ms: int = 30_000


class ProduceResponse(Response, tag="produce_r"):
    base_offset: int = -1
    log_start_offset: int = -1
    log_append_time: int = -1
    # set when the request held batches already stored (an idempotent producer's retry): the base
    # offset of each batch of the request in order, the stored ones where they were stored
    batch_offsets: list[int] = []


class InitProducerId(Request, tag="init_producer_id"):
    """An idempotent producer asks any broker for its producer id and epoch (Kafka's InitProducerId).

    ``transactional_id`` is refused: transactions are not built yet.
    """

    transactional_id: str | None = None
    transaction_timeout_ms: int = 60_000


class InitProducerIdResponse(Response, tag="init_producer_id_r"):
    producer_id: int = -1
    producer_epoch: int = -1


class DescribeProducers(Request, tag="describe_producers"):
    """The idempotent producers a partition's leader knows (Kafka's DescribeProducers, KIP-664)."""

    topic: str
    partition: int


class ProducerState(msgspec.Struct, omit_defaults=True):
    producer_id: int
    producer_epoch: int
    last_sequence: int
    last_timestamp: int  # the max timestamp of its last batch (what producer.id.expiration.ms counts from)
    last_offset: int = -1  # where its last batch ends (zafka's own field)


class DescribeProducersResponse(Response, tag="describe_producers_r"):
    producers: list[ProducerState] = []
