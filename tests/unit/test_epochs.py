"""Unit tests of storage.epochs: the leader-epoch cache and KIP-101/279 truncation.

Expected answers follow Kafka's LeaderEpochFileCache and
AbstractFetcherThread.getOffsetTruncationState, worked out by hand for each case;
the scenario tests model replica logs as plain lists of per-offset epochs so the
true divergence point is computed independently of the cache.
"""

from __future__ import annotations

import os

import pytest

from storage.checkpoint import CorruptCheckpointError
from storage.epochs import CHECKPOINT_FILE, LeaderEpochCache, truncation_offset


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / CHECKPOINT_FILE)


def text(path: str) -> str:
    with open(path, encoding="ascii") as f:
        return f.read()


def cache_with(path, *entries) -> LeaderEpochCache:
    cache = LeaderEpochCache(path)
    for epoch, offset in entries:
        cache.assign(epoch, offset)
    return cache


# -- assign and persistence ---------------------------------------------------------


def test_checkpoint_file_name_is_kafkas():
    assert CHECKPOINT_FILE == "leader-epoch-checkpoint"


def test_assign_appends_newer_epochs_and_persists_in_kafka_format(path):
    cache = LeaderEpochCache(path)
    cache.assign(0, 0)
    assert text(path) == "0\n1\n0 0\n"
    cache.assign(2, 10)
    cache.assign(5, 37)
    assert cache.entries() == [(0, 0), (2, 10), (5, 37)]
    assert cache.latest_epoch == 5
    assert text(path) == "0\n3\n0 0\n2 10\n5 37\n"


def test_assign_same_epoch_is_a_no_op(path):
    cache = cache_with(path, (0, 0), (3, 10))
    before = text(path)
    cache.assign(3, 25)  # later batch of the same epoch
    cache.assign(3, 10)
    assert cache.entries() == [(0, 0), (3, 10)]
    assert text(path) == before


def test_assign_older_epoch_is_ignored(path):
    cache = cache_with(path, (0, 0), (3, 10))
    cache.assign(2, 30)
    cache.assign(0, 40)
    assert cache.entries() == [(0, 0), (3, 10)]
    assert cache.latest_epoch == 3
    assert text(path) == "0\n2\n0 0\n3 10\n"


def test_assign_undefined_epoch_is_ignored(path):
    cache = LeaderEpochCache(path)
    cache.assign(-1, 0)
    assert cache.entries() == []
    assert cache.latest_epoch == -1
    assert not os.path.exists(path)


def test_empty_cache_has_undefined_latest_epoch():
    assert LeaderEpochCache(None).latest_epoch == -1


def test_cache_without_path_keeps_entries_in_memory_only(tmp_path):
    cache = LeaderEpochCache(None)
    cache.assign(1, 0)
    cache.assign(2, 5)
    assert cache.entries() == [(1, 0), (2, 5)]
    assert os.listdir(tmp_path) == []


def test_entries_returns_a_copy(path):
    cache = cache_with(path, (1, 0))
    cache.entries().append((9, 99))
    assert cache.entries() == [(1, 0)]


# -- load ---------------------------------------------------------------------------


def test_load_round_trips_what_assign_wrote(path):
    cache_with(path, (0, 0), (1, 4), (4, 100), (7, 2_000_000_000_000))
    loaded = LeaderEpochCache.load(path)
    assert loaded.entries() == [(0, 0), (1, 4), (4, 100), (7, 2_000_000_000_000)]
    assert loaded.latest_epoch == 7
    assert loaded.path == path


def test_load_reads_a_kafka_written_checkpoint(path):
    with open(path, "w") as f:
        f.write("0\n2\n3 0\n6 150\n")
    loaded = LeaderEpochCache.load(path)
    assert loaded.entries() == [(3, 0), (6, 150)]
    assert loaded.end_offset_for(3, 200) == (3, 150)


def test_load_missing_file_gives_an_empty_cache(path):
    loaded = LeaderEpochCache.load(path)
    assert loaded.entries() == []
    assert loaded.latest_epoch == -1


