"""Compaction wired into topics: config keys to behaviour, the replica's cleaning decision, the leader's
key rule, followers replicating compacted data, and passes done in bounded steps.

The expected outcomes are Kafka's rules, written out here: ``delete`` deletes by
retention and never compacts, ``compact`` compacts and never deletes, both do both;
``log.cleaner.enable=false`` compacts nothing; a compacted topic refuses a record
without a key and appends nothing.
"""

from __future__ import annotations

import logging
import os
import time
from types import SimpleNamespace

import pytest

from actors.config import BrokerConfig
from actors.replica import PartitionReplica
from storage import CorruptRecordError, InvalidRecordError, Log, LogConfig, Record, build_batch, iter_batches
from storage.compaction import (
    CompactionConfig,
    CompactionPass,
    cleanup_actions,
    compact,
    compaction_config,
    read_checkpoint,
)
from wire import control

T0 = 1_700_000_000_000
DAY = 86_400_000
SMALL = {"segment.bytes": "400", "index.interval.bytes": "64"}


# -- helpers ------------------------------------------------------------------------
def broker(**props) -> BrokerConfig:
    return BrokerConfig.from_properties({k.replace("_", "."): v for k, v in props.items()})[0]


def keyed(key: str, value: str | None, ts: int = 0) -> Record:
    return Record(key.encode(), None if value is None else value.encode(), [], T0 + ts)


def fill(log: Log, rounds: int = 6, keys: int = 3, ts: int = 0) -> dict[bytes, bytes | None]:
    """``rounds`` updates of each of ``keys`` keys, one batch per round; the latest value per key."""
    latest = {}
    for r in range(rounds):
        records = [keyed(f"k{k}", f"v{r}-{k}", ts) for k in range(keys)]
        log.append(build_batch(records), leader_epoch=0)
        latest.update((rec.key, rec.value) for rec in records)
    log.roll()
    log.append(build_batch([keyed("tail", "x", ts)]), leader_epoch=0)  # alone in the active segment: never cleaned
    latest[b"tail"] = b"x"
    log.update_high_watermark(log.log_end_offset)
    return latest


def records(log: Log) -> list[tuple[int, bytes | None, bytes | None]]:
    """Every record, read forward as a consumer does (each fetch resumes at the batch's next offset)."""
    out, offset = [], log.log_start_offset
    while offset < log.log_end_offset:
        batches = list(iter_batches(log.read(offset, 1 << 16), validate=True))
        assert batches, f"no progress at offset {offset}"
        out += [(r.offset, r.key, r.value) for b in batches for r in b.records() if r.offset >= offset]
        offset = batches[-1].next_offset
    return out


def latest_per_key(recs) -> dict:
    out = {}
    for _, key, value in recs:
        out[key] = value
    return out


def bare_replica(log: Log, cfg: BrokerConfig, configs: dict[str, str]) -> PartitionReplica:
    """A PartitionReplica around ``log`` without its process, sockets or controller: its cleaning code only."""
    replica = PartitionReplica.__new__(PartitionReplica)
    replica.spec = SimpleNamespace(config=cfg)
    replica.log = logging.getLogger("test.replica")
    replica.topic, replica.partition = "t", 0
    replica.configs, replica.log_ = {}, log
    replica.cleaning, replica.next_cleaning_step, replica.said_not_compacted = None, 0.0, False
    replica._set_configs(configs)
    return replica


def clean(replica: PartitionReplica, **request) -> control.RetentionResponse:
    """ApplyRetention as the RetentionCleaner sends it, then the replica's ticks until its pass is over."""
    response = replica.apply_retention(control.ApplyRetention(configs=replica.configs, **request), (), b"")
    while replica.cleaning is not None:
        replica._cleaning_step()
    return response


