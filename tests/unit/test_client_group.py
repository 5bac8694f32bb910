"""The consumer's side of a group (wire.client.group): encodings, the rebalance as a sequence of
requests that never blocks ``poll``, and when listeners run in each protocol."""

from __future__ import annotations

import pytest

from wire import errors
from wire.client import assignors
from wire.client.group import GroupMember, decode_assignment, decode_subscription, encode_assignment, encode_subscription
from wire.client.records import TopicPartition
from wire.connections import Failure, Reply
from wire.groups import (
    FindCoordinator,
    FindCoordinatorResponse,
    JoinGroup,
    JoinGroupMember,
    JoinGroupResponse,
    SyncGroup,
    SyncGroupResponse,
)

T0, T1, T2 = (TopicPartition("t", p) for p in range(3))
COORD = "tcp://127.0.0.9:1"


def test_subscriptions_and_assignments_round_trip():
    sub = decode_subscription(encode_subscription(["b", "a"], [T1, T0], 7))
    assert sub == assignors.Subscription(("a", "b"), (T1, T0), 7)
    assert decode_assignment(encode_assignment([T2, T0])) == [T0, T2]
    assert decode_assignment(b"") == []  # a member the leader gave nothing


class _Pool:
    """Records what the member sends; nothing is answered until the test says so."""

    def __init__(self):
        self.sent, self.cancelled = [], []

    def send(self, endpoint, request, frames=(), *, timeout_ms, context=None):
        self.sent.append((endpoint, request, context, timeout_ms))
        return len(self.sent)

    def cancel(self, corr):
        self.cancelled.append(corr)


class _Metadata:
    def endpoints(self):
        return ["tcp://127.0.0.1:1", "tcp://127.0.0.1:2"]


class _Member:
    """A GroupMember driven by hand: ``step`` as poll() calls it, replies fed one at a time."""

    def __init__(self, strategy=("range",), instance=None):
        self.pool = _Pool()
        self.group = GroupMember("g", self.pool, _Metadata(), session_timeout_ms=10_000, heartbeat_interval_ms=1000,
                                 max_poll_interval_ms=30_000, assignors=assignors.parse_strategy(list(strategy)),
                                 group_instance_id=instance, client_id="c", request_timeout_ms=1000,
                                 retry_backoff_ms=50)
        self.group._start_heartbeats = lambda: None  # no thread: only the rebalance is under test
        self.calls = []

    def step(self) -> bool:
        return self.group.step(["t"], lambda topic: 3, lambda ps: self.calls.append(("revoke", ps)),
                               lambda ps: self.calls.append(("assign", ps)),
                               lambda ps: self.calls.append(("lost", ps)))

    def last(self):
        return self.pool.sent[-1]

    def answer(self, response=None, error=None) -> bool:
        _, _, context, _ = self.last()
        event = Failure(context, error) if error is not None else Reply(context, response, [])
        assert self.group.take(event)
        return self.step()

    def join_round(self, assigned, member_id="m1", generation=1, leader=False):
        """Answer the JoinGroup in flight and then the SyncGroup it leads to."""
        _, join, _, _ = self.last()
        assert isinstance(join, JoinGroup)
        members = [JoinGroupMember(member_id, None, join.protocols[0].metadata)] if leader else []
        self.answer(JoinGroupResponse(generation_id=generation, protocol_name=join.protocols[0].name,
                                      leader=member_id if leader else "other", member_id=member_id, members=members))
        endpoint, sync, _, _ = self.last()
        assert isinstance(sync, SyncGroup) and endpoint == COORD and sync.generation_id == generation
        return sync, self.answer(SyncGroupResponse(assignment=encode_assignment(assigned)))


def _joined(strategy=("range",), assigned=(T0, T1)) -> _Member:
    m = _Member(strategy)
    m.step()
    assert isinstance(m.last()[1], FindCoordinator)
    m.answer(FindCoordinatorResponse(node_id=9, endpoint=COORD))
    m.join_round(list(assigned))
    return m


def test_a_first_rebalance_finds_the_coordinator_joins_and_syncs_one_request_at_a_time():
    m = _Member()
    assert m.step() is False
    endpoint, find, _, _ = m.last()
    assert isinstance(find, FindCoordinator) and find.key == "g"
    m.answer(FindCoordinatorResponse(node_id=9, endpoint=COORD))
    endpoint, join, _, timeout_ms = m.last()
    assert endpoint == COORD and join.member_id == "" and join.rebalance_timeout_ms == 30_000
    assert timeout_ms >= 30_000  # the coordinator may hold a JoinGroup for the whole rebalance timeout
    sync, changed = m.join_round([T0, T1, T2], leader=True)
    assert [decode_assignment(a.assignment) for a in sync.assignments] == [[T0, T1, T2]]  # the leader assigned
    assert changed is True and m.calls == [("assign", [T0, T1, T2])]
    assert m.group.assignment == [T0, T1, T2] and not m.group.needs_join
    assert (m.group.member_id, m.group.generation) == ("m1", 1)


