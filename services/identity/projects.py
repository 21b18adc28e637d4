"""``/v3/projects``: list and create (admin), show (admin or a member's own project)."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from db.models.identity import Project
from services.common.app import router as common_router
from services.common.auth import Admin, Token
from services.common.db import DbSession, flush_unique
from services.identity.errors import not_found
from services.identity.listing import by_name
from services.identity.lookup import require_domain
from services.identity.schemas import NewProjectRequest
from services.identity.views import project_view

router = common_router(prefix="/v3/projects")


router.get("", name="list_projects")(by_name(Project, project_view, "projects"))


@router.post("", status_code=201)
def create_project(
    body: NewProjectRequest, _admin: Admin, session: DbSession, request: Request
) -> dict[str, Any]:
    new = body.project
    require_domain(session, new.domain_id)
    project = Project(
        name=new.name,
        description=new.description,
        enabled=new.enabled,
        domain_id=new.domain_id,
    )
    session.add(project)
    flush_unique(session, f"A project named {new.name!r} already exists.")
    return {"project": project_view(request, project)}


@router.get("/{project_id}")
def show_project(
    project_id: str, caller: Token, session: DbSession, request: Request
) -> dict[str, Any]:
    project = session.get(Project, project_id)
    if project is None or (not caller.is_admin and caller.project_id != project_id):
        raise not_found("project", project_id)
    return {"project": project_view(request, project)}
