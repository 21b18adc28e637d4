"""``os-server-groups``: create, list, show and delete Nova's server groups.

The scheduler reads a boot's ``group`` hint and records the membership when it places the
server; this API keeps the groups. A deleted group is marked deleted (its rows stay for the
audit trail) and no longer accepted in a hint. From 2.64 a group has one ``policy`` and
``rules``; before, a one-item ``policies`` list and empty ``metadata``.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload
from starlette.datastructures import QueryParams

from db.models.compute import Instance, ServerGroup
from services.common.app import ApiError
from services.common.app import router as common_router
from services.common.db import DbSession
from services.compute import microversions as mv
from services.compute.compute_quotas import limit_of, over
from services.compute.context import JSON_BODY, ApiContext, Ctx
from services.compute.schemas.base import validated
from services.compute.schemas.server_groups import ServerGroupV264, create_schema
from services.compute.validation import MAX_LIMIT, invalid_query, strict_query

router = common_router()


def _view(ctx: ApiContext, group: ServerGroup, live: set[str]) -> dict[str, Any]:
    view: dict[str, Any] = {"id": group.uuid, "name": group.name}
    if ctx.at_least(mv.GROUP_POLICY):
        view["policy"] = group.policy
        view["rules"] = {}
    else:
        view["policies"] = [group.policy]
        view["metadata"] = {}
    view["members"] = sorted(m.instance_uuid for m in group.members if m.instance_uuid in live)
    if ctx.at_least(mv.SERVER_GROUP_OWNER):
        view["project_id"] = group.project_id
        view["user_id"] = group.user_id
    return view


def _live_members(session: Session, groups: list[ServerGroup]) -> set[str]:
    """The members that are servers not deleted (Nova shows no others)."""
    uuids = [m.instance_uuid for g in groups for m in g.members]
    if not uuids:
        return set()
    return set(
        session.scalars(
            select(Instance.uuid).where(Instance.uuid.in_(uuids), Instance.deleted.is_(False))
        )
    )


def _get(session: Session, ctx: ApiContext, group_id: str, action: str) -> ServerGroup:
    group = session.scalar(
        select(ServerGroup)
        .where(ServerGroup.uuid == group_id, ServerGroup.deleted.is_(False))
        .options(selectinload(ServerGroup.members))
    )
    if group is None:
        raise ApiError(404, f"Instance group {group_id} could not be found.")
    if not ctx.is_admin and group.project_id != ctx.caller.project_id:
        raise ApiError(
            403, f"Policy doesn't allow os_compute_api:os-server-groups:{action} to be performed."
        )
    return group


@router.post("/v2.1/os-server-groups")
def create_group(ctx: Ctx, session: DbSession, body: Any = JSON_BODY) -> dict[str, Any]:
    group = validated(create_schema(ctx.version), body).server_group
    policy = group.policy if isinstance(group, ServerGroupV264) else group.policies
    if isinstance(group, ServerGroupV264) and (group.rules.max_server_per_host or 0) > 1:
        raise ApiError(
            409,
            "Creating an anti-affinity group with rule max_server_per_host > 1 is "
            "not yet supported.",
        )
    project = ctx.caller.project_id
    count = session.scalar(
        select(func.count())
        .select_from(ServerGroup)
        .where(ServerGroup.project_id == project, ServerGroup.deleted.is_(False))
    )
    allowed = limit_of(session, project, "server_groups")
    if over(allowed, int(count or 0) + 1):
        raise ApiError(
            403,
            f"Quota exceeded, too many server groups: project {project} has "
            f"{count} of at most {allowed}. Delete one first.",
        )
    created = ServerGroup(
        uuid=str(uuid.uuid4()),
        name=group.name,
        project_id=project,
        user_id=ctx.caller.user_id,
        policy=policy,
    )
    session.add(created)
    session.flush()
    return {"server_group": _view(ctx, created, set())}


def _window(params: QueryParams) -> tuple[int, int]:
    """Nova's offset and limit (at most 1000) over the groups."""
    window = {}
    for name in ("limit", "offset"):
        raw = params.get(name)
        if raw is not None:
            if not raw.isdigit():
                raise invalid_query(name, raw, f"'{raw}' does not match '^[0-9]*$'")
            window[name] = int(raw)
    return window.get("offset", 0), min(window.get("limit") or MAX_LIMIT, MAX_LIMIT)


@router.get("/v2.1/os-server-groups")
def list_groups(ctx: Ctx, session: DbSession, request: Request) -> dict[str, Any]:
    params = request.query_params
    if ctx.at_least(mv.STRICT_QUERY):
        strict_query(params, {"all_projects", "limit", "offset"})
    query = (
        select(ServerGroup)
        .where(ServerGroup.deleted.is_(False))
        .options(selectinload(ServerGroup.members))
        .order_by(ServerGroup.created_at, ServerGroup.uuid)
    )
    if not ("all_projects" in params and ctx.is_admin):
        query = query.where(ServerGroup.project_id == ctx.caller.project_id)
    groups = list(session.scalars(query))
    offset, limit = _window(params)
    groups = groups[offset : offset + limit]
    live = _live_members(session, groups)
    return {"server_groups": [_view(ctx, g, live) for g in groups]}


@router.get("/v2.1/os-server-groups/{group_id}")
def show_group(group_id: str, ctx: Ctx, session: DbSession) -> dict[str, Any]:
    group = _get(session, ctx, group_id, "show")
    return {"server_group": _view(ctx, group, _live_members(session, [group]))}


@router.delete("/v2.1/os-server-groups/{group_id}", status_code=204)
def delete_group(group_id: str, ctx: Ctx, session: DbSession) -> Response:
    group = _get(session, ctx, group_id, "delete")
    group.deleted = True
    return Response(status_code=204)
