"""The volume list's order: Cinder's ``sort=key:dir,...`` or legacy ``sort_key``/``sort_dir``.

As Cinder's ``process_sort_params``: the first direction given is the default for keys
without one, and created_at then id follow the given keys as tie-breakers, so every order
is total and a marker (the last volume of a page) bounds the next page exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from sqlalchemy import ColumnElement, func
from sqlalchemy.orm import InstrumentedAttribute

from db.models.volume import Volume
from services.common import keyset
from services.volume.errors import invalid_input

DEFAULT_KEY: Final = "created_at"
DEFAULT_DIR: Final = "desc"
# Sort keys, with what stands in for null so keyset comparisons work; Cinder's API calls
# display_name "name" (both are accepted) and sorts on any column of its volumes table.
_KEYS: Final[dict[str, tuple[InstrumentedAttribute[Any], Any]]] = {
    "id": (Volume.id, None),
    "name": (Volume.name, ""),
    "display_name": (Volume.name, ""),
    "display_description": (Volume.description, ""),
    "size": (Volume.size, None),
    "status": (Volume.status, None),
    "attach_status": (Volume.attach_status, None),
    "bootable": (Volume.bootable, None),
    "project_id": (Volume.project_id, None),
    "user_id": (Volume.user_id, None),
    "created_at": (Volume.created_at, None),
    "updated_at": (Volume.updated_at, None),
}
# Cinder's key names for the same column (name and display_name compare alike).
_CANONICAL: Final = {"display_name": "name"}
MAX_SORT_KEYS: Final = len(_KEYS)

SortOrder = list[tuple[str, str]]


def parse_sort(params: Mapping[str, str]) -> SortOrder:
    """The order a list request asks for; 400 for an unknown key or direction."""
    if params.get("sort"):
        if "sort_key" in params or "sort_dir" in params:
            raise invalid_input(
                "The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be "
                "used with the 'sort' parameter."
            )
        keys, dirs = [], []
        for item in params["sort"].strip().split(","):
            key, _sep, direction = item.partition(":")
            keys.append(key.strip())
            dirs.append(direction.strip() or DEFAULT_DIR)
    else:
        keys = [params.get("sort_key", DEFAULT_KEY).strip()]
        dirs = [params.get("sort_dir", DEFAULT_DIR).strip()]
    if len(keys) > MAX_SORT_KEYS:
        raise invalid_input(f"At most {MAX_SORT_KEYS} sort keys may be given.")
    order: SortOrder = []
    for key, direction in zip(keys, dirs, strict=True):
        if key not in _KEYS:
            raise invalid_input("Invalid sort key")
        if direction.lower() not in ("asc", "desc"):
            raise invalid_input("Unknown sort direction, must be 'desc' or 'asc'")
        key = _CANONICAL.get(key, key)
        if all(key != k for k, _d in order):
            order.append((key, direction.lower()))
    for key in ("created_at", "id"):
        if all(key != k for k, _d in order):
            order.append((key, order[0][1]))
    return order


def _expr(key: str) -> ColumnElement[Any]:
    column, null_as = _KEYS[key]
    return column.expression if null_as is None else func.coalesce(column, null_as)


def _value(volume: Volume, key: str) -> Any:
    column, null_as = _KEYS[key]
    value = getattr(volume, column.key)
    return null_as if value is None else value


def order_by(order: SortOrder) -> list[ColumnElement[Any]]:
    return [_expr(k).desc() if d == "desc" else _expr(k).asc() for k, d in order]


def after(marker: Volume, order: SortOrder) -> ColumnElement[bool]:
    """Volumes strictly after ``marker`` in ``order``."""
    return keyset.after([(_expr(k), _value(marker, k), d) for k, d in order])
