"""``zafka plan disk|brokers``: read the flags (with units), print inputs, formula and result."""

from __future__ import annotations

from . import plan
from .output import human_bytes, info


def _num(x: float) -> str:
    """1000000.0 → 1,000,000; 0.5 → 0.5."""
    if float(x).is_integer():
        return f"{int(x):,}"
    return f"{x:,.4g}" if abs(x) < 1000 else f"{x:,.2f}"


def _rate(bps: float) -> str:
    return f"{human_bytes(bps)}/s"


def disk_inputs(args) -> dict:
    if args.messages_per_day is not None:
        per_day = plan.parse_count(args.messages_per_day, "--messages-per-day")
    else:
        per_day = plan.parse_count(args.messages_per_sec, "--messages-per-sec") * plan.DAY_S
    return {
        "messages_per_day": per_day,
        "message_size_bytes": plan.parse_size(args.message_size, "--message-size"),
        "retention_days": plan.parse_days(args.retention, "--retention"),
        "replication_factor": args.replication_factor,
        "headroom": plan.parse_fraction(args.headroom, "--headroom"),
        "compression_ratio": args.compression_ratio if args.compression_ratio is not None else 1.0,
    }


def disk_report(inputs: dict, compression_given: bool) -> tuple[float, list[str]]:
    total = plan.disk_bytes(**inputs)
    size = inputs["message_size_bytes"]
    lines = [
        "inputs:",
        f"  messages per day     {_num(inputs['messages_per_day'])}",
        f"  average message size {_num(size)} bytes ({human_bytes(size)})",
        f"  retention            {_num(inputs['retention_days'])} days",
        f"  replication factor   {inputs['replication_factor']}",
        f"  headroom             {inputs['headroom']:.0%}",
    ]
    formula = "disk = messages/day × message size × retention days × replication factor × (1 + headroom)"
    numbers = (f"     = {_num(inputs['messages_per_day'])} × {_num(inputs['message_size_bytes'])} B × "
               f"{_num(inputs['retention_days'])} × {inputs['replication_factor']} × {1 + inputs['headroom']:g}")
    if compression_given:
        lines.append(f"  compression ratio    {inputs['compression_ratio']:g} (uncompressed ÷ compressed)")
        formula += " ÷ compression ratio"
        numbers += f" ÷ {inputs['compression_ratio']:g}"
    per_day_bytes = inputs["messages_per_day"] * inputs["message_size_bytes"]
    lines += [
        "formula:",
        f"  {formula}",
        f"  {numbers}",
        "result:",
        f"  ingress (one copy)   {human_bytes(per_day_bytes)}/day, {_rate(per_day_bytes / plan.DAY_S)} on average",
        f"  disk needed          {human_bytes(total)} ({_num(round(total))} bytes) across the cluster",
    ]
    return total, lines


def disk(args) -> int:
    _, lines = disk_report(disk_inputs(args), args.compression_ratio is not None)
    for line in lines:
        info(line)
    return 0


def brokers(args) -> int:
    rf = args.replication_factor
    ingress = plan.parse_rate(args.ingress, "--ingress")
    if args.egress is not None:
        egress = plan.parse_rate(args.egress, "--egress")
        egress_note = ""
    else:
        egress = ingress * args.consumer_groups
        egress_note = f" (ingress × {args.consumer_groups} consumer group{'s' if args.consumer_groups != 1 else ''})"
    write = plan.parse_rate(args.write_per_broker, "--write-per-broker")
    read = plan.parse_rate(args.read_per_broker, "--read-per-broker") if args.read_per_broker else None
    total_disk = None
    disk_lines: list[str] = []
    if args.total_disk is not None:
        total_disk = plan.parse_size(args.total_disk, "--total-disk")
    elif args.messages_per_day is not None or args.messages_per_sec is not None:
        if args.message_size is None or args.retention is None:
            raise ValueError("to compute the disk, give --message-size and --retention too (or --total-disk)")
        total_disk, disk_lines = disk_report(disk_inputs(args), args.compression_ratio is not None)
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
