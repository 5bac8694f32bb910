"""Endpoints on the command line: bad ones are one line naming the value, absent clusters are said in seconds."""

from __future__ import annotations

import os
import signal
import socket
import time

import pytest

from scripts.cli import endpoints
from scripts.cli import main as cli
from scripts.cli.endpoints import EXPECTED, EndpointError, parse_endpoint, parse_endpoints
from scripts.cli.output import CommandError
from tests.fake_broker import FakeBroker

SHORT_S = 1.0  # stands in for NO_ANSWER_TIMEOUT_S so the "nothing answers" tests stay quick


# -- the pure check -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("tcp://127.0.0.1:9092", ["tcp://127.0.0.1:9092"]),
    ("127.0.0.1:9092", ["tcp://127.0.0.1:9092"]),  # tcp:// may be left out, as the clients allow
    ("TCP://localhost:1", ["tcp://localhost:1"]),
    ("tcp://broker-1.example.com.:65535", ["tcp://broker-1.example.com.:65535"]),
    (" tcp://a:1 , tcp://b:2,tcp://a:1 ", ["tcp://a:1", "tcp://b:2"]),  # trimmed, duplicates once
])
def test_valid_endpoints_are_normalised(text, expected):
    assert parse_endpoints(text) == expected


@pytest.mark.parametrize("text, names", [
    ("", "empty"),
    ("   ", "empty"),
    ("garbage", "'garbage' has no port"),
    ("tcp://h:", "'tcp://h:' has no port"),
    ("tcp://h:99999", "port 99999 is out of range"),
    ("tcp://h:0", "port 0 is out of range"),
    ("tcp://h:90x", "port '90x' is not a number"),
    ("tcp://h:1/path", "port '1/path' is not a number"),
    ("tcp://:9092", "'tcp://:9092' has no host"),
    ("http://h:1", "only tcp:// endpoints"),
    ("tcp://a_b:1", "'a_b' is not a host name"),
    ("tcp://-a:1", "'-a' is not a host name"),
    ("tcp://1.2.3:1", "1.2.3 is not an IPv4 address"),
    ("tcp://256.1.1.1:1", "256.1.1.1 is not an IPv4 address"),
    ("tcp://::1:9092", "IPv6 endpoints are not supported yet"),
    ("tcp://[::1]:9092", "IPv6 endpoints are not supported yet"),
    ("tcp://a:b:1", "'a:b' is not a host name"),
    ("tcp://[zz::1]:1", "[zz::1] is not a bracketed IPv6 address"),
    ("tcp://[::1]9092", "has no port"),
    ("tcp://a:1,,tcp://b:2", "entry 2 of 3 is empty"),
    ("tcp://a:1,", "entry 2 of 2 is empty"),
])
def test_bad_endpoints_name_the_value_and_the_expected_form(text, names):
    with pytest.raises(EndpointError) as exc:
        parse_endpoints(text)
    message = str(exc.value)
    assert names in message
    assert EXPECTED in message and "\n" not in message


def test_a_single_endpoint_takes_no_list():
    assert parse_endpoint("h:1") == "tcp://h:1"
    with pytest.raises(EndpointError, match="one endpoint is wanted here, not a list"):
        parse_endpoint("tcp://h:1,h:2")


# -- the command line: one line, non-zero exit, no traceback ------------------------------------------------

