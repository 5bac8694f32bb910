"""Rough client throughput against the in-process fake cluster of the unit tests.

The fake broker (``tests/fake_broker.py``) runs in a child process so it does not
compete with the client for the GIL; the numbers measure the client's own cost
(batching, futures, encoding, decoding), not a real cluster's. Usage::

    .venv/bin/python scripts/bench_client_fake.py [--records 300000] [--size 100] [--partitions 3]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def _serve(data_dir: str, topics: dict, conn) -> None:
    from tests.fake_broker import FakeBroker

    with FakeBroker(data_dir, topics) as broker:
        conn.send(broker.bootstrap)
        conn.recv()  # until the parent says stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--compression", default="none")
    parser.add_argument("--acks", default="1")
    args = parser.parse_args()

    from wire import Consumer, Producer, TopicPartition

    with tempfile.TemporaryDirectory() as data_dir:
        parent, child = mp.get_context("spawn").Pipe()
        proc = mp.get_context("spawn").Process(target=_serve, args=(data_dir, {"bench": args.partitions}, child))
        proc.start()
        try:
            bootstrap = parent.recv()
            value = b"x" * args.size
            with Producer(bootstrap, acks=args.acks, compression=args.compression, linger_ms=5) as producer:
                producer.send("bench", value).result(10)  # warm up: metadata, connections
                start = time.perf_counter()
                for _ in range(args.records):
                    producer.send("bench", value)
                producer.flush()
                elapsed = time.perf_counter() - start
            rate = args.records / elapsed
            print(f"produce: {args.records} x {args.size} B in {elapsed:.2f} s = {rate:,.0f} records/s "
                  f"({rate * args.size / 1e6:.1f} MB/s), acks={args.acks}, compression={args.compression}")

            total = args.records + 1
            with Consumer(bootstrap, auto_offset_reset="earliest") as consumer:
                consumer.assign([TopicPartition("bench", p) for p in range(args.partitions)])
                got = 0
                start = time.perf_counter()
                while got < total:
                    got += len(consumer.poll(timeout_ms=2000))
                elapsed = time.perf_counter() - start
            rate = got / elapsed
            print(f"consume: {got} records in {elapsed:.2f} s = {rate:,.0f} records/s "
                  f"({rate * args.size / 1e6:.1f} MB/s)")
        finally:
            parent.send("stop")
            proc.join(10)


if __name__ == "__main__":
    main()
