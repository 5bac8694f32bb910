"""Hypothesis strategies for hostile wire messages: what an attacker or a broken client sends.

Each strategy yields a list of ZeroMQ frames (header first, then payload frames),
none of which is a request any actor should serve. They cover the ways a frame
can be bad: msgpack nested thousands deep, length prefixes that promise gigabytes,
every field of every request type given a value of the wrong type, truncated
headers, headers past the size limit, the wrong number of payload frames, a
protocol version nobody speaks, and plain random bytes. ``hostile_messages`` mixes
them; the unit test feeds them to the decode gate, the integration test to every
listening socket of a running cluster.
"""

from __future__ import annotations

import msgspec
from hypothesis import assume
from hypothesis import strategies as st

from wire import protocol
from wire.base import PROTOCOL_VERSION

REQUEST_TYPES = protocol.REQUEST_TYPES
_encode = msgspec.msgpack.encode


def tag_of(cls) -> str:
    return cls.__struct_config__.tag


def _valid_value(annotation):
    """A value of the right type for a field (the rest of the request stays well formed)."""
    samples = [0, "x", [], {}, True, None, 1.5, b"x", [0], ["x"], {"k": "v"}, {"1": "v"}]
    for sample in samples:
        try:
            msgspec.convert(sample, annotation, strict=True)
            return sample
        except (msgspec.ValidationError, TypeError):
            continue
    raise AssertionError(f"no sample value fits {annotation}")


def valid_fields(cls) -> dict:
    """Every field of ``cls`` with a well-typed value, plus its tag and the current version."""
    out = {"type": tag_of(cls)}
    for f in msgspec.structs.fields(cls):
        out[f.encode_name] = PROTOCOL_VERSION if f.name == "v" else _valid_value(f.type)
    out["corr"] = 1
    return out


# values of every msgpack type, integers from int64's floor to uint64's ceiling
_MSGPACK_INTS = st.integers(min_value=-(2**63), max_value=2**64 - 1)
WRONG_VALUES = st.one_of(
    st.none(), st.booleans(), _MSGPACK_INTS,
    st.floats(allow_nan=True), st.text(max_size=20), st.binary(max_size=20),
    st.lists(_MSGPACK_INTS, max_size=3), st.dictionaries(st.text(max_size=5), _MSGPACK_INTS, max_size=3),
    st.dictionaries(_MSGPACK_INTS, st.text(max_size=3), max_size=3),
)


@st.composite
def wrong_typed_field(draw) -> list[bytes]:
    """One request type, every field well typed except one, which gets a value it cannot take."""
    cls = draw(st.sampled_from(REQUEST_TYPES))
    fields = valid_fields(cls)
    key = draw(st.sampled_from(sorted(fields)))
    fields[key] = draw(WRONG_VALUES)
    header = _encode(fields)
    assume(not decodes(header))  # keep only values the type really refuses (None fits an optional field)
    return [header, *([b"\x00" * 8] * cls.payload_frames)]


def decodes(header: bytes) -> bool:
    """True when ``header`` is a request of the current version: not hostile after all."""
    try:
        request = msgspec.msgpack.decode(header, type=protocol.AnyRequest)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return False
    return request.v == PROTOCOL_VERSION


@st.composite
def deep_nesting(draw) -> list[bytes]:
    """A map or array nested thousands deep: about a kilobyte that once blew the stack."""
    depth = draw(st.integers(min_value=2_000, max_value=40_000))  # past msgspec's recursion limit
    level = draw(st.sampled_from([b"\x91", b"\x81\xa1k", b"\x81\x00"]))
    nested = level * depth + b"\xc0"
    where = draw(st.sampled_from(["bare", "unknown_field", "known_field"]))
    if where == "bare":
        return [nested]
    cls = draw(st.sampled_from(REQUEST_TYPES))
    fields = valid_fields(cls)
    key = "zz_unknown" if where == "unknown_field" else draw(st.sampled_from(sorted(fields)))
    fields.pop(key, None)
    prefix = _encode(fields)
    # append one more key/value to the top map: bump the fixmap/map16 count and add the pair
    body = _bump_map_count(prefix) + _encode(key) + nested
    # some nestings decode within msgspec's limits (an unknown field is skipped): then the message is
    # a valid request — a stop_cluster, say — not a hostile one, and not this strategy's to send
    assume(not decodes(body))
    return [body, *([b"\x00" * 8] * cls.payload_frames)]


