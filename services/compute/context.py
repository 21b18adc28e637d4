"""What every compute API handler needs to know about its request: who, which microversion,
and the URL prefix links are built from."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Final

from fastapi import Body, Depends, Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.config import ComputeQuotaOptions
from services.common.auth import Auth, AuthContext
from services.common.microversions import ApiVersion
from services.compute.microversions import Version

REQUEST_ID_HEADERS: Final = ("X-OpenStack-Request-ID", "X-Compute-Request-Id")


class RequestIdMiddleware:
    """Every request gets Nova's ``req-<uuid>`` id, sent back in both of Nova's headers. A
    create or delete records it as the instance action's request id, so the id a client
    logged for its call is the one ``openstack server event list`` shows."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = f"req-{uuid.uuid4()}"
        scope.setdefault("state", {})["request_id"] = request_id

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name in REQUEST_ID_HEADERS:
                    headers[name] = request_id
            await send(message)

        await self.app(scope, receive, stamped)


@dataclass(frozen=True)
class ApiContext:
    caller: AuthContext
    version: ApiVersion
    # Scheme, host and port the client used (links point back there), without /v2.1.
    base: str
    # A compute service whose heartbeat is older than this is down (Nova's service_down_time).
    service_down_seconds: float
    # This request's id (X-OpenStack-Request-ID).
    request_id: str = ""

    @property
    def is_admin(self) -> bool:
        return self.caller.is_admin

    def at_least(self, version: ApiVersion) -> bool:
        return self.version.at_least(version)


async def _context(request: Request, caller: Auth, version: Version) -> ApiContext:
    return ApiContext(
        caller=caller,
        version=version,
        base=str(request.base_url).rstrip("/"),
        service_down_seconds=request.app.state.settings.service_down_seconds,
        request_id=getattr(request.state, "request_id", "") or f"req-{uuid.uuid4()}",
    )


# FastAPI dependency: the validated caller with the request's microversion.
Ctx = Annotated[ApiContext, Depends(_context)]


async def _quota_options(request: Request) -> ComputeQuotaOptions:
    options: ComputeQuotaOptions = request.app.state.settings
    return options


# FastAPI dependency: the service's quota defaults.
QuotaOptions = Annotated[ComputeQuotaOptions, Depends(_quota_options)]

# A request body as plain JSON (a missing body is None): each handler checks it against its
# schema, so a refusal is in Nova's words, not FastAPI's.
JSON_BODY: Any = Body(None)
