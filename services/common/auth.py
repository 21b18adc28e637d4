"""FastAPI dependencies for a service's caller: its validated token (401 otherwise), admin.

Each request's ``X-Auth-Token`` is validated with the identity service (``GET
/v3/auth/tokens``) using the service's own token; answers are cached for a few seconds,
keyed by a hash of the token, never the token itself, and tokens are never logged.

Outside identity a token must be scoped to a project (``Auth``): an unscoped token (one
with no project, as Keystone issues to a user with no role on a default project) acts in
no project, so it may neither read nor create project resources (401); a domain-scoped one
is refused by policy (403), as Nova's, Glance's, Neutron's and Cinder's project-scoped
rules refuse it. Identity's own routes take
any valid token (``Token``), as Keystone's do.

Identity down or restarting is a 503 (as keystonemiddleware answers when it cannot reach
Keystone), never a 401 nor a 500: the token may be fine.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from clients.errors import ClientError, Unauthorized, transient
from clients.tokens import UNAUTHORIZED, AuthContext, TokenValidator, token_key
from services.common.app import ApiError, unavailable

__all__ = [
    "Admin",
    "Auth",
    "AuthContext",
    "Token",
    "TokenValidator",
    "require_auth",
    "token_key",
    "validated",
]

UNSCOPED = f"{UNAUTHORIZED} This token is scoped to no project: authenticate with a project."
DOMAIN_SCOPED = (
    "Policy doesn't allow a domain-scoped token here: this service's resources belong to "
    "projects, so authenticate with a project."
)


async def validated(validator: TokenValidator, token: str | None) -> AuthContext:
    """The caller ``token`` stands for, or Unauthorized.

    ``async``: a cache hit answers on the event loop (a thread hand-off costs more than
    the hit); only a miss (an HTTP call to identity) goes to a thread."""
    if not token:
        raise Unauthorized(401, UNAUTHORIZED)
    cached = validator.cached(token)
    if cached is not None:
        return cached
    return await run_in_threadpool(validator.validate, token)


async def require_token(request: Request) -> AuthContext:
    """FastAPI dependency: the caller of any valid token, scoped or not, or 401."""
    validator: TokenValidator = request.app.state.token_validator
    try:
        return await validated(validator, request.headers.get("X-Auth-Token"))
    except Unauthorized as exc:
        raise ApiError(401, exc.message) from exc
    except ClientError as exc:
        if not transient(exc):
            raise
        raise unavailable(f"The token could not be validated: {exc}") from exc


Token = Annotated[AuthContext, Depends(require_token)]


async def require_auth(context: Token) -> AuthContext:
    """FastAPI dependency: the caller of a project-scoped token; a domain-scoped token is
    refused by policy (403, as the services' project-scoped rules refuse it), an unscoped
    one is 401."""
    if not context.project_id:
        if context.domain_id:
            raise ApiError(403, DOMAIN_SCOPED)
        raise ApiError(401, UNSCOPED)
    return context


Auth = Annotated[AuthContext, Depends(require_auth)]


async def require_admin(context: Token) -> AuthContext:
    if not context.is_admin:
        raise ApiError(403, "You are not authorized to perform the requested action.")
    return context


Admin = Annotated[AuthContext, Depends(require_admin)]
