"""Cinder's API microversions: the ``OpenStack-API-Version: volume X.Y`` header.

No header means 3.0, ``latest`` the newest; a malformed version is a 400 and one outside
3.0-3.70 a 406, as Cinder answers. Every other response says which version served it and
that it varies by the header, so caches keep versions apart.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import Depends, Request
from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.app import ErrorFormatter
from services.common.microversions import ApiVersion, VersionError

HEADER: Final = "OpenStack-API-Version"
SERVICE: Final = "volume"

# Microversions this service behaves differently from (named as in cinder/api/microversions.py).
GROUP_VOLUME: Final = ApiVersion(3, 13)
VOLUME_DETAIL_PROVIDER_ID: Final = ApiVersion(3, 21)
NEW_ATTACH: Final = ApiVersion(3, 27)
NEW_ATTACH_COMPLETION: Final = ApiVersion(3, 44)
VOLUME_SHARED_TARGETS_AND_SERVICE_FIELDS: Final = ApiVersion(3, 48)
ATTACHMENT_CREATE_MODE_ARG: Final = ApiVersion(3, 54)
VOLUME_CLUSTER_NAME: Final = ApiVersion(3, 61)
VOLUME_TYPE_ID_IN_VOLUME_DETAIL: Final = ApiVersion(3, 63)
USE_QUOTA: Final = ApiVersion(3, 65)
SHARED_TARGETS_TRISTATE: Final = ApiVersion(3, 69)

MIN_VERSION: Final = ApiVersion(3, 0)
MAX_VERSION: Final = ApiVersion(3, 70)
# When Cinder last raised its maximum to 3.70 (its version document's "updated").
MAX_VERSION_UPDATED: Final = "2022-08-31T00:00:00Z"


def requested_version(header: str | None) -> ApiVersion:
    """The version a request asks for; ``VersionError`` (400 or 406) if unacceptable.

    The header may name several services ("compute 2.1, volume 3.27"); only ours counts,
    and a header that does not name it is as if absent.
    """
    if header is None:
        return MIN_VERSION
    wanted = None
    for part in header.split(","):
        words = part.split()
        if words and words[0].lower() == SERVICE:
            if len(words) != 2:
                raise VersionError(
                    400, f"Invalid {HEADER} header {part.strip()!r}: expected '{SERVICE} X.Y'."
                )
            wanted = words[1]
            break
    if wanted is None:
        return MIN_VERSION
    if wanted.lower() == "latest":
        return MAX_VERSION
    version = ApiVersion.parse(wanted)
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise VersionError(
            406,
            f"Version {version} is not supported by the API. Minimum is "
            f"{MIN_VERSION} and maximum is {MAX_VERSION}.",
        )
    return version


class MicroversionMiddleware:
    """Parses the header into ``request.state.api_version`` and stamps the answer's headers."""

    def __init__(self, app: ASGIApp, formatter: ErrorFormatter) -> None:
        self.app = app
        self.formatter = formatter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        values = [v.decode("latin-1") for k, v in scope["headers"] if k == b"openstack-api-version"]
        try:
            version = requested_version(", ".join(values) if values else None)
        except VersionError as exc:
            # Cinder names no version on these refusals: none was agreed.
            response = JSONResponse(self.formatter(exc.status, exc.message, None), exc.status)
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["api_version"] = version

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers[HEADER] = f"{SERVICE} {version}"
                headers.append("Vary", HEADER)
            await send(message)

        await self.app(scope, receive, stamped)


async def _api_version(request: Request) -> ApiVersion:
    version: ApiVersion = request.state.api_version
    return version


# FastAPI dependency: the request's microversion.
Version = Annotated[ApiVersion, Depends(_api_version)]
