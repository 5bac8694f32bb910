"""Unit tests of actors.config: server.properties parsing, broker and topic config validation.

Expected values are Kafka's documented defaults (KafkaConfig / ServerLogConfigs /
TopicConfig) and hand-computed arithmetic written out as literals, never read back
from the module under test.
"""

from __future__ import annotations

import os
import pickle

import msgspec
import pytest

from actors.config import (
    BROKER_CONFIG_KEYS,
    TOPIC_CONFIG_KEYS,
    BrokerConfig,
    ConfigError,
    Listener,
    config_help,
    effective_topic_configs,
    load_properties,
    not_in_effect,
    parse_int_expr,
    parse_listeners,
    parse_properties,
    topic_config_warnings,
    validate_topic_configs,
)
from storage.config import LogConfig
from tests.course_example import COURSE_EXAMPLE, with_log_dirs


WEEK_MS = 604_800_000  # 168 h * 3600 s * 1000 ms


def build(props: dict) -> BrokerConfig:
    return BrokerConfig.from_properties(props)[0]


def warnings_of(props: dict) -> list[str]:
    return BrokerConfig.from_properties(props)[1]


# -- the course example -----------------------------------------------------------------


@pytest.fixture
def course_file(tmp_path):
    dirs = [tmp_path / f"kafka{i}" for i in (1, 2, 3)]
    for d in dirs:
        d.mkdir()
    text = with_log_dirs([str(d) for d in dirs])
    path = tmp_path / "server.properties"
    path.write_text(text)
    return path, [str(d) for d in dirs]


def test_course_example_loads_with_the_values_it_asks_for(course_file):
    """The course's server.properties is the acceptance test for Kafka compatibility."""
    path, dirs = course_file
    cfg, _ = BrokerConfig.from_properties(load_properties(path))
    assert cfg.log_dirs == tuple(dirs)
    assert cfg.listeners == (Listener("PLAINTEXT", "localhost", 9092),)
    assert cfg.advertised_listeners == cfg.listeners
    assert cfg.auto_create_topics_enable is False
    assert cfg.unclean_leader_election_enable is False
    assert cfg.auto_leader_rebalance_enable is False
    assert cfg.log_retention_ms == 604_800_000
    assert cfg.log_retention_bytes == -1
    assert cfg.message_max_bytes == 1_048_576
    assert cfg.ensure_log_dirs() == tuple(path.parent / f"kafka{i}" for i in (1, 2, 3))


def test_course_example_warns_about_the_typo_and_zookeeper_without_printing(course_file, capsys):
    """Warnings are returned so the CLI decides how to show them; a library must not print."""
    path, _ = course_file
    _, warnings = BrokerConfig.load(path)
    assert "unknown config advisor.listeners (did you mean advertised.listeners?)" in warnings
    zk = [w for w in warnings if "zookeeper.connect" in w]
    assert len(zk) == 1 and "not needed" in zk[0] and "embedded controller" in zk[0]
    assert capsys.readouterr() == ("", "")


def test_course_example_with_its_original_paths_parses_without_touching_the_disk(tmp_path):
    """Validation is pure: /home/kafka1 need not exist until ensure_log_dirs is asked."""
    cfg, _ = BrokerConfig.from_properties(parse_properties(COURSE_EXAMPLE))
    assert cfg.log_dirs == ("/home/kafka1", "/home/kafka2", "/home/kafka3")


def test_course_example_configures_the_topic_logs_it_creates(course_file):
    """The broker's products must reach storage evaluated, or LogConfig would refuse '1024 * 1024'."""
    path, _ = course_file
    cfg, _ = BrokerConfig.load(path)
    log = cfg.log_config_for({})
    assert log.max_message_bytes == 1_048_576
    assert log.retention_ms == 604_800_000
    assert log.retention_bytes == -1


# -- properties syntax ------------------------------------------------------------------


def test_all_three_separators_and_surrounding_whitespace():
    text = "a=1\nb = 2\nc: 3\nd 4\n  e\t=\t5  \nf:6\t\n"
    assert parse_properties(text) == {"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6"}


def test_comments_and_blank_lines_are_skipped():
    text = "# hash comment\n! bang comment\n\n   \n   # indented comment\nkey=value\n"
    assert parse_properties(text) == {"key": "value"}


def test_a_hash_inside_a_value_is_part_of_it_as_in_java():
    """Java has no inline comments; 'x # note' is the value, so a bad int then names it."""
    assert parse_properties("k = x # note") == {"k": "x # note"}


def test_backslash_continuation_joins_lines_and_drops_leading_whitespace():
    text = "log.dirs = /a,\\\n           /b,\\\n           /c\nnext=1\n"
    assert parse_properties(text) == {"log.dirs": "/a,/b,/c", "next": "1"}


