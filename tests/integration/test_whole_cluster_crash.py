"""Whole-cluster crashes: SIGKILL everything mid-write, restart on the same data dir.

The cluster runs under a supervisor in a child process here, so the test can kill
the supervisor itself — the one thing a fixture in this process cannot survive.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import psutil

from wire import errors

from . import rawclient as rc
from .conftest import FAST, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CHILD = """
import json, sys
from supervisor import Supervisor
sup = Supervisor(sys.argv[1], brokers=int(sys.argv[2]), config=json.loads(sys.argv[3])).start()
print(sup.bootstrap, flush=True)
sup.wait()
"""


def start_supervisor_process(data_dir: str, brokers: int) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, data_dir, str(brokers), json.dumps(FAST)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    bootstrap = proc.stdout.readline().strip()
    if not bootstrap.startswith("tcp://"):
        proc.kill()
        proc.wait()
        raise AssertionError("the supervisor process did not start")
    return proc, bootstrap


def family(proc: subprocess.Popen) -> list[psutil.Process]:
    parent = psutil.Process(proc.pid)
    return [parent, *parent.children(recursive=True)]


def kill_family(procs: list[psutil.Process]) -> None:
    for p in procs:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=10)


def test_actors_die_with_a_sigkilled_supervisor(tmp_path):
    proc, bootstrap = start_supervisor_process(str(tmp_path / "data"), 1)
    members = family(proc)
    try:
        rc.create_topic(bootstrap, "t", partitions=2)
        members = family(proc)
        actors = [p for p in members if p.pid != proc.pid]
        assert len(actors) >= 5  # forkserver, controller, broker, cleaner, 2 leaders
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        _, alive = psutil.wait_procs(actors, timeout=10)
        assert not alive, f"actors outlived their supervisor: {[p.pid for p in alive]}"
    finally:
        kill_family(members)
        proc.wait(10)


def test_sigkill_of_the_whole_cluster_mid_write_keeps_every_acknowledged_record(tmp_path, make_cluster):
    data_dir = str(tmp_path / "data")
    proc, bootstrap = start_supervisor_process(data_dir, 3)
    members = family(proc)
    acked: dict[int, list[tuple[int, bytes]]] = {0: [], 1: [], 2: []}
    stop = threading.Event()

    def writer(partition: int) -> None:
        i = 0
        while not stop.is_set():
            values = [f"p{partition}-b{i}-r{j}".encode() for j in range(10)]
            try:
                base = rc.produce(bootstrap, "crash", partition, values, timeout=2)
            except (errors.ZafkaError, TimeoutError):
                return  # the cluster is gone: this batch was never acknowledged
            acked[partition] += list(zip(range(base, base + len(values)), values))
            i += 1

    try:
        rc.create_topic(bootstrap, "crash", partitions=3)
        members = family(proc)
        threads = [threading.Thread(target=writer, args=(p,)) for p in range(3)]
        for t in threads:
            t.start()
        wait_for(lambda: all(len(v) >= 200 for v in acked.values()), what="some acknowledged writes")
        kill_family(members)  # every process at once, mid-write
        stop.set()
        for t in threads:
            t.join(30)
    finally:
        stop.set()
        kill_family(members)
        proc.wait(10)
    restarted = make_cluster(brokers=3, data_dir=data_dir)
    for partition in range(3):
        stored = rc.read_partition(restarted.bootstrap, "crash", partition)
        assert stored[: len(acked[partition])] == acked[partition]
        assert len(stored) - len(acked[partition]) <= 10 * 1  # at most the one batch in flight
        assert [o for o, _ in stored] == list(range(len(stored)))
