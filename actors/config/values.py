"""The value grammars of config keys: integers, booleans, listeners, and the one error type.

Each grammar is strict on purpose — a config file is read by people who copy lines
from Kafka's docs and by nobody who means Python — so a value either has exactly
one meaning or is refused with a one-line :class:`ConfigError` naming the key, the
value and what would have been accepted.
"""

from __future__ import annotations

import re

import msgspec

INT_MAX = 2**31 - 1  # Kafka INT / SHORT keys are Java ints / shorts
SHORT_MAX = 2**15 - 1
LONG_MAX = 2**63 - 1  # Kafka LONG keys


class ConfigError(ValueError):
    """A config key or value that cannot be used; the message is one line for the user.

    ``key``, ``value`` and ``allowed`` are kept so callers (the CLI, the wire
    ``InvalidConfig`` reply) need not parse the message.
    """

    def __init__(self, message: str, *, key: str | None = None, value: object = None, allowed: str | None = None):
        super().__init__(message)
        self.key = key
        self.value = value
        self.allowed = allowed

    @classmethod
    def invalid(cls, key: str, value: object, allowed: str) -> "ConfigError":
        return cls(f"invalid value {value!r} for {key}: expected {allowed}", key=key, value=value, allowed=allowed)


# -- integers ------------------------------------------------------------------------

_FACTOR = re.compile(r"[+-]?[0-9]+")  # ASCII digits only: no "1_000", "0x10", "١٢"


def int_allowed(minimum: int | None, maximum: int | None) -> str:
    """What an integer key accepts, in words: the ``expected ...`` part of its errors."""
    text = "an integer or a product of integers such as 7 * 24"
    if minimum is not None and maximum is not None:
        text += f", from {minimum} to {maximum}"
    elif minimum is not None:
        text += f", at least {minimum}"
    elif maximum is not None:
        text += f", at most {maximum}"
    if minimum == -1:
        text += " (-1: unlimited)"
    return text


def parse_int_expr(key: str, value: object, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an integer; ``"7 * 24"`` and ``"1024 * 1024"`` are products.

    Only decimal integers joined by single ``*`` are accepted — a tiny grammar checked
    factor by factor, never ``eval`` — so ``7 ** 2``, ``7 * x`` or any Python is refused
    with a :class:`ConfigError` naming ``key``, the value and what is allowed.
    """
    allowed = int_allowed(minimum, maximum)
    if isinstance(value, bool):
        raise ConfigError.invalid(key, value, allowed)
    if isinstance(value, int):
        result = value
    else:
        text = str(value).strip()
        factors = [f.strip() for f in text.split("*")]
        if not text or not all(_FACTOR.fullmatch(f) for f in factors):
            raise ConfigError.invalid(key, value, allowed)
        result = 1
        try:
            for f in factors:
                result *= int(f)
        except ValueError:  # more digits than Python converts; far out of range anyway
            raise ConfigError.invalid(key, value, allowed) from None
    if (minimum is not None and result < minimum) or (maximum is not None and result > maximum):
        raise ConfigError.invalid(key, value, allowed)
    return result


# -- doubles -------------------------------------------------------------------------

_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")  # no nan, inf, 1_0 or hex


def double_allowed(minimum: float | None, maximum: float | None) -> str:
    """What a double key accepts, in words: the ``expected ...`` part of its errors."""
    if minimum is not None and maximum is not None:
        return f"a number from {minimum:g} to {maximum:g}"
    if minimum is not None:
        return f"a number of at least {minimum:g}"
    return "a number"


def parse_double(key: str, value: object, *, minimum: float | None = None, maximum: float | None = None) -> float:
    """``value`` as a float (Kafka's DOUBLE): a decimal such as ``0.5``, ``1`` or ``5e-1``, within range."""
    allowed = double_allowed(minimum, maximum)
    if isinstance(value, bool):
        raise ConfigError.invalid(key, value, allowed)
    if isinstance(value, int | float):
        result = float(value)
    else:
        text = str(value).strip()
        if not _DECIMAL.fullmatch(text):
            raise ConfigError.invalid(key, value, allowed)
        result = float(text)
    if result != result or (minimum is not None and result < minimum) or (maximum is not None and result > maximum):
        raise ConfigError.invalid(key, value, allowed)
    return result


# -- booleans ------------------------------------------------------------------------


def parse_bool(key: str, value: object) -> bool:
    """``true`` or ``false`` in any case, as Kafka's ``ConfigDef``; "yes" is refused, never read as false."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    raise ConfigError.invalid(key, value, "true or false")


# -- listeners -----------------------------------------------------------------------


class Listener(msgspec.Struct, frozen=True):
    """One ``NAME://host:port`` endpoint. ``host`` is kept as written ("" = all interfaces).

    A msgspec Struct so it travels inside the broker config to actor processes.
    """

    name: str
    host: str
    port: int

    @property
    def bind_host(self) -> str:
        """The address to bind: Kafka binds an empty host to every interface."""
        return self.host or "0.0.0.0"

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.name}://{host}:{self.port}"


_LISTENER = re.compile(r"([A-Za-z0-9_]+)://(\[[0-9A-Fa-f:.%a-zA-Z]*\]|[0-9A-Za-z._%-]*):([0-9]+)")
LISTENERS_ALLOWED = "comma-separated NAME://host:port entries such as PLAINTEXT://localhost:9092 (port 0-65535)"


def parse_listeners(key: str, value: object) -> tuple[Listener, ...]:
    """Comma-separated ``NAME://host:port``; names are upper-cased and must be unique.

    The host may be empty (all interfaces), a name, an IPv4 address or a bracketed
    IPv6 address. At least one listener is required.
    """
    if isinstance(value, (list, tuple)):
        entries = [str(v).strip() for v in value]
    else:
        entries = [e.strip() for e in str(value).split(",")]
    entries = [e for e in entries if e]
    if not entries:
        raise ConfigError.invalid(key, value, LISTENERS_ALLOWED)
    out: list[Listener] = []
    for entry in entries:
        m = _LISTENER.fullmatch(entry)
        if not m or int(m.group(3)) > 65535:
            raise ConfigError.invalid(key, entry, LISTENERS_ALLOWED)
        host = m.group(2)
        if host.startswith("["):
            host = host[1:-1]
        listener = Listener(m.group(1).upper(), host, int(m.group(3)))
        if any(prev.name == listener.name for prev in out):
            raise ConfigError(
                f"invalid value {value!r} for {key}: listener name {listener.name} appears twice; "
                "each listener needs its own name",
                key=key, value=value, allowed="unique listener names",
            )
        out.append(listener)
    return tuple(out)
