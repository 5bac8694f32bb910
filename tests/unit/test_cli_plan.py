"""Capacity formulas of ``zafka plan``, checked against values computed by hand."""

from __future__ import annotations

import math

import pytest

from scripts.cli import plan
from scripts.cli.main import main


# -- units ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("512", 512), ("512B", 512), ("1KB", 1000), ("1kb", 1000), ("1.5MB", 1_500_000), ("2TB", 2 * 10**12),
    ("1KiB", 1024), ("1MiB", 1024 * 1024), ("1 GiB", 2**30), ("0.5TiB", 2**39), ("1,000B", 1000), ("1e3", 1000),
])
def test_parse_size(text, expected):
    assert plan.parse_size(text) == pytest.approx(expected)


@pytest.mark.parametrize("text, expected", [
    ("50MB/s", 50e6), ("50MB", 50e6), ("1GB/sec", 1e9), ("100MiB/s", 100 * 2**20), ("10MBps", 10e6),
])
def test_parse_rate(text, expected):
    assert plan.parse_rate(text) == pytest.approx(expected)


@pytest.mark.parametrize("text, days", [
    ("7d", 7), ("7", 7), ("168h", 7), ("1w", 7), ("2 weeks", 14), ("12h", 0.5), ("604800000ms", 7), ("1440m", 1),
])
def test_parse_days(text, days):
    assert plan.parse_days(text) == pytest.approx(days)


@pytest.mark.parametrize("text, expected", [
    ("1000000", 1e6), ("1M", 1e6), ("250k", 250e3), ("1,000,000", 1e6), ("1e9", 1e9), ("2B", 2e9), ("1.5m", 1.5e6),
    ("1亿", 1e8), ("3万", 3e4),
])
def test_parse_count(text, expected):
    assert plan.parse_count(text) == pytest.approx(expected)


@pytest.mark.parametrize("text, expected", [("0", 0.0), ("0.2", 0.2), ("20%", 0.2), ("100%", 1.0), ("1/3", 1 / 3)])
def test_parse_fraction(text, expected):
    assert plan.parse_fraction(text) == pytest.approx(expected)


@pytest.mark.parametrize("parse, text", [
    (plan.parse_size, "1XB"), (plan.parse_size, "KB"), (plan.parse_size, "-1KB"), (plan.parse_size, "nan"),
    (plan.parse_days, "7y"), (plan.parse_count, "3q"), (plan.parse_fraction, "lots"), (plan.parse_fraction, "-5%"),
    (plan.parse_rate, "fast"),
])
def test_bad_units_raise_value_error_naming_the_input(parse, text):
    with pytest.raises(ValueError, match=repr(text).replace("(", r"\(")):
        parse(text)


# -- disk ------------------------------------------------------------------------------------------

def test_disk_course_worked_example_step_by_step():
    # the notes: 1亿 × 1 KB × 2 = 200 GB/day; × 14 days = 2.8 TB; + 10 % index ≈ 3 TB; × 0.75 = 2.25 TB
    steps = plan.disk_plan(1e8, 1000, replicas=2, retention_days=14, index_overhead=0.1, compression_ratio=0.75)
    assert steps.per_day == pytest.approx(100e9)
    assert steps.replicated_per_day == pytest.approx(200e9)
    assert steps.retained == pytest.approx(2.8e12)
    assert steps.indexed == pytest.approx(3.08e12)
    assert steps.total == pytest.approx(2.31e12)  # exact: 3.08 TB × 0.75
    assert steps.rough == pytest.approx(2.25e12)  # the notes round 3.08 TB to 3 TB first


def test_compression_ratio_is_compressed_over_uncompressed():
    # 0.75 shrinks the disk to three quarters; it used to divide (3.08 / 0.75 = 4.1 TB)
    plain = plan.disk_bytes(1e8, 1000, 2, 14, index_overhead=0.1)
    assert plan.disk_bytes(1e8, 1000, 2, 14, index_overhead=0.1, compression_ratio=0.75) == pytest.approx(plain * 0.75)


def test_disk_without_overheads():
    # 1,000,000 msgs/day × 1 KB × RF 3 × 7 days = 21,000,000,000 bytes = 21 GB
    assert plan.disk_bytes(1_000_000, 1000, 3, 7) == 21_000_000_000


