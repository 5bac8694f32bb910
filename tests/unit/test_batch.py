"""Unit tests of storage.batch (RecordBatch v2) and storage.compression.

Expected values are computed here, independently of the code under test: field
offsets come from Kafka's DefaultRecordBatch.java, the CRC from a bitwise CRC-32C,
record bytes from a small varint decoder, and compressed bodies are opened with the
codec libraries directly.
"""

from __future__ import annotations

import gzip
import random
import re
import struct
import time
import zlib

import lz4.frame
import pytest
import snappy  # python-snappy: a second snappy implementation, test-only
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from storage import batch as batch_mod
from storage import compression
from storage.batch import (
    BatchBuilder,
    Record,
    RecordBatch,
    build_batch,
    iter_batches,
    stamp,
    stamped_prefix,
)
from storage.errors import CorruptRecordError, InvalidRecordError, RecordTooLargeError, UnsupportedCompressionError

# Kafka's compression attribute codes (KIP-110 et al.), written out independently.
CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
CODECS = list(CODEC_IDS)
COMPRESSED = [c for c in CODECS if c != "none"]

TRANSACTIONAL_BIT = 0x10

# Field offsets of RecordBatch v2 from org.apache.kafka.common.record.DefaultRecordBatch.
KAFKA_LAYOUT = [
    ("base offset", 0, 8),
    ("batch length", 8, 4),
    ("partition leader epoch", 12, 4),
    ("magic", 16, 1),
    ("crc", 17, 4),
    ("attributes", 21, 2),
    ("last offset delta", 23, 4),
    ("base timestamp", 27, 8),
    ("max timestamp", 35, 8),
    ("producer id", 43, 8),
    ("producer epoch", 51, 2),
    ("base sequence", 53, 4),
    ("record count", 57, 4),
]
KAFKA_RECORDS_OFFSET = 61

T0 = 1_700_000_000_000  # a realistic epoch-milliseconds timestamp


# --------------------------------------------------------------------------- helpers


