"""Keystone's error shape and the refusals identity words its own way."""

from __future__ import annotations

from typing import Any

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


def duplicate(what: str, name: str) -> str:
    """Keystone's 409 message for a name taken (``flush_unique`` answers it)."""
    return f"Conflict occurred attempting to store {what} - Duplicate entry found with name {name}."


def forbidden() -> ApiError:
    return ApiError(403, "You are not authorized to perform the requested action.")
