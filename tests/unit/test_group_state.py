"""A consumer group's membership state machine (actors.group_state): Kafka's classic protocol, without a process."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.group_state import (
    COMPLETING,
    EMPTY,
    PREPARING,
    STABLE,
    Committed,
    Group,
    GroupLimits,
    GroupRecord,
    OffsetRecord,
    Reply,
    Store,
    choose_protocol,
)
from wire import errors
from wire.groups import (
    CommitOffset,
    GroupProtocol,
    HeartbeatResponse,
    JoinGroup,
    JoinGroupResponse,
    OffsetCommitResponse,
    SyncAssignment,
    SyncGroup,
    SyncGroupResponse,
)

_tokens = itertools.count(1)


class Driver:
    """Carries out a group's effects as the coordinator actor would: stores succeed unless told not to."""

    def __init__(self, group: Group):
        self.group = group
        self.replies: dict[int, object] = {}
        self.stored: list = []
        self.fail_stores = False
        self.held_stores: list[Store] = []
        self.hold_stores = False

    def run(self, effects: list) -> None:
        for effect in effects:
            if isinstance(effect, Reply):
                assert effect.token not in self.replies, f"token {effect.token} answered twice"
                self.replies[effect.token] = effect.response
            elif self.hold_stores:
                self.held_stores.append(effect)
            elif self.fail_stores:
                self.run(effect.failed(RuntimeError("the append failed")))
            else:
                self.stored.extend(effect.records)
                self.run(effect.then())

    def release_stores(self) -> None:
        held, self.held_stores = self.held_stores, []
        for effect in held:
            self.stored.extend(effect.records)
            self.run(effect.then())

    def join(self, now: float, member_id: str = "", instance: str | None = None, protocols=("range",),
             session: int = 10_000, rebalance: int = 30_000, metadata: bytes = b"sub") -> int:
        token = next(_tokens)
        self.run(self.group.join(JoinGroup(
            group_id=self.group.group_id, session_timeout_ms=session, rebalance_timeout_ms=rebalance,
            member_id=member_id, group_instance_id=instance, protocols=[GroupProtocol(p, metadata) for p in protocols],
            client_id="c"), token, now))
        return token

    def sync(self, now: float, member_id: str, generation: int, assignments: dict | None = None,
             instance: str | None = None) -> int:
        token = next(_tokens)
        self.run(self.group.sync(SyncGroup(
            group_id=self.group.group_id, generation_id=generation, member_id=member_id, group_instance_id=instance,
            assignments=[SyncAssignment(m, a) for m, a in (assignments or {}).items()]), token, now))
        return token

    def heartbeat(self, now: float, member_id: str, generation: int, instance: str | None = None):
        token = next(_tokens)
        self.run(self.group.heartbeat(member_id, instance, generation, token, now))
        return self.replies[token]

    def commit(self, now: float, member_id: str, generation: int, offsets: dict, instance: str | None = None):
        token = next(_tokens)
        self.run(self.group.commit(member_id, instance, generation,
                                   [CommitOffset(t, p, o) for (t, p), o in offsets.items()], token, now))
        return token

    def reply(self, token: int):
        return self.replies.get(token)


def _group(delay_ms: int = 0, **limits) -> Driver:
    return Driver(Group("g", GroupLimits(min_session_timeout_ms=1000, initial_rebalance_delay_ms=delay_ms, **limits)))


def _stable_pair(d: Driver, now: float = 0.0) -> tuple[str, str, int]:
    """Two members in a STABLE group: (leader, follower, generation)."""
    a = d.join(now)
    first: JoinGroupResponse = d.reply(a)
    b = d.join(now + 1)
    d.heartbeat(now + 2, first.member_id, first.generation_id)  # told to rejoin
    a2 = d.join(now + 3, member_id=first.member_id)
    ra, rb = d.reply(a2), d.reply(b)
    leader = ra.leader
    follower = rb.member_id if leader == ra.member_id else ra.member_id
    s1 = d.sync(now + 4, follower, ra.generation_id)
    s2 = d.sync(now + 5, leader, ra.generation_id, {leader: b"L", follower: b"F"})
    assert d.group.state == STABLE and d.reply(s1).assignment == b"F" and d.reply(s2).assignment == b"L"
    return leader, follower, ra.generation_id


