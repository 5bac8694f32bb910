"""Producer, Consumer and Admin over real ZeroMQ sockets against the in-process fake cluster.

``tests/fake_broker.py`` stores batches in a real ``storage.Log``, so what a test
reads back from the fake is what a real partition leader would hold. Faults are
injected there: error replies, swallowed requests, moved and killed leaders.
Expected partitions and offsets are computed here from the contract (Kafka's
murmur2 vectors, round-robin counts, contiguous offsets), not from client code.
Every test stops its clients and the fake; an autouse fixture checks no client
thread outlives a test.
"""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict

import pytest

from tests.fake_broker import FakeBroker
from wire import Admin, Consumer, Producer, TopicPartition, errors
from wire.admin import CreateTopic, DescribeConfigs
from wire.client.errors import ClientClosed, ClientConfigError, GroupsNotAvailable, NoOffsetForPartition, NotAssigned
from wire.fetch import Fetch
from wire.produce import Produce

# An unclosed ZeroMQ socket warns when collected: make that a failure of the test that leaked it.
pytestmark = pytest.mark.filterwarnings("error::ResourceWarning", "error::pytest.PytestUnraisableExceptionWarning")

CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
KAFKA_MURMUR2_POSITIVE = {b"21": (-973932308) & 0x7FFFFFFF, b"foobar": (-790332482) & 0x7FFFFFFF}


