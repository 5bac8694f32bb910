"""Producer and consumer interceptors, chained in order; a failing one never breaks delivery.

An interceptor is any object with some of ``on_send(record) -> record``,
``on_acknowledgement(metadata, exception)``, ``on_consume(records) -> records`` and
``on_commit(offsets)``. As in Kafka, an exception inside an interceptor is logged
and the chain goes on with the value it had before that interceptor.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class InterceptorChain:
    __slots__ = ("_on_send", "_on_ack", "_on_consume", "_on_commit", "has_send", "has_ack", "has_consume")

    def __init__(self, interceptors=None):
        interceptors = list(interceptors or ())
        self._on_send = [i.on_send for i in interceptors if callable(getattr(i, "on_send", None))]
        self._on_ack = [i.on_acknowledgement for i in interceptors if callable(getattr(i, "on_acknowledgement", None))]
        self._on_consume = [i.on_consume for i in interceptors if callable(getattr(i, "on_consume", None))]
        self._on_commit = [i.on_commit for i in interceptors if callable(getattr(i, "on_commit", None))]
        self.has_send = bool(self._on_send)  # plain flags: checked once per record
        self.has_ack = bool(self._on_ack)
        self.has_consume = bool(self._on_consume)

    def on_send(self, record):
        for hook in self._on_send:
            try:
                result = hook(record)
            except Exception:  # noqa: BLE001 - an interceptor must not break delivery
                log.exception("producer interceptor %r failed in on_send; record passed on unchanged", hook)
                continue
            if result is not None:
                record = result
        return record

    def on_acknowledgement(self, metadata, exception) -> None:
        for hook in self._on_ack:
            try:
                hook(metadata, exception)
            except Exception:  # noqa: BLE001
                log.exception("producer interceptor %r failed in on_acknowledgement", hook)

    def on_consume(self, records):
        for hook in self._on_consume:
            try:
                result = hook(records)
            except Exception:  # noqa: BLE001
                log.exception("consumer interceptor %r failed in on_consume; records passed on unchanged", hook)
                continue
            if result is not None:
                records = result
        return records

    def on_commit(self, offsets) -> None:
        for hook in self._on_commit:
            try:
                hook(offsets)
            except Exception:  # noqa: BLE001
                log.exception("consumer interceptor %r failed in on_commit", hook)
