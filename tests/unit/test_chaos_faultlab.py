"""The fault lab's pure parts (scripts/cli/faultlab.py): faults, schedule, victims, failovers, verdict."""

from __future__ import annotations

import math
from collections import Counter
from typing import NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scripts.cli import faultlab as fl
from scripts.cli.faultlab import Fault, Record


# -- fault names ----------------------------------------------------------------------------

def test_parse_faults_reads_names_targets_and_repeats():
    assert fl.parse_faults("kill, pause,broker,controller") == [
        Fault("kill"), Fault("pause"), Fault("broker"), Fault("controller"),
    ]
    assert fl.parse_faults(["kill,actor:broker-2", "actor:cleaner-1,kill", "FOLLOWER"]) == [
        Fault("kill"), Fault("actor", "broker-2"), Fault("actor", "cleaner-1"), Fault("follower"),
    ]
    assert str(Fault("actor", "broker-2")) == "actor:broker-2"
    assert fl.parse_faults(fl.DEFAULT_FAULTS) == [Fault(k) for k in ("kill", "pause", "broker", "controller")]


@pytest.mark.parametrize("text, words", [
    ("kil", "unknown fault 'kil'"),
    ("kill,explode", "unknown fault 'explode'"),
    ("actor", "name the actor"),
    ("actor:", "name the actor"),
    ("kill:leader-x-0", "only actor:NAME takes a name"),
    ("stop:2", "only actor:NAME takes a name"),
    (",", "names no fault"),
])
def test_parse_faults_refuses_what_is_no_fault(text, words):
    with pytest.raises(fl.FaultError, match=words):
        fl.parse_faults(text)


@pytest.mark.parametrize("kind", ["member", "coordinator"])
def test_group_faults_need_a_consumer_group(kind):
    faults = fl.parse_faults(f"kill,{kind}")
    with pytest.raises(fl.FaultNotAvailable) as info:
        fl.check_available(faults)
    assert str(info.value) == (f"--faults {kind}: the run has no consumer group; add --consumers N (N >= 1), "
                               f"or leave {kind} out")
    fl.check_available(faults, consumers=1)
    fl.check_available(fl.parse_faults("kill,pause,broker,controller,follower,actor:x"))  # the rest passes
    assert "--consumers" in fl.FAULT_HELP[kind] and "not available" not in fl.FAULT_HELP[kind]


def test_stop_is_a_fault_with_help_but_not_a_default():
    assert fl.parse_faults("stop,broker, STOP") == [Fault("stop"), Fault("broker")]
    assert fl.STOP == "stop" and fl.STOP in fl.KINDS
    assert fl.KINDS.index("stop") == fl.KINDS.index("broker") + 1  # listed next to the crash it compares with
    assert "controlled shutdown" in fl.FAULT_HELP["stop"] and "--broker-down" in fl.FAULT_HELP["stop"]
    assert "stop" not in fl.DEFAULT_FAULTS.split(",")
    fl.check_available(fl.parse_faults("stop"))
    with pytest.raises(fl.FaultError, match=r"faults are kill, actor:NAME, .*broker, stop, pause"):
        fl.parse_faults("halt")


# -- the schedule ---------------------------------------------------------------------------

faults_st = st.lists(st.sampled_from([Fault(k) for k in ("kill", "pause", "broker", "stop", "controller", "follower")]
                                     + [Fault("actor", "broker-1")]), min_size=1, max_size=6, unique=True)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**31), faults=faults_st, duration=st.floats(0.5, 300), interval=st.floats(0.1, 10))
def test_same_seed_same_schedule_and_its_shape(seed, faults, duration, interval):
    plan = fl.plan_faults(seed, faults, duration, interval)
    assert plan == fl.plan_faults(seed, list(faults), duration, interval)
    assert [p.index for p in plan] == list(range(1, len(plan) + 1))
    assert all(0 < p.at < duration and 0 <= p.pick < 1 and p.fault in faults for p in plan)
    assert [p.at for p in plan] == pytest.approx([interval * k for k in range(1, len(plan) + 1)])
    assert plan == [] or duration - plan[-1].at <= interval + 1e-6  # no slot left unused
    # dealt like cards: every round of len(faults) slots uses each fault once
    for start in range(0, len(plan) - len(faults) + 1, len(faults)):
        assert sorted(p.fault for p in plan[start:start + len(faults)]) == sorted(faults)
    counts = Counter(p.fault for p in plan)
    assert len(plan) < len(faults) or max(counts.values()) - min(counts[f] for f in faults) <= 1