def test_a_first_member_leads_a_generation_of_its_own_and_gets_every_subscription():
    d = _group()
    token = d.join(0, metadata=b"orders")
    response = d.reply(token)
    assert isinstance(response, JoinGroupResponse) and response.generation_id == 1
    assert response.leader == response.member_id and response.protocol_name == "range"
    assert [(m.member_id, m.metadata) for m in response.members] == [(response.member_id, b"orders")]
    assert d.group.state == COMPLETING


def test_a_new_member_makes_everyone_rejoin_and_only_the_leader_sees_the_members():
    d = _group()
    leader, follower, generation = _stable_pair(d)
    assert generation == 2
    joins = [r for r in d.replies.values() if isinstance(r, JoinGroupResponse) and r.generation_id == 2]
    by_member = {r.member_id: r for r in joins}
    assert len(by_member[leader].members) == 2 and by_member[follower].members == []


def test_the_initial_rebalance_delay_gathers_a_starting_group_into_one_generation():
    d = _group(delay_ms=3000)
    a, b = d.join(0), d.join(100)
    assert d.reply(a) is None and d.reply(b) is None  # held: the delay has not passed
    d.run(d.group.expire(2999))
    assert d.reply(a) is None
    d.run(d.group.expire(3000))
    assert d.reply(a).generation_id == d.reply(b).generation_id == 1  # one rebalance, not two


def test_followers_get_their_assignment_only_once_the_leaders_is_stored():
    d = _group()
    a = d.reply(d.join(0))
    b_token = d.join(1)
    d.heartbeat(2, a.member_id, 1)
    d.join(3, member_id=a.member_id)
    b = d.reply(b_token)
    follower = b.member_id if b.leader != b.member_id else a.member_id
    leader = b.leader
    d.hold_stores = True
    held = d.sync(4, follower, 2)
    assert d.reply(held) is None  # no assignment yet
    leader_sync = d.sync(5, leader, 2, {leader: b"p0", follower: b"p1"})
    assert d.reply(held) is None and d.reply(leader_sync) is None and d.group.state == COMPLETING
    d.release_stores()  # the assignment is replicated: now everyone hears
    assert d.reply(held) == SyncGroupResponse(protocol_name="range", assignment=b"p1")
    assert d.reply(leader_sync).assignment == b"p0" and d.group.state == STABLE
    assert any(isinstance(r, GroupRecord) and r.value.generation == 2 for r in d.stored)


def test_an_assignment_that_could_not_be_stored_sends_everyone_back_to_rejoin():
    d = _group()
    a = d.reply(d.join(0))
    d.fail_stores = True
    sync = d.sync(1, a.member_id, 1, {a.member_id: b"x"})
    assert isinstance(d.reply(sync), errors.CoordinatorNotAvailable)
    assert d.group.state == PREPARING


def test_heartbeats_tell_stale_unknown_and_rebalancing_members_apart():
    d = _group()
    leader, follower, generation = _stable_pair(d)
    assert isinstance(d.heartbeat(10, leader, generation), HeartbeatResponse)
    assert isinstance(d.heartbeat(10, leader, generation - 1), errors.IllegalGeneration)
    assert isinstance(d.heartbeat(10, "nobody", generation), errors.UnknownMemberId)
    d.join(11)  # a third member: a rebalance begins
    assert isinstance(d.heartbeat(12, leader, generation), errors.RebalanceInProgress)


def test_a_silent_member_is_removed_after_its_session_and_the_rest_rebalance():
    d = _group()
    leader, follower, generation = _stable_pair(d)
    d.heartbeat(9000, leader, generation)
    d.run(d.group.expire(10_010))  # the follower was last seen at 4 ms: its 10 s session is over
    assert follower not in d.group.members and d.group.state == PREPARING
    token = d.join(10_011, member_id=leader)
    assert d.reply(token).generation_id == generation + 1 and d.reply(token).members[0].member_id == leader


