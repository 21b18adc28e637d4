"""Step 5 (image, seed steps 19-21): the image in this host's cache, verified.

An image may name a kernel and a ramdisk (Glance's ``kernel_id``/``ramdisk_id``, as AKI/ARI
images do); they are cached beside it and the guest boots them directly, with the image's
``os_command_line``, as Nova's libvirt driver does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio import activity

from activities.errors import service_errors
from clients.image import ImageClient
from compute.image_cache import Download, ImageCache, ImageVerificationError
from core import activity_defs as act
from core.errors import ErrorType, request_error
from core.messages import CachedImage, FetchImageInput, ImageSpec

# Heartbeat at most this often (each one is handed to the SDK, which batches them to the server).
HEARTBEAT_EVERY_SECONDS = 1.0

# Image properties read at boot. The first three are Glance's and Nova's; the last is
# bootflow's: the console line a guest prints once it is up, which spawn waits for.
KERNEL_ID = "kernel_id"
RAMDISK_ID = "ramdisk_id"
OS_COMMAND_LINE = "os_command_line"
READY_MARKER = "bootflow_ready_marker"
# Nova's kernel command line for a direct kernel boot with no os_command_line.
DEFAULT_CMDLINE = "root=/dev/vda console=tty0 console=ttyS0"


@dataclass
class BootFiles:
    """What booting an image takes besides its disk: the cached kernel and ramdisk it
    names, the kernel command line, and the console line that says the guest is up."""

    kernel: Path | None = None
    ramdisk: Path | None = None
    cmdline: str | None = None
    ready_marker: str | None = None

    @property
    def cached(self) -> list[Path]:
        return [p for p in (self.kernel, self.ramdisk) if p is not None]


class Heartbeat:
    """The fetching step's heartbeats, at most one a HEARTBEAT_EVERY_SECONDS: ``progress``
    with the bytes so far, ``waiting`` while another download of the image holds its lock
    (each repeats the last bytes reported). Outside an activity it does nothing."""

    def __init__(self) -> None:
        self._last = float("-inf")
        self._done: int | None = None

    def progress(self, done: int) -> None:
        self._done = done
        self._beat()

    def waiting(self) -> None:
        self._beat()

    def _beat(self) -> None:
        now = time.monotonic()
        if now - self._last < HEARTBEAT_EVERY_SECONDS or not activity.in_activity():
            return
        self._last = now
        if self._done is None:
            activity.heartbeat()
        else:
            activity.heartbeat(self._done)


class ImageActivities:
    def __init__(self, images: ImageClient, cache: ImageCache) -> None:
        self.images = images
        self.cache = cache
        self._records: dict[str, dict[str, Any]] = {}  # kernel/ramdisk image records

    def _fetch(self, image_id: str) -> Callable[[Path, Callable[[int], None]], Download]:
        def fetch(dest: Path, progress: Callable[[int], None]) -> Download:
            got = self.images.download(image_id, dest, progress=progress)
            return Download(got.size, got.checksum, got.os_hash_value)

        return fetch

    def _cached(self, image_id: str, role: str, heartbeat: Heartbeat) -> Path:
        """A kernel or ramdisk image in the cache, fetched and verified as the image is
        (heartbeating as it goes). Its record is read once per worker: an active image's
        data never changes."""
        record = self._records.get(image_id)
        if record is None:
            record = self.images.get_image(image_id)
            if record.get("status") == "active":
                self._records[image_id] = record
        if record.get("status") != "active":
            raise request_error(
                ErrorType.IMAGE_NOT_ACTIVE,
                f"The {role} image {image_id} is {record.get('status')}, not active.",
            )
        try:
            path, _ = self.cache.ensure(
                image_id,
                int(record["size"]),
                record.get("checksum"),
                record.get("os_hash_value"),
                self._fetch(image_id),
                heartbeat.progress,
                heartbeat.waiting,
            )
        except ImageVerificationError as exc:
            raise request_error(ErrorType.IMAGE_VERIFICATION_FAILED, str(exc)) from exc
        return path

    def boot_files(self, image: ImageSpec, heartbeat: Heartbeat | None = None) -> BootFiles:
        """The kernel and ramdisk the image names, cached (a no-op once fetch_image did
        it), with its command line and ready marker, from the image's properties."""
        heartbeat = heartbeat or Heartbeat()
        with service_errors(f"read the boot files of image {image.id}"):
            record: dict[str, Any] = dict(image.properties)
            kernel_id, ramdisk_id = record.get(KERNEL_ID), record.get(RAMDISK_ID)
            kernel = self._cached(kernel_id, "kernel", heartbeat) if kernel_id else None
            ramdisk = (
                self._cached(ramdisk_id, "ramdisk", heartbeat) if ramdisk_id and kernel else None
            )
        cmdline = record.get(OS_COMMAND_LINE) or (DEFAULT_CMDLINE if kernel else None)
        marker = record.get(READY_MARKER)
        return BootFiles(kernel, ramdisk, cmdline, str(marker) if marker else None)

    @activity.defn(name=act.FETCH_IMAGE.name)
    def fetch_image(self, request: FetchImageInput) -> CachedImage:
        """Download the image into the cache once, verify size and checksums, heartbeat
        the bytes so far (and while another boot's download of it holds the lock, and while
        its kernel and ramdisk come). Key: the image id (a cached, verified copy is reused)."""
        image = request.image
        heartbeat = Heartbeat()
        with service_errors(f"download image {image.id}"):
            try:
                path, downloaded = self.cache.ensure(
                    image.id,
                    image.size,
                    image.checksum,
                    image.os_hash_value,
                    self._fetch(image.id),
                    heartbeat.progress,
                    heartbeat.waiting,
                )
            except ImageVerificationError as exc:
                raise request_error(ErrorType.IMAGE_VERIFICATION_FAILED, str(exc)) from exc
        if downloaded:
            activity.logger.info("cached image %s (%d bytes)", image.id, image.size)
        # Its kernel and ramdisk too, so the download time is this step's, not spawn's.
        self.boot_files(image, heartbeat)
        return CachedImage(image.id, str(path), image.size)
