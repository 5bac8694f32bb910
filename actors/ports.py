"""Loopback ports for actors, chosen outside the kernel's ephemeral range.

An actor keeps its port across restarts, so the port must stay free while the
actor is down (and between the supervisor choosing it and the actor binding it).
A port from the ephemeral range (what ``bind(port 0)`` hands out) is exactly
what the kernel also gives every outgoing TCP connection — a client's, another
test's — so one can take it in that gap and the actor then fails to bind,
restart after restart. Ports below the ephemeral range are never taken by an
outgoing connection; only an explicit bind can hold one, and the check here sees
that.
"""

from __future__ import annotations

import random
import socket

EPHEMERAL_RANGE_FILE = "/proc/sys/net/ipv4/ip_local_port_range"
LOWEST_PORT = 10000  # below this live the well-known and registered services people run
MIN_SPAN = 1000  # fewer free-range ports than this: fall back to the kernel's choice


def ephemeral_range(path: str = EPHEMERAL_RANGE_FILE) -> tuple[int, int] | None:
    """The kernel's ephemeral port range, or None where it cannot be read (not Linux)."""
    try:
        with open(path, encoding="ascii") as f:
            low, high = (int(v) for v in f.read().split()[:2])
    except (OSError, ValueError):
        return None
    return low, high


def listen_range(ephemeral: tuple[int, int] | None) -> tuple[int, int] | None:
    """The ports to choose actors' ports from: the widest stretch outside ``ephemeral``
    (None: too little room, let the kernel choose)."""
    if ephemeral is None:
        return None
    low, high = ephemeral
    stretches = [(LOWEST_PORT, low - 1), (high + 1, 65535)]
    start, end = max(stretches, key=lambda s: s[1] - s[0])
    return (start, end) if end - start + 1 >= MIN_SPAN else None


class PortAllocator:
    """Free loopback ports, each handed out once and kept by its actor across restarts."""

    def __init__(self, host: str, port_range: tuple[int, int] | None | str = "auto", rng: random.Random | None = None):
        self.host = host
        self.used: set[int] = set()
        self.range = listen_range(ephemeral_range()) if port_range == "auto" else port_range
        self._rng = rng or random.Random()

    def _free(self, port: int) -> int | None:
        """``port`` if nothing holds it now (0: the kernel's choice, returned)."""
        with socket.socket() as s:
            try:
                s.bind((self.host, port))
            except OSError:
                return None
            return s.getsockname()[1]

    def take(self) -> int:
        for _ in range(200 if self.range else 0):
            port = self._free(self._rng.randint(*self.range))
            if port is not None and port not in self.used:
                self.used.add(port)
                return port
        while True:  # no usable range, or it is crowded: the kernel's choice, as before
            port = self._free(0)
            if port is not None and port not in self.used:
                self.used.add(port)
                return port