def test_loaded_cache_keeps_persisting_to_the_same_file(path):
    cache_with(path, (0, 0))
    loaded = LeaderEpochCache.load(path)
    loaded.assign(1, 9)
    assert text(path) == "0\n2\n0 0\n1 9\n"


@pytest.mark.parametrize("content", ["garbage", "0\n2\n1 0\n", "0\n1\n1\n", "7\n0\n"])
def test_load_corrupt_checkpoint_raises(path, content):
    with open(path, "w") as f:
        f.write(content)
    with pytest.raises(CorruptCheckpointError):
        LeaderEpochCache.load(path)


# -- end_offset_for -----------------------------------------------------------------

# epochs 2 @ 5, 3 @ 10, 6 @ 20; log end 30
ENTRIES = [(2, 5), (3, 10), (6, 20)]
LEO = 30


@pytest.mark.parametrize(
    "requested, expected",
    [
        (6, (6, 30)),  # latest epoch -> log end
        (3, (3, 20)),  # known epoch -> start of the next
        (2, (2, 10)),
        (4, (3, 20)),  # unknown, between 3 and 6 -> largest below, start of next
        (5, (3, 20)),
        (1, (1, 5)),  # older than all -> (requested, first start)
        (0, (0, 5)),
        (7, (-1, -1)),  # newer than all -> undefined
        (100, (-1, -1)),
        (-1, (-1, -1)),  # undefined request
    ],
)
def test_end_offset_for_follows_kafkas_rules(requested, expected):
    cache = LeaderEpochCache(None, ENTRIES)
    assert cache.end_offset_for(requested, LEO) == expected


def test_end_offset_for_on_empty_cache_is_undefined():
    cache = LeaderEpochCache(None)
    for epoch in (-1, 0, 5):
        assert cache.end_offset_for(epoch, 10) == (-1, -1)


def test_end_offset_for_latest_epoch_tracks_the_log_end():
    cache = LeaderEpochCache(None, [(0, 0)])
    assert cache.end_offset_for(0, 0) == (0, 0)
    assert cache.end_offset_for(0, 1234) == (0, 1234)


# -- truncation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "end, expected",
    [
        (30, [(1, 0), (3, 10), (5, 20)]),  # nothing starts at or after 30
        (21, [(1, 0), (3, 10), (5, 20)]),
        (20, [(1, 0), (3, 10)]),  # epoch 5 started exactly at the cut
        (15, [(1, 0), (3, 10)]),
        (10, [(1, 0)]),
        (1, [(1, 0)]),
        (0, []),
    ],
)
def test_truncate_from_end_forgets_epochs_starting_at_or_after_the_cut(path, end, expected):
    cache = cache_with(path, (1, 0), (3, 10), (5, 20))
    cache.truncate_from_end(end)
    assert cache.entries() == expected
    assert text(path) == f"0\n{len(expected)}\n" + "".join(f"{e} {o}\n" for e, o in expected)


def test_truncate_from_end_then_assign_a_new_epoch_at_the_cut(path):
    cache = cache_with(path, (1, 0), (3, 10))
    cache.truncate_from_end(10)
    cache.assign(4, 10)
    assert cache.entries() == [(1, 0), (4, 10)]
    assert LeaderEpochCache.load(path).entries() == [(1, 0), (4, 10)]


@pytest.mark.parametrize(
    "start, expected",
    [
        (0, [(1, 2), (3, 10), (5, 20)]),  # below the first entry: nothing to forget
        (2, [(1, 2), (3, 10), (5, 20)]),  # exactly the first start
        (4, [(1, 4), (3, 10), (5, 20)]),  # covering epoch 1 now starts at 4
        (10, [(3, 10), (5, 20)]),
        (15, [(3, 15), (5, 20)]),
        (20, [(5, 20)]),
        (99, [(5, 99)]),  # the latest epoch covers everything above its start
    ],
)
def test_truncate_from_start_moves_the_covering_epochs_start_up(path, start, expected):
    cache = cache_with(path, (1, 2), (3, 10), (5, 20))
    cache.truncate_from_start(start)
    assert cache.entries() == expected
    assert LeaderEpochCache.load(path).entries() == expected


