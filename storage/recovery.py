"""Crash recovery of one segment: re-validate, truncate the torn tail, rebuild indexes.

One function with one job, as Kafka's ``LogSegment.recover``: read every batch of
the segment from the start, check its length, magic, CRC and that offsets only
grow, rebuild both indexes from what passes, and cut the file at the first batch
that does not. Returns how many bytes were cut, so the log can drop any later
segments (they would follow a hole) and say what it lost.
"""

from __future__ import annotations

import logging

from .errors import CorruptRecordError
from .segment import LogSegment

log = logging.getLogger(__name__)


def recover_segment(segment: LogSegment) -> int:
    segment.reset_tracking()
    valid_end = 0
    reason = "torn batch at end of file"
    try:
        for position, batch in segment.scan_batches(0):
            batch.validate()
            if batch.base_offset < segment.next_offset:
                raise CorruptRecordError(
                    f"batch at position {position} starts at offset {batch.base_offset}, "
                    f"below the previous batch's next offset {segment.next_offset}"
                )
            segment.track(batch.base_offset, batch.next_offset, batch.max_timestamp, position, batch.size)
            valid_end = position + batch.size
    except CorruptRecordError as exc:
        reason = str(exc)
    cut = segment.size - valid_end
    if cut:
        log.warning(
            "recovery of %s: truncating %d bytes at position %d (offset %d): %s",
            segment.log_path, cut, valid_end, segment.next_offset, reason,
        )
        segment.truncate_bytes(valid_end)
    segment.offset_index.rewrite()
    segment.time_index.rewrite()
    return cut
