"""Nova's JSON for servers, flavors and instance actions, per microversion
(nova/api/openstack/compute/views/servers.py and friends)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, Result, Select, bindparam, select
from sqlalchemy.orm import Session
from starlette.requests import Request

from compute.config_drive import hostname_for
from core.states import api_status
from db.models.compute import (
    ComputeNode,
    Flavor,
    Instance,
    InstanceAction,
    InstanceActionEvent,
    InstanceFault,
    InstanceMetadata,
    Leftover,
    ServerGroup,
    ServerGroupMember,
)
from services.compute import microversions as mv
from services.compute.context import ApiContext

# Nova's server statuses that show progress, and those that show a fault.
_PROGRESS_STATUSES = ("ACTIVE", "BUILD", "REBUILD")
_FAULT_STATUSES = ("ERROR", "DELETED")
# bootflow builds every guest with a config drive (openstack/latest/meta_data.json).
CONFIG_DRIVE = "True"
ROOT_DEVICE_NAME = "/dev/vda"


def nova_time(value: datetime | None) -> str | None:
    """Nova's ``utils.isotime``: seconds and a Z."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def nova_datetime(value: datetime | None) -> str | None:
    """A datetime as Nova's JSON serializer writes it: microseconds, no zone."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") if value else None


def links(ctx: ApiContext, kind: str, ident: str) -> list[dict[str, str]]:
    """Nova's self (versioned) and bookmark (unversioned) links."""
    return [
        {"rel": "self", "href": f"{ctx.base}/v2.1/{kind}/{ident}"},
        {"rel": "bookmark", "href": f"{ctx.base}/{kind}/{ident}"},
    ]


def bookmark(ctx: ApiContext, kind: str, ident: str) -> list[dict[str, str]]:
    return [{"rel": "bookmark", "href": f"{ctx.base}/{kind}/{ident}"}]


def next_link(
    ctx: ApiContext, collection: str, params: Iterable[tuple[str, str]], marker: str
) -> list[dict[str, str]]:
    """Nova's ``*_links``: the same query (sorted, as Nova's) with ``marker`` the last id."""
    query = dict(sorted((k, v) for k, v in params if k != "marker"))
    query["marker"] = marker
    return [{"rel": "next", "href": f"{ctx.base}/v2.1/{collection}?{urlencode(query)}"}]


def listed(
    ctx: ApiContext, key: str, docs: list[dict[str, Any]], request: Request, last_id: str | None
) -> dict[str, Any]:
    """Nova's list document: ``{key: docs}``, and ``<key>_links`` to the next page of the
    collection ``request`` read when ``last_id`` (the last item of a full page) is given."""
    out: dict[str, Any] = {key: docs}
    if last_id is not None and docs:
        collection = request.url.path.rsplit("/v2.1/", 1)[-1]
        out[f"{key}_links"] = next_link(
            ctx, collection, request.query_params.multi_items(), last_id
        )
    return out


def host_id(project_id: str, host: str | None) -> str:
    """Nova's ``hostId``: the same for two servers of a project on one host, opaque otherwise."""
    return hashlib.sha224(f"{project_id}{host}".encode()).hexdigest() if host else ""


def reservation_id(request_id: str) -> str:
    """Nova's reservation id (``r-`` and 8 characters) for the servers one request made:
    bootflow gives every server of a request the request's id, so it derives from that."""
    return "r-" + request_id.removeprefix("req-")[:8]


def service_is_up(node: ComputeNode, down_after: float) -> bool:
    """Nova's servicegroup check: the last heartbeat is recent enough."""
    return datetime.now(UTC) - node.heartbeat_at <= timedelta(seconds=down_after)


def _groups_query(members: ColumnElement[bool]) -> Select[str, str]:
    """(instance uuid, group uuid) of the live groups of the servers ``members`` selects."""
    return (
        select(ServerGroupMember.instance_uuid, ServerGroupMember.group_uuid)
        .join(ServerGroup, ServerGroup.uuid == ServerGroupMember.group_uuid)
        .where(members, ServerGroup.deleted.is_(False))
    )


def _siblings_query(requests: ColumnElement[bool]) -> Select[str, str]:
    """(uuid, request id) of the servers of the requests ``requests`` selects, in the order
    each request made them."""
    return (
        select(Instance.uuid, Instance.request_id)
        .where(requests)
        .order_by(Instance.created_at, Instance.name)
    )


# One server's (ServerExtras.of_one), built once: building a statement costs about as much
# as running it.
_GROUPS_OF = _groups_query(ServerGroupMember.instance_uuid == bindparam("uuid"))
_SIBLINGS = _siblings_query(Instance.request_id == bindparam("request_id"))


