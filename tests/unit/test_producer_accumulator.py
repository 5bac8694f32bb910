"""The producer's batching rules, without sockets or threads (time is passed in).

Batches are decoded with kafka-python's independent RecordBatch v2 reader, so a
batch the accumulator built is checked against another implementation of the
format, not against zafka's own decoder.
"""

from __future__ import annotations

import warnings

import pytest

from wire.client.accumulator import RECORD_OVERHEAD, RecordAccumulator, record_size

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.record.default_records import DefaultRecordBatch

TP0, TP1 = ("t", 0), ("t", 1)


def decode(data: bytes) -> list[tuple]:
    batch = DefaultRecordBatch(bytes(data))
    return [(r.offset, r.key, r.value, list(r.headers), r.timestamp) for r in batch]


def add(acc, tp, value: bytes, now: float = 0.0, key=None, headers=None, ts=1000, entry=None):
    size = record_size(key, value, headers)
    return acc.append(tp, key, value, headers, ts, entry if entry is not None else value, size, now)


def test_record_size_is_an_upper_bound_of_the_encoded_record():
    acc = RecordAccumulator(batch_size=1 << 20)
    for key, value, headers in [(None, b"", None), (b"k" * 300, b"v" * 70000, [("h", b"x" * 200)]), (b"", None, [])]:
        batch = acc.append(("s", 0), key, value, headers, 5, None, record_size(key, value, headers), 0.0)
    data = acc.drain(("s", 0), 1 << 30)[0].build()
    payload = len(data) - 61
    assert payload <= sum(record_size(k, v, h) for k, v, h in
                          [(None, b"", None), (b"k" * 300, b"v" * 70000, [("h", b"x" * 200)]), (b"", None, [])])
    assert record_size(None, b"12345", None) == RECORD_OVERHEAD + 5


def test_records_of_a_partition_share_a_batch_until_batch_size():
    acc = RecordAccumulator(batch_size=61 + 3 * record_size(None, b"x" * 100, None))
    batches = {id(add(acc, TP0, b"x" * 100)) for _ in range(3)}
    assert len(batches) == 1
    fourth = add(acc, TP0, b"x" * 100)
    assert id(fourth) not in batches  # the full batch closed; a new one opened
    drained = acc.drain(TP0, 1 << 20)
    assert [len(b) for b in drained] == [3, 1]


def test_a_record_larger_than_batch_size_gets_a_batch_of_its_own():
    acc = RecordAccumulator(batch_size=1000)
    add(acc, TP0, b"a")
    big = add(acc, TP0, b"b" * 5000)
    add(acc, TP0, b"c")
    drained = acc.drain(TP0, 1 << 20)
    assert [len(b) for b in drained] == [1, 1, 1]
    assert drained[1] is big
    assert [r[2] for b in drained for r in decode(b.build())] == [b"a", b"b" * 5000, b"c"]


def test_partitions_are_batched_separately():
    acc = RecordAccumulator()
    add(acc, TP0, b"0")
    add(acc, TP1, b"1")
    add(acc, TP0, b"00")
    assert [r[2] for r in decode(acc.drain(TP0, 1 << 20)[0].build())] == [b"0", b"00"]
    assert [r[2] for r in decode(acc.drain(TP1, 1 << 20)[0].build())] == [b"1"]


def test_built_batch_holds_keys_headers_timestamps_and_relative_offsets():
    acc = RecordAccumulator()
    add(acc, TP0, b"v1", key=b"k1", headers=[("h", b"x")], ts=111)
    add(acc, TP0, None, key=b"k2", headers=None, ts=222)
    (batch,) = acc.drain(TP0, 1 << 20)
    assert decode(batch.build()) == [(0, b"k1", b"v1", [("h", b"x")], 111), (1, b"k2", None, [], 222)]
    assert batch.entries == [b"v1", None]  # completion entries in record order


@pytest.mark.parametrize("codec,attr", [("none", 0), ("gzip", 1), ("snappy", 2), ("lz4", 3), ("zstd", 4)])
def test_batches_are_compressed_once_with_the_producers_codec(codec, attr):
    acc = RecordAccumulator(compression=codec)
    values = [b"record %d " % i * 20 for i in range(50)]
    for v in values:
        add(acc, TP0, v)
    (batch,) = acc.drain(TP0, 1 << 20)
    data = batch.build()
    assert batch.build() is data  # built once; a retry resends the same bytes
    assert DefaultRecordBatch(data).compression_type == attr
    assert [r[2] for r in decode(data)] == values


def test_not_ready_before_linger_then_ready():
    acc = RecordAccumulator(linger_ms=5)
    add(acc, TP0, b"x", now=10.0)
    assert acc.ready(10.004) == []
    assert acc.next_ready_time(10.004) == pytest.approx(10.005)
    assert acc.ready(10.005) == [TP0]


