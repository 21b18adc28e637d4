"""Step 5 (image, seed steps 19-21): the image in this host's cache, verified."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from temporalio import activity

from activities.errors import service_errors
from bootflow import activity_defs as act
from bootflow.errors import ErrorType, request_error
from bootflow.messages import CachedImage, FetchImageInput
from bootflow.states import TaskState
from clients.image import ImageClient
from compute.image_cache import Download, ImageCache, ImageVerificationError
from db.instances import set_task_state
from db.session import SessionFactory

# Heartbeat at most this often while bytes arrive (a heartbeat is a call to the server).
_HEARTBEAT_EVERY_BYTES = 8 << 20


class ImageActivities:
    def __init__(self, images: ImageClient, cache: ImageCache, sessions: SessionFactory) -> None:
        self.images = images
        self.cache = cache
        self.sessions = sessions

    def _fetch(self, image_id: str) -> Callable[[Path, Callable[[int], None]], Download]:
        def fetch(dest: Path, progress: Callable[[int], None]) -> Download:
            got = self.images.download(image_id, dest, progress=progress)
            return Download(got.size, got.checksum, got.os_hash_value)

        return fetch

    @activity.defn(name=act.FETCH_IMAGE.name)
    def fetch_image(self, request: FetchImageInput) -> CachedImage:
        """Download the image into the cache once, verify size and checksums, heartbeat
        the bytes so far. Key: the image id (a cached, verified copy is reused)."""
        set_task_state(self.sessions, request.instance_uuid, TaskState.SPAWNING)
        image = request.image
        last = 0

        def progress(done: int) -> None:
            nonlocal last
            if done - last >= _HEARTBEAT_EVERY_BYTES or done == image.size:
                last = done
                activity.heartbeat(done)

        with service_errors(f"download image {image.id}"):
            try:
                path, downloaded = self.cache.ensure(
                    image.id,
                    image.size,
                    image.checksum,
                    image.os_hash_value,
                    self._fetch(image.id),
                    progress,
                )
            except ImageVerificationError as exc:
                raise request_error(ErrorType.IMAGE_VERIFICATION_FAILED, str(exc)) from exc
        if downloaded:
            activity.logger.info("cached image %s (%d bytes)", image.id, image.size)
        return CachedImage(image.id, str(path), image.size)
