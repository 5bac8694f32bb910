"""Session-wide guard: no process a test started may outlive the test session.

Integration tests start real clusters (real processes, sockets and files). Each
fixture stops what it started even when the test fails; this guard then proves it
with psutil, so an orphaned actor fails the run instead of lingering on CI.

An orphan is exactly the process a plain walk of this process's descendants cannot
see: when its parent dies the kernel re-parents it to the nearest *subreaper*, or
to PID 1. So the guard looks three ways:

* this process is made a child subreaper (``prctl(PR_SET_CHILD_SUBREAPER)``) at
  import, so every orphan of the session is re-parented here and stays a
  descendant;
* every process on the machine whose command line, working directory or open
  files lie under the session's temp base directory (pytest's
  ``getbasetemp()``, where every test cluster keeps its data);
* every process whose environment carries this session's marker
  (``ZAFKA_TEST_SESSION``, set at import and inherited by every process the
  session starts, however it was forked or exec'd).

The shared multiprocessing forkserver and resource tracker of this process live as
long as the session and are skipped; the forkserver's children (the actors) are not.
Zombies are not processes that outlive anything and are skipped; the zombies of
adopted orphans (nobody else will ever wait for them) are reaped here.
"""

from __future__ import annotations

import ctypes
import gc
import multiprocessing.forkserver
import multiprocessing.process
import multiprocessing.resource_tracker
import os
import subprocess
import sys
import uuid

import psutil
import pytest

PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37
SESSION_ENV = "ZAFKA_TEST_SESSION"
# "<pid>-<random>": a pytest run inside a test gets its own mark, not its parent session's
_inherited = os.environ.get(SESSION_ENV, "")
SESSION_MARK = _inherited if _inherited.startswith(f"{os.getpid()}-") else f"{os.getpid()}-{uuid.uuid4().hex}"


def _become_subreaper() -> bool:
    """Make this process adopt the orphans of its descendants (Linux >= 3.4)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def is_subreaper() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    flag = ctypes.c_int(0)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    return bool(flag.value)


# at import, before any test (or the forkserver) starts a process
SUBREAPER = _become_subreaper()
os.environ[SESSION_ENV] = SESSION_MARK

_basetemp: str | None = None  # set by the session fixture below, before the first test


def session_basetemp() -> str | None:
    return _basetemp


def _forkserver_pid() -> int | None:
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    return getattr(server, "_forkserver_pid", None)


def _resource_tracker_pid() -> int | None:
    tracker = getattr(multiprocessing.resource_tracker, "_resource_tracker", None)
    return getattr(tracker, "_pid", None)


def _shared_helper(p: psutil.Process) -> bool:
    """This session's forkserver or a resource tracker: they live as long as the session."""
    if p.pid in (_forkserver_pid(), _resource_tracker_pid()):
        return True
    return "resource_tracker" in " ".join(p.cmdline())


def _under(path: str, base: str) -> bool:
    return path == base or path.startswith(base + os.sep)


def _mentions(text: str, base: str) -> bool:
    """``text`` names ``base`` or a path below it (not merely a longer sibling such as ``pytest-12``)."""
    start = text.find(base)
    while start >= 0:
        end = start + len(base)
        if end == len(text) or text[end] in (os.sep, " ", '"', "'", ",", ":", ";"):
            return True
        start = text.find(base, start + 1)
    return False


def processes_marked(base: str | None, mark: str | None = SESSION_MARK) -> list[psutil.Process]:
    """Every process on the machine (but this one) that carries ``mark`` in its environment, or whose
    command line, working directory or open files lie under ``base``."""
    me = os.getpid()
    try:  # the shell or `timeout` that runs pytest may name the temp dir too: never one of ours
        ancestors = {p.pid for p in psutil.Process(me).parents()}
    except psutil.Error:
        ancestors = set()
    bases = {base, os.path.realpath(base)} if base else set()
    checks = [lambda p: p.environ().get(SESSION_ENV) == mark] if mark else []
    if bases:
        checks += [
            lambda p: any(_mentions(arg, b) for arg in p.cmdline() for b in bases),
            lambda p: any(_under(os.path.realpath(p.cwd()), b) for b in bases),
            lambda p: any(_under(f.path, b) for f in p.open_files() for b in bases),
        ]
    found = []
    for p in psutil.process_iter():
        if p.pid == me or p.pid in ancestors:
            continue
        for check in checks:
            try:
                if check(p):
                    found.append(p)
                    break
            except (psutil.Error, OSError):
                continue  # gone, a zombie, or not ours to read
    return found


def _children_someone_waits_for() -> set[int]:
    """Direct children that a Popen or multiprocessing object of this process will wait for."""
    known = {pid for pid in (_forkserver_pid(), _resource_tracker_pid()) if pid}
    for proc in list(getattr(multiprocessing.process, "_children", ())):
        if getattr(proc, "pid", None):
            known.add(proc.pid)
    for popen in list(getattr(subprocess, "_active", None) or ()):
        known.add(getattr(popen, "pid", None))
    for obj in gc.get_objects():
        try:
            if isinstance(obj, subprocess.Popen) and obj.returncode is None:
                known.add(getattr(obj, "pid", None))  # no pid yet while it is being started
        except Exception:  # noqa: BLE001 - an odd object in the heap is no Popen
            continue
    return known


def reap_adopted_zombies() -> list[int]:
    """``waitpid`` the zombies of orphans this subreaper adopted; nobody else ever will.

    Only zombies no Popen/multiprocessing object of this process owns are reaped, so
    nobody's ``wait()`` loses its exit status.
    """
    try:
        zombies = [c.pid for c in psutil.Process().children() if c.status() == psutil.STATUS_ZOMBIE]
    except psutil.Error:
        return []
    if not zombies:
        return []
    known = _children_someone_waits_for()
    reaped = []
    for pid in zombies:
        if pid in known:
            continue
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                reaped.append(pid)
        except ChildProcessError:
            pass
    return reaped


def project_processes() -> list[psutil.Process]:
    """Every live process this session started and that still runs, except the shared helpers.

    Descendants of this process (orphans included: it is their subreaper), plus any
    process elsewhere that carries the session's marker or touches its temp directory.
    """
    reap_adopted_zombies()
    candidates: dict[int, psutil.Process] = {}
    try:
        for p in psutil.Process(os.getpid()).children(recursive=True):
            candidates[p.pid] = p
    except psutil.Error:
        pass
    for p in processes_marked(session_basetemp()):
        candidates.setdefault(p.pid, p)
    out = []
    for p in candidates.values():
        try:
            if p.status() == psutil.STATUS_ZOMBIE or _shared_helper(p):
                continue
        except psutil.Error:
            continue
        out.append(p)
    return sorted(out, key=lambda p: p.pid)


def reap(deadline_s: float = 10.0) -> list[str]:
    """Wait for stray processes to go; kill and name the ones that do not."""
    procs = project_processes()
    _, alive = psutil.wait_procs(procs, timeout=deadline_s)
    names = []
    for p in alive:
        try:
            names.append(f"{p.pid} {' '.join(p.cmdline())[:120]}")
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=5)
    reap_adopted_zombies()
    return names


@pytest.fixture(scope="session", autouse=True)
def no_orphan_processes(tmp_path_factory):
    global _basetemp
    _basetemp = str(tmp_path_factory.getbasetemp())
    yield
    leftovers = reap()
    assert not leftovers, f"processes outlived the test session: {leftovers}"
