"""zafka's wire package: message types, framing, transport and the public client API.

Two layers. The protocol — msgspec messages (``wire.admin``, ``wire.fetch``,
``wire.produce``, ``wire.metadata``, ``wire.control``, ``wire.errors``), framing
(``wire.protocol``), sockets (``wire.sockets``) and transport (``wire.transport``,
``wire.connections``) — is shared by actors and clients. The client API lives in
``wire.client`` (producer, consumer, admin and their helpers).

``from wire import Producer, Consumer, Admin, TopicPartition`` is the user-facing
surface (README.md, "From Python"). The client classes are imported on first use
(PEP 562), so actors importing ``wire.protocol`` or ``wire.errors`` do not pay for
the clients' imports.
"""

from __future__ import annotations

import importlib

from . import errors

_LAZY = {
    "Producer": "wire.client.producer",
    "Consumer": "wire.client.consumer",
    "Admin": "wire.client.admin",
    "TopicDescription": "wire.client.admin",
    "PartitionDescription": "wire.client.admin",
    "ClusterDescription": "wire.client.admin",
    "ConfigEntry": "wire.client.admin",
    "TopicPartition": "wire.client.records",
    "RecordMetadata": "wire.client.records",
    "ConsumerRecord": "wire.client.records",
    "ProducerRecord": "wire.client.records",
    "OffsetAndMetadata": "wire.client.records",
    "CommitFailed": "wire.client.group",
}

__all__ = ["errors", *_LAZY]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'wire' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
