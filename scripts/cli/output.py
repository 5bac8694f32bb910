"""What ``zafka`` prints: tables, human units, progress dots and one-line errors."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterable, Sequence

PROG = "zafka"


class CommandError(Exception):
    """A failure the CLI itself detects; printed as ``zafka: error: <message>``."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


class UsageError(Exception):
    """Bad command-line usage (exit code 2), raised instead of argparse's print-and-exit.

    Defined here rather than in ``main``: under ``python -m scripts.cli.main`` that
    module runs as ``__main__`` and is imported a second time by the command
    modules, so a class defined in it would exist twice and escape ``except``.
    """


def error_message(exc: BaseException) -> str:
    """The text of an exception as one line (no traceback, no ``[Errno 2]`` noise)."""
    if isinstance(exc, OSError) and exc.strerror and len(exc.args) >= 2:
        text = exc.strerror
        if exc.filename is not None:
            text = f"{text}: {exc.filename}"
        if getattr(exc, "filename2", None) is not None:
            text = f"{text} -> {exc.filename2}"
    elif isinstance(exc, KeyError) and len(exc.args) == 1:
        text = str(exc.args[0])  # KeyError's str() adds quotes
    else:
        text = str(exc)
    if not text:
        text = type(exc).__name__
    return " ".join(part.strip() for part in text.splitlines() if part.strip()) or type(exc).__name__


def format_error(exc: BaseException | str) -> str:
    """``zafka: error: ...`` — exactly one line."""
    text = exc if isinstance(exc, str) else error_message(exc)
    text = " ".join(part.strip() for part in str(text).splitlines() if part.strip())
    return f"{PROG}: error: {text}"


def print_error(exc: BaseException | str, stream=None) -> None:
    stream = stream or sys.stderr
    try:
        stream.write(format_error(exc) + "\n")
        stream.flush()
    except (OSError, ValueError):
        pass


def warn(message: str, stream=None) -> None:
    stream = stream or sys.stderr
    stream.write(f"{PROG}: warning: {message}\n")
    stream.flush()


def info(message: str = "", stream=None) -> None:
    stream = stream or sys.stdout
    stream.write(message + "\n")
    stream.flush()


# -- tables -----------------------------------------------------------------------------

def table(rows: Iterable[Sequence[object]], headers: Sequence[str], right: Iterable[int] = ()) -> str:
    """A plain aligned table (two spaces between columns); ``right`` lists right-aligned columns."""
    right = set(right)
    text_rows = [[_cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in text_rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        out = []
        for i, cell in enumerate(cells):
            out.append(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]))
        return "  ".join(out).rstrip()

    return "\n".join([line(list(headers)), *(line(r) for r in text_rows)])


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(str(v) for v in value) if value else "-"
    return str(value)


# -- units ------------------------------------------------------------------------------

def mb(num_bytes: float, digits: int = 1) -> str:
    """Bytes as megabytes (MiB, as ``ps``/``top`` count memory)."""
    return f"{num_bytes / (1024 * 1024):.{digits}f}"


def human_bytes(num_bytes: float) -> str:
    """Decimal units (as disks are sold): 1.5 TB, 320.0 GB, 12 B."""
    value = float(num_bytes)
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(value) < 1000 or unit == "PB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1000
    return f"{value:.2f} EB"  # unreachable


def seconds(value: float) -> str:
    """A number of seconds as typed: ``0.001``, ``2.5``, ``60`` (``:.0f`` would print 0.001 as ``0``)."""
    return f"{value:g}"


def duration(seconds: float) -> str:
    """Uptime style: 45s, 3m12s, 2h05m, 3d04h."""
    s = int(max(seconds, 0))
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h{m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d{h:02d}h"


# -- progress ---------------------------------------------------------------------------

class Progress:
    """Print ``label`` and then a dot per second while a slow step runs.

    ``delay`` holds the label back so steps that finish quickly print nothing;
    ``enabled=None`` shows progress only on a terminal (piped output stays clean).
    ``wait(timeout) -> stopped`` is how the progress thread sleeps between dots; it
    is a parameter so tests can drive :meth:`run` with a fake clock instead of
    sleeping.
    """

    def __init__(self, label: str, *, stream=None, delay: float = 0.0, interval: float = 1.0,
                 enabled: bool | None = True, done: str = "", wait=None):
        self.label = label
        self.stream = stream or sys.stderr
        self.delay = delay
        self.interval = interval
        if enabled is None:
            try:
                enabled = self.stream.isatty()
            except (AttributeError, ValueError):
                enabled = False
        self.enabled = enabled
        self.done = done
        self._stop = threading.Event()
        self._wait = wait or self._stop.wait
        self._shown = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            pass

    def run(self) -> None:
        """The progress thread's loop: the label after ``delay``, then a dot every ``interval`` until stopped."""
        if self._wait(self.delay):
            return
        with self._lock:
            if self._stop.is_set():
                return
            self._write(self.label)
            self._shown = True
        while not self._wait(self.interval):
            with self._lock:
                if self._stop.is_set():
                    return
                self._write(".")

    def __enter__(self) -> "Progress":
        if self.enabled:
            self._thread = threading.Thread(target=self.run, name="progress", daemon=True)
            self._thread.start()
        return self

    def finish(self, done: str | None = None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
            self._thread = None
        with self._lock:
            if self._shown:
                text = self.done if done is None else done
                self._write((" " + text if text else "") + "\n")
                self._shown = False

    def __exit__(self, exc_type, *exc) -> None:
        self.finish(None if exc_type is None else "")


def wait_with_progress(condition, label: str, timeout: float, *, interval: float = 0.05,
                       stream=None, enabled: bool | None = True, done: str = "done") -> bool:
    """Poll ``condition`` until truthy (True) or ``timeout`` (False), dots meanwhile."""
    deadline = time.monotonic() + timeout
    with Progress(label, stream=stream, enabled=enabled, done=done) as progress:
        while True:
            if condition():
                return True
            if time.monotonic() >= deadline:
                progress.finish("timed out")
                return False
            time.sleep(interval)