def test_schedule_examples():
    plan = fl.plan_faults(5, fl.parse_faults("kill,broker,pause"), duration=6, interval=1.5)
    assert [p.at for p in plan] == [1.5, 3.0, 4.5]
    assert sorted(p.fault.kind for p in plan) == ["broker", "kill", "pause"]
    assert fl.plan_faults(5, [Fault("kill")], duration=2, interval=2) == []  # the first slot is at the interval
    seeds = {tuple(p.fault for p in fl.plan_faults(s, fl.parse_faults(fl.DEFAULT_FAULTS), 60, 2)) for s in range(20)}
    assert len(seeds) > 1  # the seed matters


def test_a_schedule_of_stops_and_crashes_alternates_them_round_by_round():
    plan = fl.plan_faults(20261202, fl.parse_faults("stop,broker"), duration=30, interval=3)
    assert [p.at for p in plan] == [3 * k for k in range(1, 10)]
    kinds = [p.fault.kind for p in plan]
    assert [sorted(kinds[i:i + 2]) for i in range(0, 8, 2)] == [["broker", "stop"]] * 4
    assert Counter(kinds) in (Counter(stop=5, broker=4), Counter(stop=4, broker=5))


# -- victims --------------------------------------------------------------------------------

class A(NamedTuple):  # the fields of supervisor's control.ActorStatus that victims are chosen by
    name: str
    kind: str = "replica"
    broker: int = 1
    alive: bool = True
    endpoint: str = ""
    pid: int = 0


def cluster_today(topic="chaos"):
    return [
        A("controller", "controller", -1, endpoint="tcp://c"),
        A("broker-1", "broker", 1, endpoint="tcp://b1"), A("broker-2", "broker", 2, endpoint="tcp://b2"),
        A("cleaner-1", "cleaner", 1, endpoint="tcp://x1"),
        A(f"leader-{topic}-0", "leader", 1, endpoint="tcp://l0"),
        A(f"leader-{topic}-1", "leader", 2, endpoint="tcp://l1"),
        A(f"leader-{topic}-2", "leader", 2, alive=False, endpoint="tcp://l2"),
        A("leader-other-0", "leader", 1, endpoint="tcp://o0"),
    ]


def test_leaders_by_name_when_metadata_is_missing():
    actors = cluster_today()
    led = fl.leader_actors(actors, "chaos", 3)
    assert {p: a.name for p, a in led.items()} == {0: "leader-chaos-0", 1: "leader-chaos-1"}  # 2 is dead
    assert fl.partitions_led_by([actors[4]], "chaos", 3) == [0]
    assert fl.partitions_led_by([actors[0], actors[3]], "chaos", 3) == []  # controller, cleaner: no figure


def test_leaders_by_metadata_endpoint_win_over_names():
    # after an election the partition's leader is the process metadata points at, whatever it is called
    actors = cluster_today() + [A("fetcher-chaos-2-1", "replica", 1, endpoint="tcp://f21")]
    leaders = {0: fl.LeaderInfo(1, "tcp://l0"), 2: fl.LeaderInfo(1, "tcp://f21")}
    led = fl.leader_actors(actors, "chaos", 3, leaders)
    assert {p: a.name for p, a in led.items()} == {0: "leader-chaos-0", 1: "leader-chaos-1", 2: "fetcher-chaos-2-1"}
    assert fl.partitions_led_by([actors[-1]], "chaos", 3, leaders) == [2]
    broker_1 = [a for a in actors if a.broker == 1 and a.alive]
    assert fl.partitions_led_by(broker_1, "chaos", 3, leaders) == [0, 2]


def test_followers_are_fetcher_actors_and_none_today():
    assert fl.follower_actors(cluster_today()) == []
    later = cluster_today() + [
        A("fetcher-chaos-0-2", "replica", 2), A("fetcher-chaos-1-1", "replica", 1, alive=False),
        A("f-3", "fetcher", 3),
    ]
    assert [a.name for a in fl.follower_actors(later)] == ["f-3", "fetcher-chaos-0-2"]
    assert fl.choose(fl.follower_actors(later), 0.99).name == "fetcher-chaos-0-2"


