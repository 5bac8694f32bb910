"""Measure a live topic for ``zafka plan disk --from-topic``: average record size, bytes stored ÷ bytes produced.

The broker does not report how many bytes a partition holds or how many bytes its
producers sent (there is no DescribeLogDirs or byte counter in the protocol yet),
so this measures from the client side what can be measured exactly: it fetches
the stored batches themselves from each partition's leader, byte for byte as they
lie in the ``.log`` segments (a leader stores batches as producers sent them), and
decodes their records.

* produced bytes: the keys, values and header keys/values of the records, i.e. what
  the producers' callers handed in; their mean is the average message size.
* stored bytes: the whole batches, with the 61-byte batch header, the per-record
  varints and the codec's output, i.e. what the disk holds for those records
  (index files not counted; the disk formula has its own index overhead term).

So ``message size × stored ÷ produced`` is exactly the disk one message takes, which
is what the course's formula multiplies. The codec's own ratio (compressed batch ÷
the same batch uncompressed) is reported beside it.

Raw fetches (``wire.fetch.Fetch``) rather than the ``Consumer``: the consumer hands
out records and keeps the batches they came in to itself.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .output import CommandError

SAMPLE_BYTES_PER_PARTITION = 4 * 1024 * 1024  # enough for a stable average; bounded so a big topic stays quick
FETCH_BYTES = 1024 * 1024
FETCH_TIMEOUT_MS = 10_000


@dataclass
class TopicSample:
    topic: str
    partitions: int = 0
    records: int = 0
    batches: int = 0
    produced_bytes: int = 0  # keys + values + headers of the sampled records
    stored_bytes: int = 0  # whole batches as the leader stores them
    uncompressed_batch_bytes: int = 0  # the same batches with their records section uncompressed
    codecs: Counter = field(default_factory=Counter)  # codec name -> batches
    complete: bool = True  # False when some partition held more than the sample took

    @property
    def average_record_size(self) -> float:
        return self.produced_bytes / self.records

    @property
    def stored_over_produced(self) -> float:
        return self.stored_bytes / self.produced_bytes

    @property
    def codec_ratio(self) -> float:
        return self.stored_bytes / self.uncompressed_batch_bytes


def record_bytes(record) -> int:
    """Key, value and headers only: the message size a user plans with, without the record's own framing."""
    size = len(record.key or b"") + len(record.value or b"")
    for key, value in record.headers or ():
        size += len(key.encode("utf-8") if isinstance(key, str) else key) + len(value or b"")
    return size


def add_batches(sample: TopicSample, frame) -> int:
    """Count one fetched frame into ``sample``; returns the offset after its last batch (-1 if none).

    Batches are validated (CRC): a measurement over corrupt bytes would be a wrong
    answer, not a rough one. Control batches are skipped: no producer sent them.
    """
    from storage import compression
    from storage.batch import HEADER_SIZE, iter_batches

    next_offset = -1
    for batch in iter_batches(frame, validate=True):
        next_offset = batch.next_offset
        if batch.is_control:
            continue
        sample.batches += 1
        sample.stored_bytes += batch.size
        codec = batch.compression
        sample.codecs[compression.CODEC_NAMES.get(codec, str(codec))] += 1
        if codec == compression.NONE:
            sample.uncompressed_batch_bytes += batch.size
        else:
            body = compression.decompress(codec, batch.raw()[HEADER_SIZE:])
            sample.uncompressed_batch_bytes += HEADER_SIZE + len(body)
        for record in batch.records():
            sample.records += 1
            sample.produced_bytes += record_bytes(record)
    return next_offset


def sample_topic(bootstrap: str, topic: str, per_partition_bytes: int = SAMPLE_BYTES_PER_PARTITION) -> TopicSample:
    """Measure up to ``per_partition_bytes`` of every partition, from its log start.

    Every partition, because producers may key different kinds of records to
    different partitions; from the log start, so a small topic is measured whole
    and the result can be checked against its segment files.
    """
    from wire import Admin
    from wire.fetch import Fetch
    from wire.transport import call

    admin = Admin(bootstrap=bootstrap)
    try:
        description = admin.describe_topic(topic)
    finally:
        admin.close()
    sample = TopicSample(topic, partitions=len(description.partitions))
    for part in description.partitions:
        end = part.high_watermark if part.high_watermark >= 0 else part.log_end_offset
        if part.log_start_offset < 0 or end < 0 or not part.leader_endpoint:
            raise CommandError(
                f"partition {topic}-{part.partition} has no leader answering right now; "
                "try again, or give --message-size and --compression-ratio"
            )
        offset, taken = part.log_start_offset, 0
        while offset < end and taken < per_partition_bytes:
            request = Fetch(topic=topic, partition=part.partition, offset=offset,
                            max_bytes=min(FETCH_BYTES, per_partition_bytes - taken), max_wait_ms=0, min_bytes=0)
            _, payload = call(part.leader_endpoint, request, timeout_ms=FETCH_TIMEOUT_MS)
            frame = payload[0].buffer if payload else b""
            before = sample.stored_bytes
            after = add_batches(sample, frame)
            if after <= offset:
                break  # nothing new below the high watermark (a concurrent truncation): use what we have
            taken += max(sample.stored_bytes - before, 1)
            offset = after
        if offset < end:
            sample.complete = False
    if not sample.records or not sample.produced_bytes:
        raise CommandError(
            f"topic {topic!r} holds no record bytes to measure; produce some first, "
            "or give --message-size and --compression-ratio"
        )
    return sample
