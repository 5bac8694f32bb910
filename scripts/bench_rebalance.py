"""How long consumer-group rebalances take: a clean leave, a crashed member, and 10 members over 100 partitions.

Starts a local cluster (3 brokers, group.initial.rebalance.delay.ms=0) in a temp
dir, then, per scenario, starts members as processes of their own (this script
with ``--member``), each logging its assignments with monotonic timestamps (one
clock for every process on the machine), and measures:

* **leave**: 2 members over 6 partitions; one closes (LeaveGroup) — from the close
  to the survivor owning all 6 partitions;
* **crash**: the same, the member SIGKILLed — from the kill to the survivor owning
  all 6 (bounded below by session.timeout.ms);
* **join-100**: 10 members over 100 partitions, an 11th joins — from its start of
  polling to every partition owned again, and the same when it then leaves.

Each scenario deletes its topic (and waits for its replica processes to stop), so
every run measures the same cluster: 3 offsets partitions plus the scenario's own.

    python scripts/bench_rebalance.py [--runs 3] [--session-ms 3000] [--strategy range,cooperative-sticky]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def member_main(bootstrap: str, group: str, topic: str, out: str, session_ms: int, strategy: str) -> None:
    from wire import Consumer

    stop = False

    def on_term(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    with open(out, "a", buffering=1) as f:
        def note(kind: str, parts) -> None:
            f.write(f"{kind} {time.monotonic():.6f} {len(parts)} {','.join(f'{t}:{p}' for t, p in sorted(parts))}\n")

        with Consumer(bootstrap, group_id=group, auto_offset_reset="latest", session_timeout_ms=session_ms,
                      heartbeat_interval_ms=max(50, session_ms // 30), max_poll_interval_ms=60_000,
                      partition_assignment_strategy=strategy.split(","), enable_auto_commit=False) as c:
            c.subscribe([topic], on_assign=lambda ps: note("assign", ps), on_revoke=lambda ps: note("revoke", ps))
            f.write(f"polling {time.monotonic():.6f}\n")
            while not stop:
                c.poll(timeout_ms=50)
        f.write(f"closed {time.monotonic():.6f}\n")


class Member:
    def __init__(self, bootstrap, group, topic, out, args):
        self.out = out
        self.process = subprocess.Popen([sys.executable, __file__, "--member", bootstrap, group, topic, out,
                                         str(args.session_ms), args.strategy], cwd=ROOT,
                                        env={**os.environ, "PYTHONPATH": ROOT})

    def events(self) -> list[tuple[str, float, set]]:
        try:
            with open(self.out) as f:
                lines = [line.split() for line in f if line.endswith("\n")]
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            parts = set()
            if len(line) > 3 and line[3]:
                parts = {(t, int(p)) for t, p in (x.rsplit(":", 1) for x in line[3].split(","))}
            out.append((line[0], float(line[1]), parts))
        return out

    def owned(self, before: float = float("inf")) -> set:
        owned: set = set()
        for kind, at, parts in self.events():
            if at > before:
                break
            if kind == "assign":
                owned |= parts
            elif kind == "revoke":
                owned -= parts
        return owned

    def polling_at(self) -> float | None:
        return next((at for kind, at, _ in self.events() if kind == "polling"), None)

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        self.process.wait(30)


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.01)  # polling the members' logs, with a deadline


def settled_at(members: list, partitions: int, after: float) -> float | None:
    """When, after ``after``, every partition was owned by exactly one of ``members`` again."""
    times = sorted({at for m in members for kind, at, _ in m.events() if at >= after and kind == "assign"})
    for t in times:
        owned = [m.owned(before=t) for m in members]
        if sum(len(o) for o in owned) == partitions and len(set().union(*owned)) == partitions:
            return t
    return None


def run_two(cluster, d, run, args, crash: bool) -> float:
    topic, group = f"six-{run}-{'c' if crash else 'l'}", f"g-{run}-{'c' if crash else 'l'}"
    _create(cluster, topic, 6)
    a, b = (Member(cluster.bootstrap_servers, group, topic, os.path.join(d, f"{group}-{i}.txt"), args) for i in "ab")
    wait_until(lambda: len(a.owned()) + len(b.owned()) == 6 and a.owned() and b.owned(), 60, "a 3-3 split")
    t0 = time.monotonic()
    b.stop(signal.SIGKILL if crash else signal.SIGTERM)
    done = wait_until(lambda: settled_at([a], 6, t0), 60, "the survivor owning all 6")
    a.stop()
    _delete(cluster, topic)
    return done - t0


def run_hundred(cluster, d, run, args) -> tuple[float, float]:
    topic, group = f"hundred-{run}", f"g100-{run}"
    _create(cluster, topic, 100)
    members = [Member(cluster.bootstrap_servers, group, topic, os.path.join(d, f"{group}-{i}.txt"), args)
               for i in range(10)]
    wait_until(lambda: settled_at(members, 100, 0.0), 120, "10 members owning 100 partitions")
    extra = Member(cluster.bootstrap_servers, group, topic, os.path.join(d, f"{group}-x.txt"), args)
    t_join = wait_until(extra.polling_at, 60, "the 11th member polling")
    joined = wait_until(lambda: settled_at(members + [extra], 100, t_join), 120, "11 members settled") - t_join
    t_leave = time.monotonic()
    extra.stop()
    left = wait_until(lambda: settled_at(members, 100, t_leave), 120, "10 members settled again") - t_leave
    for m in members:
        m.stop()
    _delete(cluster, topic)
    return joined, left


def _create(cluster, topic: str, partitions: int) -> None:
    from wire import Admin

    with Admin(cluster.bootstrap) as admin:
        admin.create_topic(topic, partitions=partitions, replication_factor=1)


def _delete(cluster, topic: str) -> None:
    """Each run starts from the same cluster: the topic and its replica processes go first."""
    from wire import Admin

    with Admin(cluster.bootstrap) as admin:
        admin.delete_topic(topic)
    wait_until(lambda: not [a for a in cluster.actors(memory=False) if a.kind == "replica"  # leader-T-P, fetcher-T-P-B
                            and a.name.split("-", 1)[1].startswith(topic + "-")], 60, f"{topic}'s replicas gone")


def span(values: list[float]) -> str:
    return f"{min(values) * 1000:.0f}-{max(values) * 1000:.0f} ms (median {statistics.median(values) * 1000:.0f})"


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--member":
        bootstrap, group, topic, out, session_ms, strategy = sys.argv[2:8]
        member_main(bootstrap, group, topic, out, int(session_ms), strategy)
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--session-ms", type=int, default=3000)
    ap.add_argument("--strategy", default="range,cooperative-sticky")
    args = ap.parse_args()
    from supervisor import Supervisor

    print(f"rebalance benchmark: 3 brokers, session.timeout.ms={args.session_ms}, strategy {args.strategy}, "
          f"group.initial.rebalance.delay.ms=0, members as processes, {args.runs} runs")
    results: dict[str, list[float]] = {"leave": [], "crash": [], "join-100": [], "leave-100": []}
    with tempfile.TemporaryDirectory(prefix="zafka-bench-rebalance-") as d:
        with Supervisor(os.path.join(d, "cluster"), 3, {"group.initial.rebalance.delay.ms": "0",
                                                        "group.min.session.timeout.ms": "1000"}) as cluster:
            for run in range(args.runs):
                results["leave"].append(run_two(cluster, d, run, args, crash=False))
                results["crash"].append(run_two(cluster, d, run, args, crash=True))
                joined, left = run_hundred(cluster, d, run, args)
                results["join-100"].append(joined)
                results["leave-100"].append(left)
                print(f"  run {run + 1}: leave {results['leave'][-1] * 1000:.0f} ms, crash "
                      f"{results['crash'][-1] * 1000:.0f} ms, 11th of 100 partitions joins {joined * 1000:.0f} ms, "
                      f"leaves {left * 1000:.0f} ms", flush=True)
    print(f"  clean leave, 2 members x 6 partitions:   {span(results['leave'])} (aim < 500 ms)")
    print(f"  SIGKILLed member, 2 x 6:                 {span(results['crash'])} "
          f"(aim < 2 x session.timeout.ms = {2 * args.session_ms} ms)")
    print(f"  11th member joins 10 x 100 partitions:   {span(results['join-100'])} (aim < 1 s)")
    print(f"  ... and leaves again:                    {span(results['leave-100'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
