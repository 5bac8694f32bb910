"""The controller's snapshots: a restart loads the newest readable one and replays only what follows it."""

from __future__ import annotations

import os

import pytest

from actors import controller as controller_module
from actors import metadata_snapshot as ms
from actors.config import BrokerConfig
from actors.controller import Controller
from actors.specs import ActorSpec
from wire import admin, control
from wire.metadata import BrokerInfo, ClusterImage, PartitionState, TopicState


class _Outbox:
    def send_multipart(self, parts, copy=True):
        pass


def _controller(data_dir: str, **props: str) -> Controller:
    """A controller run without a process: its handlers called directly, as its loop would."""
    config, _ = BrokerConfig.from_properties(props)
    spec = ActorSpec(name="controller", kind="controller", bind="tcp://127.0.0.1:1", advertised="tcp://127.0.0.1:1",
                     data_dir=data_dir, controller="", config=config)
    ctl = Controller(spec, "inproc://unused")
    ctl._outbox = _Outbox()
    ctl.setup()
    return ctl


def _cluster(ctl: Controller) -> None:
    for b in (1, 2, 3):
        ctl.heartbeat(control.BrokerHeartbeat(broker_id=b, endpoint=f"tcp://127.0.0.1:{9000 + b}"), [], b"p")
    ctl.create_topic(admin.CreateTopic(name="t", partitions=3, replication_factor=3), [], b"p")


def _churn(ctl: Controller, changes: int) -> None:
    """Many decisions: config changes, each one event in the metadata log."""
    for i in range(changes):
        ctl.alter_configs(admin.AlterConfigs(topic="t", set={"retention.ms": str(60_000 + i)}), [], b"p")


def _state(ctl: Controller):
    image = ctl.image
    return (image.cluster_id, {b: (i.endpoint, i.log_dirs) for b, i in image.brokers.items()},
            {n: (t.topic_id, t.configs, [(p.leader, p.leader_epoch, p.isr, p.replicas) for p in t.partitions])
             for n, t in image.topics.items()})


def test_a_snapshot_round_trips_and_forgets_liveness():
    image = ClusterImage(cluster_id="c", brokers={1: BrokerInfo(id=1, endpoint="tcp://h:1", alive=True)},
                         topics={"t": TopicState(name="t", topic_id="x", partitions=[
                             PartitionState(0, [1], leader=1, leader_epoch=4, isr=[1])])})
    back = ms.decode(ms.encode(ms.Snapshot(17, image)))
    assert back.offset == 17 and back.image.topics == image.topics and back.image.cluster_id == "c"
    assert back.image.brokers[1].alive is False  # re-learnt from heartbeats, as after a replay


@pytest.mark.parametrize("damage", [
    lambda b: b[:10], lambda b: b[:-1] + bytes([b[-1] ^ 1]), lambda b: b"XXXX" + b[4:], lambda b: b"",
])
def test_a_damaged_snapshot_is_refused(damage):
    data = ms.encode(ms.Snapshot(3, ClusterImage(cluster_id="c")))
    with pytest.raises(ms.CorruptSnapshot):
        ms.decode(damage(data))


def test_names_parse_back_and_other_files_are_not_snapshots():
    assert ms.parse_snapshot_name(ms.snapshot_name(12345)) == 12345
    for other in ("00000000000000000000.log", "x.checkpoint", "00000000000000000001-0000000000.checkpoint.tmp",
                  "recovery-point-offset-checkpoint", "0000000000000000000a-0000000000.checkpoint"):
        assert ms.parse_snapshot_name(other) is None


def test_a_restart_loads_the_newest_snapshot_and_replays_only_the_tail(tmp_path):
    ctl = _controller(str(tmp_path), **{"metadata.log.max.record.bytes.between.snapshots": "4096"})
    _cluster(ctl)
    _churn(ctl, 300)
    offsets = ms.snapshot_offsets(ctl.metadata_dir)
    assert len(offsets) == ms.KEEP and offsets[-1] <= ctl.metadata_log.log_end_offset
    before, end = _state(ctl), ctl.metadata_log.log_end_offset
    ctl.teardown()

    again = _controller(str(tmp_path), **{"metadata.log.max.record.bytes.between.snapshots": "4096"})
    assert _state(again) == before
    # replayed: only the events after the newest snapshot, not the 300 and more the log holds
    replayed_from = ms.snapshot_offsets(again.metadata_dir)[-1]
    assert end - replayed_from < 60
    # and it carries on committing after them
    _churn(again, 1)
    assert again.metadata_log.log_end_offset == end + 1
    again.teardown()


