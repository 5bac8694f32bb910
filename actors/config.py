"""Broker configuration: a Kafka ``server.properties`` read with Kafka's key names.

One table of known keys (:data:`BROKER_CONFIG_KEYS`, :data:`TOPIC_CONFIG_KEYS`) gives
each key's type, Kafka's default, its allowed values and a one-line doc, so parsing,
defaults, validation, "did you mean" suggestions and ``zafka configs`` help all come
from the same place.

Rules a Kafka user will recognise:

* the file follows ``java.util.Properties`` (``key = value``, ``key: value``,
  ``key value``; ``#``/``!`` comments; backslash continuations and escapes), with
  trailing whitespace trimmed from values as well;
* ``log.dirs`` beats ``log.dir``; ``log.retention.ms`` beats ``.minutes`` beats
  ``.hours``; ``advertised.listeners`` defaults to ``listeners``;
* a topic's own config beats the broker's ``log.*`` default (``log_config_for``).

Two conveniences Kafka does not have: integer keys accept products such as
``7 * 24`` (the course notes write them that way; evaluated without ``eval``), and
unknown keys are returned as warnings with a close known key suggested, never silently
dropped and never printed from here. Everything is pure: nothing here opens sockets
or starts processes; the only file-system access is :func:`load_properties` and
:meth:`BrokerConfig.ensure_log_dirs`, both called explicitly.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from storage.config import LogConfig
from storage.errors import InvalidConfigError
from storage.retention import resolve_retention_ms

__all__ = [
    "BROKER_CONFIG_KEYS",
    "BrokerConfig",
    "ConfigError",
    "ConfigKey",
    "Listener",
    "TOPIC_CONFIG_KEYS",
    "config_help",
    "effective_topic_configs",
    "log_config_for",
    "load_properties",
    "not_in_effect",
    "parse_int_expr",
    "parse_listeners",
    "parse_properties",
    "topic_config_warnings",
    "validate_topic_configs",
]

INT_MAX = 2**31 - 1  # Kafka INT / SHORT keys are Java ints / shorts
SHORT_MAX = 2**15 - 1
LONG_MAX = 2**63 - 1  # Kafka LONG keys
HOUR_MS = 3_600_000

INT, BOOL, STR, LIST, LISTENERS = "int", "bool", "str", "list", "listener-list"
KINDS = (INT, BOOL, STR, LIST, LISTENERS)


class ConfigError(ValueError):
    """A config key or value that cannot be used; the message is one line for the user.

    ``key``, ``value`` and ``allowed`` are kept so callers (the CLI, the wire
    ``InvalidConfig`` reply) need not parse the message.
    """

    def __init__(self, message: str, *, key: str | None = None, value: object = None, allowed: str | None = None):
        super().__init__(message)
        self.key = key
        self.value = value
        self.allowed = allowed

    @classmethod
    def invalid(cls, key: str, value: object, allowed: str) -> "ConfigError":
        return cls(f"invalid value {value!r} for {key}: expected {allowed}", key=key, value=value, allowed=allowed)


# -- integers ------------------------------------------------------------------------

_FACTOR = re.compile(r"[+-]?[0-9]+")  # ASCII digits only: no "1_000", "0x10", "١٢"


def _int_allowed(minimum: int | None, maximum: int | None) -> str:
    text = "an integer or a product of integers such as 7 * 24"
    if minimum is not None and maximum is not None:
        text += f", from {minimum} to {maximum}"
    elif minimum is not None:
        text += f", at least {minimum}"
    elif maximum is not None:
        text += f", at most {maximum}"
    if minimum == -1:
        text += " (-1: unlimited)"
    return text


def parse_int_expr(key: str, value: object, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an integer; ``"7 * 24"`` and ``"1024 * 1024"`` are products.

    Only decimal integers joined by single ``*`` are accepted — a tiny grammar checked
    factor by factor, never ``eval`` — so ``7 ** 2``, ``7 * x`` or any Python is refused
    with a :class:`ConfigError` naming ``key``, the value and what is allowed.
    """
    allowed = _int_allowed(minimum, maximum)
    if isinstance(value, bool):
        raise ConfigError.invalid(key, value, allowed)
    if isinstance(value, int):
        result = value
    else:
        text = str(value).strip()
        factors = [f.strip() for f in text.split("*")]
        if not text or not all(_FACTOR.fullmatch(f) for f in factors):
            raise ConfigError.invalid(key, value, allowed)
        result = 1
        try:
            for f in factors:
                result *= int(f)
        except ValueError:  # more digits than Python converts; far out of range anyway
            raise ConfigError.invalid(key, value, allowed) from None
    if (minimum is not None and result < minimum) or (maximum is not None and result > maximum):
        raise ConfigError.invalid(key, value, allowed)
    return result


def _parse_bool(key: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    raise ConfigError.invalid(key, value, "true or false")


# -- listeners -----------------------------------------------------------------------


@dataclass(frozen=True)
class Listener:
    """One ``NAME://host:port`` endpoint. ``host`` is kept as written ("" = all interfaces)."""

    name: str
    host: str
    port: int

    @property
    def bind_host(self) -> str:
        """The address to bind: Kafka binds an empty host to every interface."""
        return self.host or "0.0.0.0"

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.name}://{host}:{self.port}"


