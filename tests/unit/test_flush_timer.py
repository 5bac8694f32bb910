"""``flush.ms`` (broker default ``log.flush.interval.ms``): storage.Log fsyncs on time.

Kafka's rule: a log is flushed once ``flush.ms`` has passed since its last flush and
there is something unflushed; checked on append and by a timer (the leader calls
``Log.flush_if_due`` on every tick), so data that stops arriving is still flushed.
Unset (the default) means never: the page cache is enough.

The log runs on a fake clock, and ``os.fsync`` is watched: a flush is observed as
an fsync of the active segment's ``.log`` file, not read from the log's internals.
"""

from __future__ import annotations

import os

import pytest

from storage import Log, LogConfig, build_batch

START_MS = 1_700_000_000_000


class FakeClock:
    """``time.time`` for a Log, moved by hand in whole milliseconds."""

    def __init__(self, ms: int = START_MS):
        self.ms = ms

    def __call__(self) -> float:
        return (self.ms + 0.5) / 1000  # +0.5: int(seconds * 1000) lands on self.ms, float error or not

    def at(self, offset_ms: int) -> None:
        self.ms = START_MS + offset_ms


@pytest.fixture
def fsyncs(monkeypatch):
    """Paths of every file fsynced while the test runs, in order."""
    seen: list[str] = []
    real = os.fsync

    def watching(fd):
        try:
            seen.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            seen.append(f"fd {fd}")
        return real(fd)

    monkeypatch.setattr(os, "fsync", watching)
    return seen


def log_fsyncs(seen: list[str], log: Log) -> int:
    """How often the active segment's data file was fsynced."""
    return seen.count(log.active.log_path)


def open_log(tmp_path, clock: FakeClock, source: str, flush_ms: int | None) -> Log:
    if flush_ms is None:
        config = LogConfig.from_configs()
    elif source == "topic":
        config = LogConfig.from_configs({"flush.ms": str(flush_ms)})
    else:
        config = LogConfig.from_configs({}, {"log.flush.interval.ms": str(flush_ms)})
    return Log(str(tmp_path / "t-0"), config, clock=clock)


SOURCES = ["topic", "broker"]  # flush.ms, or the broker's log.flush.interval.ms


@pytest.mark.parametrize("source", SOURCES)
def test_append_flushes_once_flush_ms_has_passed_since_the_last_flush_and_not_before(tmp_path, fsyncs, source):
    clock = FakeClock()
    log = open_log(tmp_path, clock, source, flush_ms=1000)  # opened (the last flush) at 0 ms
    try:
        clock.at(999)
        log.append(build_batch([b"a"]))
        assert log_fsyncs(fsyncs, log) == 0, "flushed before flush.ms had passed"
        clock.at(1000)
        log.append(build_batch([b"b"]))
        assert log_fsyncs(fsyncs, log) == 1, "not flushed once flush.ms had passed"
        clock.at(1999)  # the clock starts again at the flush
        log.append(build_batch([b"c"]))
        assert log_fsyncs(fsyncs, log) == 1
        clock.at(2000)
        log.append(build_batch([b"d"]))
        assert log_fsyncs(fsyncs, log) == 2
    finally:
        log.abandon()


@pytest.mark.parametrize("source", SOURCES)
def test_the_timer_flushes_data_that_stopped_arriving_after_flush_ms_and_not_before(tmp_path, fsyncs, source):
    clock = FakeClock()
    log = open_log(tmp_path, clock, source, flush_ms=1000)
    try:
        clock.at(100)
        log.append(build_batch([b"last words"]))  # no appends after this one
        for t in (100, 500, 999):
            clock.at(t)
            assert log.flush_if_due() is False, f"flushed at {t} ms, before flush.ms"
        assert log_fsyncs(fsyncs, log) == 0
        clock.at(1000)
        assert log.flush_if_due() is True
        assert log_fsyncs(fsyncs, log) == 1
        # flushed: nothing left to flush, however long the timer keeps ticking
        for t in (1001, 2000, 60_000):
            clock.at(t)
            assert log.flush_if_due() is False
        assert log_fsyncs(fsyncs, log) == 1
    finally:
        log.abandon()


def test_the_timer_counts_from_the_last_flush(tmp_path, fsyncs):
    clock = FakeClock()
    log = open_log(tmp_path, clock, "topic", flush_ms=1000)
    try:
        clock.at(10)
        log.append(build_batch([b"one"]))
        clock.at(1500)
        assert log.flush_if_due() is True  # 1500 ms since the open
        clock.at(1600)
        log.append(build_batch([b"two"]))
        clock.at(2499)
        assert log.flush_if_due() is False  # 999 ms since the flush at 1500
        clock.at(2500)
        assert log.flush_if_due() is True
        assert log_fsyncs(fsyncs, log) == 2
    finally:
        log.abandon()


def test_flush_ms_zero_flushes_every_append(tmp_path, fsyncs):
    clock = FakeClock()
    log = open_log(tmp_path, clock, "topic", flush_ms=0)
    try:
        for i in range(3):
            log.append(build_batch([b"x"]))
            assert log_fsyncs(fsyncs, log) == i + 1
    finally:
        log.abandon()


def test_unset_flush_ms_never_fsyncs_leaving_it_to_the_page_cache(tmp_path, fsyncs):
    clock = FakeClock()
    log = open_log(tmp_path, clock, "topic", flush_ms=None)
    try:
        for t in (0, 1000, 3_600_000, 7 * 86_400_000 - 1):
            clock.at(t)
            log.append(build_batch([b"x"]))
            assert log.flush_if_due() is False
        assert log_fsyncs(fsyncs, log) == 0
    finally:
        log.abandon()

