"""The cluster fixtures' teardown: every cluster is stopped even when stopping one fails,
and the orphan guard sees a cluster's actors (children of the shared forkserver)."""

from __future__ import annotations

import psutil
import pytest

from tests import conftest as guard

from .conftest import stop_all


def running(pids: list[int]) -> list[int]:
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def actor_pids(sup) -> list[int]:
    return [a.pid for a in sup.actors(memory=False) if a.alive]


def test_the_guard_sees_every_actor_but_skips_the_shared_forkserver(make_cluster):
    sup = make_cluster(brokers=1)
    actors = set(actor_pids(sup))
    server = guard._forkserver_pid()
    assert server and all(psutil.Process(pid).ppid() == server for pid in actors)  # forked by it
    seen = {p.pid for p in guard.project_processes()}
    assert actors <= seen
    assert server not in seen
    tracker = guard._resource_tracker_pid()
    assert tracker is None or tracker not in seen
    sup.stop()
    assert not actors & {p.pid for p in guard.project_processes()}


def test_a_failing_stop_does_not_skip_the_other_clusters(make_cluster, monkeypatch):
    first = make_cluster(brokers=1)
    second = make_cluster(brokers=1)
    first_pids, second_pids = actor_pids(first), actor_pids(second)
    assert len(first_pids) >= 3 and len(second_pids) >= 3  # controller, broker, cleaner each

    def broken_stop():
        raise RuntimeError("stop failed on purpose")

    # teardown stops the newest cluster first: make that one fail
    monkeypatch.setattr(second, "stop", broken_stop)
    try:
        with pytest.raises(RuntimeError, match="stop failed on purpose") as info:
            stop_all([first, second])
        assert any(second.data_dir in note for note in getattr(info.value, "__notes__", []))
        assert running(first_pids) == [], "the cluster after the failing one was not stopped"
        assert not any(a.alive for a in first.actors(memory=False))
        assert running(second_pids) == second_pids  # the failure was real: nothing stopped it
    finally:
        monkeypatch.undo()
    stop_all([second])
    assert running(second_pids) == []


class FakeSupervisor:
    def __init__(self, name: str, calls: list[str], error: BaseException | None = None):
        self.data_dir = name
        self.calls = calls
        self.error = error

    def stop(self) -> None:
        self.calls.append(self.data_dir)
        if self.error is not None:
            raise self.error


def test_every_stop_is_tried_and_several_failures_are_all_reported():
    calls: list[str] = []
    sups = [
        FakeSupervisor("a", calls, ValueError("a broke")),
        FakeSupervisor("b", calls),
        FakeSupervisor("c", calls, OSError("c broke")),
    ]
    with pytest.raises(ExceptionGroup) as info:
        stop_all(sups)
    assert calls == ["c", "b", "a"]  # newest first, and none skipped
    assert sorted(str(e) for e in info.value.exceptions) == ["a broke", "c broke"]


def test_an_interrupt_while_stopping_still_stops_the_rest_then_propagates():
    calls: list[str] = []
    sups = [FakeSupervisor("a", calls), FakeSupervisor("b", calls, KeyboardInterrupt())]
    with pytest.raises(KeyboardInterrupt):
        stop_all(sups)
    assert calls == ["b", "a"]


def test_no_failure_raises_nothing():
    calls: list[str] = []
    stop_all([FakeSupervisor("a", calls), FakeSupervisor("b", calls)])
    assert calls == ["b", "a"]
