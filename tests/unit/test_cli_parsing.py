"""The ``zafka`` command line: every command parses its flags; bad usage is one line and exit code 2."""

from __future__ import annotations

import argparse
import subprocess
import sys

import re

import pytest

from scripts.cli import main as cli
from scripts.cli.output import CommandError, Progress, error_message, format_error, table

PARSER = cli.build_parser()


def parse(*argv: str) -> argparse.Namespace:
    return PARSER.parse_args(list(argv))


# -- each command and its flags -----------------------------------------------------------------------

def test_cluster_start_defaults():
    a = parse("cluster", "start")
    assert a.handler == ("cluster", "start")
    assert (a.brokers, a.port, a.host, a.config, a.detach, a.override) == (3, None, None, None, False, [])


def test_cluster_start_flags():
    a = parse("cluster", "start", "--brokers", "1", "--data-dir", "d", "--config", "server.properties",
              "--port", "19092", "--host", "127.0.0.2", "--detach", "--override", "log.retention.ms=5")
    assert (a.brokers, a.data_dir, a.config, a.port, a.host, a.detach) == (
        1, "d", "server.properties", 19092, "127.0.0.2", True)
    assert a.override == [("log.retention.ms", "5")]


@pytest.mark.parametrize("action", ["status", "stop"])
def test_cluster_status_stop(action):
    assert parse("cluster", action).handler == ("cluster", action)


def test_broker_start():
    a = parse("broker", "start", "--id", "4", "--controller", "tcp://10.0.0.1:9091", "--port", "9095")
    assert a.handler == ("brokers", "start")
    assert (a.stopped_id, a.broker_id, a.controller, a.port) == (None, 4, "tcp://10.0.0.1:9091", 9095)


def test_broker_stop_and_start_again_take_the_broker_id():
    assert (parse("broker", "stop", "2").handler, parse("broker", "stop", "2").stopped_id) == (("brokers", "stop"), 2)
    again = parse("broker", "start", "2")
    assert (again.handler, again.stopped_id, again.broker_id, again.controller) == (("brokers", "start"), 2, None, None)


@pytest.mark.parametrize("argv, message", [
    (["broker", "start"], "give the ID of a broker `zafka broker stop` stopped, or both --id and --controller"),
    (["broker", "start", "--id", "4"], "give the ID of a broker `zafka broker stop` stopped, or both --id"),
    (["broker", "start", "2", "--id", "4", "--controller", "tcp://127.0.0.1:1"], "not both"),
    (["broker", "start", "2", "--port", "9000"], "--port only applies to a new broker"),
])
def test_broker_start_refuses_a_mix_of_the_two_forms(argv, message):
    from scripts.cli import brokers, main

    with pytest.raises(main.UsageError, match=re.escape(message)):
        brokers.start(parse(*argv))


def test_global_options_before_or_after_the_command():
    before = parse("--bootstrap", "tcp://h:1", "--data-dir", "x", "topics", "list")
    after = parse("topics", "list", "--bootstrap", "tcp://h:1", "--data-dir", "x")
    assert (before.bootstrap, before.data_dir) == (after.bootstrap, after.data_dir) == ("tcp://h:1", "x")
    assert not hasattr(parse("topics", "list"), "bootstrap")  # unset: resolved later


def test_actors_and_kill():
    assert parse("actors").handler == ("cluster", "actors")
    assert parse("actors").memory is True and parse("actors", "--no-memory").memory is False
    a = parse("kill", "leader-orders-0")
    assert (a.name, a.signal, a.broker_id) == ("leader-orders-0", "KILL", None)
    assert parse("kill", "broker-1", "--signal", "term").signal == "TERM"
    assert parse("kill", "broker-1", "--signal", "SIGSTOP").signal == "STOP"
    a = parse("kill", "--broker", "2")
    assert (a.name, a.broker_id) == (None, 2)