def wait_until(condition, timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``condition`` until true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture(scope="module", autouse=True)
def zmq_context_started():
    """Start ZeroMQ's lazily created machinery before the per-test fd baseline is taken.

    The context's I/O thread and pyzmq's zero-copy garbage collector (started by the
    first large ``copy=False`` send) keep their fds for the life of the process.
    """
    import zmq

    ctx = zmq.Context.instance()
    a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    a.bind("inproc://warm-up")
    b.connect("inproc://warm-up")
    a.send(b"x" * (1 << 17), copy=False)
    b.recv()
    a.close(linger=0)
    b.close(linger=0)


@pytest.fixture(autouse=True)
def no_leaked_threads_or_sockets(zmq_context_started):
    before = open_fds()
    yield
    wait_until(lambda: not [t for t in threading.enumerate() if t.name == "zafka-producer-sender"],
               timeout=10, what="producer sender threads to stop")
    # Sockets, pipes and log files of the test are gone (ZeroMQ closes TCP connections asynchronously).
    wait_until(lambda: open_fds() <= before, timeout=10, what=f"open fds to fall back to {before}")


@pytest.fixture
def broker(tmp_path):
    with FakeBroker(tmp_path / "data", {"t": 3, "one": 1}) as fb:
        yield fb


def consume_all(bootstrap: str, tps, expected: int, timeout: float = 15.0, **kwargs) -> list:
    with Consumer(bootstrap, auto_offset_reset="earliest", **kwargs) as consumer:
        consumer.assign(tps)
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < expected and time.monotonic() < deadline:
            out.extend(consumer.poll(timeout_ms=200))
        return out


# -- producing and consuming ------------------------------------------------------------------------


def test_keyless_round_robin_and_keyed_hash_records_round_trip(broker):
    with Producer(broker.bootstrap) as producer:
        keyless = [producer.send("t", b"v%d" % i) for i in range(300)]
        keyed = [producer.send("t", b"k%d" % i, key=key) for i, key in enumerate([b"21", b"foobar"] * 50)]
        producer.flush(10)
    metas = [f.result(0) for f in keyless + keyed]
    # Round robin over 3 partitions: exactly 100 keyless records each.
    per_partition = defaultdict(int)
    for m in metas[:300]:
        per_partition[m.partition] += 1
    assert dict(per_partition) == {0: 100, 1: 100, 2: 100}
    # Keyed records go where Kafka's murmur2 sends them.
    for m, key in zip(metas[300:], [b"21", b"foobar"] * 50):
        assert m.partition == KAFKA_MURMUR2_POSITIVE[key] % 3
    # Offsets of a partition are 0..n-1 in send order.
    by_partition = defaultdict(list)
    for m in metas:
        by_partition[m.partition].append(m.offset)
    for offsets in by_partition.values():
        assert offsets == list(range(len(offsets)))

    records = consume_all(broker.bootstrap, [TopicPartition("t", p) for p in range(3)], 400)
    assert len(records) == 400
    sent = {(m.partition, m.offset): value for m, value in zip(
        metas, [b"v%d" % i for i in range(300)] + [b"k%d" % i for i in range(100)])}
    assert {(r.partition, r.offset): r.value for r in records} == sent
    for r in records:
        if r.key is not None:
            assert r.partition == KAFKA_MURMUR2_POSITIVE[r.key] % 3


def test_explicit_partition_headers_and_timestamps_are_kept(broker):
    with Producer(broker.bootstrap) as producer:
        meta = producer.send("t", b"v", key=b"k", partition=2, headers={"trace": "abc", "n": None},
                             timestamp_ms=1_600_000_000_000).result(10)
    assert (meta.partition, meta.offset, meta.timestamp) == (2, 0, 1_600_000_000_000)
    assert broker.read_all("t", 2) == [(0, b"k", b"v", [("trace", b"abc"), ("n", None)], 1_600_000_000_000)]


def test_a_partition_that_does_not_exist_fails_the_record(broker):
    with Producer(broker.bootstrap) as producer:
        future = producer.send("t", b"v", partition=7)
        with pytest.raises(errors.UnknownTopicOrPartition, match="partition 7"):
            future.result(10)


@pytest.mark.parametrize("codec", sorted(CODECS))
def test_every_codec_round_trips_empty_and_one_mib_values(tmp_path, codec):
    big = os.urandom(1 << 19) + b"compressible " * ((1 << 19) // 13) + b"x" * ((1 << 19) % 13)
    assert len(big) == 1 << 20
    with FakeBroker(tmp_path / "data", {}) as fb:
        fb.create_topic("c", 1, {"max.message.bytes": str(4 << 20)})
        with Producer(fb.bootstrap, compression=codec, max_request_size=4 << 20, linger_ms=0) as producer:
            first = producer.send("c", b"").result(10)
            second = producer.send("c", big).result(10)
            third = producer.send("c", None, key=b"tombstone").result(10)
        assert (first.offset, second.offset, third.offset) == (0, 1, 2)
        assert set(fb.batch_codecs("c", 0)) == {CODECS[codec]}
        records = consume_all(fb.bootstrap, [TopicPartition("c", 0)], 3)
    assert [(r.offset, r.key, r.value) for r in records] == [(0, None, b""), (1, None, big), (2, b"tombstone", None)]


def test_acks_zero_resolves_with_offset_minus_one_and_still_delivers(broker):
    with Producer(broker.bootstrap, acks=0) as producer:
        metas = [producer.send("one", b"%d" % i).result(10) for i in range(20)]
    assert {m.offset for m in metas} == {-1}
    wait_until(lambda: broker.log_end("one", 0) == 20, what="acks=0 records to be stored")
    assert set(broker.produce_acks) == {0}
    assert [r[2] for r in broker.read_all("one", 0)] == [b"%d" % i for i in range(20)]


@pytest.mark.parametrize("acks,wire_acks", [("all", -1), ("1", 1), (-1, -1), ("0", 0)])
def test_acks_spellings_reach_the_leader(broker, acks, wire_acks):
    with Producer(broker.bootstrap, acks=acks) as producer:
        producer.send("one", b"x").result(10)
    wait_until(lambda: broker.produce_acks, what="the produce request")  # acks=0 resolves before it lands
    assert broker.produce_acks == [wire_acks]


# -- retries and failures --------------------------------------------------------------------------------


def test_not_leader_refreshes_metadata_and_retries_on_the_new_leader(broker):
    with Producer(broker.bootstrap, retry_backoff_ms=10) as producer:
        assert producer.send("one", b"a").result(10).offset == 0
        metadata_before = broker.received["Metadata"]
        old = broker.leader_endpoint("one", 0)
        new = broker.move_leader("one", 0)
        assert new != old
        assert producer.send("one", b"b").result(10).offset == 1
        assert broker.received["Metadata"] > metadata_before
    assert [r[2] for r in broker.read_all("one", 0)] == [b"a", b"b"]  # each exactly once


def test_a_not_leader_naming_the_new_leader_is_retried_there_at_once_without_a_metadata_refresh(broker):
    # KIP-951: the old leader says who leads now; with a 30 s backoff only that hint can deliver in time
    with Producer(broker.bootstrap, retry_backoff_ms=30_000, retry_backoff_max_ms=30_000) as producer:
        assert producer.send("one", b"a").result(10).offset == 0
        metadata_before = broker.received["Metadata"]
        broker.move_leader("one", 0, hint=True)
        assert producer.send("one", b"b").result(10).offset == 1
        assert broker.received["Metadata"] == metadata_before
        assert producer.send("one", b"c").result(10).offset == 2  # and it stays with the new leader
    assert [r[2] for r in broker.read_all("one", 0)] == [b"a", b"b", b"c"]


def test_a_hint_older_than_what_the_producer_knows_is_ignored():
    from wire.client.metadata import ClusterMetadata
    from wire.metadata import MetadataResponse, PartitionMetadata, TopicMetadata

    md = ClusterMetadata("tcp://127.0.0.1:1", pool=None)
    md._apply(MetadataResponse(topics=[TopicMetadata(name="t", partitions=[
        PartitionMetadata(partition=0, leader=2, leader_epoch=5, replicas=[1, 2], isr=[1, 2],
                          leader_endpoint="tcp://127.0.0.1:2")])]), ["t"])
    assert not md.update_leader("t", 0, 1, 4, "tcp://127.0.0.1:1")  # older epoch: a late hint
    assert not md.update_leader("t", 0, 1, 5, "tcp://127.0.0.1:1")  # same epoch: nothing new
    assert md.update_leader("t", 0, 1, 6, "tcp://127.0.0.1:1")
    assert md.leader_endpoint("t", 0) == "tcp://127.0.0.1:1"
    # a broker whose image lags (epoch 5) does not undo what the hint taught
    md._apply(MetadataResponse(topics=[TopicMetadata(name="t", partitions=[
        PartitionMetadata(partition=0, leader=2, leader_epoch=5, replicas=[1, 2], isr=[1, 2],
                          leader_endpoint="tcp://127.0.0.1:2")])]), ["t"])
    assert md.leader_endpoint("t", 0) == "tcp://127.0.0.1:1"


def test_a_swallowed_request_times_out_and_is_retried(broker):
    broker.fail_next(Produce, None)  # no reply at all
    with Producer(broker.bootstrap, request_timeout_ms=300, delivery_timeout_ms=20_000) as producer:
        assert producer.send("one", b"late").result(10).offset == 0
    assert broker.received["Produce"] == 2
    assert [r[2] for r in broker.read_all("one", 0)] == [b"late"]


def test_a_request_stalled_on_a_leader_that_moved_is_resent_to_the_new_one_before_its_timeout(broker):
    """A frozen leader answers nothing; once metadata names another leader the producer stops waiting."""
    import time

    broker.fail_next(Produce, None)  # the old leader swallows the request, as a SIGSTOPped one does
    with Producer(broker.bootstrap, request_timeout_ms=30_000, retry_backoff_ms=10) as producer:
        future = producer.send("one", b"stalled")
        broker.move_leader("one", 0)
        started = time.monotonic()
        assert future.result(10).offset == 0
        assert time.monotonic() - started < 5  # long before the 30 s request timeout
    assert [r[2] for r in broker.read_all("one", 0)] == [b"stalled"]


def test_retriable_errors_are_retried_until_they_clear(broker):
    broker.fail_next(Produce, errors.LeaderNotAvailable, times=2)
    broker.fail_next(Produce, errors.NotEnoughReplicas, times=1)
    with Producer(broker.bootstrap, retry_backoff_ms=5) as producer:
        assert producer.send("one", b"x").result(10).offset == 0
    assert broker.received["Produce"] == 4


def test_retriable_error_that_persists_fails_after_the_delivery_timeout(broker):
    broker.fail_next(Produce, errors.NotEnoughReplicas, times=10_000)
    with Producer(broker.bootstrap, retry_backoff_ms=5, retry_backoff_max_ms=20, linger_ms=0,
                  request_timeout_ms=200, delivery_timeout_ms=500) as producer:
        started = time.monotonic()
        with pytest.raises(errors.NotEnoughReplicas, match="attempts"):
            producer.send("one", b"x").result(10)
        assert time.monotonic() - started < 5


def test_retries_zero_fails_on_the_first_retriable_error(broker):
    broker.fail_next(Produce, errors.NotLeader, times=1)
    with Producer(broker.bootstrap, retries=0) as producer:
        with pytest.raises(errors.NotLeader):
            producer.send("one", b"x").result(10)
        assert producer.send("one", b"y").result(10).offset == 0  # the next record is fine


def test_a_killed_leader_is_noticed_at_once_not_after_the_request_timeout(broker):
    with Producer(broker.bootstrap, request_timeout_ms=60_000, retry_backoff_ms=10) as producer:
        producer.send("one", b"a").result(10)
        broker.fail_next(Produce, None)  # the leader "hangs" on the next request...
        future = producer.send("one", b"b")
        wait_until(lambda: broker.received["Produce"] == 2, what="the swallowed request")
        broker.kill_leader("one", 0)  # ...and dies: the TCP connection drops
        broker.move_leader("one", 0)
        started = time.monotonic()
        assert future.result(10).offset == 1
        assert time.monotonic() - started < 5  # far below request_timeout_ms


def test_records_of_a_partition_stay_in_order_across_retries(broker):
    broker.fail_next(Produce, errors.NotLeader, times=3)
    with Producer(broker.bootstrap, retry_backoff_ms=5, batch_size=200, linger_ms=1) as producer:
        futures = [producer.send("one", b"%04d" % i) for i in range(300)]
        producer.flush(20)
    assert [f.result(0).offset for f in futures] == list(range(300))
    assert [r[2] for r in broker.read_all("one", 0)] == [b"%04d" % i for i in range(300)]


def test_a_record_over_max_request_size_fails_at_once(broker):
    calls = []
    with Producer(broker.bootstrap, max_request_size=1000) as producer:
        future = producer.send("one", b"x" * 2000, callback=lambda m, e: calls.append((m, e)))
        assert future.done()
        with pytest.raises(errors.RecordTooLarge, match="max_request_size"):
            future.result(0)
    assert calls[0][0] is None and isinstance(calls[0][1], errors.RecordTooLarge)
    assert broker.received["Produce"] == 0


def test_the_brokers_record_too_large_fails_only_the_oversized_batch(tmp_path):
    with FakeBroker(tmp_path / "data", {}) as fb:
        fb.create_topic("small", 1, {"max.message.bytes": "1000"})
        with Producer(fb.bootstrap, batch_size=500, linger_ms=60_000) as producer:
            before = producer.send("small", b"a")
            big = producer.send("small", b"B" * 3000)  # its own batch, over the topic's limit
            after = producer.send("small", b"c")
            producer.flush(10)  # all three batches leave together in one request
        with pytest.raises(errors.RecordTooLarge):
            big.result(0)
        assert before.result(0).offset == 0 and after.result(0).offset == 1
        assert [r[2] for r in fb.read_all("small", 0)] == [b"a", b"c"]


def test_unknown_topic_fails_after_max_block_ms_naming_the_topic(broker):
    with Producer(broker.bootstrap, max_block_ms=300, retry_backoff_ms=20) as producer:
        started = time.monotonic()
        with pytest.raises(errors.UnknownTopicOrPartition, match="'nope'"):
            producer.send("nope", b"x").result(10)
        assert 0.25 < time.monotonic() - started < 5
        assert producer.send("one", b"fine").result(10).offset == 0  # other topics unaffected


def test_an_invalid_topic_name_fails_at_once_without_waiting_for_max_block(broker):
    with Producer(broker.bootstrap, max_block_ms=30_000) as producer:
        started = time.monotonic()
        with pytest.raises(errors.InvalidTopic, match="bad name!"):
            producer.send("bad name!", b"x").result(10)
        assert time.monotonic() - started < 5


def test_auto_created_topics_are_retried_until_their_leader_is_up(tmp_path):
    with FakeBroker(tmp_path / "data", {}, auto_create=True, num_partitions=2) as fb:
        with Producer(fb.bootstrap, retry_backoff_ms=10) as producer:
            meta = producer.send("fresh", b"x", key=b"21").result(10)
        assert meta.partition == KAFKA_MURMUR2_POSITIVE[b"21"] % 2
        assert len(fb.topics["fresh"]) == 2


def test_a_leaderless_partition_is_retried_until_a_leader_appears(broker):
    broker.set_available("one", 0, False)
    with Producer(broker.bootstrap, retry_backoff_ms=10, retry_backoff_max_ms=50) as producer:
        future = producer.send("one", b"x")
        wait_until(lambda: broker.received["Metadata"] >= 3, what="metadata refreshes")
        assert not future.done()
        broker.set_available("one", 0, True)
        assert future.result(10).offset == 0


def test_an_unreachable_cluster_fails_records_after_max_block_ms():
    with Producer("tcp://127.0.0.1:1", max_block_ms=300, retry_backoff_ms=20) as producer:
        started = time.monotonic()
        with pytest.raises(errors.BrokerNotAvailable, match="cannot connect to tcp://127.0.0.1:1"):
            producer.send("t", b"x").result(10)
        assert time.monotonic() - started < 5


def test_a_dead_bootstrap_endpoint_is_skipped(broker):
    with Producer(f"tcp://127.0.0.1:1,{broker.bootstrap}") as producer:
        assert producer.send("one", b"x").result(10).offset == 0


# -- callbacks, interceptors, flush and close ---------------------------------------------------------------


def test_callbacks_get_metadata_in_per_partition_send_order(broker):
    seen = []
    with Producer(broker.bootstrap) as producer:
        for i in range(50):
            producer.send("t", b"%d" % i, partition=i % 2, callback=lambda m, e, i=i: seen.append((i, m, e)))
        producer.flush(10)
    assert len(seen) == 50 and all(e is None for _, _, e in seen)
    for p in (0, 1):
        ordered = [(i, m.offset) for i, m, _ in seen if m.partition == p]
        assert [i for i, _ in ordered] == sorted(i for i, _ in ordered)
        assert [o for _, o in ordered] == list(range(25))


def test_a_raising_callback_does_not_stop_delivery(broker):
    with Producer(broker.bootstrap) as producer:
        futures = [producer.send("one", b"x", callback=lambda m, e: 1 / 0) for _ in range(5)]
        producer.flush(10)
    assert [f.result(0).offset for f in futures] == list(range(5))


class Upper:
    def __init__(self):
        self.acks = []

    def on_send(self, record):
        return record._replace(value=record.value.upper())

    def on_acknowledgement(self, metadata, exception):
        self.acks.append((metadata.offset if metadata else None, exception))


class Exploding:
    def on_send(self, record):
        raise RuntimeError("interceptor bug")

    def on_acknowledgement(self, metadata, exception):
        raise RuntimeError("interceptor bug")

    def on_consume(self, records):
        raise RuntimeError("interceptor bug")


def test_interceptors_see_and_change_records_and_a_raising_one_breaks_nothing(broker):
    upper = Upper()
    with Producer(broker.bootstrap, interceptors=[Exploding(), upper, Exploding()]) as producer:
        futures = [producer.send("one", b"abc%d" % i) for i in range(3)]
        producer.flush(10)
    assert [f.result(0).offset for f in futures] == [0, 1, 2]
    assert sorted(upper.acks) == [(0, None), (1, None), (2, None)]
    assert [r[2] for r in broker.read_all("one", 0)] == [b"ABC0", b"ABC1", b"ABC2"]


def test_consumer_interceptors_and_deserializers(broker):
    class Tag:
        def on_consume(self, records):
            return [r._replace(value=r.value + "!") for r in records]

    with Producer(broker.bootstrap) as producer:
        producer.send("one", b"hello", key=b"k").result(10)
    records = consume_all(broker.bootstrap, [TopicPartition("one", 0)], 1, value_deserializer=bytes.decode,
                          key_deserializer=bytes.decode, interceptors=[Exploding(), Tag()])
    assert [(r.key, r.value) for r in records] == [("k", "hello!")]


def test_linger_holds_records_until_flush(broker):
    with Producer(broker.bootstrap, linger_ms=60_000) as producer:
        future = producer.send("one", b"x")
        assert not future.done() and broker.received["Produce"] == 0
        producer.flush(10)
        assert future.done() and future.result(0).offset == 0


def test_close_delivers_what_is_queued_then_refuses_sends(broker):
    producer = Producer(broker.bootstrap, linger_ms=60_000)
    futures = [producer.send("one", b"%d" % i) for i in range(10)]
    producer.close()
    assert [f.result(0).offset for f in futures] == list(range(10))
    with pytest.raises(ClientClosed):
        producer.send("one", b"late")
    producer.close()  # a second close is a no-op


def test_close_with_a_timeout_fails_what_could_not_be_delivered(broker):
    broker.fail_next(Produce, None, times=1000)  # the leader never answers
    producer = Producer(broker.bootstrap, request_timeout_ms=30_000, linger_ms=0)
    future = producer.send("one", b"x")
    started = time.monotonic()
    producer.close(timeout=0.3)
    assert time.monotonic() - started < 5
    with pytest.raises(ClientClosed):
        future.result(5)


def test_flush_times_out_with_a_typed_error(broker):
    broker.fail_next(Produce, None, times=1000)
    with Producer(broker.bootstrap, request_timeout_ms=30_000, linger_ms=0) as producer:
        producer.send("one", b"x")
        with pytest.raises(errors.RequestTimedOut, match="flush"):
            producer.flush(timeout=0.2)
        producer.close(timeout=0.2)


def test_partitions_for_reports_the_topics_partitions(broker):
    with Producer(broker.bootstrap) as producer:
        assert producer.partitions_for("t") == [0, 1, 2]


@pytest.mark.parametrize("kwargs,match", [
    ({"acks": 2}, "acks"), ({"compression": "brotli"}, "compression"), ({"partitioner": "sticky"}, "partitioner"),
    ({"linger_ms": -1}, "linger_ms"), ({"delivery_timeout_ms": 1000}, "delivery_timeout_ms"),
])
def test_bad_producer_settings_are_config_errors(kwargs, match):
    with pytest.raises(ClientConfigError, match=match):
        Producer("tcp://127.0.0.1:1", **kwargs)


def test_values_must_be_bytes_or_str_unless_a_serializer_is_given(broker):
    with Producer(broker.bootstrap, value_serializer=lambda v: repr(v).encode()) as producer:
        assert producer.send("one", {"a": 1}).result(10).offset == 0
    with Producer(broker.bootstrap) as producer:
        with pytest.raises(TypeError, match="value_serializer"):
            producer.send("one", 12345)
        producer.send("one", "text").result(10)
    assert [r[2] for r in broker.read_all("one", 0)] == [b"{'a': 1}", b"text"]


def test_user_partitioner_callable_is_used(broker):
    with Producer(broker.bootstrap, partitioner=lambda topic, key, parts: parts[-1]) as producer:
        assert {producer.send("t", b"x").result(10).partition for _ in range(5)} == {2}


# -- consumer positions, seeks and resets ---------------------------------------------------------------------


def produce(bootstrap: str, topic: str, values, partition: int = 0) -> None:
    with Producer(bootstrap, linger_ms=60_000) as producer:
        for v in values:
            producer.send(topic, v, partition=partition)
        producer.flush(10)  # one batch: the consumer's skip-before-offset path is exercised


def test_position_resolves_by_auto_offset_reset(broker):
    produce(broker.bootstrap, "one", [b"%d" % i for i in range(10)])
    tp = TopicPartition("one", 0)
    with Consumer(broker.bootstrap, auto_offset_reset="earliest") as c:
        c.assign([tp])
        assert c.position(tp) == 0
    with Consumer(broker.bootstrap, auto_offset_reset="latest") as c:
        c.assign([tp])
        assert c.position(tp) == 10
        assert c.poll(timeout_ms=100) == []
    with Consumer(broker.bootstrap, auto_offset_reset="none") as c:
        c.assign([tp])
        with pytest.raises(NoOffsetForPartition, match="seek"):
            c.position(tp)


def test_seek_inside_a_batch_skips_the_records_before_the_offset(broker):
    produce(broker.bootstrap, "one", [b"%d" % i for i in range(10)])
    assert len(broker.batch_codecs("one", 0)) == 1  # one batch holding offsets 0..9
    tp = TopicPartition("one", 0)
    with Consumer(broker.bootstrap) as c:
        c.assign([tp])
        c.seek(tp, 5)
        assert c.position(tp) == 5
        records = []
        wait_until(lambda: records.extend(c.poll(timeout_ms=100)) or len(records) >= 5, what="records")
        assert [r.offset for r in records] == [5, 6, 7, 8, 9]
        assert c.position(tp) == 10


def test_poll_respects_max_records_and_positions_advance(broker):
    produce(broker.bootstrap, "one", [b"%d" % i for i in range(30)])
    tp = TopicPartition("one", 0)
    with Consumer(broker.bootstrap, auto_offset_reset="earliest", max_poll_records=7) as c:
        c.assign([tp])
        first = []
        wait_until(lambda: first.extend(c.poll(timeout_ms=100)) or first, what="first records")
        assert [r.offset for r in first] == list(range(7))
        assert c.position(tp) == 7
        assert [r.offset for r in c.poll(timeout_ms=1000, max_records=3)] == [7, 8, 9]


def test_seek_to_beginning_and_end(broker):
    produce(broker.bootstrap, "one", [b"a", b"b", b"c"])
    tp = TopicPartition("one", 0)
    with Consumer(broker.bootstrap, auto_offset_reset="earliest") as c:
        c.assign([tp])
        c.seek_to_end(tp)
        assert c.position(tp) == 3
        c.seek_to_beginning()
        assert c.position(tp) == 0
        records = []
        wait_until(lambda: records.extend(c.poll(timeout_ms=100)) or len(records) >= 3, what="records")
        assert [r.value for r in records] == [b"a", b"b", b"c"]


def test_out_of_range_offset_resets_by_policy(broker):
    produce(broker.bootstrap, "one", [b"a", b"b"])
    tp = TopicPartition("one", 0)
    with Consumer(broker.bootstrap, auto_offset_reset="earliest") as c:
        c.assign([tp])
        c.seek(tp, 1000)
        records = []
        wait_until(lambda: records.extend(c.poll(timeout_ms=100)) or len(records) >= 2, what="reset records")
        assert [r.offset for r in records] == [0, 1]
    with Consumer(broker.bootstrap, auto_offset_reset="none") as c:
        c.assign([tp])
        c.seek(tp, 1000)
        with pytest.raises(errors.OffsetOutOfRange, match="auto_offset_reset"):
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                c.poll(timeout_ms=100)


def test_beginning_and_end_offsets_and_partitions_for_topic(broker):
    produce(broker.bootstrap, "t", [b"x"] * 4, partition=1)
    tps = [TopicPartition("t", p) for p in range(3)]
    with Consumer(broker.bootstrap) as c:
        assert c.beginning_offsets(tps) == {tp: 0 for tp in tps}
        assert c.end_offsets(tps) == {tps[0]: 0, tps[1]: 4, tps[2]: 0}
        assert c.partitions_for_topic("t") == {0, 1, 2}
        with pytest.raises(errors.UnknownTopicOrPartition):
            c.partitions_for_topic("missing")
        with pytest.raises(errors.UnknownTopicOrPartition):
            c.end_offsets([TopicPartition("missing", 0)], timeout_ms=2000)


def test_offsets_for_times_finds_the_first_batch_at_or_after_a_timestamp(broker):
    with Producer(broker.bootstrap, linger_ms=0) as producer:
        for ts in (1000, 2000, 3000):  # one batch each: the time index is per batch
            producer.send("one", b"x", timestamp_ms=ts).result(10)
    tp = TopicPartition("one", 0)
    with Consumer(broker.bootstrap) as c:
        assert c.offsets_for_times({tp: 1500}) == {tp: 1}
        assert c.offsets_for_times({tp: 3000}) == {tp: 2}
        assert c.offsets_for_times({tp: 9999}) == {tp: 3}  # none that late: the end offset


def test_position_of_an_unassigned_partition_is_refused(broker):
    with Consumer(broker.bootstrap) as c:
        with pytest.raises(NotAssigned, match="assign"):
            c.position(TopicPartition("one", 0))


def test_group_calls_are_refused_clearly_where_they_cannot_work(broker):
    with Consumer(broker.bootstrap) as c:  # no group_id: no group to join or commit to
        with pytest.raises(ClientConfigError, match="group_id"):
            c.subscribe(["t"])
        with pytest.raises(ClientConfigError, match="group_id"):
            c.commit()
        with pytest.raises(ClientConfigError, match="group_id"):
            c.committed(TopicPartition("t", 0))
    with Consumer(broker.bootstrap, group_id="billing") as c:
        with pytest.raises(ClientConfigError, match="invalid pattern"):
            c.subscribe(pattern="orders-(")
        with pytest.raises(ClientConfigError, match="not both"):
            c.subscribe(["t"], pattern="orders-.*")
        with pytest.raises(ClientConfigError, match="topic names"):
            c.subscribe([""])
        c.subscribe(["t"])  # joins at the next poll
        with pytest.raises(ClientConfigError, match="unsubscribe"):
            c.assign([TopicPartition("t", 0)])
    for bad in ({"group_id": ""}, {"group_id": "g", "heartbeat_interval_ms": 50_000, "session_timeout_ms": 45_000},
                {"group_id": "g", "partition_assignment_strategy": ["nope"]}):
        with pytest.raises(ClientConfigError):
            Consumer(broker.bootstrap, **bad)


def test_a_long_poll_returns_records_produced_while_it_waits(broker):
    tp = TopicPartition("one", 0)
    with Consumer(broker.bootstrap, auto_offset_reset="latest", fetch_max_wait_ms=5000) as c:
        c.assign([tp])
        assert c.position(tp) == 0
        c.poll(timeout_ms=0)  # the long-poll fetch is now parked at the leader
        wait_until(lambda: broker.received["Fetch"] >= 1, what="a parked fetch")
        producer_thread = threading.Thread(target=produce, args=(broker.bootstrap, "one", [b"new"]))
        started = time.monotonic()
        producer_thread.start()
        records = c.poll(timeout_ms=10_000)
        producer_thread.join(10)
        assert [r.value for r in records] == [b"new"]
        assert time.monotonic() - started < 5


def test_consumer_follows_a_moved_leader(broker):
    produce(broker.bootstrap, "one", [b"a"])
    tp = TopicPartition("one", 0)
    with Consumer(broker.bootstrap, auto_offset_reset="earliest", fetch_max_wait_ms=50,
                  retry_backoff_ms=10) as c:
        c.assign([tp])
        records = []
        wait_until(lambda: records.extend(c.poll(timeout_ms=100)) or records, what="first record")
        broker.move_leader("one", 0)
        produce(broker.bootstrap, "one", [b"b"])
        wait_until(lambda: records.extend(c.poll(timeout_ms=100)) or len(records) >= 2, what="record after move")
        assert [r.value for r in records] == [b"a", b"b"]


def test_iteration_blocks_and_stops_on_close_from_another_thread(broker):
    produce(broker.bootstrap, "one", [b"%d" % i for i in range(5)])
    consumer = Consumer(broker.bootstrap, auto_offset_reset="earliest")
    consumer.assign([TopicPartition("one", 0)])
    seen = []
    done = threading.Event()

    def iterate():
        for record in consumer:
            seen.append(record.value)
        done.set()

    thread = threading.Thread(target=iterate)
    thread.start()
    wait_until(lambda: len(seen) == 5, what="iterated records")
    assert not done.is_set()  # still blocked waiting for more
    consumer.close()
    assert done.wait(10)
    thread.join(10)
    assert seen == [b"%d" % i for i in range(5)]
    with pytest.raises(ClientClosed):
        consumer.poll()


def test_fetches_to_several_partitions_are_in_flight_at_once(broker):
    tps = [TopicPartition("t", p) for p in range(3)]
    with Consumer(broker.bootstrap, auto_offset_reset="earliest", fetch_max_wait_ms=10_000) as c:
        c.assign(tps)
        for tp in tps:
            c.position(tp)
        c.poll(timeout_ms=0)
        wait_until(lambda: broker.received["Fetch"] == 3, what="three parked fetches")
        assert c._pool.pending_count() == 3  # one long poll per partition, all waiting together


# -- admin ----------------------------------------------------------------------------------------------------


def test_admin_topic_lifecycle(broker):
    with Admin(broker.bootstrap) as admin:
        admin.create_topic("orders", partitions=2, configs={"retention.ms": 60000})
        admin.create_topic("__internal")
        assert admin.list_topics() == ["one", "orders", "t"]
        assert "__internal" in admin.list_topics(include_internal=True)
        with pytest.raises(errors.TopicAlreadyExists):
            admin.create_topic("orders")
        admin.create_partitions("orders", 3)
        with pytest.raises(errors.InvalidPartitions):
            admin.create_partitions("orders", 2)
        admin.delete_topic("orders")
        assert "orders" not in admin.list_topics()
        with pytest.raises(errors.UnknownTopicOrPartition):
            admin.describe_topic("orders")


def test_admin_describe_topic_asks_each_leader_for_its_offsets(broker):
    produce(broker.bootstrap, "t", [b"x"] * 3, partition=2)
    with Admin(broker.bootstrap) as admin:
        desc = admin.describe_topic("t")
    assert desc.name == "t"
    assert [(p.partition, p.leader, p.replicas, p.isr, p.log_start_offset, p.log_end_offset)
            for p in desc.partitions] == [(0, 0, [0], [0], 0, 0), (1, 0, [0], [0], 0, 0), (2, 0, [0], [0], 0, 3)]


def test_admin_configs(broker):
    with Admin(broker.bootstrap) as admin:
        admin.alter_topic_configs("one", {"retention.ms": 1234, "retention.bytes": "99"})
        configs = admin.describe_topic_configs("one")
        assert configs["retention.ms"] == "1234" and configs["retention.bytes"] == "99"
        assert admin.describe_topic_config_overrides("one") == ["retention.bytes", "retention.ms"]
        admin.alter_topic_configs("one", {"retention.bytes": None})  # back to the default
        assert admin.describe_topic_config_overrides("one") == ["retention.ms"]
        with pytest.raises(errors.InvalidConfig, match="retention.mss"):
            admin.alter_topic_configs("one", {"retention.mss": 1})


def test_admin_describe_cluster(broker):
    with Admin(broker.bootstrap) as admin:
        cluster = admin.describe_cluster()
    assert cluster.cluster_id == "fake-cluster"
    assert cluster.controller == broker.bootstrap
    assert [b.id for b in cluster.brokers] == [0]


def test_admin_retries_not_controller_and_timeouts(broker):
    broker.fail_next(CreateTopic, errors.NotController, times=2)
    broker.fail_next(DescribeConfigs, None)  # swallowed once: the call times out and is retried
    with Admin(broker.bootstrap, request_timeout_ms=300, retry_backoff_ms=10) as admin:
        admin.create_topic("retried")
        assert "retried" in admin.list_topics()
        assert admin.describe_topic_configs("retried")["cleanup.policy"] == "delete"
    assert broker.received["CreateTopic"] == 3
    assert broker.received["DescribeConfigs"] == 2


def test_admin_gives_up_after_its_timeout(broker):
    broker.fail_next(CreateTopic, errors.NotController, times=10_000)
    with Admin(broker.bootstrap, retry_backoff_ms=10, timeout_ms=300) as admin:
        with pytest.raises(errors.NotController, match="did not complete"):
            admin.create_topic("never")


def test_admin_that_times_out_after_an_answer_reports_the_answer_not_the_silence(broker):
    broker.fail_next(CreateTopic, errors.NotController, times=1)
    broker.fail_next(CreateTopic, None, times=10_000)  # then no reply at all
    with Admin(broker.bootstrap, retry_backoff_ms=10, timeout_ms=300) as admin:
        with pytest.raises(errors.NotController, match="did not complete.*then: no reply"):
            admin.create_topic("never")


def test_admin_group_calls_against_a_cluster_without_coordinators(broker):
    with Admin(broker.bootstrap, timeout_ms=500) as admin:
        assert admin.list_groups() == []  # no broker names a coordinator: no group anywhere
        with pytest.raises(errors.ZafkaError):
            admin.describe_group("billing")  # nobody answers FindCoordinator


# -- resources and backpressure ---------------------------------------------------------------------------------


def test_a_producer_dropped_without_close_delivers_and_stops_its_thread(broker):
    import gc

    producer = Producer(broker.bootstrap, linger_ms=0)
    future = producer.send("one", b"orphan")
    thread = producer._sender
    del producer
    gc.collect()
    assert future.result(10).offset == 0
    thread.join(10)
    assert not thread.is_alive()


def test_send_blocks_on_a_full_buffer_then_fails_with_a_typed_error(broker):
    broker.fail_next(Produce, None, times=1000)  # nothing is ever acknowledged
    with Producer(broker.bootstrap, buffer_memory=2000, max_block_ms=200, linger_ms=0,
                  request_timeout_ms=30_000) as producer:
        first = producer.send("one", b"x" * 1500)  # fits
        started = time.monotonic()
        second = producer.send("one", b"y" * 1500)  # does not: waits max_block_ms, then fails
        assert time.monotonic() - started >= 0.19
        with pytest.raises(errors.RequestTimedOut, match="buffer_memory"):
            second.result(0)
        assert not first.done()
        producer.close(timeout=0.2)
    with pytest.raises(ClientClosed):
        first.result(5)


def test_flush_inside_a_callback_is_refused_instead_of_deadlocking(broker):
    errors_seen = []

    def callback(metadata, exception):
        try:
            producer.flush()
        except RuntimeError as exc:
            errors_seen.append(exc)

    with Producer(broker.bootstrap) as producer:
        producer.send("one", b"x", callback=callback).result(10)
    assert errors_seen and "callback" in str(errors_seen[0])


def test_an_idle_poll_sleeps_instead_of_spinning(broker):
    broker.fail_next(Fetch, errors.NotLeader)  # leaves a past backoff deadline behind
    tp = TopicPartition("one", 0)
    with Consumer(broker.bootstrap, auto_offset_reset="earliest", fetch_max_wait_ms=100,
                  retry_backoff_ms=10) as c:
        c.assign([tp])
        c.poll(timeout_ms=300)
        cpu = time.process_time()
        assert c.poll(timeout_ms=1000) == []
        assert time.process_time() - cpu < 0.3  # a spinning poll burns the whole second
    with Consumer(broker.bootstrap) as idle:
        cpu = time.process_time()
        assert idle.poll(timeout_ms=500) == []  # nothing assigned at all
        assert time.process_time() - cpu < 0.15
