"""Keyset paging: the rows strictly after a marker row in a multi-key sort order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, or_

# One sort key: its SQL expression, the marker row's value of it, and "asc" or "desc".
SortKey = tuple[ColumnElement[Any], Any, str]


def after(keys: Sequence[SortKey]) -> ColumnElement[bool]:
    """A lexicographic comparison: equal on the first keys, then past the marker on one."""
    clauses = []
    for i, (expr, value, direction) in enumerate(keys):
        step = expr < value if direction == "desc" else expr > value
        ties = [e == v for e, v, _d in keys[:i]]
        clauses.append(and_(*ties, step))
    return or_(*clauses)