def test_an_escaped_backslash_at_line_end_does_not_continue():
    assert parse_properties("a = x\\\\\nb = y\n") == {"a": "x\\", "b": "y"}


def test_a_continuation_on_the_last_line_continues_into_nothing():
    assert parse_properties("a = x\\") == {"a": "x"}


def test_a_comment_ending_in_a_backslash_does_not_swallow_the_next_line():
    assert parse_properties("# comment \\\nkey = v\n") == {"key": "v"}


def test_escapes_in_keys_and_values():
    text = "my\\ key\\=x = tab\\there\\u0041\\:\n"
    assert parse_properties(text) == {"my key=x": "tab\there" + "A:"}


def test_malformed_unicode_escape_is_a_config_error():
    with pytest.raises(ConfigError, match="line 2"):
        parse_properties("a=1\nb=\\u12G4\n")


def test_crlf_line_endings_and_key_without_value():
    assert parse_properties("a=1\r\nb\r\nc=\r\n") == {"a": "1", "b": "", "c": ""}


def test_later_duplicate_wins():
    assert parse_properties("a=1\na=2\n") == {"a": "2"}


def test_missing_file_is_a_one_line_config_error(tmp_path):
    missing = tmp_path / "nope.properties"
    with pytest.raises(ConfigError) as info:
        load_properties(missing)
    assert str(missing) in str(info.value) and "\n" not in str(info.value)


# -- integers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [("168", 168), ("7 * 24", 168), ("7*24", 168), ("1024 * 1024", 1_048_576), ("  -1 ", -1),
     ("2 * 3 * 7", 42), ("+5", 5), ("0", 0), (12, 12)],
)
def test_integer_products(text, expected):
    assert parse_int_expr("k", text) == expected


@pytest.mark.parametrize(
    "bad", ["7 * x", "7 ** 2", "__import__('os')", "", "   ", "7 *", "* 7", "7 + 1", "1e3", "0x10", "1_000",
            "7.5", "(7) * 24", "٣", True],
)
def test_bad_integer_expressions_are_refused_naming_key_and_value(bad):
    with pytest.raises(ConfigError) as info:
        parse_int_expr("log.retention.hours", bad)
    message = str(info.value)
    assert "log.retention.hours" in message
    assert repr(bad) in message
    assert "integer" in message
    assert "\n" not in message
    assert isinstance(info.value, ValueError)
    assert info.value.key == "log.retention.hours"


def test_integer_expressions_are_never_evaluated_as_python(tmp_path):
    """A config file is not code: a value that would run Python must have no effect at all."""
    marker = tmp_path / "pwned"
    payload = f"__import__('pathlib').Path({str(marker)!r}).touch() or 1"
    with pytest.raises(ConfigError):
        build({"num.partitions": payload})
    assert not marker.exists()


def test_a_bad_product_in_a_file_names_the_key_and_the_allowed_range():
    with pytest.raises(ConfigError) as info:
        build(parse_properties("log.retention.hours = 7 * x\n"))
    assert "log.retention.hours" in str(info.value) and "'7 * x'" in str(info.value)
    assert "-1" in str(info.value)  # the allowed range is part of the answer


@pytest.mark.parametrize(
    "key, value",
    [("num.partitions", "0"), ("min.insync.replicas", "0"), ("log.segment.bytes", "13"),
     ("log.retention.hours", "-2"), ("message.max.bytes", "1024 * 1024 * 1024 * 2"),
     ("offsets.topic.replication.factor", "32768"), ("supervisor.max.seconds", "0")],
)
def test_out_of_range_integers_are_refused(key, value):
    with pytest.raises(ConfigError, match=key):
        build({key: value})


# -- booleans ---------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [("true", True), ("TRUE", True), (" True ", True), ("false", False),
                                            ("FaLsE", False), (True, True), (False, False)])
def test_booleans_are_case_insensitive(text, expected):
    assert build({"unclean.leader.election.enable": text}).unclean_leader_election_enable is expected


@pytest.mark.parametrize("bad", ["yes", "1", "0", "", "on", "t"])
def test_other_boolean_spellings_are_refused_naming_the_key(bad):
    with pytest.raises(ConfigError) as info:
        build({"auto.create.topics.enable": bad})
    assert "auto.create.topics.enable" in str(info.value) and "true or false" in str(info.value)


# -- listeners --------------------------------------------------------------------------


def test_listener_list_parses_names_hosts_and_ports():
    got = parse_listeners("listeners", "PLAINTEXT://localhost:9092, controller://:9093,EXT://[::1]:9094,"
                                       "ALL://0.0.0.0:0")
    assert got == (
        Listener("PLAINTEXT", "localhost", 9092),
        Listener("CONTROLLER", "", 9093),
        Listener("EXT", "::1", 9094),
        Listener("ALL", "0.0.0.0", 0),
    )


