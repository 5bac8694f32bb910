"""The ``zafka`` command line as a user runs it: a real subprocess against a real cluster.

The CLI finds the cluster through the registry the supervisor writes into its data
dir (``ZAFKA_DATA_DIR``), exactly as a second terminal would.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import psutil

from .conftest import free_port_block, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def zafka(data_dir, *argv: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "ZAFKA_DATA_DIR": str(data_dir), "PYTHONPATH": ROOT}
    env.pop("ZAFKA_BOOTSTRAP", None)
    return subprocess.run(
        [sys.executable, "-m", "scripts.cli.main", *argv], cwd=ROOT, env=env, input=stdin,
        capture_output=True, text=True, timeout=timeout,
    )


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("zafka: error: ")
    return lines[0]


def actors_table(data_dir) -> dict[str, dict]:
    """``zafka actors`` parsed: name -> its columns."""
    out = ok(zafka(data_dir, "actors"))
    lines = out.splitlines()
    header = lines[0].split()
    rows = {}
    for line in lines[1:]:
        cells = line.split()
        if len(cells) == len(header):
            rows[cells[0]] = dict(zip(header, cells))
    return rows


def test_topics_configs_status_and_one_line_errors(make_cluster, tmp_path):
    data_dir = tmp_path / "cluster"
    cluster = make_cluster(brokers=3, data_dir=data_dir)

    out = ok(zafka(data_dir, "topics", "create", "orders", "--partitions", "3", "--replication-factor", "1",
                   "--config", "retention.ms=600000"))
    assert "created topic orders with 3 partitions" in out
    ok(zafka(data_dir, "topics", "create", "audit"))
    assert ok(zafka(data_dir, "topics", "list")).split() == ["audit", "orders"]

    out = ok(zafka(data_dir, "topics", "describe", "orders"))
    lines = out.splitlines()
    assert lines[0].startswith("Topic: orders  PartitionCount: 3  ReplicationFactor: 1")
    assert "retention.ms=600000" in lines[0]
    assert lines[1].split()[:4] == ["PARTITION", "LEADER", "REPLICAS", "ISR"]
    rows = [line.split() for line in lines[2:]]
    assert [r[0] for r in rows] == ["0", "1", "2"]
    assert all(r[1] in ("1", "2", "3") and r[2] == r[1] and r[3] == r[1] for r in rows)

    # configs: a changed retention.ms shows, marked as an override
    out = ok(zafka(data_dir, "configs", "set", "--topic", "orders", "retention.ms=123456", "segment.bytes=1048576"))
    assert "set retention.ms=123456" in out
    got = ok(zafka(data_dir, "configs", "get", "--topic", "orders")).splitlines()
    assert any(line.split()[:3] == ["*", "retention.ms", "123456"] for line in got), got
    assert any(line.split()[:2] == ["cleanup.policy", "delete"] for line in got), got  # a default
    ok(zafka(data_dir, "configs", "set", "--topic", "orders", "--delete", "segment.bytes"))
    got = ok(zafka(data_dir, "configs", "get", "--topic", "orders"))
    assert not any(line.startswith("* segment.bytes") for line in got.splitlines())
    assert "retention.ms=123456" in ok(zafka(data_dir, "topics", "describe", "orders")).splitlines()[0]

    # topics alter grows the topic: the new partitions get leaders; shrinking is one line of error
    assert "now has 5 partitions" in ok(zafka(data_dir, "topics", "alter", "orders", "--partitions", "5"))
    rows = [line.split() for line in ok(zafka(data_dir, "topics", "describe", "orders")).splitlines()[2:]]
    assert [r[0] for r in rows] == ["0", "1", "2", "3", "4"] and all(r[1] in ("1", "2", "3") for r in rows)
    assert "can only grow" in one_line_error(zafka(data_dir, "topics", "alter", "orders", "--partitions", "2"))

    # a value zafka does not act on yet: accepted with a warning, flagged by configs get
    out = zafka(data_dir, "configs", "set", "--topic", "orders", "compression.type=gzip")
    assert out.returncode == 0
    assert "zafka: warning: compression.type=gzip is accepted but not in effect yet" in out.stderr
    got = ok(zafka(data_dir, "configs", "get", "--topic", "orders")).splitlines()
    (row,) = [line for line in got if line.split()[:2] == ["*", "compression.type"]]
    assert "not in effect yet" in row
    (row,) = [line for line in got if line.split()[:1] == ["retention.ms"] or line.split()[1:2] == ["retention.ms"]]
    assert "not in effect" not in row
    helped = ok(zafka(data_dir, "configs", "help", "--broker")).splitlines()
    (row,) = [line for line in helped if line.startswith("num.io.threads ")]
    assert "[not in effect yet: " in row

    # failures: one line, no traceback, non-zero exit
    assert "does not exist" in one_line_error(zafka(data_dir, "topics", "describe", "nope"))
    assert "nope" in one_line_error(zafka(data_dir, "consume", "nope", "--from-beginning", "--max-messages", "1"))
    assert "retention.mss" in one_line_error(zafka(data_dir, "configs", "set", "--topic", "orders",
                                                   "retention.mss=5"))
    assert "already exists" in one_line_error(zafka(data_dir, "topics", "create", "orders"))
    assert ok(zafka(data_dir, "groups", "list")) == "no consumer groups\n"
    assert "does not exist" in one_line_error(zafka(data_dir, "groups", "describe", "no-such-group"))
    assert "no running actor" in one_line_error(zafka(data_dir, "kill", "no-such-actor"))
    usage = zafka(data_dir, "topics", "create")
    assert usage.returncode == 2 and one_line_error(usage)

    # status says where the cluster and its logs are
    out = ok(zafka(data_dir, "cluster", "status"))
    assert cluster.logs_dir in out and cluster.bootstrap in out
    assert "failed actors:  none" in out

    ok(zafka(data_dir, "topics", "delete", "audit"))
    assert ok(zafka(data_dir, "topics", "list")).split() == ["orders"]


def test_produce_lines_then_consume_them_back(make_cluster, tmp_path):
    data_dir = tmp_path / "cluster"
    make_cluster(brokers=1, data_dir=data_dir)
    ok(zafka(data_dir, "topics", "create", "lines", "--partitions", "3"))
    values = [f"line {i} ünïcode" for i in range(60)]
    result = zafka(data_dir, "produce", "lines", stdin="".join(v + "\n" for v in values))
    ok(result)
    assert "produced 60 records to lines" in result.stderr

    result = zafka(data_dir, "consume", "lines", "--from-beginning", "--max-messages", "60")
    assert sorted(ok(result).splitlines()) == sorted(values)
    assert "Processed a total of 60 messages" in result.stderr

    # keys: Kafka's parse.key, printed back with --print-key; one partition keeps the order
    ok(zafka(data_dir, "topics", "create", "keyed"))
    ok(zafka(data_dir, "produce", "keyed", "--key-separator", ":", "--acks", "1", "--compression", "lz4",
             stdin="k1:v1\nk2:v2:with colon\n"))
    ok(zafka(data_dir, "produce", "keyed", "--key", "fixed", stdin="v3\n"))
    out = ok(zafka(data_dir, "consume", "keyed", "--from-beginning", "--max-messages", "3", "--print-key",
                   "--print-offset"))
    assert out.splitlines() == ["0:0\tk1\tv1", "0:1\tk2\tv2:with colon", "0:2\tfixed\tv3"]

    # --partition/--offset, and --timeout-ms ends a consume that gets fewer records than asked for
    result = zafka(data_dir, "consume", "keyed", "--partition", "0", "--offset", "1", "--max-messages", "10",
                   "--timeout-ms", "1500")
    assert ok(result).splitlines() == ["v2:with colon", "v3"]
    assert "Processed a total of 2 messages" in result.stderr

    bad = zafka(data_dir, "produce", "keyed", "--key-separator", ":", stdin="no separator here\n")
    assert "line 1 has no key separator" in one_line_error(bad)


def test_actors_kill_a_leader_and_a_whole_broker(make_cluster, tmp_path):
    data_dir = tmp_path / "cluster"
    make_cluster(brokers=3, data_dir=data_dir)
    ok(zafka(data_dir, "topics", "create", "t", "--partitions", "1", "--replication-factor", "1"))
    rows = wait_for(lambda: (lambda r: r if "leader-t-0" in r else None)(actors_table(data_dir)),
                    what="leader-t-0 in `zafka actors`")
    for name in ("controller", "broker-1", "broker-2", "broker-3", "cleaner-1", "leader-t-0"):
        assert rows[name]["STATE"] == "running" and rows[name]["RESTARTS"] == "0", rows[name]
    assert rows["controller"]["KIND"] == "controller" and rows["broker-2"]["BROKER"] == "2"
    assert float(rows["broker-1"]["USS(MB)"]) > 0
    assert "total USS:" in ok(zafka(data_dir, "actors"))

    old_pid = rows["leader-t-0"]["PID"]
    out = ok(zafka(data_dir, "kill", "leader-t-0"))
    assert "SIGKILL to leader-t-0" in out
    restarted = wait_for(
        lambda: (lambda r: r if r["RESTARTS"] == "1" and r["STATE"] == "running" else None)(
            actors_table(data_dir)["leader-t-0"]),
        what="leader-t-0 restarted once",
    )
    assert restarted["PID"] != old_pid

    victim = "2" if rows["leader-t-0"]["BROKER"] != "2" else "3"
    out = ok(zafka(data_dir, "kill", "--broker", victim, "--signal", "TERM"))
    assert f"broker-{victim}" in out and f"cleaner-{victim}" in out
    wait_for(
        lambda: all(int(actors_table(data_dir)[n]["RESTARTS"]) >= 1 for n in (f"broker-{victim}", f"cleaner-{victim}")),
        what=f"broker {victim}'s actors restarted",
    )
    # the cluster still serves
    ok(zafka(data_dir, "produce", "t", stdin="after the crash\n"))
    assert ok(zafka(data_dir, "consume", "t", "--from-beginning", "--max-messages", "1")) == "after the crash\n"


def test_broker_stop_hands_leadership_over_and_broker_start_brings_the_broker_back(make_cluster, tmp_path):
    data_dir = tmp_path / "cluster"
    make_cluster(brokers=3, data_dir=data_dir, config={"leader.session.timeout.ms": "800"})
    ok(zafka(data_dir, "topics", "create", "moved", "--partitions", "3", "--replication-factor", "3",
             "--config", "min.insync.replicas=2"))
    wait_for(lambda: "under-replicated" not in ok(zafka(data_dir, "topics", "describe", "moved"))
             and "leader-moved-2" in actors_table(data_dir), what="every partition led and in sync")

    out = ok(zafka(data_dir, "broker", "stop", "1"))
    assert "broker 1: moved 1 leadership: moved-0 to broker 2 (epoch 1)" in out, out
    assert "stopped broker-1, cleaner-1, fetcher-moved-0-1, fetcher-moved-1-1, fetcher-moved-2-1" in out, out
    assert "`zafka broker start 1` brings it back" in out
    rows = actors_table(data_dir)
    assert rows["broker-1"]["STATE"] == "stopped" and "fetcher-moved-0-1" not in rows
    assert rows["leader-moved-0"]["BROKER"] == "2"
    # the partitions still take acks=all writes: two in-sync replicas are left of three
    ok(zafka(data_dir, "produce", "moved", "--acks", "all", stdin="while broker 1 is down\n"))
    assert "already stopped" in one_line_error(zafka(data_dir, "broker", "stop", "1"))
    assert "broker 9 is not supervised here" in one_line_error(zafka(data_dir, "broker", "stop", "9"))

    out = ok(zafka(data_dir, "broker", "start", "1"))
    assert "broker 1: started broker-1, cleaner-1" in out
    wait_for(lambda: "under-replicated" not in ok(zafka(data_dir, "topics", "describe", "moved")),
             what="broker 1 back in every ISR")
    assert "is not stopped" in one_line_error(zafka(data_dir, "broker", "start", "1"))


def test_perf_produce_consume_and_e2e(make_cluster, tmp_path):
    data_dir = tmp_path / "cluster"
    make_cluster(brokers=1, data_dir=data_dir)
    ok(zafka(data_dir, "topics", "create", "perf", "--partitions", "2"))
    out = ok(zafka(data_dir, "perf", "produce", "--topic", "perf", "--num-records", "20000", "--record-size", "100",
                   "--reporting-interval", "500"))
    lines = out.splitlines()
    assert lines[0].startswith("perf produce: ") and "record-size=100" in lines[0] and "acks=1" in lines[0]
    assert "idempotence=off" in lines[0]
    summary = lines[-1]
    assert summary.startswith("20000 records sent, ") and "records/sec" in summary and "MB/sec" in summary
    for part in ("ms avg latency", "ms max latency", "ms 50th", "ms 95th", "ms 99th", "ms 99.9th"):
        assert part in summary, summary

    out = ok(zafka(data_dir, "perf", "consume", "--topic", "perf", "--messages", "20000"))
    assert "start.time, end.time, data.consumed.in.MB" in out
    summary = out.splitlines()[-1]
    assert summary.startswith("20000 records consumed") and "records/sec" in summary

    out = ok(zafka(data_dir, "perf", "e2e", "--topic", "perf", "--num-records", "30"))
    assert "Avg latency:" in out and "99.9th" in out

    # --acks all is idempotent unless --no-idempotence: the leaders remember a producer only then
    for topic, flags, state in (("idem", (), "on"), ("plain", ("--no-idempotence",), "off")):
        ok(zafka(data_dir, "topics", "create", topic))
        out = ok(zafka(data_dir, "perf", "produce", "--topic", topic, "--num-records", "100", "--record-size", "10",
                       "--acks", "all", *flags))
        assert f"idempotence={state}" in out.splitlines()[0]
    assert ok(zafka(data_dir, "producers", "describe", "--topic", "idem")).splitlines()[1].split()[0] == "0"
    result = zafka(data_dir, "producers", "describe", "--topic", "plain")
    assert "no idempotent producer has written to plain" in ok(result) + result.stderr
    assert "acks must be 'all'" in one_line_error(zafka(data_dir, "perf", "produce", "--topic", "idem",
                                                        "--num-records", "1", "--record-size", "1", "--idempotence"))




def _kill_tree(pid: int) -> None:
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return
    for p in procs:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=10)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_detached_cluster_start_status_stop(tmp_path):
    data_dir = tmp_path / "detached"
    registry_path = data_dir / "supervisor.json"
    port = free_port_block(1)
    pid = None
    try:
        start = zafka(data_dir, "cluster", "start", "--detach", "--brokers", "1", "--port", str(port),
                      "--data-dir", str(data_dir), "--override", "broker.heartbeat.interval.ms=100")
        if registry_path.exists():
            pid = json.loads(registry_path.read_text())["pid"]
        out = ok(start)
        assert f"tcp://127.0.0.1:{port}" in out
        assert pid is not None and not _gone(pid)

        status = ok(zafka(data_dir, "cluster", "status"))
        assert str(data_dir / "logs") in status and f"supervisor pid: {pid}" in status

        again = zafka(data_dir, "cluster", "start", "--detach", "--brokers", "1", "--port", str(port))
        assert "already running" in one_line_error(again)

        stop = ok(zafka(data_dir, "cluster", "stop"))
        assert "cluster stopped" in stop
        assert _gone(pid)
        assert not registry_path.exists()
        assert "no cluster is running" in one_line_error(zafka(data_dir, "cluster", "status"))
        assert "cluster serving" in (data_dir / "logs" / "cluster.out").read_text()
    finally:
        if pid is None and registry_path.exists():
            pid = json.loads(registry_path.read_text())["pid"]
        if pid is not None and not _gone(pid):
            zafka(data_dir, "cluster", "stop", "--timeout", "20")
            if not _gone(pid):
                _kill_tree(pid)


def test_foreground_cluster_start_stops_cleanly_on_ctrl_c(tmp_path):
    data_dir = tmp_path / "fg"
    env = {**os.environ, "ZAFKA_DATA_DIR": str(data_dir), "PYTHONPATH": ROOT}
    proc = subprocess.Popen(
        [sys.executable, "-m", "scripts.cli.main", "cluster", "start", "--brokers", "1", "--port", "0",
         "--override", "no.such.key=1"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "cluster serving" in line:
                break
        out = "".join(lines)
        assert "starting 1 broker" in out and "bootstrap:" in out and str(data_dir / "logs") in out
        assert "Ctrl-C or `zafka cluster stop` to stop" in out
        assert "failed actors:  none" in ok(zafka(data_dir, "cluster", "status"))
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "cluster stopped" in rest
        assert "zafka: warning: config: unknown config no.such.key" in err and "Traceback" not in err
        assert not (data_dir / "supervisor.json").exists()
    finally:
        if proc.poll() is None:
            _kill_tree(proc.pid)
            proc.wait()


# -- endpoints and start-up timeouts (issue #7) ------------------------------------------------------------

def test_a_stale_registry_fails_within_the_no_answer_timeout(tmp_path):
    """A data dir whose cluster is gone: `topics list` says so in seconds, naming the endpoint, not after 30 s."""
    from scripts.cli.endpoints import NO_ANSWER_TIMEOUT_S

    data_dir = tmp_path / "gone"
    data_dir.mkdir()
    with socket.socket() as reserved:  # bound, not listening: refused, and no one else can take the port
        reserved.bind(("127.0.0.1", 0))
        endpoint = f"tcp://127.0.0.1:{reserved.getsockname()[1]}"
        (data_dir / "supervisor.json").write_text(json.dumps({"bootstrap": endpoint, "pid": 0}))
        start = time.monotonic()
        result = zafka(data_dir, "topics", "list", timeout=NO_ANSWER_TIMEOUT_S + 30)
        elapsed = time.monotonic() - start
    line = one_line_error(result)
    assert elapsed < NO_ANSWER_TIMEOUT_S + 10, elapsed  # the clients alone would retry for 30 s
    assert f"no zafka broker answered at {endpoint}" in line and "supervisor.json" in line
    assert f"within {NO_ANSWER_TIMEOUT_S:g} s" in line and "`zafka cluster status`" in line


def test_bad_bootstrap_values_are_one_line_before_any_connection(tmp_path):
    for value, says in [("garbage", "'garbage' has no port"), ("", "the value is empty"),
                        ("tcp://127.0.0.1:99999", "port 99999 is out of range")]:
        result = zafka(tmp_path, "--bootstrap", value, "topics", "list", timeout=30)
        assert result.returncode == 2
        line = one_line_error(result)
        assert says in line and "tcp://host:port" in line and "ZMQError" not in line


def test_cluster_start_timeout_says_the_timeout_given(tmp_path):
    data_dir = tmp_path / "slow"
    result = zafka(data_dir, "cluster", "start", "--brokers", "1", "--port", "0", "--start-timeout", "0.001",
                   timeout=120)
    line = one_line_error(result)
    assert "did not serve within 0.001 s" in line and str(data_dir / "logs") in line
    assert "(None)" not in line and "within 0 s" not in line
    assert not (data_dir / "supervisor.json").exists()  # the failed start stopped what it had started


# -- plan disk --from-topic (issue #7) ---------------------------------------------------------------------

def test_plan_disk_from_topic_measures_a_real_topic(make_cluster, tmp_path):
    from wire import Producer

    data_dir = tmp_path / "cluster"
    cluster = make_cluster(brokers=1, data_dir=data_dir)
    ok(zafka(data_dir, "topics", "create", "sized", "--partitions", "2"))
    values = [(b"order-%05d " % i) * 40 for i in range(1500)]  # 480 bytes each, compressible
    with Producer(bootstrap=cluster.bootstrap, acks=1, compression="zstd", linger_ms=20) as producer:
        futures = [producer.send("sized", value=v, key=b"c%d" % (i % 7)) for i, v in enumerate(values)]
        for f in futures:
            f.result(timeout=30)
    produced = sum(len(v) for v in values) + sum(len(b"c%d" % (i % 7)) for i in range(len(values)))
    logs = list((data_dir / "kafka-logs" / "broker-1").glob("sized-*/*.log"))
    stored = sum(f.stat().st_size for f in logs)
    assert len({f.parent for f in logs}) == 2 and stored > 0

    out = ok(zafka(data_dir, "plan", "disk", "--from-topic", "sized", "--bootstrap", cluster.bootstrap))
    assert "1,500 records in " in out and "from 2 partitions (all of it); codecs: zstd" in out
    assert f"record bytes         {produced:,} " in out
    assert f"→ {produced / 1500:,.4g} bytes per record" in out
    assert f"stored bytes         {stored:,} " in out  # byte for byte what the segment files hold
    ratio = stored / produced
    assert ratio < 0.5
    assert f"compression ratio    {ratio:.4g} (bytes stored ÷ bytes produced, measured on topic sized)" in out
    assert f" × {ratio:.4g} = " in out  # the measured ratio is what the formula multiplies by
    from scripts.cli.plan import disk_bytes

    total = disk_bytes(1e8, produced / 1500, 2, 14, index_overhead=0.1, compression_ratio=ratio)
    assert f"({round(total):,} bytes) across the cluster" in out
