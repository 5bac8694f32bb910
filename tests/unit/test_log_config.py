"""Unit tests of storage.config.LogConfig: Kafka's defaults, key precedence, validation.

Expected values are Kafka's documented defaults and minimums, written out here
(org.apache.kafka.storage.internals.log.LogConfig / TopicConfig), not read back
from the code under test.
"""

from __future__ import annotations

import dataclasses

import pytest

from storage.config import LogConfig
from storage.errors import InvalidConfigError

KAFKA_DEFAULTS = {
    "segment_bytes": 1024 * 1024 * 1024,  # segment.bytes = 1 GiB
    "segment_ms": 7 * 24 * 60 * 60 * 1000,  # segment.ms = 7 days (log.roll.hours=168)
    "index_interval_bytes": 4096,
    "retention_ms": 604_800_000,  # log.retention.hours=168
    "retention_bytes": -1,
    "max_message_bytes": 1_048_588,  # 1 MiB + record batch overhead
    "flush_messages": None,  # None: never force an fsync, rely on the page cache
    "flush_ms": None,
    "message_timestamp_type": "CreateTime",  # log.message.timestamp.type
    "cleanup_policy": ("delete",),  # cleanup.policy = delete
    "delete_retention_ms": 86_400_000,  # delete.retention.ms = 1 day
    "min_cleanable_dirty_ratio": 0.5,
    "min_compaction_lag_ms": 0,
    "max_compaction_lag_ms": 2**63 - 1,  # Long.MAX_VALUE
}


def as_dict(cfg: LogConfig) -> dict:
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}


# -- defaults -----------------------------------------------------------------------


def test_from_configs_without_any_config_has_kafkas_defaults():
    assert as_dict(LogConfig.from_configs()) == KAFKA_DEFAULTS
    assert as_dict(LogConfig.from_configs({}, {})) == KAFKA_DEFAULTS
    assert as_dict(LogConfig.from_configs(None, None)) == KAFKA_DEFAULTS


def test_plain_constructor_has_kafkas_defaults():
    assert as_dict(LogConfig()) == KAFKA_DEFAULTS


def test_defaults_do_not_flush_so_durability_relies_on_the_page_cache():
    cfg = LogConfig.from_configs()
    assert cfg.flush_messages is None
    assert cfg.flush_ms is None


# -- precedence ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "topic_key, broker_key, attr, topic_value, broker_value",
    [
        ("segment.bytes", "log.segment.bytes", "segment_bytes", 2048, 4096),
        ("segment.ms", "log.roll.ms", "segment_ms", 1000, 2000),
        ("index.interval.bytes", "log.index.interval.bytes", "index_interval_bytes", 100, 200),
        ("max.message.bytes", "message.max.bytes", "max_message_bytes", 5000, 6000),
        ("flush.messages", "log.flush.interval.messages", "flush_messages", 10, 20),
        ("flush.ms", "log.flush.interval.ms", "flush_ms", 300, 400),
        ("retention.ms", "log.retention.ms", "retention_ms", 700, 800),
        ("retention.bytes", "log.retention.bytes", "retention_bytes", 900, 1000),
    ],
)
def test_topic_key_beats_broker_key_and_broker_key_beats_default(topic_key, broker_key, attr, topic_value, broker_value):
    both = LogConfig.from_configs({topic_key: str(topic_value)}, {broker_key: str(broker_value)})
    assert getattr(both, attr) == topic_value
    broker_only = LogConfig.from_configs({}, {broker_key: str(broker_value)})
    assert getattr(broker_only, attr) == broker_value
    # no other attribute moves
    others = {k: v for k, v in as_dict(broker_only).items() if k != attr}
    assert others == {k: v for k, v in KAFKA_DEFAULTS.items() if k != attr}


def test_segment_ms_beats_log_roll_ms_beats_log_roll_hours():
    broker = {"log.roll.ms": "5000", "log.roll.hours": "2"}
    assert LogConfig.from_configs({"segment.ms": "100"}, broker).segment_ms == 100
    assert LogConfig.from_configs({}, broker).segment_ms == 5000
    assert LogConfig.from_configs({}, {"log.roll.hours": "2"}).segment_ms == 2 * 3_600_000