def test_empty_host_is_kept_but_binds_to_all_interfaces():
    (listener,) = parse_listeners("listeners", "PLAINTEXT://:9092")
    assert listener.host == ""
    assert listener.bind_host == "0.0.0.0"
    assert str(listener) == "PLAINTEXT://:9092"
    assert str(Listener("EXT", "::1", 1)) == "EXT://[::1]:1"


@pytest.mark.parametrize(
    "bad", ["localhost:9092", "PLAINTEXT://localhost", "PLAINTEXT://localhost:99999", "PLAINTEXT://host:port",
            "", " , ", "PLAINTEXT://a:1,PLAINTEXT://b:2", "PLAIN TEXT://a:1", "PLAINTEXT://a b:1"],
)
def test_bad_listeners_are_refused_naming_the_key(bad):
    with pytest.raises(ConfigError) as info:
        build({"listeners": bad})
    assert "listeners" in str(info.value)


def test_advertised_listeners_default_to_listeners_and_may_differ():
    cfg = build({"listeners": "PLAINTEXT://0.0.0.0:9092"})
    assert cfg.advertised_listeners == (Listener("PLAINTEXT", "0.0.0.0", 9092),)
    cfg = build({"listeners": "PLAINTEXT://0.0.0.0:9092", "advertised.listeners": "PLAINTEXT://broker1:9092"})
    assert cfg.listeners == (Listener("PLAINTEXT", "0.0.0.0", 9092),)
    assert cfg.advertised_listeners == (Listener("PLAINTEXT", "broker1", 9092),)


def test_advertised_listener_names_must_be_among_listeners():
    """Kafka refuses advertising a listener the broker does not bind: clients could not reach it."""
    with pytest.raises(ConfigError, match="advertised.listeners"):
        build({"listeners": "PLAINTEXT://:9092", "advertised.listeners": "EXTERNAL://host:9092"})


def test_default_listener_is_kafkas():
    assert BrokerConfig.defaults().listeners == (Listener("PLAINTEXT", "", 9092),)


# -- log.dirs / log.dir -----------------------------------------------------------------


def test_log_dirs_beats_log_dir_and_says_so():
    cfg, warnings = BrokerConfig.from_properties({"log.dir": "/x", "log.dirs": "/a, /b"})
    assert cfg.log_dirs == ("/a", "/b")
    assert any("log.dir is ignored" in w for w in warnings)


def test_log_dir_alone_is_used_and_is_comma_separated_like_in_kafka():
    assert build({"log.dir": "/only"}).log_dirs == ("/only",)
    assert build({"log.dir": "/p,/q"}).log_dirs == ("/p", "/q")


def test_without_either_the_kafka_default_directory_is_used():
    assert build({}).log_dirs == ("/tmp/kafka-logs",)
    assert warnings_of({}) == []


@pytest.mark.parametrize("props", [{"log.dirs": ""}, {"log.dirs": " , "}, {"log.dir": ""},
                                   {"log.dirs": "/a,/b,/a/"}])
def test_empty_or_duplicate_log_dirs_are_refused(props):
    with pytest.raises(ConfigError, match="log.dir"):
        build(props)


def test_ensure_log_dirs_creates_missing_and_refuses_a_file(tmp_path):
    made = tmp_path / "new" / "deep"
    assert build({"log.dirs": str(made)}).ensure_log_dirs() == (made,)
    assert made.is_dir()
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError) as info:
        build({"log.dirs": f"{made},{blocker}"}).ensure_log_dirs()
    assert "log.dirs" in str(info.value) and str(blocker) in str(info.value)


def test_ensure_log_dirs_refuses_a_read_only_directory(tmp_path, monkeypatch):
    """Kafka would fail on the first segment roll; saying so at startup names the culprit.

    Tests run as root, who may write anywhere, so the permission answer is faked.
    """
    locked = tmp_path / "ro"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if str(path) == str(locked) else real_access(path, mode))
    with pytest.raises(ConfigError, match="not writable"):
        build({"log.dirs": str(locked)}).ensure_log_dirs()


# -- retention and segment rolling -------------------------------------------------------


