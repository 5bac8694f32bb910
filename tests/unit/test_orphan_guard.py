"""The session's orphan guard (tests/conftest.py) sees the processes it exists for.

An orphan — a process whose parent died — is re-parented by the kernel, so a walk of
the test process's descendants alone misses it. These tests make real orphans with a
double fork (the middle process exits at once) and check that the guard finds them:
as adopted children of the session (it is a child subreaper), and by the machine-wide
scan for the session's marker and temp directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil
import pytest

from tests import conftest as guard

# argv[1]: how the orphan touches the temp dir ("cwd", "file", "argv", "none"); the temp dir
# comes in $ORPHAN_BASE, so only the "argv" orphan names it on its command line.
# The middle process forks the orphan and exits at once; the top process reports the
# orphan's pid on stdout and exits too. The orphan's stdio is closed so that reading
# the top process's output does not wait for it.
ORPHAN_MAKER = r"""
import os, sys, time
how, base = sys.argv[1], os.environ["ORPHAN_BASE"]
r, w = os.pipe()
middle = os.fork()
if middle == 0:
    if os.fork() == 0:
        os.close(r)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        if how == "cwd":
            os.chdir(base)
        else:
            os.chdir("/")
        held = open(os.path.join(base, "held-open"), "w") if how == "file" else None
        os.write(w, str(os.getpid()).encode())
        os.close(w)
        time.sleep(120)  # the orphan's whole life; the test kills it long before
        os._exit(0)
    os._exit(0)  # the middle dies at once: its child is an orphan
os.close(w)
os.waitpid(middle, 0)
print(os.read(r, 32).decode(), flush=True)
"""


def poll_until(condition, timeout: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def make_orphan(tmp_path, orphans: list, how: str = "cwd", env: dict | None = None) -> int:
    """Start an orphan (its parent is dead when this returns), hand it to ``orphans``, return its pid."""
    extra = [str(tmp_path / "argv-mention")] if how == "argv" else []
    env = {**(os.environ if env is None else env), "ORPHAN_BASE": str(tmp_path)}
    top = subprocess.run(
        [sys.executable, "-c", ORPHAN_MAKER, how, *extra], capture_output=True, text=True, timeout=30, env=env,
    )
    assert top.returncode == 0, top.stderr
    pid = int(top.stdout)
    orphans.append(psutil.Process(pid))
    return pid


@pytest.fixture
def orphans():
    """Orphans a test made (psutil handles, so a reused pid is never hit); each is killed and
    reaped at teardown, pass or fail."""
    procs: list[psutil.Process] = []
    yield procs
    killed = []
    for p in procs:
        try:
            p.kill()
            killed.append(p)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(killed, timeout=10)
    assert not alive, f"orphans survived SIGKILL: {alive}"


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_the_test_session_is_a_child_subreaper():
    assert guard.SUBREAPER and guard.is_subreaper()


def test_an_orphan_is_re_parented_to_the_test_session(tmp_path, orphans):
    pid = make_orphan(tmp_path, orphans)
    # the middle process is gone, so the kernel has already re-parented the orphan
    assert psutil.Process(pid).ppid() == os.getpid()
    assert pid in {p.pid for p in psutil.Process().children()}


def test_project_processes_finds_an_orphan_and_reap_kills_it(tmp_path, orphans):
    pid = make_orphan(tmp_path, orphans)
    assert pid in {p.pid for p in guard.project_processes()}, "the guard cannot see an orphan"
    killed = guard.reap(deadline_s=0.2)  # the orphan sleeps: it is killed and named
    assert any(line.startswith(f"{pid} ") for line in killed), killed
    poll_until(lambda: not _alive(pid), what="the orphan to die")
    assert pid not in {p.pid for p in guard.project_processes()}


@pytest.mark.parametrize("how", ["cwd", "file", "argv"])
def test_the_machine_wide_scan_finds_a_process_by_the_session_temp_dir(tmp_path, orphans, how):
    # the scan looks at every process, not this one's descendants: no marker, only the temp dir
    env = {k: v for k, v in os.environ.items() if k != guard.SESSION_ENV}
    pid = make_orphan(tmp_path, orphans, how, env=env)
    if how == "file":
        poll_until(lambda: any(f.path.endswith("held-open") for f in psutil.Process(pid).open_files()),
                   what="the orphan to open its file")
    assert pid in {p.pid for p in guard.processes_marked(str(tmp_path), mark=None)}
    # a sibling directory whose name merely starts with the same text is not the temp dir
    assert pid not in {p.pid for p in guard.processes_marked(str(tmp_path) + "x", mark=None)}


def test_the_machine_wide_scan_finds_a_process_by_the_session_marker(tmp_path, orphans):
    pid = make_orphan(tmp_path, orphans, "none")  # touches no temp path; inherits the session's environment
    assert psutil.Process(pid).environ().get(guard.SESSION_ENV) == guard.SESSION_MARK
    assert pid in {p.pid for p in guard.processes_marked(None)}
    assert pid not in {p.pid for p in guard.processes_marked(None, mark="some-other-session")}


def test_zombies_of_adopted_orphans_are_reaped_but_not_those_someone_waits_for(tmp_path, orphans):
    mine = subprocess.Popen([sys.executable, "-c", "pass"])
    poll_until(lambda: psutil.Process(mine.pid).status() == psutil.STATUS_ZOMBIE, what="the child to exit")
    pid = make_orphan(tmp_path, orphans)
    psutil.Process(pid).kill()
    poll_until(lambda: psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, what="the orphan's zombie")
    assert pid in guard.reap_adopted_zombies()
    assert not psutil.pid_exists(pid)
    # the Popen child's exit status is still there for its owner
    assert mine.wait(5) == 0


@pytest.mark.parametrize(
    "text, expected",
    [
        ("/tmp/pytest-of-u/pytest-1", True),
        ("/tmp/pytest-of-u/pytest-1/test_x0/data", True),
        ("--data-dir=/tmp/pytest-of-u/pytest-1/x", True),
        ("/tmp/pytest-of-u/pytest-12/test_x0", False),
        ("/tmp/pytest-of-u/pytest-1x", False),
    ],
)
def test_mentions_matches_the_directory_and_below_only(text, expected):
    assert guard._mentions(text, "/tmp/pytest-of-u/pytest-1") is expected