@dataclass
class ServerExtras:
    """What a server's view needs beyond its row, fetched once for a whole list. Groups
    are read only if ``groups`` (the view shows them) and the microversion has them."""

    nodes: dict[str, ComputeNode] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)
    launch_index: dict[str, int] = field(default_factory=dict)
    metadata: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def load(
        cls, session: Session, ctx: ApiContext, instances: Sequence[Instance], *, groups: bool
    ) -> ServerExtras:
        extras = cls()
        hosts = {i.host for i in instances if i.host}
        if hosts:
            extras.nodes = {
                n.host: n
                for n in session.scalars(select(ComputeNode).where(ComputeNode.host.in_(hosts)))
            }
        uuids = [i.uuid for i in instances]
        extras.metadata = _metadata_of(session, uuids)
        if groups and ctx.at_least(mv.SERVER_GROUPS_IN_SHOW) and uuids:
            members = ServerGroupMember.instance_uuid.in_(uuids)
            extras.groups = _groups_by_server(session.execute(_groups_query(members)))
        if _shows_launch_index(ctx) and uuids:
            requests = Instance.request_id.in_({i.request_id for i in instances})
            extras.launch_index = _launch_indexes(session.execute(_siblings_query(requests)))
        return extras

    @classmethod
    def of_one(
        cls,
        session: Session,
        ctx: ApiContext,
        instance: Instance,
        node: ComputeNode | None,
        *,
        groups: bool,
    ) -> ServerExtras:
        """``load`` for one server whose host's ``node`` was read with it and whose
        ``metadata_items`` are loaded: a statement for its groups if the view shows them,
        one for its launch index if the caller sees it, none otherwise."""
        extras = cls(
            nodes={node.host: node} if node is not None else {},
            metadata={instance.uuid: {m.key: m.value for m in instance.metadata_items}},
        )
        if groups and ctx.at_least(mv.SERVER_GROUPS_IN_SHOW):
            rows = session.execute(_GROUPS_OF, {"uuid": instance.uuid})
            extras.groups = _groups_by_server(rows)
        if _shows_launch_index(ctx):
            siblings = session.execute(_SIBLINGS, {"request_id": instance.request_id})
            extras.launch_index = _launch_indexes(siblings)
        return extras

    def availability_zone(self, instance: Instance) -> str:
        """The host's zone once scheduled, else the one asked for (Nova's rule)."""
        node = self.nodes.get(instance.host or "")
        if node is not None:
            return node.availability_zone
        return instance.availability_zone or ""

    def host_status(self, instance: Instance, down_after: float) -> str:
        """Nova's host_status: UP, DOWN, MAINTENANCE (disabled), UNKNOWN, or "" (no host)."""
        node = self.nodes.get(instance.host or "")
        if node is None:
            return ""
        if node.disabled:
            return "MAINTENANCE"
        return "UP" if service_is_up(node, down_after) else "UNKNOWN"


def _shows_launch_index(ctx: ApiContext) -> bool:
    return ctx.is_admin and ctx.at_least(mv.EXTENDED_ATTRS_V23)


