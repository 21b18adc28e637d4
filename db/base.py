"""The declarative base every table (bootflow's and the built-in services') derives from."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from sqlalchemy import DateTime, MetaData, String, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so Alembic migrations name the same thing on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both databases (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {datetime: UTCDateTime(), str: String(255)}


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_uuid() -> str:
    return str(uuid.uuid4())


def new_hex_id() -> str:
    """Keystone-style ids: 32 hex characters."""
    return uuid.uuid4().hex


# Columns many tables declare alike, as SQLAlchemy's Annotated mappings: ``id: Mapped[IntPk]``.
IntPk = Annotated[int, mapped_column(primary_key=True, autoincrement=True)]
UuidPk = Annotated[str, mapped_column(String(36), primary_key=True, default=new_uuid)]
HexIdPk = Annotated[str, mapped_column(String(64), primary_key=True, default=new_hex_id)]
CreatedAt = Annotated[datetime, mapped_column(default=utcnow)]


class Timestamps:
    """``created_at`` and ``updated_at`` (set on every UPDATE), after a table's own columns."""

    created_at: Mapped[CreatedAt]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ProjectUsage:
    """What a project holds of one resource: a row per (project, resource)."""

    @declared_attr.directive
    def __table_args__(cls) -> tuple[UniqueConstraint]:
        return (UniqueConstraint("project_id", "resource"),)

    id: Mapped[IntPk]
    project_id: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(String(32))
    in_use: Mapped[int] = mapped_column(default=0)
