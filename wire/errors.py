"""Error codes on the wire and the typed exceptions clients raise for them.

Codes are Kafka's protocol error codes, so a Kafka user reading a log line or a
``zafka`` message recognises them. Every exception says what to do next.
"""

from __future__ import annotations


class ZafkaError(Exception):
    """Base of every error a zafka client or actor raises for a wire error code."""

    code = -1
    retriable = False
    hint = ""

    def __init__(self, message: str = ""):
        text = message or self.__class__.__name__
        if self.hint and self.hint not in text:
            text = f"{text} ({self.hint})"
        super().__init__(text)


def _error(name: str, code: int, hint: str, retriable: bool = False) -> type[ZafkaError]:
    cls = type(name, (ZafkaError,), {"code": code, "hint": hint, "retriable": retriable})
    cls.__module__ = __name__
    return cls


UnknownServerError = _error("UnknownServerError", -1, "see the actor's log under <data-dir>/logs")
OffsetOutOfRange = _error("OffsetOutOfRange", 1, "seek to a valid offset or reset by auto.offset.reset")
CorruptRecord = _error("CorruptRecord", 2, "the batch failed its CRC or length check; resend it")
UnknownTopicOrPartition = _error(
    "UnknownTopicOrPartition", 3, "create the topic first or check its name and partition count", True
)
LeaderNotAvailable = _error("LeaderNotAvailable", 5, "a leader is being elected; retry shortly", True)
NotLeader = _error("NotLeader", 6, "refresh metadata and retry against the new leader", True)
RequestTimedOut = _error("RequestTimedOut", 7, "the cluster did not answer in time; retry", True)
BrokerNotAvailable = _error("BrokerNotAvailable", 8, "check that the cluster is running", True)
RecordTooLarge = _error("RecordTooLarge", 10, "raise max.message.bytes or send smaller records")
InvalidTopic = _error("InvalidTopic", 17, "topic names use [a-zA-Z0-9._-], at most 249 characters")
NotEnoughReplicas = _error("NotEnoughReplicas", 19, "fewer in-sync replicas than min.insync.replicas", True)
NotEnoughReplicasAfterAppend = _error(
    "NotEnoughReplicasAfterAppend", 20,
    "written by the leader, but the ISR shrank below min.insync.replicas before it was replicated; retry", True,
)
UnsupportedVersion = _error("UnsupportedVersion", 35, "client and broker speak different protocol versions")
TopicAlreadyExists = _error("TopicAlreadyExists", 36, "choose another name or delete the topic first")
InvalidPartitions = _error("InvalidPartitions", 37, "partitions must be at least 1 and can only grow")
InvalidReplicationFactor = _error(
    "InvalidReplicationFactor", 38, "replication factor must be between 1 and the number of brokers"
)
NotController = _error("NotController", 41, "send admin requests to the controller", True)
InvalidRequest = _error("InvalidRequest", 42, "the request was malformed; check the client version")
InvalidConfig = _error("InvalidConfig", 40, "see the allowed values in the message")
PolicyViolation = _error("PolicyViolation", 44, "the request breaks a cluster policy")
KafkaStorageError = _error("KafkaStorageError", 56, "the broker's disk failed; see its log")
TopicDeletionDisabled = _error(
    "TopicDeletionDisabled", 73, "set delete.topic.enable=true in the brokers' config to allow deleting topics"
)
InvalidRecord = _error("InvalidRecord", 87, "the batch is not acceptable as sent")
FencedLeaderEpoch = _error("FencedLeaderEpoch", 74, "a newer leader epoch exists; refresh metadata and retry", True)
UnknownLeaderEpoch = _error("UnknownLeaderEpoch", 75, "the leader has not yet learnt of that epoch; retry", True)
# idempotent producers (Kafka's codes)
OutOfOrderSequenceNumber = _error(
    "OutOfOrderSequenceNumber", 45,
    "the broker lacks a batch this producer sent before this one; the producer starts a new sequence",
)
InvalidProducerEpoch = _error(
    "InvalidProducerEpoch", 47, "a newer instance of this producer took over; this one must stop",
)
# consumer groups (Kafka's codes)
OffsetMetadataTooLarge = _error("OffsetMetadataTooLarge", 12, "commit shorter metadata (offset.metadata.max.bytes)")
CoordinatorLoadInProgress = _error(
    "CoordinatorLoadInProgress", 14, "the coordinator is reading its partition of __consumer_offsets; retry", True
)
CoordinatorNotAvailable = _error("CoordinatorNotAvailable", 15, "the group's coordinator is moving; retry", True)
NotCoordinator = _error("NotCoordinator", 16, "find the group's coordinator again and retry", True)
IllegalGeneration = _error("IllegalGeneration", 22, "the group rebalanced: rejoin, then commit again")
InconsistentGroupProtocol = _error(
    "InconsistentGroupProtocol", 23, "every member must share a partition.assignment.strategy with the group"
)
InvalidGroupId = _error("InvalidGroupId", 24, "a group id must be a non-empty string")
UnknownMemberId = _error("UnknownMemberId", 25, "the coordinator no longer knows this member: rejoin the group")
InvalidSessionTimeout = _error(
    "InvalidSessionTimeout", 26, "session.timeout.ms must lie within group.min/max.session.timeout.ms"
)
RebalanceInProgress = _error("RebalanceInProgress", 27, "the group is rebalancing: rejoin, then retry")
NonEmptyGroup = _error("NonEmptyGroup", 68, "the group still has members: stop them first")
GroupIdNotFound = _error("GroupIdNotFound", 69, "no such group (`zafka groups list`)")
FencedInstanceId = _error(
    "FencedInstanceId", 82, "another consumer runs with the same group.instance.id: give each one its own"
)
# zafka's own codes start at 1000, beyond Kafka's range
UnknownActor = _error("UnknownActor", 1000, "`zafka actors` lists the actors of a cluster")

# errors after which a client refreshes metadata before it retries
METADATA_REFRESH_ERRORS = (NotLeader, LeaderNotAvailable, UnknownTopicOrPartition, RequestTimedOut, BrokerNotAvailable,
                           FencedLeaderEpoch, UnknownLeaderEpoch)

BY_CODE: dict[int, type[ZafkaError]] = {
    cls.code: cls
    for cls in (
        UnknownServerError, OffsetOutOfRange, CorruptRecord, UnknownTopicOrPartition,
        LeaderNotAvailable, NotLeader, RequestTimedOut, BrokerNotAvailable, RecordTooLarge,
        InvalidTopic, NotEnoughReplicas, NotEnoughReplicasAfterAppend, FencedLeaderEpoch, UnknownLeaderEpoch,
        UnsupportedVersion, TopicAlreadyExists,
        InvalidPartitions, InvalidReplicationFactor, NotController, InvalidRequest,
        InvalidConfig, PolicyViolation, KafkaStorageError, TopicDeletionDisabled, InvalidRecord, UnknownActor,
        OffsetMetadataTooLarge, CoordinatorLoadInProgress, CoordinatorNotAvailable, NotCoordinator, IllegalGeneration,
        InconsistentGroupProtocol, InvalidGroupId, UnknownMemberId, InvalidSessionTimeout, RebalanceInProgress,
        NonEmptyGroup, GroupIdNotFound, FencedInstanceId, OutOfOrderSequenceNumber, InvalidProducerEpoch,
    )
}


def error_for(code: int, message: str = "") -> ZafkaError:
    """The typed exception for a wire error code (``UnknownServerError`` if unknown)."""
    return BY_CODE.get(code, UnknownServerError)(message)

