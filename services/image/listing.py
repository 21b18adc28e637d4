"""``GET /v2/images``: Glance's filters, sorting and marker pagination.

Pages are keyset pages: the marker image's sort values bound the next page, so paging is
stable while images come and go. Query parameters Glance does not reserve filter on
additional properties (``?hw_architecture=x86_64``), as in Glance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, Select, cast, exists, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import InstrumentedAttribute, Session

from db.models.image import Image
from services.common import keyset
from services.common.app import bad_request
from services.common.auth import AuthContext
from services.image import policy

DEFAULT_LIMIT = 25  # Glance's limit_param_default
MAX_LIMIT = 1000  # Glance's api_limit_max
DEFAULT_SORT_DIR = "desc"

# Sort keys Glance accepts, with what stands in for null so keyset comparisons work.
_SORT_KEYS: dict[str, tuple[InstrumentedAttribute[Any], Any]] = {
    "name": (Image.name, ""),
    "status": (Image.status, None),
    "container_format": (Image.container_format, ""),
    "disk_format": (Image.disk_format, ""),
    "size": (Image.size, -1),
    "id": (Image.id, None),
    "created_at": (Image.created_at, None),
    "updated_at": (Image.updated_at, None),
}
# Exact-match filters on base attributes; ``in:a,b`` matches any of several values.
_STRING_FILTERS: dict[str, InstrumentedAttribute[Any]] = {
    "id": Image.id,
    "name": Image.name,
    "status": Image.status,
    "owner": Image.owner,
    "disk_format": Image.disk_format,
    "container_format": Image.container_format,
    "checksum": Image.checksum,
    "os_hash_algo": Image.os_hash_algo,
    "os_hash_value": Image.os_hash_value,
}
_BOOLEAN_FILTERS: dict[str, InstrumentedAttribute[bool]] = {
    "protected": Image.protected,
    "os_hidden": Image.os_hidden,
}
# Base attributes that exist but cannot be filtered on here (rather than silently treated
# as additional properties and matching nothing).
_UNFILTERABLE = frozenset(
    {
        "created_at",
        "updated_at",
        "virtual_size",
        "min_disk",
        "min_ram",
        "tags",
        "self",
        "file",
        "schema",
        "locations",
        "direct_url",
        "stores",
    }
)
_VISIBILITIES = ("community", "public", "private", "shared", "all")
_MEMBER_STATUSES = ("pending", "accepted", "rejected", "all")


@dataclass
class Query:
    """A parsed ``GET /v2/images`` query string."""

    limit: int = DEFAULT_LIMIT
    marker: str | None = None
    sort: list[tuple[str, str]] = field(default_factory=list)
    visibility: str | None = None
    member_status: str = "accepted"
    os_hidden: bool = False
    tags: list[str] = field(default_factory=list)
    conditions: list[ColumnElement[bool]] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)


@dataclass
class Page:
    images: list[Image]
    next_marker: str | None


def parse_query(params: Sequence[tuple[str, str]]) -> Query:
    """Validate the query string; 400 for a value Glance would refuse."""
    query = Query()
    values: dict[str, list[str]] = {}
    for key, value in params:
        values.setdefault(key, []).append(value)

    def single(key: str) -> str | None:
        found = values.pop(key, None)
        return found[-1] if found else None

    if (limit := single("limit")) is not None:
        query.limit = min(_parse_limit(limit), MAX_LIMIT)
    query.marker = single("marker")
    query.sort = _parse_sort(
        values.pop("sort", []), values.pop("sort_key", []), values.pop("sort_dir", [])
    )
    query.member_status = single("member_status") or "accepted"
    if query.member_status not in _MEMBER_STATUSES:
        raise bad_request(f"Invalid status: {query.member_status}")
    if (visibility := single("visibility")) is not None:
        if visibility not in _VISIBILITIES:
            raise bad_request(f"Invalid visibility value: {visibility}")
        query.visibility = visibility
    if "changes-since" in values:
        raise bad_request('The "changes-since" filter is no longer available on v2.')
    query.tags = [t.strip() for t in values.pop("tag", [])]
    query.os_hidden = _parse_bool("os_hidden", single("os_hidden") or "false")
    if (protected := single("protected")) is not None:
        query.conditions.append(Image.protected == _parse_bool("protected", protected))
    # Glance compares ``size`` to the column as given: an exact size, no ``in:`` list.
    if (size := single("size")) is not None:
        query.conditions.append(Image.size == _parse_size("size", size))
    if (size_min := single("size_min")) is not None:
        query.conditions.append(Image.size >= _parse_size("size_min", size_min))
    if (size_max := single("size_max")) is not None:
        query.conditions.append(Image.size <= _parse_size("size_max", size_max))
    for key in list(values):
        wanted = single(key)
        assert wanted is not None
        if key in _STRING_FILTERS:
            query.conditions.append(_match(_STRING_FILTERS[key], wanted))
        elif key in _UNFILTERABLE:
            raise bad_request(f"Filtering images on '{key}' is not supported.")
        else:
            query.properties[key] = wanted
    return query


def _parse_limit(raw: str) -> int:
    try:
        limit = int(raw)
    except ValueError:
        raise bad_request("limit param must be an integer") from None
    if limit < 0:
        raise bad_request("limit param must be positive")
    return limit


def _parse_bool(name: str, raw: str) -> bool:
    if raw.lower() not in ("true", "false"):
        raise bad_request(
            f"Invalid value '{raw}' for '{name}' filter. Valid values are 'true' or 'false'."
        )
    return raw.lower() == "true"


def _parse_size(name: str, raw: str) -> int:
    what = "a size" if name == "size" else "a range"
    try:
        size = int(raw)
    except ValueError:
        raise bad_request(
            f"Unable to filter on {what} with a non-numeric value: {name}={raw}"
        ) from None
    # The size column's range (a 64-bit integer): beyond it the database would refuse.
    if not -(2**63) <= size < 2**63:
        raise bad_request(f"Unable to filter on {what} with a value out of range: {name}")
    return size


def _parse_sort(sort: list[str], keys: list[str], dirs: list[str]) -> list[tuple[str, str]]:
    """Glance's two syntaxes: ``sort=name:asc,size`` or ``sort_key=name&sort_dir=asc``.

    As Glance, created_at then id follow the given keys to break ties, in the default
    direction, or in the one direction given for all keys.
    """
    if sort and (keys or dirs):
        raise bad_request("Old and new sorting syntax cannot be combined")
    tie_dir = DEFAULT_SORT_DIR
    if sort:
        pairs = []
        for item in ",".join(sort).split(","):
            key, _sep, direction = item.partition(":")
            pairs.append((key.strip(), direction.strip() or DEFAULT_SORT_DIR))
    else:
        keys = keys or ["created_at"]
        if len(dirs) <= 1:
            tie_dir = dirs[0].strip() if dirs else DEFAULT_SORT_DIR
            dirs = [tie_dir] * len(keys)
        elif len(dirs) != len(keys):
            raise bad_request("Number of sort dirs does not match the number of sort keys")
        pairs = [(k.strip(), d.strip()) for k, d in zip(keys, dirs, strict=True)]
    for key, direction in pairs:
        if key not in _SORT_KEYS:
            raise bad_request(
                f"Invalid sort key: {key}. It must be one of the following: "
                f"{', '.join(_SORT_KEYS)}."
            )
        if direction not in ("asc", "desc"):
            raise bad_request(f"Invalid sort direction: {direction}")
    for key in ("created_at", "id"):
        if all(key != k for k, _d in pairs):
            pairs.append((key, tie_dir))
    return pairs


def _match(column: InstrumentedAttribute[Any], value: str) -> ColumnElement[bool]:
    if value.startswith("in:"):
        return column.in_([v.strip() for v in value[3:].split(",")])
    return column == value


def list_images(session: Session, caller: AuthContext, query: Query) -> Page:
    stmt = select(Image).where(
        policy.listable(caller, query.visibility, query.member_status),
        Image.os_hidden == query.os_hidden,
        *query.conditions,
    )
    for key, value in query.properties.items():
        stmt = stmt.where(Image.properties[key].as_string() == value)
    dialect = session.get_bind().dialect.name
    for tag in query.tags:
        stmt = stmt.where(_has_tag(tag, dialect))
    stmt = _paginate(session, caller, stmt, query)
    images = list(session.scalars(stmt))
    more = query.limit > 0 and len(images) == query.limit
    return Page(images, images[-1].id if more else None)


def _sort_expr(key: str) -> ColumnElement[Any]:
    column, null_as = _SORT_KEYS[key]
    return column.expression if null_as is None else func.coalesce(column, null_as)


def _paginate(
    session: Session, caller: AuthContext, stmt: Select[Any], query: Query
) -> Select[Any]:
    if query.marker is not None:
        marker = session.get(Image, query.marker)
        if marker is None or not policy.can_see(marker, caller):
            raise bad_request(f"Marker {query.marker} could not be found.")
        stmt = stmt.where(_after(marker, query.sort))
    order = [
        _sort_expr(key).desc() if direction == "desc" else _sort_expr(key).asc()
        for key, direction in query.sort
    ]
    return stmt.order_by(*order).limit(query.limit)


def _after(marker: Image, sort: list[tuple[str, str]]) -> ColumnElement[bool]:
    """Rows strictly after ``marker`` in the sort order."""
    return keyset.after([(_sort_expr(k), _marker_value(marker, k), d) for k, d in sort])


def _marker_value(marker: Image, key: str) -> Any:
    _column, null_as = _SORT_KEYS[key]
    value = getattr(marker, key)
    return null_as if value is None else value


def _has_tag(tag: str, dialect: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return cast(Image.tags, JSONB).contains([tag])
    each = func.json_each(Image.tags).table_valued("value")
    return exists(select(1).select_from(each).where(each.c.value == tag))


def next_link(params: Sequence[tuple[str, str]], marker: str) -> str:
    """The ``next`` link: the same query, from ``marker`` on."""
    kept = [(k, v) for k, v in params if k != "marker"]
    return f"/v2/images?{urlencode([*kept, ('marker', marker)])}"


def first_link(params: Sequence[tuple[str, str]]) -> str:
    kept = [(k, v) for k, v in params if k != "marker"]
    return f"/v2/images?{urlencode(kept)}" if kept else "/v2/images"
