"""Glance's image schema: which attributes a caller may set, and what values they take.

Creating an image and patching one validate through the same rules, so a value refused by
one is refused by the other, with the same message Glance gives (its messages come from
jsonschema: "Provided object does not match schema 'image': ...").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from services.common.app import MAX_INT, ApiError, bad_request, forbidden

DISK_FORMATS = ("ami", "ari", "aki", "raw", "qcow2", "iso")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf")
VISIBILITIES = ("public", "private", "shared", "community")

# Attributes the service computes; naming one in a request is a 403, as in Glance.
READ_ONLY = frozenset(
    {
        "created_at",
        "updated_at",
        "status",
        "checksum",
        "os_hash_algo",
        "os_hash_value",
        "size",
        "virtual_size",
        "direct_url",
        "self",
        "file",
        "schema",
        "stores",
    }
)
RESERVED = frozenset({"location", "locations", "deleted", "deleted_at"})
RESERVED_PREFIX = "os_glance"

# Glance's default image_property_quota and image_tag_quota.
MAX_PROPERTIES = 128
MAX_TAGS = 128
# Property values are TEXT in Glance's database; keys are limited to 255 characters.
MAX_PROPERTY_KEY = 255
MAX_PROPERTY_VALUE = 65535

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# Additional properties that Glance's schema-image.json constrains (to an image id or null).
_IMAGE_REF_PROPERTIES = frozenset({"kernel_id", "ramdisk_id"})


def schema_error(reason: str) -> ApiError:
    return bad_request(f"Provided object does not match schema 'image': {reason}")


class _Invalid(Exception):
    """A value the schema refuses; the reason is phrased as jsonschema phrases it."""


@contextmanager
def _on(key: str) -> Iterator[None]:
    """Name the attribute in a refusal, as jsonschema's "On instance['key']" does."""
    try:
        yield
    except _Invalid as exc:
        raise schema_error(f"{exc} (on instance['{key}'])") from None


def _json(value: Any) -> str:
    """A value as jsonschema quotes it in its messages (Python's repr)."""
    return repr(value)


def _string(value: Any, max_length: int, nullable: bool) -> str | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        kind = "['null', 'string']" if nullable else "'string'"
        raise _Invalid(f"{_json(value)} is not of type {kind}")
    if len(value) > max_length:
        raise _Invalid(f"{_json(value)} is too long (at most {max_length} characters)")
    return value


def _enum(value: Any, choices: tuple[str, ...], nullable: bool) -> str | None:
    allowed: list[str | None] = [None, *choices] if nullable else list(choices)
    for choice in allowed:
        if value == choice and type(value) is type(choice):
            return choice
    raise _Invalid(f"{_json(value)} is not one of {allowed!r}")


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"{_json(value)} is not of type 'boolean'")
    return value


def _size_in(name: str) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        # bool is an int to Python but not to JSON Schema.
        if not isinstance(value, int) or isinstance(value, bool):
            raise _Invalid(f"{_json(value)} is not of type 'integer'")
        if value < 0:
            raise bad_request(
                f"Invalid value '{value}' for parameter '{name}': Cannot be a negative value."
            )
        if value > MAX_INT:
            raise bad_request(
                f"Invalid value '{value}' for parameter '{name}': Must be at most {MAX_INT}."
            )
        return value

    return check


def _image_id(value: Any, nullable: bool) -> str | None:
    checked = _string(value, 36, nullable)
    if checked is not None and not _UUID.match(checked):
        raise _Invalid(f"{_json(checked)} does not match '{_UUID.pattern}'")
    return checked


def _tags(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise _Invalid(f"{_json(value)} is not of type 'array'")
    tags: list[str] = []
    for tag in value:
        checked = _string(tag, 255, nullable=False)
        assert checked is not None
        if checked not in tags:  # Glance keeps tags as a set
            tags.append(checked)
    if len(tags) > MAX_TAGS:
        raise ApiError(
            413,
            "The limit has been exceeded on the number of allowed image tags. "
            f"Attempted: {len(tags)}, Maximum: {MAX_TAGS}",
        )
    return tags


# The base attributes a caller may set (``id`` only at creation), each with its validator.
WRITABLE: dict[str, Callable[[Any], Any]] = {
    "name": lambda v: _string(v, 255, nullable=True),
    "visibility": lambda v: _enum(v, VISIBILITIES, nullable=False),
    "protected": _boolean,
    "os_hidden": _boolean,
    # Keystone's project ids are at most 64 characters; the owner column is sized for them.
    "owner": lambda v: _string(v, 64, nullable=True),
    "disk_format": lambda v: _enum(v, DISK_FORMATS, nullable=True),
    "container_format": lambda v: _enum(v, CONTAINER_FORMATS, nullable=True),
    "min_disk": _size_in("min_disk"),
    "min_ram": _size_in("min_ram"),
    "tags": _tags,
}


def check_settable(key: str) -> None:
    """Refuse (403) attributes that callers never set: computed, reserved, Glance-internal."""
    if key in READ_ONLY:
        raise forbidden(f"Attribute '{key}' is read-only.")
    if key in RESERVED or key.startswith(RESERVED_PREFIX):
        raise forbidden(f"Attribute '{key}' is reserved.")


def validate_base(key: str, value: Any) -> Any:
    with _on(key):
        return WRITABLE[key](value)


def validate_property(key: str, value: Any) -> str | None:
    """An additional property's value: a string (or, for kernel/ramdisk ids, null)."""
    if len(key) > MAX_PROPERTY_KEY:
        raise bad_request(
            f"Custom property should not be greater than {MAX_PROPERTY_KEY} characters."
        )
    with _on(key):
        if key in _IMAGE_REF_PROPERTIES:
            return _image_id(value, nullable=True)
        return _string(value, MAX_PROPERTY_VALUE, nullable=False)


def check_property_count(properties: dict[str, Any]) -> None:
    if len(properties) > MAX_PROPERTIES:
        raise ApiError(
            413,
            "The limit has been exceeded on the number of allowed image "
            f"properties. Attempted: {len(properties)}, "
            f"Maximum: {MAX_PROPERTIES}",
        )


@dataclass
class NewImage:
    """A validated create request: base attributes apart from additional properties."""

    id: str | None = None
    base: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, str | None] = field(default_factory=dict)


def parse_new_image(body: Any) -> NewImage:
    """Validate ``POST /v2/images``'s body; 400 for bad values, 403 for attributes not ours."""
    if not isinstance(body, dict):
        raise schema_error(f"{_json(body)} is not of type 'object'")
    for key in body:
        check_settable(key)
    new = NewImage()
    for key, value in body.items():
        if key == "id":
            with _on(key):
                new.id = _image_id(value, nullable=False)
        elif key in WRITABLE:
            new.base[key] = validate_base(key, value)
        else:
            new.properties[key] = validate_property(key, value)
    check_property_count(new.properties)
    return new
