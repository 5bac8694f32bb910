"""The idempotent producer on real clusters: lost acknowledgements retried are stored once, a new leader
dedupes what its predecessor stored, and producer ids are never handed out twice."""

from __future__ import annotations

import os
import signal

from storage import build_batch
from wire import Admin, Producer, errors
from wire.produce import InitProducerId, Produce
from wire.transport import Connection

from . import rawclient as rc
from .conftest import wait_for
from .test_replication import FAST_LEADERS, _create, _partition, _wait_partition


def _stored(cluster, topic: str) -> list[bytes]:
    return [v for _, v in rc.read_partition(cluster.bootstrap, topic, 0)]


def test_acks_lost_while_a_follower_is_frozen_are_retried_and_the_batch_is_stored_once(make_cluster):
    """acks=all waits on a frozen follower, so each attempt times out at the client after the leader wrote
    it: the retries are duplicates. Idempotent, they are answered with the first offset once the follower
    resumes; without idempotence the same retries store the record again (the control topic)."""
    cluster = make_cluster(config={**FAST_LEADERS, "replica.lag.time.max.ms": "30000"})
    results = {}
    for topic, idempotent in (("once", True), ("twice", False)):
        _create(cluster, topic, rf=2, min_isr=2)
        part = _partition(cluster, topic)
        follower = [b for b in part.replicas if b != part.leader][0]
        pid = cluster.kill(f"fetcher-{topic}-0-{follower}", signal.SIGSTOP)
        with Producer(cluster.bootstrap_servers, acks="all", enable_idempotence=idempotent, linger_ms=0,
                      request_timeout_ms=300, retry_backoff_ms=50, delivery_timeout_ms=30_000) as producer:
            future = producer.send(topic, b"payment-42", partition=0)
            try:
                # the leader holds the record, and the producer has sent it again after a lost answer
                wait_for(lambda: _leader_end(cluster, topic) >= 1 and _attempts(producer) >= 3 or None,
                         timeout=15, what="retries after lost acks")
            finally:
                os.kill(pid, signal.SIGCONT)
            results[topic] = future.result(timeout=20).offset
    assert results["once"] == 0 and _stored(cluster, "once") == [b"payment-42"]
    assert len(_stored(cluster, "twice")) >= 2  # the lost acknowledgement did store the retry again


def _attempts(producer) -> int:
    """How often the producer has sent its one batch so far (its sender's own count)."""
    sender = producer._sender
    batches = [b for flight in list(sender.in_flight.values()) for b in flight.batches]
    batches += [b for tp in sender.acc.partitions() for b in sender.acc.queued(tp)]
    return max((b.attempts for b in batches), default=0)


def _leader_end(cluster, topic: str) -> int:
    with Admin(bootstrap=cluster.bootstrap) as admin:
        return admin.describe_topic(topic).partitions[0].log_end_offset


def test_a_new_leader_answers_a_batch_its_predecessor_stored_with_the_stored_offset(make_cluster):
    cluster = make_cluster(config=FAST_LEADERS)
    _create(cluster, "dedupe")
    with Connection(cluster.bootstrap) as conn:
        identity, _ = conn.call(InitProducerId(), timeout_ms=5000)
    batch = build_batch([b"a", b"b", b"c"], producer_id=identity.producer_id, producer_epoch=identity.producer_epoch,
                        base_sequence=0)
    before = _partition(cluster, "dedupe")
    with Connection(before.leader_endpoint) as conn:
        first, _ = conn.call(Produce(topic="dedupe", partition=0, acks=-1), [batch], timeout_ms=5000)
    assert first.base_offset == 0
    cluster.kill(f"leader-dedupe-0")
    after = _wait_partition(cluster, "dedupe", lambda p: p.leader != before.leader, "a new leader")

    def send(request_batch):
        try:
            with Connection(_partition(cluster, "dedupe").leader_endpoint) as conn:
                return conn.call(Produce(topic="dedupe", partition=0, acks=-1), [request_batch], timeout_ms=3000)[0]
        except (errors.NotLeader, errors.LeaderNotAvailable, errors.NotEnoughReplicas, errors.RequestTimedOut):
            return None

    again = wait_for(lambda: send(batch), what="the retry answered by the new leader")
    assert again.base_offset == 0 and after.leader_epoch > before.leader_epoch  # its stored place, not a new one
    gap = build_batch([b"z"], producer_id=identity.producer_id, producer_epoch=identity.producer_epoch,
                      base_sequence=7)
    with Connection(_partition(cluster, "dedupe").leader_endpoint) as conn:
        try:
            conn.call(Produce(topic="dedupe", partition=0, acks=-1), [gap], timeout_ms=3000)
            raise AssertionError("a batch after a sequence gap was accepted")
        except errors.OutOfOrderSequenceNumber as exc:
            assert "does not follow 2" in str(exc)
    nxt = build_batch([b"d"], producer_id=identity.producer_id, producer_epoch=identity.producer_epoch,
                      base_sequence=3)
    assert wait_for(lambda: send(nxt), what="the next batch").base_offset == 3
    assert _stored(cluster, "dedupe") == [b"a", b"b", b"c", b"d"]