def one_line(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("zafka: error: ") and "Traceback" not in err, err
    return err


@pytest.fixture
def no_cluster(tmp_path, monkeypatch):
    """A data dir without a running cluster, and no bootstrap from the environment."""
    monkeypatch.setenv("ZAFKA_DATA_DIR", str(tmp_path / "no-cluster"))
    monkeypatch.delenv("ZAFKA_BOOTSTRAP", raising=False)


@pytest.mark.parametrize("argv, names", [
    (["--bootstrap", "garbage", "topics", "list"], "'garbage' has no port"),
    (["topics", "list", "--bootstrap", ""], "the value is empty"),
    (["topics", "list", "--bootstrap="], "the value is empty"),
    (["produce", "t", "--bootstrap", "tcp://127.0.0.1:99999"], "port 99999 is out of range"),
    (["broker", "start", "--id", "2", "--controller", "tcp://ctl"], "'tcp://ctl' has no port"),
])
def test_bad_endpoint_flags_exit_2_naming_the_value(argv, names, no_cluster, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    err = one_line(capsys.readouterr().err)
    assert names in err and "tcp://host:port" in err and "port 1-65535" in err


def test_bad_endpoint_in_the_environment_names_the_variable(no_cluster, monkeypatch, capsys):
    monkeypatch.setenv("ZAFKA_BOOTSTRAP", "tcp://127.0.0.1:99999")
    assert cli.main(["topics", "list"]) == 2
    err = one_line(capsys.readouterr().err)
    assert "$ZAFKA_BOOTSTRAP" in err and "port 99999 is out of range" in err


def test_bad_endpoint_in_the_registry_names_the_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ZAFKA_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("ZAFKA_BOOTSTRAP", raising=False)
    (tmp_path / "supervisor.json").write_text('{"bootstrap_servers": "tcp://127.0.0.1:5,"}')
    assert cli.main(["topics", "list"]) == 2
    err = one_line(capsys.readouterr().err)
    assert "supervisor.json" in err and "entry 2 of 2 is empty" in err


@pytest.fixture
def refusing_endpoint():
    """A port bound but not listening: connections are refused, and nothing else can take the port meanwhile."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield f"tcp://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
def silent_endpoint():
    """A port that accepts TCP connections and never says a word (not a zafka broker)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield f"tcp://127.0.0.1:{s.getsockname()[1]}"


def test_no_cluster_is_said_within_the_no_answer_timeout(no_cluster, refusing_endpoint, monkeypatch, capsys):
    monkeypatch.setattr(endpoints, "NO_ANSWER_TIMEOUT_S", SHORT_S)
    monkeypatch.setenv("ZAFKA_BOOTSTRAP", refusing_endpoint)
    start = time.monotonic()
    assert cli.main(["topics", "list"]) == 1
    elapsed = time.monotonic() - start
    assert SHORT_S <= elapsed < SHORT_S + 4, elapsed  # waited for a starting cluster, then stopped: not 30 s
    err = one_line(capsys.readouterr().err)
    assert f"no zafka broker answered at {refusing_endpoint} ($ZAFKA_BOOTSTRAP) within {SHORT_S:g} s" in err
    assert "connection refused" in err and "`zafka cluster status`" in err


def test_something_that_never_answers_is_said_within_the_timeout(silent_endpoint):
    start = time.monotonic()
    with pytest.raises(CommandError) as exc:
        endpoints.check_answers([silent_endpoint], "--bootstrap", timeout_s=SHORT_S)
    assert time.monotonic() - start < SHORT_S + 4
    assert f"at {silent_endpoint} (--bootstrap) within {SHORT_S:g} s (no reply)" in str(exc.value)


def test_an_unknown_host_is_said_at_once():
    start = time.monotonic()
    with pytest.raises(CommandError, match=r"cannot resolve host 'no-such-host\.invalid'") as exc:
        endpoints.check_answers(["tcp://no-such-host.invalid:9092"], "--bootstrap", timeout_s=30)
    assert time.monotonic() - start < 10  # no 30 s wait for a name that can never connect
    assert "within" not in str(exc.value)


def test_the_first_endpoint_that_answers_is_enough(tmp_path, refusing_endpoint):
    with FakeBroker(tmp_path / "data", {"orders": 1}) as broker:
        start = time.monotonic()
        assert endpoints.check_answers([refusing_endpoint, broker.bootstrap], "--bootstrap",
                                       timeout_s=20) == broker.bootstrap
        assert time.monotonic() - start < 10  # did not wait out the dead endpoint's timeout


def test_a_command_runs_once_its_bootstrap_answers(tmp_path, no_cluster, capsys):
    with FakeBroker(tmp_path / "data", {"orders": 1, "audit": 2}) as broker:
        assert cli.main(["topics", "list", "--bootstrap", broker.bootstrap.removeprefix("tcp://")]) == 0
    assert capsys.readouterr().out.split() == ["audit", "orders"]


# -- cluster start --start-timeout -----------------------------------------------------------------------

class NeverServes:
    """A Supervisor whose cluster never serves; its message is the one supervisor.py writes today."""

    def __init__(self, data_dir, **kwargs):
        self.start_timeout = kwargs["start_timeout"]
        self.logs_dir = os.path.join(data_dir, "logs")
        self.warnings: list[str] = []
        self.base_port = 0

    def start(self):
        raise TimeoutError(f"cluster did not serve within {self.start_timeout:.0f} s (None); see {self.logs_dir}")


def test_start_timeout_message_shows_the_timeout_given(tmp_path, monkeypatch, capsys):
    import supervisor

    monkeypatch.setattr(supervisor, "Supervisor", NeverServes)
    before = signal.getsignal(signal.SIGTERM)
    code = cli.main(["cluster", "start", "--data-dir", str(tmp_path), "--port", "0", "--start-timeout", "0.001"])
    assert code == 1
    err = one_line(capsys.readouterr().err)
    assert "did not serve within 0.001 s" in err and str(tmp_path / "logs") in err
    assert "(None)" not in err and "within 0 s" not in err
    assert signal.getsignal(signal.SIGTERM) is before  # the start-up handler does not outlive a failed start


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "soon"])
def test_start_timeout_must_be_a_positive_number(value, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["cluster", "start", "--start-timeout", value])
    assert exc.value.code == 2
    err = one_line(capsys.readouterr().err)
    assert "--start-timeout" in err and repr(value) in err