_LISTENER = re.compile(r"([A-Za-z0-9_]+)://(\[[0-9A-Fa-f:.%a-zA-Z]*\]|[0-9A-Za-z._%-]*):([0-9]+)")
_LISTENER_ALLOWED = "comma-separated NAME://host:port entries such as PLAINTEXT://localhost:9092 (port 0-65535)"


def parse_listeners(key: str, value: object) -> tuple[Listener, ...]:
    """Comma-separated ``NAME://host:port``; names are upper-cased and must be unique.

    The host may be empty (all interfaces), a name, an IPv4 address or a bracketed
    IPv6 address. At least one listener is required.
    """
    if isinstance(value, (list, tuple)):
        entries = [str(v).strip() for v in value]
    else:
        entries = [e.strip() for e in str(value).split(",")]
    entries = [e for e in entries if e]
    if not entries:
        raise ConfigError.invalid(key, value, _LISTENER_ALLOWED)
    out: list[Listener] = []
    for entry in entries:
        m = _LISTENER.fullmatch(entry)
        if not m or int(m.group(3)) > 65535:
            raise ConfigError.invalid(key, entry, _LISTENER_ALLOWED)
        host = m.group(2)
        if host.startswith("["):
            host = host[1:-1]
        listener = Listener(m.group(1).upper(), host, int(m.group(3)))
        if any(prev.name == listener.name for prev in out):
            raise ConfigError(
                f"invalid value {value!r} for {key}: listener name {listener.name} appears twice; "
                "each listener needs its own name",
                key=key, value=value, allowed="unique listener names",
            )
        out.append(listener)
    return tuple(out)


# -- the table of known keys ------------------------------------------------------------


@dataclass(frozen=True)
class ConfigKey:
    """A known config key: its type, Kafka's default, what is allowed, and a one-line doc.

    ``in_effect=False`` marks keys zafka accepts (so a Kafka file loads unchanged)
    but does not act on yet; ``honoured`` lists the values that describe what zafka
    does anyway (``unclean.leader.election.enable=false`` while there are no
    elections), which are in effect and draw no warning; ``note`` says why a key
    is not in effect or when it will be. ``refused`` maps values Kafka accepts but
    zafka does not support to the reason given to the user. Every key that claims
    to be in effect names the test that proves it in ``actors.config_evidence``.
    """

    name: str
    kind: str
    default: object
    doc: str
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] | None = None
    refused: Mapping[str, str] = field(default_factory=dict)
    in_effect: bool = True
    honoured: tuple[str, ...] = ()
    note: str = ""

    def allowed(self) -> str:
        if self.kind == INT:
            return _int_allowed(self.minimum, self.maximum)
        if self.kind == BOOL:
            return "true or false"
        if self.kind == LISTENERS:
            return _LISTENER_ALLOWED
        if self.choices:
            one_of = "one of " + ", ".join(self.choices)
            return f"a comma-separated list, each {one_of}" if self.kind == LIST else one_of
        return "a comma-separated list" if self.kind == LIST else "a string"

    def parse(self, value: object) -> object:
        """The typed value of ``value`` for this key, or :class:`ConfigError`."""
        if self.kind == INT:
            return parse_int_expr(self.name, value, minimum=self.minimum, maximum=self.maximum)
        if self.kind == BOOL:
            return _parse_bool(self.name, value)
        if self.kind == LISTENERS:
            return parse_listeners(self.name, value)
        if self.kind == LIST:
            items = value if isinstance(value, (list, tuple)) else str(value).split(",")
            items = tuple(s for s in (str(i).strip() for i in items) if s)
            return tuple(self._check_choice(value, i) for i in items)
        return self._check_choice(value, str(value).strip())

    def _check_choice(self, raw: object, item: str) -> str:
        for refused, reason in self.refused.items():
            if item.lower() == refused:
                raise ConfigError(f"invalid value {raw!r} for {self.name}: {reason}",
                                  key=self.name, value=raw, allowed=self.allowed())
        if self.choices is None:
            return item
        for choice in self.choices:  # case-insensitive, answered in the canonical spelling
            if item.lower() == choice.lower():
                return choice
        raise ConfigError.invalid(self.name, raw, self.allowed())

    def format(self, typed: object) -> str:
        """``typed`` back as a properties value (normalised: products evaluated)."""
        if typed is None:
            return ""
        if isinstance(typed, bool):
            return "true" if typed else "false"
        if isinstance(typed, tuple):
            return ",".join(str(i) for i in typed)
        return str(typed)

    def takes_effect(self, value: object) -> bool:
        """True when zafka acts on ``value`` (a raw or typed value) for this key."""
        if self.in_effect:
            return True
        return self.format(self.parse(value)) in self.honoured

    def not_in_effect_reason(self) -> str:
        """The words after "not in effect yet" in help, ``configs get`` and warnings."""
        parts = []
        if self.honoured:
            parts.append("only " + " or ".join(f"{self.name}={v}" for v in self.honoured) + " is honoured")
        if self.note:
            parts.append(self.note)
        return "; ".join(parts)

    def warning_for(self, value: object) -> str | None:
        """The warning to log when ``value`` is set but not acted on, else ``None``."""
        if self.takes_effect(value):
            return None
        reason = self.not_in_effect_reason()
        shown = self.format(self.parse(value))
        return f"{self.name}={shown} is accepted but not in effect yet" + (f" ({reason})" if reason else "")

    def help_line(self) -> str:
        default = "(unset)" if self.default is None else (self.format(self.default) or '""')
        note = ""
        if not self.in_effect:
            reason = self.not_in_effect_reason()
            note = " [not in effect yet" + (f": {reason}" if reason else "") + "]"
        return f"{self.name} ({self.kind}, default {default}): {self.doc}{note}"




