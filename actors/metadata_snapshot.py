"""Snapshots of the controller's image, so a restart replays a bounded tail of its metadata log.

As in KRaft, a snapshot is the whole image as of one offset of the metadata log,
in a file of its own next to the log's segments: ``<offset>-<epoch>.checkpoint``
(20 and 10 digits; zafka's single controller writes epoch 0). ``offset`` is the
log end the image includes, so a restart loads the newest readable snapshot and
replays only the records from that offset on.

File layout: ``ZSNP`` magic, a version byte, the CRC-32C of the payload (4 bytes,
big-endian), then the payload, the msgpack of ``Snapshot``. A file that is short,
has another magic or version, or fails its CRC is not trusted: the loader falls
back to an older snapshot, which is why the two newest are kept, and why the log
keeps every record from the older one on (``oldest_needed_offset``).

Liveness is not part of a snapshot (brokers are written as not alive), exactly as
replaying events yields: it is re-learned from heartbeats within a session.
Writes go to ``<name>.tmp``, are fsynced, then renamed and the directory fsynced,
so a crash leaves the old snapshots or the new one — and the log's own open
removes any ``.tmp`` left behind.
"""

from __future__ import annotations

import logging
import os
import struct

import msgspec
from crc32c import crc32c

from storage.checkpoint import write_atomically
from wire.metadata import ClusterImage

log = logging.getLogger(__name__)

MAGIC = b"ZSNP"
VERSION = 1
HEADER = struct.Struct(">4sBI")  # magic, version, crc32c of the payload
SUFFIX = ".checkpoint"
KEEP = 2  # the newest, and one to fall back on


class Snapshot(msgspec.Struct):
    offset: int  # the image includes every record below this offset
    image: ClusterImage


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(Snapshot)


class CorruptSnapshot(ValueError):
    pass


def snapshot_name(offset: int, epoch: int = 0) -> str:
    return f"{offset:020d}-{epoch:010d}{SUFFIX}"


def parse_snapshot_name(name: str) -> int | None:
    """The offset of a snapshot file name, or None for any other file."""
    stem, suffix = name[: -len(SUFFIX)], name[-len(SUFFIX):]
    offset, dash, epoch = stem.partition("-")
    if suffix != SUFFIX or not dash or len(offset) != 20 or len(epoch) != 10:
        return None
    if not (offset.isdigit() and epoch.isdigit()):
        return None
    return int(offset)


def encode(snapshot: Snapshot) -> bytes:
    image = msgspec.structs.replace(snapshot.image, brokers={
        b: msgspec.structs.replace(info, alive=False) for b, info in snapshot.image.brokers.items()
    })
    payload = _ENCODER.encode(Snapshot(snapshot.offset, image))
    return HEADER.pack(MAGIC, VERSION, crc32c(payload)) + payload


def decode(data: bytes) -> Snapshot:
    if len(data) < HEADER.size:
        raise CorruptSnapshot(f"{len(data)} bytes is shorter than a snapshot header")
    magic, version, crc = HEADER.unpack_from(data)
    if magic != MAGIC or version != VERSION:
        raise CorruptSnapshot(f"not a version {VERSION} snapshot (magic {magic!r}, version {version})")
    payload = memoryview(data)[HEADER.size:]
    if crc32c(payload) != crc:
        raise CorruptSnapshot("the payload fails its CRC")
    try:
        return _DECODER.decode(payload)
    except msgspec.DecodeError as exc:
        raise CorruptSnapshot(f"the payload does not decode: {exc}") from None


def snapshot_offsets(directory: str) -> list[int]:
    """Offsets of the snapshot files in ``directory``, oldest first."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return sorted(o for o in map(parse_snapshot_name, names) if o is not None)


def write(directory: str, snapshot: Snapshot) -> str:
    """Write a snapshot atomically and keep only the ``KEEP`` newest; its path."""
    path = os.path.join(directory, snapshot_name(snapshot.offset))
    write_atomically(path, encode(snapshot))
    for offset in snapshot_offsets(directory)[:-KEEP]:
        os.unlink(os.path.join(directory, snapshot_name(offset)))
    return path


def load_latest(directory: str) -> Snapshot | None:
    """The newest snapshot that reads back intact (older ones are the fallback), or None."""
    for offset in reversed(snapshot_offsets(directory)):
        path = os.path.join(directory, snapshot_name(offset))
        try:
            with open(path, "rb") as f:
                snapshot = decode(f.read())
        except (OSError, CorruptSnapshot) as exc:
            log.warning("ignoring snapshot %s: %s", path, exc)
            continue
        if snapshot.offset != offset:
            log.warning("ignoring snapshot %s: it says offset %d", path, snapshot.offset)
            continue
        return snapshot
    return None


def oldest_needed_offset(directory: str) -> int | None:
    """Records below this offset are in every kept snapshot: the log may delete them."""
    offsets = snapshot_offsets(directory)
    return offsets[0] if len(offsets) >= KEEP else None