def test_retention_hours_minutes_chain_feeds_the_config():
    assert LogConfig.from_configs({}, {"log.retention.hours": "1"}).retention_ms == 3_600_000
    assert LogConfig.from_configs({}, {"log.retention.minutes": "3", "log.retention.hours": "1"}).retention_ms == 180_000
    assert LogConfig.from_configs({"retention.ms": "-1"}, {"log.retention.hours": "1"}).retention_ms == -1


def test_broker_style_key_in_topic_mapping_is_not_a_topic_override():
    # "log.segment.bytes" is a broker key; as a topic key it means nothing
    cfg = LogConfig.from_configs({"log.segment.bytes": "2048"})
    assert cfg.segment_bytes == KAFKA_DEFAULTS["segment_bytes"]


def test_values_may_be_ints_or_strings_with_whitespace():
    cfg = LogConfig.from_configs({"segment.bytes": 4096, "segment.ms": " 60000 ", "flush.messages": "1\n"})
    assert (cfg.segment_bytes, cfg.segment_ms, cfg.flush_messages) == (4096, 60_000, 1)


def test_none_value_means_unset():
    cfg = LogConfig.from_configs({"segment.bytes": None}, {"log.segment.bytes": "2048"})
    assert cfg.segment_bytes == 2048


# -- validation ---------------------------------------------------------------------

# Kafka's minimums: segment.bytes >= 14 (LegacyRecord.RECORD_OVERHEAD_V0),
# segment.ms >= 1, index.interval.bytes >= 0, flush.messages >= 1, flush.ms >= 0,
# max.message.bytes >= 0.
MINIMUMS = [
    ("segment.bytes", 14),
    ("log.segment.bytes", 14),
    ("segment.ms", 1),
    ("log.roll.ms", 1),
    ("log.roll.hours", 1),
    ("index.interval.bytes", 0),
    ("log.index.interval.bytes", 0),
    ("flush.messages", 1),
    ("log.flush.interval.messages", 1),
    ("flush.ms", 0),
    ("log.flush.interval.ms", 0),
    ("max.message.bytes", 0),
    ("message.max.bytes", 0),
]


def _configs_for(key: str, value) -> tuple[dict, dict]:
    topic_keys = set(LogConfig.KEYS) | {"retention.ms", "retention.bytes"}
    return ({key: value}, {}) if key in topic_keys else ({}, {key: value})


# key -> (LogConfig attribute, the value it takes from the key's minimum), written out
# here: log.roll.hours counts hours, so its minimum of 1 is 3 600 000 ms of segment.ms.
APPLIED_MINIMUMS = {
    "segment.bytes": ("segment_bytes", 14),
    "log.segment.bytes": ("segment_bytes", 14),
    "segment.ms": ("segment_ms", 1),
    "log.roll.ms": ("segment_ms", 1),
    "log.roll.hours": ("segment_ms", 3_600_000),
    "index.interval.bytes": ("index_interval_bytes", 0),
    "log.index.interval.bytes": ("index_interval_bytes", 0),
    "flush.messages": ("flush_messages", 1),
    "log.flush.interval.messages": ("flush_messages", 1),
    "flush.ms": ("flush_ms", 0),
    "log.flush.interval.ms": ("flush_ms", 0),
    "max.message.bytes": ("max_message_bytes", 0),
    "message.max.bytes": ("max_message_bytes", 0),
}


def test_every_minimum_has_an_expected_applied_value():
    assert sorted(APPLIED_MINIMUMS) == sorted(k for k, _ in MINIMUMS)


@pytest.mark.parametrize("key, minimum", MINIMUMS)
def test_value_at_minimum_is_accepted(key, minimum):
    attr, expected = APPLIED_MINIMUMS[key]
    cfg = LogConfig.from_configs(*_configs_for(key, str(minimum)))
    assert getattr(cfg, attr) == expected
    assert expected != KAFKA_DEFAULTS[attr]  # the check can tell "applied" from "ignored"
    # nothing else moves
    defaults = as_dict(LogConfig.from_configs())
    assert {k: v for k, v in as_dict(cfg).items() if k != attr} == {k: v for k, v in defaults.items() if k != attr}


