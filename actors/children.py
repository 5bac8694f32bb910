"""Which dynamic children a supervisor should run for a metadata image: a pure function and its diff.

Erlang/OTP's ``simple_one_for_one``: one template per dynamic kind, and the set of
children follows from the desired state. ``desired_children`` maps the
controller's image to the children the brokers of one supervisor should run
(today one PartitionLeader per partition they lead; followers and coordinators
come later as more templates); ``plan`` compares that with what runs and says
what to start and what to retire. The supervisor only applies the plan, so every
rule here is unit-tested without a process.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

from wire.metadata import ClusterImage

from .specs import ActorArgs, LeaderArgs


class Desired(NamedTuple):
    name: str
    kind: str
    broker_id: int
    args: ActorArgs


class Retire(NamedTuple):
    name: str
    deleted: bool  # its data goes too: the topic (this incarnation of it) no longer exists


class Plan(NamedTuple):
    start: list[Desired]
    retire: list[Retire]


def leader_name(topic: str, partition: int) -> str:
    return f"leader-{topic}-{partition}"


def desired_children(image: ClusterImage, broker_ids: list[int],
                     default_log_dir: Callable[[int], str]) -> dict[str, Desired]:
    """The dynamic children the brokers ``broker_ids`` should run for ``image``, by name.

    A partition led by one of those brokers gets a leader, in the log dir the
    controller placed its replica in (``default_log_dir(broker)`` for partitions
    placed before log dirs were recorded).
    """
    mine = set(broker_ids)
    out: dict[str, Desired] = {}
    for topic in image.topics.values():
        for part in topic.partitions:
            if part.leader not in mine:
                continue
            log_dir = part.replica_dirs.get(part.leader) or default_log_dir(part.leader)
            name = leader_name(topic.name, part.partition)
            out[name] = Desired(name, "leader", part.leader,
                                LeaderArgs(topic.name, part.partition, topic.topic_id, log_dir))
    return out


class Running(NamedTuple):
    broker_id: int
    args: ActorArgs
    stopping: bool = False  # being retired already


def plan(running: Mapping[str, Running], desired: Mapping[str, Desired]) -> Plan:
    """What to start and what to retire so the running children match ``desired``.

    ``running`` maps each dynamic child the supervisor holds — those being retired
    included — to its broker, args and whether it is stopping. A child whose
    partition moved to another broker, or whose topic was deleted (and perhaps
    created again: a new topic id) is retired; its successor under the same name
    starts only once the old one is gone, never beside it, so two processes never
    write one directory.
    """
    retire: list[Retire] = []
    for name, child in running.items():
        if child.stopping:
            continue
        want = desired.get(name)
        same_topic = want is not None and _topic_id(want.args) == _topic_id(child.args)
        if want is None or not same_topic or want.broker_id != child.broker_id:
            retire.append(Retire(name, deleted=not same_topic))
    start = [d for name, d in desired.items() if name not in running]
    return Plan(start, retire)


def _topic_id(args: ActorArgs) -> str | None:
    return getattr(args, "topic_id", None)
