"""Leader-epoch cache: which leader epoch began at which offset (Kafka's KIP-101/279).

Offsets alone cannot tell a follower whether its tail is the same history as the new
leader's: after an unclean failover two replicas may hold *different* batches at the
same offsets. Each leader stamps its epoch into every batch it appends, and each
replica keeps ``epoch -> first offset``. A follower asks the leader for the end
offset of its own latest epoch and truncates to that before fetching, so diverging
tails are cut instead of silently kept (``truncation_offset``).

Persisted as ``leader-epoch-checkpoint`` (``storage.checkpoint`` format, lines of
``epoch start_offset``), rewritten atomically whenever the cache changes.
"""

from __future__ import annotations

import bisect
import logging

from .checkpoint import read_checkpoint, write_checkpoint

UNDEFINED_EPOCH = -1
UNDEFINED_OFFSET = -1
CHECKPOINT_FILE = "leader-epoch-checkpoint"

log = logging.getLogger(__name__)


class LeaderEpochCache:
    def __init__(self, path: str | None, entries: list[tuple[int, int]] | None = None):
        self.path = path
        self._epochs: list[int] = []
        self._offsets: list[int] = []
        for epoch, offset in entries or []:
            self._epochs.append(epoch)
            self._offsets.append(offset)

    @classmethod
    def load(cls, path: str) -> "LeaderEpochCache":
        """Read the checkpoint; ``CorruptCheckpointError`` if it does not parse."""
        entries = read_checkpoint(path, 2) or []
        cache = cls(path)
        for epoch, offset in entries:
            cache._assign_in_memory(epoch, offset)
        return cache

    def entries(self) -> list[tuple[int, int]]:
        return list(zip(self._epochs, self._offsets))

    @property
    def latest_epoch(self) -> int:
        return self._epochs[-1] if self._epochs else UNDEFINED_EPOCH

    def _assign_in_memory(self, epoch: int, start_offset: int) -> bool:
        if epoch < 0:
            return False
        if self._epochs and (epoch <= self._epochs[-1] or start_offset < self._offsets[-1]):
            if epoch < self._epochs[-1] or start_offset < self._offsets[-1]:
                log.warning(
                    "ignoring epoch %d at offset %d: cache already ends at epoch %d offset %d",
                    epoch, start_offset, self._epochs[-1], self._offsets[-1],
                )
            return False
        # an older epoch starting at this very offset never got a record: the new one replaces it
        while self._offsets and self._offsets[-1] == start_offset:
            self._epochs.pop()
            self._offsets.pop()
        self._epochs.append(epoch)
        self._offsets.append(start_offset)
        return True

    def assign(self, epoch: int, start_offset: int) -> None:
        """Record that ``epoch`` starts at ``start_offset`` (a no-op unless it is a newer epoch)."""
        if self._assign_in_memory(epoch, start_offset):
            self._persist()

    def end_offset_for(self, requested_epoch: int, log_end_offset: int) -> tuple[int, int]:
        """Kafka's ``OffsetsForLeaderEpoch`` answer: ``(epoch, end offset)``.

        The end offset of an epoch is the start of the next larger epoch (or the log
        end for the latest). An epoch this cache never saw answers with the largest
        epoch below it; one older than all entries answers ``(requested, first start)``;
        one newer than all answers undefined.
        """
        if requested_epoch == UNDEFINED_EPOCH or not self._epochs:
            return UNDEFINED_EPOCH, UNDEFINED_OFFSET
        if requested_epoch == self._epochs[-1]:
            return requested_epoch, log_end_offset
        higher = bisect.bisect_right(self._epochs, requested_epoch)
        if higher == len(self._epochs):
            return UNDEFINED_EPOCH, UNDEFINED_OFFSET
        if higher == 0:
            return requested_epoch, self._offsets[0]
        return self._epochs[higher - 1], self._offsets[higher]

    def rebuild(self, epoch_offsets) -> None:
        """Recreate the cache from ``(epoch, base offset)`` of every batch, in log order."""
        self._epochs.clear()
        self._offsets.clear()
        for epoch, offset in epoch_offsets:
            self._assign_in_memory(epoch, offset)
        self._persist()

    def truncate_from_end(self, end_offset: int) -> None:
        """Forget epochs that start at or after ``end_offset`` (the log was truncated there)."""
        i = bisect.bisect_left(self._offsets, end_offset)
        if i < len(self._offsets):
            del self._epochs[i:], self._offsets[i:]
            self._persist()

    def truncate_from_start(self, start_offset: int) -> None:
        """Forget history below ``start_offset``; the epoch covering it now starts there."""
        i = bisect.bisect_right(self._offsets, start_offset)
        if i == 0:
            return
        changed = i > 1 or self._offsets[0] != start_offset
        del self._epochs[: i - 1], self._offsets[: i - 1]
        self._offsets[0] = start_offset
        if changed:
            self._persist()

    def clear(self) -> None:
        self._epochs.clear()
        self._offsets.clear()
        self._persist()

    def _persist(self) -> None:
        if self.path is not None:
            write_checkpoint(self.path, self.entries())


def truncation_offset(
    follower: LeaderEpochCache, follower_log_end: int, leader_epoch: int, leader_end_offset: int
) -> int | None:
    """Where a follower truncates after asking the leader about its latest epoch.

    ``leader_epoch``/``leader_end_offset`` is the leader's ``end_offset_for`` answer to
    ``follower.latest_epoch``. ``None`` means the leader could not tell (undefined
    epoch): fall back to the high watermark. When the leader answers with an older
    epoch than the follower asked about (it never saw the follower's latest epoch),
    the follower's own end of that older epoch bounds the cut too (KIP-279).

    One round is not always enough: when the leader answers with an epoch the
    follower never had, the follower truncates, asks again about its new latest
    epoch, and repeats until the leader's answer names an epoch the follower holds.
    """
    if leader_epoch == UNDEFINED_EPOCH or leader_end_offset == UNDEFINED_OFFSET:
        return None
    cut = min(leader_end_offset, follower_log_end)
    if leader_epoch < follower.latest_epoch:
        _, own_end = follower.end_offset_for(leader_epoch, follower_log_end)
        if own_end != UNDEFINED_OFFSET:
            cut = min(cut, own_end)
    return cut
