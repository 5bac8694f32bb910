"""zafka groups reset-offsets: Kafka's tool's targets, clamped into each partition's bounds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scripts.cli.group_offsets import (
    DATETIME,
    EARLIEST,
    LATEST,
    OFFSET,
    SHIFT,
    ResetError,
    ResetSpec,
    parse_datetime_ms,
    plan,
)

A, B = ("t", 0), ("t", 1)
BOUNDS = {A: (10, 100), B: (0, 5)}


def test_each_reset_kind_and_its_clamping():
    assert plan(ResetSpec(EARLIEST), {}, BOUNDS) == {A: 10, B: 0}
    assert plan(ResetSpec(LATEST), {}, BOUNDS) == {A: 100, B: 5}
    assert plan(ResetSpec(OFFSET, 50), {}, BOUNDS) == {A: 50, B: 5}  # past the end: the end
    assert plan(ResetSpec(SHIFT, -20), {A: 25, B: 3}, BOUNDS) == {A: 10, B: 0}  # before the start: the start
    assert plan(ResetSpec(SHIFT, 2), {A: 40}, BOUNDS) == {A: 42, B: 2}  # nothing committed: from the log start
    assert plan(ResetSpec(DATETIME), {}, BOUNDS, by_time={A: 70}) == {A: 70, B: 5}


def test_datetimes_are_iso_8601_and_utc_without_a_zone():
    assert parse_datetime_ms("1970-01-01T00:00:01") == 1000
    assert parse_datetime_ms("1970-01-01T01:00:00+01:00") == 0
    assert parse_datetime_ms("1970-01-01T00:00:00Z") == 0
    with pytest.raises(ResetError, match="ISO 8601"):
        parse_datetime_ms("yesterday")


@given(st.sampled_from([EARLIEST, LATEST, OFFSET, SHIFT]), st.integers(-1000, 1000),
       st.dictionaries(st.integers(0, 3), st.tuples(st.integers(0, 50), st.integers(0, 50)), min_size=1))
def test_every_target_lies_within_its_partitions_bounds(kind, value, raw):
    bounds = {("t", p): (min(a, b), max(a, b)) for p, (a, b) in raw.items()}
    for tp, offset in plan(ResetSpec(kind, value), {}, bounds).items():
        assert bounds[tp][0] <= offset <= bounds[tp][1]