# -- the decision -------------------------------------------------------------------
@pytest.mark.parametrize(("policy", "enabled", "expected"), [
    ("delete", True, (False, True)),
    ("compact", True, (True, False)),
    ("compact,delete", True, (True, True)),
    ("delete,compact", True, (True, True)),
    ("compact", False, (False, False)),
    ("compact,delete", False, (False, True)),
    (("compact",), True, (True, False)),
])
def test_cleanup_policy_decides_compact_and_or_delete_and_the_cleaner_switch_only_stops_compaction(
        policy, enabled, expected):
    assert tuple(cleanup_actions(policy, enabled)) == expected


def test_a_replica_of_a_delete_topic_applies_retention_and_never_compacts(tmp_path):
    with Log(tmp_path / "t-0") as log:
        replica = bare_replica(log, broker(), {**SMALL, "cleanup.policy": "delete", "retention.ms": str(DAY)})
        fill(log)  # records from 2023: long past retention.ms
        segments = len(log.segments)
        response = clean(replica)
        assert response.deleted_segments >= segments - 1 and not response.compacting
        assert read_checkpoint(log.directory) is None  # no pass ever ran


def test_a_replica_of_a_compact_topic_compacts_and_never_deletes_by_retention(tmp_path):
    with Log(tmp_path / "t-0") as log:
        replica = bare_replica(log, broker(), {**SMALL, "cleanup.policy": "compact", "retention.ms": str(DAY),
                                                 "min.cleanable.dirty.ratio": "0.01"})
        latest = fill(log)
        before = len(records(log))
        response = clean(replica)
        assert response.deleted_segments == 0 and response.compacting
        kept = records(log)
        assert log.log_start_offset == 0 and len(kept) < before
        assert latest_per_key(kept) == latest
        assert len({k for _, k, _ in kept}) == len(kept)  # one record per key: all closed segments were cleaned


def test_a_replica_of_a_compact_delete_topic_does_both(tmp_path):
    with Log(tmp_path / "t-0") as log:
        replica = bare_replica(log, broker(), {**SMALL, "cleanup.policy": "compact,delete",
                                                 "min.cleanable.dirty.ratio": "0.01", "retention.ms": "-1"})
        latest = fill(log)
        assert clean(replica).compacting
        assert latest_per_key(records(log)) == latest and len(records(log)) == len(latest)
        replica._set_configs({**replica.configs, "retention.ms": str(DAY)})
        assert clean(replica).deleted_segments > 0  # the same log, now past retention


def test_with_log_cleaner_enable_false_a_compact_topic_is_not_compacted(tmp_path, caplog):
    with Log(tmp_path / "t-0") as log:
        with caplog.at_level(logging.WARNING):
            replica = bare_replica(log, broker(log_cleaner_enable="false"),
                                   {**SMALL, "cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0"})
        assert "log.cleaner.enable=false" in caplog.text
        fill(log)
        before = records(log)
        response = clean(replica)
        assert (response.deleted_segments, response.compacting) == (0, False)
        assert records(log) == before


def test_the_cleaners_two_clocks_ask_for_retention_or_compaction_alone(tmp_path):
    with Log(tmp_path / "t-0") as log:
        replica = bare_replica(log, broker(), {**SMALL, "cleanup.policy": "compact,delete",
                                                 "min.cleanable.dirty.ratio": "0", "retention.ms": str(DAY)})
        fill(log)
        segments = len(log.segments)
        response = clean(replica, retention=False, compaction=False)
        assert (response.deleted_segments, response.compacting, len(log.segments)) == (0, False, segments)
        assert clean(replica, retention=False).compacting and log.log_start_offset == 0
        assert clean(replica, compaction=False).deleted_segments > 0


def test_a_pass_in_progress_is_abandoned_when_the_policy_stops_compacting_or_the_log_is_truncated(tmp_path):
    with Log(tmp_path / "t-0") as log:
        replica = bare_replica(log, broker(), {**SMALL, "cleanup.policy": "compact",
                                                 "min.cleanable.dirty.ratio": "0"})
        fill(log, rounds=12)
        replica.apply_retention(control.ApplyRetention(configs=replica.configs), (), b"")
        assert replica.cleaning is not None
        replica._set_configs({**replica.configs, "cleanup.policy": "delete"})
        assert replica.cleaning is None and read_checkpoint(log.directory) is None
        replica._set_configs({**replica.configs, "cleanup.policy": "compact"})
        clean(replica)
        checkpoint = read_checkpoint(log.directory)
        assert checkpoint is not None and checkpoint > 0
        log.truncate_to(3)
        replica._truncated(3)
        assert read_checkpoint(log.directory) == 3  # Kafka's maybeTruncateCheckpoint


