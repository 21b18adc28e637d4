"""``os-hypervisors``: one hypervisor per host, listed, paged (2.33), found by name pattern
and with its servers (2.53), in detail and shown (each with its host's uptime from 2.88).
The older routes are in ``hypervisor_lookups``; what Nova does not show (allocation
ratios) is bootflow's own ``/bootflow/v1/hypervisors`` (``own_api``)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session
from starlette.datastructures import QueryParams

from db.models.compute import ComputeNode, Instance
from services.common.app import ApiError
from services.common.app import router as common_router
from services.common.db import DbSession
from services.compute import microversions as mv
from services.compute.context import ApiContext, Ctx
from services.compute.hosts import (
    HostIp,
    hypervisor_id,
    nodes,
    require_admin,
    servers_on,
    service_id,
    state,
    status,
)
from services.compute.uptime import host_uptime
from services.compute.validation import (
    is_uuid,
    limit_and_marker,
    page_after,
    query_bool,
    strict_query,
)
from services.compute.views import listed

router = common_router()


def _usage(ctx: ApiContext, node: ComputeNode) -> dict[str, Any]:
    """The resource counts Nova showed until 2.88."""
    return {
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


def _detail(ctx: ApiContext, node: ComputeNode, host_ip: str) -> dict[str, Any]:
    view: dict[str, Any] = {
        "hypervisor_type": node.hypervisor_type,
        # Nova reports the hypervisor's version as an integer; compute_nodes does not keep
        # it, so 0 says "unknown" in the type clients expect.
        "hypervisor_version": 0,
        "host_ip": host_ip,
        "service": {
            "id": service_id(ctx, node),
            "host": node.host,
            "disabled_reason": node.disabled_reason,
        },
    }
    if ctx.at_least(mv.NO_HYPERVISOR_USAGE):
        view["uptime"] = host_uptime(ctx, node)  # in lists too, as Nova asks each host
    else:
        view.update(_usage(ctx, node))
    return view


def hypervisor_view(
    ctx: ApiContext,
    node: ComputeNode,
    detail: bool,
    host_ip: str,
    servers: list[Instance] | None = None,
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": hypervisor_id(ctx, node),
        "hypervisor_hostname": node.hypervisor_hostname,
        "state": state(ctx, node),
        "status": status(node),
    }
    if detail:
        view.update(_detail(ctx, node, host_ip))
    if servers:
        view["servers"] = [{"name": s.name, "uuid": s.uuid} for s in servers]
    elif servers is not None and ctx.at_least(mv.STRICT_QUERY):
        view["servers"] = []
    return view


def _check_query(ctx: ApiContext, params: QueryParams) -> None:
    allowed = {"limit", "marker"} if ctx.at_least(mv.HYPERVISOR_PAGING) else set()
    if ctx.at_least(mv.SERVICE_UUIDS):
        allowed |= {"hypervisor_hostname_pattern", "with_servers"}
    if ctx.at_least(mv.STRICT_QUERY):
        strict_query(params, allowed)


def _matching(found: list[ComputeNode], params: QueryParams, pattern: str) -> list[ComputeNode]:
    if "limit" in params or "marker" in params:
        raise ApiError(
            400,
            "Paging over hypervisors with the hypervisor_hostname_pattern query "
            "parameter is not supported.",
        )
    found = [n for n in found if pattern in n.hypervisor_hostname]
    if not found:
        raise ApiError(404, f"No hypervisor matching '{pattern}' could be found.")
    return found


def _page(
    ctx: ApiContext, found: list[ComputeNode], params: QueryParams
) -> tuple[list[ComputeNode], bool]:
    limit, marker = limit_and_marker(params)
    ids = [str(hypervisor_id(ctx, n)) for n in found]
    return page_after(found, ids, marker, limit, f"marker [{marker}] not found")


def _with_servers(ctx: ApiContext, params: QueryParams) -> bool:
    return ctx.at_least(mv.SERVICE_UUIDS) and query_bool(
        "with_servers", params.get("with_servers", "false")
    )


def _list(
    ctx: ApiContext, session: Session, request: Request, host_ip: str, detail: bool
) -> dict[str, Any]:
    params = request.query_params
    require_admin(ctx, f"os_compute_api:os-hypervisors:{'list-detail' if detail else 'list'}")
    _check_query(ctx, params)
    found = nodes(session)
    with_servers = _with_servers(ctx, params)
    pattern = params.get("hypervisor_hostname_pattern") if ctx.at_least(mv.SERVICE_UUIDS) else None
    more = False
    if pattern is not None:
        found = _matching(found, params, pattern)
    elif ctx.at_least(mv.HYPERVISOR_PAGING):
        found, more = _page(ctx, found, params)
    docs = [
        hypervisor_view(
            ctx, n, detail, host_ip, servers_on(session, n.host) if with_servers else None
        )
        for n in found
    ]
    last = str(hypervisor_id(ctx, found[-1])) if more and found else None
    return listed(ctx, "hypervisors", docs, request, last)


@router.get("/v2.1/os-hypervisors")
@router.get("/v2.1/os-hypervisors/detail")
def list_hypervisors(
    ctx: Ctx, session: DbSession, request: Request, host_ip: HostIp
) -> dict[str, Any]:
    detail = request.url.path.endswith("/detail")
    return _list(ctx, session, request, host_ip, detail)


def _found(ctx: ApiContext, session: Session, ident: str) -> ComputeNode:
    node = next((n for n in nodes(session) if str(hypervisor_id(ctx, n)) == ident), None)
    if node is None:
        raise ApiError(404, f"Hypervisor with ID '{ident}' could not be found.")
    return node


@router.get("/v2.1/os-hypervisors/{hypervisor_id}")
def show_hypervisor(
    hypervisor_id: str, ctx: Ctx, session: DbSession, request: Request, host_ip: HostIp
) -> dict[str, Any]:
    require_admin(ctx, "os_compute_api:os-hypervisors:show")
    if ctx.at_least(mv.SERVICE_UUIDS):
        if not is_uuid(hypervisor_id):
            raise ApiError(400, f"Invalid uuid {hypervisor_id}")
    elif not hypervisor_id.isdigit():
        raise ApiError(404, f"Hypervisor with ID '{hypervisor_id}' could not be found.")
    node = _found(ctx, session, hypervisor_id)
    servers = servers_on(session, node.host) if _with_servers(ctx, request.query_params) else None
    return {"hypervisor": hypervisor_view(ctx, node, True, host_ip, servers)}
