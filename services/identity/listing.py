"""Keystone's admin-only lists of projects, users and groups: every one by name, or those
named ``?name=``, or in domain ``?domain_id=``; they differ only in their rows and how a
row is shown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from sqlalchemy import Select, select

from db.models.identity import Group, Project, Role, User
from services.common.auth import Admin
from services.common.db import DbSession
from services.identity.views import listed

_Named = TypeVar("_Named", Project, User, Role, Group)
_InDomain = TypeVar("_InDomain", Project, User, Group)


def named(entity: type[_Named], name: str | None) -> Select[_Named]:
    """``entity``'s rows by name, only those called ``name`` if it is given."""
    query = select(entity).order_by(entity.name)
    return query if name is None else query.where(entity.name == name)


def by_name(
    entity: type[_InDomain], view: Callable[[Request, _InDomain], dict[str, Any]], collection: str
) -> Callable[..., dict[str, Any]]:
    """The ``GET /v3/{collection}`` endpoint for ``entity``'s rows, shown by ``view``."""

    def listing(
        _admin: Admin,
        session: DbSession,
        request: Request,
        name: str | None = None,
        domain_id: str | None = None,
    ) -> dict[str, Any]:
        query = named(entity, name)
        if domain_id is not None:
            query = query.where(entity.domain_id == domain_id)
        items = [view(request, row) for row in session.scalars(query)]
        return listed(request, collection, items, collection)

    return listing