def test_truncate_from_start_keeps_end_offset_answers_above_the_new_start(path):
    cache = cache_with(path, (1, 0), (3, 10), (5, 20))
    cache.truncate_from_start(15)
    assert cache.end_offset_for(3, 40) == (3, 20)
    assert cache.end_offset_for(5, 40) == (5, 40)
    # epoch 1 is gone: now older than all entries -> (requested, first start)
    assert cache.end_offset_for(1, 40) == (1, 15)


def test_truncate_from_start_on_empty_cache_does_nothing(path):
    cache = LeaderEpochCache(path)
    cache.truncate_from_start(10)
    assert cache.entries() == []


def test_rebuild_from_batch_headers_keeps_first_offset_of_each_new_epoch(path):
    cache = cache_with(path, (9, 0))  # stale content is replaced
    batches = [(-1, 0), (0, 3), (0, 5), (0, 9), (2, 12), (2, 15), (5, 20), (5, 30)]
    cache.rebuild(iter(batches))
    assert cache.entries() == [(0, 3), (2, 12), (5, 20)]
    assert text(path) == "0\n3\n0 3\n2 12\n5 20\n"


def test_rebuild_from_no_batches_empties_the_cache_and_file(path):
    cache = cache_with(path, (1, 0), (2, 5))
    cache.rebuild([])
    assert cache.entries() == []
    assert text(path) == "0\n0\n"


def test_clear_empties_cache_and_file(path):
    cache = cache_with(path, (1, 0))
    cache.clear()
    assert cache.entries() == []
    assert LeaderEpochCache.load(path).entries() == []


# -- truncation_offset (KIP-101 / KIP-279) -------------------------------------------


def test_truncation_offset_leader_knows_followers_epoch_cuts_at_leaders_end():
    follower = LeaderEpochCache(None, [(0, 0), (1, 10)])
    # the leader has epoch 1 ending at 15 (then epoch 2 started)
    assert truncation_offset(follower, 20, 1, 15) == 15


def test_truncation_offset_never_above_the_followers_log_end():
    follower = LeaderEpochCache(None, [(0, 0), (1, 10)])
    assert truncation_offset(follower, 12, 1, 15) == 12


def test_truncation_offset_older_epoch_answer_is_bounded_by_followers_own_end_of_it():
    # follower: epoch 0 [0,10), epoch 1 [10,20). The leader never saw epoch 1 and
    # answers (0, 15): its epoch 0 runs to 15. The follower's epoch-1 records at
    # 10..14 are not the leader's epoch-0 records there, so cut at 10, not 15.
    follower = LeaderEpochCache(None, [(0, 0), (1, 10)])
    assert truncation_offset(follower, 20, 0, 15) == 10


def test_truncation_offset_older_epoch_answer_lower_than_followers_end_wins():
    follower = LeaderEpochCache(None, [(0, 0), (1, 10)])
    assert truncation_offset(follower, 20, 0, 8) == 8


@pytest.mark.parametrize("leader_epoch, leader_end", [(-1, -1), (-1, 15), (1, -1)])
def test_truncation_offset_undefined_answer_is_none(leader_epoch, leader_end):
    follower = LeaderEpochCache(None, [(0, 0), (1, 10)])
    assert truncation_offset(follower, 20, leader_epoch, leader_end) is None


# -- scenarios with two replicas ------------------------------------------------------


class Replica:
    """A replica as a plain list of per-offset epochs plus its epoch cache."""

    def __init__(self, path):
        self.log: list[int] = []
        self.cache = LeaderEpochCache(path)

    @property
    def leo(self) -> int:
        return len(self.log)

    def lead_append(self, epoch: int, count: int) -> None:
        self.cache.assign(epoch, self.leo)
        self.log += [epoch] * count

    def truncate(self, offset: int) -> None:
        del self.log[offset:]
        self.cache.truncate_from_end(offset)

    def replicate_from(self, leader: "Replica", upto: int | None = None) -> None:
        for offset in range(self.leo, leader.leo if upto is None else upto):
            self.cache.assign(leader.log[offset], offset)
            self.log.append(leader.log[offset])


