"""Crash tests of ``storage.Log`` with real processes and real SIGKILLs.

The promise under test (storage/log.py): an append is in the page cache when it
returns, and a process kill does not lose the page cache. So a writer killed at
any moment must leave a log that holds every batch whose ``append`` returned, in
order, with contiguous offsets — plus at most the one batch whose ``append`` had
completed when the kill landed but whose acknowledgement was not yet written —
and a new writer must be able to open the directory and keep appending.

The writer is ``_crash_writer.py`` in a child process; it acknowledges a batch on
its stdout only after ``append`` returned. Every random choice comes from one seed,
printed at the start; ``ZAFKA_CRASH_SEED=<seed>`` replays a run's choices (the kill
moments themselves depend on scheduling and cannot be replayed exactly), and
``ZAFKA_CRASH_ROUNDS=<n>`` runs more than the 20 rounds for a soak.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import random
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from storage import Log, LogLockedError, iter_batches

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
WRITER_PATH = HERE / "_crash_writer.py"

_spec = importlib.util.spec_from_file_location("_zafka_crash_writer", WRITER_PATH)
writer = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(writer)

CONFIG = writer.CRASH_CONFIG
ROUNDS = int(os.environ.get("ZAFKA_CRASH_ROUNDS") or 20)  # more for a soak run
ROUND_DEADLINE = 30.0  # seconds a round may take before the test gives up on the child
MAX_ACKS_BEFORE_KILL = 200
EARLY_KILL_CHANCE = 0.15  # rounds killed at a random time after spawn (maybe mid-open/recovery)
EARLY_KILL_WINDOW = 0.6  # seconds

# Kafka's compression attribute codes, written out here rather than taken from storage.
CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


# -- child process plumbing ------------------------------------------------------
class ChildLines:
    """Whole lines from a child's stdout, read without blocking, waited for with deadlines."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.fd = proc.stdout.fileno()
        os.set_blocking(self.fd, False)
        self.poller = select.poll()
        self.poller.register(self.fd, select.POLLIN)
        self.lines: list[str] = []
        self.acks = 0
        self.eof = False
        self._partial = b""

    def _pump(self, timeout: float) -> None:
        if self.eof or not self.poller.poll(max(0, math.ceil(timeout * 1000))):
            return
        while True:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return
            if not chunk:
                self.eof = True
                return
            *complete, self._partial = (self._partial + chunk).split(b"\n")
            for raw in complete:
                line = raw.decode()
                self.lines.append(line)
                self.acks += line.startswith("ack ")

    def wait_for(self, predicate, deadline: float) -> bool:
        """Read lines until ``predicate()`` holds, the child's stdout closes, or the deadline."""
        while not predicate() and not self.eof:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._pump(remaining)
        return predicate()

    def read_for(self, seconds: float) -> None:
        """Keep reading for ``seconds`` (the child runs on meanwhile)."""
        self.wait_for(lambda: False, time.monotonic() + seconds)

    def drain(self, deadline: float) -> None:
        """After the child died: everything it wrote before dying, up to EOF."""
        self.wait_for(lambda: False, deadline)
        assert self.eof, "the dead child's stdout did not reach EOF"


