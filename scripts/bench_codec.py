"""Throughput of the RecordBatch v2 record codec: records built and read per second.

Run from the repository root::

    .venv/bin/python scripts/bench_codec.py

Measures zafka's ``storage.batch`` (aiokafka's compiled codec under zafka's header,
CRC and compression) and, when kafka-python is installed, kafka-python's pure-Python
``DefaultRecordBatchBuilder`` / ``DefaultRecordBatch`` on the same records.

* built: ``append`` of every record of a batch and ``build()``, for all batches.
* read: ``RecordBatch(buf)`` (or ``DefaultRecordBatch(buf)``) and iterating its
  records, touching ``.value`` of each, for all batches.

Each figure is the best of 3 timed runs after one warm-up run (``time.perf_counter``).
"""

from __future__ import annotations

import os
import platform
import random
import sys
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from storage.batch import BatchBuilder, RecordBatch  # noqa: E402

RECORD_SIZE = 100  # value bytes per record
RECORDS_PER_BATCH = 500
BATCHES = 200
RUNS = 3
TIMESTAMP = 1_700_000_000_000  # explicit, so neither side calls time.time() per record
SEED = 42


def make_values() -> list[bytes]:
    """Values of RECORD_SIZE bytes drawn from 16 letters: compressible about 2:1, like text."""
    rng = random.Random(SEED)
    alphabet = b"abcdefghijklmnop"
    return [bytes(rng.choices(alphabet, k=RECORD_SIZE)) for _ in range(RECORDS_PER_BATCH)]


def best_of(fn) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def zafka_build(values, codec):
    def run():
        out = []
        for _ in range(BATCHES):
            builder = BatchBuilder(codec)
            for value in values:
                builder.append(value, None, None, TIMESTAMP)
            out.append(builder.build())
        return out

    return run


def zafka_read(batches):
    def run():
        n = 0
        for buf in batches:
            for record in RecordBatch(buf).records():
                record.value
                n += 1
        assert n == BATCHES * RECORDS_PER_BATCH
    return run


def kafka_python_build(builder_cls, values):
    def run():
        out = []
        for _ in range(BATCHES):
            builder = builder_cls(2, 0, 0, -1, -1, -1, 2**31 - 1)
            for offset, value in enumerate(values):
                builder.append(offset, TIMESTAMP, None, value, [])
            out.append(bytes(builder.build()))
        return out

    return run


def kafka_python_read(reader_cls, batches):
    def run():
        n = 0
        for buf in batches:
            for record in reader_cls(buf):
                record.value
                n += 1
        assert n == BATCHES * RECORDS_PER_BATCH
    return run


def report(label: str, codec: str, build_fn, read_fn_factory) -> None:
    total = BATCHES * RECORDS_PER_BATCH
    batches = build_fn()
    built = total / best_of(build_fn)
    read = total / best_of(read_fn_factory(batches))
    size = sum(len(b) for b in batches) / len(batches)
    print(f"{label:<34} {codec:<6} {built:>14,.0f} {read:>14,.0f} {size:>12,.0f}")


def main() -> None:
    print("RecordBatch v2 codec benchmark")
    print(f"  python            {platform.python_implementation()} {platform.python_version()}"
          f" ({sys.executable})")
    print(f"  machine           {platform.machine()}, {os.cpu_count()} CPUs,"
          f" load average {os.getloadavg()[0]:.2f} at start")
    print(f"  record size       {RECORD_SIZE} bytes value, no key, no headers,"
          f" explicit timestamp")
    print(f"  value content     random letters from a 16-letter alphabet (seed {SEED})")
    print(f"  records/batch     {RECORDS_PER_BATCH}")
    print(f"  batches           {BATCHES} ({BATCHES * RECORDS_PER_BATCH:,} records per run)")
    print(f"  timing            time.perf_counter, 1 warm-up + best of {RUNS} runs")
    print("  built             BatchBuilder/append x500 + build(), per batch")
    print("  read              RecordBatch(buf).records() iterated, .value touched")
    print()
    print(f"{'implementation':<34} {'codec':<6} {'built rec/s':>14} {'read rec/s':>14}"
          f" {'batch bytes':>12}")
    print("-" * 84)

    values = make_values()
    report("zafka (aiokafka _crecords)", "none", zafka_build(values, "none"), zafka_read)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from kafka.record.default_records import (
                DefaultRecordBatch,
                DefaultRecordBatchBuilder,
            )
    except ImportError:
        print("kafka-python (pure Python)         none   skipped: kafka-python is not installed")
    else:
        report(
            "kafka-python (pure Python)",
            "none",
            kafka_python_build(DefaultRecordBatchBuilder, values),
            lambda batches: kafka_python_read(DefaultRecordBatch, batches),
        )

    for codec in ("lz4", "zstd"):
        report("zafka (aiokafka _crecords)", codec, zafka_build(values, codec), zafka_read)


if __name__ == "__main__":
    main()
