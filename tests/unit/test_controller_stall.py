"""A controller that did not run for a while (a long decision, a starved machine) fences nobody for the
silence it did not hear: every session is extended by its own stall."""

from __future__ import annotations

import time

from wire import control

from .test_metadata_snapshot import _cluster, _controller


def _led(ctl):
    """Every replica of topic t registered, so each partition has a leader with an endpoint."""
    for p, part in enumerate(ctl.image.topics["t"].partitions):
        for b in part.replicas:
            ctl.replica_ready(control.ReplicaReady(topic="t", partition=p, broker_id=b,
                                                   endpoint=f"tcp://127.0.0.1:{7000 + 10 * p + b}", pid=100 + b), [], b"p")
    return {p: part.leader for p, part in enumerate(ctl.image.topics["t"].partitions)}


def test_a_leader_silent_past_its_session_loses_its_leadership(tmp_path):
    ctl = _controller(str(tmp_path), **{"leader.session.timeout.ms": "1000"})
    _cluster(ctl)
    before = _led(ctl)
    now = time.monotonic()
    ctl.last_tick = now  # the controller ran all along: the silence is the leader's
    for b in (1, 2, 3):
        ctl.last_heartbeat[b] = now + 60  # brokers alive throughout
    ctl.leader_beats[("t", 0)] = now - 1.5
    ctl.on_tick()
    assert ctl.image.topics["t"].partitions[0].leader != before[0]
    ctl.teardown()


def test_a_stalled_controller_extends_every_session_by_its_stall(tmp_path):
    ctl = _controller(str(tmp_path), **{"leader.session.timeout.ms": "1000", "broker.session.timeout.ms": "1500"})
    _cluster(ctl)
    before = _led(ctl)
    now = time.monotonic()
    ctl.last_tick = now - 2.0  # the controller itself did not run for 2 s
    for b in (1, 2, 3):
        ctl.last_heartbeat[b] = now - 1.9  # and so read no broker heartbeat either
    for p in before:
        ctl.leader_beats[("t", p)] = now - 1.5
    ctl.on_tick()
    assert {p: part.leader for p, part in enumerate(ctl.image.topics["t"].partitions)} == before
    assert all(b.alive for b in ctl.image.brokers.values())
    ctl.teardown()
