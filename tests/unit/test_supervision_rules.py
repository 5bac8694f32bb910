"""The supervisor's rules as data: the kind table, restart policies, intensity and backoff."""

from __future__ import annotations

import collections

import msgspec
import pytest

from actors import kinds
from actors.specs import ActorSpec, BrokerArgs, ReplicaArgs, decode_spec, encode_spec
from actors.supervision import RestartIntensity


def test_every_kind_in_the_design_has_one_row_and_they_start_in_rank_order():
    assert list(kinds.KINDS) == ["controller", "broker", "cleaner", "replica", "coordinator"]
    ranks = [k.start_rank for k in kinds.KINDS.values()]
    assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks)  # the stop order is their reverse
    for k in kinds.KINDS.values():
        assert kinds.actor_class(k.name).__name__ == k.actor.partition(":")[2]
        assert k.module in kinds.PRELOAD


def test_an_unknown_kind_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown actor kind 'follower'"):
        kinds.kind_row("follower")


@pytest.mark.parametrize(("policy", "exitcode", "restart"), [
    ("permanent", 0, True), ("permanent", 1, True), ("permanent", -9, True),
    ("transient", 0, False), ("transient", 1, True), ("transient", -9, True), ("transient", None, True),
])
def test_restart_policies_are_otps(policy, exitcode, restart):
    assert kinds.should_restart(policy, exitcode) is restart


def test_an_unknown_restart_policy_is_refused():
    with pytest.raises(ValueError, match="unknown restart policy 'temporary'"):
        kinds.should_restart("temporary", 0)


def test_intensity_backs_off_doubling_then_gives_up_past_max_restarts_in_the_window():
    rule = RestartIntensity(max_restarts=3, max_seconds=10, backoff_s=0.1, backoff_max_s=0.3)
    recent: collections.deque = collections.deque()
    assert [rule.record_death(recent, t) for t in (0.0, 1.0, 2.0)] == [0.1, 0.2, 0.3]  # capped at the max
    assert rule.record_death(recent, 3.0) is None  # a 4th death within 10 s: failed


def test_deaths_older_than_the_window_are_forgotten():
    rule = RestartIntensity(max_restarts=2, max_seconds=5, backoff_s=0.1, backoff_max_s=5)
    recent: collections.deque = collections.deque()
    rule.record_death(recent, 0.0)
    rule.record_death(recent, 1.0)
    assert rule.record_death(recent, 5.5) == 0.2  # the death at 0 s left the window: two in it
    assert list(recent) == [1.0, 5.5]


def test_a_spec_crosses_the_process_boundary_typed():
    spec = ActorSpec(name="leader-t-3", kind="replica", bind="tcp://127.0.0.1:1", advertised="tcp://127.0.0.1:1",
                     data_dir="/d", controller="tcp://127.0.0.1:2", broker_id=2,
                     args=ReplicaArgs("t", 3, "id", "/d/broker-2"))
    back = decode_spec(encode_spec(spec))
    assert back == spec and back.args.partition == 3 and back.args.directory == "/d/broker-2/t-3"
    broker = ActorSpec(name="broker-1", kind="broker", bind="b", advertised="b", data_dir="/d", controller="c",
                       args=BrokerArgs(("/a", "/b")))
    assert decode_spec(encode_spec(broker)).args.log_dirs == ("/a", "/b")


def test_a_spec_with_arguments_of_the_wrong_shape_fails_to_decode():
    bad = msgspec.msgpack.encode({"name": "leader-t-0", "kind": "replica", "bind": "b", "advertised": "b",
                                  "data_dir": "/d", "controller": "c",
                                  "args": {"type": "replica", "topic": "t", "partition": "0", "topic_id": "i",
                                           "log_dir": "/d"}})
    with pytest.raises(msgspec.ValidationError, match="partition"):
        decode_spec(bad)
