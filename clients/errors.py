"""Typed HTTP errors, with the message pulled out of whichever OpenStack error shape came back."""

from __future__ import annotations

from typing import Any

import httpx


class ClientError(Exception):
    """Any failure talking to a service."""


class ConnectionFailed(ClientError):
    """The service could not be reached (refused, reset, timed out): transient."""


class HttpError(ClientError):
    """A service's error answer. ``message`` is the service's own; ``str()`` of a transient
    one also names the service (when known) and the status, as workflow faults and 503s
    quote it."""

    status: int = 0

    def __init__(
        self, status: int, message: str, error_type: str | None = None, service: str | None = None
    ) -> None:
        self.status = status
        self.message = message
        self.error_type = error_type
        self.service = service
        if self.transient and service:
            super().__init__(f"The {service} service answered {status}: {message}")
        else:
            super().__init__(message)

    @property
    def transient(self) -> bool:
        return self.status >= 500 or self.status == 429


class BadRequest(HttpError):
    pass


class Unauthorized(HttpError):
    pass


class Forbidden(HttpError):
    pass


class NotFound(HttpError):
    pass


class Conflict(HttpError):
    pass


_BY_STATUS: dict[int, type[HttpError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
}


def _message_of(body: Any) -> tuple[str | None, str | None]:
    """(message, type) from Keystone/Nova/Cinder/Neutron/Glance error bodies."""
    if not isinstance(body, dict):
        return None, None
    if "NeutronError" in body and isinstance(body["NeutronError"], dict):
        err = body["NeutronError"]
        return err.get("message"), err.get("type")
    if "error" in body and isinstance(body["error"], dict):  # Keystone
        err = body["error"]
        return err.get("message"), err.get("title")
    if "message" in body:  # Glance
        return str(body["message"]), body.get("title")
    if len(body) == 1:  # Nova/Cinder: {"badRequest": {"code": 400, "message": ...}}
        ((kind, err),) = body.items()
        if isinstance(err, dict) and "message" in err:
            return err["message"], kind
    return None, None


def transient(exc: BaseException) -> bool:
    """Whether ``exc`` says a service is down, restarting or overloaded (unreachable, HTTP
    5xx or 429): the same call may work later. A refusal (any other 4xx) never does."""
    return isinstance(exc, ConnectionFailed) or (isinstance(exc, HttpError) and exc.transient)


def service_name(service_type: str) -> str:
    """What people call a catalog service type: ``volumev3`` is the volume service."""
    return service_type.removesuffix("v3")


def raise_for_status(response: httpx.Response, service: str | None = None) -> None:
    """Raise the typed error for a failed ``response`` from ``service`` (its name)."""
    if response.is_success:
        return
    try:
        message, error_type = _message_of(response.json())
    except ValueError:
        message, error_type = None, None
    if not message:
        message = response.text.strip()[:500] or response.reason_phrase
    cls = _BY_STATUS.get(response.status_code, HttpError)
    raise cls(response.status_code, message, error_type, service)