def test_stoppable_brokers_are_up_not_stopped_and_not_paused():
    actors = [
        A("controller", "controller", -1, pid=1),
        A("broker-1", "broker", 1, pid=11), A("leader-chaos-0", "replica", 1, pid=12),
        A("broker-2", "broker", 2, pid=21), A("leader-chaos-1", "replica", 2, pid=22),
        A("broker-3", "broker", 3, alive=False, pid=31),  # crashed, held down
        A("leader-chaos-2", "replica", 3, alive=False, pid=32),
        A("broker-4", "broker", 4, pid=41), A("leader-chaos-3", "replica", 4, pid=42),
    ]
    assert fl.stoppable_brokers(actors) == [1, 2, 4]
    assert fl.stoppable_brokers(actors, stopped={4}) == [1, 2]
    assert fl.stoppable_brokers(actors, stopped=[4], paused_pids={22: "leader-chaos-1"}) == [1]  # SIGTERM would wait
    assert fl.stoppable_brokers(actors, paused_pids=[32]) == [1, 2, 4]  # a dead pid pauses nothing
    assert fl.stoppable_brokers([a for a in actors if a.kind != "broker"]) == []
    assert fl.choose(fl.stoppable_brokers(actors), 0.5) == 2


def test_brokers_down_are_the_crashed_the_restarting_and_the_stopped():
    actors = [
        A("controller", "controller", -1, pid=1),
        A("broker-1", "broker", 1, pid=11), A("broker-2", "broker", 2, pid=21),
        A("broker-3", "broker", 3, alive=False, pid=31),  # crashed, held down
        A("leader-chaos-0", "replica", 1, pid=12),
    ]
    assert fl.brokers_down(actors, 3) == {3}
    assert fl.brokers_down(actors, 3, stopped={2}) == {2, 3}
    assert fl.brokers_down(actors, 4) == {3, 4}  # a broker not even listed (restarting) is down too
    assert fl.brokers_down([a for a in actors if a.name != "broker-3"] + [A("broker-3", "broker", 3, pid=33)], 3) == set()


@given(st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=10, unique=True), st.floats(0, 0.999999))
def test_choose_is_deterministic_whatever_the_listing_order(names, pick):
    actors = [A(n) for n in names]
    chosen = fl.choose(actors, pick)
    assert chosen in actors
    assert fl.choose(list(reversed(actors)), pick) == chosen
    assert fl.choose([], pick) is None
    assert fl.choose([3, 1, 2], 0.0) == 1 and fl.choose([3, 1, 2], 0.99) == 3


# -- failovers -------------------------------------------------------------------------------

def test_failover_closes_on_the_first_ack_of_a_record_sent_after_the_fault():
    clock = fl.FailoverClock()
    clock.fault(1, [0, 2], at=10.0)
    assert clock.ack(0, sent_at=9.9, acked_at=10.5) == []  # sent before the fault: proves nothing
    assert clock.ack(1, sent_at=10.1, acked_at=10.2) == []  # another partition
    assert clock.ack(0, sent_at=10.2, acked_at=11.25) == [fl.Failover(1, 0, 10.0, 1.25)]
    assert clock.ack(0, sent_at=10.3, acked_at=11.3) == []  # closed already
    assert clock.unresolved() == [(1, 2, 10.0)]
    clock.fault(2, [2], at=12.0)
    # one ack can close an older and a newer failover of the same partition
    assert clock.ack(2, sent_at=12.5, acked_at=13.0) == [fl.Failover(1, 2, 10.0, 3.0), fl.Failover(2, 2, 12.0, 1.0)]
    assert clock.unresolved() == []
    assert [f.duration for f in clock.closed] == [1.25, 3.0, 1.0]


def test_a_record_sent_between_two_faults_closes_only_the_first():
    clock = fl.FailoverClock()
    clock.fault(1, [0], at=1.0)
    clock.fault(2, [0], at=2.0)
    assert clock.ack(0, sent_at=1.5, acked_at=2.5) == [fl.Failover(1, 0, 1.0, 1.5)]
    assert clock.unresolved() == [(2, 0, 2.0)]


