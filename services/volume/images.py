"""Images for volumes: looked up, checked and streamed from the image service (Glance v2).

The service reads images with its own service account, which sees every image, so whether
the *volume's project* may use an image is decided here from Glance's own rules: public and
community images are everyone's, private ones their owner's, shared ones their owner's and
members' (asked of Glance's members API). The project is the volume's, not the caller's:
the bootflow service account creating a volume for a user's project gets exactly what that
project could use. Anything else answers as Cinder does, "Invalid image identifier or
unable to access requested image."
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from clients.errors import ClientError, NotFound, transient
from clients.service_account import service_session
from clients.session import Session
from core.config import ServiceAccountOptions
from services.common.app import ApiError, unavailable
from services.volume import backend
from services.volume.backend import GiB, ImageData
from services.volume.errors import invalid_input

# Glance's own image attributes; any other key of an image is an additional property.
_GLANCE_CORE: Final = frozenset(
    {
        "id",
        "name",
        "status",
        "visibility",
        "owner",
        "protected",
        "os_hidden",
        "checksum",
        "os_hash_algo",
        "os_hash_value",
        "size",
        "virtual_size",
        "disk_format",
        "container_format",
        "min_disk",
        "min_ram",
        "created_at",
        "updated_at",
        "tags",
        "file",
        "self",
        "schema",
        "locations",
        "direct_url",
        "stores",
    }
)
# What Cinder copies from an image into volume_image_metadata, besides image_id/image_name.
_IMAGE_ATTRIBUTES: Final = (
    "checksum",
    "container_format",
    "disk_format",
    "min_disk",
    "min_ram",
    "size",
)
_UNUSABLE = "Invalid image identifier or unable to access requested image."


class ImageService:
    """The image service as the volume service's own account sees it (session made lazily)."""

    def __init__(self, settings: ServiceAccountOptions) -> None:
        self._settings = settings
        self._session: Session | None = None
        self._lock = threading.Lock()

    @property
    def session(self) -> Session:
        with self._lock:
            if self._session is None:
                self._session = service_session(self._settings)
            return self._session

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                self._session.close()
                self._session = None

    def usable_image(self, image_ref: str, project_id: str, size_gb: int) -> dict[str, Any]:
        """The image ``image_ref`` names, if ``project_id`` may use it for a ``size_gb`` volume.

        Raises ApiError (400) otherwise, with Cinder's messages; 503 while Glance (or identity,
        for the service's token) is unavailable.
        """
        # Nova sends image hrefs; Cinder keeps what follows the last slash.
        image_id = image_ref.rstrip("/").rsplit("/", 1)[-1]
        image = self._get(f"v2/images/{image_id}") if image_id else None
        if image is None or not self._visible(image, project_id):
            raise ApiError(400, _UNUSABLE)
        _check_fits(image, size_gb)
        return image

    def _visible(self, image: dict[str, Any], project_id: str) -> bool:
        visibility = image.get("visibility")
        if visibility in ("public", "community") or image.get("owner") == project_id:
            return True
        if visibility != "shared":
            return False
        return self._get(f"v2/images/{image['id']}/members/{project_id}") is not None

    def _get(self, path: str) -> dict[str, Any] | None:
        try:
            body: dict[str, Any] = self.session.request("image", "GET", path).json()
        except NotFound:
            return None
        except LookupError as exc:  # no image service in the catalog
            raise unavailable(f"The image service could not be found: {exc}") from exc
        except ClientError as exc:
            if transient(exc):  # the image service, or identity for our token, is down
                raise unavailable(str(exc)) from exc
            return None
        return body

    @contextmanager
    def data(self, image_id: str) -> Iterator[Iterator[bytes]]:
        """The image's bytes as they arrive (``ClientError`` if the download fails)."""
        with self.session.stream("image", "GET", f"v2/images/{image_id}/file") as response:
            yield response.iter_bytes()


def _check_fits(image: dict[str, Any], size_gb: int) -> None:
    """Cinder's check_image_metadata: active, not larger than the volume, minDisk met."""
    image_id = image["id"]
    if image.get("status") != "active":
        raise invalid_input(f"Image {image_id} is not active.")
    if not backend.supports(image.get("disk_format")):
        raise ApiError(
            400,
            f"Image {image_id} is unacceptable: its disk format "
            f"{image.get('disk_format')!r} cannot be written to a volume.",
        )
    image_gb = -(-int(image.get("size") or 0) // GiB)
    if image_gb > size_gb:
        raise invalid_input(
            f"Size of specified image {image_gb}GB is larger than volume size {size_gb}GB."
        )
    min_disk = int(image.get("min_disk") or 0)
    if size_gb < min_disk:
        raise invalid_input(
            f"Volume size {size_gb}GB cannot be smaller than the image minDisk size {min_disk}GB."
        )
    virtual_gb = -(-int(image.get("virtual_size") or 0) // GiB)
    if virtual_gb > size_gb:
        raise ApiError(
            400,
            f"Image {image_id} is unacceptable: Image virtual size is "
            f"{virtual_gb}GB and doesn't fit in a volume of size {size_gb}GB.",
        )


def image_data(image: dict[str, Any]) -> ImageData:
    return ImageData(
        id=image["id"],
        disk_format=image.get("disk_format") or "raw",
        checksum=image.get("checksum"),
        os_hash_algo=image.get("os_hash_algo"),
        os_hash_value=image.get("os_hash_value"),
    )


def volume_image_metadata(image: dict[str, Any]) -> dict[str, str]:
    """Cinder's volume_image_metadata: the image's properties and some attributes, as strings."""
    metadata = {k: str(v) for k, v in image.items() if k not in _GLANCE_CORE and v is not None}
    metadata["image_id"] = image["id"]
    if image.get("name"):
        metadata["image_name"] = str(image["name"])
    for key in _IMAGE_ATTRIBUTES:
        if image.get(key) is not None:
            metadata[key] = str(image[key])
    return metadata
