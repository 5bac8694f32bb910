"""Real clusters for integration tests: temp data dir, free loopback ports, guaranteed teardown."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable

import pytest

from actors.ports import ephemeral_range, listen_range
from supervisor import Supervisor
from tests.conftest import reap

FAST = {
    "broker.heartbeat.interval.ms": "100",
    "broker.session.timeout.ms": "2000",
    "supervisor.restart.backoff.ms": "50",
    "supervisor.restart.backoff.max.ms": "500",
}


def wait_for(condition: Callable[[], object], timeout: float = 20.0, interval: float = 0.02, what: str = "condition"):
    """Poll ``condition`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last_exc = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last error: {last_exc})")


def stop_all(supervisors: list[Supervisor]) -> None:
    """Stop every supervisor, newest first; one that fails to stop does not spare the rest.

    Raises once all were tried: the one error as it is, several as an ``ExceptionGroup``.
    """
    failures: list[BaseException] = []
    for sup in reversed(supervisors):
        try:
            sup.stop()
        except BaseException as exc:  # noqa: BLE001 - re-raised below, after the others were stopped
            exc.add_note(f"while stopping the cluster in {getattr(sup, 'data_dir', sup)!r}")
            failures.append(exc)
    if len(failures) == 1:
        raise failures[0]
    if failures:
        if all(isinstance(exc, Exception) for exc in failures):
            raise ExceptionGroup(f"{len(failures)} clusters failed to stop", failures)
        raise BaseExceptionGroup(f"{len(failures)} clusters failed to stop", failures)


@pytest.fixture
def make_cluster(tmp_path):
    """Start clusters on demand; every one is stopped at teardown, pass or fail."""
    started: list[Supervisor] = []

    def start(brokers: int = 3, config: dict | None = None, data_dir=None, **kwargs) -> Supervisor:
        sup = Supervisor(
            str(data_dir or tmp_path / f"cluster-{len(started)}"), brokers=brokers,
            config={**FAST, **(config or {})}, **kwargs,
        )
        started.append(sup)
        return sup.start()

    yield start
    try:
        stop_all(started)
    except BaseException as exc:
        leftovers = reap(5)  # whatever a failed stop left running is killed, and named
        if leftovers:
            exc.add_note(f"actor processes killed after the failed stop: {leftovers}")
        raise
    leftovers = reap(5)
    assert not leftovers, f"actor processes outlived the cluster: {leftovers}"


@pytest.fixture
def cluster(make_cluster) -> Supervisor:
    return make_cluster()


def _whole_lines(path: str) -> list[list[str]]:
    """A child's record file, split into words, without a last line it has not finished writing."""
    try:
        with open(path) as f:
            return [line.split() for line in f if line.endswith("\n")]
    except FileNotFoundError:
        return []


class AckedProducer:
    """An ``acks=all`` producer in a process of its own (``_acked_producer.py``) and what it acknowledged."""

    def __init__(self, process, out: str):
        self.process = process
        self.out = out

    def lines(self) -> list[list[str]]:
        return _whole_lines(self.out)

    @property
    def done(self) -> bool:
        return any(line == ["done"] for line in self.lines())

    def acked(self) -> list[tuple[int, int, bytes, float]]:
        """(partition, offset, value, seconds from send to acknowledgement) per acknowledged record."""
        return [(int(p), int(o), v.encode(), float(t1) - float(t0))
                for kind, v, p, o, t0, t1 in (line for line in self.lines() if line[0] == "ack")]

    def failed(self) -> list[tuple[bytes, str]]:
        return [(line[1].encode(), line[2]) for line in self.lines() if line[0] == "fail"]

    def wait(self, timeout: float) -> None:
        wait_for(lambda: self.done or self.process.poll() is not None, timeout=timeout, what="the producer to finish")
        assert self.done, f"the producer process exited with {self.process.poll()} before it was done"


class _Children:
    """Scripts of tests/integration run as processes of their own; every one killed at teardown."""

    def __init__(self, tmp_path):
        import os

        self.tmp_path = tmp_path
        self.root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        self.started: list = []

    def start(self, script: str, out_name: str, args: list[str]):
        import os
        import subprocess
        import sys

        out = str(self.tmp_path / f"{out_name}-{len(self.started)}.txt")
        process = subprocess.Popen([sys.executable, os.path.join(self.root, "tests", "integration", script),
                                    *[a.replace("{out}", out) for a in args]],
                                   cwd=self.root, env={**os.environ, "PYTHONPATH": self.root})
        self.started.append(process)
        return process, out

    def kill_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
            process.wait(10)


@pytest.fixture
def acked_producer(tmp_path):
    """Start ``_acked_producer.py`` processes; each is killed at teardown, pass or fail."""
    children = _Children(tmp_path)

    def start(bootstrap: str, topic: str, partitions: int, count: int, chunk: int = 200,
              pause_ms: int = 100) -> AckedProducer:
        process, out = children.start("_acked_producer.py", "acked", [
            bootstrap, topic, str(partitions), str(count), str(chunk), str(pause_ms), "{out}"])
        return AckedProducer(process, out)

    yield start
    children.kill_all()


class GroupConsumerProcess:
    """A group member in a process of its own (``_group_consumer.py``) and what it did."""

    def __init__(self, process, out: str):
        self.process = process
        self.out = out

    def lines(self) -> list[list[str]]:
        return _whole_lines(self.out)

    def assigned(self) -> set[tuple[str, int]]:
        """What it owns now, replaying its assign and revoke lines."""
        owned: set[tuple[str, int]] = set()
        for line in self.lines():
            if line[0] in ("assign", "revoke") and len(line) > 2:
                tps = {(t, int(p)) for t, p in (x.rsplit(":", 1) for x in line[2].split(","))}
                owned = owned | tps if line[0] == "assign" else owned - tps
        return owned

    def rebalances(self) -> int:
        return sum(1 for line in self.lines() if line[0] in ("assign", "revoke"))

    def records(self) -> list[tuple[str, int, int, str, float]]:
        """(topic, partition, offset, value, monotonic seconds) of everything it consumed, in order."""
        return [(t, int(p), int(o), v, float(at)) for kind, t, p, o, v, at in
                (line for line in self.lines() if line[0] == "rec")]

    def records_before_last_commit(self) -> int:
        count = committed = 0
        for line in self.lines():
            if line[0] == "rec":
                count += 1
            elif line[0] == "committed":
                committed = count
        return committed


@pytest.fixture
def group_consumer(tmp_path):
    """Start ``_group_consumer.py`` members; each is killed at teardown, pass or fail."""
    children = _Children(tmp_path)

    def start(bootstrap: str, group: str, topics: str, *extra: str) -> GroupConsumerProcess:
        process, out = children.start("_group_consumer.py", "member", [bootstrap, group, topics, "{out}", *extra])
        return GroupConsumerProcess(process, out)

    yield start
    children.kill_all()


def free_port_block(n: int, host: str = "127.0.0.1") -> int:
    """A base port B with B-1 .. B+n-1 all free on ``host`` (a cluster's controller takes B-1, its brokers
    B, B+1, ...), chosen as the supervisor chooses actors' ports: outside the ephemeral range, so no
    outgoing connection takes one between this check and the cluster binding it (``actors.ports``)."""
    low, high = listen_range(ephemeral_range()) or (20000, 30000)
    rng = random.Random()
    for _ in range(200):
        base = rng.randint(low + 1, high - n)
        socks = []
        try:
            for port in range(base - 1, base + n):
                sock = socket.socket()
                socks.append(sock)
                sock.bind((host, port))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError(f"no block of {n + 1} free ports on {host}")