def test_an_unsettled_fault_counts_the_waits_of_records_sent_while_it_goes_on():
    # a controlled stop from 10.0 to 10.4: the old leader serves, steps down (moved), the new one serves
    clock = fl.FailoverClock()
    clock.fault(1, [0, 1], at=10.0, settled=False)
    assert clock.ack(0, sent_at=9.9, acked_at=10.05) == []  # sent before: proves nothing, waits nothing
    assert clock.ack(0, sent_at=10.01, acked_at=10.02) == []  # the old leader still serving: not a close
    assert clock.ack(0, sent_at=10.1, acked_at=10.18) == []  # NOT_LEADER, retried at the new leader: waited 0.08
    assert clock.ack(0, sent_at=20.0, acked_at=20.01) == []  # not settled yet: nothing closes
    assert clock.unresolved() == [(1, 0, 10.0), (1, 1, 10.0)]
    clock.settle(1, 10.4)
    assert clock.ack(0, sent_at=10.3, acked_at=10.35) == []  # sent before the settling: a wait of 0.05
    [f] = clock.ack(0, sent_at=10.4, acked_at=10.41)
    assert (f.fault, f.partition, f.at) == (1, 0, 10.0) and f.duration == pytest.approx(0.08)  # the longest wait
    # partition 1 could not move (RF 1): its first acknowledgement comes when the broker is back
    assert clock.ack(1, sent_at=10.39, acked_at=13.6) == []  # in flight at the stop: waited 3.21
    [g] = clock.ack(1, sent_at=10.5, acked_at=13.7)
    assert g.duration == pytest.approx(3.3)  # settling -> acknowledgement, longer than any wait
    assert clock.unresolved() == []


def test_a_fault_settled_at_once_is_the_plain_rule_and_a_cancelled_one_is_forgotten():
    clock = fl.FailoverClock()
    clock.fault(1, [0], at=5.0, settled=False)
    clock.settle(1, 5.0)
    assert clock.ack(0, sent_at=5.0, acked_at=5.5) == [fl.Failover(1, 0, 5.0, 0.5)]
    clock.fault(2, [0, 1], at=6.0, settled=False)
    clock.fault(3, [1], at=6.5)
    clock.cancel(2)
    assert clock.unresolved() == [(3, 1, 6.5)]
    assert clock.ack(0, sent_at=6.1, acked_at=6.2) == []
    assert clock.ack(1, sent_at=6.6, acked_at=6.9) == [fl.Failover(3, 1, 6.5, pytest.approx(0.4))]
    clock.settle(99, 7.0)  # an unknown fault: nothing to settle


def test_failover_stats_by_fault_name():
    failovers = [fl.Failover(1, 0, 1.0, 0.01), fl.Failover(2, 1, 2.0, 2.5), fl.Failover(3, 2, 3.0, 0.03),
                 fl.Failover(4, 0, 4.0, 1.5), fl.Failover(9, 0, 9.0, 1.0)]
    names = {1: "stop", 2: "broker", 3: "stop", 4: "broker", 5: "controller"}
    by = fl.failover_stats_by(failovers, names)
    assert list(by) == ["stop", "broker", "?"]  # first appearance by index; controller has no failover
    assert by["stop"] == fl.FailoverStats(2, pytest.approx(0.02), 0.03, 0.03)
    assert by["broker"] == fl.FailoverStats(2, 2.0, 2.5, 2.5)
    assert by["?"].count == 1
    assert fl.failover_stats_by([], names) == {}


@given(st.lists(st.floats(0, 1e4, allow_nan=False), min_size=1, max_size=300))
def test_failover_stats_order_and_nearest_rank(values):
    s = fl.failover_stats(values)
    assert s.count == len(values)
    assert min(values) <= s.median <= s.p99 <= s.max == max(values)
    assert s.p99 in values
    if len(values) < 100:
        assert s.p99 == max(values)  # nearest rank: with fewer than 100 values the p99 is the largest
    assert sum(v <= s.p99 for v in values) >= 0.99 * len(values)


def test_failover_stats_examples():
    assert fl.failover_stats([]) == fl.FailoverStats(0, None, None, None)
    values = [i / 100 for i in range(1, 201)]  # 0.01 .. 2.00
    s = fl.failover_stats(values)
    assert (s.median, s.p99, s.max) == (pytest.approx(1.005), 1.98, 2.0)
    assert fl.percentile([5, 1, 3], 50) == 3
    with pytest.raises(ValueError):
        fl.percentile([], 50)


