"""Retention decisions as pure functions: which closed segments are past their time.

Kafka's rules, kept free of files so they are tested in microseconds:

* By time: a segment expires when ``now - largest timestamp > retention.ms``. Only
  a prefix of the log is deleted — the scan stops at the first segment that is
  still wanted — so the log never gets holes.
* By size: while the log is larger than ``retention.bytes``, the oldest segments go
  as long as the log stays at or above the limit after each deletion.
* ``-1`` means unlimited for either rule. The active segment is never returned.
* Broker-wide precedence: ``log.retention.ms`` > ``log.retention.minutes`` >
  ``log.retention.hours``; a topic's own ``retention.ms`` beats all three. The chain
  is not written here but read from :data:`storage.config.TOPIC_DEFAULTS_FROM_BROKER`,
  the one map every reader of topic-over-broker precedence shares.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .config import HOUR_MS, parse_retention_limit, topic_over_broker

DEFAULT_RETENTION_HOURS = 168
UNLIMITED = -1


@dataclass(frozen=True)
class SegmentFacts:
    base_offset: int
    size_bytes: int
    largest_timestamp_ms: int  # largest record timestamp (file mtime if none)


def resolve_retention_ms(broker: Mapping[str, object], topic: Mapping[str, object] | None = None) -> int:
    """Effective ``retention.ms``: topic override, then the broker's precedence chain."""
    value = topic_over_broker("retention.ms", topic or {}, broker, parse_retention_limit)
    return DEFAULT_RETENTION_HOURS * HOUR_MS if value is None else value


def resolve_retention_bytes(broker: Mapping[str, object], topic: Mapping[str, object] | None = None) -> int:
    value = topic_over_broker("retention.bytes", topic or {}, broker, parse_retention_limit)
    return UNLIMITED if value is None else value


def expired_by_time(segments: Sequence[SegmentFacts], now_ms: int, retention_ms: int) -> int:
    """How many leading segments have outlived ``retention_ms``."""
    if retention_ms < 0:
        return 0
    count = 0
    for seg in segments:
        if now_ms - seg.largest_timestamp_ms <= retention_ms:
            break
        count += 1
    return count


def expired_by_size(segments: Sequence[SegmentFacts], total_bytes: int, retention_bytes: int) -> int:
    """How many leading segments can go with the log staying at or above ``retention_bytes``."""
    if retention_bytes < 0:
        return 0
    excess = total_bytes - retention_bytes
    count = 0
    for seg in segments:
        if excess - seg.size_bytes < 0:
            break
        excess -= seg.size_bytes
        count += 1
    return count


def segments_to_delete(
    segments: Sequence[SegmentFacts], *, now_ms: int, retention_ms: int, retention_bytes: int
) -> list[int]:
    """Base offsets of the segments to delete, oldest first; ``segments`` ends with the active one.

    The active (last) segment is never among them; its bytes still count towards
    the size limit.
    """
    if len(segments) <= 1:
        return []
    closed = segments[:-1]
    total = sum(s.size_bytes for s in segments)
    count = max(expired_by_time(closed, now_ms, retention_ms), expired_by_size(closed, total, retention_bytes))
    return [s.base_offset for s in closed[:count]]
