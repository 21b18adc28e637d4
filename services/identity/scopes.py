"""``/v3/auth/projects`` and ``/v3/auth/domains``: what the caller's token may be scoped to,
by roles granted to the caller or to a group the caller is in."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from services.common.app import router as common_router
from services.common.auth import Token
from services.common.db import DbSession
from services.identity.effective import domains_of, projects_of
from services.identity.views import domain_view, listed, project_view

router = common_router(prefix="/v3/auth")


@router.get("/projects")
def auth_projects(caller: Token, session: DbSession, request: Request) -> dict[str, Any]:
    """The enabled projects where the caller holds any role."""
    items = [
        project_view(request, p) for p in projects_of(session, caller.user_id, enabled_only=True)
    ]
    return listed(request, "projects", items, "auth/projects")


@router.get("/domains")
def auth_domains(caller: Token, session: DbSession, request: Request) -> dict[str, Any]:
    """The enabled domains where the caller holds any role."""
    items = [domain_view(request, d) for d in domains_of(session, caller.user_id)]
    return listed(request, "domains", items, "auth/domains")
