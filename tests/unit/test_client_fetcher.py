"""The consumer's fetch engine without sockets: a stub pool records requests, replies are fed in.

Batches are built with kafka-python's independent RecordBatch v2 builder, so the
decoding path is checked against another implementation of the format.
"""

from __future__ import annotations

import warnings

import zmq

from wire.client.fetcher import Fetcher
from wire.client.records import TopicPartition
from wire.connections import Failure, Reply
from wire.errors import NotLeader, OffsetOutOfRange
from wire.fetch import EARLIEST, Fetch, FetchResponse, ListOffsets, ListOffsetsResponse

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.record.default_records import DefaultRecordBatchBuilder

TP = TopicPartition("t", 0)


class StubPool:
    def __init__(self):
        self.sent = []  # (corr, request, context)
        self.cancelled = []

    def send(self, endpoint, request, frames=(), *, timeout_ms, context=None, expect_reply=True):
        corr = len(self.sent) + 1
        self.sent.append((corr, request, context))
        return corr

    def cancel(self, corr):
        self.cancelled.append(corr)


class StubMetadata:
    def __init__(self):
        self.updates = 0

    def leader_endpoint(self, topic, partition):
        return "tcp://leader"

    def request_update(self):
        self.updates += 1

    def next_due(self):
        return None


def fetcher(reset="earliest") -> tuple[Fetcher, StubPool]:
    pool = StubPool()
    f = Fetcher(pool, StubMetadata(), auto_offset_reset=reset, fetch_max_wait_ms=500, fetch_min_bytes=1,
                max_partition_fetch_bytes=1 << 20, fetch_max_bytes=50 << 20, request_timeout_ms=30000,
                retry_backoff_ms=100, retry_backoff_max_ms=1000)
    f.assign([TP])
    return f, pool


def batch(base_offset: int, values, control: bool = False) -> bytes:
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=int(control), producer_id=-1,
                                        producer_epoch=-1, base_sequence=-1, batch_size=1 << 20)
    for i, v in enumerate(values):
        builder.append(i, timestamp=1000 + i, key=None, value=v, headers=[])
    data = bytearray(builder.build())
    data[0:8] = base_offset.to_bytes(8, "big")
    if control:  # set the control bit (attributes at 21..22); the CRC is not checked here
        data[22] |= 0x20
    return bytes(data)


def fetch_reply(context, *batches) -> Reply:
    return Reply(context, FetchResponse(high_watermark=100, log_start_offset=0, log_end_offset=100),
                 [zmq.Frame(b"".join(batches))])


def test_unknown_position_is_looked_up_then_fetched_from():
    f, pool = fetcher("earliest")
    f.send_requests(0.0)
    (corr, request, context), = pool.sent
    assert isinstance(request, ListOffsets) and request.timestamp == EARLIEST
    f.handle([Reply(context, ListOffsetsResponse(offset=7), [])])
    assert f.states[TP].position == 7
    f.send_requests(0.0)
    assert isinstance(pool.sent[-1][1], Fetch) and pool.sent[-1][1].offset == 7


def test_records_before_the_requested_offset_and_control_batches_are_skipped():
    f, pool = fetcher()
    f.seek(f.states[TP], 3)
    f.send_requests(0.0)
    context = pool.sent[-1][2]
    f.handle([fetch_reply(context, batch(0, [b"a", b"b", b"c", b"d", b"e"]), batch(5, [b"x"], control=True),
                          batch(6, [b"g"]))])
    f.check_crcs = False  # the hand-set control bit invalidates the CRC
    records = f.collect(100)
    assert [(r.offset, r.value) for r in records] == [(3, b"d"), (4, b"e"), (6, b"g")]
    assert f.states[TP].position == 7  # past the control batch too


def test_a_stale_reply_after_a_seek_is_ignored_and_leaves_the_new_fetch_alone():
    f, pool = fetcher()
    state = f.states[TP]
    f.seek(state, 0)
    f.send_requests(0.0)
    old_context = pool.sent[-1][2]
    f.seek(state, 50)
    f.send_requests(0.0)
    new_corr = pool.sent[-1][0]
    assert pool.sent[-1][1].offset == 50
    f.handle([fetch_reply(old_context, batch(0, [b"old"]))])
    assert state.fetching == new_corr and state.payload is None
    assert f.collect(10) == []
    f.send_requests(0.0)
    assert len(pool.sent) == 2  # still exactly one fetch in flight


