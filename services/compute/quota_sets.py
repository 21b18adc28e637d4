"""``os-quota-sets``: a project's compute quotas as Nova shows and changes them. An admin's
PUT writes the project's ``quota_limits`` rows, which the next create is checked against
(db/quotas.py) and ``/limits`` shows; DELETE returns the project to the defaults.

Per-user quotas are not kept: a GET naming a user shows the project's (what Nova shows for a
user with no quota of their own), a PUT naming one is refused."""

from __future__ import annotations

from typing import Any, Final

from fastapi import Request, Response
from sqlalchemy import delete
from sqlalchemy.orm import Session

from db.models.compute import QuotaLimit
from services.common.app import ApiError
from services.common.app import router as common_router
from services.common.db import DbSession
from services.compute import compute_quotas
from services.compute import microversions as mv
from services.compute.context import JSON_BODY, ApiContext, Ctx, QuotaOptions
from services.compute.create import unsupported
from services.compute.schemas.quota_sets import parse_update, resources_at
from services.compute.validation import strict_query

router = common_router()

_RULE: Final = "os_compute_api:os-quota-sets"


def _allowed(ctx: ApiContext, project_id: str, action: str) -> None:
    """Nova's policies: show and detail for the project's own members and admins; update
    and delete for admins."""
    own = action in ("show", "detail") and project_id == ctx.caller.project_id
    if not (ctx.is_admin or own):
        raise ApiError(403, f"Policy doesn't allow {_RULE}:{action} to be performed.")


def _query(ctx: ApiContext, request: Request) -> str | None:
    params = request.query_params
    if ctx.at_least(mv.STRICT_QUERY):
        strict_query(params, {"user_id"})
    return params.get("user_id")


def _shown(ctx: ApiContext, values: dict[str, Any]) -> dict[str, Any]:
    return {r: values[r] for r in resources_at(ctx.version)}


@router.get("/v2.1/os-quota-sets/{project_id}/defaults")
def quota_defaults(
    project_id: str, ctx: Ctx, session: DbSession, settings: QuotaOptions
) -> dict[str, Any]:
    """Every project's defaults: the ``default`` quota class's."""
    defaults = compute_quotas.class_limits(session, "default", settings)
    return {"quota_set": {"id": project_id} | _shown(ctx, defaults)}


@router.get("/v2.1/os-quota-sets/{project_id}")
@router.get("/v2.1/os-quota-sets/{project_id}/detail")
def show_quotas(
    project_id: str, ctx: Ctx, session: DbSession, request: Request, settings: QuotaOptions
) -> dict[str, Any]:
    """The project's limits; ``/detail``: each with its use (nothing is held in reserve)."""
    detail = request.url.path.endswith("/detail")
    _allowed(ctx, project_id, "detail" if detail else "show")
    _query(ctx, request)
    values: dict[str, Any] = compute_quotas.project_limits(session, project_id, settings)
    if detail:
        used = compute_quotas.project_usage(session, project_id)
        values = {r: {"limit": values[r], "in_use": used[r], "reserved": 0} for r in values}
    return {"quota_set": {"id": project_id} | _shown(ctx, values)}


def _check_usage(session: Session, project_id: str, limits: dict[str, int]) -> None:
    """Nova refuses a limit under what the project already uses (unless forced)."""
    used = compute_quotas.project_usage(session, project_id)
    for resource, limit in limits.items():
        if limit != -1 and limit < used[resource]:
            raise ApiError(
                400,
                f"Quota limit {limit} for {resource} must be greater than or equal to "
                f"already used and reserved {used[resource]}.",
            )


def store(session: Session, project_id: str, limits: dict[str, int]) -> None:
    """The project's rows for ``limits`` (each replaced)."""
    if not limits:
        return
    session.execute(
        delete(QuotaLimit).where(
            QuotaLimit.project_id == project_id, QuotaLimit.resource.in_(list(limits))
        )
    )
    session.add_all(
        QuotaLimit(project_id=project_id, resource=r, hard_limit=v) for r, v in limits.items()
    )
    session.flush()


@router.put("/v2.1/os-quota-sets/{project_id}")
def update_quotas(
    project_id: str,
    ctx: Ctx,
    session: DbSession,
    request: Request,
    settings: QuotaOptions,
    body: Any = JSON_BODY,
) -> dict[str, Any]:
    _allowed(ctx, project_id, "update")
    if _query(ctx, request) is not None:
        raise unsupported("A user's own quota (user_id)", "set the project's quota instead.")
    update = parse_update(body, ctx.version)
    if not update.force:
        _check_usage(session, project_id, update.limits)
    store(session, project_id, update.limits)
    return {"quota_set": _shown(ctx, compute_quotas.project_limits(session, project_id, settings))}


@router.delete("/v2.1/os-quota-sets/{project_id}", status_code=202)
def delete_quotas(project_id: str, ctx: Ctx, session: DbSession, request: Request) -> Response:
    _allowed(ctx, project_id, "delete")
    if _query(ctx, request) is not None:
        raise unsupported("A user's own quota (user_id)", "delete the project's quota instead.")
    session.execute(
        delete(QuotaLimit).where(
            QuotaLimit.project_id == project_id,
            QuotaLimit.resource.in_(compute_quotas.RESOURCES),
        )
    )
    return Response(status_code=202)
