"""Capacity planning: the course's disk and broker-count formulas, as pure functions.

Disk (the course's worked example: 1亿 messages/day of 1 KB, 2 replicas, 14 days,
10 % index overhead, compression ratio 0.75)::

    disk = messages/day × message size × replicas × retention days
           × (1 + index overhead) × compression ratio [× (1 + headroom)]

    1e8 × 1 KB × 2 = 200 GB/day; × 14 days = 2.8 TB; × 1.1 = 3.08 TB; × 0.75 = 2.31 TB

The compression ratio is the notes' own: compressed ÷ uncompressed (0.75 means the
data shrinks to three quarters). The notes round 3.08 TB to "≈3 TB" before
compressing and so arrive at 2.25 TB; :func:`disk_plan` keeps the exact value as
the answer (rounding 3.08 down to 3 would under-buy disk by 2.6 %) and gives the
notes' rounded figure beside it (``DiskPlan.rough``), so both can be compared.

Brokers, bandwidth model (the course's: 1 TB to take in within 1 h, 1 Gbps links
used up to 70 %, a third of that for normal traffic, 3 replicas)::

    usable = link bandwidth × ceiling × normal share          1 Gbps × 70 % × 1/3 = 233 Mbps
    needed = data × 8 ÷ window                                1 TB × 8 ÷ 3600 s = 2,222 Mbps
    brokers = ⌈needed ÷ usable⌉ × replicas                    ⌈9.52⌉ = 10, × 3 = 30

Units are decimal throughout (1 TB = 10¹² bytes, 1 Gbps = 10⁹ bit/s, as disks and
links are sold). The notes count 1 TB as 1024 × 1024 MB (8,388,608 Mb ÷ 3600 s ≈
2,330 Mbps) and round 233 Mbps to ≈240; either way the answer is 30, because the
brokers for one copy are rounded up before multiplying by the replicas, as the
notes do (``⌈x⌉ × r`` is never less than ``⌈x × r⌉``: it errs towards capacity).

Brokers, throughput model::

    brokers = max( ceil(peak ingress × RF / per-broker write throughput),
                   ceil(peak egress / per-broker read throughput),
                   ceil(total disk / per-broker disk),
                   RF )

Ingress is multiplied by the replication factor because every byte produced is
written RF times (once by the leader, once by each follower); egress is what the
consumers read. At least RF brokers are needed to place RF replicas at all.

Units: sizes are decimal (``1KB`` = 1000 bytes, ``2TB`` = 2·10¹² bytes);
``KiB``/``MiB``/``GiB``/``TiB`` are binary. Byte rates take ``/s`` (``50MB/s``); bit
rates ``bps`` (``1Gbps``, ``100Mbit/s``). Durations take ``ms``, ``s``, ``m``,
``min``, ``h``, ``d``, ``w`` (``7d``, ``168h``). Counts take ``k``, ``M``/``m``,
``G``/``B`` (``1.5M`` messages), ``亿`` (10⁸) and ``万`` (10⁴), commas and ``1e6``.
Fractions take ``0.7``, ``70%`` or ``1/3``.
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
COUNT_UNITS = {"": 1, "k": 10**3, "m": 10**6, "mm": 10**6, "g": 10**9, "b": 10**9, "bn": 10**9, "t": 10**12,
               "万": 10**4, "亿": 10**8}
BIT_PREFIXES = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12,
                "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}
DAY_S = 86400

# The course's worked examples: what `zafka plan disk` and `zafka plan brokers` assume for flags not given.
COURSE_DISK = {
    "messages_per_day": "100M", "message_size": "1KB", "replicas": 2, "retention": "14d",
    "index_overhead": "10%", "compression_ratio": "0.75", "headroom": "0",
}
COURSE_BANDWIDTH = {
    "data": "1TB", "window": "1h", "link_bandwidth": "1Gbps", "ceiling": "70%", "normal_share": "1/3", "replicas": 3,
}

_NUMBER = r"([0-9][0-9_,]*(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?)"
_QUANTITY = re.compile(r"^\s*" + _NUMBER + r"\s*([A-Za-z万亿]*)\s*$")
_BITRATE = re.compile(r"^\s*" + _NUMBER + r"\s*([kKmMgGtT]i?)?(bps|bit/s|bits/s|b/s|Bps|B/s|byte/s|bytes/s)?\s*$")


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


def _scaled(text: str | float, what: str, units: dict, example: str, allowed: str, default_unit: str = "",
            noun: str = "unit") -> float:
    """A non-negative number with an optional unit from ``units``, scaled by it (sizes, durations, counts)."""
    if isinstance(text, (int, float)):
        value, unit = float(text), ""
    else:
        value, unit = _split(text, what, example)
    factor = units.get((unit or default_unit).lower())
    if factor is None:
        raise ValueError(f"{what} {text!r}: unknown {noun} {unit!r} (use {allowed})")
    if value < 0:
        raise ValueError(f"{what} {text!r} must not be negative")
    return value * factor


def parse_size(text: str | float, what: str = "size") -> float:
    """``1KB`` → 1000.0, ``2TB`` → 2e12, ``1MiB`` → 1048576.0, ``512`` → 512.0 (bytes)."""
    return _scaled(text, what, SIZE_UNITS, "1KB, 500MB, 2TB, 1MiB", "B, KB, MB, GB, TB or KiB, MiB, GiB, TiB")


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
    return _scaled(text, what, DURATION_UNITS_S, "7d, 168h, 1w, 3600000ms", "ms, s, m, h, d or w", default_unit)


def parse_days(text: str | float, what: str = "retention") -> float:
    return parse_duration_s(text, what, default_unit="d") / DAY_S


def parse_count(text: str | float, what: str = "count") -> float:
    """``1M`` → 1e6, ``250k``, ``1,000,000``, ``1e9``, ``2B`` (billion)."""
    return _scaled(text, what, COUNT_UNITS, "1000000, 1M, 250k, 1e9", "k, M or B", noun="suffix")


def parse_bitrate(text: str | float, what: str = "bandwidth") -> float:
    """A link speed in bits/s: ``1Gbps`` → 1e9, ``100Mbit/s``, ``10G``; byte rates (``125MB/s``) × 8.

    ``b`` is a bit and ``B`` a byte, as network gear writes them; prefixes are
    decimal (``Gi`` for binary).
    """
    if isinstance(text, (int, float)):
        value, prefix, unit = float(text), "", "bps"
    else:
        m = _BITRATE.match(str(text))
        if not m:
            raise ValueError(f"{what} {text!r} is not a bit rate (e.g. 1Gbps, 100Mbps, 10Gbit/s, 125MB/s)")
        value, _ = _split(m.group(1), what, "1Gbps, 100Mbps")
        prefix, unit = (m.group(2) or ""), (m.group(3) or "bps")
    if value < 0:
        raise ValueError(f"{what} {text!r} must not be negative")
    bits = value * BIT_PREFIXES[prefix.lower()]
    return bits * 8 if unit[0] == "B" else bits


def parse_fraction(text: str | float, what: str = "headroom") -> float:
    """``0.2``, ``20%`` → 0.2; ``1/3`` → 0.333…"""
    raw = str(text).strip()
    try:
        if raw.endswith("%"):
            value = float(raw[:-1]) / 100
        elif "/" in raw:
            num, den = raw.split("/", 1)
            value = float(num) / float(den)
        else:
            value = float(raw)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"{what} {text!r} is not a fraction (e.g. 0.2, 20% or 1/3)") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} {text!r} must be a fraction >= 0 (e.g. 0.2, 20% or 1/3)")
    return value


def parse_share(text: str | float, what: str) -> float:
    """A fraction of something that exists: more than 0, at most all of it."""
    value = parse_fraction(text, what)
    if not 0 < value <= 1:
        raise ValueError(f"{what} {text!r} must be more than 0 and at most 1 (e.g. 70% or 1/3)")
    return value


def parse_compression_ratio(text: str | float, what: str = "--compression-ratio") -> float:
    """The notes' compressed ÷ uncompressed: more than 0, at most 1.

    Above 1 is refused rather than taken: it is almost certainly the inverse
    (uncompressed ÷ compressed, which this flag meant before), and taking it would
    multiply the disk instead of shrinking it.
    """
    value = parse_fraction(text, what)
    if value <= 0:
        raise ValueError(f"{what} {text!r} must be more than 0 (compressed ÷ uncompressed, e.g. 0.75)")
    if value > 1:
        raise ValueError(
            f"{what} {text!r} is compressed ÷ uncompressed and cannot exceed 1 (e.g. 0.75); "
            f"for uncompressed ÷ compressed use --uncompressed-over-compressed {text}"
        )
    return value


# -- formulas ---------------------------------------------------------------------------

def round_like_notes(x: float) -> float:
    """One significant figure, as the notes round 3.08 TB to ≈3 TB."""
    if x <= 0:
        return x
    exponent = math.floor(math.log10(x))
    return round(x / 10**exponent) * 10**exponent


@dataclass
class DiskPlan:
    """Each step of the course's disk formula, in bytes, so the output can show every one."""

    per_day: float  # messages/day × message size (one copy)
    replicated_per_day: float  # × replicas
    retained: float  # × retention days
    indexed: float  # × (1 + index overhead)
    compressed: float  # × compression ratio
    total: float  # × (1 + headroom): the answer
    rough: float  # the notes' way: ``indexed`` rounded to one figure first


