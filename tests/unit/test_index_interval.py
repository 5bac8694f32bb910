"""index.interval.bytes: the offset index gets one entry per that many bytes of batches, as in Kafka."""

from __future__ import annotations

import pytest

from storage import Log, LogConfig, build_batch, iter_batches


@pytest.mark.parametrize("interval", [0, 1000, 4096, 1 << 20])
def test_offset_index_has_one_entry_per_index_interval_bytes(tmp_path, interval):
    log = Log(str(tmp_path / "t-0"), LogConfig(index_interval_bytes=interval))
    batch = build_batch([b"x" * 100])
    for _ in range(200):
        log.append(batch)
    # the segment's first batch needs no entry (position 0); after it, a batch gets one when at
    # least interval bytes were written since the last entry: every batch at 0, every
    # ceil(interval / batch size)-th batch otherwise, none at all past the data written
    per_entry = max(1, -(-interval // len(batch)))
    expected = (200 - 1) // per_entry
    assert len(log.active.offset_index) == expected
    if interval == 0:
        assert expected == 199
    if interval == 1 << 20:
        assert expected == 0
    # whatever the interval, every offset is still found
    for offset in (0, 57, 199):
        assert next(iter_batches(log.read(offset, 1 << 20))).base_offset == offset
    log.close()