# -- the config keys, end to end ------------------------------------------------------
def test_compaction_keys_reach_the_pass_topic_over_broker_over_kafkas_defaults():
    cfg = broker(log_cleaner_delete_retention_ms="1000", log_cleaner_min_cleanable_ratio="0.25",
                 log_cleaner_min_compaction_lag_ms="7", log_cleaner_max_compaction_lag_ms="9000")
    assert compaction_config(cfg.log_config_for({})) == CompactionConfig(0.25, 7, 9000, 1000)
    topic = {"delete.retention.ms": "5", "min.cleanable.dirty.ratio": "0.75", "min.compaction.lag.ms": "1",
             "max.compaction.lag.ms": "2"}
    assert compaction_config(cfg.log_config_for(topic)) == CompactionConfig(0.75, 1, 2, 5)
    assert compaction_config(broker().log_config_for({})) == CompactionConfig(0.5, 0, 2**63 - 1, 86_400_000)


def _dirty_log(tmp_path, topic: dict, cfg: BrokerConfig | None = None, ts: int = 0):
    """A log whose closed segments were never cleaned (dirty ratio 1.0), configured by keys."""
    log = Log(tmp_path / "t-0", (cfg or broker()).log_config_for({**SMALL, "cleanup.policy": "compact", **topic}))
    fill(log, ts=ts)
    return log


@pytest.mark.parametrize("where", ["topic", "broker"])
def test_min_cleanable_dirty_ratio_decides_whether_a_pass_runs(tmp_path, where):
    def run(ratio: str) -> bool:
        if where == "topic":
            log = _dirty_log(tmp_path / ratio, {"min.cleanable.dirty.ratio": ratio})
        else:
            log = _dirty_log(tmp_path / ratio, {}, broker(log_cleaner_min_cleanable_ratio=ratio))
        with log:
            return compact(log, compaction_config(log.config), now_ms=T0 + DAY).cleaned
    assert run("0.5")  # a never-cleaned log is all dirty: 1.0 > 0.5
    assert not run("1")  # Kafka compares with ">": a ratio of 1 never cleans by ratio


@pytest.mark.parametrize("where", ["topic", "broker"])
def test_min_compaction_lag_ms_keeps_recent_records_uncompacted(tmp_path, where):
    key = {"topic": ("min.compaction.lag.ms", None), "broker": (None, "log_cleaner_min_compaction_lag_ms")}[where]
    for lag, cleaned in ((str(DAY), False), ("1000", True)):
        topic = {key[0]: lag} if key[0] else {}
        cfg = broker(**{key[1]: lag}) if key[1] else broker()
        with _dirty_log(tmp_path / lag, topic, cfg) as log:
            result = compact(log, compaction_config(log.config), now_ms=T0 + 60_000)  # records a minute old
            assert result.cleaned == cleaned, lag


@pytest.mark.parametrize("where", ["topic", "broker"])
def test_max_compaction_lag_ms_forces_a_pass_below_the_dirty_ratio(tmp_path, where):
    key = {"topic": ("max.compaction.lag.ms", None), "broker": (None, "log_cleaner_max_compaction_lag_ms")}[where]
    for lag, cleaned in ((str(DAY), False), ("1000", True)):
        topic = {"min.cleanable.dirty.ratio": "1", **({key[0]: lag} if key[0] else {})}
        cfg = broker(**{key[1]: lag}) if key[1] else broker()
        with _dirty_log(tmp_path / lag, topic, cfg) as log:
            assert compact(log, compaction_config(log.config), now_ms=T0 + 60_000).cleaned == cleaned, lag


