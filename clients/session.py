"""An authenticated session, as keystoneauth's: password auth, token reuse, catalog lookup.

One ``Session`` holds one token (renewed before it expires) and one pooled httpx client;
every service client built on it finds its endpoint in the token's catalog.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from clients.errors import ConnectionFailed, raise_for_status, service_name

# Renew a token this long before it expires, so a request never carries a dying one.
_RENEW_MARGIN = timedelta(minutes=2)
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
# The version at the end of a catalog URL (Nova's ``.../v2.1``, Keystone's ``.../v3``).
_VERSION_SUFFIX = re.compile(r"/v\d+(\.\d+)?$")


@dataclass
class Credentials:
    auth_url: str
    username: str
    password: str
    project_name: str
    user_domain_name: str = "Default"
    project_domain_name: str = "Default"


@dataclass
class TokenInfo:
    token: str
    body: dict[str, Any]

    @property
    def expires_at(self) -> datetime:
        return parse_time(self.body["expires_at"])

    @property
    def project_id(self) -> str:
        return str(self.body["project"]["id"])

    @property
    def user_id(self) -> str:
        return str(self.body["user"]["id"])

    @property
    def roles(self) -> list[str]:
        return [r["name"] for r in self.body.get("roles", [])]


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def password_auth_body(creds: Credentials) -> dict[str, Any]:
    return {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": creds.username,
                        "domain": {"name": creds.user_domain_name},
                        "password": creds.password,
                    }
                },
            },
            "scope": {
                "project": {
                    "name": creds.project_name,
                    "domain": {"name": creds.project_domain_name},
                }
            },
        }
    }


class Session:
    """Authenticates with a password, or wraps a token someone else obtained."""

    def __init__(
        self,
        credentials: Credentials | None = None,
        *,
        token: str | None = None,
        auth_url: str | None = None,
        interface: str = "public",
        region: str | None = None,
        http: httpx.Client | None = None,
        catalog_from: Session | None = None,
    ) -> None:
        if credentials is None and (token is None or auth_url is None):
            raise ValueError("a Session needs credentials, or a token and the auth_url")
        # With a token handed to us: take endpoints from this session's catalog (the same
        # cloud), instead of asking identity to validate the token just to learn them.
        self._catalog_from = catalog_from
        self.credentials = credentials
        self.auth_url = (credentials.auth_url if credentials else auth_url or "").rstrip("/")
        self.interface = interface
        self.region = region
        self.http = http or httpx.Client(timeout=DEFAULT_TIMEOUT)
        self._lock = threading.Lock()
        self._token: TokenInfo | None = None
        self._given_token = token

    # -- the token ---------------------------------------------------------------------

    def token_info(self) -> TokenInfo:
        with self._lock:
            now = datetime.now(UTC)
            if self._token is None or self._token.expires_at - _RENEW_MARGIN <= now:
                self._token = self._authenticate()
            return self._token

    @property
    def token(self) -> str:
        return self.token_info().token

    def _authenticate(self) -> TokenInfo:
        if self.credentials is None and self._catalog_from is not None:
            assert self._given_token is not None
            source = self._catalog_from.token_info().body
            return TokenInfo(
                self._given_token,
                {"catalog": source.get("catalog", []), "expires_at": source["expires_at"]},
            )
        if self.credentials is None:
            assert self._given_token is not None
            # A token handed to us: validate it against itself to learn its catalog.
            response = self._send(
                "GET",
                f"{self.auth_url}/auth/tokens",
                "identity",
                headers={"X-Auth-Token": self._given_token, "X-Subject-Token": self._given_token},
            )
            raise_for_status(response, "identity")
            return TokenInfo(self._given_token, response.json()["token"])
        response = self._send(
            "POST",
            f"{self.auth_url}/auth/tokens",
            "identity",
            json=password_auth_body(self.credentials),
        )
        raise_for_status(response, "identity")
        return TokenInfo(response.headers["X-Subject-Token"], response.json()["token"])

    def acting_as(self, token: str) -> Session:
        """A session sending ``token`` (a user's), with this session's endpoints and pool."""
        return Session(
            token=token,
            auth_url=self.auth_url,
            interface=self.interface,
            region=self.region,
            http=self.http,
            catalog_from=self,
        )

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    # -- the catalog ---------------------------------------------------------------------

    def endpoint(self, service_type: str) -> str:
        """The URL of ``service_type`` in the token's catalog, for this session's interface."""
        for service in self.token_info().body.get("catalog", []):
            if service.get("type") != service_type:
                continue
            for ep in service.get("endpoints", []):
                if ep.get("interface") != self.interface:
                    continue
                if self.region and ep.get("region_id", ep.get("region")) != self.region:
                    continue
                return str(ep["url"]).rstrip("/")
        raise LookupError(f"no {self.interface} {service_type!r} endpoint in the catalog")

    # -- requests -------------------------------------------------------------------------

    def request(
        self,
        service_type: str,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        unversioned: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send an authenticated request to a catalog service; raise a typed error on failure.
        ``unversioned``: ``path`` is from the service's root, not its catalog URL's version."""
        endpoint = self.endpoint(service_type)
        if unversioned:
            endpoint = _VERSION_SUFFIX.sub("", endpoint)
        url = f"{endpoint}/{path.lstrip('/')}"
        service = service_name(service_type)
        response = self._send(
            method, url, service, headers={**(headers or {}), "X-Auth-Token": self.token}, **kwargs
        )
        if response.status_code == 401 and self.credentials is not None:
            # The token was revoked or the service restarted with new keys: once more, fresh.
            self.invalidate()
            response = self._send(
                method,
                url,
                service,
                headers={**(headers or {}), "X-Auth-Token": self.token},
                **kwargs,
            )
        raise_for_status(response, service)
        return response

    @contextmanager
    def stream(
        self,
        service_type: str,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Iterator[httpx.Response]:
        """Like ``request``, but the body is read as it arrives (``iter_bytes``), never whole."""
        url = f"{self.endpoint(service_type)}/{path.lstrip('/')}"
        service = service_name(service_type)
        try:
            with self.http.stream(
                method, url, headers={**(headers or {}), "X-Auth-Token": self.token}, **kwargs
            ) as response:
                if not response.is_success:
                    response.read()
                    raise_for_status(response, service)
                yield response
        except httpx.TransportError as exc:
            raise _unreachable(service, method, url, exc) from exc

    def _send(self, method: str, url: str, service: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise _unreachable(service, method, url, exc) from exc

    def close(self) -> None:
        self.http.close()


def _unreachable(
    service: str, method: str, url: str, exc: httpx.TransportError
) -> ConnectionFailed:
    return ConnectionFailed(
        f"The {service} service could not be reached: {method} {url}: "
        f"{exc.__class__.__name__}: {exc}"
    )
