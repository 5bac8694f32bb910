"""The table of known keys: each key's type, default, validator, doc and whether it is in effect.

This is zafka's ``ConfigDef``. Every key is written here once, and everything else
is derived from it: the typed :class:`~actors.config.broker.BrokerConfig` (one
attribute per broker key), validation of topic configs, "did you mean"
suggestions, ``zafka configs help``, and the warnings for values zafka accepts
but does not act on. A default is defined nowhere else — an actor that needs
one reads the typed config — and where zafka's default differs from Kafka's on
purpose, the key's doc says so and why.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field

from storage.config import CLEANUP_POLICIES

from .values import (
    INT_MAX,
    ConfigError,
    LISTENERS_ALLOWED,
    LONG_MAX,
    SHORT_MAX,
    Listener,
    double_allowed,
    int_allowed,
    parse_bool,
    parse_double,
    parse_int_expr,
    parse_listeners,
)

INT, DOUBLE, BOOL, STR, LIST, LISTENERS = "int", "double", "bool", "str", "list", "listener-list"
KINDS = (INT, DOUBLE, BOOL, STR, LIST, LISTENERS)


@dataclass(frozen=True)
class ConfigKey:
    """A known config key: its type, its default, what is allowed, and a one-line doc.

    The default is Kafka's unless the doc says why zafka's differs; it is the only
    place the default is written (the typed broker config takes it from here).

    ``in_effect=False`` marks keys zafka accepts (so a Kafka file loads unchanged)
    but does not act on yet; ``honoured`` lists the values that describe what zafka
    does anyway (``unclean.leader.election.enable=false`` while there are no
    elections), which are in effect and draw no warning; ``note`` says why a key
    is not in effect or when it will be. ``refused`` maps values Kafka accepts but
    zafka does not support to the reason given to the user. Every key that claims
    to be in effect names the test that proves it in ``actors.config.evidence``.
    ``non_empty`` makes a list key refuse an empty value (``cleanup.policy=``).
    """

    name: str
    kind: str
    default: object
    doc: str
    minimum: int | float | None = None
    maximum: int | float | None = None
    choices: tuple[str, ...] | None = None
    non_empty: bool = False
    refused: Mapping[str, str] = field(default_factory=dict)
    in_effect: bool = True
    honoured: tuple[str, ...] = ()
    note: str = ""

    def allowed(self) -> str:
        if self.kind == INT:
            return int_allowed(self.minimum, self.maximum)
        if self.kind == DOUBLE:
            return double_allowed(self.minimum, self.maximum)
        if self.kind == BOOL:
            return "true or false"
        if self.kind == LISTENERS:
            return LISTENERS_ALLOWED
        at_least_one = " (at least one)" if self.non_empty else ""
        if self.choices:
            one_of = "one of " + ", ".join(self.choices)
            return f"a comma-separated list{at_least_one}, each {one_of}" if self.kind == LIST else one_of
        return f"a comma-separated list{at_least_one}" if self.kind == LIST else "a string"

    def parse(self, value: object) -> object:
        """The typed value of ``value`` for this key, or :class:`ConfigError`."""
        if self.kind == INT:
            return parse_int_expr(self.name, value, minimum=self.minimum, maximum=self.maximum)
        if self.kind == DOUBLE:
            return parse_double(self.name, value, minimum=self.minimum, maximum=self.maximum)
        if self.kind == BOOL:
            return parse_bool(self.name, value)
        if self.kind == LISTENERS:
            return parse_listeners(self.name, value)
        if self.kind == LIST:
            items = value if isinstance(value, (list, tuple)) else str(value).split(",")
            items = tuple(s for s in (str(i).strip() for i in items) if s)
            if self.non_empty and not items:
                raise ConfigError.invalid(self.name, value, self.allowed())
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


_COMPRESSION = ("producer", "none", "uncompressed", "gzip", "snappy", "lz4", "zstd")
_TIMESTAMP_TYPES = ("CreateTime", "LogAppendTime")


def _keys(*keys: ConfigKey) -> dict[str, ConfigKey]:
    return {k.name: k for k in keys}


def _int(name, default, doc, minimum=0, maximum=INT_MAX, **more) -> ConfigKey:
    return ConfigKey(name, INT, default, doc, minimum=minimum, maximum=maximum, **more)


def _long(name, default, doc, minimum=0, **more) -> ConfigKey:
    return ConfigKey(name, INT, default, doc, minimum=minimum, maximum=LONG_MAX, **more)


def _double(name, default, doc, minimum=0.0, maximum=1.0, **more) -> ConfigKey:
    return ConfigKey(name, DOUBLE, default, doc, minimum=minimum, maximum=maximum, **more)


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
_TXNS = "transactions are not built yet"
_RECOMPRESSION = "batches are stored as the producer compressed them; recompression is not built yet"
_PER_REPLICA = "each replica process compacts its own log, one bounded step at a time between requests"
_BROKER_IDS = "zafka numbers a local cluster's brokers 1..N; `zafka broker start --id N` sets one broker's id"

#: Broker keys from ``server.properties``, with Kafka's defaults unless a key's doc says otherwise.
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
    _int("broker.heartbeat.interval.ms", 250,
         "how often a broker tells the controller it is alive (zafka's default; Kafka's is 2000: a local "
         "cluster's brokers share one machine, so beating often costs nothing and keeps fencing quick)", minimum=1),
    _int("broker.session.timeout.ms", 3000,
         "a broker silent this long is fenced by the controller (zafka's default; Kafka's is 9000: a local "
         "cluster's brokers share one machine, so a frozen broker is fenced within 3 s and failover is fast)",
         minimum=1),
    # topics
    _int("num.partitions", 1, "partitions of an auto-created topic", minimum=1),
    _int("default.replication.factor", 1, "replication factor of an auto-created topic", minimum=1),
    _bool("auto.create.topics.enable", True, "create a topic on first produce or metadata request"),
    _bool("delete.topic.enable", True, "allow deleting topics"),
    _int("min.insync.replicas", 1, "replicas that must have a write for acks=all to succeed", minimum=1),
    _bool("unclean.leader.election.enable", False,
          "allow a replica outside the ISR to become leader when no ISR member is left (may lose data)"),
    _bool("auto.leader.rebalance.enable", True, "move leadership back to the preferred replica"),
    _int("leader.imbalance.check.interval.seconds", 300, "how often the preferred-leader check runs", minimum=1),
    _int("leader.imbalance.per.broker.percentage", 10, "imbalance that triggers a leader rebalance", minimum=0),
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
    _list("log.cleanup.policy", ("delete",),
          "what to do with old segments: delete them by retention, compact them (latest record per key), or both",
          choices=CLEANUP_POLICIES, non_empty=True),
    _bool("log.cleaner.enable", True,
          "compact the logs of topics whose cleanup.policy includes compact (false: they are never compacted)"),
    _long("log.cleaner.backoff.ms", 15_000,
          "how often the cleaner asks the replicas of compacted topics to start a compaction pass when due"),
    _long("log.cleaner.delete.retention.ms", 86_400_000, "default delete.retention.ms of topics"),
    _double("log.cleaner.min.cleanable.ratio", 0.5, "default min.cleanable.dirty.ratio of topics"),
    _long("log.cleaner.min.compaction.lag.ms", 0, "default min.compaction.lag.ms of topics"),
    _long("log.cleaner.max.compaction.lag.ms", LONG_MAX, "default max.compaction.lag.ms of topics", minimum=1),
    _int("log.cleaner.threads", 1, "cleaner threads", in_effect=False, note=_PER_REPLICA),
    _long("log.cleaner.dedupe.buffer.size", 134_217_728, "memory for the cleaners' offset maps", in_effect=False,
          note="a pass's offset map is a dict over the whole dirty section, not a bounded buffer"),
    _str("log.message.timestamp.type", "CreateTime", "record timestamp: producer's or broker's",
         choices=_TIMESTAMP_TYPES),
    _bool("log.preallocate", False, "preallocate segment files", in_effect=False, honoured=("false",)),
    _int("num.recovery.threads.per.data.dir", 1, "threads recovering logs at startup", minimum=1,
         in_effect=False, note="each partition leader recovers its own log when it starts"),
    # replication
    _long("replica.lag.time.max.ms", 30_000, "a follower not caught up for this long leaves the ISR", minimum=1),
    _int("replica.fetch.max.bytes", 1_048_576, "bytes a follower asks for per partition"),
    _int("replica.fetch.wait.max.ms", 500, "longest a follower fetch waits for data"),
    _int("replica.fetch.min.bytes", 1, "bytes a follower fetch waits for", minimum=1),
    _int("num.replica.fetchers", 1, "fetcher threads per source broker", minimum=1, in_effect=False,
         note="each follower replica is a process of its own that fetches for itself"),
    # groups and offsets
    _int("offsets.topic.replication.factor", 3,
         "replication factor of __consumer_offsets, at most the live brokers when it is created", minimum=1,
         maximum=SHORT_MAX),
    # zafka's default is 3, not Kafka's 50: every replica is a process of its own here, and 50 x RF 3
    # would be 150 processes for the first consumer group of a laptop cluster
    _int("offsets.topic.num.partitions", 3, "partitions of __consumer_offsets (Kafka's default is 50)", minimum=1),
    _int("offsets.retention.minutes", 10_080, "keep a group's committed offsets this long after it empties",
         minimum=1),
    _int("group.initial.rebalance.delay.ms", 3000, "wait for more members before the first rebalance"),
    _int("group.min.session.timeout.ms", 6000, "smallest session.timeout.ms a consumer may ask for"),
    _int("group.max.session.timeout.ms", 1_800_000, "largest session.timeout.ms a consumer may ask for"),
    # idempotent producers
    _int("producer.id.expiration.ms", 86_400_000,
         "forget an idempotent producer's sequence state this long after its last batch", minimum=1),
    _int("producer.id.expiration.check.interval.ms", 600_000, "how often expired producer ids are looked for",
         minimum=1, in_effect=False,
         note="each replica looks for expired producer ids whenever the cleaner visits it "
              "(log.retention.check.interval.ms)"),
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
    _bool("controlled.shutdown.enable", True,
          "a broker stopping cleanly (`zafka broker stop`, SIGTERM, `cluster stop`) first moves its leaderships "
          "to in-sync replicas elsewhere and leaves the ISRs"),
    _int("controlled.shutdown.max.retries", 3,
         "attempts at a controlled shutdown that leaves partitions behind (one may catch up) before stopping "
         "anyway", minimum=1),
    _long("controlled.shutdown.retry.backoff.ms", 5000, "wait between controlled shutdown attempts"),
    # the controller's metadata log (KRaft's names)
    # zafka's default is 2 MiB, not Kafka's 20 MiB: its controller replays events about ten times slower than
    # Kafka's, and 2 MiB (about 15,000 events) keeps a restart's replay near 0.1 s
    _long("metadata.log.max.record.bytes.between.snapshots", 2_097_152,
          "bytes of metadata events after which the controller snapshots its image (a restart replays only "
          "what follows the snapshot; Kafka's default is 20971520)", minimum=1),
    _long("metadata.log.max.snapshot.interval.ms", 3_600_000,
          "longest time between snapshots while events come (0: by size only)"),
    # zafka's own: leader liveness. Kafka's leaders live in their broker's process, so a broker's
    # session covers them; a zafka leader is a process of its own, frozen or stuck on its own
    _int("leader.heartbeat.interval.ms", 500, "how often a partition leader tells the controller it is alive",
         minimum=1),
    _int("leader.session.timeout.ms", 2500,
         "a leader silent this long loses its leadership to an in-sync follower (fences a frozen leader)",
         minimum=1),
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
    _list("cleanup.policy", ("delete",),
          "what to do with old segments: delete them by retention, compact them (latest record per key), or both",
          choices=CLEANUP_POLICIES, non_empty=True),
    _long("delete.retention.ms", 86_400_000,
          "a compacted topic keeps a tombstone this long after the first pass that kept it"),
    _double("min.cleanable.dirty.ratio", 0.5,
            "compact once the uncompacted part of the log exceeds this fraction of it"),
    _long("min.compaction.lag.ms", 0, "a record stays uncompacted at least this long after it was written"),
    _long("max.compaction.lag.ms", LONG_MAX,
          "a record is compacted at most this long after it was written, whatever the dirty ratio", minimum=1),
    _str("compression.type", "producer", "how the broker stores batches (producer: as sent)",
         choices=_COMPRESSION, in_effect=False, honoured=("producer",), note=_RECOMPRESSION),
    _long("flush.messages", None, "fsync after this many records (unset: leave it to the OS)", minimum=1),
    _long("flush.ms", None, "fsync when the last one is this old (unset: leave it to the OS)"),
    _int("index.interval.bytes", 4096, "bytes of records between two offset index entries"),
    _bool("unclean.leader.election.enable", False,
          "allow a replica outside the ISR to become leader when no ISR member is left (may lose data)"),
    _str("message.timestamp.type", "CreateTime", "record timestamp: producer's or broker's",
         choices=_TIMESTAMP_TYPES),
)


def config_help(keys: Mapping[str, ConfigKey]) -> list[str]:
    """One help line per key, sorted: what ``zafka configs`` prints."""
    return [keys[name].help_line() for name in sorted(keys)]


def suggest(key: str, known: Mapping[str, object]) -> str | None:
    """The known key closest to a mistyped one, if any is close."""
    # Kafka keys are lower-case, so compare lower-case: "Log.Dirs" suggests log.dirs.
    match = difflib.get_close_matches(key.strip().lower(), list(known), n=1, cutoff=0.6)
    return match[0] if match else None


def unknown(what: str, key: str, known: Mapping[str, object]) -> str:
    """``unknown <what> <key>``, with a "did you mean" when a known key is close."""
    suggestion = suggest(key, known)
    if suggestion:
        return f"unknown {what} {key} (did you mean {suggestion}?)"
    return f"unknown {what} {key}"
