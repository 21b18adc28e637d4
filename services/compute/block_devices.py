"""``block_device_mapping_v2`` at create: the disks bootflow builds of it, or Nova's 400.

Three kinds are built (Nova's names): the image as the local root disk (source image,
destination local, boot_index 0: what the openstack CLI sends with ``--image``); a volume
as the root disk (destination volume, boot_index 0: an existing volume, source volume, or a
new one made from an image, source image; Nova's boot from volume); and one new blank
volume as a data disk (source blank, destination volume). Anything else is refused by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.messages import BootVolumeRequest
from services.common.app import ApiError
from services.compute.schemas.base import validated
from services.compute.schemas.servers import BlankVolume, BlockDevice, BootVolume, ServerV21

# Block-device fields that describe the disk further than bootflow builds it.
_UNSUPPORTED_FIELDS = (
    "virtual_name",
    "volume_id",
    "snapshot_id",
    "no_device",
    "connection_info",
    "image_id",
    "guest_format",
    "device_type",
    "disk_bus",
    "tag",
    "volume_type",
)
_KINDS = (
    "an image as the root disk (source_type image, destination_type local, boot_index 0), "
    "a volume as the root disk (source_type volume or image, destination_type volume, "
    "boot_index 0) and one new blank volume (source_type blank, destination_type volume, "
    "volume_size, delete_on_termination true)"
)
# Nova's InvalidBDMBootSequence.
BOOT_SEQUENCE = (
    "Block Device Mapping is Invalid: Boot sequence for the instance and image/block device "
    "mapping combination is not valid."
)


@dataclass
class Disks:
    """What the mapping asks for besides the image: a blank data volume's size, a root
    volume."""

    blank_gb: int | None = None
    boot_volume: BootVolumeRequest | None = None


def unsupported(what: str, instead: str) -> ApiError:
    return ApiError(400, f"{what} is not supported by bootflow's compute API; {instead}")


def disks_of(server: ServerV21) -> Disks:
    """The disks the server's mapping asks for, its boot sequence checked as Nova checks it."""
    if server.block_device_mapping:
        raise unsupported(
            "The legacy block_device_mapping", "use block_device_mapping_v2 for a new volume."
        )
    disks = Disks()
    # The image named by imageRef is the root disk at boot_index 0 unless mapped already.
    indexes = [] if not server.imageRef else [0]
    for bdm in server.block_device_mapping_v2:
        _refuse_fields(bdm)
        source, destination = bdm.source_type, bdm.destination_type or "local"
        index = boot_index(bdm)
        if source == "image" and destination == "local":
            _boot_image(bdm, server.imageRef)
        elif source == "blank" and destination == "volume":
            disks.blank_gb = _blank_volume(bdm, disks)
        elif source in ("volume", "image") and destination == "volume" and index == 0:
            disks.boot_volume = _boot_volume(bdm, disks)
            indexes.append(0)
        elif source == "volume" and destination == "volume":
            raise unsupported(
                "Attaching an existing volume as a data disk",
                "boot from it (boot_index 0), or attach a new blank volume.",
            )
        else:
            raise unsupported(f"A block device from {source or 'nothing'} to {destination}", _KINDS)
    if sorted(indexes) != list(range(len(indexes))) or not indexes:
        raise ApiError(400, BOOT_SEQUENCE)
    return disks


def _refuse_fields(bdm: BlockDevice) -> None:
    for key in _UNSUPPORTED_FIELDS:
        if getattr(bdm, key) not in (None, ""):
            raise unsupported(f"The block device field {key}", f"bootflow builds {_KINDS}.")


def boot_index(bdm: BlockDevice) -> Any:
    """The entry's boot_index, as an integer where it is one (Nova takes "0" too)."""
    index = bdm.boot_index
    if index is not None and str(index).lstrip("-").isdigit():
        return int(index)
    return index


def _boot_image(bdm: BlockDevice, image_ref: str) -> None:
    if boot_index(bdm) != 0 or not image_ref or (bdm.uuid and bdm.uuid != image_ref):
        raise unsupported(
            "An image block device other than the boot image (imageRef, boot_index 0)",
            "boot from imageRef, or from a volume made from the image (destination_type "
            "volume, volume_size); add data disks as blank volumes.",
        )


def _blank_volume(bdm: BlockDevice, disks: Disks) -> int:
    if boot_index(bdm) not in (None, -1):
        raise unsupported(
            "Booting from a blank volume", "the blank volume is a data disk (no boot_index)."
        )
    if disks.blank_gb is not None:
        raise unsupported("More than one new volume", "ask for one blank volume per server.")
    volume = validated(BlankVolume, bdm.model_dump(exclude_unset=True))
    if volume.device_name not in (None, "", "vdb", "/dev/vdb"):
        raise unsupported(
            f"Naming the device {volume.device_name}", "the volume is attached as vdb."
        )
    if not volume.delete_on_termination:
        raise unsupported(
            "Keeping a boot-time volume after the server is deleted",
            "bootflow deletes it with the server: set delete_on_termination to true.",
        )
    return volume.volume_size


def _boot_volume(bdm: BlockDevice, disks: Disks) -> BootVolumeRequest:
    if disks.boot_volume is not None:
        raise ApiError(400, BOOT_SEQUENCE)
    volume = validated(BootVolume, bdm.model_dump(exclude_unset=True))
    if volume.device_name not in (None, "", "vda", "/dev/vda"):
        raise unsupported(
            f"Naming the root device {volume.device_name}", "the root volume is attached as vda."
        )
    if volume.source_type == "image" and volume.volume_size is None:
        # Nova's InvalidBDM for an image to volume mapping without a size.
        raise ApiError(
            400,
            "Images with destination_type 'volume' need to have a non-zero size specified",
        )
    return BootVolumeRequest(
        source_type=volume.source_type,
        uuid=volume.uuid,
        size_gb=volume.volume_size if volume.source_type == "image" else None,
        delete_on_termination=volume.delete_on_termination,
    )
