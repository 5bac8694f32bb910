"""An actor that names its next deadline lets its loop sleep until then, and wakes it when a deadline
comes nearer; one that names none keeps the loop's steady ``tick_ms``."""

from __future__ import annotations

import time

from actors.runtime import TICK, WAKE, Actor, ActorSpec, Inbound, TickPlan
from wire.control import Ack, Ping


class _Outbox:
    def __init__(self):
        self.sent = []

    def send(self, data):
        self.sent.append(data)

    def send_multipart(self, parts, copy=True):
        self.sent.append(parts)


class _Timed(Actor):
    due_in: float | None = None

    def next_tick_at(self, now):
        return None if self.due_in is None else now + self.due_in


def _actor(cls=_Timed):
    spec = ActorSpec(name="timed", kind="broker", bind="tcp://127.0.0.1:1", advertised="", data_dir="/nonexistent",
                     controller="", tick_ms=25)
    plan = TickPlan(time.monotonic() + 0.025)
    actor = cls(spec, "inproc://unused", plan)
    actor._outbox = outbox = _Outbox()
    actor.handlers = {Ping: lambda *_: Ack()}
    return actor, plan, outbox


def test_an_idle_actor_pushes_its_next_tick_out_without_waking_the_loop():
    actor, plan, outbox = _actor()
    actor.due_in = 0.25
    actor.on_receive(TICK)
    assert plan.due - time.monotonic() > 0.2 and outbox.sent == []


def test_a_nearer_deadline_moves_the_tick_in_and_wakes_the_loop():
    actor, plan, outbox = _actor()
    actor.due_in = 0.25
    actor.on_receive(TICK)
    actor.due_in = 0.005  # e.g. a long poll with max_wait_ms=5 was parked
    actor.on_receive(Inbound(b"peer", Ping(corr=1), []))
    assert plan.due - time.monotonic() < 0.01
    assert outbox.sent[-1] == WAKE and len(outbox.sent) == 2  # the Ping's reply, then the wake-up


def test_an_actor_without_deadlines_leaves_the_loops_cadence_alone():
    actor, plan, outbox = _actor(Actor)
    before = plan.due
    actor.on_receive(Inbound(b"peer", Ping(corr=1), []))
    actor.on_receive(TICK)
    assert plan.due == before  # a steady stream of messages never postpones its ticks
