"""``zafka perf produce|consume|e2e``: Kafka's performance tools, same flags and same output.

* ``produce`` follows ``kafka-producer-perf-test`` (ProducerPerformance): latency is
  send() → callback, sampled into at most ~500k values for the percentiles; a progress
  line every ``--reporting-interval`` and a final summary; ``--throughput`` throttles.
* ``consume`` follows ``kafka-consumer-perf-test``: the CSV header and line, plus a
  plain summary.
* ``e2e`` follows ``EndToEndLatency``: send one record, wait until the consumer sees
  it, repeat; progress every 1000 records, then the average and percentiles.

The hot loop of ``produce`` is kept lean: one bound ``send``, one ``functools.partial``
as the callback (C-level, no closure per record), no per-record future waits.
"""

from __future__ import annotations

import operator
import random
import sys
import threading
import time
from datetime import datetime
from functools import partial

from . import main as cli
from .output import CommandError
from .clients import _acks, topic_partitions
from .topics import _close

MB = 1024 * 1024  # Kafka's perf tools divide by 1024*1024


def payload(size: int, seed: int | None = None) -> bytes:
    """Random upper-case letters, as ProducerPerformance generates them."""
    rnd = random.Random(seed)
    return bytes(rnd.choices(range(65, 91), k=size))


def percentiles(values: list[float], ps=(0.5, 0.95, 0.99, 0.999)) -> list[float]:
    """Kafka's way: sort, take the value at index ``int(p × n)``."""
    if not values:
        return [0.0 for _ in ps]
    ordered = sorted(values)
    n = len(ordered)
    return [ordered[min(int(p * n), n - 1)] for p in ps]