def crc32c_reference(data: bytes) -> int:
    """Bitwise CRC-32C (Castagnoli, reflected polynomial 0x82F63B78)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def read_varint(buf, pos: int) -> tuple[int, int]:
    """A zig-zag varint/varlong as in protobuf (Kafka's ByteUtils.readVarint)."""
    shift = raw = 0
    while True:
        byte = buf[pos]
        pos += 1
        raw |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
    return (raw >> 1) ^ -(raw & 1), pos


def decode_records_section(body: bytes, count: int) -> list[tuple]:
    """Decode ``count`` records following DefaultRecord.java's layout by hand.

    Returns (attributes, timestamp delta, offset delta, key, value, headers) tuples
    and checks each record's length prefix and that the section is fully consumed.
    """
    out, pos = [], 0
    for _ in range(count):
        length, pos = read_varint(body, pos)
        start = pos
        attributes = body[pos]
        pos += 1
        ts_delta, pos = read_varint(body, pos)
        offset_delta, pos = read_varint(body, pos)
        fields = []
        for _ in range(2):  # key, value
            n, pos = read_varint(body, pos)
            if n < 0:
                fields.append(None)
            else:
                fields.append(bytes(body[pos : pos + n]))
                pos += n
        header_count, pos = read_varint(body, pos)
        headers = []
        for _ in range(header_count):
            n, pos = read_varint(body, pos)
            h_key = bytes(body[pos : pos + n]).decode("utf-8")
            pos += n
            n, pos = read_varint(body, pos)
            if n < 0:
                h_value = None
            else:
                h_value = bytes(body[pos : pos + n])
                pos += n
            headers.append((h_key, h_value))
        assert pos - start == length, "record length prefix does not match its bytes"
        out.append((attributes, ts_delta, offset_delta, fields[0], fields[1], headers))
    assert pos == len(body), f"{len(body) - pos} bytes left after {count} records"
    return out


def decompress_independently(codec: str, body: bytes) -> bytes:
    """Open a compressed records section with the codec libraries, not storage.compression."""
    if codec == "none":
        return bytes(body)
    if codec == "gzip":
        return gzip.decompress(body)
    if codec == "snappy":
        header = b"\x82SNAPPY\x00" + struct.pack(">ii", 1, 1)
        assert body[:16] == header, "snappy body is not xerial-framed"
        pos, parts = 16, []
        while pos < len(body):
            (size,) = struct.unpack_from(">i", body, pos)
            parts.append(snappy.decompress(body[pos + 4 : pos + 4 + size]))
            pos += 4 + size
        return b"".join(parts)
    if codec == "lz4":
        return lz4.frame.decompress(body)
    if codec == "zstd":
        return zstandard.ZstdDecompressor().stream_reader(body, read_across_frames=True).read()
    raise AssertionError(codec)


def as_tuples(records) -> list[tuple]:
    return [
        (r.offset, r.timestamp, r.key, r.value, [tuple(h) for h in r.headers]) for r in records
    ]


def expected_tuples(records: list[Record], base_offset: int = 0) -> list[tuple]:
    return [
        (base_offset + i, r.timestamp, r.key, r.value, [tuple(h) for h in r.headers])
        for i, r in enumerate(records)
    ]


def read_back(buf, position: int = 0) -> list[tuple]:
    batch = RecordBatch(buf, position)
    batch.validate()
    return as_tuples(batch.records())


def with_body(batch: bytes, body: bytes, attributes: int | None = None) -> bytes:
    """Replace a batch's records section (and optionally attributes), fixing length and CRC.

    Uses struct and the reference CRC only, so that hand-made batches do not depend
    on the code under test.
    """
    header = bytearray(batch[:KAFKA_RECORDS_OFFSET])
    struct.pack_into(">i", header, 8, KAFKA_RECORDS_OFFSET - 12 + len(body))
    if attributes is not None:
        struct.pack_into(">h", header, 21, attributes)
    struct.pack_into(">I", header, 17, crc32c_reference(bytes(header[21:]) + body))
    return bytes(header) + body


def sample_records(n: int = 8) -> list[Record]:
    base = [
        Record(b"key-0", b"value-0", [("trace-id", b"abc"), ("empty", b""), ("null", None)], T0),
        Record(None, b"no key", [], T0 + 5),
        Record(b"", b"", [("\u00fcnicode-\u2603", b"\x00\xff")], T0 - 3),
        Record(b"tombstone", None, [], T0 + 100),
        Record(None, None, [], T0 + 100),
    ]
    rng = random.Random(7)
    while len(base) < n:
        i = len(base)
        base.append(Record(b"k%d" % i, rng.randbytes(rng.randrange(0, 200)), [], T0 + i))
    return base[:n]


# ------------------------------------------------------------------------ round trip


@pytest.mark.parametrize("codec", CODECS)
def test_round_trip_keeps_keys_values_headers_timestamps_and_offsets(codec):
    records = sample_records(12)
    buf = build_batch(records, codec, base_offset=500)
    assert read_back(buf) == expected_tuples(records, base_offset=500)


@pytest.mark.parametrize("codec", CODECS)
def test_round_trip_distinguishes_empty_bytes_from_none(codec):
    records = [
        Record(b"", b"", [("h", b"")], T0),
        Record(None, None, [("h", None)], T0),
        Record(b"", None, [], T0),
        Record(None, b"", [], T0),
    ]
    got = read_back(build_batch(records, codec))
    assert [(k, v, h) for _, _, k, v, h in got] == [
        (b"", b"", [("h", b"")]),
        (None, None, [("h", None)]),
        (b"", None, []),
        (None, b"", []),
    ]


@pytest.mark.parametrize("codec", CODECS)
def test_round_trip_one_mib_value(codec):
    value = random.Random(1).randbytes(1 << 20)  # incompressible: several codec blocks
    buf = build_batch([Record(b"big", value, [("h", b"v")], T0)], codec)
    assert read_back(buf) == [(0, T0, b"big", value, [("h", b"v")])]


@pytest.mark.parametrize("codec", CODECS)
def test_round_trip_many_records(codec):
    n = 5000
    records = [Record(b"%d" % i, b"value %d " % i * 3, [], T0 + i % 97) for i in range(n)]
    buf = build_batch(records, codec, base_offset=10**12)
    batch = RecordBatch(buf)
    batch.validate()
    assert batch.record_count == n
    assert batch.last_offset_delta == n - 1
    assert batch.last_offset == 10**12 + n - 1
    assert batch.next_offset == 10**12 + n
    assert as_tuples(batch.records()) == expected_tuples(records, base_offset=10**12)


record_strategy = st.builds(
    Record,
    key=st.none() | st.binary(max_size=64),
    value=st.none() | st.binary(max_size=256),
    headers=st.lists(
        st.tuples(st.text(max_size=12), st.none() | st.binary(max_size=32)), max_size=4
    ),
    timestamp=st.integers(min_value=0, max_value=2**45),
)


@settings(max_examples=80, deadline=None)
@given(records=st.lists(record_strategy, min_size=1, max_size=25), codec=st.sampled_from(CODECS),
       base_offset=st.integers(min_value=0, max_value=2**62))
def test_round_trip_of_arbitrary_records(records, codec, base_offset):
    buf = build_batch(records, codec, base_offset=base_offset)
    assert read_back(buf) == expected_tuples(records, base_offset)
    batch = RecordBatch(buf)
    assert batch.base_timestamp == records[0].timestamp
    assert batch.max_timestamp == max(r.timestamp for r in records)


def test_build_batch_accepts_records_key_value_pairs_and_plain_values():
    buf = build_batch([Record(b"k0", b"v0", [], T0), (b"k1", b"v1"), b"v2", (None, b"v3")])
    got = read_back(buf)
    assert [(k, v) for _, _, k, v, _ in got] == [
        (b"k0", b"v0"), (b"k1", b"v1"), (None, b"v2"), (None, b"v3")
    ]


def test_append_returns_consecutive_offset_deltas_and_len_counts_records():
    builder = BatchBuilder()
    assert [builder.append(b"v%d" % i) for i in range(4)] == [0, 1, 2, 3]
    assert len(builder) == 4


def test_size_estimate_grows_with_records_and_matches_uncompressed_batch_size():
    builder = BatchBuilder()
    sizes = [builder.size_estimate()]
    for i in range(5):
        builder.append(b"x" * (10 * i), b"key")
        sizes.append(builder.size_estimate())
    assert sizes == sorted(set(sizes))  # strictly increasing
    assert sizes[-1] == len(builder.build())


@pytest.mark.parametrize("codec", CODECS)
def test_building_an_empty_batch_raises_value_error(codec):
    with pytest.raises(ValueError):
        BatchBuilder(codec).build()
    with pytest.raises(ValueError):
        build_batch([], codec)


# ------------------------------------------------------------------------ compression on the wire


@pytest.mark.parametrize("codec", CODECS)
def test_records_section_is_compressed_with_the_codec_named_in_the_attributes(codec):
    records = sample_records(20)
    plain = build_batch(records, "none")
    buf = build_batch(records, codec)
    batch = RecordBatch(buf)
    assert batch.attributes & 0x07 == CODEC_IDS[codec]
    assert batch.compression == CODEC_IDS[codec]
    body = decompress_independently(codec, buf[KAFKA_RECORDS_OFFSET:])
    assert body == plain[KAFKA_RECORDS_OFFSET:]


def test_gzip_body_is_a_single_rfc1952_member():
    buf = build_batch(sample_records(), "gzip")
    body = buf[KAFKA_RECORDS_OFFSET:]
    assert body[:3] == b"\x1f\x8b\x08"  # gzip magic, deflate
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    d.decompress(body)
    assert d.eof and d.unused_data == b""


def test_lz4_body_is_one_frame_with_independent_blocks():
    # Kafka's KafkaLZ4BlockInputStream rejects dependent (linked) blocks.
    buf = build_batch([Record(None, random.Random(3).randbytes(300_000), [], T0)], "lz4")
    body = buf[KAFKA_RECORDS_OFFSET:]
    assert struct.unpack_from("<I", body, 0)[0] == 0x184D2204  # LZ4 frame magic
    flg = body[4]
    assert flg >> 6 == 0b01  # frame format version 1
    assert flg & 0x20, "block independence flag must be set"
    info = lz4.frame.get_frame_info(body)
    assert info["block_linked"] is False


def test_snappy_body_uses_xerial_framing_with_32k_blocks():
    data = random.Random(5).randbytes(100_000)
    framed = compression.compress(CODEC_IDS["snappy"], data)
    assert framed[:16] == b"\x82SNAPPY\x00" + struct.pack(">ii", 1, 1)
    pos, chunks = 16, []
    while pos < len(framed):
        (size,) = struct.unpack_from(">i", framed, pos)
        chunks.append(snappy.decompress(framed[pos + 4 : pos + 4 + size]))
        pos += 4 + size
    assert pos == len(framed)
    assert [len(c) for c in chunks] == [32768, 32768, 32768, 100_000 - 3 * 32768]
    assert b"".join(chunks) == data


def test_zstd_body_is_a_zstd_frame():
    buf = build_batch(sample_records(), "zstd")
    body = buf[KAFKA_RECORDS_OFFSET:]
    assert struct.unpack_from("<I", body, 0)[0] == 0xFD2FB528  # zstd frame magic


# ------------------------------------------------------------------------ timestamps


@pytest.mark.parametrize("codec", CODECS)
def test_explicit_timestamps_are_kept_and_header_holds_first_and_max(codec):
    stamps = [T0 + 5000, T0 + 3000, T0 + 9000, T0 + 7000, T0]
    builder = BatchBuilder(codec)
    for i, ts in enumerate(stamps):
        builder.append(b"v%d" % i, timestamp=ts)
    buf = builder.build()
    batch = RecordBatch(buf)
    batch.validate()
    assert [r.timestamp for r in batch.records()] == stamps
    assert batch.base_timestamp == stamps[0]
    assert batch.max_timestamp == max(stamps)


def test_default_timestamp_is_wall_clock_milliseconds_at_append():
    builder = BatchBuilder()
    before = int(time.time() * 1000)
    builder.append(b"a")
    builder.append(b"b")
    after = int(time.time() * 1000)
    got = [r.timestamp for r in RecordBatch(builder.build()).records()]
    assert all(before <= ts <= after for ts in got), (before, got, after)


def test_default_and_explicit_timestamps_can_mix_in_one_batch():
    builder = BatchBuilder()
    builder.append(b"explicit-old", timestamp=T0)
    before = int(time.time() * 1000)
    builder.append(b"default")
    after = int(time.time() * 1000)
    builder.append(b"explicit-new", timestamp=T0 + 1)
    batch = RecordBatch(builder.build())
    got = [r.timestamp for r in batch.records()]
    assert got[0] == T0 and got[2] == T0 + 1
    assert before <= got[1] <= after
    assert batch.base_timestamp == T0
    assert batch.max_timestamp == got[1]


# ------------------------------------------------------------------------ header layout


def documented_layout() -> tuple[list[tuple[str, int, int, str]], int]:
    """The (field, offset, size, covered) rows of the table in storage/batch.py's docstring."""
    rows, records_at = [], None
    for line in batch_mod.__doc__.splitlines():
        m = re.match(r"^\s*(\d+)\s+(\d+)\s+(\S.*?)\s{2,}(yes|no)\b", line)
        if m:
            name = re.sub(r"\s*\(.*\)", "", m.group(3)).strip().lower()
            name = "crc" if name.startswith("crc") else name
            rows.append((name, int(m.group(1)), int(m.group(2)), m.group(4)))
            continue
        m = re.match(r"^\s*(\d+)\s+\S+\s+records\b", line)
        if m:
            records_at = int(m.group(1))
    return rows, records_at


def test_documented_layout_table_matches_kafka_record_batch_v2():
    rows, records_at = documented_layout()
    assert [(name, offset, size) for name, offset, size, _ in rows] == KAFKA_LAYOUT
    assert records_at == KAFKA_RECORDS_OFFSET == batch_mod.HEADER_SIZE
    for (_, offset, size, _), (_, next_offset, _, _) in zip(rows, rows[1:]):
        assert offset + size == next_offset
    covered = {name for name, _, _, c in rows if c == "yes"}
    # Kafka: the CRC covers everything from the attributes to the end of the batch.
    assert covered == {name for name, offset, _ in KAFKA_LAYOUT if offset >= 21}


def test_crc32c_reference_implementation_is_correct():
    assert crc32c_reference(b"123456789") == 0xE3069283  # the standard check value
    assert crc32c_reference(b"") == 0


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("transactional", [False, True])
def test_header_fields_sit_at_the_documented_offsets(codec, transactional):
    rows, records_at = documented_layout()
    stamps = [T0 + 10, T0 + 250, T0 - 40]
    builder = BatchBuilder(
        codec,
        producer_id=0x0102030405060708,
        producer_epoch=0x1234,
        base_sequence=0x0A0B0C0D,
        is_transactional=transactional,
    )
    for i, ts in enumerate(stamps):
        builder.append(b"value-%d" % i, b"key-%d" % i, [("h", b"%d" % i)], ts)
    buf = builder.build(base_offset=0x1122334455667788, partition_leader_epoch=0x7EADBEEF)

    expected = {
        "base offset": 0x1122334455667788,
        "batch length": len(buf) - 12,
        "partition leader epoch": 0x7EADBEEF,
        "magic": 2,
        "crc": crc32c_reference(buf[21:]),
        "attributes": CODEC_IDS[codec] | (TRANSACTIONAL_BIT if transactional else 0),
        "last offset delta": len(stamps) - 1,
        "base timestamp": stamps[0],
        "max timestamp": max(stamps),
        "producer id": 0x0102030405060708,
        "producer epoch": 0x1234,
        "base sequence": 0x0A0B0C0D,
        "record count": len(stamps),
    }
    formats = {8: ">q", 4: ">i", 2: ">h", 1: ">b"}
    for name, offset, size, _ in rows:
        fmt = ">I" if name == "crc" else formats[size]
        assert struct.calcsize(fmt) == size
        (value,) = struct.unpack_from(fmt, buf, offset)
        assert value == expected[name], name

    body = decompress_independently(codec, buf[records_at:])
    decoded = decode_records_section(body, len(stamps))
    assert decoded == [
        (0, ts - stamps[0], i, b"key-%d" % i, b"value-%d" % i, [("h", b"%d" % i)])
        for i, ts in enumerate(stamps)
    ]


def test_record_view_properties_reflect_the_header():
    buf = build_batch(sample_records(6), "lz4", base_offset=40, partition_leader_epoch=3,
                      producer_id=9, producer_epoch=1, base_sequence=0, is_transactional=True)
    batch = RecordBatch(buf)
    assert batch.size == len(buf)
    assert bytes(batch.raw()) == buf
    assert (batch.base_offset, batch.last_offset, batch.next_offset) == (40, 45, 46)
    assert batch.partition_leader_epoch == 3
    assert batch.compression == CODEC_IDS["lz4"]
    assert batch.is_transactional is True
    assert batch.is_control is False
    assert (batch.producer_id, batch.producer_epoch, batch.base_sequence) == (9, 1, 0)


def test_defaults_are_no_producer_and_no_leader_epoch():
    batch = RecordBatch(build_batch([b"v"]))
    assert (batch.producer_id, batch.producer_epoch, batch.base_sequence) == (-1, -1, -1)
    assert batch.partition_leader_epoch == -1
    assert batch.base_offset == 0
    assert batch.is_transactional is False


# ------------------------------------------------------------------------ stamping


@pytest.mark.parametrize("codec", CODECS)
def test_stamp_sets_base_offset_and_leader_epoch_and_keeps_crc_valid(codec):
    records = sample_records(7)
    original = build_batch(records, codec)
    buf = bytearray(original)
    stamp(buf, 987_654_321_000, 42)

    assert buf[16:] == original[16:]  # nothing CRC-covered (nor magic, length) changed
    assert struct.unpack_from(">q", buf, 0)[0] == 987_654_321_000
    assert struct.unpack_from(">i", buf, 12)[0] == 42
    assert struct.unpack_from(">I", buf, 17)[0] == crc32c_reference(bytes(buf[21:]))
    batch = RecordBatch(buf)
    batch.validate()
    assert (batch.base_offset, batch.partition_leader_epoch) == (987_654_321_000, 42)
    assert as_tuples(batch.records()) == expected_tuples(records, base_offset=987_654_321_000)


@pytest.mark.parametrize("codec", CODECS)
def test_building_at_an_offset_equals_stamping_a_batch_built_at_zero(codec):
    builder_args = dict(producer_id=3, producer_epoch=0, base_sequence=10)
    records = sample_records(5)
    direct = build_batch(records, codec, base_offset=77, partition_leader_epoch=9, **builder_args)
    stamped = bytearray(build_batch(records, codec, **builder_args))
    stamp(stamped, 77, 9)
    assert bytes(stamped) == direct


def test_stamped_prefix_then_tail_equals_the_stamped_batch():
    original = build_batch(sample_records(4), "gzip")
    stamped = bytearray(original)
    stamp(stamped, 1234, 5)
    prefix = stamped_prefix(1234, len(original) - 12, 5)
    assert len(prefix) == 16
    assert prefix + original[16:] == bytes(stamped)


# ------------------------------------------------------------------------ corruption


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("mask", [0x01, 0x80, 0xFF])
def test_changing_any_crc_covered_byte_fails_validate(codec, mask):
    original = build_batch(sample_records(5), codec, base_offset=3)
    RecordBatch(original).validate()
    for pos in range(21, len(original)):
        buf = bytearray(original)
        buf[pos] ^= mask
        with pytest.raises(CorruptRecordError):
            RecordBatch(buf).validate()


@pytest.mark.parametrize("pos", [17, 18, 19, 20])
def test_changing_the_stored_crc_fails_validate(pos):
    buf = bytearray(build_batch(sample_records(3)))
    buf[pos] ^= 0x40
    with pytest.raises(CorruptRecordError):
        RecordBatch(buf).validate()


def open_and_validate(buf):
    batch = RecordBatch(buf)
    batch.validate()
    return batch


@pytest.mark.parametrize("codec", CODECS)
def test_truncated_batch_raises_corrupt_record_error(codec):
    buf = build_batch(sample_records(5), codec)
    for cut in (len(buf) - 1, len(buf) // 2, KAFKA_RECORDS_OFFSET, KAFKA_RECORDS_OFFSET - 1, 12, 0):
        with pytest.raises(CorruptRecordError):
            open_and_validate(buf[:cut])


def test_batch_length_smaller_than_the_header_fails_validate():
    buf = bytearray(build_batch([b"v"]))
    claimed = KAFKA_RECORDS_OFFSET - 12 - 1
    struct.pack_into(">i", buf, 8, claimed)
    # Make the CRC agree with the bytes the bogus length covers: only the length check can fail.
    struct.pack_into(">I", buf, 17, crc32c_reference(bytes(buf[21 : 12 + claimed])))
    with pytest.raises(CorruptRecordError):
        RecordBatch(buf).validate()


def test_batch_claiming_more_bytes_than_the_buffer_holds_fails_validate():
    buf = bytearray(build_batch(sample_records(3)))
    # The length is not CRC-covered, so the CRC over the bytes present still matches.
    struct.pack_into(">i", buf, 8, len(buf) - 12 + 10)
    with pytest.raises(CorruptRecordError):
        RecordBatch(buf).validate()


def test_negative_record_count_with_a_valid_crc_fails_validate():
    buf = bytearray(build_batch(sample_records(3)))
    struct.pack_into(">i", buf, 57, -1)
    struct.pack_into(">I", buf, 17, crc32c_reference(bytes(buf[21:])))
    with pytest.raises(CorruptRecordError):
        RecordBatch(buf).validate()


@pytest.mark.parametrize("magic", [0, 1, 3, -1])
def test_bad_magic_fails_validate(magic):
    buf = bytearray(build_batch(sample_records(3)))
    struct.pack_into(">b", buf, 16, magic)  # magic is not CRC-covered: only its check can fail
    with pytest.raises(CorruptRecordError):
        RecordBatch(buf).validate()


@pytest.mark.parametrize("code", [5, 6, 7])
def test_unknown_compression_code_with_a_valid_crc_fails_validate(code):
    original = build_batch(sample_records(3))
    buf = with_body(original, original[KAFKA_RECORDS_OFFSET:], attributes=code)
    with pytest.raises(CorruptRecordError):
        RecordBatch(buf).validate()


@pytest.mark.parametrize("codec", COMPRESSED)
def test_records_of_a_batch_whose_body_is_not_valid_for_its_codec_raise_corrupt(codec):
    original = build_batch(sample_records(3), codec)
    garbage = b"\x00\x01\x02\x03 definitely not a compressed stream \xfe\xff" * 3
    buf = with_body(original, garbage)
    batch = RecordBatch(buf)
    batch.validate()  # the CRC is right: only decompression can notice
    with pytest.raises(CorruptRecordError):
        list(batch.records())


def test_records_of_a_batch_with_a_malformed_record_raise_corrupt():
    original = build_batch([Record(b"key", b"value", [], T0)])
    body = bytearray(original[KAFKA_RECORDS_OFFSET:])
    body[0] = 0x7E  # record length varint now claims 63 bytes
    batch = RecordBatch(with_body(original, bytes(body)))
    batch.validate()
    with pytest.raises(CorruptRecordError):
        list(batch.records())


# ------------------------------------------------------------------------ iter_batches


def mixed_codec_log() -> tuple[bytes, list[tuple[int, str, list[Record]]]]:
    parts, expected, offset = [], [], 0
    for i, codec in enumerate(CODECS * 2):
        records = sample_records(3 + i)
        parts.append(build_batch(records, codec, base_offset=offset, partition_leader_epoch=i))
        expected.append((offset, codec, records))
        offset += len(records)
    return b"".join(parts), expected


@pytest.mark.parametrize("validate", [False, True])
def test_iter_batches_walks_concatenated_batches_of_mixed_codecs(validate):
    log, expected = mixed_codec_log()
    batches = list(iter_batches(log, validate=validate))
    assert [(b.base_offset, b.compression) for b in batches] == [
        (offset, CODEC_IDS[codec]) for offset, codec, _ in expected
    ]
    assert sum(b.size for b in batches) == len(log)
    for batch, (offset, _, records) in zip(batches, expected):
        assert as_tuples(batch.records()) == expected_tuples(records, offset)


def test_iter_batches_skips_a_trailing_partial_batch():
    log, expected = mixed_codec_log()
    last = build_batch(sample_records(6), "zstd", base_offset=1000)
    for cut in (1, 11, 12, 60, 61, 62, len(last) - 1):
        batches = list(iter_batches(log + last[:cut], validate=True))
        assert [b.base_offset for b in batches] == [o for o, _, _ in expected], cut
    batches = list(iter_batches(log + last, validate=True))
    assert batches[-1].base_offset == 1000


def header_only_batch(base_offset: int, last_offset_delta: int) -> bytes:
    """A batch with no records left, as Kafka's log cleaner keeps to hold producer state."""
    full = build_batch([b"gone"] * (last_offset_delta + 1), base_offset=base_offset,
                       producer_id=5, producer_epoch=0, base_sequence=0)
    header = bytearray(full[:KAFKA_RECORDS_OFFSET])
    struct.pack_into(">i", header, 8, KAFKA_RECORDS_OFFSET - 12)
    struct.pack_into(">i", header, 57, 0)  # record count
    struct.pack_into(">I", header, 17, crc32c_reference(bytes(header[21:])))
    return bytes(header)


def test_iter_batches_yields_header_only_batches_including_a_last_one():
    empty = header_only_batch(base_offset=10, last_offset_delta=4)
    assert len(empty) == KAFKA_RECORDS_OFFSET
    after = build_batch(sample_records(2), "gzip", base_offset=15)
    for buf, offsets in ((empty, [10]), (after + empty, [15, 10]), (empty + after, [10, 15])):
        batches = list(iter_batches(buf, validate=True))
        assert [b.base_offset for b in batches] == offsets
    batch = RecordBatch(empty)
    assert (batch.record_count, batch.next_offset) == (0, 15)
    assert list(batch.records()) == []


def gapped_batch(base_offset: int, kept: list[int], last_offset_delta: int, codec: str = "none") -> bytes:
    """A batch as compaction rewrites one: only the records at offset deltas ``kept``, the delta span kept."""
    from storage.compaction import encode_batch

    full = RecordBatch(build_batch([(f"k{i}".encode(), b"v") for i in range(last_offset_delta + 1)], codec,
                                   base_offset=base_offset))
    records = [r for r in full.records() if r.offset - base_offset in kept]
    return encode_batch(full, records, delete_horizon_ms=None)


@pytest.mark.parametrize("codec", ["none", "gzip", "zstd"])
def test_a_followers_payload_may_hold_offset_gaps_and_empty_batches_a_producers_may_not(codec):
    payload = (build_batch([b"a", b"b"], codec, base_offset=0) + gapped_batch(2, [0, 3], 4, codec)
               + header_only_batch(base_offset=7, last_offset_delta=2) + gapped_batch(10, [5], 5, codec))
    headers = batch_mod.check_payload(payload, 1 << 20, compacted=True)
    assert [(h.base_offset, h.record_count, h.last_offset_delta) for h in headers] == [
        (0, 2, 1), (2, 2, 4), (7, 0, 2), (10, 1, 5)]
    for part in (gapped_batch(2, [0, 3], 4, codec), header_only_batch(base_offset=7, last_offset_delta=2)):
        with pytest.raises(InvalidRecordError, match="last offset delta"):
            batch_mod.check_payload(part, 1 << 20)  # a producer's batch numbers its records 0..n-1


def test_a_followers_payload_is_still_checked_for_crc_size_and_impossible_counts():
    good = gapped_batch(2, [0, 3], 4)
    corrupt = bytearray(good)
    corrupt[-1] ^= 0x01
    with pytest.raises(CorruptRecordError, match="CRC"):
        batch_mod.check_payload(bytes(corrupt), 1 << 20, compacted=True)
    with pytest.raises(RecordTooLargeError):
        batch_mod.check_payload(good, len(good) - 1, compacted=True)
    too_many = bytearray(header_only_batch(base_offset=0, last_offset_delta=1))
    struct.pack_into(">i", too_many, 57, 3)  # 3 records in a span of 2 offsets
    struct.pack_into(">I", too_many, 17, crc32c_reference(bytes(too_many[21:])))
    with pytest.raises(InvalidRecordError):
        batch_mod.check_payload(bytes(too_many), 1 << 20, compacted=True)


def test_check_keys_refuses_a_payload_with_a_keyless_record_anywhere():
    keyed = build_batch([(b"k", b"v")], "gzip")
    keyless = build_batch([(b"k", b"v"), (None, b"v")], "gzip")
    batch_mod.check_keys(keyed, batch_mod.check_payload(keyed, 1 << 20), "t-0")
    payload = keyed + keyless
    with pytest.raises(InvalidRecordError, match="without key in t-0"):
        batch_mod.check_keys(payload, batch_mod.check_payload(payload, 1 << 20), "t-0")


def test_iter_batches_over_an_empty_buffer_yields_nothing():
    assert list(iter_batches(b"")) == []


def test_iter_batches_raises_on_a_malformed_length_before_the_end():
    log, _ = mixed_codec_log()
    first = RecordBatch(log).size
    buf = bytearray(log)
    struct.pack_into(">i", buf, first + 8, 10)  # second batch: length below the header
    with pytest.raises(CorruptRecordError):
        list(iter_batches(buf))


def test_iter_batches_with_validate_raises_on_a_corrupt_batch_in_the_middle():
    log, _ = mixed_codec_log()
    first = RecordBatch(log).size
    buf = bytearray(log)
    buf[first + 30] ^= 0xFF  # inside the second batch's CRC-covered header
    assert len(list(iter_batches(buf))) == len(CODECS) * 2  # not checked without validate
    with pytest.raises(CorruptRecordError):
        list(iter_batches(buf, validate=True))


def test_record_batch_view_at_a_position_in_a_larger_buffer():
    log, expected = mixed_codec_log()
    position = RecordBatch(log).size
    offset, _, records = expected[1]
    assert read_back(memoryview(log), position) == expected_tuples(records, offset)


# ------------------------------------------------------------------------ codec ids


@pytest.mark.parametrize(
    "name_or_code, expected",
    [(name, code) for name, code in CODEC_IDS.items()]
    + [(name.upper(), code) for name, code in CODEC_IDS.items()]
    + [(code, code) for code in CODEC_IDS.values()],
)
def test_codec_id_accepts_kafka_names_and_attribute_codes(name_or_code, expected):
    assert compression.codec_id(name_or_code) == expected


@pytest.mark.parametrize("unknown", ["brotli", "", " gzip", "lz4-hc", 5, 7, -1, 8])
def test_codec_id_rejects_unknown_codecs(unknown):
    with pytest.raises(UnsupportedCompressionError):
        compression.codec_id(unknown)


def test_codec_id_rejects_none_with_unsupported_compression_error():
    with pytest.raises(UnsupportedCompressionError):
        compression.codec_id(None)


def test_batch_builder_rejects_an_unknown_codec():
    with pytest.raises(UnsupportedCompressionError):
        BatchBuilder("brotli")


def test_compress_and_decompress_reject_an_unknown_code():
    with pytest.raises(UnsupportedCompressionError):
        compression.compress(5, b"data")
    with pytest.raises(UnsupportedCompressionError):
        compression.decompress(5, b"data")


# ------------------------------------------------------------------------ compression module


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("size", [0, 1, 1000, 200_000])
def test_compress_then_decompress_returns_the_input(codec, size):
    data = (b"abcdefgh" * (size // 8 + 1))[:size]
    code = CODEC_IDS[codec]
    packed = compression.compress(code, data)
    assert compression.decompress(code, packed) == data
    assert decompress_independently(codec, packed) == data


GARBAGE = [
    b"\xff\xfe\xfd this is not compressed data at all",
    bytes(range(256)),
    b"\x00" * 64,
]


@pytest.mark.parametrize("codec", COMPRESSED)
@pytest.mark.parametrize("garbage", GARBAGE, ids=["text", "bytes", "zeros"])
def test_decompress_of_garbage_raises_corrupt_record_error(codec, garbage):
    with pytest.raises(CorruptRecordError):
        compression.decompress(CODEC_IDS[codec], garbage)


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4"])
def test_decompress_of_a_truncated_stream_raises_corrupt_record_error(codec):
    packed = compression.compress(CODEC_IDS[codec], b"hello world " * 1000)
    for cut in (len(packed) - 1, len(packed) // 2, 20):
        with pytest.raises(CorruptRecordError):
            compression.decompress(CODEC_IDS[codec], packed[:cut])


@pytest.mark.parametrize("cut", [0, 14, -1])
def test_decompress_of_a_truncated_zstd_frame_raises_corrupt_record_error(cut):
    packed = compression.compress(CODEC_IDS["zstd"], b"hello world " * 1000)
    with pytest.raises(CorruptRecordError):
        compression.decompress(CODEC_IDS["zstd"], packed[:cut])


def test_snappy_decode_accepts_xerial_framed_input():
    data = random.Random(11).randbytes(40_000) + b"z" * 60_000
    framed = [b"\x82SNAPPY\x00", struct.pack(">ii", 1, 1)]
    for start in range(0, len(data), 32768):
        block = snappy.compress(data[start : start + 32768])
        framed += [struct.pack(">i", len(block)), block]
    assert compression.decompress(CODEC_IDS["snappy"], b"".join(framed)) == data


def test_snappy_decode_accepts_raw_snappy_input():
    data = b"raw snappy as librdkafka writes it " * 500
    assert compression.decompress(CODEC_IDS["snappy"], snappy.compress(data)) == data


def test_batch_with_a_raw_snappy_body_reads_back():
    records = sample_records(6)
    plain = build_batch(records, "none", base_offset=8)
    body = snappy.compress(plain[KAFKA_RECORDS_OFFSET:])
    buf = with_body(plain, body, attributes=CODEC_IDS["snappy"])
    assert read_back(buf) == expected_tuples(records, 8)


def streamed_zstd_frame(data: bytes) -> bytes:
    """A zstd frame whose header has no content size, as a streaming writer (zstd-jni) makes."""
    cobj = zstandard.ZstdCompressor(level=3).compressobj()
    frame = b"".join(cobj.compress(data[i : i + 4096]) for i in range(0, len(data), 4096))
    frame += cobj.flush()
    assert zstandard.get_frame_parameters(frame).content_size == zstandard.CONTENTSIZE_UNKNOWN
    return frame


def test_zstd_decodes_a_frame_without_content_size():
    data = b"streamed by zstd-jni " * 5000
    assert compression.decompress(CODEC_IDS["zstd"], streamed_zstd_frame(data)) == data


def test_batch_with_a_streamed_zstd_body_reads_back():
    records = sample_records(10)
    plain = build_batch(records, "none")
    body = streamed_zstd_frame(plain[KAFKA_RECORDS_OFFSET:])
    buf = with_body(plain, body, attributes=CODEC_IDS["zstd"])
    assert read_back(buf) == expected_tuples(records)


@pytest.mark.parametrize("codec", ["gzip", "zstd"])
def test_decompress_reads_concatenated_members_like_java(codec):
    # java.util.zip.GZIPInputStream and zstd-jni's ZstdInputStream both continue
    # into a following gzip member / zstd frame; so does kafka-python.
    a, b = b"first part " * 100, b"second part " * 100
    if codec == "gzip":
        packed = gzip.compress(a) + gzip.compress(b)
    else:
        packed = zstandard.ZstdCompressor().compress(a) + zstandard.ZstdCompressor().compress(b)
    assert compression.decompress(CODEC_IDS[codec], packed) == a + b
