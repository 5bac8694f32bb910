"""``zafka chaos`` refusals, options and report: everything that needs no cluster."""

from __future__ import annotations

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
def test_group_faults_are_refused_in_one_line(capsys, kind):
    assert main(["chaos", "--faults", f"kill,{kind}"]) == 1
    line = one_line_error(capsys)
    assert line.endswith(f"--faults {kind}: not available yet: consumer groups come with the GroupCoordinator")


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
])
def test_impossible_setups_are_refused_before_a_cluster_starts(capsys, argv, words):
    assert main(["chaos", *argv]) == 1
    assert words in one_line_error(capsys)


def test_the_script_is_the_command(capsys):
    assert chaos_script.main(["--faults", "member"]) == 1
    assert "consumer groups come with the GroupCoordinator" in one_line_error(capsys)


def test_defaults():
    args = build_parser().parse_args(["chaos"])
    assert (args.duration, args.interval, args.seed, args.faults, args.brokers, args.partitions) == (
        60.0, 2.0, None, [], 3, 3)
    assert (args.replication_factor, args.min_insync_replicas, args.acks) == (None, None, "all")
    assert (args.broker_down, args.pause, args.json, args.keep) == (3.0, 3.0, False, False)
    assert not hasattr(args, "data_dir")  # a temp dir, not $ZAFKA_DATA_DIR
    o = chaos.LabOptions().resolved()
    assert (o.replication_factor, o.min_insync_replicas, o.acks) == (3, 2, "all")
    assert [str(f) for f in o.faults] == ["kill", "pause", "broker", "controller"]
    assert isinstance(o.seed, int)
    one = chaos.LabOptions(brokers=1, seed=4).resolved()
    assert (one.replication_factor, one.min_insync_replicas, one.seed) == (1, 1, 4)
    assert chaos.LabOptions(acks="1").resolved().acks == 1


def lab_result(acked, stored, failovers=(), faults=()):
    opts = chaos.LabOptions(seed=42, replication_factor=1, acks="1").resolved()
    return chaos.LabResult(opts, "/tmp/x", fl.judge(acked, stored), list(faults), list(failovers), [], len(acked), [])


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
    assert summary["verdict"]["ok"] and summary["failover"] == {
        "count": 1, "median_s": 0.25, "p99_s": 0.25, "max_s": 0.25, "unresolved": 0}
    assert summary["faults"][0]["failovers"] == [{"partition": 0, "seconds": 0.25}]


def test_report_of_a_run_that_lost_a_record():
    records = [fl.Record(0, i, i) for i in range(10)]
    result = lab_result(records, records[:4] + records[5:])
    lines = chaos.report(result)
    assert "lost, e.g.: 4 at 0:4" in lines
    assert lines[-1] == "FAIL: 1 lost, 0 reordered, 0 at a wrong offset (repeat with --seed 42)"
    assert result.exit_status == 1
    assert result.summary()["exit_status"] == 1
