"""Session-wide guard: no process a test started may outlive the test session.

Integration tests start real clusters (real processes, sockets and files). Each
fixture stops what it started even when the test fails; this guard then proves it
with psutil, so an orphaned actor fails the run instead of lingering on CI.
"""

from __future__ import annotations

import multiprocessing.forkserver
import os

import psutil
import pytest


def _forkserver_pid() -> int | None:
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    return getattr(server, "_forkserver_pid", None)


def project_processes() -> list[psutil.Process]:
    """Descendants of this test process, except the shared multiprocessing forkserver."""
    me = psutil.Process(os.getpid())
    skip = {_forkserver_pid()}
    out = []
    for p in me.children(recursive=True):
        try:
            if p.pid in skip or p.status() == psutil.STATUS_ZOMBIE:
                continue
            if "resource_tracker" in " ".join(p.cmdline()):
                continue
        except psutil.Error:
            continue
        out.append(p)
    return out


def reap(deadline_s: float = 10.0) -> list[str]:
    """Wait for stray descendants to go; kill and name the ones that do not."""
    procs = project_processes()
    _, alive = psutil.wait_procs(procs, timeout=deadline_s)
    names = []
    for p in alive:
        try:
            names.append(f"{p.pid} {' '.join(p.cmdline())[:120]}")
            p.kill()
        except psutil.Error:
            pass
    return names


@pytest.fixture(scope="session", autouse=True)
def no_orphan_processes():
    yield
    leftovers = reap()
    assert not leftovers, f"processes outlived the test session: {leftovers}"
