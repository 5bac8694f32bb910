"""cleanup.policy=compact on a real cluster: every replica compacts its own log, followers replicate compacted
data, a keyless record is refused, and a follower killed mid-run comes back consistent.

The model is a dict: the latest value of every key, a key whose latest record is a
tombstone gone once ``delete.retention.ms`` has passed; every record read back
must be the one produced at that offset (offsets never change).
"""

from __future__ import annotations

import glob
import os

import pytest

from storage import iter_batches
from wire import control, errors
from wire.fetch import EARLIEST, Fetch, ListOffsets
from wire.transport import Connection

from . import rawclient as rc
from .conftest import wait_for

TOPIC = "compacted"
KEYS = 12
ROUNDS = 60
PER_BATCH = 4
TOMBSTONED = {b"key-0", b"key-5"}
CLUSTER = {"log.cleaner.backoff.ms": "100",  # log.retention.check.interval.ms stays 300 s: not what compacts
           "replica.lag.time.max.ms": "3000"}
TOPIC_CONFIGS = {"cleanup.policy": "compact", "segment.bytes": "2048", "segment.ms": "200",
                 "min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "300", "min.insync.replicas": "2"}


def _records_read_back(endpoint: str) -> list[tuple[int, bytes | None, bytes | None]]:
    """Every record below the high watermark, read as a consumer does: each fetch resumes at the last batch's
    next offset, so it crosses compacted-away offsets and batches left empty."""
    out = []
    with Connection(endpoint) as conn:
        earliest, _ = conn.call(ListOffsets(topic=TOPIC, partition=0, timestamp=EARLIEST), timeout_ms=2000)
        offset = earliest.offset
        while True:
            response, frames = conn.call(Fetch(topic=TOPIC, partition=0, offset=offset, max_wait_ms=0,
                                               max_bytes=700), timeout_ms=2000)
            batches = list(iter_batches(frames[0].buffer, validate=True)) if frames else []
            out += [(r.offset, r.key, r.value) for b in batches for r in b.records() if r.offset >= offset]
            if not batches or batches[-1].next_offset >= response.high_watermark:
                return out
            offset = batches[-1].next_offset


def _records_on_disk(directory: str) -> tuple[list[tuple[int, bytes | None, bytes | None]], int]:
    """A replica's records and the bytes of its segment files, read from disk (followers serve no clients)."""
    out, size = [], 0
    for path in sorted(glob.glob(os.path.join(directory, "*.log"))):
        with open(path, "rb") as f:
            data = f.read()
        size += len(data)
        out += [(r.offset, r.key, r.value) for b in iter_batches(data, validate=True) for r in b.records()]
    return out, size


def _partition(cluster):
    return rc.metadata(cluster.bootstrap, [TOPIC]).topics[0].partitions[0]


def _status(endpoint: str) -> control.ReplicaStatusResponse:
    with Connection(endpoint) as conn:
        response, _ = conn.call(control.ReplicaStatus(), timeout_ms=2000)
    return response


class Model:
    """What was produced, by offset, and the latest value per workload key."""

    def __init__(self):
        self.produced: dict[int, tuple[bytes, bytes | None]] = {}
        self.records: set[tuple[bytes, bytes | None]] = set()
        self.latest: dict[bytes, bytes | None] = {}
        self.fillers = 0

    def produce(self, bootstrap: str, records: list[tuple[bytes, bytes | None]], acks: int) -> None:
        base = rc.produce(bootstrap, TOPIC, 0, records, acks=acks)
        for i, (key, value) in enumerate(records):
            self.produced[base + i] = (key, value)
            self.records.add((key, value))
            if key.startswith(b"key-"):
                self.latest[key] = value

    def filler(self, bootstrap: str) -> None:
        """Later data under a key of its own, so the segments before it close and get compacted."""
        self.fillers += 1
        self.produce(bootstrap, [(b"filler", b"%d" % self.fillers)], acks=1)

    def check(self, recs, where: str) -> None:
        """``recs`` hold the latest record of every workload key and nothing else of them, at their offsets."""
        offsets = [o for o, _, _ in recs]
        assert offsets == sorted(set(offsets)), f"{where}: offsets out of order or repeated"
        for offset, key, value in recs:
            if key == b"filler":
                assert value.isdigit(), (where, offset)
            elif offset in self.produced:
                assert self.produced[offset] == (key, value), f"{where}: offset {offset} holds {key}={value}"
            else:  # a batch resent after its answer was lost (a leader change) is stored twice
                assert (key, value) in self.records, f"{where}: offset {offset} holds {key}={value}"
        workload = [(k, v) for _, k, v in recs if k.startswith(b"key-")]
        alive = {k: v for k, v in self.latest.items() if v is not None}
        assert dict(workload) == alive, f"{where}: {sorted(dict(workload))} != {sorted(alive)}"
        assert len(workload) == len(alive), f"{where}: superseded records or tombstones remain"


def test_compacted_topic_replicas_compact_independently_refuse_keyless_records_and_survive_a_follower_kill(
        make_cluster):
    cluster = make_cluster(brokers=3, config=CLUSTER)
    rc.create_topic(cluster.bootstrap, TOPIC, rf=3, configs=TOPIC_CONFIGS)
    part = wait_for(lambda: (lambda p: p if len(p.isr) == 3 else None)(_partition(cluster)),
                    what="all three replicas in sync")
    dirs = {b: os.path.join(cluster.broker_log_dirs(b)[0], f"{TOPIC}-0") for b in part.replicas}
    model = Model()
    produced_bytes = 0

    def workload(rounds: range, acks: int) -> None:
        nonlocal produced_bytes
        for r in rounds:
            records = []
            for i in range(PER_BATCH):
                key = b"key-%d" % ((r * PER_BATCH + i) % KEYS)
                tombstone = key in TOMBSTONED and r >= ROUNDS - 6
                records.append((key, None if tombstone else (b"value-%d-of-%s" % (r, key)).ljust(60, b".")))
            model.produce(cluster.bootstrap, records, acks=acks)
            produced_bytes += 61 + sum(len(k) + len(v or b"") + 8 for k, v in records)

    # first half with every replica in sync; a follower that has compacted is killed (SIGKILL, perhaps
    # mid-pass), and the supervisor restarts it while the second half is produced
    workload(range(ROUNDS // 2), acks=-1)

    def kill_a_compacted_follower():
        model.filler(cluster.bootstrap)
        current = _partition(cluster)
        for broker in current.replicas:
            if broker != current.leader and os.path.exists(os.path.join(dirs[broker], "cleaner-offset-checkpoint")):
                cluster.kill(f"fetcher-{TOPIC}-0-{broker}")  # a KeyError (renamed meanwhile) is retried
                return broker
        return None

    victim = wait_for(kill_a_compacted_follower, interval=0.1, what="a follower that compacted, to kill")
    workload(range(ROUNDS // 2, ROUNDS), acks=1)

    # a record without a key is refused, and nothing is appended
    endpoint = rc.leaders(cluster.bootstrap, TOPIC)[0]
    end = _status(endpoint).log_end_offset
    with pytest.raises(errors.InvalidRecord, match="Compacted topic cannot accept message without key"):
        rc.produce(cluster.bootstrap, TOPIC, 0, [(b"key-1", b"fine"), (None, b"no key")])
    assert _status(endpoint).log_end_offset == end

    def compacted_everywhere():
        model.filler(cluster.bootstrap)  # time and data move on: segments roll, passes run, horizons pass
        model.check(_records_read_back(rc.leaders(cluster.bootstrap, TOPIC)[0]), "the leader's read-back")
        for broker, directory in dirs.items():  # the leader's files and each follower's, compacted by itself
            recs, size = _records_on_disk(directory)
            model.check(recs, f"broker {broker}")
            assert size < produced_bytes / 3, f"broker {broker}: {size} bytes of {produced_bytes} produced"
        return True

    wait_for(compacted_everywhere, timeout=25, interval=0.1, what="every replica compacted to the model")
    (restarted,) = [a for a in cluster.actors(memory=False) if a.broker == victim and TOPIC in a.name]
    assert restarted.restarts == 1 and restarted.alive
    assert _status(restarted.endpoint).role in ("follower", "leader")
