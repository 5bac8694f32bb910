"""zafka's wire package: message types, framing, transport and the public client API.

``from wire import Producer, Consumer, Admin, TopicPartition`` is the user-facing
surface (DESIGN.md section 6). The client classes are imported on first use
(PEP 562), so actors importing ``wire.protocol`` or ``wire.errors`` do not pay for
the clients' imports.
"""

from __future__ import annotations

import importlib

from . import errors

_LAZY = {
    "Producer": "wire.producer",
    "Consumer": "wire.consumer",
    "Admin": "wire.admin_client",
    "TopicDescription": "wire.admin_client",
    "PartitionDescription": "wire.admin_client",
    "ClusterDescription": "wire.admin_client",
    "ConfigEntry": "wire.admin_client",
    "TopicPartition": "wire.records",
    "RecordMetadata": "wire.records",
    "ConsumerRecord": "wire.records",
    "ProducerRecord": "wire.records",
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
