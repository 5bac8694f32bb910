"""A partition leader flushes on its ``flush.ms`` timer, with no further appends.

A flush fsyncs the active segment and rewrites the partition's
``recovery-point-offset-checkpoint`` (atomically: a new file renamed over the old),
so each flush shows on disk as a new checkpoint file. Nothing else rewrites it while
the log neither rolls nor truncates, which these small topics never do.
"""

from __future__ import annotations

import os
import time

from . import rawclient as rc
from .conftest import wait_for

FLUSH_MS = 1500
CHECKPOINT = "recovery-point-offset-checkpoint"
# file timestamps come from the kernel's coarse clock: allow it a few ticks of lag
MTIME_SLACK_NS = 50_000_000


def checkpoint_file(sup, topic: str) -> str:
    return os.path.join(sup.broker_log_dirs(1)[0], f"{topic}-0", CHECKPOINT)


def identity(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_ino, st.st_mtime_ns


def produce_without_flushing(sup, topic: str) -> tuple[tuple[int, int], float]:
    """Produce until one append is acknowledged without flushing (an append may flush by
    itself when flush.ms had already passed); returns the checkpoint as it was then."""
    path = checkpoint_file(sup, topic)
    for i in range(5):
        before = identity(path)
        rc.produce(sup.bootstrap, topic, 0, [f"record {i}".encode()])
        acked = time.monotonic()
        if identity(path) == before:
            return before, acked
    raise AssertionError(f"every append to {topic} flushed at once; flush.ms={FLUSH_MS} was not applied")


def test_a_leader_flushes_unflushed_data_on_its_timer_after_flush_ms(make_cluster):
    sup = make_cluster(brokers=1)
    # the control: a topic without flush.ms (left to the page cache), written first
    rc.create_topic(sup.bootstrap, "lazy")
    rc.produce(sup.bootstrap, "lazy", 0, [b"never fsynced"])
    lazy_written = time.monotonic()
    lazy_before = identity(checkpoint_file(sup, "lazy"))

    rc.create_topic(sup.bootstrap, "flushed", configs={"flush.ms": str(FLUSH_MS)})
    before, _ = produce_without_flushing(sup, "flushed")
    # no more appends from here: only the leader's timer can flush
    path = checkpoint_file(sup, "flushed")
    wait_for(lambda: identity(path) != before, timeout=FLUSH_MS / 1000 + 15, what="the flush.ms timer to flush")
    after = identity(path)

    # not before flush.ms: the old checkpoint was written by the last flush (or the open)
    waited_ms = (after[1] - before[1] + MTIME_SLACK_NS) / 1e6
    assert waited_ms >= FLUSH_MS, f"flushed {waited_ms:.0f} ms after the last flush, before flush.ms={FLUSH_MS}"
    # more than flush.ms has passed since the control topic's append: it was not flushed
    assert time.monotonic() - lazy_written >= FLUSH_MS / 1000
    assert identity(checkpoint_file(sup, "lazy")) == lazy_before, "a topic without flush.ms was flushed"
    # and the flushed record is served as before
    assert [v for _, v in rc.read_partition(sup.bootstrap, "flushed", 0)][-1].startswith(b"record ")
