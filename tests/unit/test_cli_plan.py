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
])
def test_parse_count(text, expected):
    assert plan.parse_count(text) == pytest.approx(expected)


@pytest.mark.parametrize("text, expected", [("0", 0.0), ("0.2", 0.2), ("20%", 0.2), ("100%", 1.0)])
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

def test_disk_course_example():
    # 1,000,000 msgs/day × 1 KB × 7 days × RF 3 = 21,000,000,000 bytes = 21 GB
    assert plan.disk_bytes(1_000_000, 1000, 7, 3) == 21_000_000_000


def test_disk_with_headroom():
    # 21 GB × 1.2 = 25.2 GB
    assert plan.disk_bytes(1_000_000, 1000, 7, 3, headroom=0.2) == pytest.approx(25_200_000_000)


def test_disk_with_compression_ratio():
    # 100M msgs/day × 500 B × 3 days × RF 2 × 1.1 / 2.5 = 132,000,000,000 B
    assert plan.disk_bytes(100e6, 500, 3, 2, headroom=0.1, compression_ratio=2.5) == pytest.approx(132e9)


def test_disk_fractional_retention():
    # 86,400 msgs/day (1/s) × 2 KB × 0.5 day × RF 1 = 86,400,000 B
    assert plan.disk_bytes(86_400, 2000, 0.5, 1) == pytest.approx(86_400_000)


@pytest.mark.parametrize("kwargs", [
    {"replication_factor": 0}, {"compression_ratio": 0}, {"headroom": -0.1}, {"messages_per_day": -1},
])
def test_disk_rejects_nonsense(kwargs):
    args = {"messages_per_day": 1, "message_size_bytes": 1, "retention_days": 1, "replication_factor": 1, **kwargs}
    with pytest.raises(ValueError):
        plan.disk_bytes(**args)


# -- brokers --------------------------------------------------------------------------------------

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

def test_plan_disk_command_prints_inputs_formula_result(capsys):
    code = main(["plan", "disk", "--messages-per-day", "1M", "--message-size", "1KB", "--retention", "7d",
                 "--replication-factor", "3", "--headroom", "20%"])
    out = capsys.readouterr().out
    assert code == 0
    assert "1,000,000" in out and "1,000 bytes" in out and "7 days" in out and "20%" in out
    assert "disk = messages/day × message size × retention days × replication factor × (1 + headroom)" in out
    assert "25.20 GB" in out and "25,200,000,000 bytes" in out


def test_plan_disk_messages_per_sec_and_compression(capsys):
    # 10 msg/s = 864,000/day; × 1000 B × 1 day × RF 1 / 2 = 432,000,000 B
    code = main(["plan", "disk", "--messages-per-sec", "10", "--message-size", "1KB", "--retention", "24h",
                 "--replication-factor", "1", "--compression-ratio", "2"])
    out = capsys.readouterr().out
    assert code == 0
    assert "÷ compression ratio" in out and "432,000,000 bytes" in out


def test_plan_brokers_command_from_disk_flags(capsys):
    # disk = 100M × 1 KB × 7 × 3 = 2.1 TB → ceil(2.1 / 2) = 2; write ceil(50 × 3 / 100) = 2;
    # read ceil(150 / 200) = 1; RF 3 → 3
    code = main(["plan", "brokers", "--ingress", "50MB/s", "--egress", "150MB/s", "--write-per-broker", "100MB/s",
                 "--read-per-broker", "200MB/s", "--messages-per-day", "100M", "--message-size", "1KB",
                 "--retention", "7d", "--disk-per-broker", "2TB"])
    out = capsys.readouterr().out
    assert code == 0
    assert "2.10 TB" in out
    assert "= 2" in out and "brokers needed       3 (set by replication)" in out


def test_plan_brokers_default_egress_is_ingress_times_groups(capsys):
    # egress 40 MB/s × 5 groups = 200 MB/s; ceil(200 / 25) = 8
    code = main(["plan", "brokers", "--ingress", "40MB/s", "--consumer-groups", "5", "--write-per-broker", "1GB/s",
                 "--read-per-broker", "25MB/s", "--replication-factor", "2"])
    out = capsys.readouterr().out
    assert code == 0
    assert "200.00 MB/s (ingress × 5 consumer groups)" in out
    assert "brokers needed       8 (set by read)" in out


def test_plan_bad_unit_is_one_line_exit_1(capsys):
    code = main(["plan", "disk", "--messages-per-day", "1M", "--message-size", "1XB", "--retention", "7d"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("zafka: error: --message-size '1XB': unknown unit")


def test_plan_brokers_half_disk_term_is_an_error(capsys):
    code = main(["plan", "brokers", "--ingress", "1MB/s", "--write-per-broker", "1MB/s", "--disk-per-broker", "1TB"])
    err = capsys.readouterr().err
    assert code == 1 and "--disk-per-broker" in err and err.count("\n") == 1
