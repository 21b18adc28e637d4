"""Step 2 for a boot from a volume: the root volume, or the image a new one is made from,
checked as Nova's API checks them (nova.block_device.get_bdm_image_metadata,
nova.compute.api._validate_bdm and _validate_flavor_image), with Nova's messages.

An existing volume is read with the user's own token, so Cinder's visibility applies: a
volume of another project is one that cannot be found. What the guest boots is described
by the volume's ``volume_image_metadata`` (the image it was made from), as Nova takes it.
"""

from __future__ import annotations

from typing import Any, Final

from clients.errors import NotFound
from clients.volume import VolumeClient
from core.errors import ErrorType, request_error
from core.messages import FlavorSpec, ImageSpec, VolumeSpec

GIB: Final = 1 << 30
ROOT_DEVICE: Final = "vda"
# What Cinder copies of an image's own attributes into volume_image_metadata (Nova's
# VIM_IMAGE_ATTRIBUTES); every other key there is one of the image's properties.
_IMAGE_ATTRIBUTES: Final = (
    "image_id",
    "image_name",
    "size",
    "checksum",
    "container_format",
    "disk_format",
    "min_ram",
    "min_disk",
)
# A volume that may be reserved for a server (Cinder's, for one not multiattach).
_RESERVABLE: Final = ("available", "downloading")


def existing_volume(client: VolumeClient, volume_id: str) -> tuple[VolumeSpec, ImageSpec]:
    """The project's volume ``volume_id`` as the root disk, and the image it describes; a
    request error if it cannot be found, is not bootable or cannot be reserved."""
    try:
        volume = client.get_volume(volume_id)
    except NotFound as exc:
        raise request_error(
            ErrorType.INVALID_REQUEST,
            f"Block Device Mapping is Invalid: failed to get volume {volume_id}.",
        ) from exc
    if str(volume.get("bootable", "true")).lower() != "true":
        raise request_error(ErrorType.INVALID_REQUEST, f"Block Device {volume_id} is not bootable.")
    status = volume.get("status")
    if status not in _RESERVABLE or volume.get("attachments"):
        raise request_error(
            ErrorType.INVALID_REQUEST,
            f"Invalid volume: Volume {volume_id} status must be {' or '.join(_RESERVABLE)} to "
            f"reserve, but the current status is {status}.",
        )
    size = int(volume["size"])
    return VolumeSpec(volume["id"], size, ROOT_DEVICE), image_of(volume)


def image_of(volume: dict[str, Any]) -> ImageSpec:
    """What a volume-backed guest boots, from the volume (Nova's
    get_image_metadata_from_volume): no image id (the server shows none), the volume's
    size, and the image's min_disk, min_ram and properties (kernel_id, ...)."""
    metadata = dict(volume.get("volume_image_metadata") or {})
    properties = {k: str(v) for k, v in metadata.items() if k not in _IMAGE_ATTRIBUTES}
    return ImageSpec(
        id="",
        name=volume.get("name") or volume["id"],
        size=int(volume.get("size") or 0) * GIB,
        disk_format="raw",
        checksum=None,
        min_disk=int(metadata.get("min_disk") or 0),
        min_ram=int(metadata.get("min_ram") or 0),
        properties=properties,
    )


def check_image_fits(image_id: str, size: int, min_disk: int, volume_gb: int) -> None:
    """An image made into a ``volume_gb`` GiB volume: its min_disk (Nova's
    VolumeSmallerThanMinDisk) and its data (Cinder's check, asked here so the request is
    refused at once rather than its build failing on the host)."""
    if min_disk > volume_gb:
        raise request_error(
            ErrorType.INVALID_REQUEST,
            "Volume is smaller than the minimum size specified in image metadata. Volume "
            f"size is {volume_gb * GIB} bytes, minimum size is {min_disk * GIB} bytes.",
        )
    image_gb = -(-size // GIB)
    if image_gb > volume_gb:
        raise request_error(
            ErrorType.INVALID_REQUEST,
            f"Invalid input received: Size of specified image {image_gb}GB is larger than "
            f"volume size {volume_gb}GB (image {image_id}).",
        )


def check_memory(image: ImageSpec, flavor: FlavorSpec) -> None:
    """Nova's FlavorMemoryTooSmall, with what each has."""
    if image.min_ram > flavor.memory_mb:
        raise request_error(
            ErrorType.INVALID_REQUEST,
            f"Flavor's memory is too small for requested image: flavor {flavor.name} has "
            f"{flavor.memory_mb} MiB, the image needs {image.min_ram} MiB.",
        )
