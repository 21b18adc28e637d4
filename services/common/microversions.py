"""Nova's and Cinder's microversions: the ``OpenStack-API-Version: <service> X.Y`` header
(and Nova's legacy ``X-OpenStack-Nova-API-Version: X.Y``), parsed, checked and stamped.

No header means the minimum and ``latest`` the maximum; a malformed version is a 400 and
one outside the range a 406, with the services' own messages. Every answer in the versioned
paths names the version that served it and varies by the header, so caches keep versions
apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Final

from fastapi import Depends, Request
from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.app import ErrorFormatter

HEADER: Final = "OpenStack-API-Version"
_VERSION = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")


class VersionError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, order=True)
class ApiVersion:
    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    def at_least(self, version: ApiVersion) -> bool:
        return self >= version

    @classmethod
    def parse(cls, text: str) -> ApiVersion:
        """``X.Y``; anything else is a 400 with the services' own message."""
        match = _VERSION.match(text)
        if match is None:
            raise VersionError(
                400,
                f"API Version String {text} is of invalid format. "
                "Must be of format MajorNum.MinorNum.",
            )
        return cls(int(match.group(1)), int(match.group(2)))


def _values(headers: list[tuple[bytes, bytes]], name: str) -> list[str]:
    key = name.lower().encode("latin-1")
    return [v.decode("latin-1") for k, v in headers if k == key]


@dataclass(frozen=True)
class Microversions:
    """One service's versions: its name in the header, its range, how it words a refusal,
    its legacy header (Nova's) and the path prefix the versions govern (None: every path)."""

    service: str
    minimum: ApiVersion
    maximum: ApiVersion
    formatter: ErrorFormatter
    legacy_header: str | None = None
    prefix: str | None = None

    def governs(self, path: str) -> bool:
        return self.prefix is None or path == self.prefix or path.startswith(self.prefix + "/")

    def _wanted(self, headers: list[tuple[bytes, bytes]]) -> str | None:
        """The version asked for, as microversion-parse finds it: the header's entry for
        this service first (it may name several services), else the legacy header."""
        for part in ",".join(_values(headers, HEADER)).split(","):
            words = part.split()
            if words and words[0].lower() == self.service:
                if len(words) != 2:
                    raise VersionError(
                        400,
                        f"Invalid {HEADER} header {part.strip()!r}: expected '{self.service} X.Y'.",
                    )
                return words[1]
        legacy = _values(headers, self.legacy_header) if self.legacy_header else []
        return legacy[-1].strip() if legacy else None

    def requested(self, headers: list[tuple[bytes, bytes]]) -> ApiVersion:
        """The version a request asks for; ``VersionError`` (400 or 406) if unacceptable."""
        wanted = self._wanted(headers)
        if wanted is None:
            return self.minimum
        if wanted.lower() == "latest":
            return self.maximum
        version = ApiVersion.parse(wanted)
        if not self.minimum <= version <= self.maximum:
            raise VersionError(
                406,
                f"Version {version} is not supported by the API. Minimum is "
                f"{self.minimum} and maximum is {self.maximum}.",
            )
        return version

    def stamp(self, message: Message, version: ApiVersion) -> None:
        """Name the version that served a response, in the response's start message."""
        headers = MutableHeaders(scope=message)
        headers[HEADER] = f"{self.service} {version}"
        if self.legacy_header:
            headers[self.legacy_header] = str(version)
        headers.append("Vary", HEADER)
        if self.legacy_header:
            headers.append("Vary", self.legacy_header)


class MicroversionMiddleware:
    """Puts the request's version in ``request.state.api_version`` and stamps the answer;
    outside the governed paths the version is the minimum and nothing is stamped."""

    def __init__(self, app: ASGIApp, versions: Microversions) -> None:
        self.app = app
        self.versions = versions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        if not self.versions.governs(scope.get("path", "")):
            state["api_version"] = self.versions.minimum
            await self.app(scope, receive, send)
            return
        try:
            version = self.versions.requested(scope["headers"])
        except VersionError as exc:
            # No version is named on these refusals: none was agreed.
            body = self.versions.formatter(exc.status, exc.message, None)
            await JSONResponse(body, exc.status)(scope, receive, send)
            return
        state["api_version"] = version

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.versions.stamp(message, version)
            await send(message)

        await self.app(scope, receive, stamped)


async def _api_version(request: Request) -> ApiVersion:
    version: ApiVersion = request.state.api_version
    return version


# FastAPI dependency: the request's microversion (set by MicroversionMiddleware).
Version = Annotated[ApiVersion, Depends(_api_version)]
