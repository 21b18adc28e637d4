"""The image store: one file an image, named by its id, under ``settings.images_dir``.

An upload is written to a hidden temporary file in the same directory, hashed as it is
written, then fsynced and renamed into place: a reader sees either no data or all of it,
and an upload that breaks off leaves nothing behind. Nothing here holds an image in memory.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from services.common.app import ApiError
from services.image import formats

log = logging.getLogger(__name__)

# Read and write in pieces this big: few syscalls, little memory.
CHUNK_SIZE = 1 << 20
_PARTIAL_SUFFIX = ".part"

HASH_ALGO = "sha512"


@dataclass(frozen=True)
class StoredData:
    """What an upload wrote, as the image record keeps it."""

    size: int
    checksum: str  # md5, Glance's legacy checksum
    os_hash_value: str  # sha512
    virtual_size: int | None
    os_hash_algo: str = HASH_ALGO


class ImageStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def path(self, image_id: str) -> Path:
        # Ids come from the database (UUIDs), but a path must never leave the store.
        if not image_id or "/" in image_id or image_id.startswith("."):
            raise ValueError(f"not an image id: {image_id!r}")
        return self.directory / image_id

    def writer(self, image_id: str, disk_format: str | None) -> ImageWriter:
        return ImageWriter(self.path(image_id), disk_format)

    def open(self, image_id: str) -> BinaryIO | None:
        """The image's data opened for reading, or None if the store has none.

        An open file keeps its data readable even if the image is deleted meanwhile.
        """
        try:
            return self.path(image_id).open("rb")
        except FileNotFoundError:
            return None

    def delete(self, image_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(image_id).unlink()

    def remove_stale_partials(self, uploading: Callable[[str], bool]) -> int:
        """Remove temporary files of uploads that are no longer running (the process that
        wrote them died); ``uploading(image_id)`` says whether an upload may be under way."""
        removed = 0
        for partial in self.directory.glob(f".*{_PARTIAL_SUFFIX}"):
            image_id = partial.name[1:].split(".", 1)[0]
            if uploading(image_id):
                continue
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
                removed += 1
        return removed


class ImageWriter:
    """One upload in progress: ``write`` pieces, then ``commit`` or ``discard``.

    Used as a context manager, leaving the block without committing discards the data.
    """

    def __init__(self, final: Path, disk_format: str | None) -> None:
        self.final = final
        self.disk_format = disk_format
        fd, name = tempfile.mkstemp(
            dir=final.parent, prefix=f".{final.name}.", suffix=_PARTIAL_SUFFIX
        )
        self.partial = Path(name)
        self.file: BinaryIO = os.fdopen(fd, "wb")
        self.size = 0
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha = hashlib.new(HASH_ALGO)
        self._header = b""
        self._done = False

    def write(self, data: bytes | bytearray) -> None:
        try:
            self.file.write(data)
        except OSError as exc:
            raise _storage_error(exc) from exc
        self._md5.update(data)
        self._sha.update(data)
        self.size += len(data)
        if len(self._header) < formats.HEADER_BYTES:
            self._header += bytes(data[: formats.HEADER_BYTES - len(self._header)])

    def commit(self) -> StoredData:
        """Make the data durable under its final name and say what was stored."""
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            os.replace(self.partial, self.final)
            self._done = True
            _fsync_dir(self.final.parent)
        except OSError as exc:
            # Whatever was written, under either name, is not to be trusted.
            renamed, self._done = self._done, False
            self.discard()
            if renamed:
                with contextlib.suppress(FileNotFoundError):
                    self.final.unlink()
            raise _storage_error(exc) from exc
        return StoredData(
            size=self.size,
            checksum=self._md5.hexdigest(),
            os_hash_value=self._sha.hexdigest(),
            virtual_size=formats.virtual_size(self.disk_format, self._header, self.size),
        )

    def discard(self) -> None:
        if self._done:
            return
        self._done = True
        self.file.close()
        with contextlib.suppress(FileNotFoundError):
            self.partial.unlink()

    def __enter__(self) -> ImageWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.discard()


def _fsync_dir(directory: Path) -> None:
    """Persist a rename: the directory entry must reach the disk too."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _storage_error(exc: OSError) -> Exception:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return ApiError(413, f"Image storage media is full: {exc.strerror}")
    return exc
