"""What the image service sends back: image JSON, the version list and Glance's errors."""

from __future__ import annotations

from datetime import datetime
from http import HTTPStatus
from typing import Any

from db.models.image import Image

# Newest first, as Glance lists them; clients pick the CURRENT one.
API_VERSIONS = (
    "2.16",
    "2.15",
    "2.14",
    "2.13",
    "2.12",
    "2.11",
    "2.10",
    "2.9",
    "2.8",
    "2.7",
    "2.6",
    "2.5",
    "2.4",
    "2.3",
    "2.2",
    "2.1",
    "2.0",
)

# webob's reason phrases, which Glance's error bodies carry (Python's differ for some codes).
_WEBOB_TITLES = {413: "Request Entity Too Large", 415: "Unsupported Media Type"}


def glance_error(status: int, message: str, kind: str | None) -> dict[str, Any]:
    """The JSON webob renders for Glance's HTTP errors (the title is always the status's)."""
    del kind
    title = _WEBOB_TITLES.get(status) or _phrase(status)
    return {"message": message, "code": f"{status} {title}", "title": title}


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def versions(base_url: str) -> dict[str, Any]:
    href = f"{base_url.rstrip('/')}/v2/"
    return {
        "versions": [
            {
                "id": f"v{v}",
                "status": "CURRENT" if i == 0 else "SUPPORTED",
                "links": [{"rel": "self", "href": href}],
            }
            for i, v in enumerate(API_VERSIONS)
        ]
    }


def isotime(value: datetime) -> str:
    """Glance's timestamps: UTC, whole seconds, a trailing Z."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def image_href(image_id: str) -> str:
    return f"/v2/images/{image_id}"


def image_view(image: Image) -> dict[str, Any]:
    """An image as Glance shows it: additional properties flattened beside the base ones."""
    view: dict[str, Any] = dict(image.properties or {})
    view.update(
        id=image.id,
        name=image.name,
        status=image.status,
        visibility=image.visibility,
        protected=image.protected,
        os_hidden=image.os_hidden,
        checksum=image.checksum,
        os_hash_algo=image.os_hash_algo,
        os_hash_value=image.os_hash_value,
        owner=image.owner,
        size=image.size,
        virtual_size=image.virtual_size,
        min_disk=image.min_disk,
        min_ram=image.min_ram,
        disk_format=image.disk_format,
        container_format=image.container_format,
        created_at=isotime(image.created_at),
        updated_at=isotime(image.updated_at),
        tags=list(image.tags or []),
        self=image_href(image.id),
        file=f"{image_href(image.id)}/file",
        schema="/v2/schemas/image",
    )
    return view
