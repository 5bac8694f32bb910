"""Child process of ``test_log_crash.py``: a writer that the test SIGKILLs.

Run as a script (``python _crash_writer.py MODE DIR ...``), never imported by
pytest's collection (the leading underscore keeps it out). The test imports it
by path only for ``batch_spec`` and the protocol constants, so parent and child
agree on what batch ``seq`` must contain.

Modes
-----
``write DIR SEED EPOCH``
    Open ``Log(DIR, CRASH_CONFIG)``, find the next sequence number from the last
    batch in the log, print ``open <next_seq> <log_end> <was_clean> <recovered>``,
    then append batch ``seq`` (see ``batch_spec``) with ``leader_epoch=EPOCH``
    forever, printing ``ack <seq> <first_offset> <last_offset>`` only *after*
    each ``append`` has returned (half of the time after building the next
    batch first, so kills often land between an append and its ack). Every line is a single ``os.write`` of fewer
    than ``PIPE_BUF`` bytes, so the parent never sees half a line.

``hold DIR SEED EPOCH``
    Open the log, print the same ``open`` line, then obey stdin commands:
    ``append`` (append the next batch, print its ``ack``), ``close`` (clean
    shutdown, print ``closed``, exit 0). EOF on stdin: exit without closing.

A child whose parent has gone away exits on its own (checked every append), and
no child runs longer than ``MAX_CHILD_SECONDS``, so a crashed test run leaves no
writer behind filling the disk.
"""

from __future__ import annotations

import os
import random
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from storage import Log, LogConfig, Record, build_batch, iter_batches  # noqa: E402

# 128 KiB segments: the largest batch (50 uncompressed records of 2000 bytes,
# about 101 KB) still fits one segment, and the log rolls every few batches.
CRASH_CONFIG = LogConfig(segment_bytes=128 * 1024, index_interval_bytes=1024)
CODECS = ("none", "lz4", "zstd", "gzip")
MAX_CHILD_SECONDS = 60.0


def batch_spec(seed: int, seq: int) -> tuple[str, list[tuple[bytes, bytes]]]:
    """The codec and ``(key, value)`` records of batch number ``seq``.

    Deterministic in ``(seed, seq)``: 1..50 records, values of 10..2000 bytes made
    by repeating a random chunk of 1..64 bytes, so compressibility varies too.
    """
    rng = random.Random(seed * 1_000_003 + seq)
    codec = CODECS[rng.randrange(len(CODECS))]
    records = []
    for i in range(rng.randint(1, 50)):
        size = rng.randint(10, 2000)
        chunk = rng.randbytes(rng.randint(1, 64))
        value = (chunk * (size // len(chunk) + 1))[:size]
        records.append((f"{seq}:{i}".encode(), value))
    return codec, records


def build(seed: int, seq: int) -> bytes:
    codec, records = batch_spec(seed, seq)
    return build_batch([Record(key, value) for key, value in records], codec)


def seq_of(batch) -> int:
    """The sequence number a batch written by this module carries (its first key)."""
    first = next(iter(batch.records()))
    return int(bytes(first.key).split(b":")[0])


def next_seq(log: Log) -> int:
    if log.log_end_offset == log.log_start_offset:
        return 0
    data = log.read(log.log_end_offset - 1, 1)  # the whole last batch
    *_, last = iter_batches(data)
    return seq_of(last) + 1


def say(line: str) -> None:
    os.write(1, (line + "\n").encode())


def main(argv: list[str]) -> int:
    mode, directory, seed, epoch = argv[0], argv[1], int(argv[2]), int(argv[3])
    parent = os.getppid()
    deadline = time.monotonic() + MAX_CHILD_SECONDS
    log = Log(directory, CRASH_CONFIG)
    seq = next_seq(log)
    say(f"open {seq} {log.log_end_offset} {int(log.was_clean)} {log.recovered_bytes}")

    # Half of the time the next batch is built between an append and its ack, which
    # widens the window in which a kill leaves one unacknowledged batch in the log.
    rng = random.Random(seed * 31 + epoch)
    prebuilt: bytes | None = None

    def append_next() -> None:
        nonlocal seq, prebuilt
        data = prebuilt if prebuilt is not None else build(seed, seq)
        info = log.append(data, leader_epoch=epoch)
        prebuilt = build(seed, seq + 1) if mode == "write" and rng.random() < 0.5 else None
        say(f"ack {seq} {info.first_offset} {info.last_offset}")
        seq += 1

    if mode == "write":
        while os.getppid() == parent and time.monotonic() < deadline:
            append_next()
        return 1
    if mode == "hold":
        for command in sys.stdin:
            command = command.strip()
            if command == "append":
                append_next()
            elif command == "close":
                log.close()
                say("closed")
                return 0
            else:
                raise SystemExit(f"unknown command {command!r}")
        return 0
    raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
