"""Roles: list them, assign one to a user on a project (admin), list assignments (admin)."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from sqlalchemy import select

from db.models.identity import Project, Role, RoleAssignment, User
from services.common.app import router as common_router
from services.common.auth import Admin, Token
from services.common.db import DbSession
from services.identity.errors import not_found
from services.identity.listing import named
from services.identity.views import base_url

router = common_router(prefix="/v3")


@router.get("/roles")
def list_roles(
    _caller: Token, session: DbSession, request: Request, name: str | None = None
) -> dict[str, Any]:
    return {
        "roles": [
            {
                "id": r.id,
                "name": r.name,
                "domain_id": None,
                "links": {"self": f"{base_url(request)}/v3/roles/{r.id}"},
            }
            for r in session.scalars(named(Role, name))
        ]
    }


@router.put("/projects/{project_id}/users/{user_id}/roles/{role_id}", status_code=204)
def assign_role(
    project_id: str, user_id: str, role_id: str, _admin: Admin, session: DbSession
) -> Response:
    for model, key, what in (
        (Project, project_id, "project"),
        (User, user_id, "user"),
        (Role, role_id, "role"),
    ):
        if session.get(model, key) is None:
            raise not_found(what, key)
    if session.get(RoleAssignment, (user_id, project_id, role_id)) is None:
        session.add(RoleAssignment(user_id=user_id, project_id=project_id, role_id=role_id))
    return Response(status_code=204)


@router.get("/role_assignments")
def list_assignments(_admin: Admin, session: DbSession) -> dict[str, Any]:
    return {
        "role_assignments": [
            {
                "role": {"id": a.role_id},
                "user": {"id": a.user_id},
                "scope": {"project": {"id": a.project_id}},
            }
            for a in session.scalars(select(RoleAssignment))
        ]
    }
