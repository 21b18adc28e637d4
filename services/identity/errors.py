"""Keystone's error shape and the refusals identity words its own way."""

from __future__ import annotations

from typing import Any

from db.models.identity import DEFAULT_DOMAIN_ID
from services.common.app import ApiError

UNAUTHORIZED = "The request you have made requires authentication."
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    413: "Request Entity Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def keystone_error(status: int, message: str, kind: str | None) -> dict[str, Any]:
    return {
        "error": {"code": status, "message": message, "title": kind or _TITLES.get(status, "Error")}
    }


def not_found(what: str, key: str) -> ApiError:
    return ApiError(404, f"Could not find {what}: {key}.")


def forbidden() -> ApiError:
    return ApiError(403, "You are not authorized to perform the requested action.")


def require_default_domain(domain_id: str) -> None:
    """Only the default domain exists; creating in another is a 400."""
    if domain_id != DEFAULT_DOMAIN_ID:
        raise ApiError(400, f"Domain {domain_id} does not exist; use 'default'.")
