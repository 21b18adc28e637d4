"""Request checks phrased as Nova's JSON-schema validator phrases them.

Nova answers a body that breaks its schema with ``Invalid input for field/attribute
<field>. Value: <value>. <reason>`` and a bad query parameter with ``Invalid input for query
parameters <name>. ...``; bootflow checks the same rules by hand (no jsonschema at run time)
and says the same, adding how to fix it where Nova's wording does not.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Final

from starlette.datastructures import QueryParams

from services.common.app import ApiError

# Nova's [api] max_limit: the most items one list answer holds.
MAX_LIMIT: Final = 1000

_TRUE: Final = frozenset({"1", "t", "true", "on", "y", "yes"})
_FALSE: Final = frozenset({"0", "f", "false", "off", "n", "no"})


def invalid(field: str, value: Any, reason: str) -> ApiError:
    return ApiError(400, f"Invalid input for field/attribute {field}. Value: {value}. {reason}")


def invalid_query(name: str, value: Any, reason: str) -> ApiError:
    return ApiError(400, f"Invalid input for query parameters {name}. Value: {value}. {reason}")


def require_object(body: Any, key: str) -> dict[str, Any]:
    """``body[key]``, which must be an object (Nova: 'required property' / 'not of type')."""
    if not isinstance(body, dict):
        raise ApiError(400, f"{body!r} is not of type 'object'")
    if key not in body:
        raise ApiError(400, f"'{key}' is a required property")
    inner = body[key]
    if not isinstance(inner, dict):
        raise invalid(key, inner, f"{inner!r} is not of type 'object'")
    return inner


def no_extra(where: str, found: Mapping[str, Any], allowed: Iterable[str]) -> None:
    extra = sorted(set(found) - set(allowed))
    if extra:
        names = ", ".join(repr(x) for x in extra)
        verb = "were" if len(extra) > 1 else "was"
        raise invalid(
            where, dict(found), f"Additional properties are not allowed ({names} {verb} unexpected)"
        )


def string(
    where: str, value: Any, *, min_length: int = 0, max_length: int = 255, null: bool = False
) -> str | None:
    if value is None and null:
        return None
    if not isinstance(value, str):
        raise invalid(where, value, f"{value!r} is not of type 'string'")
    if len(value) < min_length:
        raise invalid(where, value, f"{value!r} should be non-empty")
    if len(value) > max_length:
        raise invalid(where, value, f"{value!r} is too long")
    return value


def boolean(where: str, value: Any) -> bool:
    """Nova's parameter_types.boolean: a JSON boolean or one of its words."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise invalid(where, value, f"{value!r} is not one of the boolean values (true, false)")


def positive_integer(where: str, value: Any, maximum: int | None = None) -> int:
    """Nova's parameter_types.positive_integer: an integer (or its string) of 1 or more,
    and at most ``maximum`` where the schema has one."""
    if isinstance(value, bool):
        raise invalid(where, value, f"{value!r} is not of type 'integer', 'string'")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise invalid(where, value, f"{value!r} is not of type 'integer', 'string'") from None
    if isinstance(value, float) or number < 1:
        raise invalid(where, value, f"{value!r} is less than the minimum of 1")
    if maximum is not None and number > maximum:
        raise invalid(where, value, f"{value!r} is greater than the maximum of {maximum}")
    return number


def is_uuid(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def query_bool(name: str, value: str) -> bool:
    """oslo's bool_from_string(strict=True): the query words Nova accepts for a flag."""
    word = value.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ApiError(
        400,
        f"Unrecognized value '{value}' for {name}, acceptable values are: "
        "'0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'",
    )


def strict_query(params: QueryParams, allowed: Iterable[str]) -> None:
    """From 2.75 on Nova refuses query parameters it does not know."""
    extra = sorted(set(params.keys()) - set(allowed))
    if extra:
        names = ", ".join(repr(x) for x in extra)
        verb = "were" if len(extra) > 1 else "was"
        raise ApiError(400, f"Additional properties are not allowed ({names} {verb} unexpected)")


def limit_and_marker(params: QueryParams) -> tuple[int, str | None]:
    """Nova's paging: at most ``limit`` items (never more than ``MAX_LIMIT``) after ``marker``."""
    limit = MAX_LIMIT
    raw = params.get("limit")
    if raw is not None:
        if not raw.isdigit():
            raise invalid_query("limit", raw, f"'{raw}' does not match '^[0-9]*$'")
        limit = min(int(raw), MAX_LIMIT)
    return limit, params.get("marker")
