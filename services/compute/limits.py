"""``GET /limits``: the project's absolute limits and what it uses, as Nova's limits view.

Instances, cores and RAM come from bootflow's quotas (db/quotas.py); the limits bootflow
does not enforce show Nova's defaults, as an unconfigured Nova shows them. bootflow also
limits disk, which Nova does not: that is in bootflow's own ``/bootflow/v1/limits``.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import Request
from sqlalchemy import func, select

from db import quotas
from db.models.compute import ServerGroup
from services.common.app import ApiError
from services.common.app import router as common_router
from services.common.db import DbSession
from services.compute import microversions as mv
from services.compute.context import Ctx, QuotaOptions
from services.compute.server_api import SERVER_GROUP_MEMBERS_QUOTA, quota_defaults
from services.compute.validation import strict_query

# Nova's quota defaults for what bootflow has no quota of.
SERVER_GROUPS_QUOTA: Final = 10
_NOVA_DEFAULTS: Final = {
    "maxServerMeta": 128,
    "maxImageMeta": 128,
    "maxPersonality": 5,
    "maxPersonalitySize": 10240,
    "maxTotalKeypairs": 100,
    "maxSecurityGroups": 10,
    "maxSecurityGroupRules": 20,
    "maxTotalFloatingIps": 10,
    "maxServerGroups": SERVER_GROUPS_QUOTA,
    "maxServerGroupMembers": SERVER_GROUP_MEMBERS_QUOTA,
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
    limit = quotas.limits(session, project, quota_defaults(settings))
    used = quotas.usage(session, project)
    groups = session.scalar(
        select(func.count())
        .select_from(ServerGroup)
        .where(ServerGroup.project_id == project, ServerGroup.deleted.is_(False))
    )
    absolute: dict[str, Any] = dict(_NOVA_DEFAULTS)
    absolute.update(
        {
            "maxTotalInstances": limit["instances"],
            "maxTotalCores": limit["cores"],
            "maxTotalRAMSize": limit["ram"],
            "totalInstancesUsed": used["instances"],
            "totalCoresUsed": used["cores"],
            "totalRAMUsed": used["ram"],
            "totalServerGroupsUsed": int(groups or 0),
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
