"""Controlled shutdown's rule for one partition (Kafka's ControlledShutdownLeaderSelector), tested directly."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from actors.replication import (
    MOVED,
    REMAINING,
    SHRUNK,
    STRANDED,
    UNCHANGED,
    ShutdownMove,
    controlled_shutdown_move,
)


def test_a_stopping_leader_hands_over_to_the_first_live_in_sync_replica_elsewhere():
    move = controlled_shutdown_move([1, 2, 3], leader=1, isr=[1, 2, 3], alive=[1, 2, 3], shutting=[1])
    assert move == ShutdownMove(2, [2, 3], MOVED)
    # a dead or out-of-sync replica is passed over
    assert controlled_shutdown_move([1, 2, 3], 1, [1, 3], alive=[1, 2, 3], shutting=[1]) == ShutdownMove(3, [3], MOVED)
    assert controlled_shutdown_move([1, 2, 3], 1, [1, 2, 3], alive=[1, 3], shutting=[1]).leader == 3


def test_a_stopping_follower_only_leaves_the_isr():
    assert controlled_shutdown_move([1, 2, 3], 2, [2, 3, 1], alive=[1, 2, 3], shutting=[1]) == ShutdownMove(2, [2, 3], SHRUNK)
    assert controlled_shutdown_move([1, 2, 3], 2, [2, 3], alive=[1, 2, 3], shutting=[1]) == ShutdownMove(2, [2, 3], UNCHANGED)


def test_with_only_an_out_of_sync_replica_elsewhere_the_leader_stays_and_it_is_worth_asking_again():
    move = controlled_shutdown_move([1, 2], leader=1, isr=[1], alive=[1, 2], shutting=[1])
    assert move == ShutdownMove(1, [1], REMAINING)


def test_a_whole_cluster_stopping_moves_nothing_and_keeps_every_isr():
    move = controlled_shutdown_move([1, 2, 3], leader=1, isr=[1, 2, 3], alive=[1, 2, 3], shutting=[1, 2, 3])
    assert move == ShutdownMove(1, [1, 2, 3], STRANDED)
    # nowhere to go also when the only other replica is dead
    assert controlled_shutdown_move([1, 2], 1, [1], alive=[1], shutting=[1]).outcome == STRANDED


def test_an_offline_partition_is_left_alone():
    assert controlled_shutdown_move([1, 2], -1, [1], alive=[2], shutting=[2]) == ShutdownMove(-1, [1], UNCHANGED)


@given(replicas=st.lists(st.integers(1, 6), min_size=1, max_size=5, unique=True), data=st.data())
def test_a_controlled_shutdown_never_loses_a_committed_record_or_empties_an_isr(replicas, data):
    leader = data.draw(st.sampled_from(replicas))
    isr = [leader, *data.draw(st.lists(st.sampled_from([b for b in replicas if b != leader] or [leader]),
                                       unique=True))]
    isr = list(dict.fromkeys(isr))
    alive = set(data.draw(st.sets(st.sampled_from(replicas)))) | {leader}
    shutting = set(data.draw(st.sets(st.sampled_from(replicas))))
    move = controlled_shutdown_move(replicas, leader, isr, alive, shutting)
    assert move.isr, "the ISR is never empty"
    assert set(move.isr) <= set(isr), "nobody joins the ISR in a shutdown"
    assert move.leader in move.isr
    if move.leader != leader:  # a handover: only to an in-sync replica that stays up, so nothing committed is lost
        assert move.outcome == MOVED and move.leader in isr and move.leader in alive and move.leader not in shutting
    if move.outcome in (MOVED, SHRUNK):
        assert not shutting & set(move.isr)
    if leader not in shutting:
        assert move.leader == leader
    elif any(b in isr and b in alive and b not in shutting for b in replicas):
        assert move.outcome == MOVED
    else:
        expected = REMAINING if any(b in alive and b not in shutting for b in replicas) else STRANDED
        assert move == ShutdownMove(leader, isr, expected)
