"""Messages between actors and supervisors; clients never send these.

Liveness and leadership flow through the controller: brokers heartbeat to it,
partition leaders ask it for their epoch when they start, supervisors report
deaths to it. Supervisors answer ``zafka actors`` / ``zafka kill`` on their own
control socket.
"""

from __future__ import annotations

import msgspec

from .base import Request, Response


class BrokerHeartbeat(Request, tag="broker_heartbeat"):
    broker_id: int
    endpoint: str
    host: str = ""
    rack: str | None = None
    log_dirs: list[str] = []


class LeaderReady(Request, tag="leader_ready"):
    topic: str
    partition: int
    broker_id: int
    endpoint: str


class LeaderReadyResponse(Response, tag="leader_ready_r"):
    leader_epoch: int = -1
    configs: dict[str, str] = {}


class ActorDied(Request, tag="actor_died"):
    name: str
    kind: str
    broker_id: int = -1
    topic: str = ""
    partition: int = -1


class ApplyRetention(Request, tag="apply_retention"):
    configs: dict[str, str] = {}  # the topic's current configs


class RetentionResponse(Response, tag="retention_r"):
    deleted_segments: int = 0
    log_start_offset: int = -1


class Ping(Request, tag="ping"):
    pass


class Ack(Response, tag="ack"):
    pass


class ActorStatus(msgspec.Struct, omit_defaults=True):
    name: str
    kind: str
    broker: int
    pid: int
    restarts: int
    alive: bool
    state: str  # running, restarting, failed, stopped
    started_at: float = 0.0
    endpoint: str = ""
    rss: int = 0
    uss: int = 0


class ListActors(Request, tag="list_actors"):
    memory: bool = True


class ActorsResponse(Response, tag="actors_r"):
    actors: list[ActorStatus] = []


class KillActor(Request, tag="kill_actor"):
    name: str = ""
    broker_id: int = -1  # kill every actor of this broker (a whole-broker crash)
    signal: str = "KILL"
    down_ms: int = 0  # keep the killed actors down this long before they may be restarted


class KillResponse(Response, tag="kill_r"):
    killed: list[str] = []


class StopCluster(Request, tag="stop_cluster"):
    pass


class ClusterStatus(Request, tag="cluster_status"):
    pass


class StatusResponse(Response, tag="status_r"):
    bootstrap: str = ""
    data_dir: str = ""
    logs_dir: str = ""
    controller_endpoint: str = ""
    supervisor_pid: int = 0
    brokers: list[int] = []
    actors: int = 0
    failed: list[str] = []