# -- the verdict -----------------------------------------------------------------------------

def acked_log(n: int, partitions: int = 3) -> list[Record]:
    """n records sent round robin, each acknowledged at the next offset of its partition."""
    nxt = [0] * partitions
    out = []
    for seq in range(n):
        p = seq % partitions
        out.append(Record(p, nxt[p], seq))
        nxt[p] += 1
    return out


def test_everything_found_is_ok():
    acked = acked_log(30)
    v = fl.judge(acked, acked)
    assert (v.acknowledged, v.found, v.lost, v.duplicated, v.reordered, v.wrong_offset) == (30, 30, 0, 0, 0, 0)
    assert v.ok and fl.exit_status(v) == 0


def test_a_lost_record_exits_non_zero():
    acked = acked_log(30)
    stored = [r for r in acked if r.seq != 7]
    v = fl.judge(acked, stored)
    assert (v.lost, v.found, v.wrong_offset, v.reordered) == (1, 29, 0, 0)
    assert v.examples["lost"] == ["7 at 1:2"]
    assert not v.ok and fl.exit_status(v) == 1


def test_nothing_acknowledged_proves_nothing():
    v = fl.judge([], [Record(0, 0, 1)], unacknowledged=[1])
    assert (v.acknowledged, v.unacknowledged, v.unacknowledged_stored) == (0, 1, 1)
    assert fl.exit_status(v) == 1


def test_duplicates_of_a_retried_batch_are_counted_but_not_a_failure():
    # batch 0..2 written, its reply lost, retried and acknowledged at 3..5
    acked = [Record(0, 3 + i, i) for i in range(3)] + [Record(0, 6, 3)]
    stored = [Record(0, i, i) for i in range(3)] + acked
    v = fl.judge(acked, stored)
    assert (v.duplicated, v.lost, v.reordered, v.wrong_offset, v.stored) == (3, 0, 0, 0, 7)
    assert v.ok


def test_a_duplicate_fails_the_run_when_the_producer_was_idempotent():
    acked = [Record(0, 3 + i, i) for i in range(3)]
    stored = [Record(0, i, i) for i in range(3)] + acked
    v = fl.judge(acked, stored, idempotent=True)
    assert v.duplicated == 3 and not v.ok and fl.exit_status(v) == 1
    assert fl.judge(acked, acked, idempotent=True).ok  # each stored once: fine


def test_a_record_behind_a_later_one_is_reordered():
    acked = [Record(0, 0, 0), Record(0, 1, 3), Record(0, 2, 6)]
    stored = [Record(0, 0, 0), Record(0, 1, 6), Record(0, 2, 3)]  # 3 and 6 swapped in the log
    v = fl.judge(acked, stored)
    assert v.wrong_offset == 2 and v.reordered == 1 and v.lost == 0
    assert v.examples["reordered"] == ["3 at 0:2 after 6 at 0:1"]
    assert fl.exit_status(v) == 1


def test_found_elsewhere_is_a_wrong_offset():
    acked = [Record(0, 0, 0), Record(1, 0, 1)]
    stored = [Record(0, 0, 0), Record(2, 0, 1)]
    v = fl.judge(acked, stored)
    assert (v.found, v.lost, v.wrong_offset) == (2, 0, 1)
    assert v.examples["wrong_offset"] == ["1 acknowledged at 1:0, found at 2:0"]
    assert fl.exit_status(v) == 1


def test_unacknowledged_records_may_or_may_not_be_there():
    acked = acked_log(6)
    stored = acked + [Record(0, 2, 6)]
    v = fl.judge(acked, stored, unacknowledged=[6, 7])
    assert (v.unacknowledged, v.unacknowledged_stored, v.lost) == (2, 1, 0)
    assert v.ok


def test_acks_0_has_no_offsets_to_check():
    acked = [Record(p, -1, s) for p, s in ((0, 0), (1, 1), (0, 2))]
    stored = [Record(0, 0, 0), Record(1, 0, 1)]
    v = fl.judge(acked, stored)
    assert (v.found, v.lost, v.wrong_offset, v.reordered) == (2, 1, 0, 0)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 200), data=st.data())
