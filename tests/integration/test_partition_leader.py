"""The PartitionLeader's request handling on a real cluster: long polls, clean stops."""

from __future__ import annotations

import os
import signal
import socket
import time

import pytest

from storage import build_batch, iter_batches
from wire.fetch import Fetch
from wire.produce import Produce
from wire.transport import Connection

from . import rawclient as rc
from .conftest import wait_for

REPLY_TIMEOUT_MS = 10_000


def recv_reply(conn: Connection, what: str, timeout_ms: int = REPLY_TIMEOUT_MS):
    """The next reply on ``conn``; fails (rather than hangs) when none comes in time."""
    got = conn.recv(timeout_ms)
    assert got is not None, f"no reply from {conn.endpoint} within {timeout_ms} ms to {what}"
    return got


def test_fetch_at_the_log_end_is_a_long_poll_answered_when_data_arrives(cluster):
    rc.create_topic(cluster.bootstrap, "poll")
    endpoint = rc.leaders(cluster.bootstrap, "poll")[0]
    with Connection(endpoint) as waiting, Connection(endpoint) as writer:
        waiting.send(Fetch(topic="poll", partition=0, offset=0, max_wait_ms=20_000, min_bytes=1))
        assert waiting.recv(300) is None, "an empty fetch must wait, not answer at once"
        writer.call(Produce(topic="poll", partition=0), [build_batch([b"wake up"])])
        response, frames = recv_reply(waiting, "the parked fetch, after the produce that should wake it")
    assert response.high_watermark == 1
    assert [r.value for b in iter_batches(frames[0].buffer) for r in b.records()] == [b"wake up"]


def test_fetch_min_bytes_holds_the_answer_until_enough_data_or_the_wait_ends(cluster):
    rc.create_topic(cluster.bootstrap, "minbytes")
    endpoint = rc.leaders(cluster.bootstrap, "minbytes")[0]
    with Connection(endpoint) as waiting, Connection(endpoint) as writer:
        waiting.send(Fetch(topic="minbytes", partition=0, offset=0, max_wait_ms=20_000, min_bytes=5000))
        writer.call(Produce(topic="minbytes", partition=0), [build_batch([b"small"])])
        assert waiting.recv(300) is None, "1 small batch is below fetch.min.bytes"
        writer.call(Produce(topic="minbytes", partition=0), [build_batch([os.urandom(6000)])])
        _, frames = recv_reply(waiting, "the parked fetch, once fetch.min.bytes were there")
    assert len(list(iter_batches(frames[0].buffer))) == 2
    with Connection(endpoint) as conn:  # max.wait.ms ends a poll that never fills
        response, frames = conn.call(Fetch(topic="minbytes", partition=0, offset=2, max_wait_ms=200, min_bytes=1))
    assert bytes(frames[0].buffer) == b"" and response.high_watermark == 2


def test_sigterm_stops_a_leader_cleanly_and_it_reopens_without_recovery(cluster):
    rc.create_topic(cluster.bootstrap, "clean")
    rc.produce(cluster.bootstrap, "clean", 0, [b"a", b"b"])
    old = cluster.pid_of("leader-clean-0")
    cluster.kill("leader-clean-0", signal.SIGTERM)
    wait_for(lambda: cluster.pid_of("leader-clean-0") != old and rc.leaders(cluster.bootstrap, "clean"), what="restart")
    log_text = open(os.path.join(cluster.logs_dir, "leader-clean-0.log")).read()
    new = cluster.pid_of("leader-clean-0")
    opened = [line for line in log_text.splitlines() if f"pid={new}]" in line and "opened" in line]
    assert opened and "clean shutdown" in opened[0]
    assert [v for _, v in rc.read_partition(cluster.bootstrap, "clean", 0)] == [b"a", b"b"]


def test_a_corrupt_batch_is_refused_and_the_leader_keeps_serving(cluster):
    rc.create_topic(cluster.bootstrap, "crc")
    endpoint = rc.leaders(cluster.bootstrap, "crc")[0]
    bad = bytearray(build_batch([b"payload"]))
    bad[-1] ^= 0xFF
    with Connection(endpoint) as conn:
        corr = conn.send(Produce(topic="crc", partition=0), [bytes(bad)])
        response, _ = recv_reply(conn, "a produce of a corrupt batch")
        assert response.corr == corr
        assert response.error == 2  # CORRUPT_MESSAGE
        good, _ = conn.call(Produce(topic="crc", partition=0), [build_batch([b"fine"])])
    assert good.base_offset == 0
    assert rc.read_partition(cluster.bootstrap, "crc", 0) == [(0, b"fine")]


def test_a_reply_that_never_comes_fails_the_test_instead_of_hanging_it():
    with socket.socket() as s:  # a port nobody listens on: the request is never answered
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with Connection(f"tcp://127.0.0.1:{port}") as conn:
        conn.send(Fetch(topic="none", partition=0, offset=0))
        started = time.monotonic()
        with pytest.raises(AssertionError, match=r"no reply from .* within 200 ms to a fetch nobody answers"):
            recv_reply(conn, "a fetch nobody answers", timeout_ms=200)
    assert time.monotonic() - started < 5
