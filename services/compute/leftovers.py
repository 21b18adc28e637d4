"""``GET /os-leftovers``: what undo steps could not remove (bootflow's own; Nova has no such
list). A server's own leftovers are also shown with it."""

from __future__ import annotations

from typing import Any

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
def list_leftovers(ctx: Ctx, session: DbSession) -> dict[str, Any]:
    project = None if ctx.is_admin else ctx.caller.project_id
    return {"leftovers": [views.leftover_view(x) for x in unresolved(session, None, project)]}