def test_a_held_join_never_blocks_a_step_and_nothing_more_is_sent_meanwhile():
    m = _joined(("cooperative-sticky",))
    m.group.request_rejoin()
    m.step()
    sent = len(m.pool.sent)
    for _ in range(5):  # poll rounds while the coordinator holds the JoinGroup: the member keeps fetching
        assert m.step() is False
    assert len(m.pool.sent) == sent and m.group.assignment == [T0, T1]


def test_eager_revokes_everything_before_each_rebalance_and_still_names_what_it_held():
    m = _joined(("range",))
    m.group.request_rejoin()
    m.step()
    assert m.calls[-1] == ("revoke", [T0, T1]) and m.group.assignment == []
    _, join, _, _ = m.last()
    assert decode_subscription(join.protocols[0].metadata).owned == (T0, T1)  # sticky strategies keep them
    m.join_round([T1, T2], generation=2)
    assert m.calls == [("assign", [T0, T1]), ("revoke", [T0, T1]), ("assign", [T1, T2])]


def test_cooperative_revokes_only_what_moves_and_rejoins_at_once_to_hand_it_over():
    m = _joined(("cooperative-sticky",))
    m.group.request_rejoin()
    m.step()
    assert ("revoke", [T0, T1]) not in m.calls
    m.join_round([T1], generation=2)  # T0 withheld for its new owner
    assert m.calls[-1] == ("revoke", [T0])
    assert m.group.needs_join and isinstance(m.last()[1], JoinGroup)  # the follow-up join is already out
    m.join_round([T1, T2], generation=3)
    assert m.calls == [("assign", [T0, T1]), ("revoke", [T0]), ("assign", [T2])]  # T1 never revoked
    assert m.group.assignment == [T1, T2] and not m.group.needs_join


def test_a_member_the_group_forgot_loses_its_partitions_and_joins_afresh():
    m = _joined(("cooperative-sticky",))
    m.group.request_rejoin()
    m.step()
    m.answer(error=None, response=JoinGroupResponse(error=errors.UnknownMemberId.code))
    assert m.calls[-1] == ("lost", [T0, T1])  # not revoked: someone else may own them already
    _, join, _, _ = m.last()
    assert join.member_id == "" and decode_subscription(join.protocols[0].metadata).owned == ()


def test_a_moving_coordinator_is_found_again_after_the_backoff():
    m = _joined()
    m.group.request_rejoin()
    m.step()
    sent = len(m.pool.sent)
    m.answer(error=errors.BrokerNotAvailable("lost the connection"))
    assert m.group.coordinator is None and len(m.pool.sent) == sent  # nothing sent inside the backoff
    wake = m.group.next_wakeup()
    assert wake is not None
    m.group._retry_at = 0.0  # the backoff has passed
    m.step()
    assert isinstance(m.last()[1], FindCoordinator)


def test_a_reply_to_a_request_given_up_on_is_dropped():
    m = _joined()
    m.group.request_rejoin()
    m.step()
    _, _, old_context, _ = m.last()
    m.answer(error=errors.RequestTimedOut("no reply"))
    m.group._retry_at = 0.0
    m.step()  # a new FindCoordinator is out
    stale = Reply(old_context, JoinGroupResponse(generation_id=5, member_id="m1", leader="x", protocol_name="range"), [])
    assert m.group.take(stale)  # recognised as the member's, and ignored
    m.step()
    assert isinstance(m.last()[1], FindCoordinator) and m.group.generation == 1


def test_a_fenced_static_member_is_told():
    m = _joined()
    m.group.request_rejoin()
    m.step()
    with pytest.raises(errors.FencedInstanceId):
        m.answer(response=JoinGroupResponse(error=errors.FencedInstanceId.code))


def test_a_subscription_change_during_a_join_rejoins_after_it():
    m = _joined(("cooperative-sticky",))
    m.group.request_rejoin()
    m.step()
    m.group.request_rejoin()  # e.g. a new topic matched the pattern while the join was held
    m.join_round([T0, T1], generation=2)
    assert m.group.needs_join and isinstance(m.last()[1], JoinGroup)


def test_close_cancels_the_join_in_flight():
    m = _joined()
    m.group.request_rejoin()
    m.step()
    m.group.close(leave=False)
    assert m.pool.cancelled == [len(m.pool.sent)]
    assert m.step() is False and not isinstance(m.last()[1], SyncGroup)


def test_replies_of_other_requests_are_not_taken():
    m = _Member()
    assert not m.group.take(Reply(("fetch", None, 0), None, []))
    assert not m.group.take(Reply(object(), None, []))
