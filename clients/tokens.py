"""Token validation with a short cache, as keystonemiddleware does it.

A token is validated with the identity service (``GET /v3/auth/tokens``) using the caller's
own service token; answers are cached for a few seconds, keyed by a hash of the token, never
the token itself, and tokens are never logged. Services (every request) and the boot's
authenticate step use it.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from clients.errors import NotFound, Unauthorized
from clients.session import Session, parse_time

UNAUTHORIZED = "The request you have made requires authentication."

# Validations kept at most; an attacker spraying random tokens must not grow memory.
_CACHE_MAX = 10_000


@dataclass(frozen=True)
class AuthContext:
    """The caller of a request, as identity vouched for its token."""

    user_id: str
    user_name: str
    project_id: str
    project_name: str
    roles: tuple[str, ...]
    expires_at: str
    token: str = field(repr=False)
    # A domain-scoped token's domain; its project_id is then "".
    domain_id: str = ""

    @property
    def is_admin(self) -> bool:
        """The admin role on a project: a domain's admin administers that domain only,
        never the cloud (Keystone's and the services' policies)."""
        return "admin" in self.roles and bool(self.project_id)

    @classmethod
    def from_token_body(cls, token: str, body: dict[str, Any]) -> AuthContext:
        project = body.get("project") or {}
        return cls(
            user_id=body["user"]["id"],
            user_name=body["user"]["name"],
            project_id=project.get("id", ""),
            project_name=project.get("name", ""),
            roles=tuple(r["name"] for r in body.get("roles", [])),
            expires_at=body["expires_at"],
            token=token,
            domain_id=(body.get("domain") or {}).get("id", ""),
        )


def token_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _unexpired(context: AuthContext) -> AuthContext:
    if parse_time(context.expires_at) <= datetime.now(UTC):
        raise Unauthorized(401, UNAUTHORIZED)
    return context


class TokenValidator:
    """Validates tokens with identity; ``validate_locally`` replaces HTTP inside identity."""

    def __init__(
        self,
        service_session: Session | None,
        cache_seconds: float = 5.0,
        validate_locally: Callable[[str], AuthContext] | None = None,
    ) -> None:
        self._session = service_session
        self._local = validate_locally
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, AuthContext]] = {}
        self._lock = threading.Lock()

    def validate(self, token: str) -> AuthContext:
        cached = self.cached(token)
        if cached is not None:
            return cached
        now = time.monotonic()
        context = self._fetch(token)
        with self._lock:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[token_key(token)] = (now + self._cache_seconds, context)
        return _unexpired(context)

    def cached(self, token: str) -> AuthContext | None:
        """The caller from a validation still in the cache, or None: no I/O, so a service's
        event loop can ask it before handing a miss to a thread."""
        with self._lock:
            hit = self._cache.get(token_key(token))
        if hit is None or hit[0] <= time.monotonic():
            return None
        return _unexpired(hit[1])

    def _fetch(self, token: str) -> AuthContext:
        if self._local is not None:
            return self._local(token)
        assert self._session is not None
        try:
            response = self._session.request(
                "identity",
                "GET",
                "auth/tokens",
                headers={"X-Subject-Token": token},
                params={"nocatalog": "1"},
            )
        except (NotFound, Unauthorized) as exc:
            raise Unauthorized(401, UNAUTHORIZED) from exc
        return AuthContext.from_token_body(token, response.json()["token"])
