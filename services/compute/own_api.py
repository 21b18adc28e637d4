"""bootflow's own facts beside Nova's documents (``/bootflow/v1``), which stay exactly
Nova's: each host's allocation ratios and boot time (Nova keeps the ratios in Placement,
which bootflow does not run), and a project's quota of what bootflow counts, disk included
(Nova has no disk quota)."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from db import quotas
from db.models.compute import ComputeNode
from services.common.app import ApiError
from services.common.app import router as common_router
from services.common.db import DbSession
from services.compute.context import Ctx, QuotaOptions
from services.compute.hosts import hypervisor_uuid, nodes, require_admin
from services.compute.server_api import quota_defaults
from services.compute.validation import strict_query

router = common_router()


def facts_view(node: ComputeNode) -> dict[str, Any]:
    return {
        "id": hypervisor_uuid(node.host),
        "host": node.host,
        "hypervisor_hostname": node.hypervisor_hostname,
        "allocation_ratios": {
            "cpu": node.cpu_allocation_ratio,
            "ram": node.ram_allocation_ratio,
            "disk": node.disk_allocation_ratio,
        },
        "booted_at": node.booted_at.isoformat() if node.booted_at else None,
    }


@router.get("/bootflow/v1/hypervisors")
def hypervisor_facts(ctx: Ctx, session: DbSession) -> dict[str, Any]:
    require_admin(ctx, "bootflow:hypervisors")
    return {"hypervisors": [facts_view(n) for n in nodes(session)]}


@router.get("/bootflow/v1/limits")
def project_limits(
    ctx: Ctx, session: DbSession, request: Request, settings: QuotaOptions
) -> dict[str, Any]:
    """Each counted resource's limit (-1: unlimited) and use: ``instances``, ``cores``,
    ``ram`` (MiB), ``disk`` (GiB); another project's (``?project_id=``) for admins."""
    strict_query(request.query_params, {"project_id"})
    project = request.query_params.get("project_id", ctx.caller.project_id)
    if project != ctx.caller.project_id and not ctx.is_admin:
        raise ApiError(403, "Only an admin may read another project's limits.")
    limit = quotas.limits(session, project, quota_defaults(settings))
    used = quotas.usage(session, project)
    return {
        "limits": {
            "project_id": project,
            **{r: {"limit": limit[r], "in_use": used[r]} for r in quotas.RESOURCES},
        }
    }