@pytest.mark.parametrize(
    "props, expected_ms",
    [
        ({}, WEEK_MS),
        ({"log.retention.hours": "1"}, 3_600_000),
        ({"log.retention.hours": "24 * 2"}, 172_800_000),
        ({"log.retention.hours": "1", "log.retention.minutes": "2"}, 120_000),
        ({"log.retention.hours": "1", "log.retention.minutes": "2", "log.retention.ms": "3"}, 3),
        ({"log.retention.minutes": "2", "log.retention.ms": "60 * 1000"}, 60_000),
        ({"log.retention.hours": "-1"}, -1),
        ({"log.retention.ms": "-1", "log.retention.hours": "5"}, -1),
    ],
)
def test_retention_precedence_is_ms_then_minutes_then_hours(props, expected_ms):
    cfg = build(props)
    assert cfg.log_retention_ms == expected_ms
    assert cfg.log_config_for({}).retention_ms == expected_ms


def test_log_roll_ms_beats_log_roll_hours():
    assert build({"log.roll.hours": "2"}).log_roll_ms == 7_200_000
    assert build({"log.roll.hours": "2", "log.roll.ms": "500"}).log_roll_ms == 500


# -- defaults ---------------------------------------------------------------------------

KAFKA_DEFAULTS = {
    "broker_id": -1,
    "listeners": (Listener("PLAINTEXT", "", 9092),),
    "advertised_listeners": (Listener("PLAINTEXT", "", 9092),),
    "log_dirs": ("/tmp/kafka-logs",),
    "num_partitions": 1,
    "default_replication_factor": 1,
    "auto_create_topics_enable": True,
    "delete_topic_enable": True,
    "unclean_leader_election_enable": False,
    "auto_leader_rebalance_enable": True,
    "min_insync_replicas": 1,
    "message_max_bytes": 1_048_588,
    "compression_type": "producer",
    "log_retention_ms": 168 * 3600 * 1000,
    "log_retention_bytes": -1,
    "log_segment_bytes": 1024 * 1024 * 1024,
    "log_roll_ms": 168 * 3600 * 1000,
    "log_retention_check_interval_ms": 5 * 60 * 1000,
    "log_flush_interval_messages": None,
    "log_flush_interval_ms": None,
    "log_index_interval_bytes": 4096,
    "socket_request_max_bytes": 100 * 1024 * 1024,
    "replica_lag_time_max_ms": 30_000,
    "offsets_topic_replication_factor": 3,
    "group_initial_rebalance_delay_ms": 3000,
    # zafka's defaults, not Kafka's (2000 / 9000), on purpose: the keys' docs say why
    "broker_heartbeat_interval_ms": 250,
    "broker_session_timeout_ms": 3000,
    "controller_quorum_voters": (),
    "controller_listener_names": (),
    # zafka's own: OTP-style restart intensity and backoff
    "supervisor_max_restarts": 5,
    "supervisor_max_seconds": 30,
    "supervisor_restart_backoff_ms": 100,
    "supervisor_restart_backoff_max_ms": 5000,
}


def test_defaults_are_kafkas():
    cfg = BrokerConfig.defaults()
    got = {name: getattr(cfg, name) for name in KAFKA_DEFAULTS}
    assert got == KAFKA_DEFAULTS
    assert cfg.node_id == -1
    assert cfg.properties == {}


@pytest.mark.parametrize(
    "key, expected",
    [("num.network.threads", 3), ("num.io.threads", 8), ("offsets.topic.replication.factor", 3),
     ("log.cleanup.policy", ("delete",)), ("log.message.timestamp.type", "CreateTime"),
     ("replica.fetch.max.bytes", 1_048_576), ("log.retention.hours", 168), ("log.retention.ms", None),
     ("advertised.listeners", None)],
)
def test_keys_without_an_attribute_have_kafkas_defaults_through_get(key, expected):
    assert BrokerConfig.defaults().get(key) == expected


@pytest.mark.parametrize("key, zafka, kafka", [
    ("offsets.topic.num.partitions", 3, 50),  # a process per replica: 150 processes for a first group
    ("metadata.log.max.record.bytes.between.snapshots", 2_097_152, 20_971_520),  # a slower replay
])
def test_the_defaults_zafka_changes_on_purpose_say_kafkas_in_their_doc(key, zafka, kafka):
    from actors.config.keys import BROKER_CONFIG_KEYS

    assert BrokerConfig.defaults().get(key) == zafka
    assert f"{kafka}" in BROKER_CONFIG_KEYS[key].doc.replace(",", "").replace("_", "")


def test_get_of_an_unknown_key_suggests_one():
    with pytest.raises(ConfigError, match="did you mean num.partitions"):
        BrokerConfig.defaults().get("num.partition")


def test_default_log_config_equals_storages_kafka_defaults():
    """No broker keys set must mean Kafka's topic defaults, not some other built-in value."""
    assert BrokerConfig.defaults().log_config_for({}) == LogConfig()


# -- known and unknown keys -------------------------------------------------------------