def _print(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# -- produce ------------------------------------------------------------------------------------

class ProduceStats:
    """ProducerPerformance.Stats: a window for progress lines, totals and sampled latencies.

    ``done`` runs on the producer's sender thread, once per record.
    """

    def __init__(self, num_records: int, record_size: int, reporting_interval_ms: int, out=_print):
        self.record_size = record_size
        self.start = time.monotonic()
        self.sampling = max(1, num_records // 500_000)
        self.latencies: list[float] = []
        self.iteration = 0
        self.count = 0
        self.bytes = 0
        self.total_latency = 0.0
        self.max_latency = 0.0
        self.reporting_interval = reporting_interval_ms / 1000
        self.window_start = self.start
        self.window_count = 0
        self.window_total = 0.0
        self.window_max = 0.0
        self.failed = 0
        self.first_error: BaseException | None = None
        self.out = out
        self.lock = threading.Lock()

    def done(self, sent_at: float, metadata, error) -> None:
        now = time.monotonic()
        if error is not None:
            self.failed += 1
            if self.first_error is None:
                self.first_error = error
            return
        latency = (now - sent_at) * 1000
        self.count += 1
        self.total_latency += latency
        if latency > self.max_latency:
            self.max_latency = latency
        self.window_count += 1
        self.window_total += latency
        if latency > self.window_max:
            self.window_max = latency
        if self.iteration % self.sampling == 0:
            self.latencies.append(latency)
        self.iteration += 1
        if now - self.window_start >= self.reporting_interval:
            self.print_window(now)

    def print_window(self, now: float) -> None:
        elapsed = max(now - self.window_start, 1e-9)
        n = self.window_count
        rate = n / elapsed
        self.out(f"{n} records sent, {rate:.1f} records/sec ({rate * self.record_size / MB:.2f} MB/sec), "
                 f"{self.window_total / max(n, 1):.1f} ms avg latency, {self.window_max:.1f} ms max latency.")
        self.window_start = now
        self.window_count = 0
        self.window_total = 0.0
        self.window_max = 0.0

    def summary(self, end: float | None = None) -> str:
        elapsed = max((end or time.monotonic()) - self.start, 1e-9)
        rate = self.count / elapsed
        p50, p95, p99, p999 = percentiles(self.latencies)
        return (f"{self.count} records sent, {rate:.1f} records/sec ({rate * self.record_size / MB:.2f} MB/sec), "
                f"{self.total_latency / max(self.count, 1):.2f} ms avg latency, {self.max_latency:.2f} ms max latency, "
                f"{p50:.0f} ms 50th, {p95:.0f} ms 95th, {p99:.0f} ms 99th, {p999:.0f} ms 99.9th.")


class Throttle:
    """Kafka's ThroughputThrottler: sleep whenever we are ahead of ``target`` records/sec."""

    def __init__(self, target: float, start: float):
        self.target = target
        self.start = start

    def wait(self, sent: int) -> None:
        if self.target <= 0:
            return
        ahead = self.start + sent / self.target - time.monotonic()
        if ahead > 0.001:
            time.sleep(ahead)


def in_flight_window(record_size: int) -> int:
    """How many records ``perf produce`` lets run ahead of their acknowledgements.

    Unbounded, the sending loop fills the producer's whole buffer (32 MB, some
    200,000 small records) while starving the sender thread of the GIL: throughput
    halves and every latency becomes queueing time. About 8 MB ahead keeps the
    pipeline full (at most 10,000 and at least 1,000 records).
    """
    return max(1000, min(10_000, (8 << 20) // (record_size + 70)))


def produce(args) -> int:
    from wire import Producer

    bootstrap = cli.bootstrap(args)
    value = payload(args.record_size)
    producer = Producer(bootstrap=bootstrap, acks=_acks(args.acks), compression=args.compression,
                        batch_size=args.batch_size, linger_ms=args.linger_ms,
                        enable_idempotence=args.idempotence)
    _print(f"perf produce: bootstrap={bootstrap} topic={args.topic} num-records={args.num_records} "
           f"record-size={args.record_size} throughput={args.throughput} acks={args.acks} "
           f"idempotence={'on' if producer.enable_idempotence else 'off'} "
           f"compression={args.compression} batch-size={args.batch_size} linger-ms={args.linger_ms} "
           f"reporting-interval={args.reporting_interval}ms")
    stats = ProduceStats(args.num_records, args.record_size, args.reporting_interval)
    throttle = Throttle(args.throughput, stats.start) if args.throughput > 0 else None
    window = in_flight_window(args.record_size)
    send = producer.send
    done = stats.done
    clock = time.monotonic
    sleep = time.sleep
    topic = args.topic
    sent = 0
    try:
        for sent in range(1, args.num_records + 1):
            send(topic, value, callback=partial(done, clock()))
            if throttle is not None:
                throttle.wait(sent)
            if not sent & 255:
                if stats.first_error is not None:
                    break
                # far ahead of the acknowledgements: let the sender thread have the GIL
                while sent - stats.count - stats.failed > window:
                    sleep(0.0005)
        producer.flush()
    finally:
        producer.close(timeout=5)  # after flush() this is immediate; on Ctrl-C or an error it bounds the wait
    end = clock()
    _print(stats.summary(end))
    if stats.failed:
        raise CommandError(f"{stats.failed} of {sent} records failed: {stats.first_error}")
    return 0


# -- consume ---------------------------------------------------------------------------------

_value = operator.itemgetter(4)
_key = operator.itemgetter(3)


def _timestamp(t: float) -> str:
    return datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S:") + f"{int(t * 1000) % 1000:03d}"


def consume(args) -> int:
    from wire import Consumer, TopicPartition

    bootstrap = cli.bootstrap(args)
    _print(f"perf consume: bootstrap={bootstrap} topic={args.topic} messages={args.messages} "
           f"from-beginning={str(args.from_beginning).lower()} timeout-ms={args.timeout_ms} "
           f"max-records={args.max_records}")
    consumer = Consumer(bootstrap=bootstrap, group_id=None,
                        auto_offset_reset="earliest" if args.from_beginning else "latest",
                        enable_auto_commit=False, allow_auto_create_topics=False)
    count = 0
    size = 0
    try:
        parts = topic_partitions(consumer, args.topic)
        consumer.assign([TopicPartition(args.topic, p) for p in parts])
        start_wall = time.time()
        start = time.monotonic()
        last_record = start
        first_record = None
        window_start, window_count, window_bytes = start, 0, 0
        interval = args.reporting_interval / 1000
        timed_out = False
        while count < args.messages:
            records = consumer.poll(timeout_ms=min(1000, args.timeout_ms), max_records=args.max_records)
            now = time.monotonic()
            if records:
                if first_record is None:
                    first_record = now
                last_record = now
                n = len(records)
                b = sum(map(len, filter(None, map(_value, records)))) + sum(map(len, filter(None, map(_key, records))))
                count += n
                size += b
                window_count += n
                window_bytes += b
            elif now - last_record >= args.timeout_ms / 1000:
                timed_out = True
                break
            if now - window_start >= interval:
                el = max(now - window_start, 1e-9)
                _print(f"{count} records consumed, {window_count / el:.1f} records/sec "
                       f"({window_bytes / MB / el:.2f} MB/sec)")
                window_start, window_count, window_bytes = now, 0, 0
        end = last_record if timed_out else time.monotonic()
        end_wall = start_wall + (end - start)
    finally:
        _close(consumer)
    elapsed = max(end - start, 1e-9)
    fetch_elapsed = max(end - (first_record or start), 1e-9)
    mb_total = size / MB
    _print("start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, "
           "rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec")
    _print(f"{_timestamp(start_wall)}, {_timestamp(end_wall)}, {mb_total:.4f}, {mb_total / elapsed:.4f}, {count}, "
           f"{count / elapsed:.4f}, 0, {fetch_elapsed * 1000:.0f}, {mb_total / fetch_elapsed:.4f}, "
           f"{count / fetch_elapsed:.4f}")
    _print(f"{count} records consumed ({mb_total:.2f} MB) in {elapsed:.2f} s: {count / elapsed:.1f} records/sec "
           f"({mb_total / elapsed:.2f} MB/sec); fetch time {fetch_elapsed * 1000:.0f} ms")
    if count < args.messages:
        raise CommandError(f"exiting before consuming the expected number of messages ({count} of "
                           f"{args.messages}): no record for {args.timeout_ms} ms; raise --timeout-ms or "
                           "produce more")
    return 0


# -- end-to-end latency ---------------------------------------------------------------------------

def e2e(args) -> int:
    from wire import Consumer, Producer, TopicPartition

    bootstrap = cli.bootstrap(args)
    _print(f"perf e2e: bootstrap={bootstrap} topic={args.topic} num-records={args.num_records} "
           f"record-size={args.record_size} acks={args.acks} timeout-ms={args.timeout_ms}")
    producer = Producer(bootstrap=bootstrap, acks=_acks(args.acks), linger_ms=0)
    consumer = Consumer(bootstrap=bootstrap, group_id=None, auto_offset_reset="latest", enable_auto_commit=False,
                        allow_auto_create_topics=False)
    latencies: list[float] = []
    rnd = random.Random()
    try:
        parts = topic_partitions(consumer, args.topic)
        tps = [TopicPartition(args.topic, p) for p in parts]
        consumer.assign(tps)
        for tp in tps:  # pin the start positions at the current ends before the first send
            consumer.position(tp)
        timeout_s = args.timeout_ms / 1000
        start = time.monotonic()
        next_report = start + 1
        for i in range(args.num_records):
            value = bytes(rnd.choices(range(65, 91), k=args.record_size))
            t0 = time.perf_counter()
            try:
                producer.send(args.topic, value).result(timeout=timeout_s)
            except TimeoutError:
                raise CommandError(f"record {i} was not acknowledged within {args.timeout_ms} ms") from None
            deadline = time.monotonic() + timeout_s
            received = None
            while received is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CommandError(f"record {i} was not consumed within {args.timeout_ms} ms")
                for record in consumer.poll(timeout_ms=max(1, int(min(left, 1.0) * 1000)), max_records=10):
                    if record.value == value:
                        received = record
                    elif received is None:
                        raise CommandError(f"record {i}: consumed an unexpected record at "
                                           f"{record.partition}:{record.offset} (is another producer writing "
                                           f"to {args.topic}?)")
            latency = (time.perf_counter() - t0) * 1000
            latencies.append(latency)
            now = time.monotonic()
            if (i + 1) % 1000 == 0 or now >= next_report:
                _print(f"{i + 1}\t{latency:.3f} ms")
                next_report = now + 1
        elapsed = time.monotonic() - start
    finally:
        _close(consumer)
        producer.close(timeout=5)  # after flush() this is immediate; on Ctrl-C or an error it bounds the wait
    avg = sum(latencies) / len(latencies)
    p50, p99, p999 = percentiles(latencies, (0.5, 0.99, 0.999))
    _print(f"Avg latency: {avg:.4f} ms")
    _print(f"Percentiles: 50th = {p50:.3f}, 99th = {p99:.3f}, 99.9th = {p999:.3f}")
    _print(f"{len(latencies)} records round trip in {elapsed:.2f} s ({len(latencies) / elapsed:.1f} records/sec), "
           f"avg {avg:.3f} ms, max {max(latencies):.3f} ms, {p50:.3f} ms 50th, "
           f"{percentiles(latencies, (0.95,))[0]:.3f} ms 95th, {p99:.3f} ms 99th, {p999:.3f} ms 99.9th")
    return 0


__all__ = ["produce", "consume", "e2e", "percentiles", "payload", "ProduceStats", "Throttle"]
