"""Identity's tables: domains, projects, users, groups, roles and their grants, revocations,
catalog."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from db.base import Base, CreatedAt, HexIdPk

DEFAULT_DOMAIN_ID = "default"
DEFAULT_DOMAIN_NAME = "Default"


class InDomain:
    """Keystone's projects and users: each in a domain, its name unique there."""

    @declared_attr.directive
    def __table_args__(cls) -> tuple[UniqueConstraint]:
        return (UniqueConstraint("domain_id", "name"),)

    domain_id: Mapped[str] = mapped_column(String(64), default=DEFAULT_DOMAIN_ID)


class Domain(Base):
    """A Keystone domain; ``default`` is written by the migration and by bootstrap."""

    __tablename__ = "domains"

    id: Mapped[HexIdPk]
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[CreatedAt]


class Project(InDomain, Base):
    __tablename__ = "projects"

    id: Mapped[HexIdPk]
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[CreatedAt]


class User(InDomain, Base):
    __tablename__ = "users"

    id: Mapped[HexIdPk]
    name: Mapped[str] = mapped_column(String(255))
    # An argon2id hash (salted, slow); the password itself is never stored.
    password_hash: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    default_project_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[CreatedAt]


class Role(Base):
    __tablename__ = "roles"

    id: Mapped[HexIdPk]
    name: Mapped[str] = mapped_column(String(64), unique=True)


class RoleAssignment(Base):
    __tablename__ = "role_assignments"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    role_id: Mapped[str] = mapped_column(ForeignKey("roles.id"), primary_key=True)


class Group(InDomain, Base):
    __tablename__ = "groups"

    id: Mapped[HexIdPk]
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[CreatedAt]


class GroupMember(Base):
    __tablename__ = "group_members"

    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)


class GrantType(StrEnum):
    """Keystone's assignment types beside a user's role on a project (``RoleAssignment``)."""

    USER_DOMAIN = "UserDomain"
    GROUP_DOMAIN = "GroupDomain"
    GROUP_PROJECT = "GroupProject"


class Grant(Base):
    """A role granted to a user or group (``actor_id``) on a domain or project
    (``target_id``), as Keystone's ``assignment`` table: which is which says ``type``."""

    __tablename__ = "grants"

    type: Mapped[str] = mapped_column(String(16), primary_key=True)
    actor_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    target_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    role_id: Mapped[str] = mapped_column(ForeignKey("roles.id"), primary_key=True)


class RevokedToken(Base):
    """A revoked token, by its audit id; kept until the token would have expired anyway."""

    __tablename__ = "revoked_tokens"

    audit_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[CreatedAt]


class CatalogEndpoint(Base):
    __tablename__ = "catalog_endpoints"
    __table_args__ = (UniqueConstraint("service_type", "interface", "region"),)

    id: Mapped[HexIdPk]
    service_id: Mapped[str] = mapped_column(String(64))
    service_type: Mapped[str] = mapped_column(String(64))
    service_name: Mapped[str] = mapped_column(String(64))
    interface: Mapped[str] = mapped_column(String(16), default="public")
    region: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(Text)
