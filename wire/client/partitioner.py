"""Choosing a partition for a record: pure logic, no sockets.

Keyed records go to ``murmur2(key) % partitions`` under every built-in strategy,
bit for bit what Kafka's Java producer computes, so the same key lands on the same
partition whichever client wrote it and in whichever process. (Python's ``hash()``
is salted per process and must never be used here.) Keyless records follow the
strategy: ``round_robin`` (the default, also spelled ``default`` and ``hash``) or
``random``. A user callable ``(topic, key, partitions) -> int`` decides everything.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable, Sequence
from functools import lru_cache

from wire.client.errors import ClientConfigError

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF

STRATEGIES = ("round_robin", "default", "hash", "random")


def murmur2(data: bytes) -> int:
    """Kafka's ``Utils.murmur2``: a signed 32-bit int, as Java returns it."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    whole = length & ~3
    for (k,) in struct.iter_unpack("<I", data[:whole]):
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length & 3
    if tail:
        if tail == 3:
            h ^= data[whole + 2] << 16
        if tail >= 2:
            h ^= data[whole + 1] << 8
        h ^= data[whole]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def to_positive(n: int) -> int:
    """Kafka's ``Utils.toPositive``: drop the sign bit (not ``abs``, which overflows in Java)."""
    return n & 0x7FFFFFFF


@lru_cache(maxsize=65536)
def key_hash(key: bytes) -> int:
    """``toPositive(murmur2(key))``, cached because producers repeat keys a lot."""
    return to_positive(murmur2(key))


def partition_for_key(key: bytes, num_partitions: int) -> int:
    return key_hash(key) % num_partitions


UserPartitioner = Callable[[str, object, list], int]


class Partitioner:
    """One producer's partition choice; keeps the per-topic round-robin counters.

    ``partitions`` are all of the topic's partitions (the hash space, so a key's
    partition does not move while a leader is down); ``available`` are those with a
    leader now, which keyless records prefer, as in Kafka.
    """

    def __init__(self, strategy: str | UserPartitioner = "round_robin", *, rng: random.Random | None = None):
        if callable(strategy):
            self._user: UserPartitioner | None = strategy
            self.strategy = "callable"
        elif isinstance(strategy, str) and strategy in STRATEGIES:
            self._user = None
            self.strategy = "random" if strategy == "random" else "round_robin"
        else:
            raise ClientConfigError(
                f"unknown partitioner {strategy!r}; use one of {', '.join(STRATEGIES)} "
                "or a callable (topic, key, partitions) -> partition"
            )
        self._counters: dict[str, int] = {}
        self._rng = rng or random.Random()

    def partition(self, topic: str, key, partitions: Sequence[int], available: Sequence[int] = ()) -> int:
        if self._user is not None:
            return self._user(topic, key, list(partitions))
        if key is not None:
            return partitions[key_hash(key) % len(partitions)]
        choices = available or partitions
        if self.strategy == "random":
            return self._rng.choice(choices)
        n = self._counters.get(topic, 0)
        self._counters[topic] = n + 1
        return choices[n % len(choices)]
