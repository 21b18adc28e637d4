"""Query parameters checked as Nova's validator checks them, in its words: ``Invalid input
for query parameters <name>. ...``, adding how to fix it where Nova's wording does not.
Request bodies are checked by their schemas (``schemas``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final, TypeVar

from starlette.datastructures import QueryParams

from services.common.app import ApiError
from services.compute.schemas.base import (
    FALSE_WORDS,
    TRUE_WORDS,
    additional_properties,
    is_uuid,
    unexpected,
)

__all__ = ["FALSE_WORDS", "TRUE_WORDS", "is_uuid"]

ItemT = TypeVar("ItemT")

# Nova's [api] max_limit: the most items one list answer holds.
MAX_LIMIT: Final = 1000


def invalid_query(name: str, value: Any, reason: str) -> ApiError:
    return ApiError(400, f"Invalid input for query parameters {name}. Value: {value}. {reason}")


def query_bool(name: str, value: str) -> bool:
    """oslo's bool_from_string(strict=True): the query words Nova accepts for a flag."""
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ApiError(
        400,
        f"Unrecognized value '{value}' for {name}, acceptable values are: "
        "'0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'",
    )


def strict_query(params: QueryParams, allowed: Iterable[str]) -> None:
    """From 2.75 on Nova refuses query parameters it does not know."""
    extra = unexpected(dict(params), allowed)
    if extra:
        raise ApiError(400, additional_properties(extra))


def limit_and_marker(params: QueryParams) -> tuple[int, str | None]:
    """Nova's paging: at most ``limit`` items (never more than ``MAX_LIMIT``) after ``marker``."""
    limit = MAX_LIMIT
    raw = params.get("limit")
    if raw is not None:
        if not raw.isdigit():
            raise invalid_query("limit", raw, f"'{raw}' does not match '^[0-9]*$'")
        limit = min(int(raw), MAX_LIMIT)
    return limit, params.get("marker")


def page_after(
    items: list[ItemT], ids: list[str], marker: str | None, limit: int, missing: str
) -> tuple[list[ItemT], bool]:
    """At most ``limit`` of ``items`` after the one whose id is ``marker`` (``missing``, a
    400, when none is), and whether the page is full (a next link is due)."""
    if marker is not None:
        if marker not in ids:
            raise ApiError(400, missing)
        items = items[ids.index(marker) + 1 :]
    page = items[:limit]
    return page, bool(limit) and len(page) == limit
