"""The actor kinds: one row each, and everything the runtime and the supervisor know of a kind.

Read it as Erlang/OTP child specs kept as data. A row names the actor class, how
often its loop ticks it, its start rank (children start in rank order and stop in
the reverse order, as OTP stops children), how long a clean stop may take before
SIGKILL, its scope — how many there are — and its restart policy:

* scope ``cluster`` — one per cluster, run by the supervisor that owns the controller;
* scope ``broker`` — one per broker, named ``<kind>-<broker id>``;
* scope ``dynamic`` — as many as the metadata image asks for (``actors.children``).

Restart policies:

* ``permanent`` — restarted whenever it exits;
* ``transient`` — restarted only after an abnormal exit (a signal or a non-zero
  code), so a child that finishes its job cleanly stays down.

Adding a kind is one row here, one ``*Args`` struct in ``actors.specs`` and one
module with the actor class.
"""

from __future__ import annotations

import importlib
from typing import NamedTuple, get_args

from . import specs

PERMANENT = "permanent"
TRANSIENT = "transient"
RESTART_POLICIES = (PERMANENT, TRANSIENT)
CLUSTER, BROKER, DYNAMIC = "cluster", "broker", "dynamic"
SCOPES = (CLUSTER, BROKER, DYNAMIC)


class Kind(NamedTuple):
    name: str
    actor: str  # "module:Class"
    args: type  # its member of actors.specs.ActorArgs
    tick_ms: int  # the loop's timer: long-poll expiry precision, slow timers
    start_rank: int  # lower starts first, stops last
    shutdown_s: float  # SIGTERM, then this long, then SIGKILL
    scope: str  # cluster, broker or dynamic
    restart: str = PERMANENT

    @property
    def module(self) -> str:
        return self.actor.partition(":")[0]


KINDS: dict[str, Kind] = {k.name: k for k in (
    # the controller expires metadata watches; leaders expire fetch long polls (fetch.max.wait.ms
    # precision, 25 ms: a replica per partition, so its idle wakeups add up) and run flush.ms; brokers and cleaners
    # only run slow timers
    Kind("controller", "actors.controller:Controller", specs.ControllerArgs, tick_ms=50, start_rank=0, shutdown_s=10,
         scope=CLUSTER),
    Kind("broker", "actors.broker:BrokerActor", specs.BrokerArgs, tick_ms=100, start_rank=1, shutdown_s=10,
         scope=BROKER),
    Kind("cleaner", "actors.retention_cleaner:RetentionCleaner", specs.CleanerArgs, tick_ms=100, start_rank=2,
         shutdown_s=5, scope=BROKER),
    # one per replica of a partition, leader or follower: named leader-<topic>-<p> while it leads and
    # fetcher-<topic>-<p>-<broker> while it follows (actors.children)
    Kind("replica", "actors.replica:PartitionReplica", specs.ReplicaArgs, tick_ms=25, start_rank=3,
         shutdown_s=10, scope=DYNAMIC),
    # the groups whose __consumer_offsets partition this broker leads; stopped first, before those replicas
    Kind("coordinator", "actors.coordinator:GroupCoordinator", specs.CoordinatorArgs, tick_ms=20, start_rank=4,
         shutdown_s=5, scope=BROKER),
)}

# what every actor process imports: the forkserver loads it once, so each child starts fast
PRELOAD = sorted({"actors.runtime", "storage", "wire", "zmq", "msgspec", "pykka", *(k.module for k in KINDS.values())})


def in_start_order() -> list[Kind]:
    return sorted(KINDS.values(), key=lambda k: k.start_rank)


def kind_row(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown actor kind {name!r}; kinds are {', '.join(KINDS)}") from None


def actor_class(name: str) -> type:
    module_name, _, class_name = kind_row(name).actor.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def should_restart(policy: str, exitcode: int | None) -> bool:
    """OTP's rule: permanent children always come back, transient ones only after a crash."""
    if policy == PERMANENT:
        return True
    if policy == TRANSIENT:
        return exitcode != 0
    raise ValueError(f"unknown restart policy {policy!r}; policies are {', '.join(RESTART_POLICIES)}")


def check_table() -> None:
    """Every row is consistent: a known policy, args of the kind's own tag, distinct ranks."""
    ranks = [k.start_rank for k in KINDS.values()]
    if len(set(ranks)) != len(ranks):
        raise ValueError("two actor kinds share a start rank: the stop order would be ambiguous")
    for k in KINDS.values():
        if k.restart not in RESTART_POLICIES:
            raise ValueError(f"kind {k.name}: unknown restart policy {k.restart!r}")
        if k.scope not in SCOPES:
            raise ValueError(f"kind {k.name}: unknown scope {k.scope!r}")
        if k.args.__struct_config__.tag != k.name:
            raise ValueError(f"kind {k.name}: its args struct is tagged {k.args.__struct_config__.tag!r}")
        if k.args not in get_args(specs.ActorArgs):
            raise ValueError(f"kind {k.name}: {k.args.__name__} is missing from actors.specs.ActorArgs")


check_table()
