"""What an idle cluster costs: CPU per actor kind with no client connected, next to an idle Redis.

zafka runs a process per partition replica, so whatever a replica does while
nothing happens (its timer, its heartbeat to the controller, its metadata watch)
is multiplied by the partition count — and on a small machine that idle load is
what a rebalance or a failover has to compete with. Per run this script starts a
3-broker cluster in a temp dir, creates one topic of ``--partitions`` partitions
at ``--rf``, lets it settle, and samples every actor process's CPU time for
``--seconds``; then an idle ``redis-server`` (the peer, persistence off) for as
long. Figures are percent of one core; the range over ``--runs`` is printed.

    python scripts/bench_idle.py [--partitions 100] [--rf 1] [--seconds 10] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

SETTLE_S = 10.0  # after the topic is created: its replicas start, register and elect


def cpu_seconds(procs) -> dict[int, float]:
    import psutil

    out = {}
    for p in procs:
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        out[p.pid] = t.user + t.system
    return out


def zafka_run(args) -> dict[str, float]:
    import psutil

    from supervisor import Supervisor
    from wire import Admin

    with tempfile.TemporaryDirectory(prefix="zafka-bench-idle-") as d:
        with Supervisor(os.path.join(d, "cluster"), 3, {}) as cluster:
            with Admin(cluster.bootstrap) as admin:
                admin.create_topic("idle", partitions=args.partitions, replication_factor=args.rf)
            time.sleep(SETTLE_S)  # a settling period, not synchronisation: nothing waits on it
            actors = cluster.actors(memory=False)
            kinds = {a.pid: a.name.split("-")[0] for a in actors}
            procs = [psutil.Process(a.pid) for a in actors if a.alive]
            before = cpu_seconds(procs)
            time.sleep(args.seconds)  # the measurement window
            after = cpu_seconds(procs)
    by_kind: dict[str, float] = {}
    for pid, t in after.items():
        if pid in before:
            kind = kinds[pid]
            by_kind[kind] = by_kind.get(kind, 0.0) + (t - before[pid]) / args.seconds * 100
    by_kind["total"] = sum(by_kind.values())
    return by_kind


def redis_run(args) -> float:
    import psutil
    from bench_vs_redis import ensure_redis, free_port

    server = ensure_redis()
    port = free_port()
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        p = psutil.Process(proc.pid)
        time.sleep(1.0)  # started
        before = cpu_seconds([p])[p.pid]
        time.sleep(args.seconds)
        return (cpu_seconds([p])[p.pid] - before) / args.seconds * 100
    finally:
        proc.terminate()
        proc.wait(10)


def span(values: list[float]) -> str:
    return f"{min(values):.1f}-{max(values):.1f}%"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--partitions", type=int, default=100)
    ap.add_argument("--rf", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    print(f"idle benchmark: 3 brokers, one topic of {args.partitions} partitions at RF {args.rf}, no clients, "
          f"{args.seconds:.0f} s windows after {SETTLE_S:.0f} s settling, {args.runs} runs; "
          "percent of one core", flush=True)
    runs: list[dict[str, float]] = []
    peers: list[float] = []
    for run in range(args.runs):
        runs.append(zafka_run(args))
        peers.append(redis_run(args))
        print(f"  run {run + 1}: zafka {runs[-1]['total']:.1f}% "
              f"({', '.join(f'{k} {v:.1f}%' for k, v in sorted(runs[-1].items()) if k != 'total')}); "
              f"idle redis-server {peers[-1]:.2f}%", flush=True)
    kinds = sorted({k for r in runs for k in r if k != "total"})
    print(f"  zafka, whole cluster:      {span([r['total'] for r in runs])}")
    for kind in kinds:
        print(f"    {kind + ':':<22} {span([r.get(kind, 0.0) for r in runs])}")
    print(f"  per partition replica:     {span([r.get('leader', 0.0) / args.partitions for r in runs])}"
          if args.rf == 1 else "")
    print(f"  idle redis-server (peer):  {span(peers)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
