"""Cinder's refusals, worded as Cinder words them (clients and people match on these)."""

from __future__ import annotations

from typing import Any

from services.common.app import ApiError, nova_error


def cinder_error(status: int, message: str, kind: str | None) -> dict[str, Any]:
    """Nova's error shape, but 406 is a "computeFault" (Cinder's fault names lack 406)."""
    if status == 406:
        return {"computeFault": {"code": status, "message": message}}
    return nova_error(status, message, kind)


# What Cinder answers for a path or microversion it does not serve.
RESOURCE_NOT_FOUND = "The resource could not be found."


def resource_not_found() -> ApiError:
    return ApiError(404, RESOURCE_NOT_FOUND)


def volume_not_found(volume_id: str) -> ApiError:
    return ApiError(404, f"Volume {volume_id} could not be found.")


def attachment_not_found(attachment_id: str) -> ApiError:
    return ApiError(
        404, f"Volume attachment could not be found with filter: attachment_id = {attachment_id}."
    )


def invalid_volume(reason: str) -> ApiError:
    return ApiError(400, f"Invalid volume: {reason}")


def invalid_input(reason: str) -> ApiError:
    return ApiError(400, f"Invalid input received: {reason}")
