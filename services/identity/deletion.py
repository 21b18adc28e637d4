"""Deleting users and projects (admin), as Keystone does: their role assignments go with
them, their tokens stop validating, and whatever other services hold for a deleted project
(servers, ports, volumes) is left in place, orphaned, for the operator to clean up."""

from __future__ import annotations

from typing import TypeVar

from fastapi import Response
from sqlalchemy import delete
from sqlalchemy.orm import Session

from db.models.identity import Project, Role, RoleAssignment, User
from services.common.app import router as common_router
from services.common.auth import Admin
from services.common.db import DbSession
from services.identity.errors import not_found

router = common_router(prefix="/v3")
_Assigned = TypeVar("_Assigned", User, Project, Role)


def delete_with_assignments(
    session: Session, entity: type[_Assigned], key: str, what: str
) -> Response:
    """Delete ``entity`` ``key`` and every role assignment naming it; 404 if unknown."""
    row = session.get(entity, key)
    if row is None:
        raise not_found(what, key)
    column = {User: RoleAssignment.user_id, Project: RoleAssignment.project_id}.get(
        entity, RoleAssignment.role_id
    )
    session.execute(delete(RoleAssignment).where(column == key))
    session.delete(row)
    return Response(status_code=204)


@router.delete("/users/{user_id}", status_code=204)
def delete_user(user_id: str, _admin: Admin, session: DbSession) -> Response:
    return delete_with_assignments(session, User, user_id, "user")


@router.delete("/projects/{project_id}", status_code=204)
def delete_project(project_id: str, _admin: Admin, session: DbSession) -> Response:
    return delete_with_assignments(session, Project, project_id, "project")
