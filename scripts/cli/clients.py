"""``zafka produce``, ``zafka consume`` and ``zafka groups``: console clients like Kafka's."""

from __future__ import annotations

import sys
import time

from . import main as cli
from .output import CommandError, info, table
from .topics import _close


def _acks(value: str):
    return "all" if value in ("all", "-1") else int(value)


def _stderr_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


# -- produce --------------------------------------------------------------------------------------

class _Outcome:
    """Counts acknowledgements on the producer's sender thread; keeps the first error."""

    __slots__ = ("acked", "failed", "first_error")

    def __init__(self):
        self.acked = 0
        self.failed = 0
        self.first_error: BaseException | None = None

    def __call__(self, metadata, error) -> None:
        if error is None:
            self.acked += 1
        else:
            self.failed += 1
            if self.first_error is None:
                self.first_error = error


def split_line(line: bytes, separator: bytes | None, lineno: int) -> tuple[bytes | None, bytes]:
    """``key<SEP>value`` → (key, value), as Kafka's console producer with ``parse.key=true``."""
    if separator is None:
        return None, line
    key, sep, value = line.partition(separator)
    if not sep:
        raise CommandError(f"line {lineno} has no key separator {separator.decode(errors='replace')!r}")
    return key, value


def produce(args) -> int:
    from wire import Producer

    separator = args.key_separator.encode() if args.key_separator else None
    fixed_key = args.key.encode() if args.key is not None else None
    outcome = _Outcome()
    interactive = sys.stdin.isatty()
    show_progress = _stderr_tty() and not interactive
    if interactive:
        print("type one record per line; Ctrl-D to finish", file=sys.stderr)
    producer = Producer(bootstrap=cli.bootstrap(args), acks=_acks(args.acks), compression=args.compression,
                        linger_ms=args.linger_ms, batch_size=args.batch_size)
    sent = 0
    try:
        send = producer.send
        topic, partition = args.topic, args.partition
        next_report = time.monotonic() + 1
        for lineno, raw in enumerate(sys.stdin.buffer, 1):
            line = raw[:-1] if raw.endswith(b"\n") else raw
            if line.endswith(b"\r"):
                line = line[:-1]
            key, value = split_line(line, separator, lineno)
            if fixed_key is not None and key is None:
                key = fixed_key
            send(topic, value=value, key=key, partition=partition, callback=outcome)
            sent += 1
            if interactive:
                producer.flush()
                if outcome.first_error is not None:
                    break
            elif show_progress and time.monotonic() >= next_report:
                sys.stderr.write(f"\r{sent} records sent, {outcome.acked} acknowledged")
                sys.stderr.flush()
                next_report += 1
        producer.flush()
    finally:
        producer.close(timeout=5)  # after flush() this is immediate; on Ctrl-C or an error it bounds the wait
    if show_progress and sent:
        sys.stderr.write("\r")
    if outcome.failed:
        raise CommandError(f"{outcome.failed} of {sent} records failed: {outcome.first_error}")
    if not interactive:
        print(f"produced {sent} record{'s' if sent != 1 else ''} to {args.topic}", file=sys.stderr)
    return 0


# -- consume --------------------------------------------------------------------------------------------

def topic_partitions(consumer, topic: str) -> list[int]:
    """The topic's partition ids (``UnknownTopicOrPartition`` if there is no such topic)."""
    return sorted(consumer.partitions_for_topic(topic))


def format_record(record, print_key: bool, print_offset: bool, separator: bytes) -> bytes:
    fields = []
    if print_offset:
        fields.append(f"{record.partition}:{record.offset}".encode())
    if print_key:
        key = record.key
        fields.append(b"null" if key is None else key if isinstance(key, bytes) else str(key).encode())
    value = record.value
    fields.append(b"null" if value is None else value if isinstance(value, bytes) else str(value).encode())
    return separator.join(fields) + b"\n"


