"""``GET /os-leftovers``: what undo steps could not remove (bootflow's own; Nova has no such
list; a server's show is Nova's document only). ``?instance_uuid=`` lists one server's."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models.compute import Leftover
from services.common.app import router as common_router
from services.common.db import DbSession
from services.compute import views
from services.compute.context import Ctx

router = common_router()


def unresolved(
    session: Session, instance_uuids: list[str] | None, project_id: str | None
) -> list[Leftover]:
    """The leftovers not yet resolved, oldest first, of these servers or this project."""
    query = select(Leftover).where(Leftover.resolved_at.is_(None)).order_by(Leftover.created_at)
    if instance_uuids is not None:
        query = query.where(Leftover.instance_uuid.in_(instance_uuids))
    if project_id is not None:
        query = query.where(Leftover.project_id == project_id)
    return list(session.scalars(query))


@router.get("/v2.1/os-leftovers")
def list_leftovers(
    ctx: Ctx, session: DbSession, instance_uuid: Annotated[str | None, Query(max_length=36)] = None
) -> dict[str, Any]:
    """The caller's project's (an admin's: every project's), or one server's of those."""
    project = None if ctx.is_admin else ctx.caller.project_id
    servers = None if instance_uuid is None else [instance_uuid]
    return {"leftovers": [views.leftover_view(x) for x in unresolved(session, servers, project)]}