def test_known_keys_not_in_effect_load_with_one_warning_each_naming_the_key():
    props = {"num.network.threads": "3", "num.io.threads": "8", "controller.quorum.voters": "1@localhost:9093",
             "controller.listener.names": "CONTROLLER", "socket.send.buffer.bytes": "102400",
             "process.roles": "broker,controller"}
    cfg, warnings = BrokerConfig.from_properties(props)
    assert len(warnings) == len(props)
    for key, warning in zip(props, warnings):
        assert warning.startswith(f"{key}=") and "not in effect yet" in warning
    assert cfg.controller_quorum_voters == ("1@localhost:9093",)
    assert cfg.controller_listener_names == ("CONTROLLER",)


def test_a_key_not_in_effect_set_to_the_value_zafka_honours_draws_no_warning():
    # the course example sets these; "producer" is how zafka stores batches whatever the key says
    _, warnings = BrokerConfig.from_properties(
        {"unclean.leader.election.enable": "false", "auto.leader.rebalance.enable": "false", "compression.type": "producer"}
    )
    assert warnings == []
    _, warnings = BrokerConfig.from_properties({"num.network.threads": "5", "compression.type": "lz4"})
    assert [w.split("=")[0] for w in warnings] == ["num.network.threads", "compression.type"]


def test_unknown_key_without_a_close_match_is_still_warned_about():
    warnings = warnings_of({"completely.made.up": "1"})
    assert warnings == ["unknown config completely.made.up"]


@pytest.mark.parametrize(
    "typo, suggestion",
    [("num.partition", "num.partitions"), ("log.retension.hours", "log.retention.hours"),
     ("LOG.RETENTION.HOURS", "log.retention.hours"), ("min.isr.replicas", "min.insync.replicas")],
)
def test_unknown_keys_get_a_did_you_mean(typo, suggestion):
    assert warnings_of({typo: "1"}) == [f"unknown config {typo} (did you mean {suggestion}?)"]


def test_unknown_keys_do_not_change_the_config():
    assert build({"num.partition": "7"}).num_partitions == 1


def test_every_zookeeper_key_gets_a_notice_not_a_did_you_mean():
    warnings = warnings_of({"zookeeper.connect": "zk:2181", "zookeeper.connection.timeout.ms": "18000"})
    assert len(warnings) == 2
    assert all("not needed" in w and "did you mean" not in w for w in warnings)


def test_values_from_code_need_not_be_strings():
    """Supervisor(config={...}) passes Python values; they go through the same validation."""
    cfg = build({"num.partitions": 3, "auto.create.topics.enable": False, "log.dirs": ["/a", "/b"]})
    assert (cfg.num_partitions, cfg.auto_create_topics_enable, cfg.log_dirs) == (3, False, ("/a", "/b"))
    with pytest.raises(ConfigError, match="num.partitions"):
        build({"num.partitions": True})


def test_properties_hold_the_set_keys_normalised():
    cfg = build({"log.retention.hours": "7 * 24", "auto.create.topics.enable": "FALSE",
                 "listeners": "plaintext://h:1", "unknown.key": "x"})
    assert cfg.properties == {"log.retention.hours": "168", "auto.create.topics.enable": "false",
                              "listeners": "PLAINTEXT://h:1"}


def test_broker_id_and_node_id():
    assert build({"broker.id": "2"}).node_id == 2
    assert build({"node.id": "3"}).broker_id == 3
    assert build({"broker.id": "4", "node.id": "4"}).broker_id == 4
    with pytest.raises(ConfigError, match="node.id"):
        build({"broker.id": "1", "node.id": "2"})


def test_supervisor_backoff_must_not_exceed_its_maximum():
    cfg = build({"supervisor.restart.backoff.ms": "5000"})
    assert cfg.supervisor_restart_backoff_ms == 5000
    with pytest.raises(ConfigError, match="supervisor.restart.backoff"):
        build({"supervisor.restart.backoff.ms": "6000"})


@pytest.mark.parametrize(("value", "typed"), [("compact", ("compact",)), ("compact,delete", ("compact", "delete")),
                                              ("Delete, COMPACT", ("delete", "compact"))])
def test_log_cleanup_policy_accepts_compact_delete_or_both_and_feeds_topic_logs(value, typed):
    cfg = build({"log.cleanup.policy": value})
    assert cfg.log_cleanup_policy == typed
    assert cfg.log_config_for({}).cleanup_policy == typed
    assert cfg.log_config_for({"cleanup.policy": "delete"}).cleanup_policy == ("delete",)  # the topic's beats it
    assert cfg.log_config_for({}).compacted == ("compact" in typed)


