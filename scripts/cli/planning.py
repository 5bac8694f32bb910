"""``zafka plan disk|brokers``: read the flags (with units), print inputs, each formula step with its numbers, result.

Flags left out take the course's worked example (``plan.COURSE_DISK``,
``plan.COURSE_BANDWIDTH``), so ``zafka plan disk`` and ``zafka plan brokers`` with
no flags reproduce the notes and every step can be checked against them.
"""

from __future__ import annotations

from . import main as cli
from . import plan
from .output import human_bytes, info
from .sampling import SAMPLE_BYTES_PER_PARTITION


def _num(x: float) -> str:
    """1000000.0 → 1,000,000; 0.5 → 0.5."""
    if float(x).is_integer():
        return f"{int(x):,}"
    return f"{x:,.4g}" if abs(x) < 1000 else f"{x:,.2f}"


def _size(num_bytes: float) -> str:
    """Decimal units without trailing zeros, as the notes write them: 1 TB, 2.8 TB, 3.08 TB, 200 GB."""
    number, unit = human_bytes(num_bytes).split(" ")
    if "." in number:
        number = number.rstrip("0").rstrip(".")
    return f"{number} {unit}"


def _rate(bps: float) -> str:
    return f"{human_bytes(bps)}/s"


def _mbps(bits_per_s: float) -> str:
    v = bits_per_s / 1e6
    return f"{v:,.0f}" if v >= 100 else f"{v:,.1f}" if v >= 1 else f"{v:.3g}"


def _link(bits_per_s: float) -> str:
    for unit, factor in (("Tbps", 1e12), ("Gbps", 1e9), ("Mbps", 1e6), ("kbps", 1e3)):
        if bits_per_s >= factor:
            return f"{bits_per_s / factor:,.4g} {unit}"
    return f"{bits_per_s:g} bps"


def _percent(fraction: float) -> str:
    pct = fraction * 100
    return f"{pct:.0f}%" if abs(pct - round(pct)) < 1e-9 else f"{pct:.4g}%"


def _share(text: str, value: float) -> str:
    """``1/3`` stays ``1/3`` (the notes write it so); everything else as a percentage."""
    return text.strip() if "/" in text else _percent(value)


def _ratio(r: float) -> str:
    return f"{r:.4g}"


def _seconds(s: float) -> str:
    for unit, factor in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= factor and (s / factor).is_integer():
            return f"{_num(s / factor)} {unit} ({_num(s)} s)"
    return f"{_num(s)} s"


# -- disk ----------------------------------------------------------------------------------------

def disk_inputs(args, sample=None) -> tuple[dict, dict[str, str]]:
    """The formula's inputs (flags, else ``sample`` for size and ratio, else the course's) and notes on where from."""
    d = plan.COURSE_DISK
    notes: dict[str, str] = {}
    if args.messages_per_sec is not None:
        per_sec = plan.parse_count(args.messages_per_sec, "--messages-per-sec")
        per_day = per_sec * plan.DAY_S
        notes["messages_per_day"] = f"{_num(per_sec)}/s × 86,400 s"
    else:
        per_day = plan.parse_count(args.messages_per_day or d["messages_per_day"], "--messages-per-day")
    if args.message_size is not None:
        size = plan.parse_size(args.message_size, "--message-size")
    elif sample is not None:
        size = sample.average_record_size
        notes["message_size"] = f"measured on topic {sample.topic}"
    else:
        size = plan.parse_size(d["message_size"], "--message-size")
    if args.compression_ratio is not None:
        ratio = plan.parse_compression_ratio(args.compression_ratio)
        notes["compression_ratio"] = "compressed ÷ uncompressed"
    elif args.uncompressed_over_compressed is not None:
        inverse = plan.parse_fraction(args.uncompressed_over_compressed, "--uncompressed-over-compressed")
        if inverse < 1:
            raise ValueError(
                f"--uncompressed-over-compressed {args.uncompressed_over_compressed!r} is uncompressed ÷ compressed "
                "and cannot be below 1 (e.g. 4 for 4:1); for compressed ÷ uncompressed use --compression-ratio"
            )
        ratio = 1 / inverse
        notes["compression_ratio"] = f"1 ÷ {_ratio(inverse)}, compressed ÷ uncompressed"
    elif sample is not None:
        ratio = sample.stored_over_produced
        notes["compression_ratio"] = f"bytes stored ÷ bytes produced, measured on topic {sample.topic}"
    else:
        ratio = plan.parse_compression_ratio(d["compression_ratio"])
        notes["compression_ratio"] = "compressed ÷ uncompressed"
    inputs = {
        "messages_per_day": per_day,
        "message_size_bytes": size,
        "replicas": args.replicas,
        "retention_days": plan.parse_days(args.retention or d["retention"], "--retention"),
        "index_overhead": plan.parse_fraction(args.index_overhead or d["index_overhead"], "--index-overhead"),
        "compression_ratio": ratio,
        "headroom": plan.parse_fraction(args.headroom or d["headroom"], "--headroom"),
    }
    return inputs, notes


