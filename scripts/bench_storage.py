"""Throughput of the storage engine: append, read and crash recovery of ``storage.Log``.

Run from the repository root::

    .venv/bin/python scripts/bench_storage.py [--total-mb N] [--tmp-dir DIR]

One run prints its configuration and four figures:

(a) append MB/s through ``Log.append`` (the leader path: validate, stamp, ``writev``)
    of pre-built 16 KiB batches, built before the clock starts;
(b) raw ``os.write`` MB/s of the very same batch bytes into a plain file, in the
    same run and interleaved with (a), and the ratio (a)/(b) against the goal;
(c) read MB/s of ``Log.read`` scanning the whole log from offset 0 to the end,
    ``max_bytes`` = 1 MiB per call (each answer's batch headers walked to find the
    next offset, as a consumer does);
(d) crash-recovery time: the log of (a) (one unflushed active segment) is
    ``abandon()``-ed and re-opened, which re-validates every batch (CRC included)
    and rebuilds the indexes; reported as seconds per 100 MB. The clean-open time
    (after ``close()``) is reported next to it.

(a) and (b) are the best of 3 interleaved trials; (c) and (d) the best of 3 too.
Everything runs against the page cache: no fsync is timed, and the page cache is
not dropped, so (c) and (d) read warm data. MB = 10^6 bytes. The temporary
directory is deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from storage import BatchBuilder, Log, LogConfig, iter_batches  # noqa: E402

MB = 1_000_000
MiB = 1 << 20
BATCH_BYTES = 16 * 1024  # target size of one batch (at most this)
VALUE_SIZE = 100
POOL = 64  # distinct pre-built batches, appended round-robin
TRIALS = 3
READ_MAX_BYTES = MiB
SEGMENT_BYTES = 1 << 30  # Kafka's default; the whole run fits one active segment
GOAL_RATIO = 0.80
SEED = 42


def build_pool() -> list[bytes]:
    """POOL batches of 100-byte random values, as many records as fit in 16 KiB."""
    rng = random.Random(SEED)
    timestamp = int(time.time() * 1000)

    def build(n: int) -> bytes:
        builder = BatchBuilder("none")
        for _ in range(n):
            builder.append(rng.randbytes(VALUE_SIZE), None, None, timestamp)
        return builder.build()

    n = BATCH_BYTES // VALUE_SIZE
    while len(build(n)) > BATCH_BYTES:
        n -= 1
    return [build(n) for _ in range(POOL)]


def sh(*cmd: str) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return f"({' '.join(cmd)}: {exc})"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def append_trial(directory: str, config: LogConfig, pool: list[bytes], batches: int) -> tuple[float, Log]:
    """Seconds to append ``batches`` batches through ``Log.append``; returns the open log too."""
    log = Log(directory, config)
    append = log.append
    start = time.perf_counter()
    for i in range(batches):
        append(pool[i % POOL])
    elapsed = time.perf_counter() - start
    log.flush()  # untimed: push the dirty pages out so the next trial starts even
    return elapsed, log


def raw_trial(path: str, pool: list[bytes], batches: int) -> float:
    """Seconds to os.write the same batch bytes, one call per batch, into a plain file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
    try:
        write = os.write
        start = time.perf_counter()
        for i in range(batches):
            write(fd, pool[i % POOL])
        elapsed = time.perf_counter() - start
        os.fsync(fd)  # untimed, as for the log
    finally:
        os.close(fd)
    return elapsed


def read_trial(log: Log) -> tuple[float, int, int]:
    """Seconds to read the whole log with 1 MiB ``Log.read`` calls; bytes and calls made."""
    offset, end, total, calls = log.log_start_offset, log.log_end_offset, 0, 0
    read = log.read
    start = time.perf_counter()
    while offset < end:
        data = read(offset, READ_MAX_BYTES)
        calls += 1
        total += len(data)
        for batch in iter_batches(data):
            pass
        offset = batch.next_offset
    return time.perf_counter() - start, total, calls


def timed_open(directory: str, config: LogConfig) -> tuple[float, Log]:
    start = time.perf_counter()
    log = Log(directory, config)
    return time.perf_counter() - start, log


