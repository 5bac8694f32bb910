"""The key table claims no more than the code does: every key in effect names a test that exists."""

from __future__ import annotations

import ast
import os

import pytest

from actors.config import BROKER_CONFIG_KEYS, TOPIC_CONFIG_KEYS
from actors.config.evidence import BROKER_KEY_TESTS, TOPIC_KEY_TESTS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TABLES = [("broker", BROKER_CONFIG_KEYS, BROKER_KEY_TESTS), ("topic", TOPIC_CONFIG_KEYS, TOPIC_KEY_TESTS)]


def _test_functions(path: str) -> set[str]:
    with open(os.path.join(ROOT, path)) as f:
        tree = ast.parse(f.read())
    return {node.name for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_")}


@pytest.mark.parametrize(("what", "table", "evidence"), TABLES, ids=[t[0] for t in TABLES])
def test_every_key_in_effect_names_its_test_and_no_other_key_does(what, table, evidence):
    in_effect = {name for name, key in table.items() if key.in_effect}
    missing = sorted(in_effect - set(evidence))
    assert not missing, f"{what} keys marked in effect without a test in actors/config/evidence.py: {missing}"
    extra = sorted(set(evidence) - in_effect)
    assert not extra, f"{what} keys with evidence but not marked in effect (or unknown): {extra}"


@pytest.mark.parametrize(("what", "table", "evidence"), TABLES, ids=[t[0] for t in TABLES])
def test_every_named_test_exists(what, table, evidence):
    cache: dict[str, set[str]] = {}
    for key, node_ids in evidence.items():
        assert node_ids, f"{what} key {key} names no test"
        for node_id in node_ids:
            path, _, function = node_id.partition("::")
            assert os.path.isfile(os.path.join(ROOT, path)), f"{key}: no test file {path}"
            if path not in cache:
                cache[path] = _test_functions(path)
            assert function in cache[path], f"{key}: {path} has no test {function}"


def test_keys_not_in_effect_say_so_in_their_help_line():
    for table in (BROKER_CONFIG_KEYS, TOPIC_CONFIG_KEYS):
        for key in table.values():
            assert ("[not in effect yet" in key.help_line()) == (not key.in_effect), key.name
            for value in key.honoured:  # an honoured value must be a valid one that draws no warning
                assert key.warning_for(value) is None, (key.name, value)
