"""What goes with a deleted user, group, project, role or domain, as in Keystone: every
grant naming it and every group membership; with a domain, everything in it."""

from __future__ import annotations

from collections.abc import Callable, Collection

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from db.models.identity import Grant, Group, GroupMember, Project, RoleAssignment, User


def forget_users(session: Session, ids: Collection[str]) -> None:
    session.execute(delete(RoleAssignment).where(RoleAssignment.user_id.in_(ids)))
    session.execute(delete(GroupMember).where(GroupMember.user_id.in_(ids)))
    # A user's grants on domains (its grants through groups go with the groups).
    session.execute(delete(Grant).where(Grant.actor_id.in_(ids)))


def forget_groups(session: Session, ids: Collection[str]) -> None:
    session.execute(delete(GroupMember).where(GroupMember.group_id.in_(ids)))
    session.execute(delete(Grant).where(Grant.actor_id.in_(ids)))


def forget_projects(session: Session, ids: Collection[str]) -> None:
    session.execute(delete(RoleAssignment).where(RoleAssignment.project_id.in_(ids)))
    session.execute(delete(Grant).where(Grant.target_id.in_(ids)))


def forget_roles(session: Session, ids: Collection[str]) -> None:
    session.execute(delete(RoleAssignment).where(RoleAssignment.role_id.in_(ids)))
    session.execute(delete(Grant).where(Grant.role_id.in_(ids)))


_CONTENTS: tuple[
    tuple[type[Project] | type[User] | type[Group], Callable[[Session, Collection[str]], None]],
    ...,
] = ((Project, forget_projects), (User, forget_users), (Group, forget_groups))


def delete_domain_contents(session: Session, domain_id: str) -> None:
    """Delete the projects, users and groups in ``domain_id`` and every grant on it
    (Keystone's ``_delete_domain_contents`` and its identity callback)."""
    for entity, forget in _CONTENTS:
        ids = list(session.scalars(select(entity.id).where(entity.domain_id == domain_id)))
        if ids:
            forget(session, ids)
            session.execute(delete(entity).where(entity.id.in_(ids)))
    session.execute(delete(Grant).where(Grant.target_id == domain_id))