@pytest.mark.parametrize("where", ["topic", "broker"])
def test_delete_retention_ms_is_how_long_a_cleaned_tombstone_stays(tmp_path, where):
    topic = {"min.cleanable.dirty.ratio": "0", **({"delete.retention.ms": "5000"} if where == "topic" else {})}
    cfg = broker(log_cleaner_delete_retention_ms="5000") if where == "broker" else broker()
    with Log(tmp_path / "t-0", cfg.log_config_for({**SMALL, "cleanup.policy": "compact", **topic})) as log:
        for r in range(4):
            log.append(build_batch([keyed("a", f"v{r}"), keyed("b", f"v{r}")]), leader_epoch=0)
        log.append(build_batch([keyed("a", None)]), leader_epoch=0)  # a tombstone
        for r in range(4):
            log.append(build_batch([keyed("b", f"w{r}")]), leader_epoch=0)
        log.append(build_batch([keyed("tail", "x")]), leader_epoch=0)
        log.update_high_watermark(log.log_end_offset)

        def tombstone_kept(now_ms: int) -> bool:
            compact(log, compaction_config(log.config), now_ms=now_ms)
            log.append(build_batch([keyed("b", str(now_ms))]), leader_epoch=0)  # dirty data: a next pass
            log.roll()
            log.update_high_watermark(log.log_end_offset)
            return (b"a", None) in [(k, v) for _, k, v in records(log)]

        assert tombstone_kept(T0)  # the first pass keeps it and stamps its horizon T0 + 5 s
        assert tombstone_kept(T0 + 4999)
        assert not tombstone_kept(T0 + 5000)
        assert b"a" not in latest_per_key(records(log))


# -- the leader's key rule -------------------------------------------------------------
@pytest.mark.parametrize("codec", ["none", "gzip"])
def test_a_compacted_topic_refuses_a_record_without_a_key_and_appends_nothing(tmp_path, codec):
    with Log(tmp_path / "t-0", broker().log_config_for({"cleanup.policy": "compact"})) as log:
        log.append(build_batch([keyed("a", "1")], codec), leader_epoch=0)
        end, size = log.log_end_offset, log.size_bytes
        good = build_batch([keyed("b", "2")], codec)
        keyless = build_batch([keyed("c", "3"), Record(None, b"no key", [], T0)], codec)
        for payload in (keyless, good + keyless):
            with pytest.raises(InvalidRecordError, match="Compacted topic cannot accept message without key in t-0"):
                log.append(payload, leader_epoch=0)
        assert (log.log_end_offset, log.size_bytes) == (end, size)
        log.append(good, leader_epoch=0)
        assert latest_per_key(records(log)) == {b"a": b"1", b"b": b"2"}


@pytest.mark.parametrize("policy", ["delete", "compact,delete"])
def test_only_compacted_topics_check_keys(tmp_path, policy):
    with Log(tmp_path / "t-0", broker().log_config_for({"cleanup.policy": policy})) as log:
        keyless = build_batch([b"no key"])
        if policy == "delete":
            assert log.append(keyless).record_count == 1
        else:
            with pytest.raises(InvalidRecordError):
                log.append(keyless)


# -- followers replicate compacted data ------------------------------------------------
def _compacted_leader(tmp_path) -> Log:
    leader = Log(tmp_path / "leader", broker().log_config_for({**SMALL, "cleanup.policy": "compact"}))
    for r in range(10):
        leader.append(build_batch([keyed(f"k{k}", f"v{r}-{k}") for k in range(3)]), leader_epoch=0)
    leader.append(build_batch([keyed("k1", None)]), leader_epoch=1)  # a tombstone: a gap in the last k-batch
    for r in range(6):
        leader.append(build_batch([keyed(f"m{r % 2}", f"w{r}")]), leader_epoch=1)
    leader.roll()
    leader.append(build_batch([keyed("tail", "x")]), leader_epoch=1)
    leader.update_high_watermark(leader.log_end_offset)
    assert compact(leader, CompactionConfig(min_cleanable_dirty_ratio=0), now_ms=T0).cleaned
    batches = list(iter_batches(b"".join(_read_forward(leader))))
    assert any(b.record_count == 0 for b in batches), "compaction left no empty batch to replicate"
    assert any(0 < b.record_count < b.last_offset_delta + 1 for b in batches), "no batch with a gap"
    return leader


