"""Chaos run: keep producing while random actors are SIGKILLed; then prove nothing acked is lost.

Run from the repository root::

    .venv/bin/python scripts/chaos.py [--duration 60] [--seed N] [--brokers 3] [--partitions 6]

It starts a local cluster in a temporary directory, creates a topic, runs one
producer (acks=1, callbacks recording every acknowledged offset) and a killer that
every ``--interval`` seconds SIGKILLs a random actor (leaders, brokers, the
controller, cleaners; now and then a whole broker). At the end it reads every
partition back and checks that each acknowledged record is there exactly where it
was acknowledged, in order. The same function runs as a slow test
(``make test-slow``).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def run_chaos(sup, *, duration: float, seed: int, partitions: int = 6, interval: float = 0.5, out=print) -> dict:
    from wire import Admin, Consumer, Producer, TopicPartition

    rnd = random.Random(seed)
    topic = "chaos"
    with Admin(bootstrap=sup.bootstrap_servers) as admin:
        admin.create_topic(topic, partitions=partitions, replication_factor=1)
    acked: dict[tuple[int, int], bytes] = {}
    failed = [0]
    lock = threading.Lock()
    stop = threading.Event()
    kills: list[str] = []

    def on_done(value: bytes, meta, exc) -> None:
        with lock:
            if exc is None:
                acked[(meta.partition, meta.offset)] = value
            else:
                failed[0] += 1

    def produce() -> None:
        with Producer(
            bootstrap=sup.bootstrap_servers, acks=1, linger_ms=2, request_timeout_ms=5_000, delivery_timeout_ms=60_000,
        ) as producer:
            i = 0
            while not stop.is_set():
                value = f"record-{i}".encode()
                producer.send(topic, value=value, callback=lambda m, e, v=value: on_done(v, m, e))
                i += 1
                if i % 200 == 0:
                    producer.flush(timeout=60)
            producer.flush(timeout=60)

    def killer() -> None:
        while not stop.wait(interval * (0.5 + rnd.random())):
            alive = [a for a in sup.actors(memory=False) if a.alive]
            if not alive:
                continue
            if rnd.random() < 0.1:
                broker = rnd.choice(sup.broker_ids)
                kills.extend(sup.kill_broker(broker))
                continue
            victim = rnd.choice(alive)
            try:
                sup.kill(victim.name)
                kills.append(victim.name)
            except KeyError:
                pass

    threads = [threading.Thread(target=produce), threading.Thread(target=killer)]
    for t in threads:
        t.start()
    time.sleep(duration)
    stop.set()
    for t in threads:
        t.join(120)
    out(f"chaos: {len(kills)} kills, {len(acked)} records acknowledged, {failed[0]} sends failed (never acked)")
    stored: dict[tuple[int, int], bytes] = {}
    with Consumer(bootstrap=sup.bootstrap_servers, auto_offset_reset="earliest") as consumer:
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        ends = consumer.end_offsets([TopicPartition(topic, p) for p in range(partitions)], timeout_ms=60_000)
        total = sum(ends.values())
        deadline = time.monotonic() + 120
        while len(stored) < total and time.monotonic() < deadline:
            for r in consumer.poll(timeout_ms=500, max_records=10_000):
                stored[(r.partition, r.offset)] = r.value
    lost = [k for k, v in acked.items() if stored.get(k) != v]
    for p in range(partitions):
        offsets = sorted(o for (q, o) in stored if q == p)
        if offsets != list(range(offsets[0], offsets[0] + len(offsets))) if offsets else False:
            lost.append((p, -1))
    out(f"chaos: read back {len(stored)} records; {len(lost)} acknowledged records missing or moved")
    return {"kills": kills, "acked": len(acked), "stored": len(stored), "lost": lost}


def main() -> int:
    parser = argparse.ArgumentParser(description="SIGKILL random actors under load and check for loss")
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--brokers", type=int, default=3)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    print(f"chaos: seed {seed}, {args.brokers} brokers, {args.partitions} partitions, {args.duration:.0f} s")
    from supervisor import Supervisor

    with tempfile.TemporaryDirectory(prefix="zafka-chaos-") as data_dir:
        config = {"supervisor.max.restarts": "1000", "supervisor.restart.backoff.max.ms": "500"}
        with Supervisor(data_dir, brokers=args.brokers, config=config) as sup:
            result = run_chaos(sup, duration=args.duration, seed=seed, partitions=args.partitions, interval=args.interval)
    return 1 if result["lost"] or not result["acked"] else 0


if __name__ == "__main__":
    sys.exit(main())
