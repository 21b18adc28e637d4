"""Token validation for services, as keystonemiddleware does it.

Each request's ``X-Auth-Token`` is validated with the identity service (``GET
/v3/auth/tokens``) using the service's own token; answers are cached for a few seconds,
keyed by a hash of the token, never the token itself, and tokens are never logged.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request

from clients.errors import NotFound, Unauthorized
from clients.session import Session, parse_time
from services.common.app import ApiError

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

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

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
        )


def token_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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
        key = token_key(token)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit and hit[0] > now:
            context = hit[1]
        else:
            context = self._fetch(token)
            with self._lock:
                if len(self._cache) >= _CACHE_MAX:
                    self._cache.clear()
                self._cache[key] = (now + self._cache_seconds, context)
        if parse_time(context.expires_at) <= datetime.now(UTC):
            raise ApiError(401, "The request you have made requires authentication.")
        return context

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
            raise ApiError(401, "The request you have made requires authentication.") from exc
        return AuthContext.from_token_body(token, response.json()["token"])


def _validator(request: Request) -> TokenValidator:
    validator: TokenValidator = request.app.state.token_validator
    return validator


def require_auth(
    request: Request, validator: Annotated[TokenValidator, Depends(_validator)]
) -> AuthContext:
    """FastAPI dependency: the validated caller, or 401."""
    token = request.headers.get("X-Auth-Token")
    if not token:
        raise ApiError(401, "The request you have made requires authentication.")
    return validator.validate(token)


Auth = Annotated[AuthContext, Depends(require_auth)]


def require_admin(context: Auth) -> AuthContext:
    if not context.is_admin:
        raise ApiError(403, "You are not authorized to perform the requested action.")
    return context


Admin = Annotated[AuthContext, Depends(require_admin)]
