"""The typed broker config is generated from the key table and crosses process boundaries whole.

Expected names and values are written out here, not read back from the code under
test, except where the point is that two things derived from the table agree.
"""

from __future__ import annotations

import pickle

import msgspec
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import actors.config
from actors.config import BROKER_CONFIG_KEYS, BrokerConfig, ConfigError, Listener
from actors.config.keys import BOOL, INT, LISTENERS

# Every name `from actors.config import ...` gave before it became a package.
NAMES_BEFORE_THE_SPLIT = [
    "BOOL", "BROKER_CONFIG_KEYS", "BrokerConfig", "ConfigError", "ConfigKey", "HOUR_MS", "INT", "INT_MAX", "KINDS",
    "LIST", "LISTENERS", "LONG_MAX", "Listener", "SHORT_MAX", "STR", "TOPIC_CONFIG_KEYS", "config_help",
    "effective_topic_configs", "load_properties", "not_in_effect", "parse_int_expr",
    "parse_listeners", "parse_properties", "topic_config_warnings", "validate_topic_configs",
]


@pytest.mark.parametrize("name", NAMES_BEFORE_THE_SPLIT)
def test_every_name_importable_before_the_package_split_still_is(name):
    assert hasattr(actors.config, name)


def test_all_lists_the_same_public_api_as_before():
    assert sorted(actors.config.__all__) == sorted([
        "BROKER_CONFIG_KEYS", "BrokerConfig", "ConfigError", "ConfigKey", "Listener", "TOPIC_CONFIG_KEYS",
        "config_help", "effective_topic_configs", "load_properties", "not_in_effect",
        "parse_int_expr", "parse_listeners", "parse_properties", "topic_config_warnings", "validate_topic_configs",
    ])


# -- one attribute per key ------------------------------------------------------------------


def test_there_is_one_attribute_per_broker_key_named_with_underscores_and_no_other():
    fields = set(BrokerConfig.__struct_fields__) - {"_props"}
    assert fields == {key.replace(".", "_") for key in BROKER_CONFIG_KEYS}


def test_some_attributes_by_name_and_type():
    cfg = BrokerConfig.from_properties({
        "broker.heartbeat.interval.ms": "100", "log.retention.check.interval.ms": "1000",
        "delete.topic.enable": "false", "broker.rack": "r1", "process.roles": "broker,controller",
        "log.flush.interval.messages": "10",
    })[0]
    assert cfg.broker_heartbeat_interval_ms == 100
    assert cfg.log_retention_check_interval_ms == 1000
    assert cfg.delete_topic_enable is False
    assert cfg.broker_rack == "r1"
    assert cfg.process_roles == ("broker", "controller")
    assert cfg.log_flush_interval_messages == 10
    defaults = BrokerConfig.defaults()
    assert defaults.broker_rack is None and defaults.inter_broker_listener_name is None
    assert defaults.log_flush_interval_messages is None and defaults.log_retention_minutes is None


def test_a_resolved_attribute_wins_over_the_raw_key_of_the_same_name_which_get_still_answers():
    cfg = BrokerConfig.from_properties({"log.retention.hours": "2", "log.dir": "/x,/y", "node.id": "7",
                                        "log.roll.hours": "3"})[0]
    assert (cfg.log_retention_ms, cfg.get("log.retention.ms")) == (7_200_000, None)
    assert (cfg.log_roll_ms, cfg.get("log.roll.ms")) == (10_800_000, None)
    assert (cfg.log_dirs, cfg.get("log.dirs"), cfg.log_dir) == (("/x", "/y"), None, "/x,/y")
    assert (cfg.broker_id, cfg.node_id, cfg.get("broker.id")) == (7, 7, -1)
    assert (cfg.advertised_listeners, cfg.get("advertised.listeners")) == ((Listener("PLAINTEXT", "", 9092),), None)
    assert cfg.log_retention_hours == 2 and cfg.log_roll_hours == 3


# -- crossing the process boundary -------------------------------------------------------------


class Spec(msgspec.Struct, frozen=True):
    """Stands in for an actor's spec: the config is a field of another Struct."""

    name: str
    config: BrokerConfig


