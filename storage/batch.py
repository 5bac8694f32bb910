"""RecordBatch v2 (magic 2): the unit zafka stores and sends, byte for byte Kafka's.

Byte layout (big-endian; offsets from the start of the batch)::

    offset  size  field                    covered by CRC
    ------  ----  -----------------------  --------------
         0     8  base offset              no  (stamped by the leader)
         8     4  batch length             no  (bytes after this field)
        12     4  partition leader epoch   no  (stamped by the leader)
        16     1  magic (= 2)              no
        17     4  CRC-32C (unsigned)       no
        21     2  attributes               yes
        23     4  last offset delta        yes
        27     8  base timestamp           yes
        35     8  max timestamp            yes
        43     8  producer id              yes
        51     2  producer epoch           yes
        53     4  base sequence            yes
        57     4  record count             yes
        61     …  records (compressed as one unit when attributes say so)

Attributes: bits 0-2 compression (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd),
bit 3 timestamp type (0 create time, 1 log append time), bit 4 transactional,
bit 5 control batch.

Each record (never compressed on its own)::

    length varint | attributes int8 | timestamp delta varlong | offset delta varint
    key length varint (-1 = null) | key | value length varint (-1 = null) | value
    header count varint | [key length varint | key utf-8 | value length varint | value]...

Because the CRC starts at the attributes, a leader stamps the base offset and its
leader epoch into a producer's batch without recomputing it, and stores the bytes
as they came. The record varints themselves are encoded and decoded by
``storage.codec`` (swappable); this module owns the header, CRC and compression.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from crc32c import crc32c

from . import codec, compression
from .errors import CorruptRecordError, InvalidRecordError, RecordTooLargeError

HEADER = struct.Struct(">qiibIhiqqqhii")
HEADER_SIZE = HEADER.size  # 61
LOG_OVERHEAD = 12  # base offset + batch length: what precedes the length-counted bytes
MIN_BATCH_LENGTH = HEADER_SIZE - LOG_OVERHEAD  # a batch length below this cannot even hold the header
MAGIC = 2
NO_PRODUCER_ID = -1
NO_PARTITION_LEADER_EPOCH = -1
NO_TIMESTAMP = -1

ATTR_TIMESTAMP_TYPE = 0x08
ATTR_TRANSACTIONAL = 0x10
ATTR_CONTROL = 0x20

# byte offsets of the fields the code touches, from the table above
_LENGTH_AT = 8
_EPOCH_AT = 12
_MAGIC_AT = 16
_CRC_AT = 17
_ATTRIBUTES_AT = 21
_CRC_START = _ATTRIBUTES_AT  # the CRC covers attributes .. end
_PRODUCER_ID_AT = 43
STAMPED_PREFIX_SIZE = _MAGIC_AT  # base offset, length, epoch: what a leader re-stamps, outside the CRC
_PREFIX = struct.Struct(">qii")  # base offset, length, partition leader epoch
_INT32 = struct.Struct(">i")
_UINT32 = struct.Struct(">I")
_INT16 = struct.Struct(">h")
_CODEC_MASK = compression.CODEC_MASK  # bound locally: check_payload runs for every produce request
_LAST_CODEC = max(compression.CODEC_NAMES)


class Record(NamedTuple):
    """One record as a producer hands it in; decoded records carry the same attributes."""

    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] = []
    timestamp: int | None = None


class BatchBuilder:
    """Builds one batch in a single pass over its records.

    ``append`` encodes each record as it comes (no list kept); ``build`` compresses
    the records section once and writes the header with its CRC.
    """

    __slots__ = ("_builder", "_count", "_codec")

    def __init__(
        self,
        compression_type: str | int = compression.NONE,
        *,
        producer_id: int = NO_PRODUCER_ID,
        producer_epoch: int = -1,
        base_sequence: int = -1,
        is_transactional: bool = False,
    ):
        self._codec = compression.codec_id(compression_type)
        self._builder = codec.new_builder(
            is_transactional=is_transactional,
            producer_id=producer_id,
            producer_epoch=producer_epoch,
            base_sequence=base_sequence,
        )
        self._count = 0

    def append(self, value, key=None, headers=None, timestamp: int | None = None) -> int:
        """Add a record; returns its offset delta within the batch."""
        if timestamp is None:  # create time, per record, as Kafka's producer stamps it
            timestamp = int(time.time() * 1000)
        self._builder.append(self._count, timestamp, key, value, headers or [])
        self._count += 1
        return self._count - 1

    def __len__(self) -> int:
        return self._count

    def size_estimate(self) -> int:
        """Uncompressed size so far: what the producer compares with ``batch.size``."""
        return self._builder.size()

    def build(self, base_offset: int = 0, partition_leader_epoch: int = -1) -> bytes:
        if self._count == 0:
            raise ValueError("a record batch needs at least one record")
        buf = self._builder.build()
        if self._codec != compression.NONE:
            body = compression.compress(self._codec, memoryview(buf)[HEADER_SIZE:])
            header = bytearray(buf[:HEADER_SIZE])
            _INT32.pack_into(header, _LENGTH_AT, HEADER_SIZE - LOG_OVERHEAD + len(body))
            (attributes,) = _INT16.unpack_from(header, _ATTRIBUTES_AT)
            _INT16.pack_into(header, _ATTRIBUTES_AT, attributes | self._codec)
            crc = crc32c(body, crc32c(memoryview(header)[_CRC_START:]))
            _UINT32.pack_into(header, _CRC_AT, crc)
            buf = header + body
        _PREFIX.pack_into(buf, 0, base_offset, _INT32.unpack_from(buf, _LENGTH_AT)[0], partition_leader_epoch)
        return bytes(buf)


def build_batch(records: Iterable, compression_type: str | int = compression.NONE, **kwargs) -> bytes:
    """One batch from ``Record``s, ``(key, value)`` pairs or plain values."""
    base_offset = kwargs.pop("base_offset", 0)
    epoch = kwargs.pop("partition_leader_epoch", -1)
    builder = BatchBuilder(compression_type, **kwargs)
    for rec in records:
        if isinstance(rec, Record):
            builder.append(rec.value, rec.key, rec.headers, rec.timestamp)
        elif isinstance(rec, tuple):
            builder.append(rec[1], rec[0])
        else:
            builder.append(rec)
    return builder.build(base_offset, epoch)


class RecordBatch:
    """A read-only view of one batch inside a larger buffer; records decode lazily.

    Constructing the view reads the fixed header only; ``validate`` checks magic,
    length and CRC; ``records`` decompresses and decodes on demand.
    """

    __slots__ = (
        "buffer", "position", "base_offset", "batch_length", "partition_leader_epoch",
        "magic", "crc", "attributes", "last_offset_delta", "base_timestamp",
        "max_timestamp", "producer_id", "producer_epoch", "base_sequence", "record_count", "size",
    )

    def __init__(self, buffer, position: int = 0):
        if len(buffer) - position < HEADER_SIZE:
            raise CorruptRecordError(
                f"batch header needs {HEADER_SIZE} bytes, {len(buffer) - position} available"
            )
        self.buffer = buffer
        self.position = position
        (
            self.base_offset, self.batch_length, self.partition_leader_epoch, self.magic,
            self.crc, self.attributes, self.last_offset_delta, self.base_timestamp,
            self.max_timestamp, self.producer_id, self.producer_epoch, self.base_sequence,
            self.record_count,
        ) = HEADER.unpack_from(buffer, position)
        self.size = self.batch_length + LOG_OVERHEAD  # the whole batch, header included

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1

    @property
    def compression(self) -> int:
        return self.attributes & compression.CODEC_MASK

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & ATTR_TRANSACTIONAL)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & ATTR_CONTROL)

    @property
    def length_ok(self) -> bool:
        """The batch length can at least hold the header (the one length rule every reader applies)."""
        return self.batch_length >= MIN_BATCH_LENGTH

    def raw(self) -> memoryview:
        return memoryview(self.buffer)[self.position : self.position + self.size]

    def validate(self) -> None:
        """Raise ``CorruptRecordError`` unless magic, length and CRC are right."""
        if self.magic != MAGIC:
            raise CorruptRecordError(f"unsupported magic {self.magic} (only RecordBatch v2)")
        if not self.length_ok:
            raise CorruptRecordError(f"batch length {self.batch_length} is below the header size")
        position, buffer = self.position, self.buffer
        end = position + self.size
        if end > len(buffer):
            raise CorruptRecordError(f"batch claims {self.size} bytes, {len(buffer) - position} available")
        if self.record_count < 0 or self.last_offset_delta < 0:
            raise CorruptRecordError("negative record count or last offset delta")
        actual = crc32c(memoryview(buffer)[position + _CRC_START : end])
        if actual != self.crc:
            raise CorruptRecordError(f"CRC mismatch: stored {self.crc:#010x}, computed {actual:#010x}")
        if self.attributes & compression.CODEC_MASK not in compression.CODEC_NAMES:
            raise CorruptRecordError(f"unknown compression code {self.compression}")

    def records(self) -> Iterator:
        """Records with absolute offsets; attributes ``offset timestamp key value headers``."""
        view = self.raw()
        codec_id = self.compression
        if codec_id == compression.NONE:
            return codec.iter_records(view)
        body = compression.decompress(codec_id, view[HEADER_SIZE:])
        header = bytearray(view[:HEADER_SIZE])
        _INT16.pack_into(header, _ATTRIBUTES_AT, self.attributes & ~compression.CODEC_MASK)
        return codec.iter_records(header + body)

    def __repr__(self) -> str:
        return (
            f"RecordBatch(base_offset={self.base_offset}, last_offset={self.last_offset}, "
            f"records={self.record_count}, size={self.size}, "
            f"codec={compression.CODEC_NAMES.get(self.compression, self.compression)})"
        )


def iter_batches(buffer, *, validate: bool = False) -> Iterator[RecordBatch]:
    """Walk whole batches in a buffer of concatenated batches.

    A trailing partial batch (a fetch cut by its byte limit) is skipped silently,
    as Kafka's consumers do; anything malformed before it raises.
    """
    pos, end = 0, len(buffer)
    while end - pos >= HEADER_SIZE:
        batch = RecordBatch(buffer, pos)
        if not batch.length_ok:
            raise CorruptRecordError(f"batch length {batch.batch_length} at position {pos}")
        if pos + batch.size > end:
            return
        if validate:
            batch.validate()
        yield batch
        pos += batch.size


def whole_batches_length(buffer) -> int:
    """Bytes of the whole batches that open ``buffer``: a fetch cut by its byte limit ends in a partial one."""
    view = memoryview(buffer)
    pos, end = 0, len(view)
    while end - pos >= HEADER_SIZE:
        size = _INT32.unpack_from(view, pos + _LENGTH_AT)[0] + LOG_OVERHEAD
        if size < HEADER_SIZE or pos + size > end:
            break
        pos += size
    return pos


class BatchHeader(NamedTuple):
    """What the append path needs of one checked batch in a payload."""

    position: int
    size: int
    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    last_offset_delta: int
    max_timestamp: int
    record_count: int
    producer_id: int  # NO_PRODUCER_ID unless an idempotent producer sent it
    producer_epoch: int
    base_sequence: int


_UNPACK_HEADER = HEADER.unpack_from
_new_tuple = tuple.__new__  # builds a BatchHeader without NamedTuple's Python-level __new__


def check_payload(buffer, max_batch_bytes: int, *, compacted: bool = False) -> list[BatchHeader]:
    """Check every batch of a produce/replication payload; all must pass or nothing is used.

    The same checks as ``RecordBatch.validate`` plus size and offset-delta rules, in
    one tight loop because it runs for every produce request (``Log.append``).
    Raises ``CorruptRecordError``, ``InvalidRecordError`` or ``RecordTooLargeError``.

    A producer's batch numbers its records 0..n-1, so its last offset delta is its
    record count - 1. ``compacted=True`` (a follower appending its leader's batches,
    ``Log.append_as_follower``) also accepts what compaction writes: batches with
    offset gaps between their records (fewer records than the delta spans) and
    empty batches (no record, kept to end a cleaned segment). Magic, length, CRC,
    codec and size are checked either way.
    """
    view = memoryview(buffer)
    end = len(view)
    out: list[BatchHeader] = []
    pos = 0
    while pos < end:
        if end - pos < HEADER_SIZE:
            raise CorruptRecordError(f"batch header needs {HEADER_SIZE} bytes, {end - pos} available")
        (base, length, epoch, magic, crc, attributes, last_delta, _, max_ts, pid, pepoch, seq, count) = _UNPACK_HEADER(
            view, pos)
        size = length + LOG_OVERHEAD
        if magic != MAGIC:
            raise CorruptRecordError(f"unsupported magic {magic} (only RecordBatch v2)")
        if length < MIN_BATCH_LENGTH or pos + size > end:  # RecordBatch.length_ok, inlined for speed
            raise CorruptRecordError(f"batch length {length} does not fit the {end - pos} bytes available")
        if crc32c(view[pos + _CRC_START : pos + size]) != crc:
            raise CorruptRecordError("CRC mismatch: the batch was corrupted in transit or storage")
        if attributes & _CODEC_MASK > _LAST_CODEC:
            raise CorruptRecordError(f"unknown compression code {attributes & _CODEC_MASK}")
        if (count < 0 or last_delta < 0 or count > last_delta + 1) if compacted else (
            count <= 0 or last_delta != count - 1
        ):
            raise InvalidRecordError(f"batch has {count} records but last offset delta {last_delta}")
        if size > max_batch_bytes:
            raise RecordTooLargeError(f"batch of {size} bytes exceeds the limit of {max_batch_bytes}")
        out.append(_new_tuple(BatchHeader, (pos, size, base, length, epoch, last_delta, max_ts, count, pid, pepoch, seq)))
        pos += size
    if not out:
        raise InvalidRecordError("no record batch in the payload")
    return out


def check_keys(buffer, headers: Iterable[BatchHeader], where: str) -> None:
    """Refuse a payload holding a record without a key: a compacted topic's rule (Kafka's ``LogValidator``).

    Compaction keeps the latest record *per key*, so a keyless record has no place in
    a compacted log; Kafka refuses the whole request with ``InvalidRecordException``.
    This decodes (and decompresses) every record, which is why ``Log.append`` calls
    it only for compacted topics, after ``check_payload``.
    """
    for h in headers:
        for record in RecordBatch(buffer, h.position).records():
            if record.key is None:
                raise InvalidRecordError(f"Compacted topic cannot accept message without key in {where}")


def stamp(batch: bytearray, base_offset: int, partition_leader_epoch: int) -> None:
    """Set the two fields a leader assigns; the CRC stays valid."""
    _PREFIX.pack_into(batch, 0, base_offset, _INT32.unpack_from(batch, _LENGTH_AT)[0], partition_leader_epoch)


_PRODUCER_STATE = struct.Struct(">qhi")  # producer id, producer epoch, base sequence


def with_producer_state(batch, producer_id: int, producer_epoch: int, base_sequence: int) -> bytes:
    """A copy of one batch stamped with an idempotent producer's id, epoch and first sequence.

    The producer numbers a batch when it first sends it, not when it builds it, so
    a batch can be renumbered if the producer must start a new sequence before the
    batch ever reached a broker. The fields lie inside the CRC: it is recomputed
    (one pass in C over the batch).
    """
    out = bytearray(batch)
    _PRODUCER_STATE.pack_into(out, _PRODUCER_ID_AT, producer_id, producer_epoch, base_sequence)
    _UINT32.pack_into(out, _CRC_AT, crc32c(memoryview(out)[_CRC_START:]))
    return bytes(out)


def stamped_prefix(base_offset: int, batch_length: int, partition_leader_epoch: int) -> bytes:
    """A batch's first ``STAMPED_PREFIX_SIZE`` bytes re-stamped, to write before the rest with writev."""
    return _PREFIX.pack(base_offset, batch_length, partition_leader_epoch)


