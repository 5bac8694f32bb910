"""How long a controller restart takes after many failovers, with and without metadata snapshots.

Runs the Controller's own code without a process (its handlers called directly):
registers 3 brokers, creates a 3-partition RF 3 topic, then records FAILOVERS
failovers the way the cluster does (an election, the new leader's process
registering, an ISR shrink and regrowth: four events each), then times a fresh
controller opening the same data dir — snapshot load plus replay of the tail.
"Without snapshots" sets metadata.log.max.record.bytes.between.snapshots so high
that none is written, which is how the controller behaved before snapshots.

    python scripts/bench_controller_restart.py [--failovers N] [--runs R]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from actors import cluster_state as cs  # noqa: E402
from actors.config import BrokerConfig  # noqa: E402
from actors.controller import Controller  # noqa: E402
from actors.specs import ActorSpec  # noqa: E402
from wire import admin, control  # noqa: E402


class _Outbox:
    def send_multipart(self, parts, copy=True):
        pass


def controller(data_dir: str, snapshots: bool) -> Controller:
    props = {} if snapshots else {"metadata.log.max.record.bytes.between.snapshots": str(1 << 62),
                                  "metadata.log.max.snapshot.interval.ms": "0"}
    config, _ = BrokerConfig.from_properties(props)
    spec = ActorSpec(name="controller", kind="controller", bind="tcp://127.0.0.1:1", advertised="tcp://127.0.0.1:1",
                     data_dir=data_dir, controller="", config=config)
    ctl = Controller(spec, "inproc://unused")
    ctl._outbox = _Outbox()
    ctl.setup()
    return ctl


def fill(ctl: Controller, failovers: int) -> None:
    for b in (1, 2, 3):
        ctl.heartbeat(control.BrokerHeartbeat(broker_id=b, endpoint=f"tcp://127.0.0.1:{9000 + b}"), [], b"p")
    ctl.create_topic(admin.CreateTopic(name="t", partitions=3, replication_factor=3), [], b"p")
    for i in range(failovers):
        p, leader = i % 3, 1 + (i + 1) % 3
        part = ctl.image.topics["t"].partitions[p]
        ctl._commit(cs.LeaderElected("t", p, leader, part.leader_epoch + 1, [1, 2, 3]))
        ctl._commit(cs.ReplicaRegistered("t", p, leader, f"tcp://127.0.0.1:{20000 + i % 1000}", 100000 + i))
        ctl._commit(cs.IsrChanged("t", p, [b for b in (1, 2, 3) if b != leader % 3 + 1]))
        ctl._commit(cs.IsrChanged("t", p, [1, 2, 3]))


def one_run(failovers: int, snapshots: bool) -> tuple[float, int, int]:
    with tempfile.TemporaryDirectory(prefix="zafka-bench-ctl-") as d:
        ctl = controller(d, snapshots)
        fill(ctl, failovers)
        end = ctl.metadata_log.log_end_offset
        ctl.teardown()
        started = time.perf_counter()
        again = controller(d, snapshots)
        took = time.perf_counter() - started
        size = again.metadata_log.size_bytes
        again.teardown()
        return took, end, size


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--failovers", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    print(f"controller restart after {args.failovers:,} failovers ({4 * args.failovers:,} metadata events), "
          f"{args.runs} runs each; metadata.log.max.record.bytes.between.snapshots default "
          f"{BrokerConfig().metadata_log_max_record_bytes_between_snapshots:,}; data dir on {tempfile.gettempdir()}")
    for snapshots in (True, False):
        runs = [one_run(args.failovers, snapshots) for _ in range(args.runs)]
        times = [t * 1000 for t, _, _ in runs]
        print(f"  {'with snapshots   ' if snapshots else 'without snapshots'}: restart {min(times):.0f}-{max(times):.0f} ms "
              f"(median {statistics.median(times):.0f}); events in the log {runs[0][1]:,}, "
              f"log kept {runs[0][2] / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
