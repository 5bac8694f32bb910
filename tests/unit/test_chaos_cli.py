"""``zafka chaos`` refusals, options and report: everything that needs no cluster."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from scripts import chaos as chaos_script
from scripts.cli import chaos, faultlab as fl
from scripts.cli.main import build_parser, main


def one_line_error(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("zafka: error: ") and "Traceback" not in captured.err
    assert captured.out == ""  # refused before anything started
    return lines[0]


@pytest.mark.parametrize("kind", ["member", "coordinator"])
def test_group_faults_without_consumers_are_refused_in_one_line(capsys, kind):
    assert main(["chaos", "--faults", f"kill,{kind}"]) == 1
    line = one_line_error(capsys)
    assert line.endswith(f"--faults {kind}: the run has no consumer group; add --consumers N (N >= 1), "
                         f"or leave {kind} out")


def exit_code(argv) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own errors exit from the parser
        return exc.code


@pytest.mark.parametrize("argv, words", [
    (["chaos", "--faults", "kill,explode"], "unknown fault 'explode'"),
    (["chaos", "--faults", "actor"], "name the actor"),
    (["chaos", "--duration", "0"], "--duration"),
    (["chaos", "--interval", "-1"], "--interval"),
    (["chaos", "--acks", "2"], "--acks"),
    (["chaos", "--bootstrap", "tcp://127.0.0.1:9092"], "unrecognized arguments: --bootstrap"),
    (["--bootstrap", "tcp://127.0.0.1:9092", "chaos"], "starts its own cluster; it takes no --bootstrap"),
])
def test_usage_errors_exit_2(capsys, argv, words):
    assert exit_code(argv) == 2
    assert words in one_line_error(capsys)


@pytest.mark.parametrize("argv, words", [
    (["--faults", "follower", "--replication-factor", "1"], "RF 1 has no followers"),
    (["--faults", "follower", "--brokers", "1"], "RF 1 has no followers"),
    (["--replication-factor", "2", "--min-insync-replicas", "3"], "acks=all could never be acknowledged"),
    (["--brokers", "2", "--replication-factor", "3"], "needs at least that many brokers"),
    (["--consumers", "2", "--assignment-strategy", "fastest"], "--assignment-strategy: unknown "
                                                                "partition.assignment.strategy 'fastest'"),
    (["--consumers", "2", "--assignment-strategy", "range,range"], "names 'range' twice"),
    (["--consumers", "1", "--group-session-ms", "50"], "--group-session-ms 50: at least 100"),
])
def test_impossible_setups_are_refused_before_a_cluster_starts(capsys, argv, words):
    assert main(["chaos", *argv]) == 1
    assert words in one_line_error(capsys)


def test_the_script_is_the_command(capsys):
    assert chaos_script.main(["--faults", "member"]) == 1
    assert "the run has no consumer group; add --consumers N" in one_line_error(capsys)


def test_defaults():
    args = build_parser().parse_args(["chaos"])
    assert (args.duration, args.interval, args.seed, args.faults, args.brokers, args.partitions) == (
        60.0, 2.0, None, [], 3, 3)
    assert (args.replication_factor, args.min_insync_replicas, args.acks) == (None, None, "all")
    assert (args.broker_down, args.pause, args.json, args.keep) == (3.0, 3.0, False, False)
    assert not hasattr(args, "data_dir")  # a temp dir, not $ZAFKA_DATA_DIR
    assert (args.consumers, args.group_session_ms, args.assignment_strategy, args.member_down) == (
        0, 3000, "range,cooperative-sticky", 3.0)
    o = chaos.LabOptions().resolved()
    assert (o.replication_factor, o.min_insync_replicas, o.acks) == (3, 2, "all")
    assert [str(f) for f in o.faults] == ["kill", "pause", "broker", "controller"]
    assert isinstance(o.seed, int)
    one = chaos.LabOptions(brokers=1, seed=4).resolved()
    assert (one.replication_factor, one.min_insync_replicas, one.seed) == (1, 1, 4)
    assert chaos.LabOptions(acks="1").resolved().acks == 1
    assert o.consumers == 0 and chaos.cluster_config(o) == chaos.LAB_CONFIG  # no group: the cluster of before


def test_a_group_run_gets_a_coordinator_that_takes_short_sessions_at_once():
    o = chaos.LabOptions(seed=1, consumers=3, group_session_ms=2500).resolved()
    config = chaos.cluster_config(o)
    assert {k: config[k] for k in config if k not in chaos.LAB_CONFIG} == {
        "group.initial.rebalance.delay.ms": "0", "group.min.session.timeout.ms": "1000",
        "group.max.session.timeout.ms": "1800000"}
    assert chaos.cluster_config(chaos.LabOptions(consumers=1, group_session_ms=400))[
        "group.min.session.timeout.ms"] == "400"
    args = build_parser().parse_args(["chaos", "--consumers", "2", "--faults", "member,coordinator",
                                      "--member-down", "1.5", "--assignment-strategy", "cooperative-sticky"])
    assert (args.consumers, args.member_down, args.assignment_strategy) == (2, 1.5, "cooperative-sticky")


def lab_result(acked, stored, failovers=(), faults=()):
    opts = chaos.LabOptions(seed=42, replication_factor=1, acks="1").resolved()
    return chaos.LabResult(opts, "/tmp/x", fl.judge(acked, stored), list(faults), list(failovers), [], len(acked), [])


def test_the_lab_produces_idempotently_with_acks_all_unless_told_not_to():
    def resolved(*flags):
        return chaos.options(build_parser().parse_args(["chaos", *flags])).resolved()

    assert resolved().idempotence and not resolved("--no-idempotence").idempotence
    assert not resolved("--acks", "1").idempotence  # Kafka's rule: idempotence needs acks=all
    records = [fl.Record(0, i, i) for i in range(3)]
    twice = records + records[:1]
    plain = chaos.LabResult(resolved("--no-idempotence", "--seed", "1"), "/tmp/x",
                            fl.judge(records, twice, idempotent=False), [], [], [], 3, [])
    assert "not idempotent" in chaos.report(plain)[0] and plain.exit_status == 0  # counted, not a failure
    idem = resolved("--seed", "1")
    failed = chaos.LabResult(idem, "/tmp/x", fl.judge(records, twice, idempotent=idem.idempotence), [], [], [], 3, [])
    lines = chaos.report(failed)
    assert ", idempotent)" in lines[0] and failed.exit_status == 1
    assert lines[-1].startswith("FAIL: ") and "1 stored twice by an idempotent producer" in lines[-1]


def test_report_of_a_good_run():
    records = [fl.Record(0, i, i) for i in range(10)]
    faults = [chaos.FaultEvent(1, 2.0, "kill", 2.0, "SIGKILL", ["leader-chaos-0"], [0]),
              chaos.FaultEvent(2, 4.0, "controller", 4.0, "SIGKILL", ["controller"], [])]
    result = lab_result(records, records, [fl.Failover(1, 0, 100.0, 0.25)], faults)
    lines = chaos.report(result)
    assert lines[0].startswith("verdict (seed 42, 60 s, 2 faults")
    assert lines[1].split() == ["RESULT", "RECORDS", "MEANING"]
    rows = {line[:16].strip(): int(line[16:].split()[0]) for line in lines[2:10]}
    assert rows == {"acknowledged": 10, "found": 10, "lost": 0, "duplicated": 0, "reordered": 0,
                    "wrong offset": 0, "unacknowledged": 0, "stored": 10}
    assert "FAILOVERS" in "\n".join(lines) and "0.250 s" in "\n".join(lines)
    assert "no failover figure (no partition leader affected): 1 fault (controller)" in lines
    assert lines[-1].startswith("OK: ")
    assert result.exit_status == 0
    summary = result.summary()
    one = {"count": 1, "median_s": 0.25, "p99_s": 0.25, "max_s": 0.25, "unresolved": 0}
    assert summary["verdict"]["ok"] and summary["failover"] == {**one, "by_fault": {"kill": one}}
    assert summary["faults"][0]["failovers"] == [{"partition": 0, "seconds": 0.25}]


def test_report_of_a_run_that_lost_a_record():
    records = [fl.Record(0, i, i) for i in range(10)]
    result = lab_result(records, records[:4] + records[5:])
    lines = chaos.report(result)
    assert "lost, e.g.: 4 at 0:4" in lines
    assert lines[-1] == "FAIL: 1 lost, 0 reordered, 0 at a wrong offset (repeat with --seed 42)"
    assert result.exit_status == 1
    assert result.summary()["exit_status"] == 1


def test_the_failovers_are_broken_down_by_fault_to_compare_a_stop_with_a_crash():
    records = [fl.Record(0, i, i) for i in range(10)]
    faults = [chaos.FaultEvent(1, 3.0, "stop", 3.0, "controlled stop of broker 1 for 3 s", ["broker-1"], [0]),
              chaos.FaultEvent(2, 6.0, "broker", 6.0, "crash broker 2 for 3 s", ["broker-2"], [1, 2]),
              chaos.FaultEvent(3, 9.0, "stop", 9.0, "controlled stop of broker 3 for 3 s", ["broker-3"], [2])]
    failovers = [fl.Failover(1, 0, 3.0, 0.02), fl.Failover(2, 1, 6.0, 3.5), fl.Failover(2, 2, 6.0, 3.25)]
    result = lab_result(records, records, failovers, faults)
    result.unresolved = [(3, 2, 9.0)]
    lines = chaos.report(result)
    at = next(i for i, line in enumerate(lines) if line.startswith("FAULT"))
    assert lines[at].split() == ["FAULT", "FAILOVERS", "MEDIAN", "P99", "MAX", "UNRESOLVED"]
    assert lines[at + 1].split() == ["all", "3", "3.250", "s", "3.500", "s", "3.500", "s", "1"]
    assert lines[at + 2].split() == ["stop", "1", "0.020", "s", "0.020", "s", "0.020", "s", "1"]
    assert lines[at + 3].split() == ["broker", "2", "3.375", "s", "3.500", "s", "3.500", "s", "0"]
    by = result.summary()["failover"]["by_fault"]
    assert by == {"stop": {"count": 1, "median_s": 0.02, "p99_s": 0.02, "max_s": 0.02, "unresolved": 1},
                  "broker": {"count": 2, "median_s": 3.375, "p99_s": 3.5, "max_s": 3.5, "unresolved": 0}}


def test_the_help_names_the_stop_fault(capsys):
    with pytest.raises(SystemExit):
        main(["chaos", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "stop: stop a random broker cleanly (controlled shutdown" in text
    assert "crashed (broker) or cleanly stopped (stop) broker stays down" in text


# -- a controlled stop, against a fake supervisor ------------------------------------------------

class FakeSupervisor:
    """Three brokers, each with a broker actor and the leader of one partition; stop/start as the
    real one answers them, checking that the lab holds no load lock across ``stop_broker``."""

    def __init__(self, load_lock: threading.Lock, refuse: bool = False):
        self.lock = load_lock
        self.refuse = refuse
        self.down: set[int] = set()
        self.calls: list = []

    def actors(self, memory=True):
        out = [SimpleNamespace(name="controller", kind="controller", broker=-1, pid=1, alive=True, endpoint="c")]
        for b in (1, 2, 3):
            up = b not in self.down
            out += [SimpleNamespace(name=f"broker-{b}", kind="broker", broker=b, pid=10 * b, alive=up,
                                    endpoint=f"b{b}"),
                    SimpleNamespace(name=f"leader-chaos-{b - 1}", kind="replica", broker=b, pid=10 * b + 1,
                                    alive=up, endpoint=f"l{b - 1}")]
        return out

    def stop_broker(self, broker):
        from wire import control
        from wire.errors import InvalidRequest

        assert self.lock.acquire(blocking=False), "the load's lock is held across stop_broker"
        self.lock.release()
        self.calls.append(("stop", broker))
        if self.refuse:
            raise InvalidRequest(f"broker {broker} is already stopped")
        self.down.add(broker)
        time.sleep(0.02)
        return control.BrokerStopResponse(
            moved=[control.MovedLeadership("chaos", broker - 1, broker % 3 + 1, 3, "x")],
            stranded=["chaos-9"], stopped=[f"broker-{broker}", f"leader-chaos-{broker - 1}"])

    def start_broker(self, broker):
        self.calls.append(("start", broker))
        self.down.discard(broker)
        return [f"broker-{broker}"]


def stop_lab(refuse=False):
    lines: list[str] = []
    opts = chaos.LabOptions(seed=1, faults=fl.parse_faults("stop"), broker_down=2.5).resolved()
    load = SimpleNamespace(lock=threading.Lock(), clock=fl.FailoverClock())
    lab = chaos.Lab(FakeSupervisor(load.lock, refuse), opts, lines.append)
    lab.leader_map = dict  # no metadata: leaders by name (leader-chaos-P)
    return lab, load, lines


def test_a_stop_opens_the_failover_before_and_settles_it_after_the_stop_then_starts_the_broker_again():
    lab, load, lines = stop_lab()
    before = time.monotonic()
    holds = lab.inject(fl.PlannedFault(1, 3.0, fl.Fault("stop"), 0.5), load)  # the middle one of 1, 2, 3: broker 2
    after = time.monotonic()
    assert lab.sup.calls == [("stop", 2)] and lab.stopped == {2: 1}
    [(release_at, hold)] = holds
    assert hold == chaos.Hold(chaos.STOPPED, 2)
    assert release_at == pytest.approx(after - lab.t0 + 2.5, abs=0.01)  # --broker-down after the stop returned
    [event] = lab.events
    assert event.action == "controlled stop of broker 2 for 2.5 s"
    assert event.victims == ["broker-2", "leader-chaos-1"] and event.partitions == [1]
    assert event.details == ["moved leader of partition 1 to broker 3 (epoch 3)", "nowhere to move: chaos-9"]
    line = lines[-1]
    assert "fault 1 stop: controlled stop of broker 2 for 2.5 s (took " in line
    assert "moved leader of partition 1 to broker 3 (epoch 3); nowhere to move: chaos-9; stopped broker-2 (pid 20)" \
        in line and line.endswith("; leader of partition 1")
    # opened before the stop (an acknowledgement during it is a wait, not a close), settled after it
    [(index, partition, opened)] = load.clock.unresolved()
    assert (index, partition) == (1, 1) and before <= opened <= after
    assert load.clock.ack(1, sent_at=opened + 0.001, acked_at=after - 0.001) == []  # would close a settled one
    [f] = load.clock.ack(1, sent_at=after + 0.001, acked_at=after + 0.01)
    assert f.fault == 1 and f.duration >= 0.009
    # a broker the lab stopped is no candidate for another stop
    lab.inject(fl.PlannedFault(2, 4.0, fl.Fault("stop"), 0.99), load)
    assert lab.sup.calls[-1] == ("stop", 3) and set(lab.stopped) == {2, 3}
    lab.release(hold)
    assert lab.sup.calls[-1] == ("start", 2) and lines[-1].endswith("start: broker 2 (broker-2; its replicas follow)")
    assert lab.holding
    lab.release_all()  # the end of a run: every broker the lab stopped starts again
    assert lab.sup.calls[-1] == ("start", 3) and not lab.holding and not lab.sup.down
    lab.release(hold)  # released already: nothing
    assert lab.sup.calls.count(("start", 2)) == 1


def test_a_stop_that_is_refused_is_skipped_and_measures_nothing():
    lab, load, lines = stop_lab(refuse=True)
    assert lab.inject(fl.PlannedFault(1, 3.0, fl.Fault("stop"), 0.0), load) == []
    assert lab.events[0].skipped.startswith("broker 1 could not be stopped: ")
    assert "fault 1 stop: skipped, broker 1 could not be stopped" in lines[-1]
    assert load.clock.unresolved() == [] and not lab.holding
    lab.sup.refuse, lab.sup.down = False, {1, 2, 3}  # every broker down: nothing to stop
    assert lab.inject(fl.PlannedFault(2, 6.0, fl.Fault("stop"), 0.0), load) == []
    assert lab.events[1].skipped.startswith("no broker is up")


# -- the consumer group: the report, member and coordinator faults ------------------------------

def group_result(consumed_seqs, windows=(), gaps=None):
    records = [fl.Record(s % 3, s // 3, s) for s in range(12)]
    opts = chaos.LabOptions(seed=42, replication_factor=1, acks="1", consumers=2,
                            faults=fl.parse_faults("member,coordinator")).resolved()
    rows = [fl.Consumed(r.partition, r.offset, str(r.seq), "member-1#1", 1.0, True) for r in records
            if r.seq in consumed_seqs]
    rows += [fl.Consumed(0, 0, "0", "member-2#2", 2.0, True)]  # read again after a kill
    faults = [chaos.FaultEvent(1, 4.0, "member", 4.0, "SIGKILL, a new process in 3 s", ["member-1"], []),
              chaos.FaultEvent(2, 8.0, "coordinator", 8.0, "SIGKILL", ["coordinator-2"], [])]
    group = chaos.GroupResult(fl.judge_group(records, rows), list(windows), 1.25, gaps or {2: 0.4}, 3, 0, "/tmp/x")
    return chaos.LabResult(opts, "/tmp/x", fl.judge(records, records), faults, [], [], 12, [], group)


def test_the_consumer_verdict_follows_the_producers_and_breaks_rebalances_down_by_fault():
    windows = [fl.Rebalance(1, "member", 4.0, 4.0, 7.5, ("fault 2 (coordinator)",)),
               fl.Rebalance(1, fl.RESTART, 8.1, 8.1, 8.4), fl.Rebalance(None, fl.UNPROMPTED, 9.0, 9.0, None)]
    result = group_result(set(range(12)), windows)
    lines = chaos.report(result)
    at = lines.index(next(x for x in lines if x.startswith("consumer verdict")))
    assert lines[at - 2].startswith("OK: nothing acknowledged was lost")  # the producer's verdict first
    assert lines[at] == ("consumer verdict (group chaos-group, 2 members, 3 processes, range,cooperative-sticky, "
                         "session 3000 ms):")
    rows = {x[:17].strip(): x[17:].split()[0] for x in lines[at + 2:at + 7]}
    assert rows == {"acknowledged": "12", "consumed": "12", "missing": "0", "duplicated": "1",
                    "consumed in all": "13"}
    table_at = next(i for i, x in enumerate(lines) if x.startswith("FAULT"))
    assert lines[table_at].split() == ["FAULT", "REBALANCES", "MEDIAN", "P99", "MAX", "UNRESOLVED"]
    assert lines[table_at + 1].split() == ["all", "2", "1.900", "s", "3.500", "s", "3.500", "s", "1"]
    assert lines[table_at + 2].split() == ["member", "1", "3.500", "s", "3.500", "s", "3.500", "s", "0"]
    assert lines[table_at + 3].split() == ["member", "restart", "1", "0.300", "s", "0.300", "s", "0.300", "s", "0"]
    assert lines[table_at + 4].split() == ["(no", "fault)", "0", "-", "-", "-", "1"]
    assert "commits after a coordinator was killed: fault 2 0.400 s" in lines
    assert lines[-1] == "OK (group): every acknowledged record was consumed by a member (12 checked, 1 consumed again)"
    assert result.exit_status == 0
    summary = result.summary()
    g = summary["group"]
    assert summary["consumers"] == 2 and g["verdict"]["ok"] and g["verdict"]["missing"] == 0
    assert g["rebalance"]["count"] == 2 and g["rebalance"]["unresolved"] == 1
    assert list(g["rebalance"]["by_fault"]) == ["member", fl.RESTART, fl.UNPROMPTED]
    assert g["rebalance"]["windows"][0] == {"fault": 1, "label": "member", "from_s": 4.0, "opened_s": 4.0,
                                            "closed_s": 7.5, "seconds": 3.5, "absorbed": ["fault 2 (coordinator)"]}
    assert summary["faults"][0]["rebalances"] == [{"label": "member", "seconds": 3.5},
                                                  {"label": fl.RESTART, "seconds": 0.3}]
    assert summary["faults"][1]["commit_gap_s"] == 0.4 and g["commit_gaps_s"] == {"2": 0.4}
    assert chaos._rebalance_line(windows[0]) == ("rebalance after fault 1 (member): every partition owned again "
                                                 "3.500 s after the fault (fault 2 (coordinator) came meanwhile)")
    assert chaos._rebalance_line(windows[1]) == ("rebalance after fault 1's member restart: every partition owned "
                                                 "again 0.300 s after the first revocation")
    assert "still had no owner at the end" in chaos._rebalance_line(windows[2])


def test_a_record_the_group_missed_fails_the_run_even_when_the_producer_side_is_fine():
    result = group_result(set(range(12)) - {7})
    lines = chaos.report(result)
    assert any(x.startswith("OK: nothing acknowledged was lost") for x in lines)
    assert "missing, e.g.: 7 at 1:2" in lines
    assert lines[-1].startswith("FAIL (group): 1 acknowledged records consumed by no member (repeat with --seed 42")
    assert "rebalances: none" in "\n".join(lines)
    assert result.exit_status == 1 and result.summary()["exit_status"] == 1
    assert chaos.LabResult(result.options, "", result.verdict, [], [], [], 12, []).exit_status == 0  # no group


FAKE_MEMBER = """import os, sys, time
log = sys.argv[4]
with open(log, "a") as f:
    f.write(f"start {time.monotonic():.6f} {os.getpid()}\\n")
    f.write(f"assign {time.monotonic():.6f} " + ("0,1" if "member-1" in log else "2") + "\\n")
    f.write("rec 1.0 0 0:0 1:")  # killed mid-line
    f.flush()
