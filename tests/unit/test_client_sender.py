"""The producer's one completion path: ``complete_records`` and the sender's flush and memory bookkeeping."""

from __future__ import annotations

from collections import deque

import pytest

from wire import errors
from wire.client.futures import RecordFuture
from wire.client.interceptors import InterceptorChain
from wire.client.producer import ProducerConfig
from wire.client.records import RecordMetadata
from wire.client.sender import BatchedRecord, FlushMarker, Sender, complete_records
from wire.connections import Waker


def _entries(count: int, timestamp: int = 7, callback=None) -> list[BatchedRecord]:
    return [BatchedRecord(RecordFuture(), callback, timestamp, seq) for seq in range(count)]


class _Acks:
    def __init__(self):
        self.seen = []

    def on_acknowledgement(self, metadata, exception):
        self.seen.append((metadata, exception))


def test_acknowledged_records_get_consecutive_offsets_from_the_base_and_their_own_timestamps():
    entries = _entries(3)
    complete_records(entries, "t", 1, None, InterceptorChain(), base_offset=10)
    assert [e.future.result(0) for e in entries] == [RecordMetadata("t", 1, 10 + i, 7) for i in range(3)]


def test_a_broker_append_time_replaces_the_record_timestamps():
    entries = _entries(2)
    complete_records(entries, "t", 0, None, InterceptorChain(), base_offset=0, append_time=99)
    assert [e.future.result(0).timestamp for e in entries] == [99, 99]


def test_acks_zero_records_all_have_offset_minus_one():
    entries = _entries(3)
    complete_records(entries, "t", 0, None, InterceptorChain())
    assert [e.future.result(0).offset for e in entries] == [-1, -1, -1]


def test_a_failure_reaches_every_future_callback_and_interceptor_and_a_raising_callback_stops_nothing():
    calls = []

    def callback(metadata, exception):
        calls.append((metadata, exception))
        raise RuntimeError("user bug")

    acks = _Acks()
    error = errors.NotLeader("moved")
    entries = _entries(2, callback=callback)
    complete_records(entries, "t", 0, error, InterceptorChain([acks]))
    assert all(e.future.exception(0) is error for e in entries)
    assert calls == [(None, error), (None, error)]
    assert acks.seen == [(None, error), (None, error)]


def test_a_future_already_completed_by_the_user_is_left_alone():
    entries = _entries(1)
    entries[0].future.set_result("mine")
    complete_records(entries, "t", 0, None, InterceptorChain(), base_offset=0)
    assert entries[0].future.result(0) == "mine"


@pytest.fixture
def sender():
    released = []
    waker = Waker()
    s = Sender(ProducerConfig(bootstrap=["tcp://127.0.0.1:1"]), deque(), waker, released.append, InterceptorChain())
    s.released = released
    yield s
    s.pool.close()
    waker.close()


def test_a_flush_is_done_when_the_records_before_it_complete_and_not_counting_later_ones(sender):
    marker = FlushMarker()
    marker.seq, marker.remaining = 2, 2  # records 0 and 1 were queued before the flush
    sender.flushes = [marker]
    sender.outstanding = 4
    entries = _entries(4)
    sender._complete("t", 0, entries[1:], None, base_offset=0, size=30)
    assert not marker.event.is_set() and marker.remaining == 1
    sender._complete("t", 0, entries[:1], None, base_offset=5, size=10)
    assert marker.event.is_set() and sender.flushes == []
    assert sender.outstanding == 0
    assert sender.released == [30, 10]  # buffer memory comes back once per completion call