def test_disk_with_headroom():
    # 21 GB × 1.2 = 25.2 GB
    assert plan.disk_bytes(1_000_000, 1000, 3, 7, headroom=0.2) == pytest.approx(25_200_000_000)


def test_disk_fractional_retention():
    # 86,400 msgs/day (1/s) × 2 KB × RF 1 × 0.5 day = 86,400,000 B
    assert plan.disk_bytes(86_400, 2000, 1, 0.5) == pytest.approx(86_400_000)


@pytest.mark.parametrize("x, rounded", [(3.08e12, 3e12), (2.8e12, 3e12), (1.449e9, 1e9), (96e9, 100e9), (0.0, 0.0)])
def test_round_like_notes_keeps_one_figure(x, rounded):
    assert plan.round_like_notes(x) == pytest.approx(rounded)


@pytest.mark.parametrize("kwargs", [
    {"replicas": 0}, {"compression_ratio": 0}, {"headroom": -0.1}, {"messages_per_day": -1},
    {"index_overhead": -0.1},
])
def test_disk_rejects_nonsense(kwargs):
    args = {"messages_per_day": 1, "message_size_bytes": 1, "replicas": 1, "retention_days": 1, **kwargs}
    with pytest.raises(ValueError):
        plan.disk_bytes(**args)


@pytest.mark.parametrize("text, expected", [("0.75", 0.75), ("75%", 0.75), ("1", 1.0), ("3/4", 0.75)])
def test_parse_compression_ratio(text, expected):
    assert plan.parse_compression_ratio(text) == pytest.approx(expected)


@pytest.mark.parametrize("text, says", [("2", "--uncompressed-over-compressed 2"), ("0", "more than 0")])
def test_compression_ratio_outside_0_1_is_refused(text, says):
    with pytest.raises(ValueError, match=says):
        plan.parse_compression_ratio(text)


# -- brokers: the course's bandwidth model --------------------------------------------------------

def test_bandwidth_course_worked_example():
    # 1 TB × 8 ÷ 3600 s = 2,222 Mbps; 1 Gbps × 70 % × 1/3 = 233 Mbps; 9.52 → 10 per copy; × 3 replicas = 30
    result = plan.brokers_for_bandwidth(1e12, 3600, 1e9, 0.7, 1 / 3, 3)
    assert result.needed_bps == pytest.approx(2_222_222_222)
    assert result.usable_bps == pytest.approx(233_333_333)
    assert result.per_copy == pytest.approx(9.5238, rel=1e-4)
    assert (result.per_copy_brokers, result.brokers) == (10, 30)


def test_bandwidth_with_the_notes_binary_terabyte_is_also_30():
    # the notes: 1 TB = 1024 × 1024 MB → 8,388,608 Mb ÷ 3600 s ≈ 2,330 Mbps;
    # ÷ 233 Mbps ≈ 9.99 → 10; × 3 = 30
    result = plan.brokers_for_bandwidth(1024 * 1024 * 1e6, 3600, 1e9, 0.7, 1 / 3, 3)
    assert result.needed_bps / 1e6 == pytest.approx(2330.17, abs=0.01)
    assert result.brokers == 30


def test_bandwidth_rounds_up_per_copy_before_multiplying():
    # 2.1 brokers' worth per copy needs 3 per copy, so 9 for 3 replicas (not ceil(6.3) = 7)
    result = plan.brokers_for_bandwidth(2.1 * 100e6 / 8 * 3600, 3600, 100e6, 1, 1, 3)
    assert (result.per_copy_brokers, result.brokers) == (3, 9)
    # exactly 2 per copy stays 2 despite float noise
    assert plan.brokers_for_bandwidth(0.2 * 3600 / 8, 3600, 0.1, 1, 1, 1).per_copy_brokers == 2


@pytest.mark.parametrize("kwargs", [
    {"replicas": 0}, {"window_s": 0}, {"link_bps": 0}, {"ceiling": 0}, {"ceiling": 1.5}, {"normal_share": 0},
    {"data_bytes": -1},
])
def test_bandwidth_rejects_nonsense(kwargs):
    args = {"data_bytes": 1e12, "window_s": 3600, "link_bps": 1e9, "ceiling": 0.7, "normal_share": 1 / 3,
            "replicas": 3, **kwargs}
    with pytest.raises(ValueError):
        plan.brokers_for_bandwidth(**args)


