"""Elections, the ISR and the high watermark: Kafka's rules, tested without a process."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from actors.replication import NO_LEADER, Election, FollowerProgress, elect_leader, high_watermark, isr_changes


def test_the_first_live_isr_member_in_assignment_order_leads():
    assert elect_leader([3, 1, 2], isr=[1, 2, 3], alive=[1, 2], unclean_allowed=False) == Election(1, [1, 2])
    assert elect_leader([3, 1, 2], isr=[2, 3], alive=[1, 2, 3], unclean_allowed=False) == Election(3, [3, 2])


def test_with_no_live_isr_member_the_partition_goes_offline_keeping_its_last_isr():
    election = elect_leader([1, 2, 3], isr=[1], alive=[2, 3], unclean_allowed=False)
    assert election == Election(NO_LEADER, [1])


def test_an_unclean_election_takes_any_live_replica_and_says_so():
    election = elect_leader([1, 2, 3], isr=[1], alive=[3, 2], unclean_allowed=True)
    assert election == Election(2, [2], unclean=True)
    assert elect_leader([1, 2], isr=[1], alive=[], unclean_allowed=True).leader == NO_LEADER


@given(replicas=st.lists(st.integers(0, 6), min_size=1, max_size=5, unique=True), data=st.data())
def test_a_clean_election_never_picks_a_replica_outside_the_isr_or_a_dead_one(replicas, data):
    isr = data.draw(st.lists(st.sampled_from(replicas), min_size=1, unique=True))
    alive = data.draw(st.sets(st.sampled_from(replicas)))
    unclean = data.draw(st.booleans())
    election = elect_leader(replicas, isr, alive, unclean)
    assert election.isr, "the ISR is never empty"
    if election.leader != NO_LEADER:
        assert election.leader in alive and election.leader in election.isr
        assert set(election.isr) <= alive
        if not election.unclean:
            assert election.leader in isr and set(election.isr) <= set(isr)
    if any(b in alive for b in isr):
        assert not election.unclean and election.leader != NO_LEADER
    elif not unclean or not alive:
        assert election.leader == NO_LEADER


def test_caught_up_time_follows_kafkas_rule():
    p = FollowerProgress()
    p.on_fetch(fetch_offset=10, leader_end_offset=10, now_ms=1000)  # asked for the end: caught up now
    assert p.last_caught_up_ms == 1000
    p.on_fetch(fetch_offset=10, leader_end_offset=20, now_ms=2000)  # behind now, but had what the end was before
    assert p.last_caught_up_ms == 1000
    p.on_fetch(fetch_offset=20, leader_end_offset=30, now_ms=3000)  # reached the end as of its previous fetch
    assert p.last_caught_up_ms == 2000
    p.on_fetch(fetch_offset=25, leader_end_offset=40, now_ms=4000)  # fell behind what the end was: no credit
    assert p.last_caught_up_ms == 2000 and p.log_end_offset == 25


def test_the_high_watermark_is_the_lowest_log_end_over_the_isr():
    followers = {2: FollowerProgress(log_end_offset=7), 3: FollowerProgress(log_end_offset=4)}
    assert high_watermark(1, 9, [1, 2, 3], followers) == 4
    assert high_watermark(1, 9, [1, 2], followers) == 7  # 3 is out of the ISR: it does not hold it back
    assert high_watermark(1, 3, [1, 2], followers) == 3  # never past the leader's own end
    assert high_watermark(1, 9, [1, 4], followers) is None  # an ISR member never heard from


def test_a_follower_leaves_the_isr_after_the_lag_time_and_comes_back_once_caught_up():
    followers = {2: FollowerProgress(log_end_offset=10, last_caught_up_ms=1000),
                 3: FollowerProgress(log_end_offset=3, last_caught_up_ms=0)}
    assert isr_changes(1, [1, 2, 3], [1, 2, 3], followers, 3, now_ms=20_000, lag_time_max_ms=30_000) is None
    assert isr_changes(1, [1, 2, 3], [1, 2, 3], followers, 3, now_ms=30_500, lag_time_max_ms=30_000) == [1, 2]
    # 3, out of the ISR, joins once its log end reaches the high watermark
    assert isr_changes(1, [1, 2], [1, 2, 3], followers, 3, now_ms=1000, lag_time_max_ms=30_000) == [1, 2, 3]
    assert isr_changes(1, [1, 2], [1, 2, 3], followers, 4, now_ms=1000, lag_time_max_ms=30_000) is None


def test_a_follower_that_stopped_fetching_does_not_rejoin_on_its_old_progress():
    followers = {2: FollowerProgress(log_end_offset=10, last_caught_up_ms=1000, last_fetch_ms=1000)}
    assert isr_changes(1, [1], [1, 2], followers, 10, now_ms=1500, lag_time_max_ms=2000) == [1, 2]
    assert isr_changes(1, [1], [1, 2], followers, 10, now_ms=3500, lag_time_max_ms=2000) is None  # silent since


def test_the_preferred_replica_takes_over_only_when_in_sync_and_alive():
    from actors.replication import preferred_leader_ready
    assert preferred_leader_ready([1, 2, 3], 2, [1, 2, 3], [1, 2, 3]) is None
    assert "already led" in preferred_leader_ready([1, 2, 3], 1, [1, 2, 3], [1, 2, 3])
    assert "not in the ISR" in preferred_leader_ready([1, 2, 3], 2, [2, 3], [1, 2, 3])
    assert "not alive" in preferred_leader_ready([1, 2, 3], 2, [1, 2, 3], [2, 3])


def test_a_broker_is_imbalanced_when_it_leads_too_few_of_the_partitions_it_prefers():
    from actors.replication import imbalanced_brokers
    parts = [([1, 2], 1), ([1, 2], 2), ([2, 1], 2), ([2, 1], 2), ([3, 1], 3)] + [([2, 3], 2)] * 8
    assert imbalanced_brokers(parts, 10) == {1}  # broker 1 leads 1 of its 2: 50 % > 10 %
    assert imbalanced_brokers(parts, 50) == set()  # not above 50 %
    assert imbalanced_brokers([([1, 2], 2)] * 10 + [([1, 2], 1)] * 90, 10) == set()  # exactly 10 %: not above