@pytest.mark.parametrize("value", ["", " , ", "remove", "compact,forever"])
def test_log_cleanup_policy_refuses_an_empty_list_or_an_unknown_policy(value):
    with pytest.raises(ConfigError, match="log.cleanup.policy") as info:
        build({"log.cleanup.policy": value})
    assert "compact, delete" in str(info.value)


def test_the_broker_log_cleaner_keys_are_the_defaults_of_the_topic_compaction_keys():
    cfg = build({"log.cleaner.delete.retention.ms": "1000", "log.cleaner.min.cleanable.ratio": "0.01",
                 "log.cleaner.min.compaction.lag.ms": "5", "log.cleaner.max.compaction.lag.ms": "60 * 1000"})
    log = cfg.log_config_for({})
    assert (log.delete_retention_ms, log.min_cleanable_dirty_ratio, log.min_compaction_lag_ms,
            log.max_compaction_lag_ms) == (1000, 0.01, 5, 60_000)
    topic = cfg.log_config_for({"delete.retention.ms": "7", "min.cleanable.dirty.ratio": "1",
                                "min.compaction.lag.ms": "0", "max.compaction.lag.ms": "9"})
    assert (topic.delete_retention_ms, topic.min_cleanable_dirty_ratio, topic.min_compaction_lag_ms,
            topic.max_compaction_lag_ms) == (7, 1.0, 0, 9)
    defaults = build({}).log_config_for({})
    assert (defaults.delete_retention_ms, defaults.min_cleanable_dirty_ratio, defaults.min_compaction_lag_ms,
            defaults.max_compaction_lag_ms) == (86_400_000, 0.5, 0, 2**63 - 1)  # Kafka's


@pytest.mark.parametrize(("key", "value"), [
    ("log.cleaner.min.cleanable.ratio", "1.5"), ("log.cleaner.min.cleanable.ratio", "-0.1"),
    ("log.cleaner.min.cleanable.ratio", "nan"), ("log.cleaner.min.cleanable.ratio", "half"),
    ("log.cleaner.max.compaction.lag.ms", "0"), ("log.cleaner.delete.retention.ms", "-1"),
    ("log.cleaner.min.compaction.lag.ms", "-1"), ("log.cleaner.backoff.ms", "-1"),
])
def test_bad_log_cleaner_values_are_refused_naming_the_key(key, value):
    with pytest.raises(ConfigError, match=key):
        build({key: value})


def test_log_cleaner_enable_false_warns_that_compacted_topics_are_not_compacted():
    cfg, warnings = BrokerConfig.from_properties({"log.cleaner.enable": "false"})
    assert cfg.log_cleaner_enable is False
    assert any("log.cleaner.enable=false" in w and "not compacted" in w for w in warnings), warnings
    assert not any("log.cleaner.enable" in w for w in BrokerConfig.from_properties({})[1])


def test_with_properties_revalidates_and_refuses_unknown_keys():
    base = build({"num.partitions": "2"})
    derived = base.with_properties({"broker.id": 1, "listeners": "PLAINTEXT://127.0.0.1:9093"})
    assert (derived.broker_id, derived.num_partitions) == (1, 2)
    assert derived.listeners == (Listener("PLAINTEXT", "127.0.0.1", 9093),)
    with pytest.raises(ConfigError, match="num.partitions"):
        base.with_properties({"num.partitions": "0"})
    with pytest.raises(ConfigError, match="did you mean"):
        base.with_properties({"num.partition": "3"})


def test_config_is_immutable_hashable_and_picklable():
    """It is handed to actor processes, so it must pickle; frozen so no actor changes it for others."""
    cfg = build({"num.partitions": "3", "listeners": "PLAINTEXT://:1"})
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    assert hash(cfg) == hash(build({"num.partitions": "3", "listeners": "PLAINTEXT://:1"}))
    with pytest.raises(AttributeError, match="immutable"):  # a frozen msgspec Struct
        cfg.num_partitions = 4  # type: ignore[misc]
    with pytest.raises(AttributeError, match="immutable"):
        cfg.listeners[0].port = 2  # type: ignore[misc]


def test_config_round_trips_through_msgpack_whole():
    """Actor processes receive it msgpack-encoded inside their spec; they must get back the same config."""
    cfg, _ = BrokerConfig.from_properties({
        "num.partitions": "3", "listeners": "PLAINTEXT://:1,EXT://[::1]:2", "advertised.listeners": "EXT://h:2",
        "log.dirs": "/a,/b", "log.retention.minutes": "5", "log.flush.interval.ms": "7",
        "controller.quorum.voters": "1@h:9093", "auto.create.topics.enable": "false",
    })
    again = msgspec.msgpack.decode(msgspec.msgpack.encode(cfg), type=BrokerConfig)
    assert again == cfg and hash(again) == hash(cfg)
    assert again.properties == cfg.properties
    assert again.advertised_listeners == (Listener("EXT", "h", 2),)
    assert again.log_retention_ms == 300_000 and again.log_flush_interval_ms == 7
    defaults = BrokerConfig.defaults()
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(defaults), type=BrokerConfig) == defaults