_COMPACTION_REFUSED = {"compact": "log compaction is not supported by zafka; use delete"}
_COMPRESSION = ("producer", "none", "uncompressed", "gzip", "snappy", "lz4", "zstd")
_TIMESTAMP_TYPES = ("CreateTime", "LogAppendTime")


def _keys(*keys: ConfigKey) -> dict[str, ConfigKey]:
    return {k.name: k for k in keys}


def _int(name, default, doc, minimum=0, maximum=INT_MAX, **more) -> ConfigKey:
    return ConfigKey(name, INT, default, doc, minimum=minimum, maximum=maximum, **more)


def _long(name, default, doc, minimum=0, **more) -> ConfigKey:
    return ConfigKey(name, INT, default, doc, minimum=minimum, maximum=LONG_MAX, **more)


def _bool(name, default, doc, **more) -> ConfigKey:
    return ConfigKey(name, BOOL, default, doc, **more)


def _str(name, default, doc, choices=None, **more) -> ConfigKey:
    return ConfigKey(name, STR, default, doc, choices=choices, **more)


def _list(name, default, doc, choices=None, refused=None, **more) -> ConfigKey:
    return ConfigKey(name, LIST, default, doc, choices=choices, refused=refused or {}, **more)


# why whole families of Kafka keys have no effect in zafka
_NO_THREADS = "each zafka actor is its own process with one mailbox; there are no thread pools to size"
_NO_SECURITY = "zafka speaks plaintext only; there is no security protocol to choose"
_NO_KRAFT = "zafka runs one embedded controller; there is no KRaft quorum"
_REPLICATION = "replication (followers, ISR, elections) is not built yet"
_GROUPS = "consumer groups are not built yet"
_TXNS = "transactions are not built yet"
_RECOMPRESSION = "batches are stored as the producer compressed them; recompression is not built yet"
_BROKER_IDS = "zafka numbers a local cluster's brokers 1..N; `zafka broker start --id N` sets one broker's id"