def disk_plan(messages_per_day: float, message_size_bytes: float, replicas: int, retention_days: float,
              index_overhead: float = 0.0, compression_ratio: float = 1.0, headroom: float = 0.0) -> DiskPlan:
    """The course's disk formula, step by step; ``compression_ratio`` is compressed ÷ uncompressed."""
    if replicas < 1:
        raise ValueError("replicas must be at least 1")
    if compression_ratio <= 0:
        raise ValueError("compression ratio must be > 0 (compressed size ÷ uncompressed size)")
    if min(messages_per_day, message_size_bytes, retention_days, index_overhead, headroom) < 0:
        raise ValueError("messages per day, message size, retention, index overhead and headroom "
                         "must not be negative")
    per_day = messages_per_day * message_size_bytes
    replicated = per_day * replicas
    retained = replicated * retention_days
    indexed = retained * (1 + index_overhead)
    compressed = indexed * compression_ratio
    total = compressed * (1 + headroom)
    rough = round_like_notes(indexed) * compression_ratio * (1 + headroom)
    return DiskPlan(per_day, replicated, retained, indexed, compressed, total, rough)


def disk_bytes(messages_per_day: float, message_size_bytes: float, replicas: int, retention_days: float,
               index_overhead: float = 0.0, compression_ratio: float = 1.0, headroom: float = 0.0) -> float:
    """Total disk the cluster needs, in bytes (see :func:`disk_plan`)."""
    return disk_plan(messages_per_day, message_size_bytes, replicas, retention_days, index_overhead,
                     compression_ratio, headroom).total


