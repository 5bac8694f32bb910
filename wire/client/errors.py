"""Errors only a client raises: they never travel on the wire, so they have no Kafka code.

They subclass ``ZafkaError`` so ``except ZafkaError`` catches every client failure,
and a Python built-in where one fits so generic code (``except ValueError``) works.
"""

from __future__ import annotations

from wire.errors import InvalidConfig, OffsetOutOfRange, ZafkaError


class ClientConfigError(InvalidConfig, ValueError):
    """A Producer/Consumer/Admin argument is of the wrong type or out of range."""


class ClientClosed(ZafkaError, RuntimeError):
    """The client was closed; create a new one to go on."""


class NotAssigned(ZafkaError, RuntimeError):
    """The partition is not assigned to this consumer; ``assign`` it first."""


class NoOffsetForPartition(OffsetOutOfRange):
    """No position is known and ``auto_offset_reset="none"`` forbids guessing one."""


class GroupsNotAvailable(ZafkaError, NotImplementedError):
    """Consumer groups (subscribe, commit, group admin) arrive with the GroupCoordinator."""

    hint = "use Consumer.assign() and track offsets yourself until consumer groups land"
