"""A bound on how much one noisy peer can write into an actor's log.

Every refused request is logged with its type so an operator can see what was
sent — but a peer that sends garbage in a loop must not fill the disk with the
same line. ``LogLimit`` lets the first ``burst`` lines of each window through and
then counts, saying how many it held back once the window turns over. Pure: the
caller passes the clock, so tests drive it directly.
"""

from __future__ import annotations

import logging


class LogLimit:
    def __init__(self, logger: logging.Logger, burst: int = 20, window_s: float = 10.0):
        self.logger = logger
        self.burst = burst
        self.window_s = window_s
        self._window_start = float("-inf")
        self._count = 0
        self.suppressed = 0  # held back in the current window

    def allow(self, now: float) -> bool:
        """True when a line may be written at ``now``; reports what the last window held back."""
        if now - self._window_start >= self.window_s:
            if self.suppressed:
                self.logger.warning("%d more refused requests were not logged in the last %.0f s",
                                    self.suppressed, self.window_s)
            self._window_start = now
            self._count = 0
            self.suppressed = 0
        if self._count < self.burst:
            self._count += 1
            return True
        self.suppressed += 1
        return False

    def log(self, now: float, level: int, message: str, *args, exc_info=None) -> None:
        if self.allow(now):
            self.logger.log(level, message, *args, exc_info=exc_info)
