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
    pid: int = 0  # the broker actor's process: a new one ends a controlled shutdown the old one began
    coordinator_endpoint: str = ""


class ReplicaReady(Request, tag="replica_ready"):
    """A (re)started replica process is up: where it listens, so it can lead."""

    topic: str
    partition: int
    broker_id: int
    endpoint: str
    pid: int = 0


class ReplicaReadyResponse(Response, tag="replica_ready_r"):
    leader: int = -1
    leader_epoch: int = -1
    configs: dict[str, str] = {}


class LeaderHeartbeat(Request, tag="leader_heartbeat"):
    """A leader's proof of life, sent from its actor loop: a frozen or stuck leader stops sending it."""

    topic: str
    partition: int
    broker_id: int
    leader_epoch: int


class AlterIsr(Request, tag="alter_isr"):
    """A leader asks the controller to change its partition's ISR (Kafka's AlterPartition)."""

    topic: str
    partition: int
    broker_id: int
    leader_epoch: int
    isr: list[int]


class IsrResponse(Response, tag="isr_r"):
    isr: list[int] = []
    leader_epoch: int = -1


class ActorDied(Request, tag="actor_died"):
    name: str
    kind: str
    broker_id: int = -1
    topic: str = ""
    partition: int = -1
    pid: int = 0  # a late report about a process already replaced is ignored


class ControlledShutdown(Request, tag="controlled_shutdown"):
    """A supervisor is about to stop these brokers: move their leaderships to in-sync replicas first.

    ``broker_pids`` (one per broker) name the broker actors stopping; a heartbeat from
    another process of that broker (restarted) ends its shutdown state.
    """

    broker_ids: list[int]
    broker_pids: list[int] = []


class MovedLeadership(msgspec.Struct):
    topic: str
    partition: int
    leader: int
    leader_epoch: int
    endpoint: str | None = None  # the new leader's replica


class ControlledShutdownResponse(Response, tag="controlled_shutdown_r"):
    moved: list[MovedLeadership] = []
    remaining: list[str] = []  # still led by a stopping broker; a replica outside it may catch up: ask again
    stranded: list[str] = []  # every replica is stopping (or gone): nowhere to move


class ReplicaStatus(Request, tag="replica_status"):
    """What a replica process is doing: its role, its log, and (following) how far behind it is."""


class ReplicaStatusResponse(Response, tag="replica_status_r"):
    role: str = ""  # leader, follower or none
    leader: int = -1
    leader_epoch: int = -1
    log_end_offset: int = -1
    high_watermark: int = -1
    leader_log_end_offset: int = -1  # as of the follower's last fetch (-1: not fetched yet)

    @property
    def lag(self) -> int | None:
        """Records a follower is behind its leader's log end (None when unknown or not a follower)."""
        if self.role != "follower" or self.leader_log_end_offset < 0:
            return None
        return max(0, self.leader_log_end_offset - self.log_end_offset)


class ApplyRetention(Request, tag="apply_retention"):
    """The RetentionCleaner's timer: clean this replica's log as its topic's cleanup.policy says."""

    configs: dict[str, str] = {}  # the topic's current configs
    retention: bool = True  # delete segments past retention.ms / retention.bytes (policy delete)
    compaction: bool = True  # start a compaction pass if one is due (policy compact, log.cleaner.enable)


class RetentionResponse(Response, tag="retention_r"):
    deleted_segments: int = 0
    log_start_offset: int = -1
    compacting: bool = False  # a compaction pass is under way in the replica's loop


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


class StopBroker(Request, tag="stop_broker"):
    """Stop one broker's actors cleanly (a controlled shutdown first) and keep them down until StartBroker."""

    broker_id: int


class StartBroker(Request, tag="start_broker"):
    broker_id: int


class BrokerStopResponse(Response, tag="broker_stop_r"):
    moved: list[MovedLeadership] = []
    remaining: list[str] = []
    stranded: list[str] = []
    stopped: list[str] = []  # the actors stopped
    controlled: bool = True  # False: controlled.shutdown.enable=false or the controller could not be reached


class BrokerStartResponse(Response, tag="broker_start_r"):
    started: list[str] = []


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


class AllocateProducerIds(Request, tag="allocate_producer_ids"):
    """A broker asks the controller for a block of producer ids to hand out (KIP-730)."""

    broker_id: int


class AllocateProducerIdsResponse(Response, tag="allocate_producer_ids_r"):
    first_producer_id: int = -1
    count: int = 0