def _bump_map_count(encoded_map: bytes) -> bytes:
    first = encoded_map[0]
    if 0x80 <= first <= 0x8E:
        return bytes([first + 1]) + encoded_map[1:]
    if first == 0xDE:
        count = int.from_bytes(encoded_map[1:3], "big") + 1
        return b"\xde" + count.to_bytes(2, "big") + encoded_map[3:]
    raise AssertionError("test requests encode as fixmap or map16")


# msgpack type bytes followed by a 32-bit (or 16-bit) length
_LENGTH_PREFIXED = [b"\xdd", b"\xdf", b"\xdb", b"\xc6", b"\xc9", b"\xdc", b"\xde", b"\xda", b"\xc5", b"\xc8"]


@st.composite
def huge_length_prefix(draw) -> list[bytes]:
    """A string, binary, array, map or ext that claims up to 4 GiB and holds a few bytes."""
    prefix = draw(st.sampled_from(_LENGTH_PREFIXED))
    width = 2 if prefix in (b"\xdc", b"\xde", b"\xda", b"\xc5", b"\xc8") else 4
    length = draw(st.integers(min_value=2**(8 * width) // 2, max_value=2**(8 * width) - 1))
    tail = draw(st.binary(max_size=64))
    value = prefix + length.to_bytes(width, "big") + tail
    if draw(st.booleans()):
        return [value]
    cls = draw(st.sampled_from(REQUEST_TYPES))
    fields = valid_fields(cls)
    key = draw(st.sampled_from(sorted(fields)))
    fields.pop(key)
    return [_bump_map_count(_encode(fields)) + _encode(key) + value]


@st.composite
def truncated(draw) -> list[bytes]:
    cls = draw(st.sampled_from(REQUEST_TYPES))
    header = _encode(valid_fields(cls))
    cut = draw(st.integers(min_value=0, max_value=len(header) - 1))
    return [header[:cut], *([b"\x00" * 8] * cls.payload_frames)]


@st.composite
def wrong_frame_count(draw) -> list[bytes]:
    """A well-formed header followed by more, or fewer, payload frames than its type carries."""
    cls = draw(st.sampled_from(REQUEST_TYPES))
    count = draw(st.integers(min_value=0, max_value=64).filter(lambda n: n != cls.payload_frames))
    return [_encode(valid_fields(cls)), *([b"\x01" * draw(st.integers(0, 32))] * count)]


@st.composite
def wrong_version(draw) -> list[bytes]:
    cls = draw(st.sampled_from(REQUEST_TYPES))
    fields = valid_fields(cls)
    fields["v"] = draw(st.integers(min_value=-(2**63), max_value=2**63 - 1).filter(lambda v: v != PROTOCOL_VERSION))
    return [_encode(fields), *([b"\x00" * 8] * cls.payload_frames)]


@st.composite
def unknown_type(draw) -> list[bytes]:
    known = {tag_of(c) for c in REQUEST_TYPES}
    tag = draw(st.text(max_size=30).filter(lambda t: t not in known))
    return [_encode({"type": tag, "corr": draw(st.integers(0, 2**32))})]


def random_bytes() -> st.SearchStrategy[list[bytes]]:
    return st.lists(st.binary(max_size=300), min_size=1, max_size=4)


def oversized_header(limit: int = protocol.MAX_HEADER_BYTES) -> st.SearchStrategy[list[bytes]]:
    """A header past the gate's size limit (but under the socket's, so it reaches the gate)."""
    return st.integers(min_value=1, max_value=4096).map(
        lambda extra: [_encode({"type": "ping", "pad": "x" * (limit + extra)})]
    )


def hostile_messages() -> st.SearchStrategy[list[bytes]]:
    return st.one_of(
        deep_nesting(), huge_length_prefix(), wrong_typed_field(), truncated(), wrong_frame_count(),
        wrong_version(), unknown_type(), random_bytes(), oversized_header(),
    )
