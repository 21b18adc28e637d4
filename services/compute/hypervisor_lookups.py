"""The older ``os-hypervisors`` routes Nova keeps for the microversions that had them:
``/statistics`` (totals over the enabled hosts, until 2.87), ``/{id}/uptime`` (until 2.87;
from 2.88 the uptime is in the hypervisor's show), ``/{name}/search`` and
``/{name}/servers`` (until 2.52; then ``?hypervisor_hostname_pattern`` and
``with_servers``). A route a microversion does not have answers Nova's 404.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy.orm import Session

from db.models.compute import ComputeNode
from services.common.app import ApiError
from services.common.app import router as common_router
from services.common.db import DbSession
from services.common.microversions import ApiVersion
from services.compute import microversions as mv
from services.compute.context import ApiContext, Ctx
from services.compute.hosts import hypervisor_id, nodes, require_admin, servers_on
from services.compute.hypervisors import hypervisor_view
from services.compute.uptime import host_uptime
from services.compute.validation import is_uuid
from services.compute.views import service_is_up

router = common_router()

SEARCH_REMOVED: Final = mv.SERVICE_UUIDS
_NOT_FOUND: Final = "The resource could not be found."
_STATISTICS: Final = (
    "vcpus",
    "memory_mb",
    "local_gb",
    "vcpus_used",
    "memory_mb_used",
    "local_gb_used",
    "running_vms",
)


def _until(ctx: ApiContext, removed: ApiVersion) -> None:
    if ctx.at_least(removed):
        raise ApiError(404, _NOT_FOUND)


@router.get("/v2.1/os-hypervisors/statistics")
def hypervisor_statistics(ctx: Ctx, session: DbSession) -> dict[str, Any]:
    """Totals over the hosts whose service is enabled, as Nova's compute_node_statistics."""
    require_admin(ctx, "os_compute_api:os-hypervisors:statistics")
    _until(ctx, mv.NO_HYPERVISOR_USAGE)
    enabled = [n for n in nodes(session) if not n.disabled]
    totals = {key: sum(getattr(n, key) for n in enabled) for key in _STATISTICS}
    free_disk = totals["local_gb"] - totals["local_gb_used"]
    return {
        "hypervisor_statistics": totals
        | {
            "count": len(enabled),
            "current_workload": 0,
            "free_ram_mb": totals["memory_mb"] - totals["memory_mb_used"],
            "free_disk_gb": free_disk,
            "disk_available_least": free_disk,
        }
    }


def _by_id(ctx: ApiContext, session: Session, ident: str) -> ComputeNode:
    if ctx.at_least(mv.SERVICE_UUIDS) and not is_uuid(ident):
        raise ApiError(400, f"Invalid uuid {ident}")
    node = next((n for n in nodes(session) if str(hypervisor_id(ctx, n)) == ident), None)
    if node is None:
        raise ApiError(404, f"Hypervisor with ID '{ident}' could not be found.")
    return node


@router.get("/v2.1/os-hypervisors/{hypervisor_id}/uptime")
def hypervisor_uptime(hypervisor_id: str, ctx: Ctx, session: DbSession) -> dict[str, Any]:
    require_admin(ctx, "os_compute_api:os-hypervisors:uptime")
    _until(ctx, mv.NO_HYPERVISOR_USAGE)
    node = _by_id(ctx, session, hypervisor_id)
    if not service_is_up(node, ctx.service_down_seconds):
        raise ApiError(400, f"Compute service of {node.host} is unavailable at this time.")
    uptime = host_uptime(ctx, node)
    if uptime is None:  # a worker that reports no boot time (Nova's driver without one)
        raise ApiError(501, "The requested functionality is not supported.")
    view = hypervisor_view(ctx, node, False, "")
    return {"hypervisor": view | {"uptime": uptime}}


def _matching(session: Session, name: str) -> list[ComputeNode]:
    """Nova's search: hypervisor hostnames containing ``name``; 404 when none does."""
    found = [n for n in nodes(session) if name in n.hypervisor_hostname]
    if not found:
        raise ApiError(404, f"No hypervisor matching '{name}' could be found.")
    return found


@router.get("/v2.1/os-hypervisors/{name}/search")
def search_hypervisors(name: str, ctx: Ctx, session: DbSession) -> dict[str, Any]:
    require_admin(ctx, "os_compute_api:os-hypervisors:search")
    _until(ctx, SEARCH_REMOVED)
    return {"hypervisors": [hypervisor_view(ctx, n, False, "") for n in _matching(session, name)]}


@router.get("/v2.1/os-hypervisors/{name}/servers")
def hypervisor_servers(name: str, ctx: Ctx, session: DbSession) -> dict[str, Any]:
    """Each matching hypervisor with its servers (no ``servers`` key when it has none)."""
    require_admin(ctx, "os_compute_api:os-hypervisors:servers")
    _until(ctx, SEARCH_REMOVED)
    return {
        "hypervisors": [
            hypervisor_view(ctx, n, False, "", servers_on(session, n.host))
            for n in _matching(session, name)
        ]
    }
