"""``os-server-groups``: create, list, show and delete Nova's server groups.

The scheduler reads a boot's ``group`` hint and records the membership when it places the
server; this API keeps the groups. A deleted group is marked deleted (its rows stay for the
audit trail) and no longer accepted in a hint. From 2.64 a group has one ``policy`` and
``rules``; before, a one-item ``policies`` list and empty ``metadata``.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

from fastapi import APIRouter, Body, Request, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from db.models.compute import Instance, ServerGroup
from services.common.app import ApiError
from services.common.app import router as common_router
from services.common.db import DbSession
from services.compute import microversions as mv
from services.compute.context import ApiContext, Ctx
from services.compute.limits import SERVER_GROUPS_QUOTA
from services.compute.validation import (
    invalid,
    invalid_query,
    no_extra,
    positive_integer,
    require_object,
    strict_query,
    string,
)

_POLICIES: Final = ("anti-affinity", "affinity")
_SOFT_POLICIES: Final = ("soft-anti-affinity", "soft-affinity")


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


def _policy_of(ctx: ApiContext, group: dict[str, Any]) -> str:
    allowed = _POLICIES + (_SOFT_POLICIES if ctx.at_least(mv.SOFT_AFFINITY) else ())
    if ctx.at_least(mv.GROUP_POLICY):
        no_extra("server_group", group, {"name", "policy", "rules"})
        if "policy" not in group:
            raise invalid("server_group", group, "'policy' is a required property")
        policy = group["policy"]
        if policy not in allowed:
            raise invalid("policy", policy, f"{policy!r} is not one of {list(allowed)}")
        rules = group.get("rules", {})
        if not isinstance(rules, dict):
            raise invalid("rules", rules, f"{rules!r} is not of type 'object'")
        no_extra("rules", rules, {"max_server_per_host"})
        if rules and policy != "anti-affinity":
            raise ApiError(400, "Only anti-affinity policy supports rules.")
        per_host = rules.get("max_server_per_host")
        if per_host is not None and positive_integer("max_server_per_host", per_host) > 1:
            raise ApiError(
                409,
                "Creating an anti-affinity group with rule max_server_per_host > 1 is "
                "not yet supported.",
            )
        return str(policy)
    no_extra("server_group", group, {"name", "policies"})
    if "policies" not in group:
        raise invalid("server_group", group, "'policies' is a required property")
    policies = group["policies"]
    if not isinstance(policies, list) or len(policies) != 1 or policies[0] not in allowed:
        raise invalid(
            "policies", policies, f"{policies!r} is not a one-item list of one of {list(allowed)}"
        )
    return str(policies[0])


def router() -> APIRouter:
    r = common_router()

    @r.post("/v2.1/os-server-groups")
    def create_group(
        ctx: Ctx,
        session: DbSession,
        body: Any = Body(None),  # noqa: B008
    ) -> dict[str, Any]:
        group = require_object(body, "server_group")
        if "name" not in group:
            raise invalid("server_group", group, "'name' is a required property")
        name = string("name", group["name"], min_length=1)
        assert name is not None
        if name != name.strip():
            raise invalid("name", name, "The name must not start or end with whitespace.")
        policy = _policy_of(ctx, group)
        project = ctx.caller.project_id
        count = session.scalar(
            select(func.count())
            .select_from(ServerGroup)
            .where(ServerGroup.project_id == project, ServerGroup.deleted.is_(False))
        )
        if int(count or 0) >= SERVER_GROUPS_QUOTA:
            raise ApiError(
                403,
                f"Quota exceeded, too many server groups: project {project} has "
                f"{count} of at most {SERVER_GROUPS_QUOTA}. Delete one first.",
            )
        created = ServerGroup(
            uuid=str(uuid.uuid4()),
            name=name,
            project_id=project,
            user_id=ctx.caller.user_id,
            policy=policy,
        )
        session.add(created)
        session.flush()
        return {"server_group": _view(ctx, created, set())}

    @r.get("/v2.1/os-server-groups")
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
        window = {}
        for name in ("limit", "offset"):
            raw = params.get(name)
            if raw is not None:
                if not raw.isdigit():
                    raise invalid_query(name, raw, f"'{raw}' does not match '^[0-9]*$'")
                window[name] = int(raw)
        offset = window.get("offset", 0)
        limit = min(window.get("limit") or 1000, 1000)
        groups = groups[offset : offset + limit]
        live = _live_members(session, groups)
        return {"server_groups": [_view(ctx, g, live) for g in groups]}

    @r.get("/v2.1/os-server-groups/{group_id}")
    def show_group(group_id: str, ctx: Ctx, session: DbSession) -> dict[str, Any]:
        group = _get(session, ctx, group_id, "show")
        return {"server_group": _view(ctx, group, _live_members(session, [group]))}

    @r.delete("/v2.1/os-server-groups/{group_id}", status_code=204)
    def delete_group(group_id: str, ctx: Ctx, session: DbSession) -> Response:
        group = _get(session, ctx, group_id, "delete")
        group.deleted = True
        return Response(status_code=204)

    return r
