"""Unit tests of storage.retention: Kafka's retention config precedence and deletion rules.

Expected values are written out by hand (Kafka's documented defaults and
precedence) or computed by a small independent oracle below, never by calling
the function under test.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.errors import InvalidConfigError
from storage.retention import (
    SegmentFacts,
    expired_by_size,
    expired_by_time,
    resolve_retention_bytes,
    resolve_retention_ms,
    segments_to_delete,
)

HOUR_MS = 60 * 60 * 1000
MINUTE_MS = 60 * 1000
WEEK_MS = 7 * 24 * HOUR_MS  # Kafka's default log.retention.hours=168


def seg(base: int, size: int = 100, ts: int = 0) -> SegmentFacts:
    return SegmentFacts(base_offset=base, size_bytes=size, largest_timestamp_ms=ts)


# -- resolve_retention_ms ----------------------------------------------------------


def test_retention_ms_defaults_to_168_hours():
    assert resolve_retention_ms({}) == 604_800_000
    assert resolve_retention_ms({}, {}) == 604_800_000
    assert resolve_retention_ms({}, None) == 604_800_000


def test_topic_retention_ms_beats_every_broker_key():
    broker = {"log.retention.ms": "1000", "log.retention.minutes": "2", "log.retention.hours": "3"}
    assert resolve_retention_ms(broker, {"retention.ms": "42"}) == 42


def test_log_retention_ms_beats_minutes_and_hours():
    broker = {"log.retention.ms": "1000", "log.retention.minutes": "2", "log.retention.hours": "3"}
    assert resolve_retention_ms(broker) == 1000


def test_log_retention_minutes_beats_hours_and_is_scaled_to_ms():
    broker = {"log.retention.minutes": "2", "log.retention.hours": "3"}
    assert resolve_retention_ms(broker) == 2 * MINUTE_MS


def test_log_retention_hours_is_scaled_to_ms():
    assert resolve_retention_ms({"log.retention.hours": "3"}) == 3 * HOUR_MS


def test_broker_key_set_to_none_falls_through_to_the_next_key():
    broker = {"log.retention.ms": None, "log.retention.minutes": None, "log.retention.hours": 5}
    assert resolve_retention_ms(broker) == 5 * HOUR_MS
    assert resolve_retention_ms({"log.retention.hours": "1"}, {"retention.ms": None}) == HOUR_MS


@pytest.mark.parametrize(
    "broker, topic",
    [
        ({}, {"retention.ms": -1}),
        ({}, {"retention.ms": "-1"}),
        ({"log.retention.ms": "-1"}, None),
        ({"log.retention.minutes": -1}, None),
        ({"log.retention.hours": "-1"}, None),
        # -1 at a higher-precedence key wins over a finite lower one
        ({"log.retention.ms": -1, "log.retention.hours": 1}, None),
        ({"log.retention.hours": 1}, {"retention.ms": "-1"}),
    ],
)
def test_unlimited_retention_stays_minus_one_at_every_level(broker, topic):
    # -1 must not be scaled (-1 minutes is not -60000 ms): it means unlimited.
    assert resolve_retention_ms(broker, topic) == -1


@pytest.mark.parametrize("raw", [7200000, "7200000", " 7200000 ", "7200000\n"])
def test_retention_ms_accepts_ints_and_integer_strings(raw):
    assert resolve_retention_ms({}, {"retention.ms": raw}) == 7_200_000
    assert resolve_retention_ms({"log.retention.ms": raw}) == 7_200_000


def test_zero_is_a_valid_retention():
    assert resolve_retention_ms({}, {"retention.ms": "0"}) == 0
    assert resolve_retention_ms({"log.retention.hours": 0}) == 0


@pytest.mark.parametrize("key", ["log.retention.ms", "log.retention.minutes", "log.retention.hours"])
@pytest.mark.parametrize("bad", ["abc", "1.5", "", "10ms", -2, "-5"])
def test_bad_broker_retention_value_raises_naming_the_key(key, bad):
    with pytest.raises(InvalidConfigError) as info:
        resolve_retention_ms({key: bad})
    assert info.value.key == key
    assert info.value.value == bad
    assert key in str(info.value)
    assert repr(bad) in str(info.value)


@pytest.mark.parametrize("bad", ["abc", "1.5", "", -2])
def test_bad_topic_retention_ms_raises_naming_the_key(bad):
    with pytest.raises(InvalidConfigError) as info:
        resolve_retention_ms({"log.retention.hours": 1}, {"retention.ms": bad})
    assert info.value.key == "retention.ms"
    assert "retention.ms" in str(info.value)


def test_invalid_config_error_is_also_a_value_error():
    with pytest.raises(ValueError):
        resolve_retention_ms({"log.retention.ms": "soon"})


# -- resolve_retention_bytes --------------------------------------------------------


def test_retention_bytes_defaults_to_unlimited():
    assert resolve_retention_bytes({}) == -1
    assert resolve_retention_bytes({}, {}) == -1


def test_retention_bytes_topic_beats_broker():
    assert resolve_retention_bytes({"log.retention.bytes": "1000"}, {"retention.bytes": "500"}) == 500
    assert resolve_retention_bytes({"log.retention.bytes": 1000}) == 1000
    assert resolve_retention_bytes({"log.retention.bytes": 1000}, {"retention.bytes": -1}) == -1


@pytest.mark.parametrize("bad", ["lots", "1.5", -7])
def test_bad_retention_bytes_raises_naming_the_key(bad):
    with pytest.raises(InvalidConfigError) as info:
        resolve_retention_bytes({}, {"retention.bytes": bad})
    assert info.value.key == "retention.bytes"
    with pytest.raises(InvalidConfigError) as info:
        resolve_retention_bytes({"log.retention.bytes": bad})
    assert info.value.key == "log.retention.bytes"
    assert "log.retention.bytes" in str(info.value)


# -- expired_by_time ----------------------------------------------------------------


def test_expired_by_time_counts_the_prefix_older_than_retention():
    now, retention = 10_000, 1_000
    segments = [seg(0, ts=1_000), seg(10, ts=8_000), seg(20, ts=9_500)]
    # ages 9000 (expired), 2000 (expired), 500 (kept)
    assert expired_by_time(segments, now, retention) == 2


def test_expired_by_time_stops_at_the_first_segment_still_wanted():
    now, retention = 10_000, 1_000
    # the third segment is old again (e.g. producer-supplied timestamps), but the
    # second is young: deleting the third would punch a hole in the log.
    segments = [seg(0, ts=0), seg(10, ts=9_900), seg(20, ts=0), seg(30, ts=0)]
    assert expired_by_time(segments, now, retention) == 1


def test_expired_by_time_needs_age_strictly_greater_than_retention():
    # Kafka: now - largestTimestamp > retention.ms
    assert expired_by_time([seg(0, ts=9_000)], 10_000, 1_000) == 0
    assert expired_by_time([seg(0, ts=8_999)], 10_000, 1_000) == 1


def test_expired_by_time_unlimited_never_expires():
    ancient = [seg(i * 10, ts=0) for i in range(5)]
    assert expired_by_time(ancient, 10**15, -1) == 0


def test_expired_by_time_of_no_segments_is_zero():
    assert expired_by_time([], 10_000, 0) == 0


# -- expired_by_size ----------------------------------------------------------------


def test_expired_by_size_keeps_the_log_at_or_above_the_limit():
    segments = [seg(0, 100), seg(10, 100), seg(20, 100), seg(30, 100)]
    # total 400, limit 150: deleting 2 leaves 200 >= 150, deleting 3 would leave 100 < 150
    assert expired_by_size(segments, 400, 150) == 2


def test_expired_by_size_deletes_to_exactly_the_limit():
    segments = [seg(0, 100), seg(10, 100), seg(20, 100)]
    assert expired_by_size(segments, 300, 200) == 1
    assert expired_by_size(segments, 300, 100) == 2


def test_expired_by_size_nothing_when_under_the_limit():
    segments = [seg(0, 100), seg(10, 100)]
    assert expired_by_size(segments, 200, 200) == 0
    assert expired_by_size(segments, 200, 1_000) == 0


def test_expired_by_size_stops_at_a_segment_too_big_to_remove():
    # the big first segment cannot go without dropping below the limit, so the
    # small ones behind it cannot go either (prefix only)
    segments = [seg(0, 500), seg(10, 10), seg(20, 10)]
    assert expired_by_size(segments, 520, 100) == 0


def test_expired_by_size_unlimited_never_expires():
    segments = [seg(0, 10**9), seg(10, 10**9)]
    assert expired_by_size(segments, 2 * 10**9, -1) == 0


# -- segments_to_delete -------------------------------------------------------------


def test_segments_to_delete_never_returns_the_active_segment_when_all_expired():
    segments = [seg(0, ts=0), seg(10, ts=0), seg(20, ts=0)]
    assert segments_to_delete(segments, now_ms=10**9, retention_ms=1, retention_bytes=-1) == [0, 10]


def test_segments_to_delete_never_returns_the_active_segment_when_over_size():
    segments = [seg(0, 100), seg(10, 100), seg(20, 100)]
    assert segments_to_delete(segments, now_ms=0, retention_ms=-1, retention_bytes=0) == [0, 10]


def test_segments_to_delete_with_only_the_active_segment_is_empty():
    assert segments_to_delete([seg(0, 10**9, ts=0)], now_ms=10**9, retention_ms=0, retention_bytes=0) == []
    assert segments_to_delete([], now_ms=10**9, retention_ms=0, retention_bytes=0) == []


def test_segments_to_delete_counts_active_bytes_towards_the_size_limit():
    # closed 100 + 100, active 300: total 500, limit 300 -> both closed segments go
    segments = [seg(0, 100), seg(10, 100), seg(20, 300)]
    assert segments_to_delete(segments, now_ms=0, retention_ms=-1, retention_bytes=300) == [0, 10]
    # limit 301: deleting both would leave 300 < 301, so only one goes
    assert segments_to_delete(segments, now_ms=0, retention_ms=-1, retention_bytes=301) == [0]


def test_segments_to_delete_both_unlimited_deletes_nothing():
    segments = [seg(i * 10, 10**6, ts=0) for i in range(6)]
    assert segments_to_delete(segments, now_ms=10**12, retention_ms=-1, retention_bytes=-1) == []


def test_segments_to_delete_takes_the_longer_of_the_time_and_size_prefixes():
    now = 10_000
    segments = [seg(0, 100, ts=0), seg(10, 100, ts=9_999), seg(20, 100, ts=9_999), seg(30, 100, ts=9_999)]
    # time: only the first expired; size: total 400, limit 150 -> two
    assert segments_to_delete(segments, now_ms=now, retention_ms=1_000, retention_bytes=150) == [0, 10]
    # time: first expired; size limit 350 -> one; union is one
    assert segments_to_delete(segments, now_ms=now, retention_ms=1_000, retention_bytes=350) == [0]
    # time: first three old; size limit 350 -> one; time wins with three
    old = [seg(0, 100, ts=0), seg(10, 100, ts=0), seg(20, 100, ts=0), seg(30, 100, ts=0)]
    assert segments_to_delete(old, now_ms=now, retention_ms=1_000, retention_bytes=350) == [0, 10, 20]


def test_segments_to_delete_returns_base_offsets_oldest_first():
    segments = [seg(5, ts=0), seg(17, ts=0), seg(40, ts=0), seg(99, ts=0)]
    assert segments_to_delete(segments, now_ms=10_000, retention_ms=10, retention_bytes=-1) == [5, 17, 40]


# -- property -----------------------------------------------------------------------


def _oracle_expired_by_time(sizes_ts, now, retention_ms):
    """Independent restatement: length of the leading run with age > retention."""
    if retention_ms == -1:
        return 0
    n = 0
    while n < len(sizes_ts) and now - sizes_ts[n][1] > retention_ms:
        n += 1
    return n


segments_strategy = st.lists(
    st.tuples(st.integers(0, 1_000), st.integers(0, 100_000)),  # (size, largest timestamp)
    min_size=0,
    max_size=12,
)


@settings(max_examples=400, deadline=None)
@given(
    facts=segments_strategy,
    now=st.integers(0, 200_000),
    retention_ms=st.one_of(st.just(-1), st.integers(0, 150_000)),
    retention_bytes=st.one_of(st.just(-1), st.integers(0, 8_000)),
)
def test_segments_to_delete_property(facts, now, retention_ms, retention_bytes):
    segments = [SegmentFacts(i * 100, size, ts) for i, (size, ts) in enumerate(facts)]
    closed = segments[:-1]
    total = sum(s.size_bytes for s in segments)

    result = segments_to_delete(segments, now_ms=now, retention_ms=retention_ms, retention_bytes=retention_bytes)

    # 1. always a prefix of the closed segments (never the active one, never a hole)
    n = len(result)
    assert result == [s.base_offset for s in closed[:n]]

    # 2. every returned segment is expired by time (as part of an expired prefix)
    #    or needed for size (deleting up to and including it keeps log >= limit)
    time_prefix = _oracle_expired_by_time(facts[:-1], now, retention_ms)
    for i in range(n):
        deleted_through_i = sum(s.size_bytes for s in closed[: i + 1])
        expired = i < time_prefix
        for_size = retention_bytes != -1 and total - deleted_through_i >= retention_bytes
        assert expired or for_size, f"segment {i} deleted without reason"

    # 3. when size-limited and deletion went past the time-expired prefix,
    #    the remaining log is still at least retention.bytes
    remaining = total - sum(s.size_bytes for s in closed[:n])
    if retention_bytes != -1 and n > time_prefix:
        assert remaining >= retention_bytes
    if retention_ms == -1 and retention_bytes != -1:
        assert remaining >= min(total, retention_bytes)

    # 4. maximal: the next closed segment had no reason to go
    if n < len(closed):
        next_expired = n < time_prefix
        next_for_size = (
            retention_bytes != -1 and remaining - closed[n].size_bytes >= retention_bytes
        )
        assert not next_expired and not next_for_size

    # 5. unlimited both -> nothing
    if retention_ms == -1 and retention_bytes == -1:
        assert result == []
