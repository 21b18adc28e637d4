"""``GET /limits``: the project's absolute limits and what it uses, as Nova's limits view.

The limits are the project's compute quotas (compute_quotas: its os-quota-sets values over
the defaults), named as Nova's view names them. bootflow also limits disk, which Nova does
not: that is in bootflow's own ``/bootflow/v1/limits``.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import Request

from services.common.app import ApiError
from services.common.app import router as common_router
from services.common.db import DbSession
from services.compute import compute_quotas
from services.compute import microversions as mv
from services.compute.context import Ctx, QuotaOptions
from services.compute.validation import strict_query

# Nova's limits view: each quota resource's names in /limits.
_NAMES: Final = {
    "ram": ("maxTotalRAMSize",),
    "instances": ("maxTotalInstances",),
    "cores": ("maxTotalCores",),
    "key_pairs": ("maxTotalKeypairs",),
    "floating_ips": ("maxTotalFloatingIps",),
    "metadata_items": ("maxServerMeta", "maxImageMeta"),
    "injected_files": ("maxPersonality",),
    "injected_file_content_bytes": ("maxPersonalitySize",),
    "security_groups": ("maxSecurityGroups",),
    "security_group_rules": ("maxSecurityGroupRules",),
    "server_groups": ("maxServerGroups",),
    "server_group_members": ("maxServerGroupMembers",),
}
_NETWORK_LIMITS: Final = (
    "maxSecurityGroups",
    "maxSecurityGroupRules",
    "maxTotalFloatingIps",
    "totalFloatingIpsUsed",
    "totalSecurityGroupsUsed",
)


router = common_router()


@router.get("/v2.1/limits")
def limits(
    ctx: Ctx, session: DbSession, request: Request, settings: QuotaOptions
) -> dict[str, Any]:
    params = request.query_params
    if ctx.at_least(mv.STRICT_QUERY):
        strict_query(params, {"tenant_id"})
    project = ctx.caller.project_id
    if "tenant_id" in params:
        if not ctx.is_admin:
            raise ApiError(
                403,
                "Policy doesn't allow os_compute_api:limits:other_project to be performed.",
            )
        project = params["tenant_id"]
    limit = compute_quotas.project_limits(session, project, settings)
    used = compute_quotas.project_usage(session, project)
    absolute: dict[str, Any] = {
        name: limit[resource] for resource, names in _NAMES.items() for name in names
    }
    absolute.update(
        {
            "totalInstancesUsed": used["instances"],
            "totalCoresUsed": used["cores"],
            "totalRAMUsed": used["ram"],
            "totalServerGroupsUsed": used["server_groups"],
            "totalFloatingIpsUsed": 0,
            "totalSecurityGroupsUsed": 0,
        }
    )
    if ctx.at_least(mv.NO_NETWORK_PROXIES):
        for key in _NETWORK_LIMITS:
            absolute.pop(key)
    if ctx.at_least(mv.NO_IMAGE_META_LIMIT):
        absolute.pop("maxImageMeta")
    if ctx.at_least(mv.NO_PERSONALITY):
        absolute.pop("maxPersonality")
        absolute.pop("maxPersonalitySize")
    return {"limits": {"rate": [], "absolute": absolute}}
