"""``zafka producers describe``: the idempotent producers each partition's leader remembers.

Kafka's ``kafka-transactions.sh describe-producers``, for every partition of a
topic at once: what the leader would dedupe a retry against, and how long ago each
producer last wrote (``producer.id.expiration.ms`` forgets it after that).
"""

from __future__ import annotations

import time

from . import main as cli
from .output import info, table

HEADERS = ("PARTITION", "PRODUCER-ID", "EPOCH", "LAST-SEQUENCE", "LAST-OFFSET", "LAST-WRITE")


def _ago(timestamp_ms: int, now_ms: int) -> str:
    if timestamp_ms < 0:
        return "-"
    return f"{max(now_ms - timestamp_ms, 0) / 1000:.1f} s ago"


def describe(args) -> int:
    from wire import Admin

    admin = Admin(bootstrap=cli.bootstrap(args))
    try:
        by_partition = admin.describe_producers(args.topic, None if args.partition is None else [args.partition])
    finally:
        admin.close()
    now_ms = int(time.time() * 1000)
    rows = [(p, s.producer_id, s.producer_epoch, s.last_sequence, s.last_offset, _ago(s.last_timestamp, now_ms))
            for p, states in sorted(by_partition.items()) for s in states]
    if not rows:
        info(f"no idempotent producer has written to {args.topic}"
             + (f"-{args.partition}" if args.partition is not None else "") + " (or they expired)")
        return 0
    print(table(rows, HEADERS, right=(0, 1, 2, 3, 4)))
    return 0
