"""Neutron's list and show answers: the rows a caller sees, filtered by the query string,
oldest first, each cut to the ``?fields=`` asked for."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar

from fastapi import Query, Request
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.interfaces import LoaderOption

from db.models.network import Network, Port, Subnet
from services.network.access import only_visible
from services.network.filters import FilterSpec, parse_query
from services.network.views import select_fields

# ``?fields=name&fields=id`` on a show.
Fields = Annotated[list[str] | None, Query()]

_Row = TypeVar("_Row", Network, Subnet, Port)


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
