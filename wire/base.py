"""The two roots of every message: ``Request`` and ``Response``.

Every message is a ``msgspec.Struct`` in a tagged union, so decoding validates the
types and picks the class in one place; a frame that is not one of them fails
there with a typed error instead of deep inside an actor. ``v`` is the protocol
version: an actor refuses versions it does not speak with ``UnsupportedVersion``.
"""

from __future__ import annotations

from typing import ClassVar

import msgspec

PROTOCOL_VERSION = 1


class Request(msgspec.Struct, tag=True, kw_only=True, omit_defaults=True):
    #: raw frames that follow the header (record batches); the decode gate refuses any other count
    payload_frames: ClassVar[int] = 0

    corr: int = 0
    v: int = PROTOCOL_VERSION


class Response(msgspec.Struct, tag=True, kw_only=True, omit_defaults=True):
    corr: int = 0
    error: int = 0
    message: str = ""


class ErrorResponse(Response, tag="error"):
    """The reply to a request that could not even be decoded or dispatched.

    A ``NOT_LEADER`` answer from a replica that knows who leads now names that
    leader (Kafka's KIP-951 ``CurrentLeader``): a client retries there at once,
    without backoff or a metadata round trip.
    """

    leader: int = -1
    leader_epoch: int = -1
    leader_endpoint: str = ""
