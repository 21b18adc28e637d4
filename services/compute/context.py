"""What every compute API handler needs to know about its request: who, which microversion,
and the URL prefix links are built from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from services.common.auth import Auth, AuthContext
from services.compute.microversions import ApiVersion, Version


@dataclass(frozen=True)
class ApiContext:
    caller: AuthContext
    version: ApiVersion
    # Scheme, host and port the client used (links point back there), without /v2.1.
    base: str
    # A compute service whose heartbeat is older than this is down (Nova's service_down_time).
    service_down_seconds: float

    @property
    def is_admin(self) -> bool:
        return self.caller.is_admin

    def at_least(self, version: ApiVersion) -> bool:
        return self.version.at_least(version)


def _context(request: Request, caller: Auth, version: Version) -> ApiContext:
    return ApiContext(
        caller=caller,
        version=version,
        base=str(request.base_url).rstrip("/"),
        service_down_seconds=request.app.state.settings.service_down_seconds,
    )


# FastAPI dependency: the validated caller with the request's microversion.
Ctx = Annotated[ApiContext, Depends(_context)]
