"""``/v3/groups``: groups of users (admin), their members, and a user's groups.

A role granted to a group on a project or domain is every member's (``effective.py``)."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models.identity import DEFAULT_DOMAIN_ID, Group, GroupMember, User
from services.common.app import ApiError
from services.common.app import router as common_router
from services.common.auth import Admin, Token
from services.common.db import DbSession, flush_unique
from services.identity.deletion import delete_with_assignments
from services.identity.errors import duplicate, not_found
from services.identity.listing import by_name
from services.identity.lookup import get_or_404, require_domain
from services.identity.schemas import NAME_PATTERN
from services.identity.views import group_view, listed, user_view

router = common_router(prefix="/v3")


class NewGroup(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=NAME_PATTERN)
    description: str | None = None
    domain_id: str = Field(DEFAULT_DOMAIN_ID, min_length=1, max_length=64)


class NewGroupRequest(BaseModel):
    group: NewGroup


class GroupUpdate(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=64, pattern=NAME_PATTERN)
    description: str | None = None


class GroupUpdateRequest(BaseModel):
    group: GroupUpdate


@router.post("/groups", status_code=201)
def create_group(
    body: NewGroupRequest, _admin: Admin, session: DbSession, request: Request
) -> dict[str, Any]:
    new = body.group
    require_domain(session, new.domain_id)
    group = Group(name=new.name, description=new.description or "", domain_id=new.domain_id)
    session.add(group)
    flush_unique(session, duplicate("group", new.name))
    return {"group": group_view(request, group)}


router.get("/groups", name="list_groups")(by_name(Group, group_view, "groups"))


@router.get("/groups/{group_id}")
def show_group(
    group_id: str, _admin: Admin, session: DbSession, request: Request
) -> dict[str, Any]:
    return {"group": group_view(request, get_or_404(session, Group, group_id))}


@router.patch("/groups/{group_id}")
def update_group(
    group_id: str, body: GroupUpdateRequest, _admin: Admin, session: DbSession, request: Request
) -> dict[str, Any]:
    group = get_or_404(session, Group, group_id)
    change = body.group
    if "name" in change.model_fields_set and change.name is None:
        raise ApiError(400, "Invalid input for field 'group': name may not be null.")
    if change.name is not None:
        group.name = change.name
    if "description" in change.model_fields_set:
        group.description = change.description or ""
    flush_unique(session, duplicate("group", group.name))
    return {"group": group_view(request, group)}


@router.delete("/groups/{group_id}", status_code=204)
def delete_group(group_id: str, _admin: Admin, session: DbSession) -> Response:
    return delete_with_assignments(session, Group, group_id, "group")


@router.get("/groups/{group_id}/users")
def list_group_users(
    group_id: str, _admin: Admin, session: DbSession, request: Request
) -> dict[str, Any]:
    get_or_404(session, Group, group_id)
    users = session.scalars(
        select(User)
        .join(GroupMember, GroupMember.user_id == User.id)
        .where(GroupMember.group_id == group_id)
        .order_by(User.name)
    )
    items = [user_view(request, u) for u in users]
    return listed(request, "users", items, f"groups/{group_id}/users")


def _membership(session: Session, group_id: str, user_id: str) -> GroupMember | None:
    get_or_404(session, Group, group_id)
    get_or_404(session, User, user_id)
    return session.get(GroupMember, (group_id, user_id))


def _not_member(group_id: str, user_id: str) -> ApiError:
    return ApiError(404, f"User '{user_id}' not found in group '{group_id}'.")


@router.put("/groups/{group_id}/users/{user_id}", status_code=204)
def add_group_user(group_id: str, user_id: str, _admin: Admin, session: DbSession) -> Response:
    if _membership(session, group_id, user_id) is None:
        session.add(GroupMember(group_id=group_id, user_id=user_id))
    return Response(status_code=204)


@router.head("/groups/{group_id}/users/{user_id}", status_code=204)
def check_group_user(group_id: str, user_id: str, _admin: Admin, session: DbSession) -> Response:
    if _membership(session, group_id, user_id) is None:
        raise _not_member(group_id, user_id)
    return Response(status_code=204)


@router.delete("/groups/{group_id}/users/{user_id}", status_code=204)
def remove_group_user(group_id: str, user_id: str, _admin: Admin, session: DbSession) -> Response:
    member = _membership(session, group_id, user_id)
    if member is None:
        raise _not_member(group_id, user_id)
    session.delete(member)
    return Response(status_code=204)


@router.get("/users/{user_id}/groups")
def list_user_groups(
    user_id: str, caller: Token, session: DbSession, request: Request
) -> dict[str, Any]:
    """A user's groups: for admins and the user themself (to others the user does not
    exist, as ``GET /v3/users/{id}`` answers them)."""
    if not caller.is_admin and caller.user_id != user_id:
        raise not_found("user", user_id)
    get_or_404(session, User, user_id)
    groups = session.scalars(
        select(Group)
        .join(GroupMember, GroupMember.group_id == Group.id)
        .where(GroupMember.user_id == user_id)
        .order_by(Group.name)
    )
    items = [group_view(request, g) for g in groups]
    return listed(request, "groups", items, f"users/{user_id}/groups")
