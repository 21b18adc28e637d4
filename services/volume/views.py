"""What the volume service sends back: Cinder's volume, attachment and version JSON."""

from __future__ import annotations

import socket
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from db.models.volume import Volume, VolumeAttachment
from services.common.microversions import ApiVersion
from services.volume import microversions as mv

AVAILABILITY_ZONE: Final = "nova"
VOLUME_TYPE: Final = "file"
# The one volume type's id (Cinder shows it from 3.63); fixed so it is the same everywhere.
VOLUME_TYPE_ID: Final = "5c1c9dd8-7c8a-4b39-9f5c-6d0f3f0a7e2e"
# Cinder's host@backend#pool, shown to admins as os-vol-host-attr:host.
HOST: Final = f"{socket.gethostname()}@file#file"


@dataclass(frozen=True)
class ViewContext:
    """Who asked, at which microversion, through which URL: what a view may show."""

    base_url: str  # scheme://host:port, no trailing slash
    url_project: str | None  # the project id the URL named, None for /v3/volumes...
    is_admin: bool
    is_service: bool
    version: ApiVersion

    def href(self, *parts: str, versioned: bool = True) -> str:
        prefix = [self.base_url, "v3"] if versioned else [self.base_url]
        project = [self.url_project] if self.url_project else []
        return "/".join([*prefix, *project, *parts])


def isotime(value: datetime | None) -> str | None:
    """Cinder's timestamps: naive UTC with microseconds."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _links(ctx: ViewContext, collection: str, identifier: str) -> list[dict[str, str]]:
    return [
        {"rel": "self", "href": ctx.href(collection, identifier)},
        {"rel": "bookmark", "href": ctx.href(collection, identifier, versioned=False)},
    ]


def volume_summary(ctx: ViewContext, volume: Volume) -> dict[str, Any]:
    return {"id": volume.id, "name": volume.name, "links": _links(ctx, "volumes", volume.id)}


def _volume_attachments(ctx: ViewContext, volume: Volume) -> list[dict[str, Any]]:
    # Cinder lists only attachments that reached "attached"; host names only to services.
    return [
        {
            "id": volume.id,
            "attachment_id": a.id,
            "volume_id": volume.id,
            "server_id": a.instance_uuid,
            "host_name": a.attached_host if ctx.is_admin or ctx.is_service else None,
            "device": a.mountpoint,
            "attached_at": isotime(a.attach_time),
        }
        for a in volume.attachments
        if a.attach_status == "attached"
    ]


def volume_detail(ctx: ViewContext, volume: Volume) -> dict[str, Any]:
    """A volume as Cinder's detail view shows it at the request's microversion."""
    view: dict[str, Any] = {
        "id": volume.id,
        "status": volume.status,
        "size": volume.size,
        "availability_zone": AVAILABILITY_ZONE,
        "created_at": isotime(volume.created_at),
        "updated_at": isotime(volume.updated_at),
        "name": volume.name,
        "description": volume.description,
        "volume_type": volume.volume_type,
        "snapshot_id": None,
        "source_volid": None,
        "metadata": dict(volume.metadata_ or {}),
        "links": _links(ctx, "volumes", volume.id),
        "user_id": volume.user_id,
        "bootable": "true" if volume.bootable else "false",
        "encrypted": False,
        "replication_status": None,
        "consistencygroup_id": None,
        "multiattach": False,
        "attachments": _volume_attachments(ctx, volume),
    }
    if volume.image_metadata:
        view["volume_image_metadata"] = dict(volume.image_metadata)
    version = ctx.version
    if ctx.is_admin:
        view["migration_status"] = None
        view["os-vol-tenant-attr:tenant_id"] = volume.project_id
        view["os-vol-host-attr:host"] = HOST
        view["os-vol-mig-status-attr:migstat"] = None
        view["os-vol-mig-status-attr:name_id"] = None
    if version.at_least(mv.GROUP_VOLUME):
        view["group_id"] = None
    if ctx.is_admin and version.at_least(mv.VOLUME_DETAIL_PROVIDER_ID):
        view["provider_id"] = None
    if version.at_least(mv.VOLUME_SHARED_TARGETS_AND_SERVICE_FIELDS):
        view["shared_targets"] = False
        view["service_uuid"] = None
    if ctx.is_admin and version.at_least(mv.VOLUME_CLUSTER_NAME):
        view["cluster_name"] = None
    if version.at_least(mv.VOLUME_TYPE_ID_IN_VOLUME_DETAIL):
        view["volume_type_id"] = VOLUME_TYPE_ID
    if version.at_least(mv.USE_QUOTA):
        view["consumes_quota"] = True
    return view


def next_link(
    ctx: ViewContext, collection: str, params: Mapping[str, str], last_id: str
) -> list[dict[str, str]]:
    """Cinder's ``volumes_links``: where the page after ``last_id`` starts."""
    query = urllib.parse.urlencode({**params, "marker": last_id})
    return [{"rel": "next", "href": f"{ctx.href(*collection.split('/'))}?{query}"}]


def attachment_summary(attachment: VolumeAttachment) -> dict[str, Any]:
    return {
        "id": attachment.id,
        "status": attachment.attach_status,
        "instance": attachment.instance_uuid,
        "volume_id": attachment.volume_id,
    }


def attachment_detail(attachment: VolumeAttachment) -> dict[str, Any]:
    """Cinder's attachment view; unset times are "" there, not null."""
    view = attachment_summary(attachment)
    view.update(
        attached_at=isotime(attachment.attach_time) or "",
        detached_at="",  # a detached attachment is deleted, so never seen here
        attach_mode=attachment.attach_mode,
        connection_info=dict(attachment.connection_info or {}),
    )
    return view


def attachment_list(attachments: Sequence[VolumeAttachment], detail: bool) -> dict[str, Any]:
    view = attachment_detail if detail else attachment_summary
    return {"attachments": [view(a) for a in attachments]}


def version_entry(base_url: str) -> dict[str, Any]:
    return {
        "id": "v3.0",
        "status": "CURRENT",
        "version": str(mv.MAX_VERSION),
        "min_version": str(mv.MIN_VERSION),
        "updated": mv.MAX_VERSION_UPDATED,
        "links": [
            {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
            {"rel": "self", "href": f"{base_url}/v3/"},
        ],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}
        ],
    }
