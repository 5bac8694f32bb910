"""Which dynamic children a supervisor should run for a metadata image: a pure function and its diff.

Erlang/OTP's ``simple_one_for_one``: one template per dynamic kind, and the set of
children follows from the desired state. ``desired_children`` maps the
controller's image to the children the brokers of one supervisor should run —
one replica process per partition replica they hold, named by its role
(``leader-<topic>-<p>`` for the leader, ``fetcher-<topic>-<p>-<broker>`` for a
follower) — and ``plan`` compares that with what runs and says what to start,
what to retire and what to rename. A leader change renames two processes and
restarts none. The supervisor only applies the plan, so every rule here is
unit-tested without a process.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

from wire.metadata import ClusterImage

from .specs import ActorArgs, ReplicaArgs


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
    rename: dict[str, str] = {}  # running child -> its name for its new role


class Running(NamedTuple):
    broker_id: int
    args: ActorArgs
    stopping: bool = False  # being retired already


def leader_name(topic: str, partition: int) -> str:
    return f"leader-{topic}-{partition}"


def fetcher_name(topic: str, partition: int, broker: int) -> str:
    return f"fetcher-{topic}-{partition}-{broker}"


def display_kind(name: str, kind: str) -> str:
    """What ``zafka actors`` calls a child: a replica process by its role (leader or fetcher)."""
    if kind == "replica":
        return "leader" if name.startswith("leader-") else "fetcher"
    return kind


def desired_children(image: ClusterImage, broker_ids: list[int],
                     default_log_dir: Callable[[int], str]) -> dict[str, Desired]:
    """The dynamic children the brokers ``broker_ids`` should run for ``image``, by name.

    Every replica of a partition on one of those brokers gets a process, in the log
    dir the controller placed it in (``default_log_dir(broker)`` for partitions
    placed before log dirs were recorded), named by its role in the image. While a
    partition is offline, its first ISR member — the one elected when it returns —
    keeps the leader's name, so a restarted single replica is ``leader-…`` throughout.
    """
    mine = set(broker_ids)
    out: dict[str, Desired] = {}
    for topic in image.topics.values():
        for part in topic.partitions:
            # an offline partition keeps the leader's name on the replica that leads once back: its ISR's first
            lead = part.leader if part.leader >= 0 else (part.isr[0] if part.isr else -1)
            for broker in part.replicas:
                if broker not in mine:
                    continue
                log_dir = part.replica_dirs.get(broker) or default_log_dir(broker)
                name = (leader_name(topic.name, part.partition) if broker == lead
                        else fetcher_name(topic.name, part.partition, broker))
                out[name] = Desired(name, "replica", broker,
                                    ReplicaArgs(topic.name, part.partition, topic.topic_id, log_dir))
    return out


def _identity(broker_id: int, args: ActorArgs) -> tuple:
    return (getattr(args, "topic_id", None), getattr(args, "partition", None), broker_id)


def plan(running: Mapping[str, Running], desired: Mapping[str, Desired]) -> Plan:
    """What to start, retire and rename so the running children match ``desired``.

    Children are matched by what they hold — (topic id, partition, broker) — not by
    name: a replica whose role changed keeps its process under its new name. One
    that holds nothing desired any more is retired (with its data when its topic is
    gone: deleted, or created again under a new id). A new child starts only when
    its name is free, so it never runs beside a retiring one holding the same name.
    """
    wanted = {_identity(d.broker_id, d.args): d for d in desired.values()}
    held: dict[tuple, str] = {}
    retire: list[Retire] = []
    rename: dict[str, str] = {}
    for name, child in running.items():
        ident = _identity(child.broker_id, child.args)
        if child.stopping:
            continue
        want = wanted.get(ident)
        if want is None:
            topic_alive = any(_identity(d.broker_id, d.args)[0] == ident[0] for d in desired.values())
            retire.append(Retire(name, deleted=not topic_alive))
            continue
        held[ident] = name
        if want.name != name:
            rename[name] = want.name
    # a name is taken by every child that keeps it (retiring ones too, until gone) and by every new name
    taken = {n for n in running if n not in rename} | set(rename.values())
    start = [d for ident, d in wanted.items() if ident not in held and d.name not in taken]
    return Plan(start, retire, rename)
