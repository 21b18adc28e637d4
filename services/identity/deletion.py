"""Deleting users, groups and projects (admin), as Keystone does: their grants and group
memberships go with them, their tokens stop validating, and whatever other services hold
for a deleted project (servers, ports, volumes) is left in place, orphaned, for the
operator to clean up."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TypeVar

from fastapi import Response
from sqlalchemy.orm import Session

from db.base import Base
from db.models.identity import Group, Project, Role, User
from services.common.app import router as common_router
from services.common.auth import Admin
from services.common.db import DbSession
from services.identity.cascade import forget_groups, forget_projects, forget_roles, forget_users
from services.identity.errors import not_found

router = common_router(prefix="/v3")
_Assigned = TypeVar("_Assigned", User, Project, Role, Group)
_FORGET: dict[type[Base], Callable[[Session, Collection[str]], None]] = {
    User: forget_users,
    Project: forget_projects,
    Role: forget_roles,
    Group: forget_groups,
}


def delete_with_assignments(
    session: Session, entity: type[_Assigned], key: str, what: str
) -> Response:
    """Delete ``entity`` ``key`` and every grant naming it; 404 if unknown."""
    row = session.get(entity, key)
    if row is None:
        raise not_found(what, key)
    _FORGET[entity](session, [key])
    session.delete(row)
    return Response(status_code=204)


@router.delete("/users/{user_id}", status_code=204)
def delete_user(user_id: str, _admin: Admin, session: DbSession) -> Response:
    return delete_with_assignments(session, User, user_id, "user")


@router.delete("/projects/{project_id}", status_code=204)
def delete_project(project_id: str, _admin: Admin, session: DbSession) -> Response:
    return delete_with_assignments(session, Project, project_id, "project")