@pytest.mark.parametrize("text, bps", [
    ("1Gbps", 1e9), ("1 Gbps", 1e9), ("100Mbps", 100e6), ("10Gbit/s", 10e9), ("10G", 10e9), ("2.5 Gb/s", 2.5e9),
    ("125MB/s", 1e9), ("1Gibps", 2**30), ("800kbps", 800e3),
])
def test_parse_bitrate(text, bps):
    assert plan.parse_bitrate(text) == pytest.approx(bps)


@pytest.mark.parametrize("text", ["fast", "1Gbpz", "-1Gbps", "1 Xbps"])
def test_parse_bitrate_rejects_nonsense(text):
    with pytest.raises(ValueError, match=repr(text).replace("(", r"\(")):
        plan.parse_bitrate(text)


@pytest.mark.parametrize("text, expected", [("1/3", 1 / 3), ("70%", 0.7), ("0.7", 0.7), ("1", 1.0)])
def test_parse_share(text, expected):
    assert plan.parse_share(text, "--normal-share") == pytest.approx(expected)


@pytest.mark.parametrize("text", ["0", "0%", "150%", "4/3", "1/0"])
def test_parse_share_outside_0_1_is_refused(text):
    with pytest.raises(ValueError, match="--ceiling"):
        plan.parse_share(text, "--ceiling")


# -- brokers: the throughput model ---------------------------------------------------------------

def test_brokers_write_bound():
    # ingress 100 MB/s × RF 3 / 50 MB/s per broker = 6; read 200/400 → 1; RF 3
    result = plan.brokers_needed(100e6, 3, 50e6, egress_bps=200e6, read_per_broker_bps=400e6)
    assert result.brokers == 6
    assert result.terms == {"write": 6, "read": 1, "replication": 3}
    assert result.binding == ["write"]


def test_brokers_read_bound():
    # write ceil(10 × 3 / 100) = 1; read ceil(900 / 100) = 9
    result = plan.brokers_needed(10e6, 3, 100e6, egress_bps=900e6, read_per_broker_bps=100e6)
    assert result.brokers == 9 and result.binding == ["read"]


def test_brokers_disk_bound():
    # disk ceil(21 TB / 2 TB) = 11 (10.5 rounds up)
    result = plan.brokers_needed(10e6, 3, 100e6, total_disk_bytes=21e12, disk_per_broker_bytes=2e12)
    assert result.terms["disk"] == 11
    assert result.brokers == 11 and result.binding == ["disk"]


def test_brokers_replication_floor():
    # tiny load still needs RF brokers to place RF replicas
    result = plan.brokers_needed(1e6, 3, 100e6, egress_bps=1e6, read_per_broker_bps=100e6,
                                 total_disk_bytes=1e9, disk_per_broker_bytes=1e12)
    assert result.terms == {"write": 1, "read": 1, "disk": 1, "replication": 3}
    assert result.brokers == 3 and result.binding == ["replication"]


def test_brokers_exact_division_does_not_round_up():
    # 0.1 × 3 / 0.1 is 3.0000000000000004 in floats: still 3 brokers
    assert 0.1 * 3 / 0.1 > 3
    assert plan.brokers_needed(0.1, 3, 0.1).terms["write"] == 3
    # 50 MB/s × 3 / 50 MB/s = 3 exactly; a hair more needs a 4th
    assert plan.brokers_needed(50e6, 3, 50e6).terms["write"] == 3
    assert plan.brokers_needed(50.1e6, 3, 50e6).terms["write"] == 4


def test_brokers_ties_name_every_binding_term():
    result = plan.brokers_needed(100e6, 3, 100e6, egress_bps=300e6, read_per_broker_bps=100e6)
    assert result.brokers == 3
    assert result.binding == ["write", "read", "replication"]


def test_brokers_optional_terms_left_out():
    result = plan.brokers_needed(100e6, 2, 40e6)
    assert set(result.terms) == {"write", "replication"}
    assert result.brokers == math.ceil(100 * 2 / 40) == 5


@pytest.mark.parametrize("kwargs", [
    {"replication_factor": 0}, {"write_per_broker_bps": 0}, {"read_per_broker_bps": 0},
    {"disk_per_broker_bytes": 0, "total_disk_bytes": 1}, {"ingress_bps": -1},
])
def test_brokers_rejects_nonsense(kwargs):
    args = {"ingress_bps": 1, "replication_factor": 1, "write_per_broker_bps": 1, **kwargs}
    with pytest.raises(ValueError):
        plan.brokers_needed(**args)