def consume(args) -> int:
    if args.offset is not None and args.partition is None:
        raise cli.UsageError("--offset needs --partition")
    if args.group and (args.partition is not None):
        raise cli.UsageError("--group subscribes to the whole topic; leave out --partition/--offset")
    from wire import Consumer, TopicPartition

    consumer = Consumer(bootstrap=cli.bootstrap(args), group_id=args.group or None,
                        auto_offset_reset="earliest" if args.from_beginning else "latest",
                        enable_auto_commit=bool(args.group), allow_auto_create_topics=False)
    count = 0
    interrupted = False
    out = sys.stdout.buffer
    separator = args.key_separator.encode()
    try:
        if args.group:
            consumer.subscribe([args.topic])
        else:
            parts = [args.partition] if args.partition is not None else topic_partitions(consumer, args.topic)
            tps = [TopicPartition(args.topic, p) for p in parts]
            consumer.assign(tps)
            if args.offset is not None:
                consumer.seek(tps[0], args.offset)
        limit = args.max_messages
        idle_s = args.timeout_ms / 1000 if args.timeout_ms else None
        last_record = time.monotonic()
        while limit is None or count < limit:
            wait_ms = 500
            if idle_s is not None:
                left = last_record + idle_s - time.monotonic()
                if left <= 0:
                    break
                wait_ms = max(1, min(wait_ms, int(left * 1000)))
            records = consumer.poll(timeout_ms=wait_ms,
                                    max_records=min(500, limit - count) if limit is not None else 500)
            if not records:
                continue
            last_record = time.monotonic()
            if limit is not None and len(records) > limit - count:
                records = records[: limit - count]
            out.write(b"".join([format_record(r, args.print_key, args.print_offset, separator) for r in records]))
            out.flush()
            count += len(records)
        if args.group:
            try:
                consumer.commit()
            except Exception as exc:  # noqa: BLE001 - reported; the records were printed
                print(f"zafka: warning: could not commit offsets: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        interrupted = True  # Ctrl-C is how an open-ended consume ends
    finally:
        _close(consumer)
    print(f"{chr(10) if interrupted else ''}Processed a total of {count} messages", file=sys.stderr)
    return 130 if interrupted else 0


# -- groups -------------------------------------------------------------------------------------

def groups_list(args) -> int:
    from wire import Admin

    admin = Admin(bootstrap=cli.bootstrap(args))
    try:
        groups = admin.list_groups()
    finally:
        _close(admin)
    if not groups:
        info("no consumer groups")
        return 0
    print(table([[g.group_id, g.state, g.protocol_type or "-"] for g in groups], ["GROUP", "STATE", "TYPE"]))
    return 0


def groups_describe(args) -> int:
    """Like kafka-consumer-groups.sh --describe: per partition the committed offset, the log end, the
    lag and the member that owns it; then the members."""
    from wire import Admin

    admin = Admin(bootstrap=cli.bootstrap(args))
    try:
        d = admin.describe_group(args.group)
    finally:
        _close(admin)
    if d.state == "Dead" and not d.offsets:
        raise CommandError(f"consumer group {args.group!r} does not exist (see `zafka groups list`)")
    info(f"group {d.group_id}: state {d.state}, protocol {d.protocol or '-'}, generation {d.generation}, "
         f"{len(d.members)} member{'s' if len(d.members) != 1 else ''}")
    owner = {tp: m for m in d.members for tp in m.assignment}
    partitions = sorted(set(d.offsets) | set(owner))
    rows = []
    for tp in partitions:
        o = d.offsets.get(tp)
        m = owner.get(tp)
        lag = o.lag if o is not None else None
        rows.append([tp.topic, tp.partition, o.committed if o is not None and o.committed >= 0 else "-",
                     o.log_end_offset if o is not None and o.log_end_offset >= 0 else "-",
                     lag if lag is not None else "-", m.member_id if m else "-",
                     (m.client_host or "-") if m else "-", m.client_id if m else "-"])
    if rows:
        print(table(rows, ["TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST",
                           "CLIENT-ID"], right=(1, 2, 3, 4)))
    idle = [m for m in d.members if not m.assignment]
    for m in idle:
        info(f"member {m.member_id} ({m.client_id}) owns no partition")
    return 0


def groups_delete(args) -> int:
    from wire import Admin
    from wire.errors import ZafkaError

    admin = Admin(bootstrap=cli.bootstrap(args))
    try:
        admin.delete_group(args.group)
    except ZafkaError as exc:
        raise CommandError(f"group {args.group!r} was not deleted: {exc}") from None
    finally:
        _close(admin)
    info(f"deleted group {args.group} and its committed offsets")
    return 0


def groups_reset(args) -> int:
    """kafka-consumer-groups.sh --reset-offsets: a plan first, applied with --execute, only while the
    group has no members (they own their positions)."""
    from wire import Admin, Consumer, TopicPartition
    from wire.errors import ZafkaError

    from . import group_offsets as go

    if args.to_earliest:
        spec = go.ResetSpec(go.EARLIEST)
    elif args.to_latest:
        spec = go.ResetSpec(go.LATEST)
    elif args.to_offset is not None:
        spec = go.ResetSpec(go.OFFSET, args.to_offset)
    elif args.shift_by is not None:
        spec = go.ResetSpec(go.SHIFT, args.shift_by)
    else:
        try:
            spec = go.ResetSpec(go.DATETIME, go.parse_datetime_ms(args.to_datetime))
        except go.ResetError as exc:
            raise cli.UsageError(str(exc)) from None
    admin = Admin(bootstrap=cli.bootstrap(args))
    try:
        d = admin.describe_group(args.group)
        if d.members:
            raise CommandError(f"group {args.group!r} has {len(d.members)} active member(s) (state {d.state}): "
                               "offsets can only be reset while it is inactive; stop its consumers first")
        committed = {tp: o.committed for tp, o in d.offsets.items()}
        topics = sorted({tp.topic for tp in committed}) if args.all_topics else sorted(set(args.topic))
        if not topics:
            raise CommandError(f"group {args.group!r} has no committed offsets: name the topics with --topic")
        bounds = {}
        for topic in topics:
            for p, (start, end) in admin.partition_offsets(topic).items():
                if start < 0 or end < 0:
                    raise CommandError(f"{topic}-{p} has no leader to ask for its offsets; try again shortly")
                bounds[TopicPartition(topic, p)] = (start, end)
        by_time = None
        if spec.kind == go.DATETIME:
            with Consumer(bootstrap=cli.bootstrap(args)) as c:
                by_time = c.offsets_for_times({tp: spec.value for tp in bounds})
        new = go.plan(spec, committed, bounds, by_time)
        rows = [[tp.topic, tp.partition, committed.get(tp, -1) if committed.get(tp, -1) >= 0 else "-", offset]
                for tp, offset in new.items()]
        print(table(rows, ["TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET"], right=(1, 2, 3)))
        if not args.execute:
            info("dry run: nothing changed; add --execute to apply")
            return 0
        admin.alter_group_offsets(args.group, new)
    except ZafkaError as exc:
        raise CommandError(f"group {args.group!r}: {exc}") from None
    finally:
        _close(admin)
    info(f"group {args.group}: {len(new)} committed offset{'s' if len(new) != 1 else ''} reset")
    return 0
