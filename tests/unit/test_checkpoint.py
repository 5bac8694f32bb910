"""Unit tests of storage.checkpoint: Kafka's checkpoint text format, atomic replacement.

File contents are written and checked as literal text in Kafka's CheckpointFile
format ("version\\ncount\\nentries..."), independently of the reader.
"""

from __future__ import annotations

import os
import stat

import pytest

from storage import checkpoint
from storage.checkpoint import (
    CorruptCheckpointError,
    read_checkpoint,
    read_offset,
    write_checkpoint,
    write_offset,
)
from storage.errors import StorageError


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "some-checkpoint")


def put(path: str, content: str | bytes) -> None:
    with open(path, "wb") as f:
        f.write(content.encode() if isinstance(content, str) else content)


def text(path: str) -> str:
    with open(path, encoding="ascii") as f:
        return f.read()


# -- round trip ---------------------------------------------------------------------


def test_write_produces_kafkas_text_format(path):
    write_checkpoint(path, [(0, 0), (3, 150), (7, 2_000_000_000_000)])
    assert text(path) == "0\n3\n0 0\n3 150\n7 2000000000000\n"


def test_write_then_read_round_trips(path):
    entries = [(0, 0), (3, 150), (7, 2_000_000_000_000)]
    write_checkpoint(path, entries)
    assert read_checkpoint(path, 2) == entries


def test_round_trip_of_wider_and_negative_entries(path):
    entries = [(1, -1, 5), (2, 0, -9)]
    write_checkpoint(path, entries)
    assert read_checkpoint(path, 3) == entries


def test_round_trip_of_no_entries(path):
    write_checkpoint(path, [])
    assert text(path) == "0\n0\n"
    assert read_checkpoint(path, 2) == []


def test_reads_a_hand_written_kafka_checkpoint(path):
    put(path, "0\n2\n5 100\n6 250\n")
    assert read_checkpoint(path, 2) == [(5, 100), (6, 250)]


def test_reads_a_checkpoint_without_final_newline(path):
    put(path, "0\n1\n5 100")
    assert read_checkpoint(path, 2) == [(5, 100)]


def test_rewrite_replaces_the_old_content(path):
    write_checkpoint(path, [(i, i * 10) for i in range(50)])
    write_checkpoint(path, [(1, 2)])
    assert text(path) == "0\n1\n1 2\n"


def test_offset_helpers_round_trip(path):
    write_offset(path, 12345)
    assert text(path) == "0\n1\n12345\n"
    assert read_offset(path) == 12345


def test_read_offset_of_missing_or_empty_checkpoint_is_none(path):
    assert read_offset(path) is None
    put(path, "0\n0\n")
    assert read_offset(path) is None


def test_write_in_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_checkpoint("relative-checkpoint", [(1, 2)])
    assert read_checkpoint("relative-checkpoint", 2) == [(1, 2)]
    assert os.listdir(tmp_path) == ["relative-checkpoint"]


# -- missing and corrupt ------------------------------------------------------------


def test_missing_file_reads_as_none(path):
    assert read_checkpoint(path, 2) is None


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("garbage", id="garbage"),
        pytest.param("", id="empty"),
        pytest.param("0", id="version-only"),
        pytest.param("0\n", id="no-count"),
        pytest.param("0\n2\n1 2\n", id="truncated-entries"),
        pytest.param("0\n2\n1 2", id="truncated-no-newline"),
        pytest.param("0\n1\n1 ", id="truncated-mid-entry"),
        pytest.param("1\n1\n1 2\n", id="wrong-version"),
        pytest.param("-1\n0\n", id="negative-version"),
        pytest.param("0\n3\n1 2\n3 4\n", id="count-too-large"),
        pytest.param("0\n1\n1 2\n3 4\n", id="count-too-small"),
        pytest.param("0\n-1\n", id="negative-count"),
        pytest.param("0\nx\n", id="non-integer-count"),
        pytest.param("0\n1\n1 2\njunk\n", id="trailing-junk"),
        pytest.param("0\n1\n1 2\n\n\n7\n", id="trailing-junk-after-blank-lines"),
        pytest.param("0\n1\na b\n", id="non-integer-entry"),
        pytest.param("0\n1\n1\n", id="entry-too-narrow"),
        pytest.param("0\n1\n1 2 3\n", id="entry-too-wide"),
        pytest.param("0\n1\n\n1 2\n", id="blank-entry"),
        pytest.param("0\n1\n1.5 2\n", id="float-entry"),
        pytest.param(b"\xff\xfe\x00\x01\n\x80", id="binary"),
        pytest.param(b"0\n1\n1 \xe2\x91\xa1\n", id="non-ascii-digit"),
    ],
)
def test_unparsable_checkpoint_raises_corrupt_checkpoint_error(path, content):
    put(path, content)
    with pytest.raises(CorruptCheckpointError) as info:
        read_checkpoint(path, 2)
    assert path in str(info.value)


def test_corrupt_checkpoint_error_is_a_storage_error(path):
    put(path, "nonsense")
    with pytest.raises(StorageError):
        read_checkpoint(path, 2)


def test_read_offset_of_corrupt_checkpoint_raises(path):
    put(path, "0\n1\n5 6\n")  # width 2 where 1 is expected
    with pytest.raises(CorruptCheckpointError):
        read_offset(path)


# -- atomic replacement -------------------------------------------------------------


def test_write_leaves_no_tmp_file_behind(tmp_path, path):
    write_checkpoint(path, [(1, 2)])
    write_checkpoint(path, [(3, 4)])
    assert os.listdir(tmp_path) == [os.path.basename(path)]


def test_stale_longer_tmp_file_from_a_crash_does_not_leak_into_the_new_checkpoint(tmp_path, path):
    put(path + ".tmp", "0\n3\n1 1\n2 2\n3 3\n" + "x" * 100)
    write_checkpoint(path, [(9, 9)])
    assert text(path) == "0\n1\n9 9\n"
    assert os.listdir(tmp_path) == [os.path.basename(path)]


def test_crash_before_rename_leaves_the_old_checkpoint_intact(path, monkeypatch):
    write_checkpoint(path, [(1, 100)])

    def crash(src, dst):
        raise OSError("simulated crash before rename")

    monkeypatch.setattr(checkpoint.os, "replace", crash)
    with pytest.raises(OSError):
        write_checkpoint(path, [(2, 200), (3, 300)])
    monkeypatch.undo()
    assert read_checkpoint(path, 2) == [(1, 100)]


def test_crash_mid_write_leaves_the_old_checkpoint_intact(path, monkeypatch):
    write_checkpoint(path, [(1, 100)])
    real_write = os.write

    def half_write(fd, data):
        real_write(fd, data[: len(data) // 2])
        raise OSError("simulated crash mid-write")

    monkeypatch.setattr(checkpoint.os, "write", half_write)
    with pytest.raises(OSError):
        write_checkpoint(path, [(2, 200), (3, 300)])
    monkeypatch.undo()
    assert text(path) == "0\n1\n1 100\n"


def test_file_is_fsynced_before_the_rename_and_the_directory_after(path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        kind = "dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"
        events.append(("fsync", kind))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", os.path.basename(src), os.path.basename(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(checkpoint.os, "fsync", fsync)
    monkeypatch.setattr(checkpoint.os, "replace", replace)
    write_checkpoint(path, [(1, 2)])
    name = os.path.basename(path)
    assert events == [("fsync", "file"), ("replace", name + ".tmp", name), ("fsync", "dir")]
