"""Typed errors of the storage engine.

Every failure a caller can act on has its own class, so a leader can map it to a
wire error code without parsing messages, and a test can assert on the type.
"""


class StorageError(Exception):
    """Base class of every error raised by ``storage``."""


class CorruptRecordError(StorageError):
    """A record batch failed its length, magic or CRC check.

    Raised to writers handing in a bad batch (nothing is appended) and to readers
    of bytes that do not form whole, valid batches.
    """


class InvalidRecordError(StorageError):
    """A batch is well formed but not acceptable here (e.g. offsets go backwards)."""


class RecordTooLargeError(StorageError):
    """A batch is larger than ``max.message.bytes`` or than a segment can hold."""


class UnsupportedCompressionError(StorageError):
    """The batch's attributes name a compression codec zafka does not know."""


class OffsetOutOfRangeError(StorageError):
    """A read asked for an offset below the log start or above the log end."""

    def __init__(self, offset: int, log_start: int, log_end: int):
        super().__init__(
            f"offset {offset} is outside the log [{log_start}, {log_end}); "
            "seek to a valid offset or reset by auto.offset.reset"
        )
        self.offset = offset
        self.log_start = log_start
        self.log_end = log_end


class OutOfOrderSequenceError(InvalidRecordError):
    """An idempotent producer's batch does not start right after its last sequence: one in between is missing."""


class InvalidProducerEpochError(InvalidRecordError):
    """A batch from an older epoch of a producer: a newer instance of it has taken over."""


class CorruptSnapshotError(StorageError):
    """A producer-state snapshot does not read back (its CRC or its encoding is wrong)."""


class LogLockedError(StorageError):
    """Another writer holds the partition directory's lock."""


class InvalidConfigError(StorageError, ValueError):
    """A log config value is of the wrong type or out of range."""

    def __init__(self, key: str, value: object, allowed: str):
        super().__init__(f"invalid value {value!r} for {key}: {allowed}")
        self.key = key
        self.value = value
        self.allowed = allowed
