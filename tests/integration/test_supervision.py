"""Supervision on a real cluster: deaths are noticed, actors come back, no acked record is lost."""

from __future__ import annotations

import os
import signal

import pytest

from wire import errors
from wire.admin import DescribeCluster
from wire.control import Ping
from wire.transport import Connection

from . import rawclient as rc
from .conftest import wait_for


def actor(cluster, name):
    return {a.name: a for a in cluster.actors(memory=False)}[name]


def wait_restarted(cluster, name, restarts=1):
    return wait_for(
        lambda: (lambda a: a if a.alive and a.restarts >= restarts and a.state == "running" else None)(actor(cluster, name)),
        what=f"{name} restarted",
    )


def test_cluster_serves_with_every_actor_alive(cluster):
    names = {a.name: a for a in cluster.actors()}
    for expected in ("controller", "broker-1", "broker-2", "broker-3", "cleaner-1", "cleaner-2", "cleaner-3"):
        assert names[expected].alive and names[expected].pid > 0
    md = rc.metadata(cluster.bootstrap)
    assert sorted(b.id for b in md.brokers) == [1, 2, 3]
    assert md.controller_endpoint == cluster.controller_endpoint


@pytest.mark.parametrize("victim", ["leader", "broker", "controller", "cleaner"])
def test_sigkill_of_an_actor_restarts_it_and_loses_no_acked_record(cluster, victim):
    rc.create_topic(cluster.bootstrap, "orders", partitions=1)
    acked = []
    for i in range(20):
        values = [f"before-{i}-{j}".encode() for j in range(5)]
        base = rc.produce(cluster.bootstrap, "orders", 0, values)
        acked += list(zip(range(base, base + 5), values))
    name = {"leader": "leader-orders-0", "broker": "broker-1", "controller": "controller", "cleaner": "cleaner-1"}[victim]
    old_pid = actor(cluster, name).pid
    os.kill(old_pid, signal.SIGKILL)
    restarted = wait_restarted(cluster, name)
    assert restarted.pid != old_pid
    for i in range(5):
        values = [f"after-{i}".encode()]
        base = rc.produce(cluster.bootstrap, "orders", 0, values)
        acked.append((base, values[0]))
    assert rc.read_partition(cluster.bootstrap, "orders", 0) == acked


def test_killed_leader_rejoins_under_a_new_epoch(cluster):
    rc.create_topic(cluster.bootstrap, "t", partitions=1)
    epoch = rc.metadata(cluster.bootstrap, ["t"]).topics[0].partitions[0].leader_epoch
    cluster.kill("leader-t-0")
    wait_restarted(cluster, "leader-t-0")
    wait_for(
        lambda: rc.metadata(cluster.bootstrap, ["t"]).topics[0].partitions[0].leader_epoch > epoch
        and rc.leaders(cluster.bootstrap, "t"),
        what="a new leader epoch",
    )


def test_restart_intensity_marks_a_crashing_actor_failed_and_the_rest_keeps_serving(make_cluster):
    sup = make_cluster(config={"supervisor.max.restarts": "2", "supervisor.max.seconds": "60"})
    rc.create_topic(sup.bootstrap, "keep", partitions=3)
    for kill in range(3):
        wait_for(lambda: actor(sup, "cleaner-2").alive, what="cleaner-2 up")
        sup.kill("cleaner-2")
        if kill < 2:
            wait_restarted(sup, "cleaner-2", kill + 1)
    failed = wait_for(lambda: (lambda a: a if a.state == "failed" else None)(actor(sup, "cleaner-2")), what="failed")
    assert not failed.alive and failed.restarts == 2
    for partition in range(3):
        base = rc.produce(sup.bootstrap, "keep", partition, [b"still serving"])
        assert rc.read_partition(sup.bootstrap, "keep", partition)[-1] == (base, b"still serving")


def test_garbage_frames_get_error_replies_and_the_broker_keeps_serving(cluster):
    import zmq

    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(cluster.bootstrap)
    try:
        for garbage in (b"", b"\xff\xfe garbage", b"\x81\xa4type\xa7nothing", b"\x93\x01\x02\x03", os.urandom(2048)):
            sock.send_multipart([garbage])
            assert sock.poll(3000), f"no reply to {garbage[:10]!r}"
            from wire.protocol import decode_response

            reply = decode_response(sock.recv_multipart()[0])
            assert reply.error == errors.InvalidRequest.code
        with Connection(cluster.bootstrap) as conn:
            conn.call(Ping())  # still serving the others
            response, _ = conn.call(DescribeCluster())
        assert len(response.brokers) == 3
    finally:
        sock.close()


def test_oversized_header_gets_an_error_reply(cluster):
    import zmq

    from wire.protocol import decode_response

    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(cluster.bootstrap)
    try:
        sock.send_multipart([b"\x00" * (2 << 20)])
        assert sock.poll(5000)
        reply = decode_response(sock.recv_multipart()[0])
        assert reply.error == errors.InvalidRequest.code and "exceeds" in reply.message
    finally:
        sock.close()


def test_unsupported_protocol_version_is_refused(cluster):
    with Connection(cluster.bootstrap) as conn:
        with pytest.raises(errors.UnsupportedVersion):
            conn.call(Ping(v=99))


def test_every_actor_logs_to_its_own_file_with_name_and_pid_and_restarts_append(cluster):
    rc.create_topic(cluster.bootstrap, "logs", partitions=1)
    first_pid = actor(cluster, "leader-logs-0").pid
    cluster.kill("leader-logs-0")
    second_pid = wait_restarted(cluster, "leader-logs-0").pid
    path = os.path.join(cluster.logs_dir, "leader-logs-0.log")
    wait_for(lambda: f"pid={second_pid}" in open(path).read(), what="the restarted leader's log lines")
    lines = [line for line in open(path).read().splitlines() if line.strip() and not line.startswith((" ", "Traceback"))]
    assert all("[leader-logs-0 pid=" in line for line in lines)
    text = open(path).read()
    assert text.index(f"pid={first_pid}") < text.index(f"pid={second_pid}")
    for name in ("controller", "broker-1", "cleaner-1", "supervisor"):
        assert os.path.getsize(os.path.join(cluster.logs_dir, f"{name}.log")) > 0


def test_a_broker_crashed_and_kept_down_restarts_only_after_its_down_time(cluster):
    import time

    from wire.control import KillActor

    before = {a.name: a.pid for a in cluster.actors(memory=False) if a.broker == 2}
    killed_at = time.monotonic()
    with Connection(cluster.control_endpoint) as conn:
        response, _ = conn.call(KillActor(broker_id=2, down_ms=1500), timeout_ms=5000)
    assert sorted(response.killed) == sorted(before)
    back = wait_for(lambda: all(actor(cluster, n).alive and actor(cluster, n).pid != pid for n, pid in before.items())
                    and time.monotonic(), timeout=20, what="broker 2's actors restarted")
    assert back - killed_at >= 1.5  # held down at least as long as asked
    assert all(actor(cluster, n).restarts == 1 for n in before)
