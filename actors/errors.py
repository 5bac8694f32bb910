"""From storage and config exceptions to the typed wire errors clients see."""

from __future__ import annotations

from storage import errors as storage_errors
from wire import errors as wire_errors

_MAPPING = [
    (storage_errors.OffsetOutOfRangeError, wire_errors.OffsetOutOfRange),
    (storage_errors.CorruptRecordError, wire_errors.CorruptRecord),
    (storage_errors.RecordTooLargeError, wire_errors.RecordTooLarge),
    (storage_errors.OutOfOrderSequenceError, wire_errors.OutOfOrderSequenceNumber),
    (storage_errors.InvalidProducerEpochError, wire_errors.InvalidProducerEpoch),
    (storage_errors.InvalidRecordError, wire_errors.InvalidRecord),
    (storage_errors.UnsupportedCompressionError, wire_errors.InvalidRecord),
    (storage_errors.InvalidConfigError, wire_errors.InvalidConfig),
    (storage_errors.StorageError, wire_errors.KafkaStorageError),
]


def to_wire_error(exc: Exception) -> wire_errors.ZafkaError:
    if isinstance(exc, wire_errors.ZafkaError):
        return exc
    for storage_type, wire_type in _MAPPING:
        if isinstance(exc, storage_type):
            return wire_type(str(exc))
    try:
        from .config import ConfigError
    except ImportError:  # pragma: no cover - config module always ships
        ConfigError = ()  # type: ignore[assignment]
    if ConfigError and isinstance(exc, ConfigError):
        return wire_errors.InvalidConfig(str(exc))
    return wire_errors.UnknownServerError(f"{type(exc).__name__}: {exc}")
