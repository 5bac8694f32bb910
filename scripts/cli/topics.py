"""``zafka topics ...`` and ``zafka configs ...``: the Admin client, printed for people."""

from __future__ import annotations

from . import main as cli
from .output import Progress, info, table, warn


def _admin(args):
    from wire import Admin

    return Admin(bootstrap=cli.bootstrap(args))


def _close(admin) -> None:
    close = getattr(admin, "close", None)
    if close is not None:
        close()


# -- topics ---------------------------------------------------------------------------------------

def create(args) -> int:
    configs = dict(args.config)
    admin = _admin(args)
    try:
        with Progress(f"creating topic {args.topic}...", delay=1.0, enabled=None):
            warnings = admin.create_topic(args.topic, partitions=args.partitions,
                                          replication_factor=args.replication_factor, configs=configs)
    finally:
        _close(admin)
    extra = f", configs {', '.join(f'{k}={v}' for k, v in configs.items())}" if configs else ""
    info(f"created topic {args.topic} with {args.partitions} partition{'s' if args.partitions != 1 else ''}, "
         f"replication factor {args.replication_factor}{extra}")
    for warning in warnings or ():
        warn(warning)
    return 0


def list_(args) -> int:
    admin = _admin(args)
    try:
        names = admin.list_topics()
    finally:
        _close(admin)
    for name in sorted(names):
        info(str(name))
    return 0


DESCRIBE_HEADERS = ["PARTITION", "LEADER", "REPLICAS", "ISR", "EPOCH", "LOG-START", "HW", "LOG-END", "FLAGS"]


def partition_flags(p) -> list[str]:
    """What is wrong with a partition, worst first: offline, under-replicated, unclean elections."""
    flags = []
    if p.offline:
        flags.append("offline")
    if p.under_replicated:
        flags.append("under-replicated")
    if p.unclean_elections > 0:
        flags.append(f"unclean-elections={p.unclean_elections}")
    return flags


def _offset(p, value: int) -> object:
    """An offset as its leader reported it; ``-`` when the partition is offline (no leader to ask),
    ``?`` when its leader did not answer in time (a failover in progress)."""
    if value >= 0:
        return value
    return "-" if p.offline else "?"


def describe_lines(name: str, description, configs: dict[str, str] | None = None, *,
                   under_replicated_only: bool = False) -> list[str]:
    """Kafka's kafka-topics --describe layout: a summary line, then one row per partition.

    ``under_replicated_only`` keeps only the rows of under-replicated partitions
    (the summary still describes the whole topic); with none, there are no lines.
    A partition with unclean elections gets a note below the table.
    """
    parts = sorted(description.partitions, key=lambda p: p.partition)
    shown = [p for p in parts if p.under_replicated] if under_replicated_only else parts
    if not shown and under_replicated_only:
        return []
    rf = max((len(p.replicas) for p in parts), default=0)
    summary = f"Topic: {name}  PartitionCount: {len(parts)}  ReplicationFactor: {rf}"
    if configs:
        summary += "  Configs: " + ",".join(f"{k}={v}" for k, v in sorted(configs.items()))
    rows = [[
        p.partition,
        p.leader if p.leader >= 0 else "none",
        p.replicas,
        p.isr,
        p.leader_epoch,
        _offset(p, p.log_start_offset),
        _offset(p, p.high_watermark),
        _offset(p, p.log_end_offset),
        ",".join(partition_flags(p)),
    ] for p in shown]
    lines = [summary, *table(rows, DESCRIBE_HEADERS, right=(0, 4, 5, 6, 7)).splitlines()]
    unclean = [p for p in shown if p.unclean_elections > 0]
    if unclean:
        lines.append(f"note: {_names(name, unclean)} had a leader elected from outside the ISR "
                     "(unclean.leader.election.enable=true): acknowledged records may have been lost")
    return lines


def _names(topic: str, parts, limit: int = 10) -> str:
    names = [f"{topic}-{p.partition}" for p in parts[:limit]]
    more = f" and {len(parts) - limit} more" if len(parts) > limit else ""
    return ", ".join(names) + more


