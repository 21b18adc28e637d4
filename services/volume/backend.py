"""The storage behind volumes: one raw file per volume, sparse, under the volumes directory.

A file appears under its final name only when complete (it is built as ``.part`` and
renamed), so a crash mid-fill never leaves a half-written volume that looks whole. Images
are verified against Glance's checksum while they stream; non-raw formats are converted to
raw with ``qemu-img``, refusing images that name a backing file (a way to read host files).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

log = logging.getLogger(__name__)

GiB: Final = 1 << 30
# Image disk formats copied byte for byte, and those qemu-img converts (Glance's name -> qemu's).
RAW_FORMATS: Final = frozenset({"raw", "iso"})
CONVERTED_FORMATS: Final = {
    "qcow2": "qcow2",
    "vmdk": "vmdk",
    "vdi": "vdi",
    "vhd": "vpc",
    "vhdx": "vhdx",
}
_INFO_TIMEOUT = 60.0
_CONVERT_TIMEOUT = 3600.0


class BackendError(Exception):
    """The backing file could not be made; the message says why (the volume goes to error)."""


@dataclass(frozen=True)
class ImageData:
    """What filling a volume needs to know about an image, as Glance described it."""

    id: str
    disk_format: str
    checksum: str | None = None
    os_hash_algo: str | None = None
    os_hash_value: str | None = None


def supports(disk_format: str | None) -> bool:
    return disk_format in RAW_FORMATS or disk_format in CONVERTED_FORMATS


class FileBackend:
    """Volume files under ``root``; every method is idempotent enough to retry."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, volume_id: str) -> Path:
        return self.root / f"volume-{volume_id}"

    def _scratch(self, volume_id: str, suffix: str) -> Path:
        return self.root / f".volume-{volume_id}.{suffix}"

    def create(self, volume_id: str, size_gb: int) -> Path:
        """An empty (all zeros, no blocks allocated) file of ``size_gb`` GiB."""
        self.root.mkdir(parents=True, exist_ok=True)
        part = self._scratch(volume_id, "part")
        try:
            with _private_file(part) as f:
                f.truncate(size_gb * GiB)
            return self._publish(volume_id, part)
        finally:
            part.unlink(missing_ok=True)

    def create_from_image(
        self, volume_id: str, size_gb: int, image: ImageData, chunks: Iterable[bytes]
    ) -> Path:
        """A ``size_gb`` GiB raw file holding the image's disk, from its streamed bytes."""
        if not supports(image.disk_format):
            raise BackendError(
                f"Image {image.id} has disk format {image.disk_format!r}, "
                "which cannot be written to a volume."
            )
        self.root.mkdir(parents=True, exist_ok=True)
        part = self._scratch(volume_id, "part")
        download = self._scratch(volume_id, "download")
        try:
            if image.disk_format in RAW_FORMATS:
                _write_raw(part, chunks, image, limit=size_gb * GiB)
            else:
                _write_raw(download, chunks, image, limit=None)
                _convert(download, part, CONVERTED_FORMATS[image.disk_format], image, size_gb)
            with part.open("r+b") as f:
                f.truncate(size_gb * GiB)
            return self._publish(volume_id, part)
        finally:
            part.unlink(missing_ok=True)
            download.unlink(missing_ok=True)

    def _publish(self, volume_id: str, part: Path) -> Path:
        final = self.path_of(volume_id)
        os.replace(part, final)
        return final

    def delete(self, volume_id: str) -> None:
        """Remove the volume's file (and any leftovers of an interrupted fill)."""
        for path in (
            self.path_of(volume_id),
            self._scratch(volume_id, "part"),
            self._scratch(volume_id, "download"),
        ):
            path.unlink(missing_ok=True)

    def initialize_connection(self, volume_id: str, access_mode: str) -> dict[str, Any]:
        """A driver's connection info (Cinder's ``initialize_connection``): the file itself."""
        return {
            "driver_volume_type": "file",
            "data": {
                "device_path": str(self.path_of(volume_id).resolve()),
                "format": "raw",
                "name": f"volume-{volume_id}",
                "access_mode": access_mode,
            },
        }


