"""Sparse offset index and time index of one segment.

Both follow Kafka's file formats (big-endian, fixed-size entries, offsets relative
to the segment's base offset so they fit in 4 bytes)::

    .index      8 bytes/entry: relative offset u32 | file position u32
    .timeindex 12 bytes/entry: timestamp i64       | relative offset u32

An offset-index entry names the *first* offset of a batch and that batch's file
position; one is added after at least ``index.interval.bytes`` of log since the
previous one, so a lookup lands at most one interval before the batch it wants.
A time-index entry says "by this batch the largest timestamp seen was T".

Why entries live in memory and reach the file only on ``flush``: appending to the
index must not cost extra system calls on the produce path (Kafka gets the same
from mmap). The index is derived data: recovery rebuilds it from the log for every
segment past the last flushed point, so an index that lags the log is harmless,
and one that fails its sanity check on open is rebuilt.
"""

from __future__ import annotations

import bisect
import os
import struct
from array import array

_U32 = 0xFFFFFFFF


class CorruptIndexError(Exception):
    """An index file fails its sanity check; the caller rebuilds it from the log."""


class _SparseIndex:
    ENTRY: struct.Struct

    def __init__(self, path: str, base_offset: int):
        self.path = path
        self.base_offset = base_offset
        self._keys = array("q")  # what lookups search: offsets or timestamps
        self._values = array("q")
        self._flushed = 0  # entries already in the file

    # -- file --------------------------------------------------------------
    def load(self) -> None:
        """Read the file; raise ``CorruptIndexError`` if it is not a valid index."""
        self._keys = array("q")
        self._values = array("q")
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            data = b""
        if len(data) % self.ENTRY.size:
            raise CorruptIndexError(f"{self.path}: size {len(data)} is not a multiple of {self.ENTRY.size}")
        for fields in self.ENTRY.iter_unpack(data):
            self._add_loaded(*fields)
        self._flushed = len(self._keys)
        self._check()

    def flush(self, fsync: bool = False) -> None:
        if self._flushed == len(self._keys) and not fsync:
            return
        pending = b"".join(self._pack(i) for i in range(self._flushed, len(self._keys)))
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            if pending:
                os.write(fd, pending)
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        self._flushed = len(self._keys)

    def rewrite(self) -> None:
        """Write the whole file anew from memory (after a rebuild or truncation)."""
        data = b"".join(self._pack(i) for i in range(len(self._keys)))
        tmp = self.path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, self.path)
        self._flushed = len(self._keys)

    def reset(self) -> None:
        self._keys = array("q")
        self._values = array("q")
        self.rewrite()

    def delete(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def __len__(self) -> int:
        return len(self._keys)

    def _drop_from(self, i: int) -> None:
        if i >= len(self._keys):
            return
        del self._keys[i:]
        del self._values[i:]
        if i < self._flushed:
            self.rewrite()


class OffsetIndex(_SparseIndex):
    ENTRY = struct.Struct(">II")

    def _add_loaded(self, relative_offset: int, position: int) -> None:
        self._keys.append(self.base_offset + relative_offset)
        self._values.append(position)

    def _pack(self, i: int) -> bytes:
        return self.ENTRY.pack(self._keys[i] - self.base_offset, self._values[i])

    def _check(self) -> None:
        prev_off, prev_pos = self.base_offset - 1, -1
        for off, pos in zip(self._keys, self._values):
            if off <= prev_off or pos <= prev_pos:
                raise CorruptIndexError(f"{self.path}: entries out of order at offset {off}")
            prev_off, prev_pos = off, pos

    def check_against(self, log_size: int) -> None:
        if self._values and self._values[-1] >= log_size:
            raise CorruptIndexError(f"{self.path}: position {self._values[-1]} is past the log end {log_size}")

    def append(self, offset: int, position: int) -> None:
        if self._keys and (offset <= self._keys[-1] or position <= self._values[-1]):
            raise ValueError(f"index entry ({offset}, {position}) does not follow the last one")
        if offset - self.base_offset > _U32 or position > _U32:
            raise ValueError("index entry overflows 32 bits")
        self._keys.append(offset)
        self._values.append(position)

    def lookup(self, offset: int) -> tuple[int, int]:
        """The last entry at or below ``offset``, or ``(base_offset, 0)``."""
        i = bisect.bisect_right(self._keys, offset)
        if i == 0:
            return self.base_offset, 0
        return self._keys[i - 1], self._values[i - 1]

    def last(self) -> tuple[int, int]:
        return (self._keys[-1], self._values[-1]) if self._keys else (self.base_offset, 0)

    def truncate_to(self, offset: int) -> None:
        """Drop entries for offsets at or above ``offset``."""
        self._drop_from(bisect.bisect_left(self._keys, offset))


class TimeIndex(_SparseIndex):
    ENTRY = struct.Struct(">qI")

    def _add_loaded(self, timestamp: int, relative_offset: int) -> None:
        self._keys.append(timestamp)
        self._values.append(self.base_offset + relative_offset)

    def _pack(self, i: int) -> bytes:
        return self.ENTRY.pack(self._keys[i], self._values[i] - self.base_offset)

    def _check(self) -> None:
        for i in range(1, len(self._keys)):
            if self._keys[i] <= self._keys[i - 1] or self._values[i] < self._values[i - 1]:
                raise CorruptIndexError(f"{self.path}: entries out of order at entry {i}")
        if self._values and self._values[0] < self.base_offset:
            raise CorruptIndexError(f"{self.path}: offset below the segment base")

    def check_against(self, next_offset: int) -> None:
        if self._values and self._values[-1] >= next_offset:
            raise CorruptIndexError(f"{self.path}: offset {self._values[-1]} is past the segment end")

    def maybe_append(self, timestamp: int, offset: int) -> None:
        """Add an entry when ``timestamp`` is a new maximum."""
        if self._keys and timestamp <= self._keys[-1]:
            return
        self._keys.append(timestamp)
        self._values.append(offset)

    def last_timestamp(self) -> int:
        return self._keys[-1] if self._keys else -1

    def last_offset(self) -> int:
        return self._values[-1] if self._values else self.base_offset

    def lookup(self, timestamp: int) -> int:
        """An offset from which to scan for the first batch with max timestamp >= ``timestamp``."""
        i = bisect.bisect_left(self._keys, timestamp)
        return self._values[i - 1] if i else self.base_offset

    def truncate_to(self, offset: int) -> None:
        self._drop_from(bisect.bisect_left(self._values, offset))