def test_topics():
    a = parse("topics", "create", "orders", "--partitions", "3", "--replication-factor", "2",
              "--config", "retention.ms=60000", "--config", "cleanup.policy=delete")
    assert a.handler == ("topics", "create")
    assert (a.topic, a.partitions, a.replication_factor) == ("orders", 3, 2)
    assert a.config == [("retention.ms", "60000"), ("cleanup.policy", "delete")]
    assert parse("topics", "list").handler == ("topics", "list_")
    assert parse("topics", "describe", "orders").topic == "orders"
    assert parse("topics", "describe").topic is None
    assert parse("topics", "describe").under_replicated is False
    a = parse("topics", "describe", "--under-replicated")
    assert (a.topic, a.under_replicated) == (None, True)
    a = parse("topics", "describe", "orders", "--under-replicated")
    assert (a.topic, a.under_replicated) == ("orders", True)
    assert parse("topics", "delete", "orders").handler == ("topics", "delete")
    a = parse("topics", "alter", "orders", "--partitions", "6")
    assert (a.handler, a.partitions) == (("topics", "alter"), 6)


def test_configs():
    a = parse("configs", "get", "--topic", "orders")
    assert (a.handler, a.topic) == (("topics", "configs_get"), "orders")
    a = parse("configs", "set", "--topic", "orders", "retention.ms=1000", "segment.bytes=1048576",
              "--delete", "min.insync.replicas")
    assert a.pairs == [("retention.ms", "1000"), ("segment.bytes", "1048576")]
    assert a.delete == ["min.insync.replicas"]
    assert parse("configs", "set", "--topic", "t", "k=a=b").pairs == [("k", "a=b")]


def test_produce():
    a = parse("produce", "orders")
    assert (a.acks, a.compression, a.key, a.partition, a.key_separator) == ("all", "none", None, None, None)
    a = parse("produce", "orders", "--key", "k1", "--acks", "1", "--compression", "lz4", "--partition", "2",
              "--key-separator", ":")
    assert (a.key, a.acks, a.compression, a.partition, a.key_separator) == ("k1", "1", "lz4", 2, ":")
    assert parse("produce", "t", "--key-separator", "\\t").key_separator == "\t"


def test_consume():
    a = parse("consume", "orders")
    assert (a.group, a.from_beginning, a.max_messages, a.timeout_ms) == (None, False, None, None)
    a = parse("consume", "orders", "--group", "g", "--from-beginning", "--max-messages", "5", "--timeout-ms", "100",
              "--print-key", "--print-offset")
    assert (a.group, a.from_beginning, a.max_messages, a.timeout_ms, a.print_key, a.print_offset) == (
        "g", True, 5, 100, True, True)
    a = parse("consume", "orders", "--partition", "1", "--offset", "42")
    assert (a.partition, a.offset) == (1, 42)


def test_groups():
    assert parse("groups", "list").handler == ("clients", "groups_list")
    a = parse("groups", "describe", "billing")
    assert (a.handler, a.group) == (("clients", "groups_describe"), "billing")


def test_perf():
    a = parse("perf", "produce", "--topic", "t", "--num-records", "1000", "--record-size", "100")
    assert (a.throughput, a.acks, a.compression, a.batch_size, a.linger_ms, a.reporting_interval) == (
        -1, "1", "none", 65536, 5, 5000)
    a = parse("perf", "produce", "--topic", "t", "--num-records", "10", "--record-size", "1", "--throughput", "500",
              "--acks", "all", "--compression", "zstd", "--batch-size", "16384", "--linger-ms", "0")
    assert (a.throughput, a.acks, a.compression, a.batch_size, a.linger_ms) == (500, "all", "zstd", 16384, 0)
    a = parse("perf", "consume", "--topic", "t", "--messages", "10")
    assert (a.messages, a.timeout_ms, a.from_beginning) == (10, 10000, True)
    assert parse("perf", "consume", "--topic", "t", "--messages", "1", "--no-from-beginning").from_beginning is False
    a = parse("perf", "e2e", "--topic", "t", "--num-records", "50")
    assert (a.handler, a.num_records, a.record_size, a.acks) == (("perf", "e2e"), 50, 100, "1")


def test_plan():
    a = parse("plan", "disk")  # every input has the course's default
    assert (a.handler, a.replicas, a.message_size, a.from_topic) == (("planning", "disk"), 2, None, None)
    a = parse("plan", "disk", "--messages-per-day", "1M", "--message-size", "1KB", "--retention", "7d",
              "--replication-factor", "3", "--index-overhead", "5%", "--from-topic", "orders")
    assert (a.messages_per_day, a.message_size, a.retention, a.replicas, a.index_overhead, a.from_topic) == (
        "1M", "1KB", "7d", 3, "5%", "orders")
    a = parse("plan", "brokers")
    assert (a.handler, a.model, a.replicas, a.data) == (("planning", "brokers"), "bandwidth", 3, None)
    a = parse("plan", "brokers", "--model", "throughput", "--ingress", "50MB/s", "--write-per-broker", "100MB/s")
    assert (a.model, a.ingress, a.egress, a.total_disk) == ("throughput", "50MB/s", None, None)