@pytest.mark.parametrize("key, minimum", MINIMUMS)
def test_value_below_minimum_raises_naming_key_and_value(key, minimum):
    bad = str(minimum - 1)
    with pytest.raises(InvalidConfigError) as info:
        LogConfig.from_configs(*_configs_for(key, bad))
    assert info.value.key == key
    assert info.value.value == bad
    message = str(info.value)
    assert key in message and bad in message


@pytest.mark.parametrize("key", [k for k, _ in MINIMUMS] + ["retention.ms", "log.retention.ms", "retention.bytes"])
@pytest.mark.parametrize("bad", ["big", "1.5", "", "0x10", "12 MB"])
def test_non_integer_value_raises_naming_key_and_value(key, bad):
    with pytest.raises(InvalidConfigError) as info:
        LogConfig.from_configs(*_configs_for(key, bad))
    assert info.value.key == key
    assert info.value.value == bad
    assert key in str(info.value)
    assert repr(bad) in str(info.value)


@pytest.mark.parametrize("bad", [True, 2.5, [1]])
def test_non_integer_python_values_are_refused(bad):
    with pytest.raises(InvalidConfigError) as info:
        LogConfig.from_configs({"segment.bytes": bad})
    assert info.value.key == "segment.bytes"


def test_bad_topic_value_is_refused_even_when_broker_value_is_fine():
    with pytest.raises(InvalidConfigError) as info:
        LogConfig.from_configs({"segment.bytes": "5"}, {"log.segment.bytes": "2048"})
    assert info.value.key == "segment.bytes"


def test_invalid_config_error_is_a_value_error():
    with pytest.raises(ValueError):
        LogConfig.from_configs({"flush.ms": "-3"})


# -- with_overrides -----------------------------------------------------------------


def test_with_overrides_applies_changed_topic_keys_and_keeps_the_rest():
    base = LogConfig.from_configs(
        {"flush.messages": "7"},
        {"log.segment.bytes": "8192", "log.roll.hours": "2", "log.retention.minutes": "30", "log.retention.bytes": "100000"},
    )
    changed = base.with_overrides({"segment.bytes": "4096", "retention.ms": "-1"})
    assert as_dict(changed) == {
        "segment_bytes": 4096,
        "segment_ms": 2 * 3_600_000,
        "index_interval_bytes": 4096,
        "retention_ms": -1,
        "retention_bytes": 100_000,
        "max_message_bytes": 1_048_588,
        "flush_messages": 7,
        "flush_ms": None,
        "message_timestamp_type": "CreateTime",
        "cleanup_policy": ("delete",),
        "delete_retention_ms": 86_400_000,
        "min_cleanable_dirty_ratio": 0.5,
        "min_compaction_lag_ms": 0,
        "max_compaction_lag_ms": 2**63 - 1,
    }


def test_with_overrides_does_not_change_the_original():
    base = LogConfig.from_configs({"segment.bytes": "8192"})
    base.with_overrides({"segment.bytes": "4096", "flush.ms": "10"})
    assert base.segment_bytes == 8192
    assert base.flush_ms is None


def test_with_overrides_keeps_unset_flush_as_page_cache():
    changed = LogConfig().with_overrides({"max.message.bytes": "2000"})
    assert changed.max_message_bytes == 2000
    assert changed.flush_messages is None and changed.flush_ms is None


def test_with_overrides_can_set_flush_keys():
    changed = LogConfig().with_overrides({"flush.messages": 1, "flush.ms": "0"})
    assert (changed.flush_messages, changed.flush_ms) == (1, 0)


def test_with_overrides_no_changes_is_equal():
    base = LogConfig.from_configs({"segment.bytes": "8192", "flush.ms": "5"}, {"log.retention.hours": "1"})
    assert base.with_overrides({}) == base


def test_with_overrides_bad_value_raises_naming_key():
    with pytest.raises(InvalidConfigError) as info:
        LogConfig().with_overrides({"segment.ms": "0"})
    assert info.value.key == "segment.ms"
    assert "segment.ms" in str(info.value)
