"""Role grants (admin), as Keystone's: a role for a user or a group on a project or a
domain. ``PUT`` grants, ``HEAD`` checks, ``DELETE`` takes back one role; ``GET`` of the
``roles`` collection lists the actor's roles there (those granted to it, not through its
groups, as Keystone lists them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models.identity import (
    Domain,
    Grant,
    GrantType,
    Group,
    Project,
    Role,
    RoleAssignment,
    User,
)
from services.common.app import ApiError
from services.common.app import router as common_router
from services.common.auth import Admin
from services.common.db import DbSession
from services.identity.errors import not_found
from services.identity.role_admin import role_view
from services.identity.views import listed

router = common_router(prefix="/v3")


@dataclass(frozen=True)
class GrantKind:
    """One of Keystone's four assignment types; ``type`` None is a user's role on a project,
    kept in ``role_assignments``, the others in ``grants``."""

    target: type[Project] | type[Domain]
    actor: type[User] | type[Group]
    type: GrantType | None

    @property
    def path(self) -> str:
        """``/projects/{target_id}/users/{actor_id}/roles`` and the like."""
        target, actor = self.target.__tablename__, self.actor.__tablename__
        return f"/{target}/{{target_id}}/{actor}/{{actor_id}}/roles"

    def find(
        self, session: Session, target_id: str, actor_id: str, role_id: str
    ) -> Grant | RoleAssignment | None:
        if self.type is None:
            return session.get(RoleAssignment, (actor_id, target_id, role_id))
        return session.get(Grant, (self.type.value, actor_id, target_id, role_id))

    def new(self, target_id: str, actor_id: str, role_id: str) -> Grant | RoleAssignment:
        if self.type is None:
            return RoleAssignment(user_id=actor_id, project_id=target_id, role_id=role_id)
        return Grant(type=self.type.value, actor_id=actor_id, target_id=target_id, role_id=role_id)

    def roles(self, session: Session, target_id: str, actor_id: str) -> list[Role]:
        if self.type is None:
            ids = select(RoleAssignment.role_id).where(
                RoleAssignment.user_id == actor_id, RoleAssignment.project_id == target_id
            )
        else:
            ids = select(Grant.role_id).where(
                Grant.type == self.type.value,
                Grant.actor_id == actor_id,
                Grant.target_id == target_id,
            )
        return list(session.scalars(select(Role).where(Role.id.in_(ids)).order_by(Role.name)))

    def check(self, session: Session, target_id: str, actor_id: str) -> None:
        """404 unless the target and the actor exist."""
        for model, key in ((self.target, target_id), (self.actor, actor_id)):
            if session.get(model, key) is None:
                raise not_found(model.__tablename__.rstrip("s"), key)


KINDS = (
    GrantKind(Project, User, None),
    GrantKind(Project, Group, GrantType.GROUP_PROJECT),
    GrantKind(Domain, User, GrantType.USER_DOMAIN),
    GrantKind(Domain, Group, GrantType.GROUP_DOMAIN),
)


def _missing(role_id: str, actor_id: str, target_id: str) -> ApiError:
    return ApiError(
        404,
        f"Could not find role assignment with role: {role_id}, user or group: {actor_id}, "
        f"project, domain, or system: {target_id}.",
    )


def _routes(kind: GrantKind) -> None:
    """The four routes of ``kind``'s grants."""
    one = kind.path + "/{role_id}"

    def existing(session: Session, target_id: str, actor_id: str, role_id: str) -> Any:
        kind.check(session, target_id, actor_id)
        if session.get(Role, role_id) is None:
            raise not_found("role", role_id)
        return kind.find(session, target_id, actor_id, role_id)

    @router.put(one, status_code=204)
    def grant(
        target_id: str, actor_id: str, role_id: str, _admin: Admin, session: DbSession
    ) -> Response:
        if existing(session, target_id, actor_id, role_id) is None:
            session.add(kind.new(target_id, actor_id, role_id))
        return Response(status_code=204)

    @router.head(one, status_code=204)
    def check(
        target_id: str, actor_id: str, role_id: str, _admin: Admin, session: DbSession
    ) -> Response:
        if existing(session, target_id, actor_id, role_id) is None:
            raise _missing(role_id, actor_id, target_id)
        return Response(status_code=204)

    @router.delete(one, status_code=204)
    def revoke(
        target_id: str, actor_id: str, role_id: str, _admin: Admin, session: DbSession
    ) -> Response:
        row = existing(session, target_id, actor_id, role_id)
        if row is None:
            raise _missing(role_id, actor_id, target_id)
        session.delete(row)
        return Response(status_code=204)

    @router.get(kind.path)
    def roles(
        target_id: str, actor_id: str, _admin: Admin, session: DbSession, request: Request
    ) -> dict[str, Any]:
        kind.check(session, target_id, actor_id)
        items = [role_view(request, r) for r in kind.roles(session, target_id, actor_id)]
        path = kind.path.format(target_id=target_id, actor_id=actor_id).lstrip("/")
        return listed(request, "roles", items, path)


for _kind in KINDS:
    _routes(_kind)