# -- bad usage: exit code 2, one line -------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    [],
    ["topics"],
    ["nonsense"],
    ["topics", "create"],
    ["topics", "create", "t", "--partitions", "0"],
    ["topics", "create", "t", "--partitions", "many"],
    ["topics", "create", "t", "--config", "novalue"],
    ["kill", "x", "--signal", "USR9"],
    ["produce", "t", "--acks", "2"],
    ["produce", "t", "--compression", "brotli"],
    ["cluster", "start", "--port", "70000"],
    ["cluster", "start", "--start-timeout", "0"],
    ["cluster", "start", "--start-timeout", "-1"],
    ["cluster", "start", "--start-timeout", "nan"],
    ["cluster", "stop", "--timeout", "0"],
    ["broker", "start", "--id", "1", "--controller", "controller-host"],
    ["--bootstrap", "garbage", "topics", "list"],
    ["topics", "list", "--bootstrap", ""],
    ["topics", "list", "--bootstrap", "tcp://127.0.0.1:99999"],
    ["perf", "produce", "--topic", "t"],
    ["plan", "disk", "--messages-per-day", "1", "--messages-per-sec", "1"],
    ["plan", "disk", "--compression-ratio", "0.5", "--uncompressed-over-compressed", "2"],
    ["plan", "brokers", "--model", "latency"],
    ["consume", "t", "--bogus"],
])
def test_bad_usage_is_one_line_and_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        PARSER.parse_args(argv)
    assert exc.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith("zafka: error: ")
    assert "--help" in captured.err


def test_missing_subcommand_lists_the_choices(capsys):
    with pytest.raises(SystemExit):
        PARSER.parse_args(["topics"])
    err = capsys.readouterr().err
    assert "needs an action: create, list, describe, delete, alter" in err