def describe(args) -> int:
    """Every topic (or TOPIC); ``--under-replicated``: only partitions whose ISR is smaller than their replicas."""
    from wire.errors import UnknownTopicOrPartition

    only = bool(getattr(args, "under_replicated", False))
    admin = _admin(args)
    printed = 0
    hidden_offline: list[str] = []  # --under-replicated: offline partitions whose ISR is still complete
    try:
        names = [args.topic] if args.topic else sorted(admin.list_topics())
        for name in names:
            try:
                description = admin.describe_topic(name)
            except UnknownTopicOrPartition:
                if args.topic:
                    raise
                continue  # deleted since it was listed
            if only:
                offline = sorted((p for p in description.partitions if p.offline and not p.under_replicated),
                                 key=lambda p: p.partition)
                if offline:
                    hidden_offline.append(_names(name, offline))
                if not any(p.under_replicated for p in description.partitions):
                    continue
            configs, overrides = _describe_configs(admin, name)
            if printed:
                info()
            for line in describe_lines(name, description, {k: configs.get(k, "") for k in overrides},
                                       under_replicated_only=only):
                info(line)
            printed += 1
    finally:
        _close(admin)
    if only:
        # Kafka's definition leaves out a partition offline with its ISR complete (its last leader
        # stays in it): say so rather than let "nothing under-replicated" read as "all is well".
        offline = ""
        if hidden_offline:
            offline = f"offline, not under-replicated (so not listed): {'; '.join(hidden_offline)}"
        if not printed:
            where = f" in topic {args.topic}" if args.topic else ""
            info(f"no under-replicated partitions{where}" + (f"; {offline}" if offline else ""))
        elif offline:
            info()
            info(offline)
    return 0


def delete(args) -> int:
    admin = _admin(args)
    try:
        with Progress(f"deleting topic {args.topic}...", delay=1.0, enabled=None):
            admin.delete_topic(args.topic)
    finally:
        _close(admin)
    info(f"deleted topic {args.topic}")
    return 0


def alter(args) -> int:
    admin = _admin(args)
    try:
        with Progress(f"growing topic {args.topic} to {args.partitions} partitions...", delay=1.0, enabled=None):
            admin.create_partitions(args.topic, args.partitions)
    finally:
        _close(admin)
    info(f"topic {args.topic} now has {args.partitions} partitions")
    return 0


# -- configs -------------------------------------------------------------------------------------------

def _describe_configs(admin, topic: str) -> tuple[dict[str, str], set[str]]:
    """(every effective config, the keys set on the topic itself)."""
    return admin.describe_topic_configs(topic), set(admin.describe_topic_config_overrides(topic))


def configs_get(args) -> int:
    admin = _admin(args)
    try:
        entries = admin.describe_topic_config_entries(args.topic)
    finally:
        _close(admin)
    rows = [[("* " if e.source == "topic" else "  ") + e.name, e.value, e.source,
             "" if e.in_effect else f"not in effect yet: {e.note}" if e.note else "not in effect yet"]
            for e in entries]
    overrides = sum(1 for e in entries if e.source == "topic")
    print(table(rows, ["  KEY", "VALUE", "SOURCE", "NOTE"]))
    info(f"* set on topic {args.topic} ({overrides} override{'s' if overrides != 1 else ''}); "
         "the rest are broker defaults")
    return 0


def configs_set(args) -> int:
    updates = dict(args.pairs)
    deletes = list(args.delete)
    if not updates and not deletes:
        raise cli.UsageError("give KEY=VALUE pairs to set or --delete KEY")
    both = set(updates) & set(deletes)
    if both:
        raise cli.UsageError(f"{', '.join(sorted(both))}: both set and deleted")
    admin = _admin(args)
    try:
        # a value of None removes the override
        warnings = admin.alter_topic_configs(args.topic, {**updates, **{key: None for key in deletes}})
    finally:
        _close(admin)
    for key, value in updates.items():
        info(f"set {key}={value} on topic {args.topic}")
    for key in deletes:
        info(f"deleted {key} from topic {args.topic} (the broker default applies)")
    for warning in warnings or ():
        warn(warning)
    return 0


def configs_help(args) -> int:
    """Every key zafka knows, with its default; keys not acted on yet say so and why."""
    from actors.config import BROKER_CONFIG_KEYS, TOPIC_CONFIG_KEYS, config_help

    keys = BROKER_CONFIG_KEYS if args.broker else TOPIC_CONFIG_KEYS
    for line in config_help(keys):
        info(line)
    return 0
