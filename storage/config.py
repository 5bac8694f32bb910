"""Per-log configuration under Kafka's topic-level key names.

A topic config (``segment.bytes``) beats the broker default (``log.segment.bytes``),
which beats Kafka's built-in default, exactly as in Kafka. Values are validated
here, so a bad one is refused with the key, the value and what is allowed, and the
log it would have configured is not touched.

Which broker key supplies which topic key's default is written once, in
:data:`TOPIC_DEFAULTS_FROM_BROKER`, and lives here because storage imports nothing
of the rest of zafka while everything else imports storage: this log config, the
retention rules in :mod:`storage.retention` and the broker's own config (``zafka
configs describe``, the typed broker config) all read the same map, so they cannot
disagree about, say, whether ``log.retention.minutes`` beats ``log.retention.hours``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .errors import InvalidConfigError

GiB = 1 << 30
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
WEEK_MS = 7 * 24 * HOUR_MS
_NEVER = None
LONG_MAX = 2**63 - 1
CREATE_TIME = "CreateTime"
LOG_APPEND_TIME = "LogAppendTime"
TIMESTAMP_TYPES = (CREATE_TIME, LOG_APPEND_TIME)
CLEANUP_POLICIES = ("compact", "delete")

#: Topic key -> the broker keys that supply its default, highest precedence first.
#: The first one set wins; a topic's own value beats them all.
TOPIC_DEFAULTS_FROM_BROKER: dict[str, tuple[str, ...]] = {
    "segment.bytes": ("log.segment.bytes",),
    "segment.ms": ("log.roll.ms", "log.roll.hours"),
    "retention.ms": ("log.retention.ms", "log.retention.minutes", "log.retention.hours"),
    "retention.bytes": ("log.retention.bytes",),
    "index.interval.bytes": ("log.index.interval.bytes",),
    "flush.messages": ("log.flush.interval.messages",),
    "flush.ms": ("log.flush.interval.ms",),
    "max.message.bytes": ("message.max.bytes",),
    "message.timestamp.type": ("log.message.timestamp.type",),
    "min.insync.replicas": ("min.insync.replicas",),
    "compression.type": ("compression.type",),
    "unclean.leader.election.enable": ("unclean.leader.election.enable",),
    "cleanup.policy": ("log.cleanup.policy",),
    "delete.retention.ms": ("log.cleaner.delete.retention.ms",),
    "min.cleanable.dirty.ratio": ("log.cleaner.min.cleanable.ratio",),
    "min.compaction.lag.ms": ("log.cleaner.min.compaction.lag.ms",),
    "max.compaction.lag.ms": ("log.cleaner.max.compaction.lag.ms",),
}

#: Broker keys counted in a coarser unit than the topic key they feed: value x factor.
#: Negative values are sentinels (-1: unlimited), never scaled: -1 hours is still -1.
BROKER_KEY_SCALE: dict[str, int] = {
    "log.roll.hours": HOUR_MS,
    "log.retention.minutes": MINUTE_MS,
    "log.retention.hours": HOUR_MS,
}

Parse = Callable[[str, object], object]


def topic_over_broker(
    topic_key: str, topic: Mapping[str, object], broker: Mapping[str, object], parse: Parse
) -> object | None:
    """The value in force for ``topic_key``, in its unit, or ``None`` when nobody sets it.

    ``parse(key, raw)`` validates the one value that wins and is given the key it
    came from, so an error names the key the user actually wrote. Values that lose
    are not parsed at all, as in Kafka: a bad ``log.retention.hours`` does no harm
    while ``log.retention.ms`` is set. ``None`` counts as unset.
    """
    candidates = [(topic_key, topic), *((key, broker) for key in TOPIC_DEFAULTS_FROM_BROKER.get(topic_key, ()))]
    for key, source in candidates:
        raw = source.get(key)
        if raw is None:
            continue
        value = parse(key, raw)
        scale = BROKER_KEY_SCALE.get(key)
        return value * scale if scale is not None and value >= 0 else value
    return None


def _at_least(minimum: int) -> Parse:
    def parse(key: str, raw: object) -> int:
        try:
            value = raw if isinstance(raw, int) and not isinstance(raw, bool) else int(str(raw).strip())
        except ValueError:
            raise InvalidConfigError(key, raw, "an integer") from None
        if value < minimum:
            raise InvalidConfigError(key, raw, f"at least {minimum}")
        return value

    return parse


def parse_retention_limit(key: str, raw: object) -> int:
    """A ``retention.*`` value: milliseconds or bytes, ``-1`` for unlimited."""
    try:
        if isinstance(raw, bool):
            raise ValueError("a boolean is not a number of milliseconds")
        value = raw if isinstance(raw, int) else int(str(raw).strip())
    except ValueError:
        raise InvalidConfigError(key, raw, "an integer (milliseconds, -1 for unlimited)") from None
    if value < -1:
        raise InvalidConfigError(key, raw, "must be -1 (unlimited) or at least 0")
    return value


def _cleanup_policy(key: str, raw: object) -> tuple[str, ...]:
    """``cleanup.policy``: ``delete``, ``compact`` or both, comma-separated (a list, as in Kafka)."""
    items = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
    policies = tuple(p for p in (str(i).strip().lower() for i in items) if p)
    if not policies or not set(policies) <= set(CLEANUP_POLICIES):
        raise InvalidConfigError(key, raw, "a comma-separated list of compact and delete")
    return policies


def _ratio(key: str, raw: object) -> float:
    """``min.cleanable.dirty.ratio``: a number from 0 to 1."""
    try:
        if isinstance(raw, bool):
            raise ValueError("a boolean is not a ratio")
        value = float(raw) if isinstance(raw, int | float) else float(str(raw).strip())
    except ValueError:
        raise InvalidConfigError(key, raw, "a number from 0 to 1") from None
    if not 0 <= value <= 1:  # also refuses nan
        raise InvalidConfigError(key, raw, "a number from 0 to 1")
    return value


def _timestamp_type(key: str, raw: object) -> str:
    value = str(raw).strip()
    if value not in TIMESTAMP_TYPES:
        raise InvalidConfigError(key, raw, " or ".join(TIMESTAMP_TYPES))
    return value


# Kafka's minimums: segment.bytes >= 14 (LegacyRecord.RECORD_OVERHEAD_V0), segment.ms >= 1.
_INT_MINIMUMS = {
    "segment.bytes": 14,
    "segment.ms": 1,
    "index.interval.bytes": 0,
    "flush.messages": 1,
    "flush.ms": 0,
    "max.message.bytes": 0,
    "delete.retention.ms": 0,
    "min.compaction.lag.ms": 0,
    "max.compaction.lag.ms": 1,
}

# topic key -> how its value is checked; in the order values are checked, so the
# first bad one is the one reported. Each attribute is the key with "." -> "_".
_PARSERS: dict[str, Parse] = {
    **{key: _at_least(minimum) for key, minimum in _INT_MINIMUMS.items()},
    "retention.ms": parse_retention_limit,
    "retention.bytes": parse_retention_limit,
    "message.timestamp.type": _timestamp_type,
    "cleanup.policy": _cleanup_policy,
    "min.cleanable.dirty.ratio": _ratio,
}


def format_value(value: object) -> str:
    """A typed value back as a config string: lists comma-separated (``compact,delete``)."""
    return ",".join(value) if isinstance(value, tuple) else str(value)


def _attribute(topic_key: str) -> str:
    return topic_key.replace(".", "_")


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
    # compaction (storage.compaction reads these through compaction_config)
    cleanup_policy: tuple[str, ...] = ("delete",)  # "delete", "compact", or both
    delete_retention_ms: int = 86_400_000
    min_cleanable_dirty_ratio: float = 0.5
    min_compaction_lag_ms: int = 0
    max_compaction_lag_ms: int = LONG_MAX

    @property
    def compacted(self) -> bool:
        """The topic's policy includes compact: every record needs a key (Kafka's ``LogConfig.compact``)."""
        return "compact" in self.cleanup_policy

    # integer topic key -> (attribute, broker keys in precedence order, minimum); a
    # view of TOPIC_DEFAULTS_FROM_BROKER kept for callers that list the integer keys
    KEYS = {
        key: (_attribute(key), TOPIC_DEFAULTS_FROM_BROKER[key], minimum) for key, minimum in _INT_MINIMUMS.items()
    }

    @classmethod
    def from_configs(
        cls, topic: Mapping[str, object] | None = None, broker: Mapping[str, object] | None = None
    ) -> "LogConfig":
        topic, broker = dict(topic or {}), dict(broker or {})
        values: dict[str, object] = {}
        for key, parse in _PARSERS.items():
            value = topic_over_broker(key, topic, broker, parse)
            if value is not None:
                values[_attribute(key)] = value
        return cls(**values)

    def with_overrides(self, topic: Mapping[str, object]) -> "LogConfig":
        """This config with a topic's changed keys applied (run-time ``configs set``)."""
        base = {k: format_value(v) for k, v in self.as_topic_configs().items() if v is not None}
        base.update(topic)
        return LogConfig.from_configs(base)

    def as_topic_configs(self) -> dict[str, object]:
        return {key: getattr(self, _attribute(key)) for key in _PARSERS}
