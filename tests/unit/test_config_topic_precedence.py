"""Topic-over-broker precedence is one map, and everyone who applies it agrees.

The map (``storage.config.TOPIC_DEFAULTS_FROM_BROKER``) is written out here by
hand, Kafka's rules; then the log config a leader runs with, the broker's own
resolved figures, storage's retention resolution and what ``configs describe``
shows are checked to follow it, for every topic key that has a broker default.
"""

from __future__ import annotations

import pytest

from actors.config import BROKER_CONFIG_KEYS, TOPIC_CONFIG_KEYS, BrokerConfig, effective_topic_configs
from storage.config import BROKER_KEY_SCALE, TOPIC_DEFAULTS_FROM_BROKER, LogConfig, format_value
from storage.retention import resolve_retention_bytes, resolve_retention_ms

KAFKA_PRECEDENCE = {
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
KAFKA_SCALES = {"log.roll.hours": 3_600_000, "log.retention.minutes": 60_000, "log.retention.hours": 3_600_000}


def test_the_map_is_kafkas():
    assert TOPIC_DEFAULTS_FROM_BROKER == KAFKA_PRECEDENCE
    assert BROKER_KEY_SCALE == KAFKA_SCALES


def test_the_map_names_known_keys_and_every_topic_key_has_a_broker_default():
    assert set(TOPIC_DEFAULTS_FROM_BROKER) == set(TOPIC_CONFIG_KEYS)
    for broker_keys in TOPIC_DEFAULTS_FROM_BROKER.values():
        assert set(broker_keys) <= set(BROKER_CONFIG_KEYS)
    assert set(BROKER_KEY_SCALE) <= {k for keys in TOPIC_DEFAULTS_FROM_BROKER.values() for k in keys}


@pytest.mark.parametrize("topic_key", list(TOPIC_DEFAULTS_FROM_BROKER))
def test_a_topic_keys_default_is_what_its_broker_keys_default_to(topic_key):
    """describe shows the topic default when no broker key is set; that must be the broker's default too."""
    defaults = [(key, BROKER_CONFIG_KEYS[key].default) for key in TOPIC_DEFAULTS_FROM_BROKER[topic_key]]
    key, default = next(((k, d) for k, d in defaults if d is not None), (None, None))
    if key in BROKER_KEY_SCALE:
        default *= BROKER_KEY_SCALE[key]
    assert TOPIC_CONFIG_KEYS[topic_key].default == default


# broker properties -> the value each topic key takes from them, worked out by hand
CASES = [
    ({}, {"retention.ms": "604800000", "segment.ms": "604800000", "segment.bytes": "1073741824"}),
    ({"log.retention.hours": "2", "log.retention.minutes": "3"}, {"retention.ms": "180000"}),
    ({"log.retention.hours": "-1"}, {"retention.ms": "-1"}),
    ({"log.roll.hours": "2"}, {"segment.ms": "7200000"}),
    ({"log.roll.hours": "2", "log.roll.ms": "500"}, {"segment.ms": "500"}),
    ({"log.retention.bytes": "1000", "log.segment.bytes": "2048"},
     {"retention.bytes": "1000", "segment.bytes": "2048"}),
    ({"message.max.bytes": "1000", "log.index.interval.bytes": "10"}, {"max.message.bytes": "1000",
                                                                     "index.interval.bytes": "10"}),
    ({"log.flush.interval.messages": "5", "log.flush.interval.ms": "0"}, {"flush.messages": "5", "flush.ms": "0"}),
    ({"log.message.timestamp.type": "LogAppendTime"}, {"message.timestamp.type": "LogAppendTime"}),
    ({"min.insync.replicas": "2", "compression.type": "lz4", "unclean.leader.election.enable": "true"},
     {"min.insync.replicas": "2", "compression.type": "lz4", "unclean.leader.election.enable": "true"}),
    ({"log.cleanup.policy": "compact,delete", "log.cleaner.delete.retention.ms": "1000",
      "log.cleaner.min.cleanable.ratio": "0.01", "log.cleaner.min.compaction.lag.ms": "5",
      "log.cleaner.max.compaction.lag.ms": "60000"},
     {"cleanup.policy": "compact,delete", "delete.retention.ms": "1000", "min.cleanable.dirty.ratio": "0.01",
      "min.compaction.lag.ms": "5", "max.compaction.lag.ms": "60000"}),
]


@pytest.mark.parametrize("props, expected", CASES)
def test_describe_shows_the_broker_value_for_every_topic_key_without_an_override(props, expected):
    cfg = BrokerConfig.from_properties(props)[0]
    shown = effective_topic_configs(cfg, {})
    assert {k: shown.get(k) for k in expected} == expected
    assert effective_topic_configs(cfg.properties, {}) == shown  # the properties it was built from: the same


@pytest.mark.parametrize("props, expected", CASES)
def test_the_log_a_leader_runs_with_agrees_with_what_describe_shows(props, expected):
    cfg = BrokerConfig.from_properties(props)[0]
    shown = effective_topic_configs(cfg, {})
    log = {k: v for k, v in cfg.log_config_for({}).as_topic_configs().items() if v is not None}
    assert {k: format_value(v) for k, v in log.items()} == {k: shown[k] for k in log}
    assert str(cfg.log_retention_ms) == shown["retention.ms"] and str(cfg.log_roll_ms) == shown["segment.ms"]
    assert resolve_retention_ms(cfg.properties) == log["retention.ms"]
    assert resolve_retention_bytes(cfg.properties) == log["retention.bytes"]


def test_an_override_beats_the_broker_in_describe_and_in_the_log_alike():
    cfg = BrokerConfig.from_properties({"log.retention.hours": "1", "min.insync.replicas": "2"})[0]
    overrides = {"retention.ms": "5000", "min.insync.replicas": "3"}
    shown = effective_topic_configs(cfg, overrides)
    assert (shown["retention.ms"], shown["min.insync.replicas"]) == ("5000", "3")
    assert cfg.log_config_for(overrides).retention_ms == 5000


def test_a_losing_broker_value_is_not_looked_at_as_in_kafka():
    """With log.retention.ms set, a bad log.retention.hours in a hand-built mapping does no harm."""
    assert LogConfig.from_configs({}, {"log.retention.ms": "10", "log.retention.hours": "soon"}).retention_ms == 10
    assert resolve_retention_ms({"log.retention.ms": "10", "log.retention.hours": "soon"}) == 10