def test_segments_every_kept_snapshot_covers_are_deleted_and_a_restart_still_rebuilds_everything(tmp_path, monkeypatch):
    monkeypatch.setattr(controller_module, "METADATA_SEGMENT_BYTES", 2048)
    props = {"metadata.log.max.record.bytes.between.snapshots": "8192"}
    ctl = _controller(str(tmp_path), **props)
    _cluster(ctl)
    _churn(ctl, 400)
    assert ctl.metadata_log.log_start_offset > 0  # old segments are gone
    assert ctl.metadata_log.log_start_offset <= ms.snapshot_offsets(ctl.metadata_dir)[0]
    before = _state(ctl)
    ctl.teardown()
    assert _state(_controller(str(tmp_path), **props)) == before


def test_a_corrupt_newest_snapshot_falls_back_to_the_older_one(tmp_path, monkeypatch):
    monkeypatch.setattr(controller_module, "METADATA_SEGMENT_BYTES", 2048)
    props = {"metadata.log.max.record.bytes.between.snapshots": "8192"}
    ctl = _controller(str(tmp_path), **props)
    _cluster(ctl)
    _churn(ctl, 400)
    before, directory = _state(ctl), ctl.metadata_dir
    ctl.teardown()
    newest = os.path.join(directory, ms.snapshot_name(ms.snapshot_offsets(directory)[-1]))
    with open(newest, "r+b") as f:
        f.seek(20)
        f.write(b"\xff\xff")
    assert _state(_controller(str(tmp_path), **props)) == before


def test_with_no_readable_snapshot_over_deleted_records_the_controller_refuses_to_start(tmp_path, monkeypatch):
    monkeypatch.setattr(controller_module, "METADATA_SEGMENT_BYTES", 2048)
    props = {"metadata.log.max.record.bytes.between.snapshots": "8192"}
    ctl = _controller(str(tmp_path), **props)
    _cluster(ctl)
    _churn(ctl, 400)
    directory = ctl.metadata_dir
    ctl.teardown()
    for offset in ms.snapshot_offsets(directory):
        with open(os.path.join(directory, ms.snapshot_name(offset)), "wb") as f:
            f.write(b"garbage")
    # an image rebuilt from what is left would silently miss topics and epochs: refuse instead
    with pytest.raises(RuntimeError, match="no readable snapshot"):
        _controller(str(tmp_path), **props)


def test_an_idle_controller_snapshots_on_the_interval(tmp_path):
    ctl = _controller(str(tmp_path), **{"metadata.log.max.snapshot.interval.ms": "1"})
    _cluster(ctl)
    assert ms.snapshot_offsets(ctl.metadata_dir) == []
    ctl.last_snapshot -= 1  # as if the interval had passed
    ctl.on_tick()
    assert ms.snapshot_offsets(ctl.metadata_dir) == [ctl.metadata_log.log_end_offset]
    ctl.on_tick()  # nothing new since: no second snapshot
    assert len(ms.snapshot_offsets(ctl.metadata_dir)) == 1
    ctl.teardown()


def test_producer_id_blocks_never_overlap_across_restarts_replays_and_snapshots(tmp_path):
    props = {"metadata.log.max.record.bytes.between.snapshots": "4096"}
    ctl = _controller(str(tmp_path), **props)
    blocks = [ctl.allocate_producer_ids(control.AllocateProducerIds(broker_id=b), [], b"p") for b in (1, 2, 1)]
    ctl.teardown()
    again = _controller(str(tmp_path), **props)  # rebuilt by replaying the log
    blocks.append(again.allocate_producer_ids(control.AllocateProducerIds(broker_id=3), [], b"p"))
    _cluster(again)
    _churn(again, 300)  # past a snapshot: the next restart loads it and replays only the tail
    again.teardown()
    third = _controller(str(tmp_path), **props)
    assert ms.snapshot_offsets(third.metadata_dir)
    blocks.append(third.allocate_producer_ids(control.AllocateProducerIds(broker_id=2), [], b"p"))
    third.teardown()
    ranges = [range(b.first_producer_id, b.first_producer_id + b.count) for b in blocks]
    assert all(len(r) == 1000 for r in ranges)
    assert all(a.stop <= b.start for a, b in zip(ranges, ranges[1:]))  # in order, none shared