@contextlib.contextmanager
def _private_file(path: Path) -> Iterator[Any]:
    # A leftover of an interrupted earlier try goes first; O_EXCL then refuses to follow a
    # symlink someone could have planted in its place.
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        yield f


class _Verifier:
    """Checks streamed bytes against Glance's multihash (or, lacking it, its md5 checksum)."""

    def __init__(self, image: ImageData) -> None:
        self.image = image
        self.expected: str | None = None
        self.hasher: Any = None
        if image.os_hash_algo and image.os_hash_value:
            try:
                self.hasher = hashlib.new(image.os_hash_algo)
                self.expected = image.os_hash_value
            except ValueError:
                log.warning(
                    "image %s: unknown hash algorithm %r, not verified",
                    image.id,
                    image.os_hash_algo,
                )
        elif image.checksum:
            self.hasher = hashlib.md5(usedforsecurity=False)
            self.expected = image.checksum

    def update(self, chunk: bytes) -> None:
        if self.hasher is not None:
            self.hasher.update(chunk)

    def check(self) -> None:
        if self.hasher is not None and self.hasher.hexdigest() != self.expected:
            raise BackendError(
                f"Image {self.image.id} failed verification: its data does not "
                "match the checksum the image service recorded."
            )


def _write_raw(path: Path, chunks: Iterable[bytes], image: ImageData, limit: int | None) -> None:
    verifier = _Verifier(image)
    written = 0
    with _private_file(path) as f:
        for chunk in chunks:
            verifier.update(chunk)
            written += len(chunk)
            if limit is not None and written > limit:
                raise BackendError(
                    f"Image {image.id} is larger than the volume ({limit // GiB}GB)."
                )
            if chunk.count(0) == len(chunk):
                f.seek(len(chunk), os.SEEK_CUR)  # keep runs of zeros unallocated
            else:
                f.write(chunk)
        f.truncate(written)  # a trailing seek alone does not extend the file
    verifier.check()


def _qemu_img() -> str:
    found = shutil.which("qemu-img")
    if found is None:
        raise BackendError(
            "qemu-img is not installed (apt-get install qemu-utils); "
            "only raw images can be written to volumes."
        )
    return found


def _convert(source: Path, dest: Path, fmt: str, image: ImageData, size_gb: int) -> None:
    qemu_img = _qemu_img()
    info = _run(
        [qemu_img, "info", "-f", fmt, "--output=json", str(source)],
        _INFO_TIMEOUT,
        f"Image {image.id} is not a valid {image.disk_format} image",
    )
    facts = json.loads(info)
    if facts.get("backing-filename") or facts.get("full-backing-filename"):
        raise BackendError(f"Image {image.id} is unacceptable: it names a backing file.")
    virtual_size = int(facts.get("virtual-size", 0))
    if virtual_size > size_gb * GiB:
        needed = -(-virtual_size // GiB)
        raise BackendError(
            f"Image {image.id} is unacceptable: Image virtual size is "
            f"{needed}GB and doesn't fit in a volume of size {size_gb}GB."
        )
    dest.unlink(missing_ok=True)
    _run(
        [qemu_img, "convert", "-q", "-f", fmt, "-O", "raw", str(source), str(dest)],
        _CONVERT_TIMEOUT,
        f"Image {image.id} could not be converted to raw",
    )
    os.chmod(dest, 0o600)


def _run(argv: list[str], timeout: float, failure: str) -> str:
    try:
        done = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=timeout)
    except subprocess.CalledProcessError as exc:
        raise BackendError(f"{failure}: {exc.stderr.strip()[:300]}") from exc
    except subprocess.TimeoutExpired as exc:
        raise BackendError(f"{failure}: qemu-img took longer than {timeout:.0f}s") from exc
    return done.stdout