@pytest.mark.parametrize("argv, text", [
    (["kill"], "name an actor"),
    (["kill", "broker-1", "--broker", "1"], "not both"),
    (["consume", "t", "--offset", "5"], "--offset needs --partition"),
    (["configs", "set", "--topic", "t"], "KEY=VALUE"),
])
def test_semantic_usage_errors_exit_2_without_a_cluster(argv, text, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ZAFKA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ZAFKA_BOOTSTRAP", "tcp://127.0.0.1:1")
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and text in err


def test_no_cluster_is_one_line_exit_1(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ZAFKA_DATA_DIR", str(tmp_path))
    assert cli.main(["cluster", "status"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("zafka: error: no cluster is running with data dir") and err.count("\n") == 1
    assert cli.main(["actors"]) == 1
    assert "no cluster is running" in capsys.readouterr().err


def test_help_exits_0(capsys):
    with pytest.raises(SystemExit) as exc:
        PARSER.parse_args(["perf", "produce", "--help"])
    assert exc.value.code == 0
    assert "--num-records" in capsys.readouterr().out


# -- defaults resolution --------------------------------------------------------------------------------

def test_data_dir_and_bootstrap_defaults(monkeypatch, tmp_path):
    monkeypatch.delenv("ZAFKA_DATA_DIR", raising=False)
    monkeypatch.delenv("ZAFKA_BOOTSTRAP", raising=False)
    monkeypatch.chdir(tmp_path)
    a = parse("topics", "list")
    assert cli.data_dir(a) == "./zafka-data"
    assert cli.resolve_bootstrap(a)[0] == "tcp://127.0.0.1:9092"
    monkeypatch.setenv("ZAFKA_DATA_DIR", str(tmp_path / "d"))
    assert cli.data_dir(a) == str(tmp_path / "d")
    # a running cluster's registry in the data dir supplies the bootstrap
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "supervisor.json").write_text(
        '{"bootstrap": "tcp://127.0.0.1:5", "bootstrap_servers": "tcp://127.0.0.1:5,tcp://127.0.0.1:6"}')
    value, source = cli.resolve_bootstrap(a)
    assert value == "tcp://127.0.0.1:5,tcp://127.0.0.1:6" and "supervisor.json" in source
    monkeypatch.setenv("ZAFKA_BOOTSTRAP", "")  # empty: unset for this command, as shells write it
    assert cli.resolve_bootstrap(a)[0] == "tcp://127.0.0.1:5,tcp://127.0.0.1:6"
    monkeypatch.setenv("ZAFKA_BOOTSTRAP", "env:1")
    assert cli.resolve_bootstrap(a) == ("tcp://env:1", "$ZAFKA_BOOTSTRAP")
    flag = parse("topics", "list", "--bootstrap", "tcp://flag:1, flag:2")
    assert cli.resolve_bootstrap(flag) == ("tcp://flag:1,tcp://flag:2", "--bootstrap")
    assert cli.data_dir(parse("topics", "list", "--data-dir", "flagdir")) == "flagdir"


# -- the error and output helpers ------------------------------------------------------------------------

def test_format_error_is_one_line():
    assert format_error("boom") == "zafka: error: boom"
    assert format_error(ValueError("line one\n  line two\n")) == "zafka: error: line one line two"
    assert format_error(CommandError("x")) == "zafka: error: x"


def test_error_message_of_os_errors_and_key_errors():
    assert error_message(FileNotFoundError(2, "No such file or directory", "/x/y")) == \
        "No such file or directory: /x/y"
    assert error_message(FileNotFoundError("no cluster is running with data dir d")) == \
        "no cluster is running with data dir d"
    assert error_message(KeyError("no running actor named 'x'")) == "no running actor named 'x'"
    assert error_message(RuntimeError()) == "RuntimeError"


def test_format_error_of_typed_wire_errors():
    from wire import errors

    line = format_error(errors.UnknownTopicOrPartition("topic nope does not exist"))
    assert line.startswith("zafka: error: topic nope does not exist (create the topic first")
    assert "\n" not in line


def test_main_turns_exceptions_into_one_line(monkeypatch, capsys):
    from wire import errors

    def raiser(exc):
        def handler(args):
            raise exc
        return handler

    cases = [
        (errors.UnknownTopicOrPartition("unknown topic nope"), 1),
        (ValueError("bad value"), 1),
        (FileNotFoundError(2, "No such file or directory", "x.properties"), 1),
        (CommandError("it failed", exit_code=3), 3),
        (KeyboardInterrupt(), 130),
        (ZeroDivisionError("division by zero"), 1),  # a bug: still one line
    ]
    for exc, code in cases:
        monkeypatch.setattr(cli, "run", raiser(exc))
        assert cli.main(["topics", "list"]) == code
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("zafka: error: ") and "Traceback" not in err, err


def test_config_error_is_one_line(monkeypatch, capsys):
    from actors.config import ConfigError

    def handler(args):
        raise ConfigError.invalid("log.retention.ms", "abc", "an integer")

    monkeypatch.setattr(cli, "run", handler)
    assert cli.main(["topics", "list"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "log.retention.ms" in err


def test_table_alignment():
    text = table([["a", 1, None], ["bbb", 22, [1, 2]]], ["NAME", "N", "LIST"], right=[1])
    assert text.splitlines() == ["NAME   N  LIST", "a      1  -", "bbb   22  1,2"]


class FakeWait:
    """Stands in for the progress thread's sleep: records each timeout, says "stopped" after ``ticks`` dots."""

    def __init__(self, ticks: int, stop_in_delay: bool = False):
        self.ticks = ticks
        self.stop_in_delay = stop_in_delay
        self.calls: list[float] = []

    def __call__(self, timeout: float) -> bool:
        self.calls.append(timeout)
        if len(self.calls) == 1:
            return self.stop_in_delay
        return len(self.calls) > self.ticks + 1


def test_progress_prints_the_label_after_the_delay_then_a_dot_per_interval():
    import io

    stream = io.StringIO()
    wait = FakeWait(ticks=3)
    progress = Progress("working", stream=stream, delay=0.5, interval=2.0, done="ok", wait=wait)
    progress.run()  # the thread's loop, driven here: no thread, no sleeping
    assert stream.getvalue() == "working..."
    assert wait.calls == [0.5, 2.0, 2.0, 2.0, 2.0]  # the delay, then one wait per dot and the last one
    progress.finish()
    assert stream.getvalue() == "working... ok\n"


def test_progress_that_stops_during_the_delay_prints_nothing():
    import io

    stream = io.StringIO()
    progress = Progress("never shown", stream=stream, delay=5, wait=FakeWait(ticks=0, stop_in_delay=True))
    progress.run()
    progress.finish()
    assert stream.getvalue() == ""


def test_progress_thread_keeps_printing_dots_until_finished():
    import io
    import time

    stream = io.StringIO()
    with Progress("working", stream=stream, interval=0.001, done="ok"):
        deadline = time.monotonic() + 10
        while stream.getvalue().count(".") < 3:  # polled with a deadline: the thread must keep going
            assert time.monotonic() < deadline, f"no progress dots after 10 s: {stream.getvalue()!r}"
            time.sleep(0.001)
    out = stream.getvalue()
    assert out.startswith("working...") and out.endswith(" ok\n")


def test_module_import_has_no_side_effects():
    # the forkserver re-imports the main module in every actor: it must do nothing
    code = "import sys, scripts.cli.main as m; print(callable(m.main), 'supervisor' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.split() == ["True", "False"] and out.stderr == ""


def test_port_comes_from_flag_then_listeners_then_9092(tmp_path):
    from scripts.cli.cluster import _port

    props = tmp_path / "server.properties"
    props.write_text("listeners=PLAINTEXT://localhost:19092\n")
    assert _port(parse("cluster", "start")) == 9092
    assert _port(parse("cluster", "start", "--config", str(props))) == 0  # the supervisor uses the listener's
    assert _port(parse("cluster", "start", "--override", "listeners=PLAINTEXT://:1")) == 0
    assert _port(parse("cluster", "start", "--config", str(props), "--port", "29092")) == 29092


def test_a_taken_port_is_one_clear_line():
    import socket

    from scripts.cli.cluster import _check_ports_free

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(CommandError, match=f"cannot listen on 127.0.0.1:{port}.*--port"):
            _check_ports_free([f"tcp://127.0.0.1:{port}"])


# -- perf statistics (what `zafka perf` prints) -------------------------------------------------------

def test_percentiles_like_kafka():
    from scripts.cli.perf import percentiles

    values = list(range(1, 1001))  # 1..1000 ms
    assert percentiles(values) == [501, 951, 991, 1000]
    assert percentiles([]) == [0.0, 0.0, 0.0, 0.0]
    assert percentiles([7.0], (0.5, 0.999)) == [7.0, 7.0]


def test_produce_stats_window_and_summary_lines():
    from scripts.cli.perf import ProduceStats

    lines = []
    stats = ProduceStats(num_records=4, record_size=1024 * 1024, reporting_interval_ms=60_000, out=lines.append)
    t = stats.start
    for latency_ms in (10, 20, 30):
        stats.done(t - latency_ms / 1000, None, None)  # sent latency_ms before now
    stats.done(t, None, RuntimeError("broken"))
    assert (stats.count, stats.failed, str(stats.first_error)) == (3, 1, "broken")
    assert stats.max_latency == pytest.approx(30, abs=5)
    stats.print_window(stats.window_start + 2.0)
    assert len(lines) == 1
    assert lines[0].startswith("3 records sent, 1.5 records/sec (1.50 MB/sec), ")
    assert lines[0].endswith(" ms max latency.")
    summary = stats.summary(stats.start + 3.0)
    assert summary.startswith("3 records sent, 1.0 records/sec (1.00 MB/sec), ")
    for part in ("ms avg latency", "ms max latency", "ms 50th", "ms 95th", "ms 99th", "ms 99.9th."):
        assert part in summary


def test_throttle_keeps_the_target_rate():
    import time

    from scripts.cli.perf import Throttle

    start = time.monotonic()
    throttle = Throttle(200, start)
    for sent in range(1, 41):
        throttle.wait(sent)
    elapsed = time.monotonic() - start
    assert 0.18 <= elapsed < 1.0  # 40 records at 200/s: about 0.2 s


def test_in_flight_window_bounds():
    from scripts.cli.perf import in_flight_window

    assert in_flight_window(100) == 10_000
    assert in_flight_window(1_000_000) == 1000
    assert 1000 <= in_flight_window(2000) <= 10_000
