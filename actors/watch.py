"""Keeping a copy of the cluster image fresh: long polls to the controller.

Brokers, leaders, cleaners and supervisors all act on the controller's image. A
``MetadataWatcher`` thread asks ``WatchMetadata(known_version)``; the controller
answers at once when its image differs, or after ``max_wait_ms``. While the
controller is down the watcher retries with backoff and its owner keeps serving
from the last image it had. An unchanged image is held for ``HOLD_MS``: with a
process per partition, shorter holds are a steady load on the controller.

The long poll goes through a ``ConnectionPool``, whose socket monitor fails the
request the moment the controller's connection drops: a watch in flight to a
killed controller does not wait out its timeout (up to 5.5 s) before asking the
restarted one, so a failover decided by a new controller reaches every replica
within one retry (``RETRY_MAX_S``).
"""

from __future__ import annotations

import logging
import threading

from wire.connections import ConnectionPool
from wire.errors import ZafkaError, error_for
from wire.metadata import ClusterImage, WatchMetadata

log = logging.getLogger(__name__)

RETRY_MIN_S = 0.02
RETRY_MAX_S = 0.2  # while the controller is away: how late at most a watcher notices it is back
# how long the controller holds an unchanged watch: a change is answered at once, so this only
# sets the idle cost (one request per process per hold); a lost connection fails the watch at once
HOLD_MS = 5000


class MetadataWatcher(threading.Thread):
    def __init__(self, controller: str, on_image, *, max_wait_ms: int = HOLD_MS, name: str = "metadata-watcher"):
        super().__init__(name=name, daemon=True)
        self.controller = controller
        self.on_image = on_image
        self.max_wait_ms = max_wait_ms
        self._stop = threading.Event()
        self.version = -1

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        pool = ConnectionPool()
        backoff = RETRY_MIN_S
        try:
            while not self._stop.is_set():
                try:
                    response, _ = pool.call(
                        self.controller, WatchMetadata(known_version=self.version, max_wait_ms=self.max_wait_ms),
                        timeout_ms=self.max_wait_ms + 500,
                    )
                    if response.error:
                        raise error_for(response.error, response.message)
                except ZafkaError as exc:
                    log.debug("metadata watch failed: %s", exc)
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, RETRY_MAX_S)
                    continue
                backoff = RETRY_MIN_S
                image: ClusterImage | None = response.image
                if image is not None and image.version != self.version:
                    self.version = image.version
                    try:
                        self.on_image(image)
                    except Exception:  # noqa: BLE001 - the owner's bug must not kill the watcher
                        log.exception("metadata callback failed")
        finally:
            pool.close()


class ImageUpdate:
    """What a watcher tells its actor: the controller's image changed."""

    __slots__ = ("image",)

    def __init__(self, image: ClusterImage):
        self.image = image


def watch_for(actor) -> MetadataWatcher:
    """Start a watcher that feeds ``ImageUpdate`` messages into ``actor``'s mailbox."""
    ref = actor.actor_ref
    watcher = MetadataWatcher(actor.spec.controller, lambda image: ref.tell(ImageUpdate(image)))
    watcher.start()
    return watcher