#: Broker keys from ``server.properties``, with Kafka's defaults.
BROKER_CONFIG_KEYS: dict[str, ConfigKey] = _keys(
    # identity and endpoints
    _int("broker.id", -1, "this broker's id (-1: assigned by the supervisor)", minimum=-1,
         in_effect=False, honoured=("-1",), note=_BROKER_IDS),
    _int("node.id", -1, "KRaft name of broker.id; must equal broker.id when both are set", minimum=-1,
         in_effect=False, honoured=("-1",), note=_BROKER_IDS),
    ConfigKey("listeners", LISTENERS, (Listener("PLAINTEXT", "", 9092),),
              "endpoints to bind, NAME://host:port (empty host: all interfaces)"),
    ConfigKey("advertised.listeners", LISTENERS, None,
              "endpoints given to clients (default: listeners); names must be among listeners"),
    _str("listener.security.protocol.map",
         "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
         "listener name to security protocol", in_effect=False, note=_NO_SECURITY,
         honoured=("PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",)),
    _str("inter.broker.listener.name", None, "listener brokers use between themselves", in_effect=False,
         note=_NO_SECURITY),
    _str("security.inter.broker.protocol", "PLAINTEXT", "protocol brokers use between themselves",
         in_effect=False, honoured=("PLAINTEXT",), note=_NO_SECURITY),
    _str("broker.rack", None, "rack of this broker, for rack-aware placement", in_effect=False,
         note="shown in metadata, but placement does not look at racks yet"),
    # KRaft controller
    _list("process.roles", (), "KRaft roles of this node", choices=("broker", "controller"), in_effect=False,
          note=_NO_KRAFT),
    _list("controller.quorum.voters", (), "KRaft voters id@host:port (zafka runs one embedded controller)",
          in_effect=False, note=_NO_KRAFT),
    _list("controller.listener.names", (), "listener names used by the controller", in_effect=False,
          note=_NO_KRAFT),
    _int("broker.heartbeat.interval.ms", 2000, "how often a broker tells the controller it is alive", minimum=1),
    _int("broker.session.timeout.ms", 9000, "a broker silent this long is fenced by the controller", minimum=1),
    # topics
    _int("num.partitions", 1, "partitions of an auto-created topic", minimum=1),
    _int("default.replication.factor", 1, "replication factor of an auto-created topic", minimum=1),
    _bool("auto.create.topics.enable", True, "create a topic on first produce or metadata request"),
    _bool("delete.topic.enable", True, "allow deleting topics"),
    _int("min.insync.replicas", 1, "replicas that must have a write for acks=all to succeed", minimum=1),
    _bool("unclean.leader.election.enable", False,
          "allow a replica outside the ISR to become leader (may lose data)", in_effect=False,
          honoured=("false",), note=_REPLICATION + ": a partition waits for its own leader to restart"),
    _bool("auto.leader.rebalance.enable", True, "move leadership back to the preferred replica",
          in_effect=False, honoured=("false",), note=_REPLICATION),
    _int("leader.imbalance.check.interval.seconds", 300, "how often the preferred-leader check runs", minimum=1,
         in_effect=False, note=_REPLICATION),
    _int("leader.imbalance.per.broker.percentage", 10, "imbalance that triggers a leader rebalance", minimum=0,
         in_effect=False, note=_REPLICATION),
    _str("compression.type", "producer", "topic default compression", choices=_COMPRESSION,
         in_effect=False, honoured=("producer",), note=_RECOMPRESSION),
    _int("message.max.bytes", 1_048_588, "largest record batch the broker accepts"),
    # log
    _str("log.dir", "/tmp/kafka-logs", "data directory, used when log.dirs is not set"),
    _list("log.dirs", None, "comma-separated data directories; beats log.dir"),
    _long("log.retention.ms", None, "delete segments older than this (-1: keep forever); beats minutes/hours",
          minimum=-1),
    _int("log.retention.minutes", None, "retention in minutes; beats hours", minimum=-1),
    _int("log.retention.hours", 168, "retention in hours", minimum=-1),
    _long("log.retention.bytes", -1, "delete oldest segments while a partition is larger (-1: no limit)",
          minimum=-1),
    _int("log.segment.bytes", 1 << 30, "roll a new segment when the active one reaches this size", minimum=14),
    _long("log.roll.ms", None, "roll a new segment after this long; beats log.roll.hours", minimum=1),
    _int("log.roll.hours", 168, "roll a new segment after this many hours", minimum=1),
    _long("log.retention.check.interval.ms", 300_000, "how often the cleaner looks for expired segments",
          minimum=1),
    _long("log.flush.interval.messages", None, "fsync after this many records (unset: leave it to the OS)",
          minimum=1),
    _long("log.flush.interval.ms", None, "fsync when the last one is this old (unset: leave it to the OS)"),
    _long("log.flush.scheduler.interval.ms", None, "how often the flusher checks", in_effect=False,
          note="each leader checks flush.ms on every tick of its own loop"),
    _int("log.index.interval.bytes", 4096, "bytes of records between two offset index entries"),
    _int("log.index.size.max.bytes", 10_485_760, "largest offset index file", minimum=4, in_effect=False,
         note="index files grow with their segment"),
    _long("log.segment.delete.delay.ms", 60_000, "wait before deleting a removed segment's files",
          in_effect=False, note="expired segments are deleted at once by the process that owns the log"),
    _list("log.cleanup.policy", ("delete",), "what to do with old segments", choices=("delete",),
          refused=_COMPACTION_REFUSED),
    _bool("log.cleaner.enable", True, "run the compaction cleaner", in_effect=False, honoured=("false",),
          note="log compaction is not built yet"),
    _str("log.message.timestamp.type", "CreateTime", "record timestamp: producer's or broker's",
         choices=_TIMESTAMP_TYPES),
    _bool("log.preallocate", False, "preallocate segment files", in_effect=False, honoured=("false",)),
    _int("num.recovery.threads.per.data.dir", 1, "threads recovering logs at startup", minimum=1,
         in_effect=False, note="each partition leader recovers its own log when it starts"),
    # replication
    _long("replica.lag.time.max.ms", 30_000, "a follower not caught up for this long leaves the ISR", minimum=1,
          in_effect=False, note=_REPLICATION),
    _int("replica.fetch.max.bytes", 1_048_576, "bytes a follower asks for per partition", in_effect=False,
         note=_REPLICATION),
    _int("replica.fetch.wait.max.ms", 500, "longest a follower fetch waits for data", in_effect=False,
         note=_REPLICATION),
    _int("replica.fetch.min.bytes", 1, "bytes a follower fetch waits for", minimum=1, in_effect=False,
         note=_REPLICATION),
    _int("num.replica.fetchers", 1, "fetcher threads per source broker", minimum=1, in_effect=False,
         note=_REPLICATION),
    # groups and offsets
    _int("offsets.topic.replication.factor", 3, "replication factor of __consumer_offsets", minimum=1,
         maximum=SHORT_MAX, in_effect=False, note=_GROUPS),
    _int("offsets.topic.num.partitions", 50, "partitions of __consumer_offsets", minimum=1, in_effect=False,
         note=_GROUPS),
    _int("offsets.retention.minutes", 10_080, "keep a group's committed offsets this long after it empties",
         minimum=1, in_effect=False, note=_GROUPS),
    _int("group.initial.rebalance.delay.ms", 3000, "wait for more members before the first rebalance",
         in_effect=False, note=_GROUPS),
    _int("group.min.session.timeout.ms", 6000, "smallest session.timeout.ms a consumer may ask for",
         in_effect=False, note=_GROUPS),
    _int("group.max.session.timeout.ms", 1_800_000, "largest session.timeout.ms a consumer may ask for",
         in_effect=False, note=_GROUPS),
    _int("transaction.state.log.replication.factor", 3, "replication factor of __transaction_state",
         minimum=1, maximum=SHORT_MAX, in_effect=False, note=_TXNS),
    _int("transaction.state.log.min.isr", 2, "min.insync.replicas of __transaction_state", minimum=1,
         in_effect=False, note=_TXNS),
    # network and threads
    _int("socket.request.max.bytes", 104_857_600, "largest request the broker reads", minimum=1),
    _int("socket.send.buffer.bytes", 102_400, "SO_SNDBUF (-1: OS default)", minimum=-1, in_effect=False,
         note="ZeroMQ sockets keep the OS default buffers"),
    _int("socket.receive.buffer.bytes", 102_400, "SO_RCVBUF (-1: OS default)", minimum=-1, in_effect=False,
         note="ZeroMQ sockets keep the OS default buffers"),
    _int("num.network.threads", 3, "network threads", minimum=1, in_effect=False, note=_NO_THREADS),
    _int("num.io.threads", 8, "request handler threads", minimum=1, in_effect=False, note=_NO_THREADS),
    _int("background.threads", 10, "background task threads", minimum=1, in_effect=False, note=_NO_THREADS),
    _int("queued.max.requests", 500, "requests queued before the network threads block", minimum=1,
         in_effect=False, note=_NO_THREADS),
    _bool("controlled.shutdown.enable", True, "move leadership away before shutting down", in_effect=False,
          note=_REPLICATION),
    # zafka's own: restart intensity of actor supervisors, Erlang/OTP style
    _int("supervisor.max.restarts", 5, "restarts allowed within supervisor.max.seconds before giving up"),
    _int("supervisor.max.seconds", 30, "window of the restart intensity", minimum=1),
    _int("supervisor.restart.backoff.ms", 100, "delay before the first restart, doubled per consecutive restart"),
    _int("supervisor.restart.backoff.max.ms", 5000, "longest delay between restarts"),
)