# -- the commands ------------------------------------------------------------------------------------

def run(capsys, *argv: str) -> str:
    assert main(list(argv)) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    return captured.out


def one_line_error(capsys, argv: list[str], code: int) -> str:
    assert main(argv) == code
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("zafka: error: "), captured.err
    return captured.err


def test_plan_disk_without_flags_is_the_course_example(capsys):
    lines = run(capsys, "plan", "disk").splitlines()
    for expected in [
        "  messages per day     100,000,000",
        "  message size         1,000 bytes (1 KB)",
        "  replicas             2",
        "  retention            14 days",
        "  index overhead       10%",
        "  compression ratio    0.75 (compressed ÷ uncompressed)",
        "  disk = messages/day × message size × replicas × retention days × (1 + index overhead) × compression ratio",
        "  100,000,000 × 1 KB × 2 = 200 GB/day",
        "  200 GB/day × 14 days = 2.8 TB",
        "  2.8 TB × (1 + 10%) = 3.08 TB",
        "  3.08 TB × 0.75 = 2.31 TB",
        "  disk needed          2.31 TB (2,310,000,000,000 bytes) across the cluster",
    ]:
        assert expected in lines, (expected, lines)
    rough = [line for line in lines if line.startswith("  as the notes round")]
    assert rough and "≈3 TB × 0.75 ≈ 2.25 TB" in rough[0], lines


def test_plan_disk_compression_ratio_multiplies(capsys):
    # the notes' inputs given as flags; the old code divided by 0.75 and printed 4.1 TB
    out = run(capsys, "plan", "disk", "--messages-per-day", "1亿", "--message-size", "1KB", "--replicas", "2",
              "--retention", "14", "--index-overhead", "0.1", "--compression-ratio", "0.75")
    assert "3.08 TB × 0.75 = 2.31 TB" in out and "≈ 2.25 TB" in out
    assert "4.1" not in out


def test_plan_disk_inverse_ratio_flag(capsys):
    out = run(capsys, "plan", "disk", "--uncompressed-over-compressed", "4")
    assert "compression ratio    0.25 (1 ÷ 4, compressed ÷ uncompressed)" in out
    assert "3.08 TB × 0.25 = 770 GB" in out


def test_plan_disk_ratio_above_one_points_to_the_inverse_flag(capsys):
    err = one_line_error(capsys, ["plan", "disk", "--compression-ratio", "2"], 1)
    assert "cannot exceed 1" in err and "--uncompressed-over-compressed 2" in err
    err = one_line_error(capsys, ["plan", "disk", "--uncompressed-over-compressed", "0.5"], 1)
    assert "cannot be below 1" in err and "--compression-ratio" in err


def test_plan_disk_other_inputs_and_headroom(capsys):
    # 1,000,000 × 1 KB × 3 = 3 GB/day; × 7 = 21 GB; × 1.0 (no index); × 1 (no compression); × 1.2 = 25.2 GB
    out = run(capsys, "plan", "disk", "--messages-per-day", "1M", "--message-size", "1KB", "--retention", "7d",
              "--replication-factor", "3", "--index-overhead", "0", "--compression-ratio", "1", "--headroom", "20%")
    assert "× (1 + headroom)" in out and "21 GB × 1 = 21 GB" in out and "21 GB × (1 + 20%) = 25.2 GB" in out
    assert "25,200,000,000 bytes" in out
    assert "as the notes round" in out and "≈ 24 GB" in out  # 21 GB → ≈20 GB first, × 1.2


def test_plan_disk_messages_per_sec(capsys):
    # 10 msg/s = 864,000/day; × 1000 B × RF 1 × 1 day × 1 × 0.5 = 432,000,000 B
    out = run(capsys, "plan", "disk", "--messages-per-sec", "10", "--message-size", "1KB", "--retention", "24h",
              "--replicas", "1", "--index-overhead", "0", "--compression-ratio", "0.5")
    assert "864,000 (10/s × 86,400 s)" in out and "432,000,000 bytes" in out


