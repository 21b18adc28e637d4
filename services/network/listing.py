"""Neutron's list and show answers: the rows a caller sees, filtered by the query string,
oldest first, each cut to the ``?fields=`` asked for. They are alike for every resource."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.interfaces import LoaderOption

from db.models.network import Network, Port, Router, Subnet
from services.common.auth import Auth, AuthContext
from services.common.db import DbSession
from services.network.access import only_visible
from services.network.filters import FilterSpec, parse_query
from services.network.views import select_fields

# ``?fields=name&fields=id`` on a show.
Fields = Annotated[list[str] | None, Query()]

_Row = TypeVar("_Row", Network, Subnet, Port, Router)


def list_visible(
    session: Session,
    request: Request,
    entity: type[_Row],
    filters: Mapping[str, FilterSpec],
    visible: ColumnElement[bool] | None,
    view: Callable[[_Row], dict[str, Any]],
    *load: LoaderOption,
) -> list[dict[str, Any]]:
    """The ``entity`` rows the query string and ``visible`` (None: all) select, as views."""
    query = parse_query(request.query_params.multi_items(), filters)
    statement = only_visible(select(entity).options(*load).where(*query.where), visible)
    rows = session.scalars(statement.order_by(entity.created_at, entity.id))
    return [select_fields(view(row), query.fields) for row in rows]


def add_list_and_show(
    router: APIRouter,
    entity: type[_Row],
    filters: Mapping[str, FilterSpec],
    visible: Callable[[AuthContext], ColumnElement[bool] | None],
    get: Callable[[Session, AuthContext, str], _Row],
    view: Callable[[_Row], dict[str, Any]],
    *load: LoaderOption,
) -> None:
    """``GET`` of ``router``'s collection (``{"networks": [...]}``) and of one resource in it
    (``{"network": {...}}``): the rows ``visible`` lets the caller see, shown by ``view``,
    with the related rows ``view`` reads loaded by ``load``."""
    # The path names the collection; one resource goes by its singular name.
    collection = router.prefix.rsplit("/", 1)[-1]
    one = collection.removesuffix("s")

    @router.get("")
    def list_resources(request: Request, caller: Auth, session: DbSession) -> dict[str, Any]:
        rows = list_visible(session, request, entity, filters, visible(caller), view, *load)
        return {collection: rows}

    @router.get("/{resource_id}")
    def show_resource(
        resource_id: str, caller: Auth, session: DbSession, fields: Fields = None
    ) -> dict[str, Any]:
        return {one: select_fields(view(get(session, caller, resource_id)), fields or [])}