#: Topic keys for ``topics create --config`` and ``configs set --topic``, with Kafka's defaults.
TOPIC_CONFIG_KEYS: dict[str, ConfigKey] = _keys(
    _long("retention.ms", 604_800_000, "delete segments older than this (-1: keep forever)", minimum=-1),
    _long("retention.bytes", -1, "delete oldest segments while a partition is larger (-1: no limit)",
          minimum=-1),
    _int("segment.bytes", 1 << 30, "roll a new segment at this size", minimum=14),
    _long("segment.ms", 604_800_000, "roll a new segment after this long", minimum=1),
    _int("max.message.bytes", 1_048_588, "largest record batch the topic accepts"),
    _int("min.insync.replicas", 1, "replicas that must have a write for acks=all to succeed", minimum=1),
    _list("cleanup.policy", ("delete",), "what to do with old segments", choices=("delete",),
          refused=_COMPACTION_REFUSED),
    _str("compression.type", "producer", "how the broker stores batches (producer: as sent)",
         choices=_COMPRESSION, in_effect=False, honoured=("producer",), note=_RECOMPRESSION),
    _long("flush.messages", None, "fsync after this many records (unset: leave it to the OS)", minimum=1),
    _long("flush.ms", None, "fsync when the last one is this old (unset: leave it to the OS)"),
    _int("index.interval.bytes", 4096, "bytes of records between two offset index entries"),
    _bool("unclean.leader.election.enable", False, "allow a replica outside the ISR to become leader",
          in_effect=False, honoured=("false",), note=_REPLICATION + ": a partition waits for its own leader to restart"),
    _str("message.timestamp.type", "CreateTime", "record timestamp: producer's or broker's",
         choices=_TIMESTAMP_TYPES),
)

# Accepted with a notice: zafka has its own controller, so ZooKeeper settings are moot.
_ZOOKEEPER_PREFIX = "zookeeper."


def config_help(keys: Mapping[str, ConfigKey]) -> list[str]:
    """One help line per key, sorted: what ``zafka configs`` prints."""
    return [keys[name].help_line() for name in sorted(keys)]


def _suggest(key: str, known: Mapping[str, object]) -> str | None:
    # Kafka keys are lower-case, so compare lower-case: "Log.Dirs" suggests log.dirs.
    match = difflib.get_close_matches(key.strip().lower(), list(known), n=1, cutoff=0.6)
    return match[0] if match else None


def _unknown(what: str, key: str, known: Mapping[str, object]) -> str:
    suggestion = _suggest(key, known)
    if suggestion:
        return f"unknown {what} {key} (did you mean {suggestion}?)"
    return f"unknown {what} {key}"


# -- properties files ------------------------------------------------------------------

_WS = " \t\f"
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _ends_with_escape(text: str) -> bool:
    """True when the last character is a backslash that is not itself escaped."""
    run = len(text) - len(text.rstrip("\\"))
    return run % 2 == 1


def _unescape(text: str, lineno: int) -> str:
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch != "\\" or i + 1 >= len(text):
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "u":
            digits = text[i + 2 : i + 6]
            if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise ConfigError(f"line {lineno}: malformed \\uxxxx escape {text[i : i + 6]!r}")
            out.append(chr(int(digits, 16)))
            i += 6
        else:
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
    return "".join(out)


def _logical_lines(text: str):
    """(line number, logical line) pairs: comments and blanks dropped, continuations joined."""
    natural = text.splitlines()
    i = 0
    while i < len(natural):
        lineno, line = i + 1, natural[i].lstrip(_WS)
        i += 1
        if not line or line[0] in "#!":
            continue  # a comment never continues onto the next line, as in Java
        while _ends_with_escape(line) and i < len(natural):
            line = line[:-1] + natural[i].lstrip(_WS)
            i += 1
        if _ends_with_escape(line):  # a continuation on the last line continues into nothing
            line = line[:-1]
        yield lineno, line


