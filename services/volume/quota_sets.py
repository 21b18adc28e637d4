"""``/os-quota-sets`` and ``/limits``: a project's volume quotas and usage."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from services.common.app import ApiError
from services.common.app import router as common_router
from services.common.db import DbSession
from services.volume import quotas
from services.volume.context import Manager, Scope, bool_param

router = common_router()


@router.get("/os-quota-sets/{target_project_id}")
def show_quota_set(
    target_project_id: str, request: Request, scope: Scope, session: DbSession, manager: Manager
) -> dict[str, Any]:
    if not scope.caller.is_admin and target_project_id != scope.project_id:
        raise ApiError(404, f"Quota for project {target_project_id} could not be found.")
    with_usage = bool_param(request, "usage")
    return {"quota_set": quotas.quota_set(session, target_project_id, manager.limits, with_usage)}


@router.get("/limits")
def show_limits(scope: Scope, session: DbSession, manager: Manager) -> dict[str, Any]:
    """Cinder's absolute limits and usage of the caller's project (`openstack limits
    show --absolute` asks for them); snapshots and backups do not exist here: 0."""
    return {
        "limits": {
            "rate": [],
            "absolute": quotas.absolute_limits(session, scope.project_id, manager.limits),
        }
    }