# magic .. max timestamp: the stretch LogAppendTime rewrites (attributes and max timestamp, so the CRC)
_MID = struct.Struct(">bIhiqq")
_MID_END = _PRODUCER_ID_AT
_MID_CRC_AT = _CRC_AT - _MAGIC_AT
_MID_CRC_START = _CRC_START - _MAGIC_AT


def log_append_time_chunks(view: memoryview, header: BatchHeader, base_offset: int, partition_leader_epoch: int,
                           append_time: int) -> tuple:
    """A batch re-stamped for ``LogAppendTime``: the chunks to write in place of its bytes.

    As Kafka's ``DefaultRecordBatch.setMaxTimestamp``: the attributes get the
    timestamp-type bit, the max timestamp becomes the broker's append time (readers
    then give every record that time), and the CRC — which covers both — is
    recomputed: one pass over the batch, nothing per record. The records themselves
    are written from the producer's buffer untouched.
    """
    pos = header.position
    magic, _, attributes, last_delta, base_ts, _ = _MID.unpack_from(view, pos + _MAGIC_AT)
    mid = bytearray(_MID.pack(magic, 0, attributes | ATTR_TIMESTAMP_TYPE, last_delta, base_ts, append_time))
    rest = view[pos + _MID_END : pos + header.size]
    crc = crc32c(rest, crc32c(memoryview(mid)[_MID_CRC_START:]))
    _UINT32.pack_into(mid, _MID_CRC_AT, crc)
    return (stamped_prefix(base_offset, header.batch_length, partition_leader_epoch), bytes(mid), rest)
