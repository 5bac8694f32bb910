"""The consumer's side of a group (wire.client.group): encodings, and when listeners run in each protocol."""

from __future__ import annotations

from wire.client import assignors
from wire.client.group import GroupMember, decode_assignment, decode_subscription, encode_assignment, encode_subscription
from wire.client.records import TopicPartition

T0, T1, T2 = (TopicPartition("t", p) for p in range(3))


def test_subscriptions_and_assignments_round_trip():
    sub = decode_subscription(encode_subscription(["b", "a"], [T1, T0], 7))
    assert sub == assignors.Subscription(("a", "b"), (T1, T0), 7)
    assert decode_assignment(encode_assignment([T2, T0])) == [T0, T2]
    assert decode_assignment(b"") == []  # a member the leader gave nothing


class _Scripted(GroupMember):
    """A member whose rebalances return planned assignments instead of talking to a coordinator."""

    def __init__(self, strategy, plans):
        super().__init__("g", None, None, session_timeout_ms=10_000, heartbeat_interval_ms=1000,
                         max_poll_interval_ms=30_000, assignors=assignors.parse_strategy(strategy),
                         group_instance_id=None, client_id="c", request_timeout_ms=1000, retry_backoff_ms=10)
        self.plans = list(plans)
        self.owned_seen = []

    def _rebalance(self, topics, partitions_of, owned):
        self.owned_seen.append(list(owned))
        self.needs_join = False
        return self.plans.pop(0)

    def _start_heartbeats(self):
        pass


def _run(member, calls):
    member.ensure_active(["t"], lambda t: 3, lambda ps: calls.append(("revoke", ps)),
                         lambda ps: calls.append(("assign", ps)))


def test_eager_revokes_everything_before_each_rebalance_and_assigns_the_whole_new_set():
    member, calls = _Scripted(["range"], [[T0, T1], [T1, T2]]), []
    _run(member, calls)
    member.needs_join = True
    _run(member, calls)
    assert calls == [("assign", [T0, T1]), ("revoke", [T0, T1]), ("assign", [T1, T2])]
    assert member.owned_seen == [[], [T0, T1]]  # sticky strategies still hear what it held


def test_cooperative_revokes_only_what_moves_and_rejoins_to_hand_it_over():
    # the first rebalance takes T0 away (withheld for its new owner); the member must rejoin at once
    member, calls = _Scripted(["cooperative-sticky"], [[T0, T1], [T1], [T1, T2]]), []
    _run(member, calls)
    member.needs_join = True
    _run(member, calls)
    assert calls == [("assign", [T0, T1]), ("revoke", [T0]), ("assign", [T2])]
    assert member.assignment == [T1, T2] and not member.needs_join
    assert member.owned_seen == [[], [T0, T1], [T1]]  # T1 was never revoked: it kept flowing
