"""``/v3/users``: list and create (admin), show and list projects (admin or the user)."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from db.models.identity import Project, User
from services.common.app import ApiError
from services.common.app import router as common_router
from services.common.auth import Admin, AuthContext, Token
from services.common.db import DbSession, flush_unique
from services.identity.accounts import Keystone
from services.identity.effective import projects_of
from services.identity.errors import not_found
from services.identity.listing import by_name
from services.identity.lookup import require_domain
from services.identity.schemas import NewUserRequest
from services.identity.views import listed, project_view, user_view

router = common_router(prefix="/v3/users")


router.get("", name="list_users")(by_name(User, user_view, "users"))


@router.post("", status_code=201)
def create_user(
    body: NewUserRequest, _admin: Admin, session: DbSession, request: Request, identity: Keystone
) -> dict[str, Any]:
    new = body.user
    require_domain(session, new.domain_id)
    if new.default_project_id and session.get(Project, new.default_project_id) is None:
        raise ApiError(400, f"Project {new.default_project_id} does not exist.")
    user = User(
        name=new.name,
        domain_id=new.domain_id,
        password_hash=identity.hasher.hash(new.password),
        enabled=new.enabled,
        default_project_id=new.default_project_id,
    )
    session.add(user)
    flush_unique(session, f"A user named {new.name!r} already exists.")
    return {"user": user_view(request, user)}


def _require_self(caller: AuthContext, user_id: str) -> None:
    """Only admins and the user themself see a user; to others it does not exist."""
    if not caller.is_admin and caller.user_id != user_id:
        raise not_found("user", user_id)


@router.get("/{user_id}")
def show_user(user_id: str, caller: Token, session: DbSession, request: Request) -> dict[str, Any]:
    user = session.get(User, user_id)
    if user is None:
        raise not_found("user", user_id)
    _require_self(caller, user_id)
    return {"user": user_view(request, user)}


@router.get("/{user_id}/projects")
def user_projects(
    user_id: str, caller: Token, session: DbSession, request: Request
) -> dict[str, Any]:
    _require_self(caller, user_id)
    items = [project_view(request, p) for p in projects_of(session, user_id)]
    return listed(request, "projects", items, f"users/{user_id}/projects", paged=False)