def disk_report(inputs: dict, notes: dict[str, str] | None = None) -> tuple[float, list[str]]:
    notes = notes or {}
    steps = plan.disk_plan(**inputs)

    def note(key: str) -> str:
        return f" ({notes[key]})" if key in notes else ""

    size = inputs["message_size_bytes"]
    ratio = inputs["compression_ratio"]
    headroom = inputs["headroom"]
    days = inputs["retention_days"]
    lines = [
        "inputs (the course's worked example where no flag is given):",
        f"  messages per day     {_num(inputs['messages_per_day'])}{note('messages_per_day')}",
        f"  message size         {_num(size)} bytes ({_size(size)})"
        + (f", {notes['message_size']}" if "message_size" in notes else ""),
        f"  replicas             {inputs['replicas']}",
        f"  retention            {_num(days)} days",
        f"  index overhead       {_percent(inputs['index_overhead'])}",
        f"  compression ratio    {_ratio(ratio)}{note('compression_ratio')}",
    ]
    formula = ("disk = messages/day × message size × replicas × retention days × (1 + index overhead) "
               "× compression ratio")
    if headroom:
        lines.append(f"  headroom             {_percent(headroom)}")
        formula += " × (1 + headroom)"
    lines += [
        "formula:",
        f"  {formula}",
        f"  {_num(inputs['messages_per_day'])} × {_size(size)} × {inputs['replicas']} = "
        f"{_size(steps.replicated_per_day)}/day",
        f"  {_size(steps.replicated_per_day)}/day × {_num(days)} days = {_size(steps.retained)}",
        f"  {_size(steps.retained)} × (1 + {_percent(inputs['index_overhead'])}) = {_size(steps.indexed)}",
        f"  {_size(steps.indexed)} × {_ratio(ratio)} = {_size(steps.compressed)}",
    ]
    if headroom:
        lines.append(f"  {_size(steps.compressed)} × (1 + {_percent(headroom)}) = {_size(steps.total)}")
    lines += [
        "result:",
        f"  disk needed          {_size(steps.total)} ({_num(round(steps.total))} bytes) across the cluster",
    ]
    rounded = plan.round_like_notes(steps.indexed)
    if _size(steps.rough) != _size(steps.total):
        tail = f" × (1 + {_percent(headroom)})" if headroom else ""
        lines.append(
            f"  as the notes round   ≈{_size(rounded)} × {_ratio(ratio)}{tail} ≈ {_size(steps.rough)} "
            f"({_size(steps.indexed)} rounded to one figure first; plan by the exact value)"
        )
    lines.append(f"  ingress (one copy)   {_size(steps.per_day)}/day, {_rate(steps.per_day / plan.DAY_S)} on average")
    return steps.total, lines