# -- topic configs ----------------------------------------------------------------------


def test_good_topic_configs_come_back_normalised():
    got = validate_topic_configs({
        "retention.ms": "60 * 60 * 1000", "retention.bytes": "-1", "segment.bytes": "1024 * 1024",
        "segment.ms": "1000", "max.message.bytes": "2097152", "min.insync.replicas": "2",
        "cleanup.policy": "delete", "compression.type": "LZ4", "flush.messages": "1", "flush.ms": "0",
        "index.interval.bytes": "0", "unclean.leader.election.enable": "TRUE",
        "message.timestamp.type": "logappendtime",
    })
    assert got == {
        "retention.ms": "3600000", "retention.bytes": "-1", "segment.bytes": "1048576", "segment.ms": "1000",
        "max.message.bytes": "2097152", "min.insync.replicas": "2", "cleanup.policy": "delete",
        "compression.type": "lz4", "flush.messages": "1", "flush.ms": "0", "index.interval.bytes": "0",
        "unclean.leader.election.enable": "true", "message.timestamp.type": "LogAppendTime",
    }


@pytest.mark.parametrize("codec", ["producer", "none", "gzip", "snappy", "lz4", "zstd", "uncompressed"])
def test_every_supported_compression_type_is_accepted(codec):
    assert validate_topic_configs({"compression.type": codec}) == {"compression.type": codec}


@pytest.mark.parametrize(
    "key, value, allowed_hint",
    [("retention.ms", "-2", "-1"), ("retention.ms", "7 days", "integer"), ("segment.bytes", "13", "14"),
     ("segment.ms", "0", "1"), ("min.insync.replicas", "0", "1"), ("max.message.bytes", "-1", "0"),
     ("flush.messages", "0", "1"), ("segment.bytes", str(2**31), str(2**31 - 1)),
     ("compression.type", "brotli", "zstd"), ("message.timestamp.type", "Now", "LogAppendTime"),
     ("unclean.leader.election.enable", "maybe", "true or false"), ("cleanup.policy", "remove", "delete")],
)
def test_bad_topic_values_name_key_value_and_what_is_allowed(key, value, allowed_hint):
    with pytest.raises(ConfigError) as info:
        validate_topic_configs({key: value})
    message = str(info.value)
    assert key in message and repr(value) in message and allowed_hint in message
    assert "\n" not in message


@pytest.mark.parametrize(("policy", "normalised"), [("compact", "compact"), ("compact,delete", "compact,delete"),
                                                    ("delete, COMPACT", "delete,compact"), ("delete", "delete")])
def test_cleanup_policy_accepts_compact_delete_or_both(policy, normalised):
    assert validate_topic_configs({"cleanup.policy": policy}) == {"cleanup.policy": normalised}
    assert topic_config_warnings({"cleanup.policy": normalised}) == []  # in effect: no warning


@pytest.mark.parametrize("policy", ["", ",", "compacted", "delete,forever"])
def test_cleanup_policy_refuses_an_empty_list_or_an_unknown_policy(policy):
    with pytest.raises(ConfigError) as info:
        validate_topic_configs({"cleanup.policy": policy})
    assert "cleanup.policy" in str(info.value) and "compact, delete" in str(info.value)


def test_the_topic_compaction_keys_are_validated_and_normalised():
    assert validate_topic_configs({
        "delete.retention.ms": "60 * 1000", "min.cleanable.dirty.ratio": "0.01", "min.compaction.lag.ms": "0",
        "max.compaction.lag.ms": "1",
    }) == {"delete.retention.ms": "60000", "min.cleanable.dirty.ratio": "0.01", "min.compaction.lag.ms": "0",
           "max.compaction.lag.ms": "1"}
    assert validate_topic_configs({"min.cleanable.dirty.ratio": "1"}) == {"min.cleanable.dirty.ratio": "1.0"}
    for key, bad in (("min.cleanable.dirty.ratio", "2"), ("min.cleanable.dirty.ratio", "inf"),
                     ("max.compaction.lag.ms", "0"), ("delete.retention.ms", "-1"), ("min.compaction.lag.ms", "x")):
        with pytest.raises(ConfigError, match=key):
            validate_topic_configs({key: bad})


