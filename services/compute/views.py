"""Nova's JSON for servers and flavors."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from bootflow.states import api_status
from db.models import Flavor, Instance, InstanceAction, InstanceActionEvent, Leftover


def nova_time(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _link(base: str, kind: str, ident: str, project_id: str | None = None) -> list[dict[str, str]]:
    project = f"/{project_id}" if project_id else ""
    return [
        {"rel": "self", "href": f"{base}/v2.1{project}/{kind}/{ident}"},
        {"rel": "bookmark", "href": f"{base}{project}/{kind}/{ident}"},
    ]


def host_id(project_id: str, host: str | None) -> str:
    """Nova's ``hostId``: the same for two servers of a project on one host, opaque otherwise."""
    return hashlib.sha224(f"{project_id}{host}".encode()).hexdigest() if host else ""


def server_brief(base: str, instance: Instance) -> dict[str, Any]:
    return {
        "id": instance.uuid,
        "name": instance.name,
        "links": _link(base, "servers", instance.uuid),
    }


def server_detail(base: str, instance: Instance, is_admin: bool) -> dict[str, Any]:
    status = api_status(instance.vm_state, instance.task_state)
    view: dict[str, Any] = {
        "id": instance.uuid,
        "name": instance.name,
        "status": status,
        "tenant_id": instance.project_id,
        "user_id": instance.user_id,
        "metadata": {},
        "hostId": host_id(instance.project_id, instance.host),
        "image": {"id": instance.image_ref, "links": _link(base, "images", instance.image_ref)},
        "flavor": {"id": instance.flavor_id, "links": _link(base, "flavors", instance.flavor_id)},
        "created": nova_time(instance.created_at),
        "updated": nova_time(instance.updated_at),
        "addresses": instance.addresses or {},
        "accessIPv4": "",
        "accessIPv6": "",
        "links": _link(base, "servers", instance.uuid),
        "OS-DCF:diskConfig": "MANUAL",
        "OS-EXT-AZ:availability_zone": instance.availability_zone or "nova",
        "config_drive": "",
        "key_name": None,
        "OS-SRV-USG:launched_at": nova_time(instance.launched_at),
        "OS-SRV-USG:terminated_at": nova_time(instance.terminated_at),
        "OS-EXT-STS:task_state": instance.task_state,
        "OS-EXT-STS:vm_state": instance.vm_state,
        "OS-EXT-STS:power_state": instance.power_state,
        "os-extended-volumes:volumes_attached": [
            {"id": b.volume_id, "delete_on_termination": b.delete_on_termination}
            for b in instance.block_devices
            if b.volume_id
        ],
        "security_groups": [{"name": "default"}],
    }
    if status in ("BUILD", "ACTIVE"):
        view["progress"] = 100 if status == "ACTIVE" else 0
    if is_admin:
        view["OS-EXT-SRV-ATTR:host"] = instance.host
        view["OS-EXT-SRV-ATTR:hypervisor_hostname"] = instance.host
        view["OS-EXT-SRV-ATTR:instance_name"] = f"instance-{instance.uuid}"
    if status == "ERROR" and instance.faults:
        fault = instance.faults[-1]
        view["fault"] = {
            "code": fault.code,
            "message": fault.message,
            "created": nova_time(fault.created_at),
        }
        # As Nova: details of a 500 fault are for admins only.
        if is_admin or fault.code != 500:
            view["fault"]["details"] = fault.details
    return view


def flavor_view(base: str, flavor: Flavor, detail: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": flavor.flavorid,
        "name": flavor.name,
        "links": _link(base, "flavors", flavor.flavorid),
    }
    if detail:
        view.update(
            {
                "vcpus": flavor.vcpus,
                "ram": flavor.memory_mb,
                "disk": flavor.root_gb,
                "OS-FLV-EXT-DATA:ephemeral": flavor.ephemeral_gb,
                "swap": flavor.swap or "",
                "rxtx_factor": 1.0,
                "os-flavor-access:is_public": flavor.is_public,
                "OS-FLV-DISABLED:disabled": flavor.disabled,
            }
        )
    return view


def action_time(value: datetime | None) -> str | None:
    """Nova's instance-action timestamps: microseconds, no zone."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value else None


def action_view(action: InstanceAction) -> dict[str, Any]:
    return {
        "action": action.action,
        "instance_uuid": action.instance_uuid,
        "request_id": action.request_id,
        "user_id": action.user_id,
        "project_id": action.project_id,
        "start_time": action_time(action.start_time),
        "updated_at": action_time(action.finish_time or action.start_time),
        "message": action.message,
    }


def event_view(event: InstanceActionEvent, is_admin: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "event": event.event,
        "start_time": action_time(event.start_time),
        "finish_time": action_time(event.finish_time),
        "result": event.result,
        "hostId": host_id(event.action.project_id, event.host),
        "host": event.host,
    }
    # As Nova: what went wrong in detail is for admins (it may name internals).
    if is_admin:
        view["traceback"] = event.details
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