def sample_lines(sample, bootstrap: str) -> list[str]:
    codecs = ", ".join(f"{name} ({n})" for name, n in sorted(sample.codecs.items())) or "-"
    extent = "all of it" if sample.complete else f"the first {_size(SAMPLE_BYTES_PER_PARTITION)} of each partition"
    return [
        f"measured on topic {sample.topic} at {bootstrap}: {_num(sample.records)} records in "
        f"{_num(sample.batches)} batches from {sample.partitions} partition{'s' if sample.partitions != 1 else ''} "
        f"({extent}); codecs: {codecs}",
        f"  record bytes         {_num(sample.produced_bytes)} (keys, values, headers: what producers sent) "
        f"→ {_num(sample.average_record_size)} bytes per record",
        f"  stored bytes         {_num(sample.stored_bytes)} (whole batches as the log holds them) "
        f"→ stored ÷ produced {_ratio(sample.stored_over_produced)}",
        f"  codec alone          {_ratio(sample.codec_ratio)} (compressed batches ÷ the same batches uncompressed)",
        "",
    ]


def disk(args) -> int:
    sample = None
    lines: list[str] = []
    if args.from_topic:
        from .sampling import sample_topic

        bootstrap = cli.bootstrap(args)
        sample = sample_topic(bootstrap, args.from_topic)
        lines = sample_lines(sample, bootstrap)
    inputs, notes = disk_inputs(args, sample)
    _, report = disk_report(inputs, notes)
    for line in lines + report:
        info(line)
    return 0


# -- brokers -------------------------------------------------------------------------------------

BANDWIDTH_FLAGS = {"data": "--data", "window": "--window", "link_bandwidth": "--link-bandwidth",
                   "ceiling": "--ceiling", "normal_share": "--normal-share"}
THROUGHPUT_FLAGS = {
    "ingress": "--ingress", "egress": "--egress", "consumer_groups": "--consumer-groups",
    "write_per_broker": "--write-per-broker", "read_per_broker": "--read-per-broker",
    "total_disk": "--total-disk", "disk_per_broker": "--disk-per-broker",
    "messages_per_day": "--messages-per-day", "messages_per_sec": "--messages-per-sec",
    "message_size": "--message-size", "retention": "--retention", "index_overhead": "--index-overhead",
    "compression_ratio": "--compression-ratio", "uncompressed_over_compressed": "--uncompressed-over-compressed",
    "headroom": "--headroom",
}


def _misplaced(args, flags: dict[str, str], model: str, hint: str) -> None:
    given = [flag for dest, flag in flags.items() if getattr(args, dest, None) is not None]
    if given:
        what = f"{given[0]} is a flag" if len(given) == 1 else f"{', '.join(given)} are flags"
        raise cli.UsageError(f"{what} of the {model} model; {hint}")


def brokers(args) -> int:
    if args.model == "bandwidth":
        _misplaced(args, THROUGHPUT_FLAGS, "throughput", "add --model throughput")
        return brokers_bandwidth(args)
    _misplaced(args, BANDWIDTH_FLAGS, "bandwidth", "leave out --model throughput")
    return brokers_throughput(args)


def bandwidth_report(args) -> tuple[plan.BandwidthPlan, list[str]]:
    d = plan.COURSE_BANDWIDTH
    data_text = args.data or d["data"]
    share_text = args.normal_share or d["normal_share"]
    data = plan.parse_size(data_text, "--data")
    window = plan.parse_duration_s(args.window or d["window"], "--window", default_unit="s")
    link = plan.parse_bitrate(args.link_bandwidth or d["link_bandwidth"], "--link-bandwidth")
    ceiling = plan.parse_share(args.ceiling or d["ceiling"], "--ceiling")
    share = plan.parse_share(share_text, "--normal-share")
    rf = args.replicas
    result = plan.brokers_for_bandwidth(data, window, link, ceiling, share, rf)
    lines = [
        "inputs (the course's worked example where no flag is given):",
        f"  data                 {_size(data)} ({_num(data)} bytes)",
        f"  window               {_seconds(window)}",
        f"  link bandwidth       {_link(link)} per broker",
        f"  ceiling              {_percent(ceiling)} of the link at most",
        f"  normal share         {_share(share_text, share)} of that for normal traffic "
        "(the rest: peaks, replicas catching up, other traffic)",
        f"  replicas             {rf}",
        "formula:",
        "  brokers = ⌈data × 8 ÷ window ÷ usable bandwidth⌉ × replicas,"
        "  usable bandwidth = link bandwidth × ceiling × normal share",
        f"  {_size(data)} × 8 ÷ {_num(window)} s = {_mbps(result.needed_bps)} Mbps",
        f"  {_link(link)} × {_percent(ceiling)} × {_share(share_text, share)} = {_mbps(result.usable_bps)} Mbps",
        f"  {_mbps(result.needed_bps)} ÷ {_mbps(result.usable_bps)} = {result.per_copy:,.3g} "
        f"→ {result.per_copy_brokers} broker{'s' if result.per_copy_brokers != 1 else ''} per copy (rounded up)",
        f"  {result.per_copy_brokers} × {rf} replicas = {result.brokers} brokers",
        "result:",
        f"  brokers needed       {result.brokers}",
    ]
    return result, lines