def test_it_travels_as_a_field_of_another_struct():
    cfg = BrokerConfig.from_properties({"broker.id": "2", "listeners": "PLAINTEXT://127.0.0.1:9093",
                                        "log.retention.ms": "-1", "compression.type": "lz4"})[0]
    spec = msgspec.msgpack.decode(msgspec.msgpack.encode(Spec("broker-2", cfg)), type=Spec)
    assert spec.config == cfg
    (listener,) = spec.config.listeners
    assert listener.bind_host == "127.0.0.1" and str(listener) == "PLAINTEXT://127.0.0.1:9093"
    assert spec.config.log_retention_ms == -1 and spec.config.compression_type == "lz4"
    assert spec.config.log_config_for({}).retention_ms == -1  # properties travel too


def test_decoding_checks_types_so_a_bad_frame_fails_in_one_place():
    raw = msgspec.msgpack.decode(msgspec.msgpack.encode(BrokerConfig.defaults()))
    raw["num_partitions"] = "3"
    with pytest.raises(msgspec.ValidationError, match="num_partitions"):
        msgspec.msgpack.decode(msgspec.msgpack.encode(raw), type=BrokerConfig)


def test_listeners_are_frozen_structs_that_pickle_and_encode():
    listener = Listener("EXT", "::1", 9094)
    assert pickle.loads(pickle.dumps(listener)) == listener
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(listener), type=Listener) == listener
    assert hash(listener) == hash(Listener("EXT", "::1", 9094))
    assert str(listener) == "EXT://[::1]:9094" and Listener("P", "", 1).bind_host == "0.0.0.0"


def test_with_properties_keeps_the_type():
    derived = BrokerConfig.defaults().with_properties({"broker.id": 3})
    assert type(derived) is BrokerConfig and derived.broker_id == 3 and derived.properties == {"broker.id": "3"}


# -- one log_config_for ------------------------------------------------------------------------


def test_log_config_for_is_a_method_of_the_typed_config_only():
    assert not hasattr(actors.config, "log_config_for")  # one way to get a partition's storage config
    props = {"log.segment.bytes": "2048", "log.retention.minutes": "3", "message.max.bytes": "1000"}
    cfg = BrokerConfig.from_properties(props)[0]
    got = cfg.log_config_for({"segment.bytes": "4096"})
    assert (got.segment_bytes, got.retention_ms, got.max_message_bytes) == (4096, 180_000, 1000)
    with pytest.raises(ConfigError, match="did you mean"):
        cfg.log_config_for({"retention.hours": "1"})


# -- any valid config -------------------------------------------------------------------------


def _values_of(spec) -> st.SearchStrategy:
    """Raw values a file could hold for ``spec``, valid ones mostly (the rest are filtered out)."""
    if spec.kind == INT:
        low = spec.minimum if spec.minimum is not None else -5
        high = min(spec.maximum if spec.maximum is not None else 10**6, 10**12)
        return st.integers(low, high).map(str) | st.integers(1, 1000).map(lambda n: f"{n} * 2")
    if spec.kind == BOOL:
        return st.sampled_from(["true", "false", "TRUE", "False"])
    if spec.kind == LISTENERS:
        return st.sampled_from(["PLAINTEXT://:9092", "PLAINTEXT://localhost:1,EXT://[::1]:2", "plaintext://h:0"])
    if spec.choices:
        return st.lists(st.sampled_from(spec.choices), min_size=1, max_size=2).map(",".join)
    return st.text("abc/,:_@1", min_size=1, max_size=8)


_props = st.lists(st.sampled_from(sorted(BROKER_CONFIG_KEYS)), max_size=8, unique=True).flatmap(
    lambda keys: st.fixed_dictionaries({k: _values_of(BROKER_CONFIG_KEYS[k]) for k in keys}))


@settings(max_examples=300, deadline=None)
@given(_props)
def test_any_valid_config_round_trips_and_rebuilds_from_its_properties(props):
    try:
        cfg = BrokerConfig.from_properties(props)[0]
    except ConfigError:
        assume(False)
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(cfg), type=BrokerConfig) == cfg
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    assert BrokerConfig.from_properties(cfg.properties)[0] == cfg
    for key, spec in BROKER_CONFIG_KEYS.items():
        attr = key.replace(".", "_")
        if attr not in ("broker_id", "node_id", "advertised_listeners", "log_dirs", "log_retention_ms", "log_roll_ms"):
            assert getattr(cfg, attr) == cfg.get(key)
