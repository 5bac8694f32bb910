"""The idempotent producer against the fake broker: a lost acknowledgement retried is stored once, the
config follows Kafka's rules, and a broken sequence starts over under a new producer id."""

from __future__ import annotations

import pytest

from tests.fake_broker import FakeBroker
from wire import Producer, errors
from wire.client.errors import ClientConfigError
from wire.produce import InitProducerId, Produce


@pytest.fixture
def broker(tmp_path):
    with FakeBroker(tmp_path / "data", {"t": 1, "two": 2}) as fb:
        yield fb


def values(broker, topic="t", partition=0):
    return [r[2] for r in broker.read_all(topic, partition)]


def test_a_retried_batch_whose_first_attempt_was_stored_is_stored_once_at_its_first_offset(broker):
    broker.drop_replies(Produce, times=2)  # written, the answers lost: the producer retries twice
    with Producer(broker.bootstrap, acks="all", request_timeout_ms=300, delivery_timeout_ms=20_000,
                  linger_ms=0, retry_backoff_ms=10) as producer:
        assert producer.enable_idempotence  # acks=all: on, as Kafka's default
        first = producer.send("t", b"a").result(10)
        second = producer.send("t", b"b").result(10)
    assert values(broker) == [b"a", b"b"]
    assert (first.offset, second.offset) == (0, 1)
    assert broker.received["Produce"] == 4 and broker.received["InitProducerId"] == 1


def test_without_idempotence_the_same_lost_answer_stores_the_batch_twice(broker):
    broker.drop_replies(Produce, times=1)
    with Producer(broker.bootstrap, acks="all", enable_idempotence=False, request_timeout_ms=300,
                  delivery_timeout_ms=20_000, linger_ms=0, retry_backoff_ms=10) as producer:
        producer.send("t", b"a").result(10)
    assert values(broker) == [b"a", b"a"]  # what idempotence prevents
    assert broker.received["InitProducerId"] == 0


def test_a_retry_of_several_batches_with_new_ones_answers_each_where_it_landed(broker):
    broker.drop_replies(Produce, times=1)
    with Producer(broker.bootstrap, acks="all", request_timeout_ms=300, delivery_timeout_ms=20_000,
                  linger_ms=50, batch_size=200, retry_backoff_ms=10) as producer:
        futures = [producer.send("t", b"%03d" % i + b"x" * 60) for i in range(12)]
        offsets = [f.result(10).offset for f in futures]
    assert offsets == list(range(12))
    assert [v[:3] for v in values(broker)] == [b"%03d" % i for i in range(12)]


def test_the_config_follows_kafkas_idempotence_rules(broker):
    with pytest.raises(ClientConfigError, match="acks must be 'all'"):
        Producer(broker.bootstrap, acks=1, enable_idempotence=True)
    with pytest.raises(ClientConfigError, match="retries must be above 0"):
        Producer(broker.bootstrap, acks="all", retries=0, enable_idempotence=True)
    with pytest.raises(ClientConfigError, match="max_in_flight must be at most 5"):
        Producer(broker.bootstrap, acks="all", max_in_flight=6, enable_idempotence=True)
    with pytest.raises(ClientConfigError, match="enable_idempotence"):
        Producer(broker.bootstrap, acks="all", enable_idempotence="yes")
    with Producer(broker.bootstrap) as default, Producer(broker.bootstrap, acks="all", retries=0) as quiet:
        assert not default.enable_idempotence  # zafka's default acks=1 turns it off, as Kafka's rule does
        assert not quiet.enable_idempotence  # a conflicting setting turns it off when it was not asked for
        default.send("t", b"x").result(10)
    assert broker.received["InitProducerId"] == 0


def test_records_wait_for_the_producer_id_through_failed_attempts(broker):
    broker.fail_next(InitProducerId, errors.CoordinatorNotAvailable, times=3)
    with Producer(broker.bootstrap, acks="all", linger_ms=0, retry_backoff_ms=10) as producer:
        assert producer.send("t", b"a").result(10).offset == 0
    assert broker.received["InitProducerId"] == 4


def test_records_that_never_get_a_producer_id_fail_with_the_reason(broker):
    broker.fail_next(InitProducerId, errors.CoordinatorNotAvailable, times=10_000)
    with Producer(broker.bootstrap, acks="all", linger_ms=0, retry_backoff_ms=10, request_timeout_ms=200,
                  delivery_timeout_ms=3000) as producer:
        with pytest.raises(errors.CoordinatorNotAvailable, match="expired"):
            producer.send("t", b"a").result(10)
    assert values(broker) == []


def test_a_numbered_batch_that_expires_breaks_the_sequence_and_the_next_records_go_under_a_new_id(broker):
    broker.fail_next(Produce, None, times=10_000)  # swallowed, never written
    with Producer(broker.bootstrap, acks="all", linger_ms=0, retry_backoff_ms=10, request_timeout_ms=200,
                  delivery_timeout_ms=700) as producer:
        lost = producer.send("t", b"lost")
        with pytest.raises(errors.RequestTimedOut):
            lost.result(10)
        broker.faults.clear()
        # under the old id this batch's sequence would leave a gap: a new id starts at sequence 0
        assert producer.send("t", b"after").result(10).offset == 0
    assert values(broker) == [b"after"]
    assert broker.received["InitProducerId"] == 2


def test_batches_to_several_partitions_each_keep_their_own_sequence(broker):
    with Producer(broker.bootstrap, acks="all", linger_ms=0) as producer:
        for i in range(20):
            producer.send("two", b"%d" % i, partition=i % 2)
        producer.flush()
        batches = [b for p in (0, 1) for b in broker.batches("two", p)]
    ids = {b.producer_id for b in batches}
    assert len(ids) == 1 and ids != {-1}
    for p in (0, 1):
        seqs = [(b.base_sequence, b.record_count) for b in broker.batches("two", p)]
        expected = 0
        for seq, count in seqs:
            assert seq == expected
            expected += count
        assert expected == 10