def _ceil(x: float) -> int:
    # 3.0000000000000004 is 3 brokers, not 4: float noise must not cost a machine
    return math.ceil(round(x, 9))


@dataclass
class BandwidthPlan:
    needed_bps: float  # data × 8 ÷ window
    usable_bps: float  # link × ceiling × normal share
    per_copy: float  # needed ÷ usable, before rounding
    per_copy_brokers: int  # rounded up
    brokers: int  # × replicas


def brokers_for_bandwidth(data_bytes: float, window_s: float, link_bps: float, ceiling: float,
                          normal_share: float, replicas: int) -> BandwidthPlan:
    """The course's bandwidth model: enough brokers that normal traffic stays within its share of each link."""
    if replicas < 1:
        raise ValueError("replicas must be at least 1")
    if window_s <= 0:
        raise ValueError("the window must be longer than 0 s")
    if link_bps <= 0:
        raise ValueError("the link bandwidth must be more than 0")
    if not (0 < ceiling <= 1 and 0 < normal_share <= 1):
        raise ValueError("ceiling and normal share must be more than 0 and at most 1")
    if data_bytes < 0:
        raise ValueError("data must not be negative")
    needed = data_bytes * 8 / window_s
    usable = link_bps * ceiling * normal_share
    per_copy = needed / usable
    per_copy_brokers = max(_ceil(per_copy), 1)
    return BandwidthPlan(needed, usable, per_copy, per_copy_brokers, per_copy_brokers * replicas)


@dataclass
class BrokerPlan:
    brokers: int
    terms: dict[str, int] = field(default_factory=dict)  # name -> brokers that term alone needs
    binding: list[str] = field(default_factory=list)  # the terms that set the result


def brokers_needed(ingress_bps: float, replication_factor: int, write_per_broker_bps: float,
                   egress_bps: float = 0.0, read_per_broker_bps: float | None = None,
                   total_disk_bytes: float | None = None, disk_per_broker_bytes: float | None = None) -> BrokerPlan:
    """Brokers needed by the throughput model: the largest of the write, read, disk and replication constraints.

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