def parse_properties(text: str) -> dict[str, str]:
    """Parse ``server.properties`` text, following ``java.util.Properties``.

    The key ends at the first unescaped ``=``, ``:`` or whitespace; one ``=``/``:``
    with whitespace around it separates it from the value. Unlike Java, trailing
    whitespace is trimmed from values too (an invisible trailing space in a
    ``log.dirs`` path is never what anyone meant). Later duplicates win, as in Java.
    """
    props: dict[str, str] = {}
    for lineno, line in _logical_lines(text):
        i = 0
        while i < len(line) and not (line[i] in "=:" or line[i] in _WS):
            i += 2 if line[i] == "\\" else 1
        key_raw, rest = line[:i], line[i:].lstrip(_WS)
        if rest[:1] in ("=", ":"):
            rest = rest[1:].lstrip(_WS)
        while rest and rest[-1] in _WS and not _ends_with_escape(rest[:-1]):
            rest = rest[:-1]
        props[_unescape(key_raw, lineno)] = _unescape(rest, lineno)
    return props


def load_properties(path: str | os.PathLike) -> dict[str, str]:
    """Read and parse a properties file (UTF-8); an unreadable file is a :class:`ConfigError`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"cannot read config file {os.fspath(path)}: {reason}") from None
    return parse_properties(text)


# -- the broker's config -----------------------------------------------------------------


@dataclass(frozen=True)
class BrokerConfig:
    """The typed broker config. Build it with :meth:`from_properties` or :meth:`defaults`.

    Immutable, hashable and picklable (it crosses process boundaries to actors).
    Keys without an attribute are read with :meth:`get`; :attr:`properties` holds the
    keys that were set, normalised (products evaluated), for handing to storage.
    """

    broker_id: int
    listeners: tuple[Listener, ...]
    advertised_listeners: tuple[Listener, ...]
    log_dirs: tuple[str, ...]
    num_partitions: int
    default_replication_factor: int
    auto_create_topics_enable: bool
    delete_topic_enable: bool
    unclean_leader_election_enable: bool
    auto_leader_rebalance_enable: bool
    min_insync_replicas: int
    message_max_bytes: int
    compression_type: str
    log_retention_ms: int
    log_retention_bytes: int
    log_segment_bytes: int
    log_roll_ms: int
    log_retention_check_interval_ms: int
    log_flush_interval_messages: int | None
    log_flush_interval_ms: int | None
    log_index_interval_bytes: int
    socket_request_max_bytes: int
    replica_lag_time_max_ms: int
    offsets_topic_replication_factor: int
    group_initial_rebalance_delay_ms: int
    broker_heartbeat_interval_ms: int
    broker_session_timeout_ms: int
    controller_quorum_voters: tuple[str, ...]
    controller_listener_names: tuple[str, ...]
    supervisor_max_restarts: int
    supervisor_max_seconds: int
    supervisor_restart_backoff_ms: int
    supervisor_restart_backoff_max_ms: int
    _props: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @property
    def node_id(self) -> int:
        """KRaft's name for :attr:`broker_id`."""
        return self.broker_id

    @property
    def properties(self) -> dict[str, str]:
        """The known keys that were set, normalised (``"7 * 24"`` → ``"168"``); a fresh dict."""
        return dict(self._props)

    def get(self, key: str) -> object:
        """The typed value of any known broker key: as set, else Kafka's default."""
        spec = BROKER_CONFIG_KEYS.get(key)
        if spec is None:
            raise ConfigError(_unknown("config", key, BROKER_CONFIG_KEYS), key=key)
        props = dict(self._props)
        return spec.parse(props[key]) if key in props else spec.default

    @classmethod
    def defaults(cls) -> "BrokerConfig":
        """Kafka's defaults for every key (no file at all)."""
        return cls.from_properties({})[0]

    @classmethod
    def load(cls, path: str | os.PathLike) -> tuple["BrokerConfig", list[str]]:
        """:func:`load_properties` then :meth:`from_properties`."""
        return cls.from_properties(load_properties(path))

    @classmethod
    def from_properties(cls, props: Mapping[str, object]) -> tuple["BrokerConfig", list[str]]:
        """Validate ``props`` and build the config; returns it with warnings and notices.

        Unknown keys and ZooKeeper settings are not errors: they come back as messages
        for the caller to show. A bad value of a known key is a :class:`ConfigError`.
        Values may be strings (from a file) or Python ints/bools/lists (from code).
        """
        warnings: list[str] = []
        typed: dict[str, object] = {}
        normalised: dict[str, str] = {}
        for raw_key, raw_value in props.items():
            key = str(raw_key).strip()
            spec = BROKER_CONFIG_KEYS.get(key)
            if spec is None:
                if key.startswith(_ZOOKEEPER_PREFIX):
                    warnings.append(
                        f"{key} is not needed: zafka runs an embedded controller (no ZooKeeper); ignored"
                    )
                else:
                    warnings.append(_unknown("config", key, BROKER_CONFIG_KEYS))
                continue
            value = spec.parse(raw_value)
            typed[key] = value
            normalised[key] = spec.format(value)
            not_in_effect = spec.warning_for(value)
            if not_in_effect:
                warnings.append(not_in_effect)

        def value(key: str) -> object:
            return typed[key] if key in typed else BROKER_CONFIG_KEYS[key].default

        broker_id = _resolve_broker_id(typed)
        listeners = value("listeners")
        advertised = typed.get("advertised.listeners", listeners)
        _check_advertised(listeners, advertised)
        log_dirs = _resolve_log_dirs(typed, warnings)
        backoff, backoff_max = value("supervisor.restart.backoff.ms"), value("supervisor.restart.backoff.max.ms")
        if backoff > backoff_max:
            raise ConfigError(
                f"invalid value {backoff!r} for supervisor.restart.backoff.ms: expected at most "
                f"supervisor.restart.backoff.max.ms ({backoff_max})",
                key="supervisor.restart.backoff.ms", value=backoff, allowed=f"at most {backoff_max}",
            )
        if "log.roll.ms" in typed:
            roll_ms = typed["log.roll.ms"]
        else:
            roll_ms = value("log.roll.hours") * HOUR_MS

        config = cls(
            broker_id=broker_id,
            listeners=listeners,
            advertised_listeners=advertised,
            log_dirs=log_dirs,
            num_partitions=value("num.partitions"),
            default_replication_factor=value("default.replication.factor"),
            auto_create_topics_enable=value("auto.create.topics.enable"),
            delete_topic_enable=value("delete.topic.enable"),
            unclean_leader_election_enable=value("unclean.leader.election.enable"),
            auto_leader_rebalance_enable=value("auto.leader.rebalance.enable"),
            min_insync_replicas=value("min.insync.replicas"),
            message_max_bytes=value("message.max.bytes"),
            compression_type=value("compression.type"),
            log_retention_ms=resolve_retention_ms(normalised),
            log_retention_bytes=value("log.retention.bytes"),
            log_segment_bytes=value("log.segment.bytes"),
            log_roll_ms=roll_ms,
            log_retention_check_interval_ms=value("log.retention.check.interval.ms"),
            log_flush_interval_messages=value("log.flush.interval.messages"),
            log_flush_interval_ms=value("log.flush.interval.ms"),
            log_index_interval_bytes=value("log.index.interval.bytes"),
            socket_request_max_bytes=value("socket.request.max.bytes"),
            replica_lag_time_max_ms=value("replica.lag.time.max.ms"),
            offsets_topic_replication_factor=value("offsets.topic.replication.factor"),
            group_initial_rebalance_delay_ms=value("group.initial.rebalance.delay.ms"),
            broker_heartbeat_interval_ms=value("broker.heartbeat.interval.ms"),
            broker_session_timeout_ms=value("broker.session.timeout.ms"),
            controller_quorum_voters=value("controller.quorum.voters"),
            controller_listener_names=value("controller.listener.names"),
            supervisor_max_restarts=value("supervisor.max.restarts"),
            supervisor_max_seconds=value("supervisor.max.seconds"),
            supervisor_restart_backoff_ms=backoff,
            supervisor_restart_backoff_max_ms=backoff_max,
            _props=tuple(sorted(normalised.items())),
        )
        return config, warnings

    def with_properties(self, overrides: Mapping[str, object]) -> "BrokerConfig":
        """This config with ``overrides`` applied and re-validated (e.g. a per-broker id and port).

        Meant for code, not files, so an unknown key is an error here, not a warning.
        """
        for key in overrides:
            if key not in BROKER_CONFIG_KEYS:
                raise ConfigError(_unknown("config", key, BROKER_CONFIG_KEYS), key=key)
        merged: dict[str, object] = dict(self._props)
        merged.update(overrides)
        return BrokerConfig.from_properties(merged)[0]

    def log_config_for(self, topic_configs: Mapping[str, object] | None = None) -> LogConfig:
        """The storage config of one topic's logs: topic keys beat ``log.*`` broker keys beat Kafka's defaults."""
        topic = validate_topic_configs(topic_configs or {})
        try:
            return LogConfig.from_configs(topic, self.properties)
        except InvalidConfigError as exc:  # already validated here; kept for a typed error anyway
            raise ConfigError.invalid(exc.key, exc.value, exc.allowed) from None

    def ensure_log_dirs(self) -> tuple[Path, ...]:
        """Create missing log directories and check each is a writable directory.

        Kafka creates them at startup too; a path that is a file, or not writable,
        is a :class:`ConfigError` naming the key and the directory.
        """
        key = "log.dirs" if "log.dirs" in dict(self._props) else "log.dir"
        out = []
        for d in self.log_dirs:
            path = Path(d)
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"invalid value {d!r} in {key}: cannot create directory: {exc.strerror or exc}",
                                  key=key, value=d, allowed="a writable directory") from None
            if not os.access(path, os.W_OK | os.X_OK):
                raise ConfigError(f"invalid value {d!r} in {key}: directory is not writable",
                                  key=key, value=d, allowed="a writable directory")
            out.append(path)
        return tuple(out)


