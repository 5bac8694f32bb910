"""One writer per partition directory, enforced with an advisory ``flock``.

``flock`` belongs to the open file, so the kernel releases it when the holder dies
however it dies (SIGKILL included): a restarted actor never finds a stale lock,
and a duplicated one gets ``LogLockedError`` instead of interleaving writes.
"""

from __future__ import annotations

import fcntl
import os

from .errors import LogLockedError

LOCK_FILE = ".lock"


class DirectoryLock:
    def __init__(self, directory: str):
        self.path = os.path.join(directory, LOCK_FILE)
        self._fd: int | None = None

    def acquire(self) -> "DirectoryLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise LogLockedError(
                f"{os.path.dirname(self.path)} is already open for writing (holder pid {holder}); "
                "only one process may write a partition directory"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None
