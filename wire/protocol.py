"""Framing: one msgpack header frame plus raw payload frames per ZeroMQ message.

A message on the wire is ``[header, payload...]`` (a ROUTER adds the peer identity
in front). The header is a ``Request`` or ``Response`` from the tagged unions
below; payload frames carry record batches untouched, sent with ``copy=False`` so
a batch is never concatenated into the header or copied in Python.

``decode_request`` is the single gate every inbound frame passes: a frame that is
too large, not msgpack, of an unknown type or of another protocol version raises
``FrameError`` carrying the error code for the reply, and the actor goes on.
"""

from __future__ import annotations

from typing import Union

import msgspec

from . import admin, control, fetch, metadata, produce
from .base import PROTOCOL_VERSION, ErrorResponse, Request, Response
from .errors import InvalidRequest, UnsupportedVersion

MAX_HEADER_BYTES = 1 << 20


def _subclasses(root: type) -> list[type]:
    out = []
    for module in (metadata, produce, fetch, admin, control):
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


def decode_request(header, max_header_bytes: int = MAX_HEADER_BYTES) -> Request:
    """Decode and check one request header (bytes, memoryview or a zmq Frame's buffer)."""
    size = len(header)
    if size > max_header_bytes:
        raise FrameError(InvalidRequest.code, f"request header of {size} bytes exceeds {max_header_bytes}")
    try:
        request = _request_decoder.decode(header)
    except msgspec.DecodeError as exc:
        raise FrameError(InvalidRequest.code, f"malformed request: {exc}", _guess_corr(header)) from None
    if request.v != PROTOCOL_VERSION:
        raise FrameError(
            UnsupportedVersion.code,
            f"protocol version {request.v} is not supported (this actor speaks {PROTOCOL_VERSION})",
            request.corr,
        )
    return request


def decode_response(header) -> Response:
    try:
        return _response_decoder.decode(header)
    except msgspec.DecodeError as exc:
        raise FrameError(InvalidRequest.code, f"malformed response: {exc}") from None


def _guess_corr(header) -> int:
    """Best effort: a correlation id from a header that failed validation."""
    try:
        raw = msgspec.msgpack.decode(header)
        corr = raw.get("corr", 0) if isinstance(raw, dict) else 0
        return corr if isinstance(corr, int) else 0
    except Exception:
        return 0


def error_reply(code: int, message: str, corr: int = 0) -> bytes:
    return encode(ErrorResponse(corr=corr, error=code, message=message))
