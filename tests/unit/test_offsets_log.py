"""__consumer_offsets records: Kafka's group placement, the record format, and replay into groups."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.group_state import Committed, GroupRecord, GroupSnapshot, MemberSnapshot, OffsetRecord
from actors.offsets_log import CorruptOffsetsRecord, decode, encode, java_string_hash, partition_for, replay


@pytest.mark.parametrize("text, expected", [
    ("", 0), ("hello", 99162322), ("Aa", 2112), ("BB", 2112),  # Java's own values (Aa/BB: its famous collision)
    ("polygenelubricants", -(1 << 31)),  # hashes to Integer.MIN_VALUE in Java
])
def test_the_hash_is_javas_string_hashcode(text, expected):
    assert java_string_hash(text) == expected


def test_a_group_lands_where_kafka_puts_it():
    assert partition_for("hello", 50) == 99162322 % 50
    assert partition_for("polygenelubricants", 50) == 0  # Kafka's Utils.abs(Integer.MIN_VALUE) is 0
    assert partition_for("Aa", 3) == partition_for("BB", 3)


def _snapshot(generation: int = 3) -> GroupSnapshot:
    return GroupSnapshot("consumer", generation, "range", "m1", [
        MemberSnapshot("m1", None, "c1", "h1", 10000, 30000, b"sub1", b"asg1"),
        MemberSnapshot("m2", "static-2", "c2", "h2", 10000, 30000, b"sub2", b"asg2"),
    ])


@pytest.mark.parametrize("record", [
    OffsetRecord("g", "orders", 2, Committed(41, "meta", 1_700_000_000_000, 7)),
    OffsetRecord("g", "orders", 2, None),
    GroupRecord("g", _snapshot()),
    GroupRecord("g", None),
])
def test_records_round_trip(record):
    key, value = encode(record)
    assert decode(key, value) == record
    assert (value is None) == (record.value is None)  # a removal is a tombstone, for compaction


def test_an_offset_and_its_group_have_different_keys_so_compaction_keeps_both():
    offset_key, _ = encode(OffsetRecord("g", "t", 0, Committed(1, "", 0)))
    group_key, _ = encode(GroupRecord("g", _snapshot()))
    assert offset_key != group_key
    assert encode(OffsetRecord("g", "t", 0, Committed(2, "", 5)))[0] == offset_key  # same key for the same partition


@pytest.mark.parametrize("key, value", [(b"\xc1", b""), (b"\x93\x07\x00\x01", None), (b"\x92\x01\x00", b"\x90")])
def test_a_record_that_does_not_decode_is_a_typed_error(key, value):
    with pytest.raises(CorruptOffsetsRecord):
        decode(key, value)


def test_replay_keeps_the_latest_of_each_and_tombstones_delete():
    records = [
        OffsetRecord("a", "t", 0, Committed(1, "", 1)),
        OffsetRecord("a", "t", 0, Committed(5, "", 2)),
        OffsetRecord("a", "t", 1, Committed(9, "", 3)),
        GroupRecord("a", _snapshot(1)),
        GroupRecord("a", _snapshot(2)),
        OffsetRecord("a", "t", 1, None),  # expired
        OffsetRecord("b", "t", 0, Committed(3, "", 4)),
        GroupRecord("b", None),  # deleted, with its offsets
        OffsetRecord("c", "x", 0, Committed(8, "", 5)),  # a group that only ever committed (assign())
    ]
    groups = replay(encode(r) for r in records)
    assert sorted(groups) == ["a", "c"]
    assert groups["a"].snapshot.generation == 2 and groups["a"].offsets == {("t", 0): Committed(5, "", 2)}
    assert groups["c"].snapshot is None and groups["c"].offsets == {("x", 0): Committed(8, "", 5)}


@given(st.lists(st.tuples(st.sampled_from("gh"), st.sampled_from("tu"), st.integers(0, 2),
                          st.one_of(st.none(), st.integers(0, 1000))), max_size=60))
def test_replay_of_offset_commits_matches_a_dict_model(ops):
    model: dict[str, dict] = {}
    records = []
    for group, topic, partition, offset in ops:
        value = None if offset is None else Committed(offset, "", 0)
        records.append(OffsetRecord(group, topic, partition, value))
        per = model.setdefault(group, {})
        if value is None:
            per.pop((topic, partition), None)
        else:
            per[(topic, partition)] = value
    groups = replay(encode(r) for r in records)
    assert {g: lg.offsets for g, lg in groups.items()} == {g: o for g, o in model.items() if g in groups}
    assert all(not o for g, o in model.items() if g not in groups)
