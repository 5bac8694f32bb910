"""The record codec: varint records of RecordBatch v2, in and out.

This is the hot path of every produce and every consume, so it is one small module
that the rest of zafka reaches only through ``new_builder`` and ``iter_records``;
swapping the implementation means changing this file alone.

Why aiokafka's compiled module (``aiokafka.record._crecords``, Cython): it is a
maintained codec written for exactly this format. Measured on the 2-core dev machine
(100-byte values, 500 records per batch; ``scripts/bench_codec.py``):

=====================================  ============  ===========
implementation                         built rec/s   read rec/s
=====================================  ============  ===========
kafka-python (pure Python varints)        ~600,000      ~390,000
aiokafka ``_crecords`` (Cython)         ~3,600,000    ~7,000,000
=====================================  ============  ===========

The goal was 1,000,000 built and 2,000,000 read per second, which only the
compiled module reaches. zafka uses it for the records only: the batch header,
the CRC (``crc32c``) and compression (``storage.compression``) are done in
``storage.batch`` so the bytes and codecs stay under zafka's control.

A builder made here writes an *uncompressed* batch (base offset 0, CRC set);
``iter_records`` wants an uncompressed batch buffer (header + records).
Records come back as objects with ``offset``, ``timestamp``, ``key``, ``value``
and ``headers`` (a list of ``(str, bytes)``) attributes.
"""

from __future__ import annotations

from collections.abc import Iterator

from aiokafka.errors import CorruptRecordException
from aiokafka.record._crecords import DefaultRecordBatch as _Reader
from aiokafka.record._crecords import DefaultRecordBatchBuilder as _Builder

from .errors import CorruptRecordError

_MAGIC = 2
_NO_LIMIT = 2**31 - 1


def new_builder(
    *, is_transactional: bool, producer_id: int, producer_epoch: int, base_sequence: int
):
    """A one-pass builder: ``append(offset_delta, timestamp, key, value, headers)``, ``build()``."""
    return _Builder(
        _MAGIC, 0, int(is_transactional), producer_id, producer_epoch, base_sequence, _NO_LIMIT
    )


def iter_records(uncompressed_batch) -> Iterator:
    """Decode the records of one uncompressed batch lazily, with absolute offsets."""
    try:
        yield from _Reader(uncompressed_batch)
    except CorruptRecordException as exc:
        raise CorruptRecordError(f"malformed record in batch: {exc}") from exc