def test_verdict_properties(n, data):
    acked = acked_log(n)
    # retries store some batches twice, just before their acknowledged copy: never a failure
    twice = data.draw(st.sets(st.sampled_from(range(n)), max_size=10))
    stored = []
    nxt = Counter()
    for p in range(3):
        for r in sorted((r for r in acked if r.partition == p), key=lambda r: r.offset):
            for _ in range(2 if r.seq in twice else 1):
                stored.append(Record(p, nxt[p], r.seq))
                nxt[p] += 1
    # the acknowledged offsets are those of the last copy
    last = {r.seq: r for r in stored}
    acked = [Record(r.partition, last[r.seq].offset, r.seq) for r in acked]
    v = fl.judge(acked, stored)
    assert (v.lost, v.reordered, v.wrong_offset, v.duplicated) == (0, 0, 0, len(twice))
    assert v.found == v.acknowledged == n and v.ok
    # dropping records from the log loses exactly those
    gone = data.draw(st.sets(st.sampled_from(range(n)), min_size=1, max_size=5))
    v = fl.judge(acked, [r for r in stored if r.seq not in gone])
    assert v.lost == len(gone) and v.found == n - len(gone) and fl.exit_status(v) == 1


# -- the consumer group -------------------------------------------------------------------------

LOG = """start 100.000000 4242
assign 101.000000 0,2
rec 101.500000 0 0:0 1:3
rec 101.500000 2 0:2
commit 101.500100 101.520000
error 101.600000 RequestTimedOut no answer in 10000 ms
rec 102.000000 0 2:6
commit-failed 102.000100 102.100000 CommitFailed
revoke 102.200000 0,2
assign 102.300000 -
stop 103.000000
start 110.000000 4343
assign 111.000000 1
rec 111.100000 1 0:1
gone 111.200000 SIGKILL
rec 111.150000 1 1:4 2:"""  # cut short: no newline at the end


def test_a_members_log_reads_into_events_per_process():
    events, bad = fl.parse_member_log(LOG, "member-1")
    assert bad == 1  # the last line, cut short by a SIGKILL
    kinds = [(e.member, e.kind) for e in events]
    assert kinds[:3] == [("member-1#1", "start"), ("member-1#1", "assign"), ("member-1#1", "rec")]
    assert kinds[-4:] == [("member-1#2", "start"), ("member-1#2", "assign"), ("member-1#2", "rec"),
                          ("member-1#2", "gone")]
    e = events[2]
    assert (e.t, e.partitions, e.records) == (101.5, (0,), ((0, "0"), (1, "3")))
    commit = next(e for e in events if e.kind == "commit")
    assert (commit.started, commit.t) == (101.5001, 101.52)
    failed = next(e for e in events if e.kind == "commit-failed")
    assert failed.detail == "CommitFailed" and failed.t == 102.1
    assert next(e for e in events if e.kind == "error").detail.startswith("RequestTimedOut")
    assert [e.partitions for e in events if e.kind == "assign"] == [(0, 2), (), (1,)]
    assert events[-1].detail == "SIGKILL"
    with pytest.raises(ValueError):
        fl.parse_member_line("rec 1.0 0 7", "m")  # no offset:value
    with pytest.raises(ValueError):
        fl.parse_member_line("hello 1.0", "m")
    assert fl.parse_member_log("assign x 0\nrec 1.0 0 1:1\n", "m") == (
        [fl.MemberEvent(1.0, "m#0", "rec", (0,), ((1, "1"),))], 1)


def test_records_are_committed_by_the_next_acknowledged_commit_while_still_held():
    events, _ = fl.parse_member_log(LOG, "member-1")
    rows = {(r.partition, r.offset): r.committed for r in fl.consumed_records(events)}
    # committed; the failed commit and the revocation leave 0:2 uncommitted; the killed process's 1:0 too
    assert rows == {(0, 0): True, (0, 1): True, (2, 0): True, (0, 2): False, (1, 0): False}
    late = events + [fl.MemberEvent(104.0, "member-1#1", "commit", started=103.9)]
    assert {(r.partition, r.offset) for r in fl.consumed_records(late) if r.committed} == {(0, 0), (0, 1), (2, 0)}


def consumed(*rows):
    """(partition, offset, value, member, t, committed) → Consumed rows."""
    return [fl.Consumed(p, o, str(v), m, t, c) for p, o, v, m, t, c in rows]


