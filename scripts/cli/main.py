"""``zafka``: parse the command line, dispatch to a command, turn every failure into one line.

Importing this module has no side effects and imports nothing heavy: the
supervisor's forkserver re-imports the main module in every actor process (as
``__mp_main__``), so the work happens only under ``if __name__ == "__main__"``
or through the ``zafka`` console script calling :func:`main`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from . import endpoints as _endpoints
from . import plan as _plan
from .output import PROG, CommandError, UsageError, format_error, print_error

DEFAULT_BOOTSTRAP = "tcp://127.0.0.1:9092"
DEFAULT_DATA_DIR = "./zafka-data"
SIGNALS = ("KILL", "TERM", "INT", "STOP", "CONT", "HUP")
ACKS = ("all", "-1", "0", "1")
COMPRESSION = ("none", "gzip", "snappy", "lz4", "zstd")


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line: ``zafka: error: ... (see zafka X --help)``."""

    def error(self, message: str):  # noqa: D401 - argparse API
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction) and message.endswith(f"required: {action.metavar}"):
                what = action.metavar.lower()
                article = "an" if what[0] in "aeiou" else "a"
                message = f"`{self.prog}` needs {article} {what}: {', '.join(action.choices)}"
        hint = f"see `{self.prog} --help`"
        print_error(f"{message} ({hint})")
        sys.exit(2)


# -- argument types -------------------------------------------------------------------------

