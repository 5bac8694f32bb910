"""Compression codecs of RecordBatch v2, under Kafka's attribute codes.

Each codec is a well-kept library; this module only adapts their calling
conventions to what Kafka's Java client writes, so batches travel both ways:

* gzip   (1): RFC 1952 stream (``zlib`` with a gzip wrapper), level 6 as Java's default.
* snappy (2): the xerial block framing Java's ``SnappyOutputStream`` writes (16-byte
  header, then big-endian length-prefixed raw snappy blocks) around ``cramjam``'s
  raw snappy; bare raw snappy is accepted on input too, as Kafka's reader does.
* lz4    (3): the LZ4 frame format with independent blocks (``lz4.frame``).
* zstd   (4): a zstd frame (``zstandard``); input frames without a content size
  (streamed by Java's zstd-jni) are decoded by streaming.
"""

from __future__ import annotations

import struct
import threading
import zlib

import cramjam
import lz4.frame
import zstandard

from .errors import CorruptRecordError, UnsupportedCompressionError

NONE, GZIP, SNAPPY, LZ4, ZSTD = 0, 1, 2, 3, 4
CODEC_MASK = 0x07

CODECS = {"none": NONE, "gzip": GZIP, "snappy": SNAPPY, "lz4": LZ4, "zstd": ZSTD}
CODEC_NAMES = {v: k for k, v in CODECS.items()}

_XERIAL_HEADER = b"\x82SNAPPY\x00" + struct.pack(">ii", 1, 1)
_XERIAL_BLOCK = 32 * 1024  # xerial's default block size
# python-zstandard's (de)compressor objects must not be used by two threads at once, and a process
# compresses in one thread (a producer's sender) while it decompresses in another (a consumer): one
# pair per thread
_zstd = threading.local()


def _zstd_compressor() -> zstandard.ZstdCompressor:
    c = getattr(_zstd, "compressor", None)
    if c is None:
        c = _zstd.compressor = zstandard.ZstdCompressor(level=3)
    return c


def _zstd_decompressor() -> zstandard.ZstdDecompressor:
    d = getattr(_zstd, "decompressor", None)
    if d is None:
        d = _zstd.decompressor = zstandard.ZstdDecompressor()
    return d


def codec_id(name_or_id: str | int) -> int:
    """Kafka's attribute code for a codec given by name (``"lz4"``) or code."""
    if isinstance(name_or_id, int) and not isinstance(name_or_id, bool):
        if name_or_id in CODEC_NAMES:
            return name_or_id
    elif isinstance(name_or_id, str) and name_or_id.lower() in CODECS:
        return CODECS[name_or_id.lower()]
    raise UnsupportedCompressionError(
        f"unknown compression {name_or_id!r}; use one of {', '.join(CODECS)}"
    )


def compress(codec: int, data) -> bytes:
    if codec == NONE:
        return bytes(data)
    if codec == GZIP:
        c = zlib.compressobj(6, zlib.DEFLATED, 31)
        return c.compress(data) + c.flush()
    if codec == SNAPPY:
        view = memoryview(data)
        parts = [_XERIAL_HEADER]
        for start in range(0, len(view), _XERIAL_BLOCK):
            block = bytes(cramjam.snappy.compress_raw(view[start : start + _XERIAL_BLOCK]))
            parts.append(struct.pack(">i", len(block)))
            parts.append(block)
        return b"".join(parts)
    if codec == LZ4:
        return lz4.frame.compress(data, block_linked=False, store_size=False)
    if codec == ZSTD:
        return _zstd_compressor().compress(data)
    raise UnsupportedCompressionError(f"unknown compression code {codec}")


def decompress(codec: int, data) -> bytes:
    try:
        if codec == NONE:
            return bytes(data)
        if codec == GZIP:
            return _each_member(data, lambda: zlib.decompressobj(47), "gzip")
        if codec == SNAPPY:
            return _snappy_decode(memoryview(data))
        if codec == LZ4:
            return lz4.frame.decompress(data)
        if codec == ZSTD:
            return _each_member(data, _zstd_decompressor().decompressobj, "zstd")
    except CorruptRecordError:
        raise
    except Exception as exc:  # each library raises its own error type
        raise CorruptRecordError(f"cannot decompress {CODEC_NAMES[codec]} data: {exc}") from exc
    raise UnsupportedCompressionError(f"unknown compression code {codec}")


def _each_member(data, new_decoder, name: str) -> bytes:
    """Decode every concatenated member/frame, as Java's streams do; a cut one is corrupt."""
    rest, parts = bytes(data), []
    while True:
        decoder = new_decoder()
        parts.append(decoder.decompress(rest))
        if not decoder.eof:
            raise CorruptRecordError(f"truncated {name} data")
        rest = decoder.unused_data
        if not rest:
            return b"".join(parts)


def _snappy_decode(view: memoryview) -> bytes:
    if bytes(view[:8]) != _XERIAL_HEADER[:8]:
        return bytes(cramjam.snappy.decompress_raw(view))
    pos, parts = 16, []
    while pos < len(view):
        if pos + 4 > len(view):
            raise CorruptRecordError("truncated xerial snappy block length")
        (size,) = struct.unpack_from(">i", view, pos)
        pos += 4
        if size < 0 or pos + size > len(view):
            raise CorruptRecordError("truncated xerial snappy block")
        parts.append(bytes(cramjam.snappy.decompress_raw(view[pos : pos + size])))
        pos += size
    return b"".join(parts)
