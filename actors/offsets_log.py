"""What a GroupCoordinator keeps in ``__consumer_offsets``, and how it reads it back.

Groups are spread over the topic's partitions as in Kafka,
``abs(groupId.hashCode()) % offsets.topic.num.partitions`` with Java's
``String.hashCode`` (so a group lands on the partition number Kafka would give it),
and the coordinator of a group is whoever leads that partition: the partition's
replication (acks=all) is what makes a commit durable, and its leader election is
the coordinator's failover.

Two kinds of records, keyed so that compaction keeps the latest of each:

* an offset commit — key ``[OFFSET, group, topic, partition]``, value the
  ``Committed`` (offset, metadata, commit time, leader epoch);
* a group's membership after a rebalance — key ``[GROUP, group]``, value the
  ``GroupSnapshot`` (generation, protocol, leader, members with assignments).

A null value is a tombstone: the offset expired, or the group was deleted. Keys and
values are msgpack arrays with a version first, so later versions can add fields.
``replay`` folds a partition's records, in offset order, into the groups it holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import msgspec

from .group_state import Committed, GroupRecord, GroupSnapshot, MemberSnapshot, OffsetRecord

TOPIC = "__consumer_offsets"
OFFSET, GROUP = 1, 2  # key types
VERSION = 0

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder()


class CorruptOffsetsRecord(ValueError):
    pass


def java_string_hash(s: str) -> int:
    """Java's ``String.hashCode`` (over UTF-16 code units, as a signed 32-bit int)."""
    h = 0
    data = s.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def partition_for(group_id: str, partitions: int) -> int:
    """Kafka's ``GroupMetadataManager.partitionFor``: ``Utils.abs(hashCode) % partitions``."""
    h = java_string_hash(group_id)
    return (0 if h == -(1 << 31) else abs(h)) % partitions


def encode(record: OffsetRecord | GroupRecord) -> tuple[bytes, bytes | None]:
    """The (key, value) a record is appended as; a None value is a tombstone."""
    if isinstance(record, OffsetRecord):
        key = _encoder.encode([OFFSET, VERSION, record.group_id, record.topic, record.partition])
        v = record.value
        value = None if v is None else _encoder.encode([VERSION, v.offset, v.metadata, v.commit_ms, v.leader_epoch])
        return key, value
    key = _encoder.encode([GROUP, VERSION, record.group_id])
    s = record.value
    if s is None:
        return key, None
    members = [[m.member_id, m.group_instance_id, m.client_id, m.client_host, m.session_timeout_ms,
                m.rebalance_timeout_ms, m.subscription, m.assignment] for m in s.members]
    return key, _encoder.encode([VERSION, s.protocol_type, s.generation, s.protocol, s.leader, members])


def decode(key: bytes, value: bytes | None) -> OffsetRecord | GroupRecord:
    try:
        k = _decoder.decode(key)
        if k[0] == OFFSET:
            _, _, group, topic, partition = k[:5]
            if value is None:
                return OffsetRecord(group, topic, partition, None)
            v = _decoder.decode(value)
            return OffsetRecord(group, topic, partition, Committed(v[1], v[2], v[3], v[4]))
        if k[0] == GROUP:
            group = k[2]
            if value is None:
                return GroupRecord(group, None)
            v = _decoder.decode(value)
            members = [MemberSnapshot(*m[:8]) for m in v[5]]
            return GroupRecord(group, GroupSnapshot(v[1], v[2], v[3], v[4], members))
    except (msgspec.DecodeError, IndexError, TypeError, ValueError) as exc:
        raise CorruptOffsetsRecord(f"a {TOPIC} record does not decode: {exc}") from None
    raise CorruptOffsetsRecord(f"a {TOPIC} record of unknown key type {k[0]!r}")


class LoadedGroup(NamedTuple):
    snapshot: GroupSnapshot | None
    offsets: dict[tuple[str, int], Committed]


def replay(records: Iterable[tuple[bytes, bytes | None]]) -> dict[str, LoadedGroup]:
    """Groups and offsets as a partition's records leave them (later records win; tombstones delete).

    A group deleted by a tombstone, with no offsets left, is not returned.
    """
    snapshots: dict[str, GroupSnapshot | None] = {}
    offsets: dict[str, dict[tuple[str, int], Committed]] = {}
    for key, value in records:
        record = decode(key, value)
        if isinstance(record, OffsetRecord):
            per_group = offsets.setdefault(record.group_id, {})
            if record.value is None:
                per_group.pop((record.topic, record.partition), None)
            else:
                per_group[(record.topic, record.partition)] = record.value
        else:
            snapshots[record.group_id] = record.value
            if record.value is None:  # a deleted group takes its offsets with it
                offsets.pop(record.group_id, None)
    out = {}
    for group in sorted(set(snapshots) | set(offsets)):
        snap, committed = snapshots.get(group), offsets.get(group, {})
        if snap is None and not committed and group in snapshots:
            continue
        out[group] = LoadedGroup(snap, committed)
    return out
