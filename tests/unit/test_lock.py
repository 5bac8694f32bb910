"""Unit tests of storage.lock.DirectoryLock and the single-writer rule of storage.Log.

One test starts a child Python process that holds the lock; it is always killed
and reaped in a ``finally``. No sleeps: the child reports "locked" on stdout and
the parent waits for that line.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from storage import Log, LogLockedError, build_batch, iter_batches
from storage.lock import LOCK_FILE, DirectoryLock

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CHILD = """
import sys
from storage.lock import DirectoryLock
lock = DirectoryLock(sys.argv[1]).acquire()
print("locked", flush=True)
sys.stdin.readline()
"""


def values(data) -> list[tuple[int, bytes]]:
    return [(r.offset, r.value) for b in iter_batches(data) for r in b.records()]


# -- in one process -----------------------------------------------------------------


def test_acquire_creates_lock_file_holding_our_pid(tmp_path):
    lock = DirectoryLock(str(tmp_path)).acquire()
    try:
        assert lock.held
        with open(tmp_path / LOCK_FILE) as f:
            assert f.read() == f"{os.getpid()}\n"
    finally:
        lock.release()


def test_second_acquire_in_same_process_raises_naming_directory_and_holder_pid(tmp_path):
    first = DirectoryLock(str(tmp_path)).acquire()
    try:
        with pytest.raises(LogLockedError) as info:
            DirectoryLock(str(tmp_path)).acquire()
        message = str(info.value)
        assert str(tmp_path) in message
        assert f"pid {os.getpid()}" in message
        assert first.held  # the failed attempt did not disturb the holder
    finally:
        first.release()


def test_acquiring_the_same_lock_object_twice_raises(tmp_path):
    lock = DirectoryLock(str(tmp_path)).acquire()
    try:
        with pytest.raises(LogLockedError):
            lock.acquire()
    finally:
        lock.release()


def test_failed_acquire_does_not_erase_the_holder_pid(tmp_path):
    first = DirectoryLock(str(tmp_path)).acquire()
    try:
        with pytest.raises(LogLockedError):
            DirectoryLock(str(tmp_path)).acquire()
        with open(tmp_path / LOCK_FILE) as f:
            assert f.read() == f"{os.getpid()}\n"
    finally:
        first.release()


def test_release_lets_another_acquire(tmp_path):
    first = DirectoryLock(str(tmp_path)).acquire()
    first.release()
    assert not first.held
    second = DirectoryLock(str(tmp_path)).acquire()
    try:
        assert second.held
    finally:
        second.release()


def test_release_is_idempotent(tmp_path):
    lock = DirectoryLock(str(tmp_path)).acquire()
    lock.release()
    lock.release()
    assert not lock.held


def test_locks_on_different_directories_are_independent(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = DirectoryLock(str(tmp_path / "a")).acquire()
    try:
        b = DirectoryLock(str(tmp_path / "b")).acquire()
        b.release()
    finally:
        a.release()


# -- across processes ---------------------------------------------------------------


def test_lock_held_by_child_blocks_parent_until_child_is_killed(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO_ROOT,
        env=env,
        text=True,
    )
    try:
        line = child.stdout.readline()
        assert line == "locked\n", child.stderr.read()

        with pytest.raises(LogLockedError) as info:
            DirectoryLock(str(tmp_path)).acquire()
        assert f"pid {child.pid}" in str(info.value)
        assert str(tmp_path) in str(info.value)

        child.send_signal(signal.SIGKILL)
        assert child.wait() == -signal.SIGKILL

        # the kernel dropped the dead child's flock: no stale lock, no retry needed
        lock = DirectoryLock(str(tmp_path)).acquire()
        try:
            with open(tmp_path / LOCK_FILE) as f:
                assert f.read() == f"{os.getpid()}\n"
        finally:
            lock.release()
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        for stream in (child.stdin, child.stdout, child.stderr):
            stream.close()


# -- through storage.Log ------------------------------------------------------------


def test_opening_a_log_twice_raises_and_the_first_keeps_working(tmp_path):
    directory = tmp_path / "topic-0"
    first = Log(directory)
    try:
        first.append(build_batch([b"a", b"b"]), leader_epoch=0)
        with pytest.raises(LogLockedError) as info:
            Log(directory)
        assert str(directory) in str(info.value)
        assert f"pid {os.getpid()}" in str(info.value)

        info = first.append(build_batch([b"c"]), leader_epoch=0)
        assert (info.first_offset, info.last_offset) == (2, 2)
        assert values(first.read(0)) == [(0, b"a"), (1, b"b"), (2, b"c")]
        assert first.log_end_offset == 3
    finally:
        first.close()

    # once closed, the directory opens again with everything in it
    with Log(directory) as again:
        assert values(again.read(0)) == [(0, b"a"), (1, b"b"), (2, b"c")]


def test_failed_second_open_leaves_the_directory_unlocked_after_first_closes(tmp_path):
    directory = tmp_path / "topic-0"
    first = Log(directory)
    with pytest.raises(LogLockedError):
        Log(directory)
    first.close()
    with Log(directory) as again:
        again.append(build_batch([b"x"]))
        assert again.log_end_offset == 1