time.sleep(60)
"""


class GroupSupervisor:
    """Actors with a coordinator per broker; ``kill`` as the real one answers it."""

    def __init__(self, data_dir: str):
        self.data_dir = data_dir
        self.bootstrap_servers = "tcp://127.0.0.1:1"
        self.killed: list = []

    def actors(self, memory=True):
        return [SimpleNamespace(name=f"coordinator-{b}", kind="coordinator", broker=b, pid=100 + b, alive=True,
                                endpoint=f"c{b}") for b in (1, 2, 3)]

    def kill(self, name, sig):
        self.killed.append((name, sig))
        return 100 + int(name.rsplit("-", 1)[1])


def test_a_member_fault_kills_a_member_process_and_a_new_one_starts_in_its_slot(tmp_path, monkeypatch):
    import signal

    script = tmp_path / "fake_member.py"
    script.write_text(FAKE_MEMBER)
    monkeypatch.setattr(chaos, "MEMBER_SCRIPT", str(script))
    opts = chaos.LabOptions(seed=1, consumers=2, faults=fl.parse_faults("member,coordinator"), member_down=1.5,
                            partitions=3).resolved()
    lines: list[str] = []
    lab = chaos.Lab(GroupSupervisor(str(tmp_path)), opts, lines.append)
    lab.members = members = chaos.Members("tcp://127.0.0.1:1", opts, str(tmp_path / "consumers"), 60)
    try:
        members.start_all()
        deadline = time.monotonic() + 20
        while len(members.owners()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # the fake members write their first lines
        load = SimpleNamespace(lock=threading.Lock(), clock=fl.FailoverClock())
        before = time.monotonic()
        [(release_at, hold)] = lab.inject(fl.PlannedFault(1, 4.0, fl.Fault("member"), 0.0), load)  # member-1
        assert hold == chaos.Hold(chaos.MEMBER_DOWN, "member-1") and members.down == {"member-1": 1}
        assert release_at == pytest.approx(lab.fault_at[1] - lab.t0 + 1.5)
        assert before <= lab.fault_at[1] <= time.monotonic()
        assert "fault 1 member: SIGKILL member-1 (pid " in lines[-1]
        assert lines[-1].endswith("owning partitions 0,1; a new process in 1.5 s")
        assert members.live() == ["member-2"] and lab.holding
        # the lab wrote the death down, on a line of its own after the one the process left unfinished
        events, bad = members.events()
        gone = [e for e in events if e.kind == "gone"]
        assert [(e.member, e.detail) for e in gone] == [("member-1#1", "SIGKILL")] and bad == 1
        assert gone[0].t == pytest.approx(lab.fault_at[1], abs=1e-5)
        assert fl.owned(events) == {"member-2#1": {2}}
        lab.release(hold)
        assert not lab.holding and "restart: member-1: a new process (pid " in lines[-1]
        [restart] = members.restarts
        assert (restart.index, restart.label, restart.from_trigger, restart.member) == (1, fl.RESTART, False,
                                                                                       "member-1")
        # the coordinator fault: the actor of the broker FindCoordinator names
        lab.group_coordinator = lambda: 2
        assert lab.inject(fl.PlannedFault(2, 8.0, fl.Fault("coordinator"), 0.0), load) == []
        assert lab.sup.killed == [("coordinator-2", signal.SIGKILL)]
        assert lab.events[-1].victims == ["coordinator-2"] and lab.events[-1].partitions == []
        assert "SIGKILL coordinator-2 (pid 102) (serves group chaos-group); leads no partition" in lines[-1]
        lab.group_coordinator = lambda: None
        lab.inject(fl.PlannedFault(3, 12.0, fl.Fault("coordinator"), 0.0), load)
        assert lab.events[-1].skipped == "no broker answered FindCoordinator for chaos-group"
    finally:
        members.stop_all()
    assert all(p.poll() is not None for p in members.procs.values()) and members.started == 3
