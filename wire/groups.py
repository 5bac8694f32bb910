"""Consumer-group requests (Kafka's classic group protocol), answered by a GroupCoordinator.

A client asks any broker ``FindCoordinator`` for a group, then talks to that
coordinator: ``JoinGroup`` (held until the rebalance completes; the leader gets
every member's subscription), ``SyncGroup`` (the leader hands in the assignment;
every member gets its own), ``Heartbeat``, ``LeaveGroup``, ``OffsetCommit`` and
``OffsetFetch``; admins ``ListGroups``, ``DescribeGroups`` and ``DeleteGroups``.
Subscriptions and assignments travel as opaque bytes, as in Kafka: only the
consumers (``wire.client.assignors``) read them.
"""

from __future__ import annotations

import msgspec

from .base import Request, Response

COORDINATOR_GROUP = 0  # FindCoordinator key types, as in Kafka
COORDINATOR_TRANSACTION = 1


class FindCoordinator(Request, tag="find_coordinator"):
    key: str
    key_type: int = COORDINATOR_GROUP


class FindCoordinatorResponse(Response, tag="find_coordinator_r"):
    node_id: int = -1  # the broker whose coordinator serves the group
    endpoint: str = ""


class GroupProtocol(msgspec.Struct):
    name: str  # an assignment strategy, e.g. "cooperative-sticky"
    metadata: bytes = b""  # the member's subscription, for that strategy


class JoinGroup(Request, tag="join_group"):
    group_id: str
    session_timeout_ms: int
    rebalance_timeout_ms: int
    member_id: str = ""  # empty on a first join: the coordinator gives one
    group_instance_id: str | None = None  # static membership (KIP-345)
    protocol_type: str = "consumer"
    protocols: list[GroupProtocol] = []
    client_id: str = ""
    client_host: str = ""


class JoinGroupMember(msgspec.Struct):
    member_id: str
    group_instance_id: str | None = None
    metadata: bytes = b""


class JoinGroupResponse(Response, tag="join_group_r"):
    generation_id: int = -1
    protocol_name: str = ""
    leader: str = ""
    member_id: str = ""
    members: list[JoinGroupMember] = []  # for the leader only: everyone's subscription


class SyncAssignment(msgspec.Struct):
    member_id: str
    assignment: bytes = b""


class SyncGroup(Request, tag="sync_group"):
    group_id: str
    generation_id: int
    member_id: str
    group_instance_id: str | None = None
    assignments: list[SyncAssignment] = []  # from the leader only


class SyncGroupResponse(Response, tag="sync_group_r"):
    protocol_name: str = ""
    assignment: bytes = b""


class Heartbeat(Request, tag="heartbeat"):
    group_id: str
    generation_id: int
    member_id: str
    group_instance_id: str | None = None


class HeartbeatResponse(Response, tag="heartbeat_r"):
    pass


class LeavingMember(msgspec.Struct):
    member_id: str = ""
    group_instance_id: str | None = None


class LeaveGroup(Request, tag="leave_group"):
    group_id: str
    members: list[LeavingMember] = []


class LeaveGroupResponse(Response, tag="leave_group_r"):
    pass


class CommitOffset(msgspec.Struct):
    topic: str
    partition: int
    offset: int  # the next record to read, as in Kafka
    metadata: str = ""
    leader_epoch: int = -1


class OffsetCommit(Request, tag="offset_commit"):
    group_id: str
    generation_id: int = -1  # -1 with an empty member id: a commit outside any generation (assign())
    member_id: str = ""
    group_instance_id: str | None = None
    offsets: list[CommitOffset] = []


class PartitionResult(msgspec.Struct):
    topic: str
    partition: int
    error: int = 0


class OffsetCommitResponse(Response, tag="offset_commit_r"):
    results: list[PartitionResult] = []


class TopicPartitionRef(msgspec.Struct):
    topic: str
    partition: int


class OffsetFetch(Request, tag="offset_fetch"):
    group_id: str
    partitions: list[TopicPartitionRef] | None = None  # None: every committed partition


class FetchedOffset(msgspec.Struct):
    topic: str
    partition: int
    offset: int = -1  # -1: nothing committed
    metadata: str = ""
    leader_epoch: int = -1


class OffsetFetchResponse(Response, tag="offset_fetch_r"):
    offsets: list[FetchedOffset] = []


class ListGroups(Request, tag="list_groups"):
    pass


class GroupListing(msgspec.Struct):
    group_id: str
    protocol_type: str = ""
    state: str = ""


class ListGroupsResponse(Response, tag="list_groups_r"):
    groups: list[GroupListing] = []


class DescribeGroups(Request, tag="describe_groups"):
    group_ids: list[str] = []


class MemberDescription(msgspec.Struct):
    member_id: str
    group_instance_id: str | None = None
    client_id: str = ""
    client_host: str = ""
    metadata: bytes = b""  # the subscription under the chosen protocol
    assignment: bytes = b""


class GroupDescription(msgspec.Struct):
    group_id: str
    error: int = 0
    state: str = ""
    protocol_type: str = ""
    protocol: str = ""
    generation_id: int = -1
    leader: str = ""
    members: list[MemberDescription] = []


class DescribeGroupsResponse(Response, tag="describe_groups_r"):
    groups: list[GroupDescription] = []


class DeleteGroups(Request, tag="delete_groups"):
    group_ids: list[str] = []


class DeleteGroupsResponse(Response, tag="delete_groups_r"):
    results: dict[str, int] = {}  # group -> error code (0: deleted)
