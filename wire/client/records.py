"""Value types of the client API: what users pass in and get back.

NamedTuples because consumers create hundreds of thousands of records a second:
a tuple is the cheapest object Python builds (the consumer even skips the
NamedTuple ``__new__`` wrapper), and users can still unpack, compare and hash them.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class TopicPartition(NamedTuple):
    topic: str
    partition: int


class RecordMetadata(NamedTuple):
    """Where an acknowledged record landed; ``offset`` is -1 with ``acks=0``."""

    topic: str
    partition: int
    offset: int
    timestamp: int


class ConsumerRecord(NamedTuple):
    topic: str
    partition: int
    offset: int
    key: Any
    value: Any
    headers: list
    timestamp: int


class OffsetAndMetadata(NamedTuple):
    """A committed position: the next offset to read, and the application's note beside it."""

    offset: int
    metadata: str = ""


class ProducerRecord(NamedTuple):
    """A record on its way in, as producer interceptors see (and may replace) it."""

    topic: str
    value: Any = None
    key: Any = None
    partition: int | None = None
    headers: list | None = None
    timestamp_ms: int | None = None
