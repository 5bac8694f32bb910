"""Replication's cost: RF 3 acks=all next to RF 1 acks=1, with Redis Streams in the same run.

RF 3 acks=all runs twice: with the idempotent producer (Kafka's default there) and
without it, so the ratio between the two is idempotence's own cost.

Run from the repository root::

    .venv/bin/python scripts/bench_replication.py [--runs 3] [--records 200000] [--record-size 100]

Each run starts a fresh local 3-broker cluster per configuration (see
``bench_vs_redis.run_zafka``: ``zafka perf produce`` / ``perf consume`` as
subprocesses, one producer process, every actor's USS sampled once a second), then
Redis Streams (redis-py + hiredis, pipelined). The configurations alternate within a
run, so a noisy moment hurts both. It prints every figure, then the range over the
runs and the ratios: RF 3 / RF 1 (aim >= 0.5) and each against Redis.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_vs_redis import ensure_redis, run_redis, run_zafka  # noqa: E402

CONFIGS = {
    "rf1-acks1": {"replication_factor": 1, "acks": "1", "min_insync_replicas": 1},
    "rf3-acksall": {"replication_factor": 3, "acks": "all", "min_insync_replicas": 2},
    "rf3-noidem": {"replication_factor": 3, "acks": "all", "min_insync_replicas": 2, "idempotence": False},
}


def span(values: list[float]) -> str:
    return f"{min(values):,.0f}-{max(values):,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--record-size", type=int, default=100)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--linger-ms", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=65536)
    parser.add_argument("--no-redis", action="store_true", help="skip the Redis Streams peer")
    args = parser.parse_args()
    server = None if args.no_redis else ensure_redis()
    print("zafka replication benchmark")
    print(f"  machine   {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"  workload  {args.records} records of {args.record_size} bytes, {args.partitions} partitions, 3 brokers, "
          f"linger.ms={args.linger_ms}, batch.size={args.batch_size}, compression none, one producer process")
    results: dict[str, list[dict]] = {name: [] for name in (*CONFIGS, "redis")}
    for run in range(1, args.runs + 1):
        for name, cfg in CONFIGS.items():
            z = run_zafka(args.records, args.record_size, args.partitions, args.linger_ms, args.batch_size, **cfg)
            results[name].append(z)
            worst = max(z["peak"].items(), key=lambda kv: kv[1]) if z["peak"] else ("-", 0)
            print(f"  run {run} {name:12s} produce {z['produce']:10,.0f} rec/s  consume {z['consume']:10,.0f} rec/s  "
                  f"idle USS {z['idle_total'] / 2**20:6.1f} MB over {len(z['idle'])} actors  "
                  f"largest under load {worst[0]} {worst[1] / 2**20:.1f} MB", flush=True)
        if server:
            r = run_redis(server, args.records, args.record_size)
            results["redis"].append(r)
            print(f"  run {run} {'redis':12s} produce {r['produce']:10,.0f} rec/s  consume {r['consume']:10,.0f} rec/s",
                  flush=True)
    print()
    print(f"  commands: zafka {results['rf3-acksall'][0]['produce_cmd']}")
    print(f"            zafka {results['rf3-acksall'][0]['consume_cmd']}")
    print()
    print(f"  {'':12s} {'produce rec/s':>18s} {'consume rec/s':>18s}")
    for name in results:
        if results[name]:
            print(f"  {name:12s} {span([x['produce'] for x in results[name]]):>18s} "
                  f"{span([x['consume'] for x in results[name]]):>18s}")
    rf1, rf3 = results["rf1-acks1"], results["rf3-acksall"]
    ratios = [b["produce"] / a["produce"] for a, b in zip(rf1, rf3)]
    print(f"  RF 3 acks=all / RF 1 acks=1, produce, per run: {', '.join(f'{x:.2f}' for x in ratios)} (aim >= 0.50)")
    plain = results["rf3-noidem"]
    idem = [a["produce"] / b["produce"] for a, b in zip(rf3, plain)]
    print(f"  RF 3 idempotent / not idempotent, produce, per run: {', '.join(f'{x:.2f}' for x in idem)}")
    if results["redis"]:
        for name in CONFIGS:
            per_run = [z["produce"] / r["produce"] for z, r in zip(results[name], results["redis"])]
            print(f"  {name} / redis, produce, per run: {', '.join(f'{x:.2f}' for x in per_run)}")
    idle = [z["idle_total"] / 2**20 for z in rf3]
    peak = [max(z["peak"].values()) / 2**20 for z in rf3 if z["peak"]]
    print(f"  RF 3 memory: idle total {min(idle):.0f}-{max(idle):.0f} MB USS (aim < 400 MB); "
          f"largest actor under load {min(peak):.1f}-{max(peak):.1f} MB (aim < 40 MB)")


if __name__ == "__main__":
    main()
