"""Hostile frames against every listening socket of a running cluster: nothing restarts.

A property-based fuzz run sends what an attacker or a broken client would — msgpack
nested thousands deep, length prefixes that promise gigabytes, wrong types in every
field of every request type, truncated and oversized headers, the wrong number of
payload frames — to the brokers, the controller, the partition leaders, the cleaners
and the supervisor's control socket. Every message must be answered with a typed
error; afterwards no actor has restarted and the control socket and the data path
still work. ``make test`` runs a bounded number of examples; ``make test-slow`` a
long run.
"""

from __future__ import annotations

import os

import msgspec
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import hostile
from wire import Consumer, Producer, TopicPartition, control, errors, protocol
from wire.transport import Connection

from . import rawclient
from .conftest import wait_for

SOCKET_LIMIT = 4 << 20  # socket.request.max.bytes of the fuzzed cluster: a bigger message is dropped by ZeroMQ
GATE_CODES = {errors.InvalidRequest.code, errors.UnsupportedVersion.code}
REPLY_TIMEOUT_MS = 5000


class Target:
    """One DEALER per listening socket, reused across examples (as a real attacker would)."""

    def __init__(self, name: str, endpoint: str):
        self.name = name
        self.endpoint = endpoint
        self.socket = zmq.Context.instance().socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.connect(endpoint)

    def exchange(self, frames: list[bytes]) -> protocol.Response:
        self.socket.send_multipart(frames)
        assert self.socket.poll(REPLY_TIMEOUT_MS), f"{self.name} ({self.endpoint}) did not answer {frames[0][:60]!r}"
        reply = self.socket.recv_multipart()
        return protocol.decode_response(reply[0])

    def close(self) -> None:
        self.socket.close(linger=0)

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        return f"Target({self.name})"


def _snapshot(cluster) -> dict[str, tuple[int, int]]:
    return {a.name: (a.pid, a.restarts) for a in cluster.actors(memory=False)}


@pytest.fixture
def fuzzed_cluster(make_cluster):
    cluster = make_cluster(config={
        "auto.create.topics.enable": "false",  # well-typed garbage must not create topics
        "socket.request.max.bytes": str(SOCKET_LIMIT),
    })
    rawclient.create_topic(cluster.bootstrap, "fuzz", partitions=2)
    wait_for(lambda: {"leader-fuzz-0", "leader-fuzz-1"} <= {a.name for a in cluster.actors(memory=False) if a.alive},
             what="both leaders")
    targets = [Target(a.name, a.endpoint) for a in cluster.actors(memory=False)]
    targets.append(Target("supervisor-control", cluster.control_endpoint))
    assert {t.name.split("-")[0] for t in targets} >= {"controller", "broker", "cleaner", "leader", "supervisor"}
    yield cluster, targets
    for t in targets:
        t.close()


def _fuzz(cluster, targets, examples: int) -> None:
    before = _snapshot(cluster)
    sent = []

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
    @given(target=st.sampled_from(targets), message=hostile.hostile_messages())
    def send(target: Target, message: list[bytes]) -> None:
        reply = target.exchange(message)
        assert isinstance(reply, protocol.ErrorResponse), f"{target.name} served a hostile message: {reply}"
        assert reply.error in GATE_CODES, f"{target.name} answered {reply}"
        sent.append(target.name)

    send()
    assert len(sent) >= examples // 2 and len(set(sent)) == len(targets), f"only {len(sent)} messages were sent"
    # a message past socket.request.max.bytes is dropped by ZeroMQ with the connection; the
    # actor notices nothing, and the next message on a fresh connection is served
    for target in targets:
        if target.name == "supervisor-control":
            continue
        target.socket.send_multipart([protocol.encode(control.Ping(corr=1)), b"\x00" * (SOCKET_LIMIT + 1)])
    after = _snapshot(cluster)
    assert after == before, f"actors restarted or died: before {before}, after {after}"
    _check_still_serving(cluster, targets)


def _check_still_serving(cluster, targets) -> None:
    for target in targets:
        with Connection(target.endpoint) as conn:
            response, _ = conn.call(control.Ping(), timeout_ms=REPLY_TIMEOUT_MS)
        assert isinstance(response, control.Ack), target.name
    # the control socket: list, status, and a kill that is carried out
    with Connection(cluster.control_endpoint) as conn:
        listed, _ = conn.call(control.ListActors(memory=False), timeout_ms=REPLY_TIMEOUT_MS)
        assert {a.name for a in listed.actors} == set(_snapshot(cluster))
        status, _ = conn.call(control.ClusterStatus(), timeout_ms=REPLY_TIMEOUT_MS)
        assert status.failed == [] and status.supervisor_pid == os.getpid()
    # the data path: produce with acks=1 and read every record back
    values = [f"after-fuzz-{i}".encode() for i in range(200)]
    with Producer(bootstrap=cluster.bootstrap, acks=1, linger_ms=1) as producer:
        futures = [producer.send("fuzz", value=v, partition=i % 2) for i, v in enumerate(values)]
        acked = [f.result(timeout=20) for f in futures]
    assert len(acked) == len(values)
    consumer = Consumer(bootstrap=cluster.bootstrap, auto_offset_reset="earliest")
    try:
        consumer.assign([TopicPartition("fuzz", 0), TopicPartition("fuzz", 1)])
        seen: list[bytes] = []
        wait_for(lambda: seen.extend(r.value for r in consumer.poll(timeout_ms=200)) or len(seen) >= len(values),
                 what="the records produced after the fuzz run")
        assert sorted(seen) == sorted(values)
    finally:
        consumer.close()


