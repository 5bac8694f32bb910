"""Partition choice: Kafka-compatible key hashing and the keyless strategies.

Expected hashes come from outside zafka: the literal values are the ones Kafka's
own ``UtilsTest.testMurmur2`` asserts for its Java ``Utils.murmur2``, and random
keys are cross-checked against kafka-python's independent port of the same
function. A key's partition must not depend on the process (Python's ``hash()``
is salted per process), which a subprocess check pins down.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import warnings
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wire.client.errors import ClientConfigError
from wire.client.partitioner import Partitioner, key_hash, murmur2, partition_for_key, to_positive

with warnings.catch_warnings():  # kafka-python's import-time deprecation noise
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.partitioner.default import murmur2 as kafka_python_murmur2

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# From Apache Kafka, clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java (testMurmur2).
KAFKA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    bytes([ord("a"), ord("b"), ord("c")]): 479470107,
}


@pytest.mark.parametrize("key,expected", sorted(KAFKA_MURMUR2.items()))
def test_murmur2_matches_kafkas_java_test_vectors(key, expected):
    assert murmur2(key) == expected


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=64))
def test_murmur2_matches_kafka_python_for_any_key(key):
    # kafka-python returns the unsigned 32-bit pattern; compare bit patterns.
    assert murmur2(key) & 0xFFFFFFFF == kafka_python_murmur2(key) & 0xFFFFFFFF


def test_to_positive_drops_the_sign_bit_like_java():
    assert to_positive(-973932308) == (-973932308) & 0x7FFFFFFF == 1173551340
    assert to_positive(-(2**31)) == 0  # Math.abs would overflow here; Kafka masks instead
    assert to_positive(5) == 5


def test_key_partition_is_positive_hash_modulo_partitions():
    # "21" hashes to -973932308 (Kafka's vector); without the sign bit that is 1173551340.
    assert partition_for_key(b"21", 7) == 1173551340 % 7
    assert partition_for_key(b"foobar", 3) == ((-790332482) & 0x7FFFFFFF) % 3


def test_key_partition_is_the_same_in_another_process():
    keys = [b"user-%d" % i for i in range(50)]
    here = [partition_for_key(k, 13) for k in keys]
    code = (
        "from wire.client.partitioner import partition_for_key;"
        "print([partition_for_key(b'user-%d' % i, 13) for i in range(50)])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "12345", "PATH": ""}, cwd=ROOT, timeout=60)
    assert out.stdout.strip() == str(here)


def test_keyed_records_go_by_hash_under_every_builtin_strategy():
    parts = list(range(6))
    for strategy in ("round_robin", "default", "hash", "random"):
        p = Partitioner(strategy)
        for i in range(100):
            key = b"k%d" % i
            assert p.partition("t", key, parts) == partition_for_key(key, 6)


def test_keyed_records_hash_over_all_partitions_even_when_some_are_down():
    # The key's partition must not move while a leader is being elected.
    p = Partitioner()
    key = b"stable"
    assert p.partition("t", key, [0, 1, 2, 3], available=[0]) == partition_for_key(key, 4)


def test_round_robin_cycles_per_topic():
    p = Partitioner("round_robin")
    assert [p.partition("a", None, [0, 1, 2]) for _ in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    assert [p.partition("b", None, [0, 1]) for _ in range(3)] == [0, 1, 0]  # its own counter
    assert p.partition("a", None, [0, 1, 2]) == 1  # "a" goes on where it stopped


def test_round_robin_prefers_partitions_with_a_leader():
    p = Partitioner()
    assert {p.partition("t", None, [0, 1, 2, 3], available=[1, 3]) for _ in range(10)} == {1, 3}


def test_random_spreads_keyless_records_over_available_partitions():
    p = Partitioner("random", rng=random.Random(7))
    counts = Counter(p.partition("t", None, [0, 1, 2, 3], available=[0, 2]) for _ in range(2000))
    assert set(counts) == {0, 2}
    assert min(counts.values()) > 800  # roughly even (binomial, 1000 expected each)


def test_user_callable_decides_and_sees_every_partition():
    seen = []

    def choose(topic, key, partitions):
        seen.append((topic, key, partitions))
        return partitions[-1]

    p = Partitioner(choose)
    assert p.partition("t", b"k", [0, 1, 2], available=[0]) == 2
    assert seen == [("t", b"k", [0, 1, 2])]


def test_unknown_strategy_is_a_config_error_naming_the_choices():
    with pytest.raises(ClientConfigError, match="round_robin"):
        Partitioner("sticky")


def test_key_hash_cache_returns_the_uncached_value():
    key = b"cached"
    first = key_hash(key)
    assert key_hash(key) == first == to_positive(murmur2(key))
