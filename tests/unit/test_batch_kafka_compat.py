"""Cross-check of storage.batch against kafka-python's pure-Python RecordBatch v2.

kafka-python is an independent implementation of the same format (test-only
dependency): batches zafka builds must parse there with a valid CRC, and batches
kafka-python builds must validate and decode in zafka, for every codec.
"""

from __future__ import annotations

import struct
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

with warnings.catch_warnings():  # kafka-python's package import uses deprecated importlib APIs
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka import codec as kafka_codec
    from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

from storage.batch import BatchBuilder, Record, RecordBatch, build_batch, stamp

CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
CODECS = list(CODEC_IDS)
T0 = 1_700_000_000_000
NO_LIMIT = 2**31 - 1

PRODUCER = dict(producer_id=123_456_789_012, producer_epoch=7, base_sequence=40)


def compat_records() -> list[Record]:
    """Keys, None keys, empty and None values, headers (incl. None values), unordered timestamps.

    Values repeat enough that every codec shrinks the batch: kafka-python's builder
    falls back to no compression when compressing does not help.
    """
    records = [
        Record(b"user-1", b'{"event": "login", "ok": true}', [("trace", b"t-1"), ("n", None)], T0),
        Record(None, b'{"event": "click", "x": 10}', [], T0 + 15),
        Record(b"", b"", [("\u00e9t\u00e9", b"\x00\x01\xff")], T0 - 20),
        Record(b"user-2", None, [], T0 + 15),
        Record(None, None, [("a", b""), ("b", b"bb")], T0 + 3_600_000),
    ]
    for i in range(40):
        records.append(
            Record(
                b"user-%d" % (i % 5) if i % 3 else None,
                b'{"event": "view", "page": "/items/%d", "pad": "%s"}' % (i, b"x" * (i % 17)),
                [("seq", b"%d" % i)] if i % 4 == 0 else [],
                T0 + 100 + (i * 37) % 500,
            )
        )
    return records


def kafka_python_tuples(batch: DefaultRecordBatch) -> list[tuple]:
    return [(r.offset, r.timestamp, r.key, r.value, [tuple(h) for h in r.headers]) for r in batch]


def zafka_tuples(batch: RecordBatch) -> list[tuple]:
    return [
        (r.offset, r.timestamp, r.key, r.value, [tuple(h) for h in r.headers])
        for r in batch.records()
    ]


def expected_tuples(records: list[Record], base_offset: int) -> list[tuple]:
    return [
        (base_offset + i, r.timestamp, r.key, r.value, [tuple(h) for h in r.headers])
        for i, r in enumerate(records)
    ]


def zafka_builder_batch(records, codec, base_offset, epoch, transactional=False) -> bytes:
    builder = BatchBuilder(codec, is_transactional=transactional, **PRODUCER)
    for r in records:
        builder.append(r.value, r.key, r.headers, r.timestamp)
    return builder.build(base_offset, epoch)


def zafka_build_batch(records, codec, base_offset, epoch, transactional=False) -> bytes:
    return build_batch(records, codec, base_offset=base_offset, partition_leader_epoch=epoch,
                       is_transactional=transactional, **PRODUCER)


def kafka_python_batch(records, codec, transactional=False) -> bytes:
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=CODEC_IDS[codec],
        is_transactional=int(transactional),
        producer_id=PRODUCER["producer_id"],
        producer_epoch=PRODUCER["producer_epoch"],
        base_sequence=PRODUCER["base_sequence"],
        batch_size=NO_LIMIT,
    )
    for i, r in enumerate(records):
        assert builder.append(i, r.timestamp, r.key, r.value, r.headers) is not None
    return bytes(builder.build())


def kafka_python_body(buf: bytes, codec: str) -> bytes:
    """The uncompressed records section, opened with kafka-python's own codecs."""
    body = buf[61:]
    decode = {
        "none": bytes,
        "gzip": kafka_codec.gzip_decode,
        "snappy": kafka_codec.snappy_decode,
        "lz4": kafka_codec.lz4_decode,
        "zstd": kafka_codec.zstd_decode,
    }[codec]
    return decode(body)


@pytest.fixture(scope="module", autouse=True)
def _kafka_python_has_every_codec():
    # A missing codec library would make kafka-python raise, not skip; say so plainly.
    for name in ("gzip", "snappy", "lz4", "zstd"):
        assert getattr(kafka_codec, f"has_{name}")(), f"kafka-python lacks {name} support"


# ---------------------------------------------------------------- zafka -> kafka-python


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("build", [zafka_builder_batch, zafka_build_batch],
                         ids=["BatchBuilder", "build_batch"])
