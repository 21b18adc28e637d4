"""``/os-quota-sets`` and ``/limits``: a project's volume quotas and usage; admins change
them at run time (PUT, DELETE back to the defaults)."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from pydantic import BaseModel, ConfigDict

from services.common.app import ApiError
from services.common.app import router as common_router
from services.common.db import DbSession
from services.volume import quota_limits, quotas
from services.volume.context import Manager, RequestScope, Scope, bool_param

router = common_router()


class QuotaSetUpdate(BaseModel):
    """``{"quota_set": {resource: limit, ...}}``; the keys and values are checked as Cinder
    checks them (``quota_limits.parse_update``)."""

    model_config = ConfigDict(extra="forbid")
    quota_set: dict[str, Any]


# Keystone's project ids fit the quota tables' project columns.
_MAX_PROJECT_ID = 64


def _readable(scope: RequestScope, target_project_id: str) -> None:
    if not scope.caller.is_admin and target_project_id != scope.project_id:
        raise ApiError(404, f"Quota for project {target_project_id} could not be found.")


def _admin(scope: RequestScope, target_project_id: str) -> None:
    policy = "volume_extension:quotas:update"
    quota_limits.require_admin(scope.caller, policy, target_project_id, _MAX_PROJECT_ID)


@router.get("/os-quota-sets/{target_project_id}")
def show_quota_set(
    target_project_id: str, request: Request, scope: Scope, session: DbSession, manager: Manager
) -> dict[str, Any]:
    _readable(scope, target_project_id)
    with_usage = bool_param(request, "usage")
    body = quota_limits.quota_set(session, target_project_id, manager.limits, with_usage)
    return {"quota_set": body}


@router.get("/os-quota-sets/{target_project_id}/defaults")
def show_quota_defaults(
    target_project_id: str, scope: Scope, session: DbSession, manager: Manager
) -> dict[str, Any]:
    _readable(scope, target_project_id)
    found = quota_limits.defaults(session, manager.limits)
    return {"quota_set": {"id": target_project_id, **found}}


@router.put("/os-quota-sets/{target_project_id}")
def update_quota_set(
    target_project_id: str,
    body: QuotaSetUpdate,
    scope: Scope,
    session: DbSession,
    manager: Manager,
) -> dict[str, Any]:
    _admin(scope, target_project_id)
    changes = body.quota_set
    return {"quota_set": quota_limits.update(session, target_project_id, changes, manager.limits)}


@router.delete("/os-quota-sets/{target_project_id}")
def delete_quota_set(target_project_id: str, scope: Scope, session: DbSession) -> Response:
    _admin(scope, target_project_id)
    quota_limits.reset(session, target_project_id)
    return Response(status_code=200)


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