def rate(nbytes: int, seconds: float) -> float:
    return nbytes / MB / seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--total-mb", type=int, default=200,
                        help="MB (10^6 bytes) appended per trial and recovered in (d); 1..1000 (default 200)")
    parser.add_argument("--tmp-dir", default="/tmp", help="where the temporary directory goes (default /tmp)")
    args = parser.parse_args(argv)
    if not 1 <= args.total_mb <= 1000:
        parser.error("--total-mb must be between 1 and 1000 (the log must stay one active segment)")

    pool = build_pool()
    batch_size = len(pool[0])
    records = sum(1 for _ in next(iter_batches(pool[0])).records())
    batches = max(1, args.total_mb * MB // batch_size)
    total = batches * batch_size
    config = LogConfig(segment_bytes=SEGMENT_BYTES)
    workdir = tempfile.mkdtemp(prefix="zafka-bench-storage-", dir=args.tmp_dir)
    git = sh("git", "-C", ROOT, "rev-parse", "--short", "HEAD")
    dirty = " (+ uncommitted changes)" if sh("git", "-C", ROOT, "status", "--porcelain", "--", "storage") else ""

    print("zafka storage benchmark (storage.Log)")
    print(f"  python            {platform.python_implementation()} {platform.python_version()} ({sys.executable})")
    print(f"  machine           {platform.system()} {platform.release()} {platform.machine()}, "
          f"{os.cpu_count()} CPUs ({cpu_model()}), load average {os.getloadavg()[0]:.2f} at start")
    print(f"  zafka             {git}{dirty}")
    print(f"  batch             {batch_size} bytes (target 16 KiB = {BATCH_BYTES}): {records} records of "
          f"{VALUE_SIZE}-byte random values, no key, codec none; {POOL} distinct batches built before timing")
    print(f"  total per trial   {batches} batches = {total:,} bytes ({total / MB:.1f} MB, MB = 10^6 bytes)")
    print(f"  log config        segment.bytes={config.segment_bytes} index.interval.bytes="
          f"{config.index_interval_bytes} flush.messages={config.flush_messages} flush.ms={config.flush_ms}")
    print("  append path       Log.append(batch) as leader (leader_epoch=-1): validate + CRC, stamp, writev")
    print("  raw baseline      os.write(fd, batch) per batch into a plain O_APPEND file")
    print(f"  read              Log.read(offset, max_bytes={READ_MAX_BYTES}) from 0 to the log end, headers walked")
    print("  recovery          abandon() the log of (a), re-open: every batch re-validated, indexes rebuilt")
    print(f"  timing            time.perf_counter; best of {TRIALS}; no fsync timed; page cache not dropped")
    print(f"  directory         {workdir}")
    for line in sh("df", "-hT", workdir).splitlines():
        print(f"    {line}")
    print()

    log = None
    try:
        # (a) and (b), interleaved
        append_times, raw_times = [], []
        for trial in range(TRIALS):
            if log is not None:
                log.close()
                shutil.rmtree(log.directory)
            elapsed, log = append_trial(os.path.join(workdir, f"append-{trial}", "bench-0"), config, pool, batches)
            append_times.append(elapsed)
            assert log.log_end_offset == batches * records and log.size_bytes == total
            raw_path = os.path.join(workdir, f"raw-{trial}.bin")
            raw_times.append(raw_trial(raw_path, pool, batches))
            assert os.path.getsize(raw_path) == total
            os.unlink(raw_path)
        best_append, best_raw = rate(total, min(append_times)), rate(total, min(raw_times))
        ratio = best_append / best_raw
        print(f"(a) append, Log.append of {batch_size}-byte batches")
        print(f"    trials            {'  '.join(f'{rate(total, t):8.1f}' for t in append_times)} MB/s")
        print(f"    best              {best_append:8.1f} MB/s   ({batches / min(append_times):,.0f} batches/s, "
              f"{min(append_times) / batches * 1e6:.2f} us per append)")
        print("(b) raw os.write of the same bytes")
        print(f"    trials            {'  '.join(f'{rate(total, t):8.1f}' for t in raw_times)} MB/s")
        print(f"    best              {best_raw:8.1f} MB/s   ({min(raw_times) / batches * 1e6:.2f} us per write)")
        print(f"    storage / raw     {ratio:8.1%}   (goal >= {GOAL_RATIO:.0%}: "
              f"{'met' if ratio >= GOAL_RATIO else 'NOT met'})")

        # (c) on the log of the last append trial
        reads = [read_trial(log) for _ in range(TRIALS)]
        read_time = min(t for t, _, _ in reads)
        assert all(n == total for _, n, _ in reads)
        print("(c) read, Log.read from offset 0 to the end, max_bytes = 1 MiB")
        print(f"    trials            {'  '.join(f'{rate(total, t):8.1f}' for t, _, _ in reads)} MB/s")
        print(f"    best              {rate(total, read_time):8.1f} MB/s   ({reads[0][2]} calls)")

        # (d) unclean re-open of the same log, then clean open
        end = log.log_end_offset
        recoveries = []
        for _ in range(TRIALS):
            log.abandon()
            elapsed, log = timed_open(os.path.join(workdir, f"append-{TRIALS - 1}", "bench-0"), config)
            assert not log.was_clean and log.recovered_bytes == 0 and log.log_end_offset == end
            recoveries.append(elapsed)
        log.close()
        fsync_path(log.directory)
        cleans = []
        for _ in range(TRIALS):
            elapsed, log = timed_open(log.directory, config)
            assert log.was_clean and log.log_end_offset == end
            cleans.append(elapsed)
            log.close()
        per_100 = min(recoveries) * 100 * MB / total
        print(f"(d) recovery of {total / MB:.1f} MB in one unflushed segment (unclean open)")
        print(f"    trials            {'  '.join(f'{t:8.3f}' for t in recoveries)} s")
        print(f"    best              {min(recoveries):8.3f} s   = {per_100:.3f} s per 100 MB "
              f"({rate(total, min(recoveries)):.1f} MB/s re-validated)")
        print(f"    clean open        {'  '.join(f'{t:8.4f}' for t in cleans)} s   (best {min(cleans):.4f} s)")
    finally:
        if log is not None:
            log.abandon()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