@contextlib.contextmanager
def child(mode: str, directory: Path, seed: int, epoch: int, stderr_path: Path):
    """Run ``_crash_writer.py``; whatever happens, it is SIGKILLed and reaped on exit."""
    with open(stderr_path, "ab") as stderr:
        proc = subprocess.Popen(
            [sys.executable, str(WRITER_PATH), mode, str(directory), str(seed), str(epoch)],
            stdin=subprocess.PIPE if mode == "hold" else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            cwd=ROOT,
        )
    try:
        yield proc, ChildLines(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()
        if proc.stdin:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()


def tell(proc: subprocess.Popen, command: str) -> None:
    proc.stdin.write(command.encode() + b"\n")
    proc.stdin.flush()


def stderr_of(path: Path) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return text[-4000:] or "(empty)"


# -- what the log must hold ------------------------------------------------------
@dataclass(frozen=True)
class Ack:
    seq: int
    first_offset: int
    last_offset: int


@dataclass(frozen=True)
class BatchFacts:
    """What identifies a stored batch once its records have been checked."""

    base_offset: int
    last_offset: int
    epoch: int
    crc: int
    size: int


def parse_lines(lines: list[str]) -> tuple[tuple[int, ...] | None, list[Ack]]:
    """The child's ``open`` line (if it got that far) and its acknowledgements, in order."""
    opened, acks = None, []
    for i, line in enumerate(lines):
        word, *fields = line.split()
        if word == "open":
            assert i == 0 and opened is None, f"unexpected open line at {i}: {lines[:i + 1]}"
            opened = tuple(map(int, fields))
        elif word == "ack":
            assert opened is not None, "an ack before the open line"
            acks.append(Ack(*map(int, fields)))
        else:
            raise AssertionError(f"unexpected line from the child: {line!r}")
    return opened, acks


def read_whole_log(log: Log):
    """Every batch from the log start to the log end via ``Log.read``, CRCs checked."""
    assert log.log_start_offset == 0, "no retention runs here: the log must start at 0"
    out, offset = [], log.log_start_offset
    while True:
        data = log.read(offset, 1 << 20)
        if not data:
            break
        seen = 0
        for batch in iter_batches(data, validate=True):
            assert batch.base_offset == offset, (
                f"offsets not contiguous: batch #{len(out)} starts at {batch.base_offset}, expected {offset}"
            )
            out.append(batch)
            seen += batch.size
            offset = batch.next_offset
        assert seen == len(data), f"Log.read({offset}) returned {len(data) - seen} bytes that are no whole batch"
    assert offset == log.log_end_offset, f"read reached {offset}, log end is {log.log_end_offset}"
    return out


def check_new_batch(batch, seed: int, seq: int, epoch: int) -> BatchFacts:
    """Batch #seq was written by this round's child: check every record against its spec."""
    codec, records = writer.batch_spec(seed, seq)
    assert batch.partition_leader_epoch == epoch, f"batch #{seq}: epoch {batch.partition_leader_epoch} != {epoch}"
    assert batch.compression == CODEC_IDS[codec], f"batch #{seq}: codec {batch.compression}, wrote {codec}"
    assert batch.record_count == len(records), f"batch #{seq}: {batch.record_count} records, wrote {len(records)}"
    got = [(r.offset, bytes(r.key), bytes(r.value)) for r in batch.records()]
    want = [(batch.base_offset + i, key, value) for i, (key, value) in enumerate(records)]
    assert got == want, f"batch #{seq} at offset {batch.base_offset}: records differ from what was appended"
    return BatchFacts(batch.base_offset, batch.last_offset, batch.partition_leader_epoch, batch.crc, batch.size)


def check_log(log: Log, seed: int, known: list[BatchFacts], epoch: int, acks: list[Ack]) -> int:
    """Check the reopened log against the batches known so far plus this round's acks.

    Batch number k holds sequence number k (every child continues from the log's
    last sequence). Batches checked in earlier rounds must be unchanged; new ones
    must be exactly the acknowledged ones, plus at most one more. Extends ``known``
    and returns how many unacknowledged batches were found (0 or 1).
    """
    before = len(known)
    acked = [a.seq for a in acks]
    assert acked == list(range(before, before + len(acks))), (
        f"the child acknowledged {acked[:3]}..{acked[-3:]}, expected consecutive from {before}"
    )
    batches = read_whole_log(log)
    lost = [a.seq for a in acks if a.seq >= len(batches)]
    assert not lost, (
        f"acknowledged batches missing after SIGKILL: {lost[:10]} ({len(lost)} of {len(acks)}); "
        f"log holds {len(batches)} batches, {before} before this round"
    )
    assert len(batches) >= before, f"batches of earlier rounds lost: {len(batches)} < {before}"
    extra = len(batches) - before - len(acks)
    assert extra <= 1, f"{extra} batches beyond the acknowledged ones; at most one may have slipped in"
    for seq, batch in enumerate(batches):
        if seq < before:
            facts = BatchFacts(batch.base_offset, batch.last_offset, batch.partition_leader_epoch, batch.crc, batch.size)
            assert facts == known[seq], f"batch #{seq} changed since it was checked: {facts} != {known[seq]}"
        else:
            known.append(check_new_batch(batch, seed, seq, epoch))
    for ack in acks:
        stored = known[ack.seq]
        assert (stored.base_offset, stored.last_offset) == (ack.first_offset, ack.last_offset), (
            f"batch #{ack.seq} was acknowledged at offsets {ack.first_offset}..{ack.last_offset}, "
            f"stored at {stored.base_offset}..{stored.last_offset}"
        )
    expected_epochs = []
    for facts in known:
        if not expected_epochs or expected_epochs[-1][0] != facts.epoch:
            expected_epochs.append((facts.epoch, facts.base_offset))
    assert log.leader_epochs.entries() == expected_epochs, "leader-epoch cache disagrees with the batches"
    return extra


# -- the tests -------------------------------------------------------------------
def test_sigkilled_writer_keeps_every_acknowledged_batch(tmp_path):
    seed = int(os.environ.get("ZAFKA_CRASH_SEED") or random.SystemRandom().randrange(1 << 32))
    print(f"\ncrash test seed {seed} (replay the choices with ZAFKA_CRASH_SEED={seed})")
    rng = random.Random(seed)
    directory = tmp_path / "topic-0"
    known: list[BatchFacts] = []  # batch k of the log holds sequence number k
    left_clean = False  # did the parent close() (True) or abandon() the log last round?
    totals = {"acks": 0, "extra": 0, "recovered_bytes": 0, "early": 0, "killed_before_open": 0}

    for round_no in range(ROUNDS):
        epoch = round_no + 1
        early = rng.random() < EARLY_KILL_CHANCE
        stderr_path = tmp_path / f"child-{round_no}.stderr"
        where = f"round {round_no} (seed {seed})"
        with child("write", directory, seed, epoch, stderr_path) as (proc, lines):
            deadline = time.monotonic() + ROUND_DEADLINE
            if early:
                totals["early"] += 1
                lines.read_for(rng.uniform(0, EARLY_KILL_WINDOW))
            else:
                target = rng.randint(1, MAX_ACKS_BEFORE_KILL)
                assert lines.wait_for(lambda: lines.acks >= target, deadline), (
                    f"{where}: {lines.acks} of {target} acks before the deadline or the child's exit; "
                    f"child stderr:\n{stderr_of(stderr_path)}"
                )
                lines.read_for(rng.uniform(0, 0.003))  # let the kill land anywhere in the cycle
            proc.send_signal(signal.SIGKILL)
            status = proc.wait(timeout=30)
            assert status == -signal.SIGKILL, (
                f"{where}: the child exited by itself with status {status}:\n{stderr_of(stderr_path)}"
            )
            lines.drain(time.monotonic() + 10)
        opened, acks = parse_lines(lines.lines)
        totals["killed_before_open"] += opened is None
        if not early:
            assert opened is not None and acks, f"{where}: acks expected, got {lines.lines}"
        if opened is not None:
            next_seq, log_end, was_clean, recovered = opened
            leo = known[-1].last_offset + 1 if known else 0
            assert (next_seq, log_end) == (len(known), leo), f"{where}: child opened at {opened}"
            assert was_clean == left_clean, f"{where}: child saw was_clean={was_clean}, parent left {left_clean}"
            assert recovered == 0, f"{where}: child cut {recovered} bytes from a log the parent had checked"

        log = Log(str(directory), CONFIG)  # raises LogLockedError if the dead child's lock survived
        try:
            if opened is not None or not left_clean:
                # (a child killed before its open got far may leave the parent's marker behind)
                assert not log.was_clean, f"{where}: a SIGKILLed writer cannot have shut down cleanly"
            totals["recovered_bytes"] += log.recovered_bytes
            totals["extra"] += check_log(log, seed, known, epoch, acks)
            totals["acks"] += len(acks)
        finally:
            left_clean = round_no % 2 == 0
            log.close() if left_clean else log.abandon()

    print(f"{len(known)} batches, totals {totals}")
    assert totals["acks"] > ROUNDS, "too few appends to mean anything"
    # appending continues after the last round too, through a fresh open
    log = Log(str(directory), CONFIG)
    try:
        assert log.was_clean == left_clean
        assert len(log.segments) > 5, "segments never rolled: the test did not exercise rolls"
        seq = len(known)
        info = log.append(writer.build(seed, seq), leader_epoch=ROUNDS + 1)
        assert info.first_offset == known[-1].last_offset + 1
        check_log(log, seed, known, ROUNDS + 1, [Ack(seq, info.first_offset, info.last_offset)])
    finally:
        log.close()


def test_lock_of_a_sigkilled_holder_is_released_at_once(tmp_path):
    directory = tmp_path / "topic-0"
    stderr_path = tmp_path / "child.stderr"
    with child("hold", directory, 7, 1, stderr_path) as (proc, lines):
        deadline = time.monotonic() + ROUND_DEADLINE
        assert lines.wait_for(lambda: len(lines.lines) >= 1, deadline), stderr_of(stderr_path)
        tell(proc, "append")
        assert lines.wait_for(lambda: lines.acks >= 1, deadline), stderr_of(stderr_path)
        with pytest.raises(LogLockedError):  # the child really holds the directory
            Log(str(directory), CONFIG)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL, stderr_of(stderr_path)
        lines.drain(time.monotonic() + 10)
    _, acks = parse_lines(lines.lines)
    # One attempt, no retry: the kernel dropped the flock when the child died.
    log = Log(str(directory), CONFIG)
    try:
        assert not log.was_clean
        assert check_log(log, 7, [], 1, acks) == 0
    finally:
        log.close()


def test_second_log_on_a_directory_held_by_a_live_process_is_refused(tmp_path):
    directory = tmp_path / "topic-0"
    stderr_path = tmp_path / "child.stderr"
    with child("hold", directory, 11, 1, stderr_path) as (proc, lines):
        deadline = time.monotonic() + ROUND_DEADLINE
        assert lines.wait_for(lambda: len(lines.lines) >= 1, deadline), stderr_of(stderr_path)
        for _ in range(2):  # a refused attempt must not weaken the lock for the next one
            with pytest.raises(LogLockedError) as refused:
                Log(str(directory), CONFIG)
            assert str(proc.pid) in str(refused.value), "the error should name the holder's pid"
            assert proc.poll() is None
        # the refused opener disturbed nothing: the holder still appends and closes cleanly
        tell(proc, "append")
        assert lines.wait_for(lambda: lines.acks >= 1, deadline), stderr_of(stderr_path)
        tell(proc, "close")
        assert lines.wait_for(lambda: "closed" in lines.lines, deadline), stderr_of(stderr_path)
        assert proc.wait(timeout=30) == 0
    opened, acks = parse_lines([line for line in lines.lines if line != "closed"])
    log = Log(str(directory), CONFIG)
    try:
        assert log.was_clean
        assert check_log(log, 11, [], 1, acks) == 0
    finally:
        log.close()
