"""``/v3/auth/projects`` and ``/v3/auth/domains``: what the caller's token may be scoped to."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy import select

from db.models.identity import Project, RoleAssignment
from services.common.app import router as common_router
from services.common.auth import Token
from services.common.db import DbSession
from services.identity.views import listed, project_view

router = common_router(prefix="/v3/auth")


@router.get("/projects")
def auth_projects(caller: Token, session: DbSession, request: Request) -> dict[str, Any]:
    """The enabled projects where the caller holds any role."""
    projects = session.scalars(
        select(Project)
        .join(RoleAssignment, RoleAssignment.project_id == Project.id)
        .where(RoleAssignment.user_id == caller.user_id, Project.enabled.is_(True))
        .distinct()
        .order_by(Project.name)
    )
    items = [project_view(request, p) for p in projects]
    return listed(request, "projects", items, "auth/projects")


@router.get("/domains")
def auth_domains(_caller: Token, request: Request) -> dict[str, Any]:
    # Roles are granted on projects only, so no user holds a role on a domain.
    return listed(request, "domains", [], "auth/domains")