def _resolve_broker_id(typed: Mapping[str, object]) -> int:
    broker_id, node_id = typed.get("broker.id", -1), typed.get("node.id", -1)
    if broker_id != -1 and node_id != -1 and broker_id != node_id:
        raise ConfigError(
            f"invalid value {node_id!r} for node.id: must equal broker.id ({broker_id}) when both are set",
            key="node.id", value=node_id, allowed=f"{broker_id}",
        )
    return broker_id if broker_id != -1 else node_id


def _check_advertised(listeners: tuple[Listener, ...], advertised: tuple[Listener, ...]) -> None:
    names = {listener.name for listener in listeners}
    for listener in advertised:
        if listener.name not in names:
            allowed = "listener names among those in listeners (" + ", ".join(sorted(names)) + ")"
            raise ConfigError.invalid("advertised.listeners", str(listener), allowed)


def _resolve_log_dirs(typed: Mapping[str, object], warnings: list[str]) -> tuple[str, ...]:
    """``log.dirs`` if set, else ``log.dir`` — both comma-separated, as in Kafka."""
    if "log.dirs" in typed:
        key, dirs = "log.dirs", typed["log.dirs"]
        if "log.dir" in typed:
            warnings.append("log.dir is ignored: log.dirs is set and takes precedence")
    else:
        key = "log.dir"
        raw = typed.get("log.dir", BROKER_CONFIG_KEYS["log.dir"].default)
        dirs = tuple(d.strip() for d in raw.split(",") if d.strip())
    if not dirs:
        raise ConfigError.invalid(key, "", "at least one directory (comma-separated)")
    seen: set[str] = set()
    for d in dirs:
        norm = os.path.normpath(d)
        if norm in seen:
            raise ConfigError(f"invalid value {','.join(dirs)!r} for {key}: directory {d} is listed twice",
                              key=key, value=",".join(dirs), allowed="distinct directories")
        seen.add(norm)
    return tuple(dirs)