def first_divergence(a: list[int], b: list[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def test_follower_truncates_divergent_tail_after_leader_change(tmp_path):
    a = Replica(str(tmp_path / "a-checkpoint"))
    b = Replica(str(tmp_path / "b-checkpoint"))
    # epoch 0: A leads, B replicates everything
    a.lead_append(0, 10)
    b.replicate_from(a)
    # epoch 1: A appends 5 records that never reach B, then A dies
    a.lead_append(1, 5)
    # epoch 2: B is elected and appends 10 records at the same offsets
    b.lead_append(2, 10)
    assert a.log[10:15] != b.log[10:15]  # same offsets, different history
    expected_cut = first_divergence(a.log, b.log)
    assert expected_cut == 10

    # A returns as follower: asks B about its latest epoch (1)
    leader_epoch, leader_end = b.cache.end_offset_for(a.cache.latest_epoch, b.leo)
    assert (leader_epoch, leader_end) == (0, 10)
    cut = truncation_offset(a.cache, a.leo, leader_epoch, leader_end)
    assert cut == expected_cut

    a.truncate(cut)
    a.replicate_from(b)
    assert a.log == b.log
    assert a.cache.entries() == b.cache.entries() == [(0, 0), (2, 10)]
    # and the follower's persisted cache says the same
    assert LeaderEpochCache.load(a.cache.path).entries() == [(0, 0), (2, 10)]


def test_follower_with_no_divergence_keeps_its_whole_log(tmp_path):
    a = Replica(str(tmp_path / "a"))
    b = Replica(str(tmp_path / "b"))
    a.lead_append(0, 10)
    b.replicate_from(a)
    a.lead_append(1, 4)
    b.replicate_from(a)  # B has everything A wrote
    b.lead_append(2, 3)  # B leads epoch 2
    leader_epoch, leader_end = b.cache.end_offset_for(a.cache.latest_epoch, b.leo)
    assert (leader_epoch, leader_end) == (1, 14)
    assert truncation_offset(a.cache, a.leo, leader_epoch, leader_end) == a.leo == 14


def test_repeated_rounds_reach_the_divergence_when_the_leader_never_saw_the_followers_epoch(tmp_path):
    """KIP-279: the first answer names an epoch the follower never had, so the first
    cut is intermediate; asking again with the new latest epoch finds the real point."""
    a = Replica(str(tmp_path / "a"))
    b = Replica(str(tmp_path / "b"))
    c = Replica(str(tmp_path / "c"))
    # epoch 1: A leads and writes 0..9; B only gets 0..4
    a.lead_append(1, 10)
    b.replicate_from(a, upto=5)
    # epoch 2: B (unclean) writes 5..14; C replicates it
    b.lead_append(2, 10)
    c.replicate_from(b)
    # epoch 3: A (unclean) writes 10..19
    a.lead_append(3, 10)
    # epoch 4: C leads and writes 15..24
    c.lead_append(4, 10)
    expected_cut = first_divergence(a.log, c.log)
    assert expected_cut == 5

    cuts = []
    for _ in range(5):  # Kafka re-asks until the answer names an epoch the follower has
        leader_epoch, leader_end = c.cache.end_offset_for(a.cache.latest_epoch, c.leo)
        cut = truncation_offset(a.cache, a.leo, leader_epoch, leader_end)
        cuts.append(cut)
        a.truncate(cut)
        if a.cache.end_offset_for(leader_epoch, a.leo)[0] == leader_epoch:
            break
    assert cuts == [10, 5]
    assert a.leo == expected_cut
    a.replicate_from(c)
    assert a.log == c.log
    assert a.cache.entries() == c.cache.entries()
