"""``/v2/schemas/{image,images,member,members}``: Glance's JSON schemas of its documents.

python-glanceclient reads ``/v2/schemas/image`` before anything else and validates images
against it (warlock), so the schema describes what this service's documents really hold:
Glance's base properties less those never shown here (locations, direct_url, stores), the
statuses and formats this service has, and of Glance's ``schema-image.json`` the additional
properties it validates as Glance does; any other additional property is a string.
"""

from __future__ import annotations

from typing import Any, Final

from services.common.app import router as common_router
from services.common.auth import Auth
from services.image import fields

router = common_router(prefix="/v2/schemas")

STATUSES: Final = ("queued", "saving", "active", "deactivated")
MEMBER_STATUSES: Final = ("pending", "accepted", "rejected")
_UUID_PATTERN: Final = (
    "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"
)


def _read_only(kind: str | list[str], description: str, **more: Any) -> dict[str, Any]:
    return {"type": kind, "readOnly": True, "description": description, **more}


def _nullable_enum(values: tuple[str, ...], description: str) -> dict[str, Any]:
    return {"type": ["null", "string"], "description": description, "enum": [None, *values]}


def _base_properties() -> dict[str, Any]:
    return {
        "id": {
            "type": "string",
            "description": "An identifier for the image",
            "pattern": _UUID_PATTERN,
        },
        "name": {
            "type": ["null", "string"],
            "description": "Descriptive name for the image",
            "maxLength": 255,
        },
        "status": _read_only("string", "Status of the image", enum=list(STATUSES)),
        "visibility": {
            "type": "string",
            "description": "Scope of image accessibility",
            "enum": list(fields.VISIBILITIES),
        },
        "protected": {"type": "boolean", "description": "If true, image will not be deletable."},
        "os_hidden": {
            "type": "boolean",
            "description": "If true, image will not appear in default image list response.",
        },
        "checksum": _read_only(["null", "string"], "md5 hash of image contents.", maxLength=32),
        "os_hash_algo": _read_only(
            ["null", "string"], "Algorithm to calculate the os_hash_value", maxLength=64
        ),
        "os_hash_value": _read_only(
            ["null", "string"],
            "Hexdigest of the image contents using the algorithm specified by the os_hash_algo",
            maxLength=128,
        ),
        "owner": {"type": ["null", "string"], "description": "Owner of the image", "maxLength": 64},
        "size": _read_only(["null", "integer"], "Size of image file in bytes"),
        "virtual_size": _read_only(["null", "integer"], "Virtual size of image in bytes"),
        "container_format": _nullable_enum(fields.CONTAINER_FORMATS, "Format of the container"),
        "disk_format": _nullable_enum(fields.DISK_FORMATS, "Format of the disk"),
        "created_at": _read_only("string", "Date and time of image registration"),
        "updated_at": _read_only("string", "Date and time of the last image modification"),
        "tags": {
            "type": "array",
            "description": "List of strings related to the image",
            "items": {"type": "string", "maxLength": 255},
        },
        "min_ram": {
            "type": "integer",
            "description": "Amount of ram (in MB) required to boot image.",
        },
        "min_disk": {
            "type": "integer",
            "description": "Amount of disk space (in GB) required to boot image.",
        },
        "self": _read_only("string", "An image self url"),
        "file": _read_only("string", "An image file url"),
        "schema": _read_only("string", "An image schema url"),
    }


def _image_id_property(role: str) -> dict[str, Any]:
    return {
        "type": ["null", "string"],
        "pattern": _UUID_PATTERN,
        "description": f"ID of image stored in Glance that should be used as the {role} when "
        "booting an AMI-style image.",
    }


def _custom_properties() -> dict[str, Any]:
    """Glance's stock schema-image.json, less the one enum this service does not check."""
    described = {
        "instance_uuid": "Metadata which can be used to record which instance this image is "
        "associated with. (Informational only, does not create an instance snapshot.)",
        "architecture": "Operating system architecture as specified in "
        "https://docs.openstack.org/python-glanceclient/latest/cli/property-keys.html",
        "os_distro": "Common name of operating system distribution as specified in "
        "https://docs.openstack.org/python-glanceclient/latest/cli/property-keys.html",
        "os_version": "Operating system version as specified by the distributor.",
        "description": "A human-readable string describing this image.",
        "cinder_encryption_key_id": "Identifier in the OpenStack Key Management Service for "
        "the encryption key for the Block Storage Service to use when mounting a volume "
        "created from this image",
    }
    return {
        "kernel_id": _image_id_property("kernel"),
        "ramdisk_id": _image_id_property("ramdisk"),
        **{name: {"description": text, "type": "string"} for name, text in described.items()},
    }


def image_schema() -> dict[str, Any]:
    """Glance's PermissiveSchema('image').raw()."""
    return {
        "name": "image",
        "properties": {**_base_properties(), **_custom_properties()},
        "additionalProperties": {"type": "string"},
        "links": [
            {"rel": "self", "href": "{self}"},
            {"rel": "enclosure", "href": "{file}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }


def images_schema() -> dict[str, Any]:
    """Glance's CollectionSchema('images', image).raw()."""
    return {
        "name": "images",
        "properties": {
            "images": {"type": "array", "items": image_schema()},
            "first": {"type": "string"},
            "next": {"type": "string"},
            "schema": {"type": "string"},
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }


def member_schema() -> dict[str, Any]:
    """Glance's Schema('member').minimal()."""
    return {
        "name": "member",
        "properties": {
            "member_id": {
                "type": "string",
                "description": "An identifier for the image member (tenantId)",
            },
            "image_id": {
                "type": "string",
                "description": "An identifier for the image",
                "pattern": _UUID_PATTERN,
            },
            "created_at": {
                "type": "string",
                "description": "Date and time of image member creation",
            },
            "updated_at": {
                "type": "string",
                "description": "Date and time of last modification of image member",
            },
            "status": {
                "type": "string",
                "description": "The status of this image member",
                "enum": list(MEMBER_STATUSES),
            },
            "schema": {"readOnly": True, "type": "string"},
        },
    }


def members_schema() -> dict[str, Any]:
    """Glance's CollectionSchema('members', member).minimal()."""
    return {
        "name": "members",
        "properties": {
            "members": {"type": "array", "items": member_schema()},
            "schema": {"type": "string"},
        },
        "links": [{"rel": "describedby", "href": "{schema}"}],
    }


@router.get("/image")
def show_image_schema(caller: Auth) -> dict[str, Any]:
    del caller
    return image_schema()


@router.get("/images")
def show_images_schema(caller: Auth) -> dict[str, Any]:
    del caller
    return images_schema()


@router.get("/member")
def show_member_schema(caller: Auth) -> dict[str, Any]:
    del caller
    return member_schema()


@router.get("/members")
def show_members_schema(caller: Auth) -> dict[str, Any]:
    del caller
    return members_schema()