def test_a_full_batch_is_ready_without_waiting_for_linger():
    acc = RecordAccumulator(batch_size=200, linger_ms=10_000)
    add(acc, TP0, b"x" * 150, now=0.0)
    assert acc.ready(0.0) == []
    add(acc, TP0, b"y" * 150, now=0.0)  # does not fit: the first batch closes
    assert acc.ready(0.0) == [TP0]
    assert acc.next_ready_time(0.0) == 0.0


def test_flushing_makes_every_partition_ready_at_once():
    acc = RecordAccumulator(linger_ms=10_000)
    add(acc, TP0, b"x", now=0.0)
    add(acc, TP1, b"y", now=0.0)
    assert acc.ready(0.0) == []
    assert sorted(acc.ready(0.0, flushing=True)) == [TP0, TP1]


def test_skipped_partitions_are_never_ready():
    acc = RecordAccumulator(linger_ms=0)
    add(acc, TP0, b"x")
    add(acc, TP1, b"y")
    assert acc.ready(1.0, skip={TP0}) == [TP1]
    assert acc.next_ready_time(1.0, skip={TP0, TP1}) is None


def test_drain_takes_head_batches_in_order_up_to_max_bytes_but_at_least_one():
    acc = RecordAccumulator(batch_size=300)
    for i in range(6):
        add(acc, TP0, bytes([65 + i]) * 250)  # one record per batch
    first = acc.drain(TP0, 700)  # each built batch is ~320 bytes: two fit
    assert [decode(b.build())[0][2][:1] for b in first] == [b"A", b"B"]
    one = acc.drain(TP0, 10)  # below one batch: still one
    assert [decode(b.build())[0][2][:1] for b in one] == [b"C"]
    rest = acc.drain(TP0, 1 << 20)
    assert [decode(b.build())[0][2][:1] for b in rest] == [b"D", b"E", b"F"]
    assert acc.drain(TP0, 1 << 20) == []
    assert not acc


def test_retried_batches_go_back_to_the_head_in_order_and_wait_for_their_backoff():
    acc = RecordAccumulator(batch_size=100, linger_ms=0)
    for v in (b"a" * 60, b"b" * 60, b"c" * 60):
        add(acc, TP0, v)
    sent = acc.drain(TP0, 300)  # a and b (about 130 bytes each) in flight
    assert len(sent) == 2
    add(acc, TP0, b"d" * 60)
    for b in sent:
        b.attempts += 1
    acc.reenqueue(sent, retry_at=5.0)
    assert acc.ready(4.9) == []  # the head waits for its backoff; nothing behind it may overtake
    assert acc.next_ready_time(4.9) == 5.0
    assert acc.ready(5.0) == [TP0]
    order = [decode(b.build())[0][2][:1] for b in acc.drain(TP0, 1 << 20)]
    assert order == [b"a", b"b", b"c", b"d"]


def test_solo_batches_are_sent_alone():
    acc = RecordAccumulator(batch_size=100)
    for v in (b"a" * 60, b"b" * 60, b"c" * 60):
        add(acc, TP0, v)
    batches = acc.drain(TP0, 1 << 20)
    for b in batches:
        b.solo = True
    acc.reenqueue(batches, retry_at=0.0)
    assert [len(acc.drain(TP0, 1 << 20)) for _ in range(3)] == [1, 1, 1]


def test_expire_removes_only_batches_older_than_the_timeout():
    acc = RecordAccumulator(batch_size=100)
    add(acc, TP0, b"a" * 60, now=0.0)
    add(acc, TP0, b"b" * 60, now=5.0)
    add(acc, TP1, b"c", now=1.0)
    expired = acc.expire(now=10.0, timeout=6.0)
    assert sorted(decode(b.build())[0][2][:1] for b in expired) == [b"a", b"c"]
    assert [decode(b.build())[0][2][:1] for b in acc.drain(TP0, 1 << 20)] == [b"b"]
    assert acc.drain(TP1, 1 << 20) == []


def test_record_count_follows_appends_drains_and_retries():
    acc = RecordAccumulator(batch_size=100)
    for v in (b"a" * 60, b"b" * 60):
        add(acc, TP0, v)
    assert acc.records == 2
    sent = acc.drain(TP0, 1 << 20)
    assert acc.records == 0
    acc.reenqueue(sent, 0.0)
    assert acc.records == 2
    assert len(acc.abort_all()) == 2 and acc.records == 0


def test_an_idempotent_drain_takes_at_most_max_batches_and_never_mixes_producer_ids():
    acc = RecordAccumulator(batch_size=100, linger_ms=0)
    for i in range(8):
        add(acc, TP0, b"v%d" % i + b"x" * 80)  # one record fills a batch
    assert len(acc.drain(TP0, 1 << 20, max_batches=5)) == 5
    left = acc.queued(TP0)
    assert len(left) == 3
    left[0].producer_id, left[0].sequence = 7, 40  # sent under an earlier producer id, being retried
    taken = acc.drain(TP0, 1 << 20, max_batches=5, producer_id=9)
    assert taken == [left[0]]  # alone: the others go under producer 9
    assert acc.drain(TP0, 1 << 20, max_batches=5, producer_id=9) == left[1:]
