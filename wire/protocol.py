"""Framing: one msgpack header frame plus raw payload frames per ZeroMQ message.

A message on the wire is ``[header, payload...]`` (a ROUTER adds the peer identity
in front). The header is a ``Request`` or ``Response`` from the tagged unions
below; payload frames carry record batches untouched, sent with ``copy=False`` so
a batch is never concatenated into the header or copied in Python.

``decode_request`` is the single gate every inbound message passes: a header that
is too large, not msgpack, nested past any sane depth, of an unknown type, of another
protocol version, or followed by the wrong number of payload frames raises
``FrameError`` carrying the error code for the reply, and the actor goes on. No other
exception escapes it — whatever the bytes — so a serving loop needs only this one
``except`` to answer every hostile frame.
"""

from __future__ import annotations

from typing import Union

import msgspec

from . import admin, control, fetch, groups, metadata, produce
from .base import PROTOCOL_VERSION, ErrorResponse, Request, Response
from .errors import InvalidRequest, UnsupportedVersion

MAX_HEADER_BYTES = 1 << 20


def _subclasses(root: type) -> list[type]:
    out = []
    for module in (metadata, produce, fetch, admin, control, groups):
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, root) and obj is not root:
                out.append(obj)
    return out


REQUEST_TYPES = tuple(_subclasses(Request))
RESPONSE_TYPES = (ErrorResponse, *_subclasses(Response))
AnyRequest = Union[REQUEST_TYPES]  # type: ignore[valid-type]
AnyResponse = Union[RESPONSE_TYPES]  # type: ignore[valid-type]

_encoder = msgspec.msgpack.Encoder()
_request_decoder = msgspec.msgpack.Decoder(AnyRequest)
_response_decoder = msgspec.msgpack.Decoder(AnyResponse)


class FrameError(Exception):
    """An inbound message that cannot be served; ``code`` goes into the error reply."""

    def __init__(self, code: int, message: str, corr: int = 0):
        super().__init__(message)
        self.code = code
        self.corr = corr


def encode(message: Request | Response) -> bytes:
    return _encoder.encode(message)


def decode_request(header, payload_frames: int | None = None, max_header_bytes: int = MAX_HEADER_BYTES) -> Request:
    """Decode and check one request header (bytes, memoryview or a zmq Frame's buffer).

    ``payload_frames`` is how many frames followed the header; each request type
    says how many it carries (``Request.payload_frames``), so a Ping with a thousand
    frames behind it is refused here rather than in a handler. ``None`` skips that
    check (for callers that have no frames, e.g. tests of the header alone).
    """
    try:
        size = len(header)
    except TypeError:
        raise FrameError(InvalidRequest.code, "a request header must be bytes") from None
    if size > max_header_bytes:
        raise FrameError(InvalidRequest.code, f"request header of {size} bytes exceeds {max_header_bytes}")
    try:
        request = _request_decoder.decode(header)
    except msgspec.DecodeError as exc:
        raise FrameError(InvalidRequest.code, f"malformed request: {exc}", _guess_corr(header)) from None
    except RecursionError:
        raise FrameError(InvalidRequest.code, "malformed request: nested too deeply", 0) from None
    except Exception as exc:  # noqa: BLE001 - the gate lets nothing but FrameError through
        raise FrameError(InvalidRequest.code, f"malformed request: {type(exc).__name__}", 0) from None
    if request.v != PROTOCOL_VERSION:
        raise FrameError(
            UnsupportedVersion.code,
            f"protocol version {request.v} is not supported (this actor speaks {PROTOCOL_VERSION})",
            request.corr,
        )
    if payload_frames is not None and payload_frames != request.payload_frames:
        raise FrameError(
            InvalidRequest.code,
            f"a {request_name(request)} request carries {request.payload_frames} payload frame(s), got {payload_frames}",
            request.corr,
        )
    return request


def decode_response(header) -> Response:
    """The client's gate: a reply from anything listening on an endpoint is checked like a request."""
    try:
        return _response_decoder.decode(header)
    except msgspec.DecodeError as exc:
        raise FrameError(InvalidRequest.code, f"malformed response: {exc}") from None
    except RecursionError:
        raise FrameError(InvalidRequest.code, "malformed response: nested too deeply") from None
    except Exception as exc:  # noqa: BLE001 - a hostile server must not crash a client either
        raise FrameError(InvalidRequest.code, f"malformed response: {type(exc).__name__}") from None


def request_name(request: Request) -> str:
    """The wire tag of a request (``produce``, ``fetch``...): what logs and errors name."""
    return type(request).__struct_config__.tag


def _guess_corr(header) -> int:
    """Best effort: a correlation id from a header that failed validation.

    Only a shallow look at a map's ``corr`` key: the header already failed, so it is
    never decoded whole again (that is where a deep nesting would recurse).
    """
    try:
        raw = _corr_decoder.decode(header)
    except Exception:  # noqa: BLE001 - best effort only
        return 0
    corr = raw.corr
    if isinstance(corr, bool) or not isinstance(corr, int):  # a bool is an int to Python, not to msgspec
        return 0
    return corr if -(2**63) <= corr < 2**64 else 0


class _CorrOnly(msgspec.Struct, forbid_unknown_fields=False):
    corr: object = 0


_corr_decoder = msgspec.msgpack.Decoder(_CorrOnly)


def error_reply(code: int, message: str, corr: int = 0) -> bytes:
    return encode(ErrorResponse(corr=corr, error=code, message=message))