def key_value(text: str) -> tuple[str, str]:
    """``key=value`` (the value may itself contain ``=``)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    return key.strip(), value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def port_number(text: str) -> int:
    value = non_negative_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a port is at most 65535, got {value}")
    return value


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def endpoint_list(text: str) -> str:
    """``--bootstrap``: comma-separated endpoints, checked and normalised (``tcp://`` added)."""
    try:
        return ",".join(_endpoints.parse_endpoints(text))
    except _endpoints.EndpointError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def endpoint(text: str) -> str:
    try:
        return _endpoints.parse_endpoint(text)
    except _endpoints.EndpointError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def signal_name(text: str) -> str:
    name = text.strip().upper().removeprefix("SIG")
    if name not in SIGNALS:
        raise argparse.ArgumentTypeError(f"signal must be one of {', '.join(SIGNALS)}, got {text!r}")
    return name


def separator(text: str) -> str:
    """``\\t`` and friends as typed on a shell command line."""
    if not text:
        raise argparse.ArgumentTypeError("a separator must not be empty")
    return text.encode("utf-8").decode("unicode_escape") if "\\" in text else text


# -- the parser ---------------------------------------------------------------------------------

def _common() -> argparse.ArgumentParser:
    """Options every command takes, before or after the command name."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--bootstrap", type=endpoint_list, default=argparse.SUPPRESS, metavar="ENDPOINTS",
                        help="broker endpoint(s) tcp://host:port, comma-separated (default: $ZAFKA_BOOTSTRAP, "
                             f"the running cluster's registry in the data dir, or {DEFAULT_BOOTSTRAP}); "
                             f"a command fails after {_endpoints.NO_ANSWER_TIMEOUT_S:g} s if none answers")
    common.add_argument("--data-dir", default=argparse.SUPPRESS, metavar="DIR",
                        help=f"the cluster's data directory (default: $ZAFKA_DATA_DIR or {DEFAULT_DATA_DIR})")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="log to stderr and show tracebacks of internal errors")
    return common


def build_parser() -> Parser:
    common = _common()
    parser = Parser(prog=PROG, parents=[common],
                    description="zafka: a Kafka-style distributed commit log. "
                                "Start a local cluster, manage topics, produce, consume, kill actors, measure.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def leaf(parent, name: str, handler: tuple[str, str], help: str, **kw) -> Parser:
        p = parent.add_parser(name, parents=[common], help=help, description=help, **kw)
        p.set_defaults(handler=handler)
        return p

    def group(name: str, help: str):
        p = sub.add_parser(name, parents=[common], help=help, description=help)
        return p.add_subparsers(dest="action", metavar="ACTION", required=True)

    # cluster ---------------------------------------------------------------------------
    cluster = group("cluster", "start, inspect and stop a local cluster")
    p = leaf(cluster, "start", ("cluster", "start"), "start a controller and N brokers (foreground by default)")
    p.add_argument("--brokers", type=positive_int, default=3, help="number of brokers (default 3)")
    _server_options(p)
    p = leaf(cluster, "status", ("cluster", "status"), "where the cluster serves and where its logs are")
    p = leaf(cluster, "stop", ("cluster", "stop"), "stop the cluster running in the data dir")
    p.add_argument("--timeout", type=positive_seconds, default=60.0, metavar="S", help="seconds to wait (default 60)")

    broker = group("broker", "stop and start one broker, or run brokers that join an existing controller")
    p = leaf(broker, "start", ("brokers", "start"),
             "start again a broker `broker stop` stopped (ID), or with --id and --controller run one broker's "
             "actors under a supervisor of their own, joining that controller")
    p.add_argument("stopped_id", nargs="?", type=non_negative_int, metavar="ID",
                   help="a broker of the cluster in the data dir that `zafka broker stop` stopped")
    p.add_argument("--id", type=non_negative_int, dest="broker_id", help="the new broker's id (with --controller)")
    p.add_argument("--controller", type=endpoint, metavar="tcp://HOST:PORT",
                   help="the controller's endpoint (with --id)")
    _server_options(p)
    p = leaf(broker, "stop", ("brokers", "stop"),
             "stop one broker cleanly: a controlled shutdown moves its leaderships to in-sync replicas elsewhere "
             "first; it stays down until `zafka broker start ID`")
    p.add_argument("stopped_id", type=non_negative_int, metavar="ID", help="the broker to stop")
    p.add_argument("--timeout", type=positive_seconds, default=60.0, metavar="S", help="seconds to wait (default 60)")

    producers = group("producers", "idempotent producers' state on the partition leaders")
    p = leaf(producers, "describe", ("producers", "describe"),
             "the producers each partition's leader dedupes retries against (Kafka's describe-producers)")
    p.add_argument("--topic", required=True)
    p.add_argument("--partition", type=non_negative_int, help="only this partition (default: every one)")

    leaders = group("leaders", "leader elections on demand")
    p = leaf(leaders, "elect", ("leaders", "elect"), "move leadership back to each partition's preferred replica")
    p.add_argument("--preferred", action="store_true", help="elect each partition's first replica where it is in sync")
    p.add_argument("--topic", help="only this topic's partitions (default: every topic)")
    p.add_argument("--all", dest="verbose_skips", action="store_true",
                   help="also list partitions already led by their preferred replica")

    # actors and kill -----------------------------------------------------------------------------
    p = leaf(sub, "actors", ("cluster", "actors"), "list the actor processes: pid, restarts, state, uptime, memory")
    p.add_argument("--no-memory", dest="memory", action="store_false", help="skip RSS/USS (faster)")
    p = leaf(sub, "kill", ("cluster", "kill"), "send a signal to an actor (or every actor of a broker)")
    p.add_argument("name", nargs="?", help="actor name, e.g. leader-orders-0 (see `zafka actors`)")
    p.add_argument("--broker", type=non_negative_int, dest="broker_id", metavar="ID",
                   help="kill every actor of this broker (a whole-broker crash)")
    p.add_argument("--signal", type=signal_name, default="KILL", metavar="SIG",
                   help=f"one of {', '.join(SIGNALS)} (default KILL)")
    p.add_argument("--down", type=positive_seconds, default=None, metavar="S",
                   help="keep the killed actors down this many seconds before the supervisor restarts them")

    # topics ------------------------------------------------------------------------------------------
    topics = group("topics", "create, list, describe, alter and delete topics")
    p = leaf(topics, "create", ("topics", "create"), "create a topic")
    p.add_argument("topic")
    p.add_argument("--partitions", type=positive_int, default=1, help="number of partitions (default 1)")
    p.add_argument("--replication-factor", type=positive_int, default=1, help="replicas per partition (default 1)")
    p.add_argument("--config", type=key_value, action="append", default=[], metavar="KEY=VALUE",
                   help="a topic config, e.g. retention.ms=60000 (repeatable)")
    leaf(topics, "list", ("topics", "list_"), "list topic names")
    p = leaf(topics, "describe", ("topics", "describe"),
             "partitions: leader, replicas, ISR, epoch, log start, HW, log end, offline/under-replicated flags")
    p.add_argument("topic", nargs="?", help="the topic (default: every topic)")
    p.add_argument("--under-replicated", action="store_true",
                   help="only partitions whose ISR is smaller than their replica list")
    p = leaf(topics, "delete", ("topics", "delete"), "delete a topic and its data")
    p.add_argument("topic")
    p = leaf(topics, "alter", ("topics", "alter"), "add partitions to a topic")
    p.add_argument("topic")
    p.add_argument("--partitions", type=positive_int, required=True, help="the new (larger) partition count")

    # configs ------------------------------------------------------------------------------------------
    configs = group("configs", "read and change a topic's configs at run time")
    p = leaf(configs, "get", ("topics", "configs_get"), "effective configs of a topic (* marks overrides)")
    p.add_argument("--topic", required=True)
    p = leaf(configs, "set", ("topics", "configs_set"), "set (or --delete) topic configs")
    p.add_argument("--topic", required=True)
    p.add_argument("pairs", nargs="*", type=key_value, metavar="KEY=VALUE")
    p.add_argument("--delete", action="append", default=[], metavar="KEY",
                   help="remove an override so the broker default applies again (repeatable)")
    p = leaf(configs, "help", ("topics", "configs_help"),
             "the topic configs zafka knows, with defaults (--broker: server.properties keys); "
             "keys not in effect yet say so")
    p.add_argument("--broker", action="store_true", help="list the broker keys of server.properties instead")

    # produce / consume ----------------------------------------------------------------------------------
    p = leaf(sub, "produce", ("clients", "produce"), "send lines from stdin, one record per line")
    p.add_argument("topic")
    p.add_argument("--key", help="the key of every record")
    p.add_argument("--key-separator", type=separator, metavar="SEP",
                   help="split each line into key SEP value (Kafka's parse.key)")
    p.add_argument("--acks", choices=ACKS, default="all",
                   help="all, 1 or 0 (default all: the idempotent producer, so a retry is never stored twice)")
    p.add_argument("--compression", choices=COMPRESSION, default="none", help="batch codec (default none)")
    p.add_argument("--partition", type=non_negative_int, help="send every record to this partition")
    p.add_argument("--linger-ms", type=non_negative_int, default=5, help="batching delay (default 5)")
    p.add_argument("--batch-size", type=positive_int, default=65536, help="batch size in bytes (default 65536)")

    p = leaf(sub, "consume", ("clients", "consume"), "print records, one value per line")
    p.add_argument("topic")
    p.add_argument("--group", help="consumer group id (subscribe instead of reading every partition)")
    p.add_argument("--from-beginning", action="store_true", help="start at the earliest offset (default: latest)")
    p.add_argument("--max-messages", type=positive_int, help="exit after this many records")
    p.add_argument("--partition", type=non_negative_int, help="read only this partition")
    p.add_argument("--offset", type=non_negative_int, help="start at this offset (needs --partition)")
    p.add_argument("--timeout-ms", type=positive_int, help="exit after this long without a record")
    p.add_argument("--print-key", action="store_true", help="print key SEP value")
    p.add_argument("--print-offset", action="store_true", help="print partition:offset before each record")
    p.add_argument("--key-separator", type=separator, default="\t", metavar="SEP",
                   help="between printed fields (default a tab)")

    # groups ---------------------------------------------------------------------------------------
    groups = group("groups", "consumer groups: members, assignment, committed offsets, lag")
    leaf(groups, "list", ("clients", "groups_list"), "list consumer groups")
    p = leaf(groups, "describe", ("clients", "groups_describe"), "a group's state, members, offsets and lag")
    p.add_argument("group")
    p = leaf(groups, "delete", ("clients", "groups_delete"), "delete an empty group and its committed offsets")
    p.add_argument("group")
    p = leaf(groups, "reset-offsets", ("clients", "groups_reset"),
             "move an inactive group's committed offsets (a dry run unless --execute)")
    p.add_argument("group")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--topic", action="append", metavar="TOPIC", help="a topic to reset (repeatable)")
    which.add_argument("--all-topics", action="store_true", help="every topic the group has committed offsets for")
    to = p.add_mutually_exclusive_group(required=True)
    to.add_argument("--to-earliest", action="store_true", help="each partition's log start")
    to.add_argument("--to-latest", action="store_true", help="each partition's end (the high watermark)")
    to.add_argument("--to-offset", type=non_negative_int, metavar="N", help="offset N (clamped into each partition)")
    to.add_argument("--to-datetime", metavar="ISO", help="the first offset at or after this time, e.g. 2026-12-01T10:00")
    to.add_argument("--shift-by", type=int, metavar="N", help="move the committed offsets by N (negative: back)")
    p.add_argument("--execute", action="store_true", help="apply the plan (without it: print it only)")

    # perf ----------------------------------------------------------------------------------------------
    perf = group("perf", "Kafka-style performance tests (producer, consumer, end-to-end latency)")
    p = leaf(perf, "produce", ("perf", "produce"), "producer throughput and latency (like ProducerPerformance)")
    p.add_argument("--topic", required=True)
    p.add_argument("--num-records", type=positive_int, required=True)
    p.add_argument("--record-size", type=non_negative_int, required=True, help="value size in bytes")
    p.add_argument("--throughput", type=int, default=-1, help="records/sec to aim for (-1: unthrottled)")
    p.add_argument("--acks", choices=ACKS, default="1", help="all, 1 or 0 (default 1)")
    p.add_argument("--idempotence", action=argparse.BooleanOptionalAction, default=None,
                   help="the idempotent producer (default: on exactly with --acks all, as in Kafka)")
    p.add_argument("--compression", choices=COMPRESSION, default="none")
    p.add_argument("--batch-size", type=positive_int, default=65536)
    p.add_argument("--linger-ms", type=non_negative_int, default=5)
    p.add_argument("--reporting-interval", type=positive_int, default=5000, metavar="MS")
    p = leaf(perf, "consume", ("perf", "consume"), "consumer throughput (like kafka-consumer-perf-test)")
    p.add_argument("--topic", required=True)
    p.add_argument("--messages", type=positive_int, required=True, help="records to consume")
    p.add_argument("--timeout-ms", type=positive_int, default=10000, help="give up after this long without a record")
    p.add_argument("--from-beginning", action=argparse.BooleanOptionalAction, default=True,
                   help="start at the earliest offset (default) or at the end")
    p.add_argument("--reporting-interval", type=positive_int, default=5000, metavar="MS")
    p.add_argument("--max-records", type=positive_int, default=100_000, help="records per poll (default 100000)")
    p = leaf(perf, "e2e", ("perf", "e2e"), "end-to-end latency, one record at a time (like EndToEndLatency)")
    p.add_argument("--topic", required=True)
    p.add_argument("--num-records", type=positive_int, required=True)
    p.add_argument("--record-size", type=non_negative_int, default=100)
    p.add_argument("--acks", choices=ACKS, default="1")
    p.add_argument("--timeout-ms", type=positive_int, default=10000, help="per record (default 10000)")

    # chaos ---------------------------------------------------------------------------------------------------
    # Not built on the common options: --data-dir means the lab's own cluster here (default a temp dir).
    from . import faultlab as _faultlab

    about = ("the fault lab: start a cluster, produce checking every acknowledgement, inject a seeded schedule of "
             "faults, read every partition back; verdict: acknowledged/found/lost/duplicated/reordered, "
             "failover median/p99/max; with --consumers, what the group missed or read again and its rebalances. "
             "Exit 1 when anything acknowledged is lost, reordered or at a wrong offset (or missed by the group)")
    p = sub.add_parser("chaos", help="the fault lab: faults under acks=all load, then a verdict", description=about)
    p.set_defaults(handler=("chaos", "run"))
    p.add_argument("--duration", type=positive_seconds, default=60.0, metavar="S", help="seconds of load (default 60)")
    p.add_argument("--interval", type=positive_seconds, default=2.0, metavar="S",
                   help="seconds between faults (default 2)")
    p.add_argument("--seed", type=non_negative_int, default=None, metavar="N",
                   help="the schedule's seed (default random; printed, so a run can be repeated)")
    p.add_argument("--faults", action="append", default=[], metavar="LIST",
                   help=f"comma-separated, repeatable (default {_faultlab.DEFAULT_FAULTS}): "
                        + "; ".join(f"{'actor:NAME' if k == _faultlab.ACTOR else k}: {h}"
                                    for k, h in _faultlab.FAULT_HELP.items()))
    p.add_argument("--brokers", type=positive_int, default=3, help="brokers of the lab's cluster (default 3)")
    p.add_argument("--partitions", type=positive_int, default=3, help="partitions of the lab's topic (default 3)")
    p.add_argument("--replication-factor", type=positive_int, default=None, metavar="R",
                   help="replicas per partition (default 3 with 3 brokers or more, else 1)")
    p.add_argument("--min-insync-replicas", type=positive_int, default=None, metavar="N",
                   help="the topic's min.insync.replicas (default 2, at most the replication factor)")
    p.add_argument("--acks", choices=ACKS, default="all", help="all, 1 or 0 (default all)")
    p.add_argument("--broker-down", type=positive_seconds, default=3.0, metavar="S",
                   help="how long a crashed (broker) or cleanly stopped (stop) broker stays down (default 3)")
    p.add_argument("--pause", type=positive_seconds, default=3.0, metavar="S",
                   help="how long a paused leader stays SIGSTOPped (default 3)")
    p.add_argument("--rate", type=positive_int, default=1000, help="records per second to send (default 1000)")
    p.add_argument("--consumers", type=non_negative_int, default=0, metavar="N",
                   help="members of a consumer group (chaos-group), each a process of its own, reading the topic "
                        "and committing after each poll; then a consumer verdict too: missing, consumed again, "
                        "rebalances (default 0: no group)")
    p.add_argument("--group-session-ms", type=positive_int, default=3000, metavar="MS",
                   help="the members' session.timeout.ms (default 3000; the lab's cluster accepts down to 1000)")
    p.add_argument("--assignment-strategy", default="range,cooperative-sticky", metavar="LIST",
                   help="the members' partition.assignment.strategy (default Kafka's range,cooperative-sticky: "
                        "eager; cooperative-sticky alone is incremental)")
    p.add_argument("--member-down", type=positive_seconds, default=3.0, metavar="S",
                   help="how long after a member fault its new process starts (default 3)")
    p.add_argument("--no-idempotence", action="store_true",
                   help="produce without idempotence (with acks=all it is on, as in Kafka): a retried batch "
                        "written after all is then stored twice, which the verdict reports")
    p.add_argument("--one-broker-down", action="store_true",
                   help="skip a broker or stop fault while another broker is still down, so the cluster never "
                        "drops below min.insync.replicas because of two overlapping broker faults")
    p.add_argument("--json", action="store_true",
                   help="print a machine-readable summary on stdout (progress and verdict go to stderr)")
    p.add_argument("--data-dir", default=argparse.SUPPRESS, metavar="DIR",
                   help="where the lab's cluster lives (default a temp dir, removed at the end unless --keep "
                        "or the verdict fails)")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (data and logs) at the end")
    p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                   help="log to stderr and show tracebacks of internal errors")

    # plan ---------------------------------------------------------------------------------------------------
    plan = group("plan", "capacity planning: the course's disk and broker formulas")
    p = leaf(plan, "disk", ("planning", "disk"),
             "disk needed: messages/day × size × replicas × retention days × (1 + index overhead) "
             "× compression ratio; every default is the course's worked example (≈2.25 TB)")
    _disk_options(p, replicas_default=_plan.COURSE_DISK["replicas"])
    p.add_argument("--from-topic", metavar="TOPIC",
                   help="measure --message-size and --compression-ratio on this topic of a running cluster "
                        "(see --bootstrap); flags given explicitly still win")
    p = leaf(plan, "brokers", ("planning", "brokers"),
             "brokers needed: --model bandwidth (the course's formula, default: ≈30 brokers for its example) "
             "or --model throughput (write/read rates, disk per broker, replication)")
    p.add_argument("--model", choices=("bandwidth", "throughput"), default="bandwidth",
                   help="bandwidth: ⌈data × 8 ÷ window ÷ (link × ceiling × normal share)⌉ × replicas (default); "
                        "throughput: max of write, read, disk and replication terms")
    p.add_argument("--replicas", "--replication-factor", dest="replicas", type=positive_int,
                   default=_plan.COURSE_BANDWIDTH["replicas"], metavar="N",
                   help=f"copies of every byte (default {_plan.COURSE_BANDWIDTH['replicas']})")
    b = {k: str(v).replace("%", "%%") for k, v in _plan.COURSE_BANDWIDTH.items()}  # argparse formats help with %
    bw = p.add_argument_group("bandwidth model (defaults: the course's example)")
    bw.add_argument("--data", metavar="SIZE", help=f"data to take in per window (default {b['data']})")
    bw.add_argument("--window", metavar="DURATION",
                    help=f"time to take it in, e.g. 1h, 3600 (bare number: seconds; default {b['window']})")
    bw.add_argument("--link-bandwidth", metavar="RATE",
                    help=f"each broker's network link, e.g. 1Gbps, 10Gbps (default {b['link_bandwidth']})")
    bw.add_argument("--ceiling", metavar="FRACTION",
                    help=f"the most of a link to ever plan for (default {b['ceiling']})")
    bw.add_argument("--normal-share", metavar="FRACTION",
                    help="the part of that for normal traffic, leaving the rest for peaks and catch-up "
                         f"(default {b['normal_share']})")
    tp = p.add_argument_group("throughput model")
    tp.add_argument("--ingress", metavar="RATE", help="peak produce rate, e.g. 50MB/s (needed by this model)")
    tp.add_argument("--egress", metavar="RATE",
                    help="peak consume rate, e.g. 150MB/s (default: ingress × --consumer-groups)")
    tp.add_argument("--consumer-groups", type=positive_int, default=None, metavar="N",
                    help="groups reading everything, when --egress is not given (default 1)")
    tp.add_argument("--write-per-broker", metavar="RATE", help="a broker's sustained write rate (needed by this model)")
    tp.add_argument("--read-per-broker", metavar="RATE", help="a broker's sustained read rate")
    tp.add_argument("--total-disk", metavar="SIZE", help="total disk (or give the `plan disk` flags)")
    tp.add_argument("--disk-per-broker", metavar="SIZE", help="usable disk per broker, e.g. 2TB")
    _disk_options(tp, replicas_default=None)
    return parser


def _server_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="server.properties", help="a Kafka-style server.properties file")
    p.add_argument("--override", type=key_value, action="append", default=[], metavar="KEY=VALUE",
                   help="a server config on top of the file (repeatable)")
    p.add_argument("--port", type=port_number, default=None,
                   help="first broker port; the controller takes port-1, 0 picks free ports "
                        "(default: the config's listeners port, else 9092)")
    p.add_argument("--host", help="interface to listen on (default 127.0.0.1 or the config's listeners)")
    p.add_argument("--detach", action="store_true",
                   help="run in the background (output to <data-dir>/logs/cluster.out)")
    p.add_argument("--start-timeout", type=positive_seconds, default=60.0, metavar="S",
                   help="seconds to wait for the cluster to serve (default 60)")
    p.add_argument("--ready-file", help=argparse.SUPPRESS)


def _disk_options(p, replicas_default: int | None) -> None:
    """The `plan disk` flags; left at None so a handler knows what was given (it fills the course's values)."""
    d = {k: str(v).replace("%", "%%") for k, v in _plan.COURSE_DISK.items()}  # argparse formats help with %
    rate = p.add_mutually_exclusive_group()
    rate.add_argument("--messages-per-day", metavar="N",
                      help=f"e.g. 100M, 1e8, 1亿, 100,000,000 (default {d['messages_per_day']})")
    rate.add_argument("--messages-per-sec", metavar="N", help="average rate instead (× 86400 per day)")
    p.add_argument("--message-size", metavar="SIZE",
                   help=f"average message size, e.g. 1KB (default {d['message_size']})")
    if replicas_default is not None:
        p.add_argument("--replicas", "--replication-factor", dest="replicas", type=positive_int,
                       default=replicas_default, metavar="N",
                       help=f"copies of every message (default {replicas_default})")
    p.add_argument("--retention", metavar="DURATION",
                   help=f"how long messages are kept, e.g. 14d, 336h (bare number: days; default {d['retention']})")
    p.add_argument("--index-overhead", metavar="FRACTION",
                   help=f"index files beside the log, e.g. 10%% or 0.1 (default {d['index_overhead']})")
    ratio = p.add_mutually_exclusive_group()
    ratio.add_argument("--compression-ratio", metavar="R",
                       help=f"compressed ÷ uncompressed, at most 1 (default {d['compression_ratio']})")
    ratio.add_argument("--uncompressed-over-compressed", metavar="R",
                       help="the inverse, uncompressed ÷ compressed (e.g. 4 for 4:1); used as 1/R")
    p.add_argument("--headroom", metavar="FRACTION", help="spare capacity on top, e.g. 20%% (default 0)")


# -- shared resolution of defaults ----------------------------------------------------------------

def data_dir(args) -> str:
    return getattr(args, "data_dir", None) or os.environ.get("ZAFKA_DATA_DIR") or DEFAULT_DATA_DIR


def registry(args) -> dict:
    """The running supervisor's registry in the data dir (``FileNotFoundError`` if none)."""
    from supervisor import read_registry

    return read_registry(data_dir(args))


def resolve_bootstrap(args) -> tuple[str, str]:
    """(endpoints, where they came from): ``--bootstrap``, ``$ZAFKA_BOOTSTRAP``, the running cluster, the default.

    ``--bootstrap`` was checked by argparse; the others are checked here, so a bad
    value fails naming its source. An empty ``$ZAFKA_BOOTSTRAP`` counts as unset
    (``ZAFKA_BOOTSTRAP= zafka ...`` is how a shell unsets it for one command); an
    empty ``--bootstrap`` is an error, never the default.
    """
    flag = getattr(args, "bootstrap", None)
    if flag is not None:
        return flag, "--bootstrap"
    env = os.environ.get("ZAFKA_BOOTSTRAP", "")
    if env.strip():
        return _checked(env, "$ZAFKA_BOOTSTRAP"), "$ZAFKA_BOOTSTRAP"
    try:
        reg = registry(args)
    except (OSError, ValueError):
        return DEFAULT_BOOTSTRAP, "the default bootstrap; no cluster registry in " + data_dir(args)
    value = reg.get("bootstrap_servers") or reg.get("bootstrap")
    if not value:
        return DEFAULT_BOOTSTRAP, "the default bootstrap"
    where = f"the cluster registry {os.path.join(data_dir(args), 'supervisor.json')}"
    return _checked(value, where), where


def _checked(value: str, source: str) -> str:
    try:
        return ",".join(_endpoints.parse_endpoints(value))
    except _endpoints.EndpointError as exc:
        raise UsageError(f"{source}: {exc}") from None


def bootstrap(args) -> str:
    """The bootstrap endpoints a command should use, once one of them has answered.

    Asking first turns "no cluster there" into one line after a few seconds
    (``endpoints.NO_ANSWER_TIMEOUT_S``) instead of the clients' 30 s of retries.
    """
    from .output import Progress

    value, source = resolve_bootstrap(args)
    with Progress(f"waiting for a broker at {value}...", delay=1.0, enabled=None):  # dots on a terminal only
        _endpoints.check_answers(value.split(","), source)
    return value


# -- dispatch ------------------------------------------------------------------------------------

def run(args) -> int:
    module_name, func_name = args.handler
    module = importlib.import_module(f"{__package__}.{module_name}")
    result = getattr(module, func_name)(args)
    return int(result or 0)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    verbose = getattr(args, "verbose", False)
    _setup_logging(verbose)
    errors = _error_types()
    try:
        return run(args)
    except KeyboardInterrupt:
        _newline_if_tty()
        print_error("interrupted")
        return 130
    except BrokenPipeError:
        # `zafka consume ... | head`: the reader went away; that is not an error
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 0
    except CommandError as exc:
        print_error(exc)
        return exc.exit_code
    except UsageError as exc:
        print_error(exc)
        return 2
    except errors as exc:
        print_error(exc)
        return 1
    except Exception as exc:  # noqa: BLE001 - a bug still gets one line, not a traceback
        if verbose:
            import traceback

            traceback.print_exc()
        print_error(f"internal error: {type(exc).__name__}: {exc} (run with -v for the traceback)")
        return 1


def _error_types() -> tuple[type[BaseException], ...]:
    """The exceptions printed as their own message; anything else is an "internal error".

    Importing the modules that define them runs outside main's error handling, so
    a module that fails to import (any exception, not only ImportError) is skipped
    here: the command that needs it reports that in one line.
    """
    types: list[type[BaseException]] = [OSError, ValueError, TimeoutError, RuntimeError, LookupError]
    try:
        from wire.errors import ZafkaError

        types.insert(0, ZafkaError)
    except Exception:  # noqa: BLE001 - see the docstring
        pass
    try:
        from actors.config import ConfigError

        types.insert(0, ConfigError)
    except Exception:  # noqa: BLE001 - see the docstring
        pass
    return tuple(types)


def _setup_logging(verbose: bool) -> None:
    import logging

    root = logging.getLogger()
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"{PROG}: %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    else:
        # without a handler, library warnings would reach stderr through logging's last resort
        root.addHandler(logging.NullHandler())


def _newline_if_tty() -> None:
    try:
        if sys.stderr.isatty():
            sys.stderr.write("\n")
    except (OSError, ValueError):
        pass


__all__ = ["main", "build_parser", "format_error", "bootstrap", "resolve_bootstrap", "data_dir", "registry"]

if __name__ == "__main__":
    sys.exit(main())
