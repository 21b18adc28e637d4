"""First-start identity data, as ``keystone-manage bootstrap`` writes it: the default
domain, roles, projects, users with their role assignments, and the service catalog. Safe
to run again: what exists is kept (passwords included); catalog URLs are brought up to
date."""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.base import new_hex_id
from db.models.identity import (
    DEFAULT_DOMAIN_ID,
    DEFAULT_DOMAIN_NAME,
    CatalogEndpoint,
    Domain,
    Project,
    Role,
    RoleAssignment,
    User,
)
from db.session import SessionFactory

ROLES = ("admin", "member", "reader")


@dataclass
class UserSeed:
    name: str
    password: str
    project: str
    roles: tuple[str, ...]


@dataclass
class EndpointSeed:
    service_type: str
    service_name: str
    url: str


def bootstrap(
    sessions: SessionFactory,
    users: list[UserSeed],
    endpoints: list[EndpointSeed],
    region: str,
) -> None:
    hasher = PasswordHasher()
    with sessions.begin() as session:
        if session.get(Domain, DEFAULT_DOMAIN_ID) is None:
            # The migration writes it; a schema made from the models alone has none.
            session.add(
                Domain(
                    id=DEFAULT_DOMAIN_ID,
                    name=DEFAULT_DOMAIN_NAME,
                    description="The default domain",
                )
            )
        roles = {name: _get_or_create_role(session, name) for name in ROLES}
        for seed in users:
            project = _get_or_create_project(session, seed.project)
            user = session.scalar(
                select(User).where(User.name == seed.name, User.domain_id == DEFAULT_DOMAIN_ID)
            )
            if user is None:
                user = User(
                    name=seed.name,
                    password_hash=hasher.hash(seed.password),
                    default_project_id=project.id,
                )
                session.add(user)
                session.flush()
            for role_name in seed.roles:
                key = (user.id, project.id, roles[role_name].id)
                if session.get(RoleAssignment, key) is None:
                    session.add(RoleAssignment(user_id=key[0], project_id=key[1], role_id=key[2]))
        for ep in endpoints:
            row = session.scalar(
                select(CatalogEndpoint).where(
                    CatalogEndpoint.service_type == ep.service_type,
                    CatalogEndpoint.interface == "public",
                    CatalogEndpoint.region == region,
                )
            )
            if row is None:
                session.add(
                    CatalogEndpoint(
                        service_id=new_hex_id(),
                        service_type=ep.service_type,
                        service_name=ep.service_name,
                        interface="public",
                        region=region,
                        url=ep.url,
                    )
                )
            else:
                row.url = ep.url
                row.service_name = ep.service_name


def _get_or_create_role(session: Session, name: str) -> Role:
    role = session.scalar(select(Role).where(Role.name == name))
    if role is None:
        role = Role(name=name)
        session.add(role)
        session.flush()
    return role


def _get_or_create_project(session: Session, name: str) -> Project:
    project = session.scalar(
        select(Project).where(Project.name == name, Project.domain_id == DEFAULT_DOMAIN_ID)
    )
    if project is None:
        project = Project(name=name, description=f"{name} project")
        session.add(project)
        session.flush()
    return project