# -- topic configs ----------------------------------------------------------------------


def validate_topic_configs(configs: Mapping[str, object]) -> dict[str, str]:
    """Check topic overrides and return them normalised (``"7 * 24"`` → ``"168"``).

    Unknown keys are refused, not warned about: a topic config is typed at a
    command line, and silently ignoring ``retention.hours`` would keep data for a week.
    """
    out: dict[str, str] = {}
    for raw_key, raw_value in configs.items():
        key = str(raw_key).strip()
        spec = TOPIC_CONFIG_KEYS.get(key)
        if spec is None:
            message = _unknown("topic config", key, TOPIC_CONFIG_KEYS)
            if _suggest(key, TOPIC_CONFIG_KEYS) is None:
                message += "; known topic configs: " + ", ".join(sorted(TOPIC_CONFIG_KEYS))
            raise ConfigError(message, key=key, value=raw_value,
                              allowed="one of " + ", ".join(sorted(TOPIC_CONFIG_KEYS)))
        out[key] = spec.format(spec.parse(raw_value))
    return out


def topic_config_warnings(configs: Mapping[str, object]) -> list[str]:
    """One warning per topic key set to a value zafka does not act on yet (validated keys only)."""
    out = []
    for key, value in configs.items():
        warning = TOPIC_CONFIG_KEYS[key].warning_for(value)
        if warning:
            out.append(warning)
    return out


def not_in_effect(keys: Mapping[str, ConfigKey], values: Mapping[str, object]) -> dict[str, str]:
    """key -> why, for every value in ``values`` that zafka does not act on (what ``configs get`` flags)."""
    out = {}
    for key, value in values.items():
        spec = keys.get(key)
        if spec is not None and value not in (None, "") and not spec.takes_effect(value):
            out[key] = spec.not_in_effect_reason() or "not in effect yet"
    return out


# -- what actors read from the broker properties they are handed ---------------------------

# topic key -> the broker key that supplies its default (log.* keys are resolved by LogConfig)
_TOPIC_DEFAULT_FROM_BROKER = {
    "min.insync.replicas": "min.insync.replicas",
    "compression.type": "compression.type",
    "unclean.leader.election.enable": "unclean.leader.election.enable",
    "message.timestamp.type": "log.message.timestamp.type",
    "cleanup.policy": "log.cleanup.policy",
}


def log_config_for(broker_props: Mapping[str, object], topic_configs: Mapping[str, object] | None) -> LogConfig:
    """A partition's storage config from the broker's properties and its topic's overrides."""
    return LogConfig.from_configs(validate_topic_configs(topic_configs or {}), broker_props)


def effective_topic_configs(broker_props: Mapping[str, object], overrides: Mapping[str, str]) -> dict[str, str]:
    """Every topic key with the value in force: the topic's override, else the broker's default."""
    log_cfg = LogConfig.from_configs(overrides, broker_props).as_topic_configs()
    out: dict[str, str] = {}
    for key, spec in TOPIC_CONFIG_KEYS.items():
        if key in overrides:
            out[key] = str(overrides[key])
        elif key in log_cfg and log_cfg[key] is not None:
            out[key] = str(log_cfg[key])
        elif key in _TOPIC_DEFAULT_FROM_BROKER and _TOPIC_DEFAULT_FROM_BROKER[key] in broker_props:
            out[key] = str(broker_props[_TOPIC_DEFAULT_FROM_BROKER[key]])
        elif spec.default is not None:
            out[key] = spec.format(spec.default)
    return out