def _groups_by_server(rows: Result[str, str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for instance_uuid, group_uuid in rows:
        groups.setdefault(instance_uuid, []).append(group_uuid)
    return groups


def _launch_indexes(siblings: Result[str, str]) -> dict[str, int]:
    """Each server's place among those of its request, from (uuid, request id) rows in
    the order the request made them."""
    indexes: dict[str, int] = {}
    seen: dict[str, int] = {}
    for instance_uuid, request_id in siblings:
        indexes[instance_uuid] = seen.get(request_id, 0)
        seen[request_id] = seen.get(request_id, 0) + 1
    return indexes


def server_hostname(instance: Instance) -> str:
    """The guest's hostname: made from the name at boot, kept through a rename."""
    return instance.hostname or hostname_for(instance.name, instance.uuid)


def _metadata_of(session: Session, uuids: list[str]) -> dict[str, dict[str, str]]:
    """Each server's metadata, in one query for a page of servers."""
    out: dict[str, dict[str, str]] = {}
    if uuids:
        pairs = session.execute(
            select(InstanceMetadata.instance_uuid, InstanceMetadata.key, InstanceMetadata.value)
            .where(InstanceMetadata.instance_uuid.in_(uuids))
            .order_by(InstanceMetadata.key)
        )
        for instance_uuid, key, value in pairs:
            out.setdefault(instance_uuid, {})[key] = value
    return out


def created_server(ctx: ApiContext, server_id: str) -> dict[str, Any]:
    """The answer to a create: the first server's id and links."""
    return {
        "id": server_id,
        "links": links(ctx, "servers", server_id),
        "OS-DCF:diskConfig": "MANUAL",
        "security_groups": [{"name": "default"}],
    }


def server_brief(ctx: ApiContext, instance: Instance) -> dict[str, Any]:
    return {
        "id": instance.uuid,
        "name": instance.name,
        "links": links(ctx, "servers", instance.uuid),
    }


def _flavor(ctx: ApiContext, instance: Instance) -> dict[str, Any]:
    if ctx.at_least(mv.EMBEDDED_FLAVOR):
        # The flavor as the instance copied it at boot; bootflow's flavors have no
        # ephemeral disk, no swap and no extra specs.
        return {
            "vcpus": instance.vcpus,
            "ram": instance.memory_mb,
            "disk": instance.root_gb,
            "ephemeral": 0,
            "swap": 0,
            "original_name": instance.flavor_name,
            "extra_specs": {},
        }
    return {"id": instance.flavor_id, "links": bookmark(ctx, "flavors", instance.flavor_id)}


def server_detail(
    ctx: ApiContext, instance: Instance, extras: ServerExtras, *, show_groups: bool
) -> dict[str, Any]:
    """Nova's ``show`` view; ``show_groups`` for GET /servers/{id} from 2.71 (not detail)."""
    status = "DELETED" if instance.deleted else api_status(instance.vm_state, instance.task_state)
    view = _server_core(ctx, instance, status)
    view["metadata"] = extras.metadata.get(instance.uuid, {})
    if status in _FAULT_STATUSES and instance.faults:
        view["fault"] = _fault(ctx, instance.faults[-1])
    if status in _PROGRESS_STATUSES:
        # Nova's libvirt driver never reports build progress: 0 throughout.
        view["progress"] = 0
    view["OS-EXT-AZ:availability_zone"] = extras.availability_zone(instance)
    view["config_drive"] = CONFIG_DRIVE
    view["key_name"] = instance.key_name
    view["OS-SRV-USG:launched_at"] = nova_datetime(instance.launched_at)
    view["OS-SRV-USG:terminated_at"] = nova_datetime(instance.terminated_at)
    view["security_groups"] = [{"name": "default"}]
    if ctx.is_admin:
        view.update(_host_attributes(ctx, instance, extras))
    view["OS-EXT-STS:task_state"] = instance.task_state
    view["OS-EXT-STS:vm_state"] = instance.vm_state
    view["OS-EXT-STS:power_state"] = instance.power_state
    view["os-extended-volumes:volumes_attached"] = _volumes(ctx, instance)
    view.update(_later_fields(ctx, instance, extras, show_groups))
    return view


def _server_core(ctx: ApiContext, instance: Instance, status: str) -> dict[str, Any]:
    """The fields every microversion shows, in Nova's order."""
    return {
        "accessIPv4": instance.access_ip_v4 or "",
        "accessIPv6": instance.access_ip_v6 or "",
        # As Nova: no addresses while building.
        "addresses": {} if status == "BUILD" else dict(instance.addresses or {}),
        "created": nova_time(instance.created_at),
        "flavor": _flavor(ctx, instance),
        "hostId": host_id(instance.project_id, instance.host),
        "id": instance.uuid,
        "image": (
            {"id": instance.image_ref, "links": bookmark(ctx, "images", instance.image_ref)}
            if instance.image_ref
            else ""
        ),
        "links": links(ctx, "servers", instance.uuid),
        "metadata": {},
        "name": instance.name,
        "status": status,
        "tenant_id": instance.project_id,
        "user_id": instance.user_id,
        "updated": nova_time(instance.updated_at),
        "OS-DCF:diskConfig": "MANUAL",
    }


def _fault(ctx: ApiContext, fault: InstanceFault) -> dict[str, Any]:
    view: dict[str, Any] = {
        "code": fault.code,
        "created": nova_time(fault.created_at),
        "message": fault.message,
    }
    # As Nova: details of a 500 fault are for admins only.
    if fault.details and (ctx.is_admin or fault.code != 500):
        view["details"] = fault.details
    return view


def _host_attributes(ctx: ApiContext, instance: Instance, extras: ServerExtras) -> dict[str, Any]:
    """OS-EXT-SRV-ATTR, for admins."""
    node = extras.nodes.get(instance.host or "")
    view: dict[str, Any] = {
        "OS-EXT-SRV-ATTR:host": instance.host,
        "OS-EXT-SRV-ATTR:instance_name": f"instance-{instance.uuid}",
        "OS-EXT-SRV-ATTR:hypervisor_hostname": node.hypervisor_hostname if node else None,
    }
    if ctx.at_least(mv.EXTENDED_ATTRS_V23):
        view |= {
            "OS-EXT-SRV-ATTR:hostname": server_hostname(instance),
            "OS-EXT-SRV-ATTR:kernel_id": "",
            "OS-EXT-SRV-ATTR:launch_index": extras.launch_index.get(instance.uuid, 0),
            "OS-EXT-SRV-ATTR:ramdisk_id": "",
            "OS-EXT-SRV-ATTR:reservation_id": reservation_id(instance.request_id),
            "OS-EXT-SRV-ATTR:root_device_name": ROOT_DEVICE_NAME,
            "OS-EXT-SRV-ATTR:user_data": instance.user_data,
        }
    return view


def _volumes(ctx: ApiContext, instance: Instance) -> list[dict[str, Any]]:
    volumes = []
    for bdm in instance.block_devices:
        if bdm.volume_id:
            volume: dict[str, Any] = {"id": bdm.volume_id}
            if ctx.at_least(mv.EXTENDED_ATTRS_V23):
                volume["delete_on_termination"] = bdm.delete_on_termination
            volumes.append(volume)
    return volumes


def _later_fields(
    ctx: ApiContext, instance: Instance, extras: ServerExtras, show_groups: bool
) -> dict[str, Any]:
    """The fields later microversions add, in the order Nova adds them."""
    view: dict[str, Any] = {}
    if ctx.at_least(mv.LOCKED):
        view["locked"] = bool(instance.locked)
    if ctx.at_least(mv.HOST_STATUS) and ctx.is_admin:
        view["host_status"] = extras.host_status(instance, ctx.service_down_seconds)
    if ctx.at_least(mv.DESCRIPTION):
        view["description"] = instance.description
    if ctx.at_least(mv.TAGS):
        view["tags"] = []
    if ctx.at_least(mv.TRUSTED_CERTS):
        view["trusted_image_certificates"] = None
    if show_groups and ctx.at_least(mv.SERVER_GROUPS_IN_SHOW):
        view["server_groups"] = extras.groups.get(instance.uuid, [])
    if ctx.at_least(mv.LOCKED_REASON):
        view["locked_reason"] = instance.locked_reason if instance.locked else None
    if ctx.at_least(mv.HOSTNAME) and not ctx.is_admin:
        view["OS-EXT-SRV-ATTR:hostname"] = server_hostname(instance)
    if ctx.at_least(mv.PINNED_AZ):
        view["pinned_availability_zone"] = instance.availability_zone or None
    return view


def flavor_view(ctx: ApiContext, flavor: Flavor, detail: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": flavor.flavorid,
        "name": flavor.name,
        "links": links(ctx, "flavors", flavor.flavorid),
    }
    if detail:
        view.update(
            {
                "ram": flavor.memory_mb,
                "disk": flavor.root_gb,
                "swap": (flavor.swap or 0)
                if ctx.at_least(mv.STRICT_QUERY)
                else (flavor.swap or ""),
                "OS-FLV-EXT-DATA:ephemeral": flavor.ephemeral_gb,
                "OS-FLV-DISABLED:disabled": flavor.disabled,
                "vcpus": flavor.vcpus,
                "os-flavor-access:is_public": flavor.is_public,
                "rxtx_factor": 1.0,
            }
        )
    if ctx.at_least(mv.FLAVOR_DESCRIPTION):
        view["description"] = None
    if detail and ctx.at_least(mv.FLAVOR_EXTRA_SPECS):
        view["extra_specs"] = {}
    return view


def action_view(ctx: ApiContext, action: InstanceAction) -> dict[str, Any]:
    view: dict[str, Any] = {
        "action": action.action,
        "instance_uuid": action.instance_uuid,
        "request_id": action.request_id,
        "user_id": action.user_id,
        "project_id": action.project_id,
        "start_time": nova_datetime(action.start_time),
        "message": action.message,
    }
    if ctx.at_least(mv.ACTIONS_PAGING):
        view["updated_at"] = nova_datetime(action.finish_time or action.start_time)
    return view


def event_view(ctx: ApiContext, event: InstanceActionEvent, project_id: str) -> dict[str, Any]:
    """One event, as Nova shows it: the traceback (and from 2.62 the host, from 2.84 the
    details of a failure) for admins; from 2.62 an opaque hostId for everyone."""
    view: dict[str, Any] = {
        "event": event.event,
        "start_time": nova_datetime(event.start_time),
        "finish_time": nova_datetime(event.finish_time),
        "result": event.result,
    }
    if ctx.is_admin:
        view["traceback"] = event.details
        if ctx.at_least(mv.EVENT_HOST):
            view["host"] = event.host or ""
    if ctx.at_least(mv.EVENT_HOST):
        view["hostId"] = host_id(project_id, event.host)
    if ctx.is_admin and ctx.at_least(mv.EVENT_DETAILS):
        view["details"] = event.details if event.result == "Error" else None
    return view


def leftover_view(leftover: Leftover) -> dict[str, Any]:
    return {
        "instance_uuid": leftover.instance_uuid,
        "project_id": leftover.project_id,
        "step": leftover.step,
        "error": leftover.error,
        "host": leftover.host,
        "created_at": nova_time(leftover.created_at),
    }
