"""zafka's storage engine: record batches, segments, indexes, the partition log.

A library with no processes and no sockets. Everything that stores data — partition
leaders, followers, the controller's metadata log, ``__consumer_offsets`` — goes
through ``Log``.
"""

from .batch import BatchBuilder, Record, RecordBatch, build_batch, iter_batches
from .config import LogConfig
from .errors import (
    CorruptRecordError,
    InvalidConfigError,
    InvalidRecordError,
    LogLockedError,
    OffsetOutOfRangeError,
    RecordTooLargeError,
    StorageError,
    UnsupportedCompressionError,
)
from .log import AppendInfo, Log

__all__ = [
    "AppendInfo", "BatchBuilder", "CorruptRecordError", "InvalidConfigError", "InvalidRecordError",
    "Log", "LogConfig", "LogLockedError", "OffsetOutOfRangeError", "Record", "RecordBatch",
    "RecordTooLargeError", "StorageError", "UnsupportedCompressionError", "build_batch", "iter_batches",
]
