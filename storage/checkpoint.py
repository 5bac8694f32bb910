"""Small checkpoint files, in Kafka's text format, replaced atomically.

Format (Kafka's ``CheckpointFile``)::

    0            <- version
    N            <- number of entries
    a b          <- N lines of space-separated integers
    ...

Writes go to ``<file>.tmp``, are fsynced, then renamed over the old file and the
directory fsynced: a crash leaves the old or the new checkpoint, never half of one.
A file that does not parse raises ``CorruptCheckpointError`` so the owner can fall
back to a safe default (re-scan the log) instead of trusting garbage.
"""

from __future__ import annotations

import os
import re

from .errors import StorageError

VERSION = 0
_INT = re.compile(r"^-?[0-9]+$")


class CorruptCheckpointError(StorageError):
    """A checkpoint file does not parse."""


def write_checkpoint(path: str, entries: list[tuple[int, ...]]) -> None:
    lines = [str(VERSION), str(len(entries))]
    lines += [" ".join(str(int(v)) for v in entry) for entry in entries]
    write_atomically(path, ("\n".join(lines) + "\n").encode())


def write_atomically(path: str, data: bytes) -> None:
    """``data`` as ``path``, or the old file if a crash comes first: ``.tmp``, fsync, rename, fsync the dir."""
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_directory(os.path.dirname(path) or ".")


def fsync_directory(directory: str) -> None:
    """Make the renames and unlinks in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_checkpoint(path: str, width: int) -> list[tuple[int, ...]] | None:
    """Entries of ``width`` integers each, or ``None`` when the file does not exist."""
    try:
        with open(path, encoding="ascii") as f:
            lines = f.read().split("\n")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise CorruptCheckpointError(f"{path}: {exc}") from exc
    try:
        version, count = int(lines[0]), int(lines[1])
        if version != VERSION:
            raise ValueError(f"unknown version {version}")
        entries = [tuple(_strict_int(v) for v in line.split()) for line in lines[2 : 2 + count]]
        if len(entries) != count or any(len(e) != width for e in entries):
            raise ValueError(f"expected {count} entries of {width} integers")
        if any(line.strip() for line in lines[2 + count :]):
            raise ValueError("trailing data")
    except (ValueError, IndexError) as exc:
        raise CorruptCheckpointError(f"{path}: {exc}") from exc
    return entries


def _strict_int(text: str) -> int:
    if not _INT.match(text):
        raise ValueError(f"{text!r} is not an integer")
    return int(text)


def write_offset(path: str, offset: int) -> None:
    write_checkpoint(path, [(offset,)])


def read_offset(path: str) -> int | None:
    entries = read_checkpoint(path, 1)
    if not entries:
        return None
    return entries[0][0]
