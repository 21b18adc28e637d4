"""Roles an admin manages: create, show, delete a role."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from pydantic import BaseModel, Field

from db.models.identity import Role
from services.common.app import router as common_router
from services.common.auth import Admin, Token
from services.common.db import DbSession, flush_unique
from services.identity.deletion import delete_with_assignments
from services.identity.errors import not_found
from services.identity.views import base_url

router = common_router(prefix="/v3")


class NewRole(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    domain_id: str | None = None


class NewRoleRequest(BaseModel):
    role: NewRole


def role_view(request: Request, role: Role) -> dict[str, Any]:
    return {
        "id": role.id,
        "name": role.name,
        "domain_id": None,
        "links": {"self": f"{base_url(request)}/v3/roles/{role.id}"},
    }


@router.post("/roles", status_code=201)
def create_role(
    body: NewRoleRequest, _admin: Admin, session: DbSession, request: Request
) -> dict[str, Any]:
    role = Role(name=body.role.name)
    session.add(role)
    flush_unique(session, f"Duplicate entry found with name {body.role.name}.")
    return {"role": role_view(request, role)}


@router.get("/roles/{role_id}")
def show_role(role_id: str, _caller: Token, session: DbSession, request: Request) -> dict[str, Any]:
    role = session.get(Role, role_id)
    if role is None:
        raise not_found("role", role_id)
    return {"role": role_view(request, role)}


@router.delete("/roles/{role_id}", status_code=204)
def delete_role(role_id: str, _admin: Admin, session: DbSession) -> Response:
    return delete_with_assignments(session, Role, role_id, "role")