def test_the_group_verdict_counts_missing_and_records_consumed_again():
    acked = [Record(0, 0, 0), Record(1, 0, 1), Record(0, 1, 2), Record(1, 1, 3)]
    rows = consumed((0, 0, 0, "a#1", 1.0, True), (1, 0, 1, "a#1", 1.0, False),
                    (1, 0, 1, "b#1", 5.0, True),  # a was killed before committing it: b reads it again
                    (0, 0, 0, "b#1", 6.0, True),  # committed by a, yet read again: the group's offset went back
                    (1, 1, 3, "b#1", 6.0, True))
    v = fl.judge_group(acked, rows)
    assert (v.acknowledged, v.consumed, v.missing, v.consumed_total) == (4, 3, 1, 5)
    assert (v.duplicated, v.redelivered_uncommitted, v.redelivered_committed) == (2, 1, 1)
    assert v.examples["missing"] == ["2 at 0:1"]
    assert v.examples["redelivered_committed"] == ["0:0 by b#1, committed by a#1"]
    assert not v.ok and v.as_dict()["ok"] is False
    fine = fl.judge_group(acked, rows + consumed((0, 1, 2, "b#1", 7.0, True), (9, 0, "x", "b#1", 7.0, True)))
    assert fine.ok and fine.missing == 0 and fine.foreign == 1
    assert not fl.judge_group([], []).ok  # nothing acknowledged proves nothing


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 120), data=st.data())
def test_group_verdict_properties(n, data):
    acked = acked_log(n)
    # each record consumed once, committed; some read again after an uncommitted first copy; some never
    again = data.draw(st.sets(st.sampled_from(range(n)), max_size=10))
    never = data.draw(st.sets(st.sampled_from(range(n)), max_size=5))
    rows = []
    for r in acked:
        if r.seq in never:
            continue
        if r.seq in again:
            rows += consumed((r.partition, r.offset, r.seq, "a#1", r.seq, False))
        rows += consumed((r.partition, r.offset, r.seq, "b#1", n + r.seq, True))
    v = fl.judge_group(acked, data.draw(st.permutations(rows)))
    assert v.missing == len(never) and v.consumed == n - len(never)
    assert v.duplicated == v.redelivered_uncommitted == len(again - never) and v.redelivered_committed == 0
    assert v.consumed_total == len(rows) and v.ok == (not never)


def ev(t, member, kind, *partitions):
    return fl.MemberEvent(t, member, kind, tuple(partitions))


# two members, three partitions; member-2 killed at 10 (owning 1 and 2), a new process at 13
GROUP_RUN = [
    ev(0.0, "member-1#1", "start"), ev(0.1, "member-2#1", "start"),
    ev(1.0, "member-1#1", "assign", 0, 1, 2),
    ev(1.5, "member-1#1", "revoke", 0, 1, 2),  # member-2 joins: eager, everything revoked
    ev(1.6, "member-2#1", "assign", 1, 2), ev(1.7, "member-1#1", "assign", 0),  # both members in at 1.7
    ev(10.0, "member-2#1", "gone"),  # SIGKILL: 1 and 2 have no owner until the session runs out
    ev(13.3, "member-1#1", "revoke", 0), ev(13.4, "member-1#1", "assign", 0, 1, 2),
    ev(13.0, "member-2#2", "start"),
    ev(14.0, "member-1#1", "revoke", 0, 1, 2),  # the new process joins
    ev(14.2, "member-2#2", "assign", 2), ev(14.3, "member-1#1", "assign", 0, 1),
]
KILL_AT, RESTART_AT = 10.0, 12.9
TRIGGERS = [fl.Trigger(KILL_AT, 1, "member"), fl.Trigger(RESTART_AT, 1, fl.RESTART, False, "member-2")]


def test_ownership_windows_start_once_the_group_formed():
    formed, windows = fl.ownership_windows(GROUP_RUN, 3)
    assert formed == 1.0  # member-1 alone owned everything; member-2's join is a window
    assert windows == [(1.5, 1.7), (10.0, 13.4), (14.0, 14.3)]
    assert fl.ownership_windows(GROUP_RUN, 3, until=14.1) == (1.0, [(1.5, 1.7), (10.0, 13.4), (14.0, None)])
    assert fl.owned(GROUP_RUN) == {"member-1#1": {0, 1}, "member-2#2": {2}}
    assert fl.ownership_windows(GROUP_RUN[:3], 4) == (None, [])  # never whole: no window