def _read_forward(log: Log, max_bytes: int = 1 << 16) -> list[bytes]:
    chunks, offset = [], log.log_start_offset
    while offset < log.log_end_offset:
        data = log.read(offset, max_bytes)
        chunks.append(data)
        offset = list(iter_batches(data))[-1].next_offset
    return chunks


@pytest.mark.parametrize("max_bytes", [1, 150, 1 << 16])
def test_a_follower_replicates_a_compacted_log_with_gaps_and_empty_batches(tmp_path, max_bytes):
    with _compacted_leader(tmp_path) as leader, Log(tmp_path / "follower",
                                                    leader.config) as follower:
        offset = 0
        while offset < leader.log_end_offset:  # as the follower's fetch loop does: at its log end
            follower.append_as_follower(leader.read(offset, max_bytes))
            offset = follower.log_end_offset
        assert follower.log_end_offset == leader.log_end_offset
        assert records(follower) == records(leader)
        # the same epochs; an epoch may start later on the follower where compaction emptied its first batches
        leader_epochs, follower_epochs = leader.leader_epochs.entries(), follower.leader_epochs.entries()
        assert [e for e, _ in follower_epochs] == [e for e, _ in leader_epochs]
        assert all(f >= lead for (_, f), (_, lead) in zip(follower_epochs, leader_epochs))


def test_the_leader_path_still_refuses_what_only_a_follower_may_append(tmp_path):
    with _compacted_leader(tmp_path) as leader, Log(tmp_path / "other", leader.config) as other:
        data = b"".join(_read_forward(leader))
        with pytest.raises(InvalidRecordError):
            other.append(data, leader_epoch=0)  # gaps and empty batches are never producer input
        assert other.log_end_offset == 0
        corrupt = bytearray(data)
        corrupt[-1] ^= 0xFF
        with pytest.raises(CorruptRecordError):
            other.append_as_follower(bytes(corrupt))  # the follower path keeps the CRC check
        assert other.log_end_offset == 0


# -- bounded steps -------------------------------------------------------------------
def _two_logs(tmp_path):
    config = LogConfig(segment_bytes=2000, index_interval_bytes=256, cleanup_policy=("compact",))
    logs = [Log(tmp_path / name, config) for name in ("whole", "stepped")]
    for log in logs:
        for r in range(40):
            log.append(build_batch([keyed(f"k{(r * 5 + j) % 23}", f"v{r}-{j}" * 4) for j in range(5)]),
                       leader_epoch=0)
        log.append(build_batch([keyed("tail", "x")]), leader_epoch=0)
        log.update_high_watermark(log.log_end_offset)
    return logs


def test_a_pass_in_small_steps_ends_as_a_whole_pass_and_lets_appends_in_between(tmp_path):
    whole, stepped = _two_logs(tmp_path)
    with whole, stepped:
        expected = compact(whole, CompactionConfig(min_cleanable_dirty_ratio=0), now_ms=T0)
        cleaning = CompactionPass(stepped, CompactionConfig(min_cleanable_dirty_ratio=0), now_ms=T0, step_bytes=300)
        steps = 0
        while cleaning.step():
            steps += 1
            stepped.append(build_batch([keyed(f"new{steps}", "n")]), leader_epoch=0)  # served between steps
        assert steps > 5 and cleaning.abandoned is None
        assert cleaning.result.groups == expected.groups and cleaning.result.records_kept == expected.records_kept
        end = whole.log_end_offset
        assert [r for r in records(stepped) if r[0] < end] == records(whole)
        assert read_checkpoint(stepped.directory) == read_checkpoint(whole.directory)


