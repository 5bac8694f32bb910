"""Keeping a copy of the cluster image fresh: long polls to the controller.

Brokers, leaders, cleaners and supervisors all act on the controller's image. A
``MetadataWatcher`` thread asks ``WatchMetadata(known_version)``; the controller
answers at once when its image differs, or after ``max_wait_ms``. While the
controller is down the watcher retries with backoff and its owner keeps serving
from the last image it had.
"""

from __future__ import annotations

import logging
import threading

from wire.errors import ZafkaError
from wire.metadata import ClusterImage, WatchMetadata
from wire.transport import Connection

log = logging.getLogger(__name__)


class MetadataWatcher(threading.Thread):
    def __init__(self, controller: str, on_image, *, max_wait_ms: int = 1000, name: str = "metadata-watcher"):
        super().__init__(name=name, daemon=True)
        self.controller = controller
        self.on_image = on_image
        self.max_wait_ms = max_wait_ms
        self._stop = threading.Event()
        self.version = -1

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        conn = Connection(self.controller)
        backoff = 0.05
        try:
            while not self._stop.is_set():
                try:
                    response, _ = conn.call(
                        WatchMetadata(known_version=self.version, max_wait_ms=self.max_wait_ms),
                        timeout_ms=self.max_wait_ms + 500,
                    )
                except ZafkaError as exc:
                    log.debug("metadata watch failed: %s", exc)
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, 1.0)
                    continue
                backoff = 0.05
                image: ClusterImage = response.image
                if image.version != self.version:
                    self.version = image.version
                    try:
                        self.on_image(image)
                    except Exception:  # noqa: BLE001 - the owner's bug must not kill the watcher
                        log.exception("metadata callback failed")
        finally:
            conn.close()


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