def test_rebalances_are_blamed_on_the_kill_and_on_the_restart_that_joined():
    assert len(fl.rebalances(GROUP_RUN, 3, TRIGGERS)[1]) == 3  # and the forming's rebalance, without since
    formed, found = fl.rebalances(GROUP_RUN, 3, TRIGGERS, since=1.7)
    kill, join = found
    assert (kill.fault, kill.label, kill.start, kill.closed) == (1, "member", KILL_AT, 13.4)
    assert kill.duration == pytest.approx(3.4)  # from the kill, through the session, to every partition owned
    assert (join.fault, join.label, join.start) == (1, fl.RESTART, 14.0)
    assert join.duration == pytest.approx(0.3)  # from the first revocation: start-up is no rebalance
    assert kill.absorbed == join.absorbed == ()
    stats = fl.rebalance_stats_by(found)
    assert list(stats) == ["member", fl.RESTART]
    assert stats["member"][0].count == 1 and stats["member"][1] == 0


def test_a_fault_between_a_restart_and_its_join_does_not_take_the_blame():
    coordinator = fl.Trigger(13.8, 2, "coordinator")
    _, (kill, join) = fl.rebalances(GROUP_RUN, 3, TRIGGERS + [coordinator], since=1.7)
    assert join.label == fl.RESTART and join.absorbed == ()  # coordinator at 13.8 is before the window
    _, (kill, join) = fl.rebalances(GROUP_RUN, 3, TRIGGERS[:1] + [coordinator], since=1.7)  # no restart known
    assert (join.fault, join.label, join.start) == (2, "coordinator", 13.8)  # the last fault before it
    _, (kill, join) = fl.rebalances(GROUP_RUN, 3, [], since=1.7)
    assert kill.label == join.label == fl.UNPROMPTED and kill.fault is None and kill.duration == pytest.approx(3.4)


def test_a_fault_while_a_window_is_open_is_absorbed_and_an_open_window_at_the_end_is_unresolved():
    during = fl.Trigger(11.0, 2, "kill")
    _, found = fl.rebalances(GROUP_RUN, 3, TRIGGERS + [during], until=14.1, since=1.7)
    assert [w.absorbed for w in found] == [("fault 2 (kill)",), ()]
    assert found[1].closed is None and found[1].duration is None
    stats = fl.rebalance_stats_by(found)
    assert stats[fl.RESTART] == (fl.failover_stats(()), 1)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_rebalance_windows_properties(data):
    partitions = data.draw(st.integers(1, 4))
    # random ownership changes of three members over time
    events, t = [], 0.0
    for _ in range(data.draw(st.integers(0, 40))):
        t += data.draw(st.floats(0.01, 2))
        member = f"m-{data.draw(st.integers(1, 3))}#1"
        kind = data.draw(st.sampled_from(["assign", "revoke", "gone"]))
        ps = data.draw(st.sets(st.integers(0, partitions - 1), min_size=1)) if kind != "gone" else ()
        events.append(ev(t, member, kind, *sorted(ps)))
    triggers = [fl.Trigger(data.draw(st.floats(0, t + 1)), i, "kill") for i in range(data.draw(st.integers(0, 5)))]
    formed, found = fl.rebalances(events, partitions, triggers)
    _, windows = fl.ownership_windows(events, partitions)
    assert [(w.opened, w.closed) for w in found] == windows
    for (a, b), nxt in zip(windows, windows[1:] + [(math.inf, None)]):
        assert formed <= a and (b is None or a < b <= nxt[0])
    blamed = [w.fault for w in found if w.fault is not None]
    assert len(blamed) == len(set(blamed))  # one window per fault at most
    for w in found:
        assert w.closed is None or w.duration >= 0 and w.start <= w.opened + fl.EPS


def test_commit_gaps_count_from_the_fault_to_the_first_commit_begun_after_it():
    events = [fl.MemberEvent(5.2, "a#1", "commit", started=4.9),  # began before the fault at 5
              fl.MemberEvent(5.9, "b#1", "commit-failed", started=5.1),
              fl.MemberEvent(6.5, "a#1", "commit", started=6.0), fl.MemberEvent(6.2, "b#1", "commit", started=6.1)]
    assert fl.commit_gaps(events, [(3, 5.0), (4, 7.0)]) == {3: pytest.approx(1.2), 4: None}