@pytest.mark.parametrize("change", ["truncate", "retention"])
def test_a_pass_abandons_itself_when_the_log_changes_under_it_and_leaves_no_cleaned_files(tmp_path, change):
    _, log = _two_logs(tmp_path)
    with log:
        before = records(log)
        cleaning = CompactionPass(log, CompactionConfig(min_cleanable_dirty_ratio=0), now_ms=T0, step_bytes=300)
        while not [n for n in os.listdir(log.directory) if n.endswith(".cleaned")]:  # into the first group
            assert cleaning.step()
        if change == "truncate":
            log.truncate_to(log.segments[2].base_offset + 1)
        else:
            log.delete_segments_below(log.segments[1].base_offset)
        assert not cleaning.step() and "changed" in cleaning.abandoned
        assert not [n for n in os.listdir(log.directory) if n.endswith((".cleaned", ".swap", ".deleted"))]
        assert read_checkpoint(log.directory) is None
        survivors = {r[0] for r in records(log)}
        assert [r for r in before if r[0] in survivors] == records(log)  # nothing altered


def test_a_step_reads_about_step_bytes(tmp_path):
    """What bounds the replica's pause: a 1 MiB step is tens of milliseconds, not the whole log."""
    config = LogConfig(segment_bytes=1 << 20, cleanup_policy=("compact",))
    with Log(tmp_path / "t-0", config) as log:
        for r in range(3000):
            log.append(build_batch([keyed(f"k{(r * 10 + j) % 5000}", "v" * 100) for j in range(10)]),
                       leader_epoch=0)
        log.update_high_watermark(log.log_end_offset)
        assert len(log.segments) >= 4
        cleaning = CompactionPass(log, CompactionConfig(min_cleanable_dirty_ratio=0), now_ms=T0)
        longest, steps = 0.0, 0
        while True:
            started = time.perf_counter()
            more = cleaning.step()
            longest = max(longest, time.perf_counter() - started)
            steps += 1
            if not more:
                break
        assert cleaning.result.cleaned and steps >= 5
        assert longest < 0.5, f"a step took {longest:.3f} s"


# -- consumers read across gaps and empty batches (the client's fetcher, unchanged) -------
class _StubPool:
    def __init__(self):
        self.sent = []

    def send(self, endpoint, request, frames=(), *, timeout_ms, context=None, expect_reply=True):
        self.sent.append((request, context))
        return len(self.sent)

    def cancel(self, corr):
        pass


class _StubMetadata:
    def leader_endpoint(self, topic, partition):
        return "tcp://leader"

    def request_update(self):
        pass

    def next_due(self):
        return None


def test_a_consumer_reads_a_compacted_log_across_gaps_and_past_empty_batches(tmp_path):
    import zmq

    from wire.client.fetcher import Fetcher
    from wire.client.records import TopicPartition
    from wire.connections import Reply
    from wire.fetch import Fetch, FetchResponse

    tp = TopicPartition("t", 0)
    with _compacted_leader(tmp_path) as leader:
        expected = records(leader)
        pool = _StubPool()
        f = Fetcher(pool, _StubMetadata(), auto_offset_reset="earliest", fetch_max_wait_ms=0, fetch_min_bytes=1,
                    max_partition_fetch_bytes=1, fetch_max_bytes=1 << 20, request_timeout_ms=1000,
                    retry_backoff_ms=10, retry_backoff_max_ms=100)  # one batch per fetch: some hold no record
        f.assign([tp])
        f.seek(f.states[tp], 0)
        got, empty_fetches = [], 0
        for _ in range(200):
            f.send_requests(0.0)
            request, context = pool.sent[-1]
            assert isinstance(request, Fetch)
            if request.offset >= leader.log_end_offset:
                break
            data = leader.read(request.offset, request.max_bytes, max_offset=leader.high_watermark)
            response = FetchResponse(high_watermark=leader.high_watermark, log_start_offset=0,
                                     log_end_offset=leader.log_end_offset)
            f.handle([Reply(context, response, [zmq.Frame(data)])])
            batch = f.collect(1000)
            empty_fetches += not batch
            got += [(r.offset, r.key, r.value) for r in batch]
        assert got == expected and empty_fetches > 0
        assert f.states[tp].position == leader.log_end_offset
