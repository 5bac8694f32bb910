"""Every default is defined once, in the key table, and is the one actors use.

Two halves: the typed config built from no file at all carries exactly the table's
defaults (or, for the attributes Kafka resolves from several keys, the resolution
written out here by hand); and no actor, nor the supervisor, reads a config key
with a fallback of its own (``cfg.get("broker.session.timeout.ms", "3000")``),
because such a literal drifts from the table unseen — it did, twice, before this
test existed (the heartbeat and session timeout read 250 and 3000 where the table
said Kafka's 2000 and 9000).
"""

from __future__ import annotations

import ast
import glob
import os

import pytest

from actors.config import BROKER_CONFIG_KEYS, TOPIC_CONFIG_KEYS, BrokerConfig, Listener, config_help

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Attributes resolved from several keys (where one shares a raw key's name, the
# resolved value wins), with their value when nothing is set, worked out by hand:
RESOLVED_DEFAULTS = {
    "broker_id": -1,  # broker.id, else node.id; both default to -1
    "node_id": -1,  # the same id under KRaft's name
    "advertised_listeners": (Listener("PLAINTEXT", "", 9092),),  # defaults to listeners
    "log_dirs": ("/tmp/kafka-logs",),  # log.dirs unset: log.dir, comma-separated
    "log_retention_ms": 168 * 3_600_000,  # log.retention.ms and .minutes unset: hours (168)
    "log_roll_ms": 168 * 3_600_000,  # log.roll.ms unset: log.roll.hours (168)
}


def attribute(key: str) -> str:
    return key.replace(".", "_")


# -- the typed config carries the table's defaults ------------------------------------------


@pytest.mark.parametrize("key", list(BROKER_CONFIG_KEYS))
def test_every_broker_key_defaults_to_the_tables_value_or_its_documented_resolution(key):
    cfg = BrokerConfig.defaults()
    attr = attribute(key)
    expected = RESOLVED_DEFAULTS[attr] if attr in RESOLVED_DEFAULTS else BROKER_CONFIG_KEYS[key].default
    assert getattr(cfg, attr) == expected
    assert cfg.get(key) == BROKER_CONFIG_KEYS[key].default  # the raw key, unresolved


def test_every_resolved_attribute_is_a_key_and_none_is_forgotten():
    assert set(RESOLVED_DEFAULTS) <= {attribute(key) for key in BROKER_CONFIG_KEYS}


def test_the_struct_defaults_are_the_same_defaults():
    """``BrokerConfig()`` (what msgspec fills in for a missing field) must not be a second set of defaults."""
    assert BrokerConfig() == BrokerConfig.defaults()


def test_a_default_that_differs_from_kafkas_says_so_and_why_in_its_help():
    lines = {line.split(" ", 1)[0]: line for line in config_help(BROKER_CONFIG_KEYS)}
    heartbeat = lines["broker.heartbeat.interval.ms"]
    assert "default 250" in heartbeat and "Kafka's is 2000" in heartbeat and "one machine" in heartbeat
    session = lines["broker.session.timeout.ms"]
    assert "default 3000" in session and "Kafka's is 9000" in session and "fenced within 3 s" in session
    defaults = BrokerConfig.defaults()
    assert (defaults.broker_heartbeat_interval_ms, defaults.broker_session_timeout_ms) == (250, 3000)


# -- no actor supplies a default of its own -----------------------------------------------------


def literal_config_fallbacks(source: str, filename: str) -> list[str]:
    """Every ``<x>.get("<config key>", <literal>)`` in ``source``, as ``file:line`` with a hint."""
    known = {**TOPIC_CONFIG_KEYS, **BROKER_CONFIG_KEYS}
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"):
            continue
        if len(node.args) < 2 or not isinstance(node.args[0], ast.Constant) or node.args[0].value not in known:
            continue
        try:
            fallback = ast.literal_eval(node.args[1])
        except (ValueError, TypeError):
            continue  # not a literal (e.g. another lookup): not a default of its own
        key = node.args[0].value
        hint = (f"use the typed config's {attribute(key)} (table default {known[key].format(known[key].default)!r})"
                if key in BROKER_CONFIG_KEYS else "use the topic's effective config")
        found.append((node.lineno, f"{filename}:{node.lineno}: .get({key!r}, {fallback!r}): {hint}"))
    return [line for _, line in sorted(found)]


def test_the_scan_finds_a_literal_fallback_and_nothing_else():
    """The scan below passes once actors are clean, so it must be shown to see what it looks for."""
    source = (
        "a = cfg.get('broker.session.timeout.ms', '3000')\n"
        "b = self.spec.config.get('num.partitions', 1)\n"
        "c = configs.get('min.insync.replicas', cfg.get('min.insync.replicas', -1))\n"
        "d = args.get('partition', -1)\n"  # not a config key
        "e = cfg.get('num.partitions')\n"  # no fallback: the typed config's get
        "f = cfg.num_partitions\n"
    )
    found = literal_config_fallbacks(source, "x.py")
    assert [line.split(":")[1] for line in found] == ["1", "2", "3"]
    assert "broker_session_timeout_ms" in found[0] and "'3000'" in found[0]


def test_no_actor_or_supervisor_reads_a_config_key_with_a_fallback_of_its_own():
    paths = sorted(glob.glob(os.path.join(ROOT, "actors", "*.py"))) + [os.path.join(ROOT, "supervisor.py")]
    found = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            found += literal_config_fallbacks(f.read(), os.path.relpath(path, ROOT))
    assert not found, "defaults re-encoded outside the key table:\n" + "\n".join(found)