def test_producer_ids_are_unique_across_brokers_and_a_controller_restart(make_cluster):
    cluster = make_cluster()
    ids = []
    for endpoint in cluster.broker_endpoints.values():
        with Connection(endpoint) as conn:
            for _ in range(3):
                ids.append(conn.call(InitProducerId(), timeout_ms=5000)[0].producer_id)
    assert len(set(ids)) == len(ids)
    cluster.kill("controller")
    cluster.kill("broker-1")  # its block is gone with it: it asks the restarted controller for a new one

    def new_id():
        try:
            with Connection(cluster.broker_endpoints[1]) as conn:
                return conn.call(InitProducerId(), timeout_ms=2000)[0].producer_id
        except (errors.RequestTimedOut, errors.CoordinatorNotAvailable, errors.BrokerNotAvailable):
            return None

    later = wait_for(new_id, timeout=30, what="a producer id from the restarted broker")
    assert later > max(ids)
    with Connection(cluster.bootstrap) as conn:
        try:
            conn.call(InitProducerId(transactional_id="tx-1"), timeout_ms=5000)
            raise AssertionError("a transactional id was accepted")
        except errors.InvalidRequest as exc:
            assert "not built yet" in str(exc)


def test_describe_producers_shows_what_each_leader_dedupes_against(make_cluster, tmp_path):
    from .test_cli import ok, one_line_error, zafka

    data_dir = tmp_path / "cluster"
    cluster = make_cluster(brokers=1, data_dir=data_dir)
    with Admin(bootstrap=cluster.bootstrap) as admin:
        admin.create_topic("seen", partitions=2)
        admin.create_topic("plain")
    # `zafka produce` is idempotent (acks all by default): 5 records to partition 1
    ok(zafka(data_dir, "produce", "seen", "--partition", "1", stdin="".join(f"r{i}\n" for i in range(5))))
    ok(zafka(data_dir, "produce", "plain", "--acks", "1", stdin="x\n"))
    with Admin(bootstrap=cluster.bootstrap) as admin:
        states = admin.describe_producers("seen")
        assert states[0] == [] and len(states[1]) == 1
        (state,) = states[1]
        assert (state.producer_epoch, state.last_sequence, state.last_offset) == (0, 4, 4)
        assert state.producer_id >= 0 and state.last_timestamp > 0
        assert admin.describe_producers("plain") == {0: []}  # acks=1: not idempotent, nothing remembered
        try:
            admin.describe_producers("seen", [7])
            raise AssertionError("a partition the topic lacks was described")
        except errors.UnknownTopicOrPartition as exc:
            assert "not [7]" in str(exc)
    lines = ok(zafka(data_dir, "producers", "describe", "--topic", "seen")).splitlines()
    assert lines[0].split() == ["PARTITION", "PRODUCER-ID", "EPOCH", "LAST-SEQUENCE", "LAST-OFFSET", "LAST-WRITE"]
    assert lines[1].split()[:5] == ["1", str(state.producer_id), "0", "4", "4"]
    only = ok(zafka(data_dir, "producers", "describe", "--topic", "seen", "--partition", "1")).splitlines()
    assert len(only) == 2 and only[1].split()[0] == "1"
    result = zafka(data_dir, "producers", "describe", "--topic", "seen", "--partition", "0")
    assert "no idempotent producer has written to seen-0" in ok(result) + result.stderr
    result = zafka(data_dir, "producers", "describe", "--topic", "plain")
    assert "no idempotent producer has written to plain" in ok(result) + result.stderr
    assert "does not exist" in one_line_error(zafka(data_dir, "producers", "describe", "--topic", "nope"))