@pytest.mark.parametrize("transactional", [False, True], ids=["plain", "transactional"])
def test_zafka_batch_parses_in_kafka_python(codec, build, transactional):
    records = compat_records()
    buf = build(records, codec, base_offset=1_000_000, epoch=12, transactional=transactional)

    theirs = DefaultRecordBatch(buf)
    assert theirs.validate_crc() is True
    assert theirs.magic == 2
    assert theirs.size_in_bytes == len(buf)
    assert theirs.compression_type == CODEC_IDS[codec]
    assert theirs.is_transactional is transactional
    assert theirs.is_control_batch is False
    assert theirs.timestamp_type == 0  # create time
    assert theirs.base_offset == 1_000_000
    assert theirs.leader_epoch == 12
    assert theirs.last_offset_delta == len(records) - 1
    assert theirs.first_timestamp == records[0].timestamp
    assert theirs.max_timestamp == max(r.timestamp for r in records)
    assert theirs.producer_id == PRODUCER["producer_id"]
    assert theirs.producer_epoch == PRODUCER["producer_epoch"]
    assert theirs.base_sequence == PRODUCER["base_sequence"]
    assert theirs.records_count == len(records)
    assert kafka_python_tuples(theirs) == expected_tuples(records, 1_000_000)


@settings(max_examples=40, deadline=None)
@given(
    records=st.lists(
        st.builds(
            Record,
            key=st.none() | st.binary(max_size=40),
            value=st.none() | st.binary(max_size=200),
            headers=st.lists(st.tuples(st.text(max_size=10), st.none() | st.binary(max_size=20)),
                             max_size=3),
            timestamp=st.integers(min_value=0, max_value=2**45),
        ),
        min_size=1,
        max_size=20,
    ),
    codec=st.sampled_from(CODECS),
    base_offset=st.integers(min_value=0, max_value=2**62),
)
def test_arbitrary_zafka_batches_parse_in_kafka_python(records, codec, base_offset):
    buf = build_batch(records, codec, base_offset=base_offset)
    theirs = DefaultRecordBatch(buf)
    assert theirs.validate_crc() is True
    assert kafka_python_tuples(theirs) == expected_tuples(records, base_offset)


# ---------------------------------------------------------------- kafka-python -> zafka


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("transactional", [False, True], ids=["plain", "transactional"])
def test_kafka_python_batch_parses_in_zafka(codec, transactional):
    records = compat_records()
    buf = bytearray(kafka_python_batch(records, codec, transactional))
    # kafka-python always writes base offset 0 and leader epoch 0 (a broker assigns
    # them); set non-zero ones with struct, outside the CRC, as a broker would.
    struct.pack_into(">q", buf, 0, 5_000_000_000)
    struct.pack_into(">i", buf, 12, 3)

    ours = RecordBatch(bytes(buf))
    ours.validate()
    assert ours.compression == CODEC_IDS[codec]  # the codec really was used
    assert ours.is_transactional is transactional
    assert ours.size == len(buf)
    assert ours.base_offset == 5_000_000_000
    assert ours.partition_leader_epoch == 3
    assert ours.last_offset_delta == len(records) - 1
    assert ours.last_offset == 5_000_000_000 + len(records) - 1
    assert ours.base_timestamp == records[0].timestamp
    assert ours.max_timestamp == max(r.timestamp for r in records)
    assert ours.producer_id == PRODUCER["producer_id"]
    assert ours.producer_epoch == PRODUCER["producer_epoch"]
    assert ours.base_sequence == PRODUCER["base_sequence"]
    assert ours.record_count == len(records)
    assert zafka_tuples(ours) == expected_tuples(records, 5_000_000_000)


@pytest.mark.parametrize("codec", CODECS)
def test_zafka_stamp_of_a_kafka_python_batch_keeps_its_crc_valid_for_kafka_python(codec):
    records = compat_records()
    original = kafka_python_batch(records, codec)
    buf = bytearray(original)
    stamp(buf, 77_000, 19)

    theirs = DefaultRecordBatch(bytes(buf))
    assert theirs.validate_crc() is True
    assert theirs.crc == DefaultRecordBatch(original).crc
    assert (theirs.base_offset, theirs.leader_epoch) == (77_000, 19)
    assert kafka_python_tuples(theirs) == expected_tuples(records, 77_000)

    ours = RecordBatch(buf)
    ours.validate()
    assert zafka_tuples(ours) == expected_tuples(records, 77_000)


# ---------------------------------------------------------------- byte-level agreement


def test_uncompressed_batches_are_byte_identical():
    records = compat_records()
    theirs = kafka_python_batch(records, "none")
    ours = zafka_builder_batch(records, "none", base_offset=0, epoch=0)
    assert ours == theirs


@pytest.mark.parametrize("codec", CODECS)
def test_compressed_record_sections_decompress_to_identical_bytes(codec):
    records = compat_records()
    theirs = kafka_python_batch(records, codec)
    ours = zafka_builder_batch(records, codec, base_offset=0, epoch=0)
    assert ours[21] == theirs[21] and ours[22] == theirs[22]  # same attributes
    assert ours[23:61] == theirs[23:61]  # same CRC-covered header fields after attributes
    assert kafka_python_body(ours, codec) == kafka_python_body(theirs, codec)
