"""``GET /v3/role_assignments`` (admin), as Keystone lists them: every grant, filtered by
``user.id``, ``group.id``, ``role.id``, ``scope.project.id``, ``scope.domain.id``; with
``effective`` a group's grants are listed as each member's, naming the membership."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models.identity import Grant, GrantType, GroupMember, RoleAssignment
from services.common.app import ApiError
from services.common.app import router as common_router
from services.common.auth import Admin
from services.common.db import DbSession
from services.identity.schemas import boolean_word
from services.identity.views import base_url, listed

router = common_router(prefix="/v3")
# (actor, scope) of each kind kept in ``grants``.
_SHAPES = {
    GrantType.USER_DOMAIN: ("user", "domain"),
    GrantType.GROUP_DOMAIN: ("group", "domain"),
    GrantType.GROUP_PROJECT: ("group", "project"),
}


@dataclass(frozen=True)
class Filters:
    user: str | None
    group: str | None
    role: str | None
    project: str | None
    domain: str | None
    effective: bool


@dataclass(frozen=True)
class Assignment:
    actor: str
    actor_id: str
    scope: str
    target_id: str
    role_id: str
    # With ``effective``: the group a user holds the role through.
    group_id: str = ""

    def view(self, base: str) -> dict[str, Any]:
        owner = ("group", self.group_id) if self.group_id else (self.actor, self.actor_id)
        links = {
            "assignment": f"{base}/v3/{self.scope}s/{self.target_id}/{owner[0]}s/{owner[1]}"
            f"/roles/{self.role_id}"
        }
        if self.group_id:
            links["membership"] = f"{base}/v3/groups/{self.group_id}/users/{self.actor_id}"
        return {
            "role": {"id": self.role_id},
            self.actor: {"id": self.actor_id},
            "scope": {self.scope: {"id": self.target_id}},
            "links": links,
        }


def _wanted(f: Filters, actor: str, actor_id: str, scope: str, target_id: str) -> bool:
    checks = (
        (f.user, actor == "user" and actor_id == f.user),
        (f.group, actor == "group" and actor_id == f.group),
        (f.project, scope == "project" and target_id == f.project),
        (f.domain, scope == "domain" and target_id == f.domain),
    )
    return all(ok for given, ok in checks if given is not None)


def _direct(session: Session, f: Filters) -> list[Assignment]:
    """Every grant as it was made, the filters applied."""
    found = [
        Assignment("user", a.user_id, "project", a.project_id, a.role_id)
        for a in session.scalars(select(RoleAssignment))
    ]
    for g in session.scalars(select(Grant)):
        actor, scope = _SHAPES[GrantType(g.type)]
        found.append(Assignment(actor, g.actor_id, scope, g.target_id, g.role_id))
    return [
        a
        for a in found
        if (f.role is None or a.role_id == f.role)
        and _wanted(f, a.actor, a.actor_id, a.scope, a.target_id)
    ]


def _effective(session: Session, f: Filters) -> list[Assignment]:
    """Users' grants, and groups' as each member's."""
    unfiltered = Filters(None, None, f.role, f.project, f.domain, True)
    found = []
    for a in _direct(session, unfiltered):
        if a.actor == "user":
            found.append(a)
            continue
        members = select(GroupMember.user_id).where(GroupMember.group_id == a.actor_id)
        found += [
            Assignment("user", user_id, a.scope, a.target_id, a.role_id, a.actor_id)
            for user_id in session.scalars(members)
        ]
    return [a for a in found if f.user is None or a.actor_id == f.user]


@router.get("/role_assignments")
def list_role_assignments(
    _admin: Admin,
    session: DbSession,
    request: Request,
    user: Annotated[str | None, Query(alias="user.id")] = None,
    group: Annotated[str | None, Query(alias="group.id")] = None,
    role: Annotated[str | None, Query(alias="role.id")] = None,
    project: Annotated[str | None, Query(alias="scope.project.id")] = None,
    domain: Annotated[str | None, Query(alias="scope.domain.id")] = None,
    effective: str | None = None,
) -> dict[str, Any]:
    filters = Filters(user, group, role, project, domain, effective is not None)
    if filters.effective and not boolean_word(effective or ""):
        filters = Filters(user, group, role, project, domain, False)
    if filters.effective and group is not None:
        raise ApiError(
            400, "Combining effective and group filter will always result in an empty list."
        )
    if project is not None and domain is not None:
        raise ApiError(400, "Specify a domain or project, not both.")
    rows = _effective(session, filters) if filters.effective else _direct(session, filters)
    base = base_url(request)
    items = [a.view(base) for a in rows]
    return listed(request, "role_assignments", items, "role_assignments")
