"""``os-instance-actions``: what was done to a server (create, delete), with its events.

From 2.21 a deleted server's actions stay visible; from 2.58 they page and filter by
time; events are for admins before 2.51 and for every reader after."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from starlette.datastructures import QueryParams

from db.models.compute import Instance, InstanceAction
from services.common.app import ApiError
from services.common.app import router as common_router
from services.common.db import DbSession
from services.compute import microversions as mv
from services.compute import views
from services.compute.context import ApiContext, Ctx
from services.compute.listing import parse_time
from services.compute.server_api import visible_instance
from services.compute.validation import limit_and_marker, page_after

router = common_router()


def _instance(session: Session, server_id: str, ctx: ApiContext) -> Instance:
    return visible_instance(session, server_id, ctx, deleted=ctx.at_least(mv.ACTIONS_OF_DELETED))


def _changed(
    ctx: ApiContext, params: QueryParams, found: list[InstanceAction]
) -> list[InstanceAction]:
    """The actions last changed within changes-since / changes-before."""
    if "changes-since" in params:
        since = parse_time("changes-since", params["changes-since"])
        found = [a for a in found if (a.finish_time or a.start_time) >= since]
    if "changes-before" in params and ctx.at_least(mv.CHANGES_BEFORE):
        before = parse_time("changes-before", params["changes-before"])
        found = [a for a in found if (a.finish_time or a.start_time) <= before]
    return found


def _page(
    ctx: ApiContext, server_id: str, params: QueryParams, found: list[InstanceAction]
) -> tuple[list[InstanceAction], dict[str, Any]]:
    """One page after the marker, and the next link when the page is full."""
    limit, marker = limit_and_marker(params)
    found = _changed(ctx, params, found)
    ids = [a.request_id for a in found]
    page, full = page_after(found, ids, marker, limit, f"Marker {marker} could not be found.")
    if not full:
        return page, {}
    collection = f"servers/{server_id}/os-instance-actions"
    link = views.next_link(ctx, collection, params.multi_items(), page[-1].request_id)
    return page, {"links": link}


@router.get("/v2.1/servers/{server_id}/os-instance-actions")
def list_actions(server_id: str, ctx: Ctx, session: DbSession, request: Request) -> dict[str, Any]:
    _instance(session, server_id, ctx)
    query = (
        select(InstanceAction)
        .where(InstanceAction.instance_uuid == server_id)
        .order_by(InstanceAction.start_time.desc(), InstanceAction.id.desc())
    )
    found = list(session.scalars(query))
    links: dict[str, Any] = {}
    if ctx.at_least(mv.ACTIONS_PAGING):
        found, links = _page(ctx, server_id, request.query_params, found)
    return {"instanceActions": [views.action_view(ctx, a) for a in found], **links}


@router.get("/v2.1/servers/{server_id}/os-instance-actions/{request_id}")
def show_action(server_id: str, request_id: str, ctx: Ctx, session: DbSession) -> dict[str, Any]:
    instance = _instance(session, server_id, ctx)
    action = session.scalar(
        select(InstanceAction)
        .where(InstanceAction.instance_uuid == server_id, InstanceAction.request_id == request_id)
        .options(selectinload(InstanceAction.events))
    )
    if action is None:
        raise ApiError(404, f"Action {request_id} not found")
    view = views.action_view(ctx, action)
    # Before 2.51 events were for admins only; from 2.51 every reader sees them.
    if ctx.is_admin or ctx.at_least(mv.EVENTS_FOR_OWNER):
        project = action.project_id or instance.project_id
        view["events"] = [views.event_view(ctx, e, project) for e in action.events]
    return {"instanceAction": view}
