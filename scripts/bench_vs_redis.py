"""zafka next to Redis Streams, same workload, same machine, same run.

Run from the repository root (``make bench-redis``)::

    .venv/bin/python scripts/bench_vs_redis.py [--records 500000] [--record-size 100]

zafka: a fresh local 3-broker cluster (RF 1, one topic of ``--partitions``), then
``zafka perf produce`` (acks=1, one producer process) and ``zafka perf consume`` as
subprocesses — the exact commands are printed. While the producer runs, the script
samples every actor's USS, and it reports the idle total before the load.

Redis: a Debian ``redis-server`` on a free loopback port (persistence off — it keeps
the stream in memory, where zafka writes a log to disk), driven by redis-py:
pipelined XADD of the same values in chunks of 500, then XREAD COUNT 500 until all
are read. The script installs what it lacks (``apt-get install redis-server``,
``pip install redis[hiredis]``); it is not part of ``make test``.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def ensure_redis() -> str:
    path = shutil.which("redis-server")
    if path is None:
        print("installing redis-server (apt-get)...", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=False, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-qq", "redis-server"], check=True, stdout=subprocess.DEVNULL)
        path = shutil.which("redis-server") or "/usr/bin/redis-server"
    try:
        import hiredis  # noqa: F401  (redis-py's fast reply parser: Redis at its best)
        import redis  # noqa: F401
    except ImportError:
        print("installing redis-py with hiredis (pip)...", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "redis[hiredis]"], check=True)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_redis(server: str, records: int, size: int) -> dict:
    import redis

    port = free_port()
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        version = client.info()["redis_version"]
        value = os.urandom(size)
        start = time.perf_counter()
        sent = 0
        while sent < records:
            pipe = client.pipeline(transaction=False)
            n = min(500, records - sent)
            for _ in range(n):
                pipe.xadd("bench", {"v": value})
            pipe.execute()
            sent += n
        produce_s = time.perf_counter() - start
        start = time.perf_counter()
        read, last = 0, "0"
        while read < records:
            reply = client.xread({"bench": last}, count=500)
            entries = reply[0][1]
            for entry_id, fields in entries:
                fields[b"v"]
            last = entries[-1][0]
            read += len(entries)
        consume_s = time.perf_counter() - start
        return {"version": version, "produce": records / produce_s, "consume": records / consume_s}
    finally:
        proc.terminate()
        proc.wait(10)


def zafka_cmd() -> list[str]:
    return [sys.executable, "-m", "scripts.cli.main"]


def run_zafka(records: int, size: int, partitions: int, linger_ms: int, batch_size: int,
              replication_factor: int = 1, acks: str = "1", min_insync_replicas: int = 1,
              idempotence: bool | None = None) -> dict:
    from supervisor import Supervisor

    data_dir = tempfile.mkdtemp(prefix="zafka-bench-")
    try:
        with Supervisor(data_dir, brokers=3) as sup:
            env = {**os.environ, "ZAFKA_BOOTSTRAP": sup.bootstrap, "ZAFKA_DATA_DIR": data_dir}
            subprocess.run(
                [*zafka_cmd(), "topics", "create", "bench", "--partitions", str(partitions),
                 "--replication-factor", str(replication_factor), "--config", f"min.insync.replicas={min_insync_replicas}"],
                check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 20
            while sum(1 for a in sup.actors(memory=False) if a.name.startswith("leader-bench-") and a.alive) < partitions:
                if time.monotonic() > deadline:
                    raise TimeoutError("leaders did not start")
                time.sleep(0.05)
            time.sleep(1.0)  # let the new leaders settle before the idle reading
            idle = sup.actors()
            idle_total = sum(a.uss for a in idle)
            peak: dict[str, int] = {}
            sampling = threading.Event()

            def sample() -> None:
                while not sampling.wait(1.0):  # reading smaps is not free; sample sparingly
                    for a in sup.actors():
                        peak[a.name] = max(peak.get(a.name, 0), a.uss)

            produce_cmd = [
                *zafka_cmd(), "perf", "produce", "--topic", "bench", "--num-records", str(records),
                "--record-size", str(size), "--throughput", "-1", "--acks", acks,
                *(() if idempotence is None else ("--idempotence" if idempotence else "--no-idempotence",)),
                "--linger-ms", str(linger_ms), "--batch-size", str(batch_size),
            ]
            consume_cmd = [*zafka_cmd(), "perf", "consume", "--topic", "bench", "--messages", str(records)]
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            produced = subprocess.run(produce_cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
            consumed = subprocess.run(consume_cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
            sampling.set()
            sampler.join()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    produce_rate = float(re.findall(r"([\d.]+) records/sec", produced.strip().splitlines()[-1])[0])
    consume_rate = float(re.findall(r"([\d.]+) records/sec", consumed.strip().splitlines()[-1])[0])
    return {
        "produce": produce_rate, "consume": consume_rate,
        "produce_cmd": " ".join(produce_cmd[3:]),
        "consume_cmd": " ".join(consume_cmd[3:]),
        "produce_summary": produced.strip().splitlines()[-1], "consume_summary": consumed.strip().splitlines()[-1],
        "idle": idle, "idle_total": idle_total, "peak": peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--record-size", type=int, default=100)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--linger-ms", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=65536)
    args = parser.parse_args()
    server = ensure_redis()
    print("zafka vs Redis Streams")
    print(f"  machine      {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"  workload     {args.records} records of {args.record_size} bytes, one producer process, one consumer")
    print(f"  zafka        3 brokers, topic 'bench' with {args.partitions} partitions, RF 1, acks=1, "
          f"linger.ms={args.linger_ms}, batch.size={args.batch_size}, compression none")
    z = run_zafka(args.records, args.record_size, args.partitions, args.linger_ms, args.batch_size)
    r = run_redis(server, args.records, args.record_size)
    print(f"  redis        redis-server {r['version']} (no persistence), redis-py + hiredis, pipelined XADD x500, XREAD COUNT 500")
    print()
    print(f"  $ zafka {z['produce_cmd']}\n    {z['produce_summary']}")
    print(f"  $ zafka {z['consume_cmd']}\n    {z['consume_summary']}")
    print()
    print(f"  {'':10s} {'zafka rec/s':>14s} {'redis rec/s':>14s} {'zafka/redis':>12s}")
    for what in ("produce", "consume"):
        print(f"  {what:10s} {z[what]:14,.0f} {r[what]:14,.0f} {z[what] / r[what]:12.2f}")
    print()
    print(f"  memory (USS) idle, 3 brokers + 1 topic of {args.partitions} partitions: "
          f"{z['idle_total'] / 2**20:.1f} MB total over {len(z['idle'])} actors (aim < 400 MB)")
    worst = max(z["peak"].items(), key=lambda kv: kv[1]) if z["peak"] else ("-", 0)
    print(f"  memory (USS) peak under the perf load: largest actor {worst[0]} {worst[1] / 2**20:.1f} MB (aim < 40 MB)")
    for name, uss in sorted(z["peak"].items()):
        print(f"    {name:24s} {uss / 2**20:6.1f} MB")


if __name__ == "__main__":
    main()
