"""What a child process is handed: its ``ActorSpec``, with arguments typed per actor kind.

The spec crosses the process boundary as msgpack (never pickle), so every field is
a msgspec type and a child decodes and validates it in one step. Arguments that
only one kind needs live in that kind's ``*Args`` struct, a member of a tagged
union: a leader reads ``spec.args.partition`` as an int, not ``int(args["partition"])``
from a dict of strings, and a spec with the wrong arguments for its kind fails to
decode instead of failing later in a ``KeyError``. Adding an actor kind adds one
struct here (and one row in ``actors.kinds``).
"""

from __future__ import annotations

import os
from typing import Union

import msgspec

from .config import BrokerConfig


class Args(msgspec.Struct, frozen=True):
    """Base of every kind's arguments."""

    @classmethod
    def static(cls, broker_id: int, log_dirs: tuple[str, ...]) -> "Args":
        """The arguments of a static child (one per cluster or per broker; see ``actors.kinds``)."""
        return cls()


class ControllerArgs(Args, tag="controller", frozen=True):
    pass


class BrokerArgs(Args, tag="broker", frozen=True):
    log_dirs: tuple[str, ...] = ()  # this broker's partition directories, one per log.dirs entry
    coordinator: str = ""  # where this broker's GroupCoordinator listens (FindCoordinator answers it)

    @classmethod
    def static(cls, broker_id: int, log_dirs: tuple[str, ...]) -> "BrokerArgs":
        return cls(log_dirs)


class CleanerArgs(Args, tag="cleaner", frozen=True):
    pass


class CoordinatorArgs(Args, tag="coordinator", frozen=True):
    pass


class ReplicaArgs(Args, tag="replica", frozen=True):
    topic: str
    partition: int
    topic_id: str  # a topic deleted and created again under the same name is another topic
    log_dir: str  # the log.dirs entry holding this partition's directory

    @property
    def directory(self) -> str:
        return os.path.join(self.log_dir, f"{self.topic}-{self.partition}")


ActorArgs = Union[ControllerArgs, BrokerArgs, CleanerArgs, CoordinatorArgs, ReplicaArgs]


class ActorSpec(msgspec.Struct, kw_only=True):
    """Everything a child process needs, handed over by the supervisor."""

    name: str
    kind: str
    bind: str  # tcp://host:port the ROUTER binds
    advertised: str  # the endpoint others are told to use
    data_dir: str
    controller: str  # the controller's endpoint
    broker_id: int = -1
    config: BrokerConfig = msgspec.field(default_factory=BrokerConfig)  # typed whole: no actor re-parses strings
    args: ActorArgs | None = None
    supervisor_pid: int = 0
    tick_ms: int = 10


def encode_spec(spec: ActorSpec) -> bytes:
    return msgspec.msgpack.encode(spec)


def decode_spec(data: bytes) -> ActorSpec:
    return msgspec.msgpack.decode(data, type=ActorSpec)