def test_the_next_fetch_goes_out_when_the_buffered_response_is_decoded():
    f, pool = fetcher()
    f.seek(f.states[TP], 0)
    f.send_requests(0.0)
    f.handle([fetch_reply(pool.sent[-1][2], batch(0, [b"%d" % i for i in range(10)]))])
    f.send_requests(0.0)
    assert len(pool.sent) == 1  # a response is waiting undecoded: no second fetch yet
    assert [r.offset for r in f.collect(4)] == [0, 1, 2, 3]
    f.send_requests(0.0)
    assert len(pool.sent) == 2 and pool.sent[-1][1].offset == 10  # prefetch while 6 records remain
    assert [r.offset for r in f.collect(100)] == [4, 5, 6, 7, 8, 9]


def test_out_of_range_resets_by_policy_or_reports_with_none():
    f, pool = fetcher("latest")
    state = f.states[TP]
    f.seek(state, 999)
    f.send_requests(0.0)
    f.handle([Reply(pool.sent[-1][2], FetchResponse(error=OffsetOutOfRange.code, message="no"), [])])
    f.send_requests(0.0)
    assert isinstance(pool.sent[-1][1], ListOffsets) and pool.sent[-1][1].timestamp == -1

    f, pool = fetcher("none")
    f.seek(f.states[TP], 999)
    f.send_requests(0.0)
    f.handle([Reply(pool.sent[-1][2], FetchResponse(error=OffsetOutOfRange.code, message="no"), [])])
    error = f.take_error()
    assert isinstance(error, OffsetOutOfRange) and "auto_offset_reset" in str(error)


def test_a_lost_connection_backs_off_and_asks_for_metadata():
    f, pool = fetcher()
    f.seek(f.states[TP], 0)
    f.send_requests(10.0)
    f.handle([Failure(pool.sent[-1][2], NotLeader("moved"))])
    assert f.metadata.updates == 1
    f.send_requests(10.0)
    assert len(pool.sent) == 1  # waiting for the backoff
    assert f.next_wakeup(10.0) is not None
    f.send_requests(f.states[TP].retry_at)
    assert len(pool.sent) == 2


def test_a_partition_awaiting_its_committed_offset_is_neither_reset_nor_fetched_until_it_is_known():
    f, pool = fetcher(reset="latest")
    state = f.states[TP]
    f.await_committed(state)
    f.send_requests(0.0)
    assert pool.sent == []  # resetting to 'latest' now would skip what the group has not processed yet
    f.seek(state, 42)  # the committed offset arrived (or the user seeked)
    f.send_requests(0.0)
    (_, request, _), = pool.sent
    assert isinstance(request, Fetch) and request.offset == 42 and not state.awaiting_committed


def test_seek_to_beginning_while_the_committed_offset_is_awaited_wins_over_it():
    f, pool = fetcher(reset="latest")
    state = f.states[TP]
    f.await_committed(state)
    f.request_reset(state, EARLIEST)  # seek_to_beginning() in on_assign
    f.send_requests(0.0)
    (_, request, _), = pool.sent
    assert isinstance(request, ListOffsets) and request.timestamp == EARLIEST


def test_a_not_leader_reply_naming_the_new_leader_is_fetched_from_there_at_once():
    from wire.base import ErrorResponse

    f, pool = fetcher()
    moved = []
    f.metadata.update_leader = lambda *args: moved.append(args) or True  # the cache took the hint
    state = f.states[TP]
    f.seek(state, 5)
    f.send_requests(0.0)
    f.handle([Reply(pool.sent[-1][2], ErrorResponse(error=NotLeader.code, leader=2, leader_epoch=7,
                                                     leader_endpoint="tcp://new-leader"), [])])
    assert moved == [("t", 0, 2, 7, "tcp://new-leader")]
    assert f.metadata.updates == 0  # no metadata round trip
    f.send_requests(0.0)  # no backoff either: the next fetch goes out in the same round
    assert len(pool.sent) == 2 and isinstance(pool.sent[-1][1], Fetch) and pool.sent[-1][1].offset == 5