def test_plan_help_defaults_are_the_course_examples(capsys):
    with pytest.raises(SystemExit):
        main(["plan", "disk", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for default in ("(default 100M)", "(default 1KB)", "(default 2)", "default 14d)", "(default 10%)",
                    "(default 0.75)"):
        assert default in out, default
    with pytest.raises(SystemExit):
        main(["plan", "brokers", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for default in ("(default 1TB)", "default 1h)", "(default 1Gbps)", "(default 70%)", "(default 1/3)",
                    "(default 3)"):
        assert default in out, default


def test_plan_brokers_without_flags_is_the_course_example(capsys):
    lines = run(capsys, "plan", "brokers").splitlines()
    for expected in [
        "  data                 1 TB (1,000,000,000,000 bytes)",
        "  window               1 h (3,600 s)",
        "  link bandwidth       1 Gbps per broker",
        "  replicas             3",
        "  1 TB × 8 ÷ 3,600 s = 2,222 Mbps",
        "  1 Gbps × 70% × 1/3 = 233 Mbps",
        "  2,222 ÷ 233 = 9.52 → 10 brokers per copy (rounded up)",
        "  10 × 3 replicas = 30 brokers",
        "  brokers needed       30",
    ]:
        assert expected in lines, (expected, lines)


def test_plan_brokers_bandwidth_flags(capsys):
    # 500 GB × 8 ÷ 1800 s = 2,222 Mbps; 10 Gbps × 50% × 1/2 = 2,500 Mbps; 0.889 → 1 per copy; × 2 = 2
    out = run(capsys, "plan", "brokers", "--data", "500GB", "--window", "30min", "--link-bandwidth", "10Gbps",
              "--ceiling", "0.5", "--normal-share", "50%", "--replicas", "2")
    assert "500 GB × 8 ÷ 1,800 s = 2,222 Mbps" in out
    assert "10 Gbps × 50% × 50% = 2,500 Mbps" in out
    assert "1 × 2 replicas = 2 brokers" in out and "brokers needed       2" in out


@pytest.mark.parametrize("argv, says", [
    (["--ceiling", "0"], "--ceiling '0' must be more than 0"),
    (["--normal-share", "4/3"], "--normal-share '4/3' must be more than 0 and at most 1"),
    (["--window", "0s"], "the window must be longer than 0 s"),
    (["--link-bandwidth", "fast"], "--link-bandwidth 'fast' is not a bit rate"),
])
def test_plan_brokers_bad_bandwidth_inputs_are_one_line(argv, says, capsys):
    assert says in one_line_error(capsys, ["plan", "brokers", *argv], 1)


def test_plan_brokers_model_flags_do_not_mix(capsys):
    err = one_line_error(capsys, ["plan", "brokers", "--ingress", "50MB/s"], 2)
    assert "--ingress is a flag of the throughput model; add --model throughput" in err
    err = one_line_error(capsys, ["plan", "brokers", "--model", "throughput", "--ingress", "1MB/s",
                                  "--write-per-broker", "1MB/s", "--data", "1TB"], 2)
    assert "--data is a flag of the bandwidth model" in err
    err = one_line_error(capsys, ["plan", "brokers", "--model", "throughput", "--ingress", "1MB/s"], 2)
    assert "--model throughput needs --write-per-broker" in err


def test_plan_brokers_throughput_from_disk_flags(capsys):
    # disk = 100M × 1 KB × 3 × 7 = 2.1 TB → ceil(2.1 / 2) = 2; write ceil(50 × 3 / 100) = 2;
    # read ceil(150 / 200) = 1; RF 3 → 3
    out = run(capsys, "plan", "brokers", "--model", "throughput", "--ingress", "50MB/s", "--egress", "150MB/s",
              "--write-per-broker", "100MB/s", "--read-per-broker", "200MB/s", "--messages-per-day", "100M",
              "--message-size", "1KB", "--retention", "7d", "--index-overhead", "0", "--compression-ratio", "1",
              "--disk-per-broker", "2TB")
    assert "disk needed          2.1 TB" in out
    assert "= 2" in out and "brokers needed       3 (set by replication)" in out


def test_plan_brokers_throughput_disk_term_takes_course_defaults(capsys):
    # only --messages-per-day given: 1 KB, 14 days, 10 %, 0.75 from the course; RF 3 here
    # 1e8 × 1 KB × 3 × 14 × 1.1 × 0.75 = 3.465 TB → ceil(3.465 / 1) = 4
    out = run(capsys, "plan", "brokers", "--model", "throughput", "--ingress", "1MB/s", "--write-per-broker",
              "1GB/s", "--messages-per-day", "100M", "--disk-per-broker", "1TB")
    assert "3,465,000,000,000 bytes" in out and "brokers needed       4 (set by disk)" in out


def test_plan_brokers_default_egress_is_ingress_times_groups(capsys):
    # egress 40 MB/s × 5 groups = 200 MB/s; ceil(200 / 25) = 8
    out = run(capsys, "plan", "brokers", "--model", "throughput", "--ingress", "40MB/s", "--consumer-groups", "5",
              "--write-per-broker", "1GB/s", "--read-per-broker", "25MB/s", "--replication-factor", "2")
    assert "200.00 MB/s (ingress × 5 consumer groups)" in out
    assert "brokers needed       8 (set by read)" in out


def test_plan_bad_unit_is_one_line_exit_1(capsys):
    err = one_line_error(capsys, ["plan", "disk", "--message-size", "1XB"], 1)
    assert err.startswith("zafka: error: --message-size '1XB': unknown unit")


def test_plan_brokers_half_disk_term_is_an_error(capsys):
    err = one_line_error(capsys, ["plan", "brokers", "--model", "throughput", "--ingress", "1MB/s",
                                  "--write-per-broker", "1MB/s", "--disk-per-broker", "1TB"], 1)
    assert "--disk-per-broker" in err


# -- --from-topic: measured on a live topic -----------------------------------------------------------

def stored_log_bytes(partition_dirs) -> int:
    """What the partitions' segment files hold: the bytes a measurement of stored size must find."""
    return sum(f.stat().st_size for d in partition_dirs for f in d.glob("*.log"))


def test_from_topic_measures_record_size_and_stored_over_produced(tmp_path, capsys, monkeypatch):
    from wire import Producer

    from tests.fake_broker import FakeBroker

    monkeypatch.delenv("ZAFKA_BOOTSTRAP", raising=False)
    data = tmp_path / "data"
    with FakeBroker(data, {"orders": 2}) as broker:
        with Producer(broker.bootstrap, compression="lz4", linger_ms=50) as producer:
            futures = [producer.send("orders", key=b"k%03d" % i, value=b"x" * 996, partition=i % 2)
                       for i in range(400)]
            for f in futures:
                f.result(10)
        code = main(["plan", "disk", "--from-topic", "orders", "--bootstrap", broker.bootstrap])
        out = capsys.readouterr().out
    assert code == 0, out
    stored = stored_log_bytes([data / "orders-0", data / "orders-1"])
    produced = 400 * (4 + 996)  # key + value
    assert f"400 records in " in out and "from 2 partitions (all of it); codecs: lz4" in out
    assert f"record bytes         {produced:,} " in out and "→ 1,000 bytes per record" in out
    assert f"stored bytes         {stored:,} " in out
    ratio = stored / produced
    assert ratio < 0.2  # lz4 on a repeated byte; framing included
    assert f"stored ÷ produced {ratio:.4g}" in out
    assert "message size         1,000 bytes (1 KB), measured on topic orders" in out
    assert f"compression ratio    {ratio:.4g} (bytes stored ÷ bytes produced, measured on topic orders)" in out
    assert f"3.08 TB × {ratio:.4g} = " in out  # the measured ratio is what the formula multiplies by


def test_from_topic_explicit_flags_win(tmp_path, capsys, monkeypatch):
    from wire import Producer

    from tests.fake_broker import FakeBroker

    with FakeBroker(tmp_path / "data", {"t": 1}) as broker:
        with Producer(broker.bootstrap) as producer:
            producer.send("t", value=b"v" * 100).result(10)
        code = main(["plan", "disk", "--from-topic", "t", "--bootstrap", broker.bootstrap, "--message-size", "2KB",
                     "--compression-ratio", "0.5"])
    out = capsys.readouterr().out
    assert code == 0
    assert "message size         2,000 bytes (2 KB)\n" in out and "compression ratio    0.5 (compressed" in out


def test_from_topic_empty_or_missing_topic_is_one_line(tmp_path, capsys):
    from tests.fake_broker import FakeBroker

    with FakeBroker(tmp_path / "data", {"empty": 1}) as broker:
        err = one_line_error(capsys, ["plan", "disk", "--from-topic", "empty", "--bootstrap", broker.bootstrap], 1)
        assert "holds no record bytes to measure" in err and "--message-size" in err
        err = one_line_error(capsys, ["plan", "disk", "--from-topic", "nope", "--bootstrap", broker.bootstrap], 1)
        assert "nope" in err