def test_hostile_frames_to_every_socket_restart_nothing_and_the_cluster_still_serves(fuzzed_cluster):
    cluster, targets = fuzzed_cluster
    _fuzz(cluster, targets, examples=int(os.environ.get("ZAFKA_FUZZ_EXAMPLES", "300")))


@pytest.mark.slow
def test_long_hostile_frame_run_restarts_nothing(fuzzed_cluster):
    cluster, targets = fuzzed_cluster
    _fuzz(cluster, targets, examples=int(os.environ.get("ZAFKA_FUZZ_EXAMPLES_SLOW", "5000")))


def test_a_deeply_nested_frame_to_the_control_socket_leaves_it_serving(cluster):
    """The frame that used to kill the supervisor's control thread for good."""
    deep = b"\x82\xa4type\xa4ping\xa1x" + b"\x81\xa1k" * 5000 + b"\xc0"
    target = Target("supervisor-control", cluster.control_endpoint)
    try:
        for _ in range(3):
            reply = target.exchange([deep])
            assert reply.error == errors.InvalidRequest.code and "nested too deeply" in reply.message
        with Connection(cluster.control_endpoint) as conn:
            listed, _ = conn.call(control.ListActors(memory=False), timeout_ms=REPLY_TIMEOUT_MS)
        assert listed.actors
    finally:
        target.close()


def test_kill_of_an_actor_that_just_exited_is_an_error_reply_not_a_dead_control_thread(cluster, monkeypatch):
    import supervisor as supervisor_module

    def gone(pid, sig):
        raise ProcessLookupError(pid, "No such process")

    monkeypatch.setattr(supervisor_module.os, "kill", gone)
    with Connection(cluster.control_endpoint) as conn:
        with pytest.raises(errors.UnknownActor, match="exited before the signal reached it"):
            conn.call(control.KillActor(name="cleaner-1"), timeout_ms=REPLY_TIMEOUT_MS)
        with pytest.raises(errors.InvalidRequest, match="signal 'USR1' is not one zafka sends"):
            conn.call(control.KillActor(name="cleaner-1", signal="USR1"), timeout_ms=REPLY_TIMEOUT_MS)
        monkeypatch.undo()
        killed, _ = conn.call(control.KillActor(name="cleaner-1"), timeout_ms=REPLY_TIMEOUT_MS)
    assert killed.killed == ["cleaner-1"]
    wait_for(lambda: any(a.name == "cleaner-1" and a.alive and a.restarts == 1 for a in cluster.actors(memory=False)),
             what="cleaner-1 restarted after the kill")


def test_hostile_but_well_typed_reads_get_answers(fuzzed_cluster):
    """Extreme values in the right types: every read-only request is answered, none kills an actor."""
    cluster, targets = fuzzed_cluster
    before = _snapshot(cluster)
    ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)
    small_waits = st.integers(min_value=-(2**31), max_value=200)
    reads = st.one_of(
        st.builds(lambda t, p, o, mb, w, mn, r, e: {"type": "fetch", "topic": t, "partition": p, "offset": o,
                                                     "max_bytes": mb, "max_wait_ms": w, "min_bytes": mn,
                                                     "replica_id": r, "leader_epoch": e},
                  st.sampled_from(["fuzz", "", "nope"]), ints, ints, ints, small_waits, ints, ints, ints),
        st.builds(lambda t, p, ts: {"type": "list_offsets", "topic": t, "partition": p, "timestamp": ts},
                  st.sampled_from(["fuzz", "nope"]), ints, ints),
        st.builds(lambda ts: {"type": "metadata", "topics": ts, "allow_auto_create": True},
                  st.none() | st.lists(st.text(max_size=300), max_size=5)),
        st.builds(lambda t: {"type": "describe_configs", "topic": t}, st.text(max_size=300)),
        st.builds(lambda k, w: {"type": "watch_metadata", "known_version": k, "max_wait_ms": w}, ints, small_waits),
        st.just({"type": "describe_cluster"}),
        st.just({"type": "cluster_status"}),
        st.builds(lambda m: {"type": "list_actors", "memory": m}, st.booleans()),
    )

    @settings(max_examples=int(os.environ.get("ZAFKA_FUZZ_EXAMPLES", "300")), deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(target=st.sampled_from(targets), fields=reads, corr=st.integers(min_value=1, max_value=2**63 - 1))
    def send(target: Target, fields: dict, corr: int) -> None:
        fields["corr"] = corr
        reply = target.exchange([msgspec.msgpack.encode(fields)])
        assert reply.corr == corr, f"{target.name} answered {reply} to {fields}"
        if reply.error:
            assert reply.error in errors.BY_CODE and reply.error != errors.UnknownServerError.code, \
                f"{target.name} failed on {fields}: {reply}"

    send()
    assert _snapshot(cluster) == before
    assert rawclient.metadata(cluster.bootstrap).topics and [t.name for t in rawclient.metadata(cluster.bootstrap).topics] == ["fuzz"]