def test_a_member_that_does_not_rejoin_within_the_rebalance_timeout_is_dropped():
    d = _group()
    leader, follower, generation = _stable_pair(d)
    token = d.join(100, member_id=leader, rebalance=5000)  # rejoins; the follower never does
    assert d.reply(token) is None
    d.heartbeat(200, follower, generation)  # still heartbeating, but not rejoining
    d.run(d.group.expire(100 + 30_000))  # the longest rebalance timeout (the follower's 30 s)
    assert d.reply(token).generation_id == generation + 1 and list(d.group.members) == [leader]


def test_a_member_waiting_on_a_held_join_is_not_expired():
    d = _group(delay_ms=20_000)
    token = d.join(0, session=1000, rebalance=60_000)
    d.run(d.group.expire(15_000))
    assert len(d.group.members) == 1 and d.reply(token) is None


def test_leaving_rebalances_at_once_and_the_last_to_leave_empties_the_group():
    d = _group()
    leader, follower, generation = _stable_pair(d)
    d.run(d.group.leave([(follower, None)], "bye", 10))
    assert d.group.state == PREPARING and follower not in d.group.members
    d.run(d.group.leave([(leader, None)], "bye2", 11))
    assert d.group.state == EMPTY and d.group.members == {}
    assert isinstance(d.stored[-1], GroupRecord) and d.stored[-1].value.members == []


def test_a_static_member_restarting_gets_its_assignment_back_without_a_rebalance():
    d = _group()
    a = d.reply(d.join(0, instance="i-1"))
    d.sync(1, a.member_id, 1, {a.member_id: b"mine"})
    assert d.group.state == STABLE
    again = d.join(5000, instance="i-1")  # the process restarted: a new member id, same instance id
    response = d.reply(again)
    assert response.generation_id == 1 and response.member_id != a.member_id  # no new generation
    assert d.group.state == STABLE
    sync = d.sync(5001, response.member_id, 1, instance="i-1")
    assert d.reply(sync).assignment == b"mine"
    # the old member id, were it still around, is fenced
    assert isinstance(d.heartbeat(5002, a.member_id, 1, instance="i-1"), errors.FencedInstanceId)


def test_a_session_timeout_outside_the_brokers_bounds_is_refused():
    d = _group()
    token = d.join(0, session=500)
    assert isinstance(d.reply(token), errors.InvalidSessionTimeout) and d.group.members == {}


def test_a_member_offering_no_strategy_the_group_shares_is_refused():
    d = _group()
    d.join(0, protocols=("range",))
    token = d.join(1, protocols=("roundrobin",))
    assert isinstance(d.reply(token), errors.InconsistentGroupProtocol)


def test_commits_are_checked_against_the_generation_and_visible_only_once_stored():
    d = _group()
    leader, follower, generation = _stable_pair(d)
    stale = d.commit(10, leader, generation - 1, {("t", 0): 5})
    assert isinstance(d.reply(stale), errors.IllegalGeneration) and d.group.offsets == {}
    d.hold_stores = True
    ok = d.commit(11, leader, generation, {("t", 0): 7})
    assert d.reply(ok) is None and d.group.offsets == {}  # not replicated yet: not committed
    d.release_stores()
    assert isinstance(d.reply(ok), OffsetCommitResponse) and d.group.offsets[("t", 0)].offset == 7
    assert any(isinstance(r, OffsetRecord) and r.value.offset == 7 for r in d.stored)
    d.hold_stores = False
    d.fail_stores = True
    failed = d.commit(12, leader, generation, {("t", 0): 9})
    assert isinstance(d.reply(failed), errors.CoordinatorNotAvailable) and d.group.offsets[("t", 0)].offset == 7


def test_a_commit_during_the_completing_rebalance_is_refused_and_standalone_commits_need_an_empty_group():
    d = _group()
    a = d.reply(d.join(0))
    token = d.commit(1, a.member_id, 1, {("t", 0): 1})
    assert isinstance(d.reply(token), errors.RebalanceInProgress)
    standalone = d.commit(2, "", -1, {("t", 0): 1})
    assert isinstance(d.reply(standalone), errors.UnknownMemberId)
    empty = _group()
    ok = empty.commit(0, "", -1, {("t", 1): 3})
    assert isinstance(empty.reply(ok), OffsetCommitResponse) and empty.group.offsets[("t", 1)].offset == 3


