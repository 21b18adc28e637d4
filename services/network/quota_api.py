"""``/v2.0/quotas``: Neutron's quota API (``quotas`` and ``quota_details`` extensions).

Members read their own project's limits, admins any project's, and only admins change
them (Neutron's default policy). A PUT stores the limits it names; every later create is
checked against them (``quotas.check``); a DELETE returns the project to the defaults.
"""

from __future__ import annotations

from typing import Any

from fastapi import Response
from sqlalchemy import delete, select

from db.models.network import NetworkQuota
from services.common.app import MAX_INT, ApiError
from services.common.app import router as common_router
from services.common.auth import Auth, AuthContext
from services.common.db import DbSession
from services.network import quotas
from services.network.access import owns
from services.network.claims import claim
from services.network.errors import bad_request, invalid_attribute, invalid_input, policy_denied
from services.network.quotas import RESOURCES, Quotas, Resource
from services.network.schemas import JsonBody

# A project id is at most this long (the identity service's); longer ones exist nowhere.
MAX_PROJECT_ID = 64

router = common_router(prefix="/v2.0/quotas")


def _readable(caller: AuthContext, project_id: str) -> None:
    if not owns(caller, project_id):
        raise policy_denied("rule:get_quota")


def _admin(caller: AuthContext, action: str) -> None:
    if not caller.is_admin:
        raise policy_denied(f"rule:{action}")


def _limit(resource: str, value: Any) -> int:
    """Neutron's ``convert_to_int`` and ``type:range`` [-1, MAX_INT] for one limit."""
    try:
        limit = int(value)
    except (ValueError, TypeError, OverflowError) as exc:
        raise invalid_input(f"'{value}' is not an integer") from exc
    if limit < -1:
        raise invalid_attribute(resource, f"'{limit}' is too small - must be at least '-1'")
    if limit > MAX_INT:
        raise invalid_attribute(
            resource, f"'{limit}' is too large - must be no larger than '{MAX_INT}'"
        )
    return limit


def _requested(body: Any) -> dict[Resource, int]:
    if not isinstance(body, dict) or not isinstance(body.get("quota"), dict):
        raise bad_request("Unable to find 'quota' in request body")
    if len(body) > 1:
        extra = sorted(k for k in body if k != "quota")
        raise bad_request(f"Unrecognized attribute(s) '{', '.join(extra)}'")
    given: dict[str, Any] = body["quota"]
    unknown = sorted(k for k in given if k not in RESOURCES)
    if unknown:
        raise bad_request(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    return {r: _limit(r, given[r]) for r in RESOURCES if r in given}


@router.get("")
def list_quotas(caller: Auth, session: DbSession, defaults: Quotas) -> dict[str, Any]:
    """Every project whose limits differ from the defaults, with its limits."""
    _admin(caller, "get_quota")
    projects = session.scalars(select(NetworkQuota.project_id).distinct().order_by("project_id"))
    return {
        "quotas": [
            {
                **quotas.project_limits(session, defaults, project_id),
                "project_id": project_id,
                "tenant_id": project_id,
            }
            for project_id in list(projects)
        ]
    }


@router.get("/tenant")
def show_caller_project(caller: Auth) -> dict[str, Any]:
    """The caller's project, as Neutron's ``GET /v2.0/quotas/tenant`` tells it."""
    return {"tenant": {"tenant_id": caller.project_id}}


@router.get("/{project_id}")
def show_quota(
    project_id: str, caller: Auth, session: DbSession, defaults: Quotas
) -> dict[str, Any]:
    _readable(caller, project_id)
    return {"quota": quotas.project_limits(session, defaults, project_id)}


@router.get("/{project_id}/default")
def show_default_quota(project_id: str, caller: Auth, defaults: Quotas) -> dict[str, Any]:
    _readable(caller, project_id)
    return {"quota": {resource: defaults.of(resource) for resource in RESOURCES}}


@router.get("/{project_id}/details")
@router.get("/{project_id}/details.json")
def show_quota_details(
    project_id: str, caller: Auth, session: DbSession, defaults: Quotas
) -> dict[str, Any]:
    """Each limit with what the project holds; nothing is ever reserved here."""
    _readable(caller, project_id)
    limits = quotas.project_limits(session, defaults, project_id)
    return {
        "quota": {
            resource: {
                "limit": limit,
                "used": quotas.used(session, resource, project_id),
                "reserved": 0,
            }
            for resource, limit in limits.items()
        }
    }


@router.put("/{project_id}")
def update_quota(
    project_id: str, body: JsonBody, caller: Auth, session: DbSession, defaults: Quotas
) -> dict[str, Any]:
    _admin(caller, "update_quota")
    if len(project_id) > MAX_PROJECT_ID:
        raise bad_request(f"A project id is at most {MAX_PROJECT_ID} characters")
    for resource, limit in _requested(body).items():
        key = (project_id, resource)
        if session.get(NetworkQuota, key) is None and claim(
            session, NetworkQuota(project_id=project_id, resource=resource, limit=limit)
        ):
            continue
        # There (or another admin's insert won the race): change it, locked.
        row = session.get(NetworkQuota, key, with_for_update=True, populate_existing=True)
        assert row is not None
        row.limit = limit
    session.flush()
    return {"quota": quotas.project_limits(session, defaults, project_id)}


@router.delete("/{project_id}", status_code=204)
def reset_quota(project_id: str, caller: Auth, session: DbSession) -> Response:
    _admin(caller, "delete_quota")
    gone = session.execute(delete(NetworkQuota).where(NetworkQuota.project_id == project_id))
    if not gone.rowcount:  # type: ignore[attr-defined]
        raise ApiError(
            404, f"Quota for tenant {project_id} could not be found.", "TenantQuotaNotFound"
        )
    return Response(status_code=204)
