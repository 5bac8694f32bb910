"""``zafka groups reset-offsets``: where a group's offsets go, as kafka-consumer-groups.sh computes it.

Pure: given each partition's committed offset and its bounds (log start, high
watermark), a reset spec gives the new offsets. Every result is clamped into the
bounds, as Kafka's tool does (``--to-offset`` past the end goes to the end,
``--shift-by`` before the start to the start); a partition with nothing committed
shifts from its log start.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import NamedTuple

EARLIEST, LATEST, OFFSET, SHIFT, DATETIME = "earliest", "latest", "offset", "shift", "datetime"


class ResetSpec(NamedTuple):
    kind: str
    value: int = 0  # the offset, the shift, or the datetime in ms since the epoch


class ResetError(ValueError):
    pass


def parse_datetime_ms(text: str) -> int:
    """ISO 8601 (``2026-12-01T10:00:00``, ``...Z``, ``...+01:00``) as ms since the epoch; no zone: UTC."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ResetError(f"--to-datetime {text!r} is not an ISO 8601 date-time, e.g. 2026-12-01T10:00:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def plan(spec: ResetSpec, committed: Mapping, bounds: Mapping, by_time: Mapping | None = None) -> dict:
    """The new offset of every partition in ``bounds`` ({tp: (log start, high watermark)}).

    ``by_time`` ({tp: offset}) is the first offset at or after the datetime, for DATETIME.
    """
    out = {}
    for tp, (start, end) in sorted(bounds.items()):
        if spec.kind == EARLIEST:
            target = start
        elif spec.kind == LATEST:
            target = end
        elif spec.kind == OFFSET:
            target = spec.value
        elif spec.kind == SHIFT:
            current = committed.get(tp)
            target = (start if current is None or current < 0 else current) + spec.value
        elif spec.kind == DATETIME:
            target = (by_time or {}).get(tp, end)
        else:
            raise ResetError(f"unknown reset {spec.kind!r}")
        out[tp] = min(max(target, start), end)
    return out