def test_oversized_commit_metadata_fails_that_partition_only():
    d = _group()
    token = next(_tokens)
    d.run(d.group.commit("", None, -1, [CommitOffset("t", 0, 1, "x" * 5000), CommitOffset("t", 1, 2)], token, 0))
    results = {r.partition: r.error for r in d.reply(token).results}
    assert results == {0: errors.OffsetMetadataTooLarge.code, 1: 0} and list(d.group.offsets) == [("t", 1)]


def test_an_empty_groups_offsets_expire_after_the_retention():
    d = _group()
    d.commit(0, "", -1, {("t", 0): 1})
    d.group.empty_since_ms = 0
    d.run(d.group.expire_offsets(999, retention_ms=1000))
    assert ("t", 0) in d.group.offsets
    d.run(d.group.expire_offsets(1000, retention_ms=1000))
    assert d.group.offsets == {} and d.stored[-1] == OffsetRecord("g", "t", 0, None)


def test_a_restored_group_keeps_generation_members_and_assignments():
    d = _group()
    leader, follower, generation = _stable_pair(d)
    d.commit(10, leader, generation, {("t", 0): 4})
    restored = Group.restore("g", d.group.snapshot(), dict(d.group.offsets), now_ms=50_000)
    assert restored.state == STABLE and restored.generation == generation and restored.leader == leader
    assert {m: x.assignment for m, x in restored.members.items()} == {leader: b"L", follower: b"F"}
    assert restored.offsets == {("t", 0): Committed(4, "", 10)}
    moved = Driver(restored)
    assert isinstance(moved.heartbeat(50_001, follower, generation), HeartbeatResponse)


@pytest.mark.parametrize("preferences, chosen", [
    ([["range"]], "range"),
    ([["sticky", "range"], ["range", "sticky"], ["range"]], "range"),
    ([["cooperative-sticky", "range"], ["cooperative-sticky", "range"]], "cooperative-sticky"),
    ([["a", "b"], ["b", "a"]], "a"),  # a tie: the first member's first
    ([["a"], ["b"]], None),
])
def test_the_group_protocol_is_the_most_voted_one_every_member_supports(preferences, chosen):
    assert choose_protocol(preferences) == chosen


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["join", "rejoin", "leave", "heartbeat", "expire", "sync", "commit"]),
                          st.integers(0, 3), st.integers(0, 4000)), max_size=40))
def test_random_membership_never_answers_a_request_twice_and_keeps_its_invariants(steps):
    d = _group(delay_ms=500)
    now, known = 0.0, []
    for op, who, dt in steps:
        now += dt
        member = known[who % len(known)] if known else ""
        g = d.group
        if op == "join":
            token = d.join(now, session=3000, rebalance=6000)
            known.append(token)  # resolved to a member id below, when answered
        elif op == "rejoin" and member in g.members:
            d.join(now, member_id=member, session=3000, rebalance=6000)
        elif op == "leave" and member in g.members:
            d.run(g.leave([(member, None)], next(_tokens), now))
        elif op == "heartbeat" and member:
            d.heartbeat(now, member, g.generation)
        elif op == "expire":
            d.run(g.expire(now))
        elif op == "sync" and g.state == COMPLETING and g.leader:
            d.sync(now, g.leader, g.generation, {m: b"a" for m in g.members})
        elif op == "commit" and member:
            d.commit(now, member, g.generation, {("t", 0): int(now)})
        known = [_member_of(d, k) if isinstance(k, int) else k for k in known]
        known = [k for k in known if k]
        generation = g.generation
        # invariants: a STABLE group holds no join; an EMPTY one has no members; the generation only grows
        assert g.state != STABLE or all(m.join_token is None for m in g.members.values())
        assert (g.state == EMPTY) == (not g.members) or g.state == PREPARING
        assert all(g.static.get(m.group_instance_id) == mid for mid, m in g.members.items() if m.group_instance_id)
        assert generation >= 0


def _member_of(d: Driver, token: int) -> str:
    response = d.replies.get(token)
    return response.member_id if isinstance(response, JoinGroupResponse) else ""
