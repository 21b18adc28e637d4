"""A user's effective roles, as Keystone computes them: granted to the user directly or to
a group the user is a member of, on a project or on a domain."""

from __future__ import annotations

from sqlalchemy import CompoundSelect, Select, bindparam, or_, select, union
from sqlalchemy.orm import Session

from db.models.identity import (
    Domain,
    Grant,
    GrantType,
    GroupMember,
    Project,
    Role,
    RoleAssignment,
)


def _groups_of(user_id: str) -> Select[str]:
    return select(GroupMember.group_id).where(GroupMember.user_id == user_id)


def _through_groups(user_id: str, kind: GrantType) -> Select[str, str]:
    """(target, role) of every ``kind`` grant to a group ``user_id`` is in."""
    return select(Grant.target_id, Grant.role_id).where(
        Grant.type == kind, Grant.actor_id.in_(_groups_of(user_id))
    )


def project_grants(user_id: str) -> CompoundSelect[str, str]:
    """(project id, role id) of each role ``user_id`` has on a project, either way."""
    direct = select(RoleAssignment.project_id, RoleAssignment.role_id).where(
        RoleAssignment.user_id == user_id
    )
    return union(direct, _through_groups(user_id, GrantType.GROUP_PROJECT))


def domain_grants(user_id: str) -> CompoundSelect[str, str]:
    """(domain id, role id) of each role ``user_id`` has on a domain, either way."""
    direct = select(Grant.target_id, Grant.role_id).where(
        Grant.type == GrantType.USER_DOMAIN, Grant.actor_id == user_id
    )
    return union(direct, _through_groups(user_id, GrantType.GROUP_DOMAIN))


def _roles_query(direct: Select[str], kind: GrantType) -> Select[Role]:
    """The roles a user (``:user_id``) has on ``:target_id``: ``direct``, or ``kind``
    grants to a group the user is in. Built once: validating a token runs it."""
    through = (
        select(Grant.role_id)
        .join(GroupMember, GroupMember.group_id == Grant.actor_id)
        .where(
            GroupMember.user_id == bindparam("user_id"),
            Grant.type == kind.value,
            Grant.target_id == bindparam("target_id"),
        )
    )
    return select(Role).where(or_(Role.id.in_(direct), Role.id.in_(through))).order_by(Role.name)


_PROJECT_ROLES = _roles_query(
    select(RoleAssignment.role_id).where(
        RoleAssignment.user_id == bindparam("user_id"),
        RoleAssignment.project_id == bindparam("target_id"),
    ),
    GrantType.GROUP_PROJECT,
)
_DOMAIN_ROLES = _roles_query(
    select(Grant.role_id).where(
        Grant.type == GrantType.USER_DOMAIN.value,
        Grant.actor_id == bindparam("user_id"),
        Grant.target_id == bindparam("target_id"),
    ),
    GrantType.GROUP_DOMAIN,
)


def roles_of(session: Session, user_id: str, project_id: str) -> list[Role]:
    """The roles ``user_id`` has on ``project_id``, directly or through groups, by name."""
    return list(session.scalars(_PROJECT_ROLES, {"user_id": user_id, "target_id": project_id}))


def domain_roles_of(session: Session, user_id: str, domain_id: str) -> list[Role]:
    """The roles ``user_id`` has on ``domain_id``, directly or through groups, by name."""
    return list(session.scalars(_DOMAIN_ROLES, {"user_id": user_id, "target_id": domain_id}))


def projects_of(session: Session, user_id: str, enabled_only: bool = False) -> list[Project]:
    """The projects where ``user_id`` holds any role, by name."""
    pairs = project_grants(user_id).subquery()
    query = select(Project).where(Project.id.in_(select(pairs.c[0]))).order_by(Project.name)
    if enabled_only:
        query = query.where(Project.enabled.is_(True))
    return list(session.scalars(query))


def domains_of(session: Session, user_id: str) -> list[Domain]:
    """The enabled domains where ``user_id`` holds any role, by name."""
    pairs = domain_grants(user_id).subquery()
    return list(
        session.scalars(
            select(Domain)
            .where(Domain.id.in_(select(pairs.c[0])), Domain.enabled.is_(True))
            .order_by(Domain.name)
        )
    )