def brokers_bandwidth(args) -> int:
    _, lines = bandwidth_report(args)
    for line in lines:
        info(line)
    return 0


def brokers_throughput(args) -> int:
    rf = args.replicas
    missing = [flag for dest, flag in (("ingress", "--ingress"), ("write_per_broker", "--write-per-broker"))
               if getattr(args, dest) is None]
    if missing:
        raise cli.UsageError(f"--model throughput needs {' and '.join(missing)}")
    ingress = plan.parse_rate(args.ingress, "--ingress")
    groups = args.consumer_groups or 1
    if args.egress is not None:
        egress = plan.parse_rate(args.egress, "--egress")
        egress_note = ""
    else:
        egress = ingress * groups
        egress_note = f" (ingress × {groups} consumer group{'s' if groups != 1 else ''})"
    write = plan.parse_rate(args.write_per_broker, "--write-per-broker")
    read = plan.parse_rate(args.read_per_broker, "--read-per-broker") if args.read_per_broker else None
    total_disk = None
    disk_lines: list[str] = []
    if args.total_disk is not None:
        total_disk = plan.parse_size(args.total_disk, "--total-disk")
    elif args.messages_per_day is not None or args.messages_per_sec is not None:
        inputs, notes = disk_inputs(args)
        total_disk, disk_lines = disk_report(inputs, notes)
    per_broker_disk = plan.parse_size(args.disk_per_broker, "--disk-per-broker") if args.disk_per_broker else None
    if (total_disk is None) != (per_broker_disk is None):
        raise ValueError("the disk term needs both the total disk (--total-disk or the `plan disk` flags) "
                         "and --disk-per-broker")
    result = plan.brokers_needed(ingress, rf, write, egress, read, total_disk, per_broker_disk)

    for line in disk_lines:
        info(line)
    if disk_lines:
        info()
    info("inputs:")
    info(f"  peak ingress         {_rate(ingress)}")
    info(f"  peak egress          {_rate(egress)}{egress_note}")
    info(f"  replication factor   {rf}")
    info(f"  write per broker     {_rate(write)}")
    info(f"  read per broker      {_rate(read) if read is not None else 'not given (read term skipped)'}")
    if total_disk is not None:
        info(f"  total disk           {human_bytes(total_disk)}")
        info(f"  disk per broker      {human_bytes(per_broker_disk)}")
    else:
        info("  disk                 not given (disk term skipped)")
    info("formula:")
    terms = ["ceil(ingress × RF / write per broker)"]
    if "read" in result.terms:
        terms.append("ceil(egress / read per broker)")
    if "disk" in result.terms:
        terms.append("ceil(total disk / disk per broker)")
    terms.append("RF")
    info(f"  brokers = max({', '.join(terms)})")
    info("terms:")
    info(f"  write        ceil({_rate(ingress)} × {rf} / {_rate(write)}) = {result.terms['write']}")
    if "read" in result.terms:
        info(f"  read         ceil({_rate(egress)} / {_rate(read)}) = {result.terms['read']}")
    if "disk" in result.terms:
        info(f"  disk         ceil({human_bytes(total_disk)} / {human_bytes(per_broker_disk)}) "
             f"= {result.terms['disk']}")
    info(f"  replication  RF = {result.terms['replication']}")
    info("result:")
    info(f"  brokers needed       {result.brokers} (set by {', '.join(result.binding)})")
    return 0
