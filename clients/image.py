"""A Glance v2 client over ``clients.session.Session``: image records and streamed data.

It speaks only Glance's public API, so it works the same against bootflow's image service
and a real OpenStack cloud. Image data is never held in memory: uploads read the source in
chunks, downloads write to a temporary file beside the destination and rename it at the end.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

from clients.errors import ClientError, NotFound
from clients.session import Session

SERVICE_TYPE = "image"
PATCH_MEDIA_TYPE = "application/openstack-images-v2.1-json-patch"
CHUNK_SIZE = 1 << 20

# Called with the number of bytes moved so far.
Progress = Callable[[int], None]


class AmbiguousImage(ClientError):
    """A name matched more than one image; ask by id instead."""


class ImageDataMissing(ClientError):
    """The image has no data to download (it was never uploaded, or is still uploading)."""


@dataclass(frozen=True)
class Transfer:
    """What a download wrote: its size and digests, to compare with the image record."""

    size: int
    checksum: str  # md5 hex digest, Glance's ``checksum``
    os_hash_value: str  # sha512 hex digest
    os_hash_algo: str = "sha512"

    def matches(self, image: dict[str, Any]) -> bool:
        """Whether the data is the image's: same size, md5 and (if sha512) multihash."""
        if image.get("size") != self.size or image.get("checksum") != self.checksum:
            return False
        if image.get("os_hash_algo") == self.os_hash_algo:
            return bool(image.get("os_hash_value") == self.os_hash_value)
        return True


class ImageClient:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- records -------------------------------------------------------------------------

    def create_image(self, /, **fields: Any) -> dict[str, Any]:
        """Register an image (status ``queued``); ``fields`` are Glance's image attributes."""
        return _json(self.session.request(SERVICE_TYPE, "POST", "v2/images", json=fields))

    def get_image(self, image_id: str) -> dict[str, Any]:
        return _json(self.session.request(SERVICE_TYPE, "GET", f"v2/images/{_id(image_id)}"))

    def find_image(self, name_or_id: str) -> dict[str, Any]:
        """The image with this id, else the one image with this name.

        Raises ``NotFound`` if neither exists and ``AmbiguousImage`` if several share the name.
        """
        with contextlib.suppress(NotFound):
            return self.get_image(name_or_id)
        matches = self.list_images(name=name_or_id)
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise NotFound(404, f"No image with name or ID {name_or_id!r} was found.")
        ids = ", ".join(sorted(m["id"] for m in matches))
        raise AmbiguousImage(
            f"{len(matches)} images are named {name_or_id!r} ({ids}); use an image ID."
        )

    def list_images(self, **filters: Any) -> list[dict[str, Any]]:
        """Every image the filters select, following ``next`` links page by page.

        Filter values may be strings, numbers, booleans, or lists (``tag=[...]`` repeats).
        """
        images: list[dict[str, Any]] = []
        body = _json(
            self.session.request(SERVICE_TYPE, "GET", "v2/images", params=_params(filters))
        )
        while True:
            images.extend(body["images"])
            next_link = body.get("next")
            if not next_link or not body["images"]:
                return images
            # ``next`` is relative to the service root, query string included.
            body = _json(self.session.request(SERVICE_TYPE, "GET", next_link))

    def update_image(self, image_id: str, ops: list[dict[str, Any]]) -> dict[str, Any]:
        """Apply JSON-patch ``ops`` (``{"op": "replace", "path": "/name", "value": ...}``)."""
        response = self.session.request(
            SERVICE_TYPE,
            "PATCH",
            f"v2/images/{_id(image_id)}",
            content=json.dumps(ops).encode(),
            headers={"Content-Type": PATCH_MEDIA_TYPE},
        )
        return _json(response)

    def delete_image(self, image_id: str) -> None:
        self.session.request(SERVICE_TYPE, "DELETE", f"v2/images/{_id(image_id)}")

    # -- data ----------------------------------------------------------------------------

    def upload(
        self, image_id: str, data: BinaryIO | Path, progress: Progress | None = None
    ) -> None:
        """Stream ``data`` (an open binary file or a path) as the image's data.

        An error reading ``data`` aborts the upload; the service then discards what it got
        and the image stays ``queued``, ready for another attempt.
        """
        if isinstance(data, Path):
            with data.open("rb") as source:
                size = os.fstat(source.fileno()).st_size
                self._upload(image_id, source, size, progress)
        else:
            self._upload(image_id, data, None, progress)

    def _upload(
        self, image_id: str, source: BinaryIO, size: int | None, progress: Progress | None
    ) -> None:
        headers = {"Content-Type": "application/octet-stream"}
        if size is not None:
            headers["Content-Length"] = str(size)
        # ``stream`` rather than ``request``: a body read from a file cannot be sent twice.
        with self.session.stream(
            SERVICE_TYPE,
            "PUT",
            f"v2/images/{_id(image_id)}/file",
            content=_read_chunks(source, progress),
            headers=headers,
        ):
            pass

    def download(self, image_id: str, dest: Path, progress: Progress | None = None) -> Transfer:
        """Stream the image's data into ``dest`` and say what was written.

        The data lands in a temporary file next to ``dest`` that is renamed over it only
        when complete, so ``dest`` never holds a partial image. The caller compares the
        result with the image record (``Transfer.matches``).
        """
        with self.session.stream(
            SERVICE_TYPE, "GET", f"v2/images/{_id(image_id)}/file"
        ) as response:
            if response.status_code == 204:
                raise ImageDataMissing(f"Image {image_id} has no data to download.")
            fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
            partial = Path(name)
            try:
                with os.fdopen(fd, "wb") as out:
                    transfer = _write_hashed(response.iter_bytes(CHUNK_SIZE), out, progress)
                    out.flush()
                    os.fsync(out.fileno())
                partial.replace(dest)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
        return transfer


def _id(image_id: str) -> str:
    """An image id as a path segment: whatever a caller passes stays inside that segment."""
    return quote(image_id, safe="")


def _json(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    return body


def _params(filters: dict[str, Any]) -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = []
    for key, value in filters.items():
        for item in value if isinstance(value, list | tuple) else [value]:
            text = str(item).lower() if isinstance(item, bool) else str(item)
            params.append((key, text))
    return params


def _read_chunks(source: BinaryIO, progress: Progress | None) -> Iterator[bytes]:
    sent = 0
    while chunk := source.read(CHUNK_SIZE):
        yield chunk
        sent += len(chunk)
        if progress is not None:
            progress(sent)


def _write_hashed(chunks: Iterator[bytes], out: BinaryIO, progress: Progress | None) -> Transfer:
    md5 = hashlib.md5(usedforsecurity=False)
    sha = hashlib.sha512()
    size = 0
    for chunk in chunks:
        out.write(chunk)
        md5.update(chunk)
        sha.update(chunk)
        size += len(chunk)
        if progress is not None:
            progress(size)
    return Transfer(size=size, checksum=md5.hexdigest(), os_hash_value=sha.hexdigest())