def test_compaction_with_the_cleaner_disabled_is_flagged_where_topics_are_set_and_shown():
    off = build({"log.cleaner.enable": "false"})
    warnings = topic_config_warnings({"cleanup.policy": "compact"}, off)
    assert len(warnings) == 1 and "log.cleaner.enable=false" in warnings[0] and "not compacted" in warnings[0]
    assert topic_config_warnings({"cleanup.policy": "compact"}, build({})) == []
    assert topic_config_warnings({"cleanup.policy": "delete"}, off) == []
    shown = effective_topic_configs(off, {"cleanup.policy": "compact,delete"})
    assert "cleanup.policy" in not_in_effect(TOPIC_CONFIG_KEYS, shown, off)
    assert "cleanup.policy" not in not_in_effect(TOPIC_CONFIG_KEYS, shown, build({}))


@pytest.mark.parametrize(
    "typo, suggestion",
    [("retention.hours", "retention.ms"), ("retention.msec", "retention.ms"), ("segments.bytes", "segment.bytes"),
     ("min.insync.replica", "min.insync.replicas"), ("compresion.type", "compression.type")],
)
def test_unknown_topic_keys_are_refused_with_a_suggestion(typo, suggestion):
    """Refused, not warned: a silently ignored topic setting would keep or drop data unexpectedly."""
    with pytest.raises(ConfigError) as info:
        validate_topic_configs({typo: "1"})
    assert str(info.value) == f"unknown topic config {typo} (did you mean {suggestion}?)"
    assert info.value.key == typo


def test_unknown_topic_key_without_a_close_match_lists_the_known_ones():
    with pytest.raises(ConfigError) as info:
        validate_topic_configs({"zzz": "1"})
    assert "zzz" in str(info.value) and "retention.ms" in str(info.value)


def test_topic_overrides_beat_broker_defaults_which_beat_kafkas():
    cfg = build({"log.segment.bytes": "2048", "log.retention.hours": "1", "message.max.bytes": "1000",
                 "log.roll.hours": "2"})
    log = cfg.log_config_for({"segment.bytes": "4096", "retention.ms": "5 * 1000"})
    assert log.segment_bytes == 4096  # topic
    assert log.retention_ms == 5000  # topic, product evaluated
    assert log.max_message_bytes == 1000  # broker
    assert log.segment_ms == 7_200_000  # broker log.roll.hours
    assert log.index_interval_bytes == 4096  # Kafka default


def test_log_config_for_refuses_bad_topic_configs():
    with pytest.raises(ConfigError, match="segment.bytes"):
        BrokerConfig.defaults().log_config_for({"segment.bytes": "1"})
    with pytest.raises(ConfigError, match="did you mean"):
        BrokerConfig.defaults().log_config_for({"retention.hours": "1"})


# -- the key table ------------------------------------------------------------------------


@pytest.mark.parametrize("table", [BROKER_CONFIG_KEYS, TOPIC_CONFIG_KEYS], ids=["broker", "topic"])
def test_every_key_has_a_kind_a_doc_and_a_default_its_own_validation_accepts(table):
    """One table drives validation, defaults and help, so an inconsistent row would mislead all three."""
    for name, spec in table.items():
        assert spec.name == name
        assert spec.kind in ("int", "double", "bool", "str", "list", "listener-list"), name
        assert spec.doc and "\n" not in spec.doc, name
        if spec.default is not None and spec.default != ():
            assert spec.parse(spec.format(spec.default)) == spec.default, name


def test_table_covers_every_key_storage_reads():
    """A broker or topic key storage honours must not be reported as unknown."""
    for topic_key, (_, broker_keys, _) in LogConfig.KEYS.items():
        assert topic_key in TOPIC_CONFIG_KEYS
        for key in broker_keys:
            assert key in BROKER_CONFIG_KEYS
    for key in ("log.retention.ms", "log.retention.minutes", "log.retention.hours", "log.retention.bytes"):
        assert key in BROKER_CONFIG_KEYS
    assert {"retention.ms", "retention.bytes"} <= set(TOPIC_CONFIG_KEYS)


def test_topic_defaults_agree_with_storage():
    storage_defaults = LogConfig().as_topic_configs()
    for key, value in storage_defaults.items():
        assert TOPIC_CONFIG_KEYS[key].default == value, key


def test_help_has_one_line_per_key_with_its_default():
    lines = config_help(BROKER_CONFIG_KEYS)
    assert len(lines) == len(BROKER_CONFIG_KEYS)
    (line,) = [ln for ln in lines if ln.startswith("num.partitions ")]
    assert "default 1" in line and "int" in line
    (line,) = [ln for ln in lines if ln.startswith("num.io.threads ")]
    assert line.endswith("[not in effect yet: each zafka actor is its own process with one mailbox; "
                         "there are no thread pools to size]")
    (line,) = [ln for ln in lines if ln.startswith("num.partitions ")]
    assert "not in effect" not in line
