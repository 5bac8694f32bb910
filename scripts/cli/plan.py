"""Capacity planning: the course's disk and broker-count formulas, as pure functions.

Disk::

    disk = messages/day × average message size × retention (days) × replication factor
           × (1 + headroom) [÷ compression ratio]

Brokers::

    brokers = max( ceil(peak ingress × RF / per-broker write throughput),
                   ceil(peak egress / per-broker read throughput),
                   ceil(total disk / per-broker disk),
                   RF )

Ingress is multiplied by the replication factor because every byte produced is
written RF times (once by the leader, once by each follower); egress is what the
consumers read. At least RF brokers are needed to place RF replicas at all.

Units: sizes are decimal (``1KB`` = 1000 bytes, ``2TB`` = 2·10¹² bytes, as disks are
sold); ``KiB``/``MiB``/``GiB``/``TiB`` are binary. Rates take ``/s`` (``50MB/s``).
Durations take ``ms``, ``s``, ``m``, ``min``, ``h``, ``d``, ``w`` (``7d``, ``168h``).
Counts take ``k``, ``M``/``m``, ``G``/``B`` (``1.5M`` messages), commas and ``1e6``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

# -- units ------------------------------------------------------------------------------

SIZE_UNITS = {
    "": 1, "b": 1, "byte": 1, "bytes": 1,
    "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
    "t": 10**12, "tb": 10**12, "p": 10**15, "pb": 10**15,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "pib": 2**50,
}
DURATION_UNITS_S = {
    "ms": 0.001, "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400, "w": 7 * 86400, "week": 7 * 86400, "weeks": 7 * 86400,
}
COUNT_UNITS = {"": 1, "k": 10**3, "m": 10**6, "mm": 10**6, "g": 10**9, "b": 10**9, "bn": 10**9, "t": 10**12}
DAY_S = 86400

_NUMBER = r"([0-9][0-9_,]*(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?)"
_QUANTITY = re.compile(r"^\s*" + _NUMBER + r"\s*([A-Za-z]*)\s*$")


def _split(text: str, what: str, example: str) -> tuple[float, str]:
    m = _QUANTITY.match(str(text))
    if not m:
        raise ValueError(f"{what} {text!r} is not a number with an optional unit (e.g. {example})")
    number = m.group(1).replace(",", "").replace("_", "")
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"{what} {text!r} is not a number with an optional unit (e.g. {example})") from None
    if not math.isfinite(value):
        raise ValueError(f"{what} {text!r} must be finite")
    return value, m.group(2)


def parse_size(text: str | float, what: str = "size") -> float:
    """``1KB`` → 1000.0, ``2TB`` → 2e12, ``1MiB`` → 1048576.0, ``512`` → 512.0 (bytes)."""
    if isinstance(text, (int, float)):
        value, unit = float(text), ""
    else:
        value, unit = _split(text, what, "1KB, 500MB, 2TB, 1MiB")
    factor = SIZE_UNITS.get(unit.lower())
    if factor is None:
        raise ValueError(f"{what} {text!r}: unknown unit {unit!r} (use B, KB, MB, GB, TB or KiB, MiB, GiB, TiB)")
    if value < 0:
        raise ValueError(f"{what} {text!r} must not be negative")
    return value * factor


def parse_rate(text: str | float, what: str = "rate") -> float:
    """A throughput in bytes/s: ``50MB/s``, ``50MB``, ``400MiB/s``, ``1GB/sec``."""
    if isinstance(text, (int, float)):
        return parse_size(text, what)
    raw = str(text).strip()
    for suffix in ("/sec", "/s", "ps"):
        if raw.lower().endswith(suffix):
            raw = raw[: -len(suffix)]
            break
    return parse_size(raw, what)


def parse_duration_s(text: str | float, what: str = "duration", default_unit: str = "d") -> float:
    """``7d`` → 604800.0 s, ``168h``, ``1w``, ``3600000ms``; a bare number is in ``default_unit``."""
    if isinstance(text, (int, float)):
        value, unit = float(text), ""
    else:
        value, unit = _split(text, what, "7d, 168h, 1w, 3600000ms")
    factor = DURATION_UNITS_S.get((unit or default_unit).lower())
    if factor is None:
        raise ValueError(f"{what} {text!r}: unknown unit {unit!r} (use ms, s, m, h, d or w)")
    if value < 0:
        raise ValueError(f"{what} {text!r} must not be negative")
    return value * factor


def parse_days(text: str | float, what: str = "retention") -> float:
    return parse_duration_s(text, what, default_unit="d") / DAY_S


def parse_count(text: str | float, what: str = "count") -> float:
    """``1M`` → 1e6, ``250k``, ``1,000,000``, ``1e9``, ``2B`` (billion)."""
    if isinstance(text, (int, float)):
        value, unit = float(text), ""
    else:
        value, unit = _split(text, what, "1000000, 1M, 250k, 1e9")
    factor = COUNT_UNITS.get(unit.lower())
    if factor is None:
        raise ValueError(f"{what} {text!r}: unknown suffix {unit!r} (use k, M or B)")
    if value < 0:
        raise ValueError(f"{what} {text!r} must not be negative")
    return value * factor


def parse_fraction(text: str | float, what: str = "headroom") -> float:
    """``0.2``, ``20%`` → 0.2."""
    raw = str(text).strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ValueError(f"{what} {text!r} is not a fraction (e.g. 0.2 or 20%)") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} {text!r} must be a fraction >= 0 (e.g. 0.2 or 20%)")
    return value


# -- formulas ---------------------------------------------------------------------------

def disk_bytes(messages_per_day: float, message_size_bytes: float, retention_days: float,
               replication_factor: int, headroom: float = 0.0, compression_ratio: float = 1.0) -> float:
    """Total disk the cluster needs, in bytes.

    ``compression_ratio`` is uncompressed ÷ compressed (2.0: batches shrink to half).
    """
    if replication_factor < 1:
        raise ValueError("replication factor must be at least 1")
    if compression_ratio <= 0:
        raise ValueError("compression ratio must be > 0 (uncompressed size / compressed size)")
    if min(messages_per_day, message_size_bytes, retention_days, headroom) < 0:
        raise ValueError("messages per day, message size, retention and headroom must not be negative")
    return (messages_per_day * message_size_bytes * retention_days * replication_factor
            * (1 + headroom) / compression_ratio)


def _ceil(x: float) -> int:
    # 3.0000000000000004 is 3 brokers, not 4: float noise must not cost a machine
    return math.ceil(round(x, 9))


@dataclass
class BrokerPlan:
    brokers: int
    terms: dict[str, int] = field(default_factory=dict)  # name -> brokers that term alone needs
    binding: list[str] = field(default_factory=list)  # the terms that set the result


def brokers_needed(ingress_bps: float, replication_factor: int, write_per_broker_bps: float,
                   egress_bps: float = 0.0, read_per_broker_bps: float | None = None,
                   total_disk_bytes: float | None = None, disk_per_broker_bytes: float | None = None) -> BrokerPlan:
    """Brokers needed: the largest of the write, read, disk and replication constraints.

    The read and disk terms are left out when their inputs are not given.
    """
    if replication_factor < 1:
        raise ValueError("replication factor must be at least 1")
    if write_per_broker_bps <= 0:
        raise ValueError("per-broker write throughput must be > 0")
    if ingress_bps < 0 or egress_bps < 0:
        raise ValueError("ingress and egress must not be negative")
    terms = {"write": _ceil(ingress_bps * replication_factor / write_per_broker_bps)}
    if read_per_broker_bps is not None:
        if read_per_broker_bps <= 0:
            raise ValueError("per-broker read throughput must be > 0")
        terms["read"] = _ceil(egress_bps / read_per_broker_bps)
    if total_disk_bytes is not None and disk_per_broker_bytes is not None:
        if disk_per_broker_bytes <= 0:
            raise ValueError("disk per broker must be > 0")
        terms["disk"] = _ceil(total_disk_bytes / disk_per_broker_bytes)
    terms["replication"] = replication_factor
    result = max(terms.values())
    return BrokerPlan(brokers=result, terms=terms, binding=[k for k, v in terms.items() if v == result])
