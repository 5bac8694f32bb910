"""One segment of a partition log: a ``.log`` file plus its offset and time indexes.

Files are named by the segment's base offset, zero-padded to 20 digits
(``00000000000000000000.log``, ``.index``, ``.timeindex``), so a directory listing
sorts in offset order, as in Kafka.

Reads never load the file: a fetch finds its starting batch with the sparse index
and a few 61-byte header reads (``os.pread``), then reads whole batches up to the
byte limit with one ``pread``. Appends are one ``os.writev`` of the batch bytes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

from .batch import HEADER_SIZE, RecordBatch
from .errors import CorruptRecordError
from .index import CorruptIndexError, OffsetIndex, TimeIndex

log = logging.getLogger(__name__)

_SCAN_CHUNK = 1 << 20


def segment_name(base_offset: int, suffix: str) -> str:
    return f"{base_offset:020d}{suffix}"


def parse_segment_name(filename: str) -> int | None:
    stem, dot, suffix = filename.partition(".")
    if suffix == "log" and len(stem) == 20 and stem.isdigit():
        return int(stem)
    return None


# -- compaction's temporary names (Kafka's LogFileUtils suffixes) -------------------
# A segment's three files can carry one extra suffix while storage.compaction swaps a
# cleaned segment in (the protocol is Log.replace_segments; recovery is below):
#
#     <base>.log.cleaned   being written; deleted by recovery (the swap never began)
#     <base>.log.swap      written and fsynced; recovery completes the swap
#     <base>.log.deleted   an old segment on its way out; deleted by recovery
#
# (and the same for .index / .timeindex).
CLEANED_SUFFIX = ".cleaned"
SWAP_SUFFIX = ".swap"
DELETED_SUFFIX = ".deleted"
_FILE_KINDS = ("log", "index", "timeindex")


def parse_segment_file(filename: str) -> tuple[int, str, str] | None:
    """``(base offset, kind, extra suffix)`` of any segment file, e.g.
    ``00000000000000000005.index.swap`` -> ``(5, "index", ".swap")``; ``None`` otherwise."""
    stem, _, rest = filename.partition(".")
    kind, dot, extra = rest.partition(".")
    if len(stem) != 20 or not stem.isdigit() or kind not in _FILE_KINDS:
        return None
    if dot and "." + extra not in (CLEANED_SUFFIX, SWAP_SUFFIX, DELETED_SUFFIX):
        return None
    return int(stem), kind, dot + extra


def plan_swap_recovery(names: list[str], swap_next_offsets: dict[int, int]) -> tuple[list[str], list[tuple[str, str]]]:
    """What to delete and what to rename after a crash in the middle of a compaction swap.

    Pure: ``names`` is the directory listing, ``swap_next_offsets`` maps the base of
    every ``<base>.log.swap`` to the next offset after its last batch. Kafka's rules
    (``LogLoader.removeTempFilesAndCollectSwapFiles`` and the swap passes of
    ``LogLoader.load``):

    * ``.cleaned`` and ``.deleted`` files go: a cleaned segment that never became a
      swap file is discarded (the old segments are still whole), and a ``.deleted``
      one was already replaced.
    * A ``<base>.log.swap`` is a finished cleaned segment that replaces the segments
      whose base offsets lie in ``[base, its next offset)``; whatever is left of those
      (their ``.log``/``.index``/``.timeindex``) goes, then every ``.swap`` file is
      renamed to its final name. A cleaned segment always ends at the same offset as
      the group it replaces (``storage.compaction`` keeps its last batch, emptied if
      need be), so the range covers the whole group.
    """
    deletions: list[str] = []
    kept: list[tuple[str, int, str]] = []
    for name in names:
        parsed = parse_segment_file(name)
        if parsed is None:
            continue
        base, _, extra = parsed
        if extra in (CLEANED_SUFFIX, DELETED_SUFFIX):
            deletions.append(name)
        else:
            kept.append((name, base, extra))
    ranges = [(base, max(end, base + 1)) for base, end in swap_next_offsets.items()]
    renames = []
    for name, base, extra in kept:
        if extra == SWAP_SUFFIX:
            renames.append((name, name[: -len(SWAP_SUFFIX)]))
        elif any(lo <= base < hi for lo, hi in ranges):
            deletions.append(name)
    return deletions, renames


def segment_next_offset(path: str, base_offset: int) -> int:
    """The offset after the last whole batch of a segment file (``base_offset`` if none)."""
    next_offset = base_offset
    fd = os.open(path, os.O_RDONLY)
    try:
        size, position = os.fstat(fd).st_size, 0
        while size - position >= HEADER_SIZE:
            batch = RecordBatch(os.pread(fd, HEADER_SIZE, position))
            if not batch.length_ok or position + batch.size > size:
                break
            next_offset = batch.next_offset
            position += batch.size
    finally:
        os.close(fd)
    return next_offset


class LogSegment:
    """An append-only file of whole batches, with the facts a log needs about it."""

    def __init__(self, directory: str, base_offset: int, index_interval_bytes: int, *, created_ms: int,
                 suffix: str = ""):
        self.directory = directory
        self.base_offset = base_offset
        self.index_interval_bytes = index_interval_bytes
        self.suffix = suffix  # "" for a live segment; CLEANED_SUFFIX / SWAP_SUFFIX / DELETED_SUFFIX in a swap
        self.log_path = os.path.join(directory, segment_name(base_offset, ".log") + suffix)
        self.offset_index = OffsetIndex(os.path.join(directory, segment_name(base_offset, ".index") + suffix),
                                        base_offset)
        self.time_index = TimeIndex(os.path.join(directory, segment_name(base_offset, ".timeindex") + suffix),
                                    base_offset)
        self._fd = os.open(self.log_path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        self.size = os.fstat(self._fd).st_size
        self.next_offset = base_offset
        self.max_timestamp = -1
        self.offset_of_max_timestamp = base_offset  # a batch holding max_timestamp
        self.first_batch_timestamp: int | None = None  # what segment.ms counts from
        self.created_ms = created_ms
        self._bytes_since_index = 0

    # -- opening -------------------------------------------------------------
    def load_indexes(self) -> None:
        """Load and sanity-check the indexes, then learn the tail by reading headers.

        A corrupt or inconsistent index is rebuilt from the log (``CorruptIndexError``
        never escapes); a malformed tail raises ``CorruptRecordError`` so the caller
        runs full recovery.
        """
        try:
            if self.size and not (os.path.exists(self.offset_index.path) and os.path.exists(self.time_index.path)):
                raise CorruptIndexError("index file missing")
            self.offset_index.load()
            self.time_index.load()
            self.offset_index.check_against(self.size)
        except CorruptIndexError as exc:
            log.warning("rebuilding indexes of %s: %s", self.log_path, exc)
            self.rebuild_indexes()
            return
        if not self._learn_tail():
            log.warning("rebuilding indexes of %s: entry does not point at its batch", self.log_path)
            self.rebuild_indexes()
            return
        try:
            self.time_index.check_against(self.next_offset)
        except CorruptIndexError as exc:
            log.warning("rebuilding indexes of %s: %s", self.log_path, exc)
            self.rebuild_indexes()
            return
        self._load_first_timestamp()

    def _learn_tail(self) -> bool:
        """Next offset and max timestamp from the indexes plus the headers after the last entry.

        False when the last offset-index entry does not point at a batch with its offset.
        """
        last_offset, position = self.offset_index.last()
        self.next_offset = self.base_offset
        self._max_from_time_index()
        for pos, batch in self.scan_headers(position):
            if pos == position and position > 0 and batch.base_offset != last_offset:
                return False
            self.next_offset = batch.next_offset
            self._note_max(batch.max_timestamp, batch.base_offset)
        self._bytes_since_index = self.size - position
        return True

    def rebuild_indexes(self) -> None:
        """Recreate both indexes from the batch headers (no CRC check)."""
        self.reset_tracking()
        for pos, batch in self.scan_headers(0):
            self.track(batch.base_offset, batch.next_offset, batch.max_timestamp, pos, batch.size)
        self.offset_index.rewrite()
        self.time_index.rewrite()

    def reset_tracking(self) -> None:
        self.offset_index.reset()
        self.time_index.reset()
        self.next_offset = self.base_offset
        self.max_timestamp = -1
        self.offset_of_max_timestamp = self.base_offset
        self.first_batch_timestamp = None
        self._bytes_since_index = 0

    def _load_first_timestamp(self) -> None:
        if self.size >= HEADER_SIZE:
            self.first_batch_timestamp = RecordBatch(os.pread(self._fd, HEADER_SIZE, 0)).max_timestamp

    # -- writing -------------------------------------------------------------
    def append(self, chunks, size: int, base_offset: int, next_offset: int, max_timestamp: int) -> None:
        """Write one batch (given as buffers, possibly re-stamped) at the end."""
        position = self.size
        written = os.writev(self._fd, chunks)
        if written != size:  # a short write leaves a torn batch; make it visible now
            os.ftruncate(self._fd, position)
            raise OSError(f"short write to {self.log_path}: {written} of {size} bytes")
        self.size += size
        self.track(base_offset, next_offset, max_timestamp, position, size)

    def _max_from_time_index(self) -> None:
        self.max_timestamp = self.time_index.last_timestamp()
        self.offset_of_max_timestamp = self.time_index.last_offset()

    def _note_max(self, max_timestamp: int, base_offset: int) -> None:
        if max_timestamp > self.max_timestamp:
            self.max_timestamp = max_timestamp
            self.offset_of_max_timestamp = base_offset

    def track(self, base_offset: int, next_offset: int, max_timestamp: int, position: int, size: int) -> None:
        """Account for a batch now at ``position``: indexes, max timestamp, next offset."""
        if max_timestamp > self.max_timestamp:
            self.max_timestamp = max_timestamp
            self.offset_of_max_timestamp = base_offset
        if self._bytes_since_index >= self.index_interval_bytes or position == 0:
            if position == 0:
                self.first_batch_timestamp = max_timestamp
            else:
                self.offset_index.append(base_offset, position)
            self.time_index.maybe_append(self.max_timestamp, base_offset)
            self._bytes_since_index = size
        else:
            self._bytes_since_index += size
        self.next_offset = next_offset

    def flush(self) -> None:
        os.fsync(self._fd)
        self.offset_index.flush(fsync=True)
        self.time_index.flush(fsync=True)

    def seal(self) -> None:
        """Called when the segment stops being active: its final max timestamp is indexed.

        The entry names the batch that reached the maximum (as Kafka's
        offsetOfMaxTimestamp), so a truncation that removes that batch removes the
        entry too, and a time lookup that starts there misses nothing before it.
        """
        if self.max_timestamp >= 0:
            self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp)

    def truncate_to(self, offset: int) -> int:
        """Cut from the batch holding ``offset`` on; returns the bytes removed."""
        position = self.position_of(offset)
        if position is None:
            return 0
        # the cut starts at the batch holding ``offset``: index entries from its base on go too
        cut_offset = RecordBatch(os.pread(self._fd, HEADER_SIZE, position)).base_offset
        removed = self.size - position
        self.truncate_bytes(position)
        self.offset_index.truncate_to(cut_offset)
        self.time_index.truncate_to(cut_offset)
        self.offset_index.rewrite()
        self.time_index.rewrite()
        self._learn_tail()  # the remaining entries all point below the cut
        self._load_first_timestamp()
        return removed

    def truncate_bytes(self, position: int) -> None:
        """Drop everything from ``position`` (used by recovery after its own scan)."""
        os.ftruncate(self._fd, position)
        self.size = position

    # -- reading -------------------------------------------------------------
    def scan_headers(self, position: int = 0, end: int | None = None) -> Iterator[tuple[int, RecordBatch]]:
        """Batch headers from ``position`` on, one small ``pread`` each.

        Raises ``CorruptRecordError`` on a torn or malformed header or a batch that
        runs past the end of the file.
        """
        end = self.size if end is None else end
        while position < end:
            header = os.pread(self._fd, HEADER_SIZE, position)
            batch = RecordBatch(header)  # raises when fewer than 61 bytes are left
            if not batch.length_ok or position + batch.size > end:
                raise CorruptRecordError(f"{self.log_path}: bad batch length at position {position}")
            yield position, batch
            position += batch.size

    def scan_batches(self, position: int = 0) -> Iterator[tuple[int, RecordBatch]]:
        """Whole batches (header and records) from ``position``, read in 1 MiB chunks.

        Stops quietly at a torn tail; the caller decides what a short tail means by
        comparing the last position it saw with ``size``.
        """
        while position < self.size:
            chunk = os.pread(self._fd, max(_SCAN_CHUNK, HEADER_SIZE), position)
            if len(chunk) < HEADER_SIZE:
                return
            offset = 0
            while len(chunk) - offset >= HEADER_SIZE:
                batch = RecordBatch(chunk, offset)
                if not batch.length_ok:
                    yield position + offset, batch  # the caller's validate() reports it
                    return
                if offset + batch.size > len(chunk):
                    if offset == 0:  # one batch larger than the chunk
                        whole = os.pread(self._fd, batch.size, position)
                        if len(whole) < batch.size:
                            return
                        yield position, RecordBatch(whole)
                        offset = batch.size
                    break
                yield position + offset, batch
                offset += batch.size
            if offset == 0:
                return
            position += offset

    def position_of(self, offset: int) -> int | None:
        """File position of the batch holding ``offset``; ``None`` if past the end."""
        if offset >= self.next_offset:
            return None
        _, position = self.offset_index.lookup(offset)
        for pos, batch in self.scan_headers(position):
            if batch.last_offset >= offset:
                return pos
        return None

    def read(self, offset: int, max_bytes: int, max_offset: int | None = None) -> bytes:
        """Whole batches from the one holding ``offset``, up to ``max_bytes``.

        The first batch is returned whole even when it is larger than ``max_bytes``
        (so a consumer always makes progress, as in Kafka's KIP-74); batches starting
        at or after ``max_offset`` (the high watermark) are left out.
        """
        start = self.position_of(offset)
        if start is None:
            return b""
        data = os.pread(self._fd, max(min(max_bytes, self.size - start), HEADER_SIZE), start)
        pos = 0
        while len(data) - pos >= HEADER_SIZE:
            batch = RecordBatch(data, pos)
            if (max_offset is not None and batch.base_offset >= max_offset) or pos + batch.size > len(data):
                break
            pos += batch.size
        if pos == 0:  # the first batch is excluded or larger than the limit
            first = RecordBatch(data)
            if max_offset is not None and first.base_offset >= max_offset:
                return b""
            return data if len(data) == first.size else os.pread(self._fd, first.size, start)
        return data if pos == len(data) else data[:pos]

    def offset_for_timestamp(self, timestamp: int) -> int | None:
        """First offset of the first batch whose max timestamp is >= ``timestamp``."""
        if self.max_timestamp < timestamp:
            return None
        start_offset = self.time_index.lookup(timestamp)
        _, position = self.offset_index.lookup(start_offset)
        for _, batch in self.scan_headers(position):
            if batch.max_timestamp >= timestamp:
                return batch.base_offset
        return None

    # -- lifecycle -----------------------------------------------------------
    def close(self) -> None:
        if self._fd >= 0:
            self.offset_index.flush()
            self.time_index.flush()
            os.close(self._fd)
            self._fd = -1

    def delete(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        for path in (self.log_path, self.offset_index.path, self.time_index.path):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def change_suffix(self, suffix: str) -> None:
        """Rename the three files to end in ``suffix`` (``""``: the final names), as Kafka's
        ``LogSegment.changeFileSuffixes``. The ``.log`` goes first: it is the file recovery
        keys on, and an index left behind under the old name is deleted or rebuilt. The
        open descriptor keeps reading and writing the renamed file.
        """
        for holder, attr in ((self, "log_path"), (self.offset_index, "path"), (self.time_index, "path")):
            old = getattr(holder, attr)
            new = old[: len(old) - len(self.suffix)] + suffix
            try:
                os.replace(old, new)
            except FileNotFoundError:
                if holder is self:
                    raise
            setattr(holder, attr, new)
        self.suffix = suffix

    @property
    def last_modified_ms(self) -> int:
        return int(os.stat(self.log_path).st_mtime * 1000)

    def __repr__(self) -> str:
        return f"LogSegment(base={self.base_offset}, next={self.next_offset}, size={self.size})"
