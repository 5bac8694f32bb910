"""``server.properties`` text to a dict, following ``java.util.Properties``.

A Kafka user's file must load unchanged, so the rules are Java's — ``key = value``,
``key: value`` or ``key value``; ``#``/``!`` comments; backslash continuations and
escapes; later duplicates win — with one deliberate difference: trailing whitespace
is trimmed from values too (an invisible trailing space in a ``log.dirs`` path is
never what anyone meant). This module knows nothing of which keys exist.
"""

from __future__ import annotations

import os
from pathlib import Path

from .values import ConfigError

_WS = " \t\f"
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _ends_with_escape(text: str) -> bool:
    """True when the last character is a backslash that is not itself escaped."""
    run = len(text) - len(text.rstrip("\\"))
    return run % 2 == 1


def _unescape(text: str, lineno: int) -> str:
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch != "\\" or i + 1 >= len(text):
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "u":
            digits = text[i + 2 : i + 6]
            if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise ConfigError(f"line {lineno}: malformed \\uxxxx escape {text[i : i + 6]!r}")
            out.append(chr(int(digits, 16)))
            i += 6
        else:
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
    return "".join(out)


def _logical_lines(text: str):
    """(line number, logical line) pairs: comments and blanks dropped, continuations joined."""
    natural = text.splitlines()
    i = 0
    while i < len(natural):
        lineno, line = i + 1, natural[i].lstrip(_WS)
        i += 1
        if not line or line[0] in "#!":
            continue  # a comment never continues onto the next line, as in Java
        while _ends_with_escape(line) and i < len(natural):
            line = line[:-1] + natural[i].lstrip(_WS)
            i += 1
        if _ends_with_escape(line):  # a continuation on the last line continues into nothing
            line = line[:-1]
        yield lineno, line


def parse_properties(text: str) -> dict[str, str]:
    """Parse ``server.properties`` text, following ``java.util.Properties``.

    The key ends at the first unescaped ``=``, ``:`` or whitespace; one ``=``/``:``
    with whitespace around it separates it from the value. Unlike Java, trailing
    whitespace is trimmed from values too (an invisible trailing space in a
    ``log.dirs`` path is never what anyone meant). Later duplicates win, as in Java.
    """
    props: dict[str, str] = {}
    for lineno, line in _logical_lines(text):
        i = 0
        while i < len(line) and not (line[i] in "=:" or line[i] in _WS):
            i += 2 if line[i] == "\\" else 1
        key_raw, rest = line[:i], line[i:].lstrip(_WS)
        if rest[:1] in ("=", ":"):
            rest = rest[1:].lstrip(_WS)
        while rest and rest[-1] in _WS and not _ends_with_escape(rest[:-1]):
            rest = rest[:-1]
        props[_unescape(key_raw, lineno)] = _unescape(rest, lineno)
    return props


def load_properties(path: str | os.PathLike) -> dict[str, str]:
    """Read and parse a properties file (UTF-8); an unreadable file is a :class:`ConfigError`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"cannot read config file {os.fspath(path)}: {reason}") from None
    return parse_properties(text)
