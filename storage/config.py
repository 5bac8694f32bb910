"""Per-log configuration under Kafka's topic-level key names.

A topic config (``segment.bytes``) beats the broker default (``log.segment.bytes``),
which beats Kafka's built-in default, exactly as in Kafka. Values are validated
here, so a bad one is refused with the key, the value and what is allowed, and the
log it would have configured is not touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .errors import InvalidConfigError
from .retention import resolve_retention_bytes, resolve_retention_ms

GiB = 1 << 30
WEEK_MS = 7 * 24 * 3_600_000
_NEVER = None
CREATE_TIME = "CreateTime"
LOG_APPEND_TIME = "LogAppendTime"
TIMESTAMP_TYPES = (CREATE_TIME, LOG_APPEND_TIME)


@dataclass(frozen=True)
class LogConfig:
    segment_bytes: int = GiB
    segment_ms: int = WEEK_MS
    index_interval_bytes: int = 4096
    flush_messages: int | None = _NEVER  # fsync after this many records (None: page cache)
    flush_ms: int | None = _NEVER  # fsync when this long since the last (None: page cache)
    retention_ms: int = WEEK_MS
    retention_bytes: int = -1
    max_message_bytes: int = 1_048_588
    message_timestamp_type: str = CREATE_TIME  # or LOG_APPEND_TIME: the leader stamps its clock

    # topic key -> (attribute, broker keys in precedence order, minimum)
    KEYS = {
        "segment.bytes": ("segment_bytes", ("log.segment.bytes",), 14),
        "segment.ms": ("segment_ms", ("log.roll.ms", "log.roll.hours"), 1),
        "index.interval.bytes": ("index_interval_bytes", ("log.index.interval.bytes",), 0),
        "flush.messages": ("flush_messages", ("log.flush.interval.messages",), 1),
        "flush.ms": ("flush_ms", ("log.flush.interval.ms",), 0),
        "max.message.bytes": ("max_message_bytes", ("message.max.bytes",), 0),
    }

    @classmethod
    def from_configs(
        cls, topic: Mapping[str, object] | None = None, broker: Mapping[str, object] | None = None
    ) -> "LogConfig":
        topic, broker = dict(topic or {}), dict(broker or {})
        values: dict[str, object] = {}
        for key, (attr, broker_keys, minimum) in cls.KEYS.items():
            for k in (key, *broker_keys):
                source = topic if k == key else broker
                if k in source and source[k] is not None:
                    value = _parse_int(k, source[k], minimum)
                    if k == "log.roll.hours":
                        value *= 3_600_000
                    values[attr] = value
                    break
        values["retention_ms"] = resolve_retention_ms(broker, topic)
        values["retention_bytes"] = resolve_retention_bytes(broker, topic)
        values["message_timestamp_type"] = _timestamp_type(topic, broker)
        return cls(**values)

    def with_overrides(self, topic: Mapping[str, object]) -> "LogConfig":
        """This config with a topic's changed keys applied (run-time ``configs set``)."""
        base = {k: str(v) for k, v in self.as_topic_configs().items() if v is not None}
        base.update(topic)
        return LogConfig.from_configs(base)

    def as_topic_configs(self) -> dict[str, object]:
        out = {key: getattr(self, attr) for key, (attr, _, _) in self.KEYS.items()}
        out["retention.ms"] = self.retention_ms
        out["retention.bytes"] = self.retention_bytes
        out["message.timestamp.type"] = self.message_timestamp_type
        return out


def _timestamp_type(topic: Mapping[str, object], broker: Mapping[str, object]) -> str:
    """``message.timestamp.type`` beats ``log.message.timestamp.type`` beats CreateTime."""
    for key, source in (("message.timestamp.type", topic), ("log.message.timestamp.type", broker)):
        raw = source.get(key)
        if raw is None:
            continue
        value = str(raw).strip()
        if value not in TIMESTAMP_TYPES:
            raise InvalidConfigError(key, raw, " or ".join(TIMESTAMP_TYPES))
        return value
    return CREATE_TIME


def _parse_int(key: str, raw: object, minimum: int) -> int:
    try:
        value = raw if isinstance(raw, int) and not isinstance(raw, bool) else int(str(raw).strip())
    except ValueError:
        raise InvalidConfigError(key, raw, "an integer") from None
    if value < minimum:
        raise InvalidConfigError(key, raw, f"at least {minimum}")
    return value



