"""The operator's view of hosts: ``os-hypervisors``, ``os-services``,
``os-availability-zone`` and (read only) the ``os-aggregates`` zones imply, from the
``compute_nodes`` rows each compute worker keeps.

Each bootflow host is one nova-compute service with one hypervisor (compute node). Before
2.53 both are named by the row's integer id; from 2.53 by uuids derived from the host name
(stable across restarts). A service is up while its heartbeat is younger than
``service_down_seconds``. Disabling a service (``PUT /os-services/{id}``, 2.53 style, or
the older ``/os-services/disable``) sets ``compute_nodes.disabled``, which the scheduler
honours. bootflow's own numbers an operator needs and Nova does not show (allocation
ratios) are under ``bootflow:allocation_ratios``.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

from fastapi import APIRouter, Body, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import Settings
from db.models.compute import ComputeNode, Instance
from services.common.app import ApiError
from services.common.app import router as common_router
from services.common.db import DbSession
from services.compute import microversions as mv
from services.compute.context import ApiContext, Ctx
from services.compute.validation import (
    boolean,
    invalid,
    is_uuid,
    limit_and_marker,
    no_extra,
    query_bool,
    strict_query,
    string,
)
from services.compute.views import next_link, nova_datetime, service_is_up

COMPUTE_BINARY: Final = "nova-compute"
# Fixed namespaces: a host's hypervisor and service uuids are the same on every start.
_HYPERVISOR_NS: Final = uuid.UUID("6a1d6f2e-3f3c-4b7e-9a55-9d2f0c1b7a10")
_SERVICE_NS: Final = uuid.UUID("0e8f4f52-6f7b-4d0c-8f1e-2a4c3b5d6e71")
_AGGREGATE_NS: Final = uuid.UUID("9b3c1d2e-4f5a-4b6c-8d7e-0f1a2b3c4d5e")
DEFAULT_ZONE: Final = "nova"


def hypervisor_uuid(host: str) -> str:
    return str(uuid.uuid5(_HYPERVISOR_NS, host))


def service_uuid(host: str) -> str:
    return str(uuid.uuid5(_SERVICE_NS, host))


def _admin(ctx: ApiContext, rule: str) -> None:
    if not ctx.is_admin:
        raise ApiError(403, f"Policy doesn't allow {rule} to be performed.")


def _nodes(session: Session) -> list[ComputeNode]:
    return list(session.scalars(select(ComputeNode).order_by(ComputeNode.id)))


def _hypervisor_id(ctx: ApiContext, node: ComputeNode) -> int | str:
    return hypervisor_uuid(node.host) if ctx.at_least(mv.SERVICE_UUIDS) else node.id


def _service_id(ctx: ApiContext, node: ComputeNode) -> int | str:
    return service_uuid(node.host) if ctx.at_least(mv.SERVICE_UUIDS) else node.id


def hypervisor_view(
    ctx: ApiContext,
    node: ComputeNode,
    detail: bool,
    host_ip: str,
    servers: list[Instance] | None = None,
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": _hypervisor_id(ctx, node),
        "hypervisor_hostname": node.hypervisor_hostname,
        "state": "up" if service_is_up(node, ctx.service_down_seconds) else "down",
        "status": "disabled" if node.disabled else "enabled",
    }
    if detail:
        view["hypervisor_type"] = node.hypervisor_type
        # Nova reports the hypervisor's version as an integer; compute_nodes does not keep
        # it, so 0 says "unknown" in the type clients expect.
        view["hypervisor_version"] = 0
        view["host_ip"] = host_ip
        view["service"] = {
            "id": _service_id(ctx, node),
            "host": node.host,
            "disabled_reason": node.disabled_reason,
        }
        if not ctx.at_least(mv.NO_HYPERVISOR_USAGE):
            view.update(
                {
                    "vcpus": node.vcpus,
                    "memory_mb": node.memory_mb,
                    "local_gb": node.local_gb,
                    "vcpus_used": node.vcpus_used,
                    "memory_mb_used": node.memory_mb_used,
                    "local_gb_used": node.local_gb_used,
                    "free_ram_mb": node.memory_mb - node.memory_mb_used,
                    "free_disk_gb": node.local_gb - node.local_gb_used,
                    "current_workload": 0,
                    "running_vms": node.running_vms,
                    "disk_available_least": node.local_gb - node.local_gb_used,
                    "cpu_info": {"arch": node.cpu_arch}
                    if ctx.at_least(mv.CPU_INFO_OBJECT)
                    else f'{{"arch": "{node.cpu_arch}"}}',
                }
            )
        else:
            view["uptime"] = None
        view["bootflow:allocation_ratios"] = {
            "cpu": node.cpu_allocation_ratio,
            "ram": node.ram_allocation_ratio,
            "disk": node.disk_allocation_ratio,
        }
    if servers:
        view["servers"] = [{"name": s.name, "uuid": s.uuid} for s in servers]
    elif servers is not None and ctx.at_least(mv.STRICT_QUERY):
        view["servers"] = []
    return view


def service_view(ctx: ApiContext, node: ComputeNode) -> dict[str, Any]:
    view: dict[str, Any] = {
        "binary": COMPUTE_BINARY,
        "host": node.host,
        "id": _service_id(ctx, node),
        "zone": node.availability_zone,
        "status": "disabled" if node.disabled else "enabled",
        "state": "up" if service_is_up(node, ctx.service_down_seconds) else "down",
        "updated_at": nova_datetime(node.heartbeat_at),
        "disabled_reason": node.disabled_reason,
    }
    if ctx.at_least(mv.SERVICE_FORCED_DOWN):
        view["forced_down"] = False
    return view


def _servers_on(session: Session, host: str) -> list[Instance]:
    return list(
        session.scalars(
            select(Instance)
            .where(Instance.host == host, Instance.deleted.is_(False))
            .order_by(Instance.created_at)
        )
    )


def router(settings: Settings) -> APIRouter:
    r = common_router()
    host_ip = settings.bind_host

    # -- os-hypervisors -------------------------------------------------------------------

    def _list(ctx: ApiContext, session: Session, request: Request, detail: bool) -> dict[str, Any]:
        _admin(ctx, f"os_compute_api:os-hypervisors:{'list-detail' if detail else 'list'}")
        params = request.query_params
        allowed = {"limit", "marker"} if ctx.at_least(mv.HYPERVISOR_PAGING) else set()
        if ctx.at_least(mv.SERVICE_UUIDS):
            allowed |= {"hypervisor_hostname_pattern", "with_servers"}
        if ctx.at_least(mv.STRICT_QUERY):
            strict_query(params, allowed)
        nodes = _nodes(session)
        with_servers = False
        pattern = None
        if ctx.at_least(mv.SERVICE_UUIDS):
            with_servers = query_bool("with_servers", params.get("with_servers", "false"))
            pattern = params.get("hypervisor_hostname_pattern")
        paging = ctx.at_least(mv.HYPERVISOR_PAGING)
        if pattern is not None:
            if "limit" in params or "marker" in params:
                raise ApiError(
                    400,
                    "Paging over hypervisors with the hypervisor_hostname_pattern query "
                    "parameter is not supported.",
                )
            nodes = [n for n in nodes if pattern in n.hypervisor_hostname]
            if not nodes:
                raise ApiError(404, f"No hypervisor matching '{pattern}' could be found.")
            paging = False
        more = False
        if paging:
            limit, marker = limit_and_marker(params)
            if marker is not None:
                ids = [str(_hypervisor_id(ctx, n)) for n in nodes]
                if marker not in ids:
                    raise ApiError(400, f"marker [{marker}] not found")
                nodes = nodes[ids.index(marker) + 1 :]
            nodes = nodes[:limit]
            more = bool(limit) and len(nodes) == limit
        out: dict[str, Any] = {
            "hypervisors": [
                hypervisor_view(
                    ctx,
                    n,
                    detail,
                    host_ip,
                    _servers_on(session, n.host) if with_servers else None,
                )
                for n in nodes
            ]
        }
        if more and nodes:
            out["hypervisors_links"] = next_link(
                ctx,
                "os-hypervisors/detail" if detail else "os-hypervisors",
                params.multi_items(),
                str(_hypervisor_id(ctx, nodes[-1])),
            )
        return out

    @r.get("/v2.1/os-hypervisors")
    def list_hypervisors(ctx: Ctx, session: DbSession, request: Request) -> dict[str, Any]:
        return _list(ctx, session, request, detail=False)

    @r.get("/v2.1/os-hypervisors/detail")
    def list_hypervisors_detail(ctx: Ctx, session: DbSession, request: Request) -> dict[str, Any]:
        return _list(ctx, session, request, detail=True)

    @r.get("/v2.1/os-hypervisors/{hypervisor_id}")
    def show_hypervisor(
        hypervisor_id: str, ctx: Ctx, session: DbSession, request: Request
    ) -> dict[str, Any]:
        _admin(ctx, "os_compute_api:os-hypervisors:show")
        if ctx.at_least(mv.SERVICE_UUIDS):
            if not is_uuid(hypervisor_id):
                raise ApiError(400, f"Invalid uuid {hypervisor_id}")
        elif not hypervisor_id.isdigit():
            raise ApiError(404, f"Hypervisor with ID '{hypervisor_id}' could not be found.")
        found = [n for n in _nodes(session) if str(_hypervisor_id(ctx, n)) == hypervisor_id]
        if not found:
            raise ApiError(404, f"Hypervisor with ID '{hypervisor_id}' could not be found.")
        with_servers = ctx.at_least(mv.SERVICE_UUIDS) and query_bool(
            "with_servers", request.query_params.get("with_servers", "false")
        )
        servers = _servers_on(session, found[0].host) if with_servers else None
        return {"hypervisor": hypervisor_view(ctx, found[0], True, host_ip, servers)}

    @r.get("/v2.1/os-hypervisors/{hypervisor_id}/uptime")
    def hypervisor_uptime(hypervisor_id: str, ctx: Ctx, session: DbSession) -> dict[str, Any]:
        """Removed in 2.88; before, bootflow's hosts do not report an uptime (Nova's 501
        for a virt driver without one, which the openstack CLI expects)."""
        _admin(ctx, "os_compute_api:os-hypervisors:uptime")
        if ctx.at_least(mv.NO_HYPERVISOR_USAGE):
            raise ApiError(404, "The resource could not be found.")
        if not any(str(_hypervisor_id(ctx, n)) == hypervisor_id for n in _nodes(session)):
            raise ApiError(404, f"Hypervisor with ID '{hypervisor_id}' could not be found.")
        raise ApiError(501, "The requested functionality is not supported.")

    # -- os-aggregates (read only) --------------------------------------------------------

    @r.get("/v2.1/os-aggregates")
    def list_aggregates(ctx: Ctx, session: DbSession) -> dict[str, Any]:
        _admin(ctx, "os_compute_api:os-aggregates:index")
        return {"aggregates": _aggregates(ctx, session)}

    @r.get("/v2.1/os-aggregates/{aggregate_id}")
    def show_aggregate(aggregate_id: str, ctx: Ctx, session: DbSession) -> dict[str, Any]:
        _admin(ctx, "os_compute_api:os-aggregates:show")
        for aggregate in _aggregates(ctx, session):
            if str(aggregate["id"]) == aggregate_id:
                return {"aggregate": aggregate}
        raise ApiError(404, f"Aggregate {aggregate_id} could not be found.")

    # -- os-services ----------------------------------------------------------------------

    @r.get("/v2.1/os-services")
    def list_services(ctx: Ctx, session: DbSession, request: Request) -> dict[str, Any]:
        _admin(ctx, "os_compute_api:os-services:list")
        params = request.query_params
        if ctx.at_least(mv.STRICT_QUERY):
            strict_query(params, {"host", "binary"})
        nodes = _nodes(session)
        if params.get("host"):
            nodes = [n for n in nodes if n.host == params["host"]]
        if params.get("binary") and params["binary"] != COMPUTE_BINARY:
            nodes = []
        return {"services": [service_view(ctx, n) for n in nodes]}

    @r.put("/v2.1/os-services/{service_id}")
    def update_service(
        service_id: str,
        ctx: Ctx,
        session: DbSession,
        body: Any = Body(None),  # noqa: B008
    ) -> dict[str, Any]:
        _admin(ctx, "os_compute_api:os-services:update")
        if not isinstance(body, dict):
            raise ApiError(400, f"{body!r} is not of type 'object'")
        if ctx.at_least(mv.SERVICE_UUIDS):
            return _update_by_id(ctx, session, service_id, body)
        return _update_by_action(ctx, session, service_id, body)

    def _update_by_id(
        ctx: ApiContext, session: Session, service_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        if not is_uuid(service_id):
            raise ApiError(400, f"Invalid uuid {service_id}")
        no_extra("service", body, {"status", "disabled_reason", "forced_down"})
        node = next((n for n in _nodes(session) if service_uuid(n.host) == service_id), None)
        if node is None:
            raise ApiError(404, f"Service {service_id} could not be found.")
        status = body.get("status")
        if status is not None and status not in ("enabled", "disabled"):
            raise invalid("status", status, f"{status!r} is not one of ['enabled', 'disabled']")
        reason = body.get("disabled_reason")
        if reason is not None:
            reason = string("disabled_reason", reason, min_length=1)
        if "forced_down" in body and boolean("forced_down", body["forced_down"]):
            raise ApiError(
                400,
                "Forcing a service down is not supported by bootflow: a host is down when its "
                "heartbeat stops; disable it (status disabled) to keep new servers off it.",
            )
        if status is None:
            raise ApiError(
                400,
                "No updates were requested. Fields 'status' or 'forced_down' should be specified.",
            )
        if status == "enabled":
            if reason:
                raise ApiError(
                    400, "Specifying 'disabled_reason' with status 'enabled' is invalid."
                )
            node.disabled, node.disabled_reason = False, None
        else:
            node.disabled, node.disabled_reason = True, reason
        session.flush()
        return {"service": service_view(ctx, node)}

    def _update_by_action(
        ctx: ApiContext, session: Session, action: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        if action not in ("enable", "disable", "disable-log-reason", "force-down") or (
            action == "force-down" and not ctx.at_least(mv.SERVICE_FORCED_DOWN)
        ):
            raise ApiError(404, "Unknown action")
        fields = {"host", "binary", "disabled_reason"}
        if ctx.at_least(mv.SERVICE_FORCED_DOWN):
            fields.add("forced_down")
        no_extra("service", body, fields)
        for name in ("host", "binary"):
            if name not in body:
                raise ApiError(400, f"'{name}' is a required property")
        host = string("host", body["host"], min_length=1)
        binary = string("binary", body["binary"], min_length=1)
        if action == "force-down":
            raise ApiError(
                400,
                "Forcing a service down is not supported by bootflow: a host is down when its "
                "heartbeat stops; disable it to keep new servers off it.",
            )
        if binary != COMPUTE_BINARY:
            raise ApiError(
                400,
                f"Updating a {binary} service is not supported. Only nova-compute services "
                "can be updated.",
            )
        node = next((n for n in _nodes(session) if n.host == host), None)
        if node is None:
            raise ApiError(404, f"Could not find binary {binary} on host {host}.")
        reason = None
        if action == "disable-log-reason":
            if "disabled_reason" not in body:
                raise ApiError(400, "Missing disabled reason field")
            reason = string("disabled_reason", body["disabled_reason"], min_length=1)
        node.disabled = action != "enable"
        node.disabled_reason = reason
        out: dict[str, Any] = {
            "host": host,
            "binary": binary,
            "status": "enabled" if action == "enable" else "disabled",
        }
        if reason:
            out["disabled_reason"] = reason
        return {"service": out}

    # -- os-availability-zone -------------------------------------------------------------

    @r.get("/v2.1/os-availability-zone")
    def list_zones(ctx: Ctx, session: DbSession) -> dict[str, Any]:
        return {"availabilityZoneInfo": _zones(ctx, session, detail=False)}

    @r.get("/v2.1/os-availability-zone/detail")
    def list_zones_detail(ctx: Ctx, session: DbSession) -> dict[str, Any]:
        _admin(ctx, "os_compute_api:os-availability-zone:detail")
        return {"availabilityZoneInfo": _zones(ctx, session, detail=True)}

    return r


def _aggregates(ctx: ApiContext, session: Session) -> list[dict[str, Any]]:
    """The host aggregates Nova would have for bootflow's zones: one per zone other than the
    default "nova" (which in Nova has none), holding the zone's hosts. Read only: a host's
    zone is set where its compute worker starts."""
    nodes = _nodes(session)
    zones = sorted({n.availability_zone for n in nodes} - {DEFAULT_ZONE})
    out = []
    for index, zone in enumerate(zones, start=1):
        members = [n for n in nodes if n.availability_zone == zone]
        created = min(n.created_at for n in members)
        aggregate: dict[str, Any] = {
            "availability_zone": zone,
            "created_at": nova_datetime(created),
            "deleted": False,
            "deleted_at": None,
            "hosts": [n.host for n in members],
            "id": index,
            "metadata": {"availability_zone": zone},
            "name": zone,
            "updated_at": None,
        }
        if ctx.at_least(mv.AGGREGATE_UUID):
            aggregate["uuid"] = str(uuid.uuid5(_AGGREGATE_NS, zone))
        out.append(aggregate)
    return out


def _zones(ctx: ApiContext, session: Session, detail: bool) -> list[dict[str, Any]]:
    """Nova's zones: a zone with an enabled compute service is available, one whose
    services are all disabled is not; the detail lists the enabled services by host."""
    nodes = _nodes(session)
    available = sorted({n.availability_zone for n in nodes if not n.disabled})
    unavailable = sorted({n.availability_zone for n in nodes} - set(available))
    out: list[dict[str, Any]] = []
    for zone in available:
        hosts: dict[str, Any] | None = None
        if detail:
            hosts = {
                n.host: {
                    COMPUTE_BINARY: {
                        "available": service_is_up(n, ctx.service_down_seconds),
                        "active": True,
                        "updated_at": nova_datetime(n.heartbeat_at),
                    }
                }
                for n in nodes
                if n.availability_zone == zone and not n.disabled
            }
        out.append({"zoneName": zone, "zoneState": {"available": True}, "hosts": hosts})
    for zone in unavailable:
        out.append({"zoneName": zone, "zoneState": {"available": False}, "hosts": None})
    return out
