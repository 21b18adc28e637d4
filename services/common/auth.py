"""FastAPI dependencies for a service's caller: its validated token (401 otherwise), admin.

Each request's ``X-Auth-Token`` is validated with the identity service (``GET
/v3/auth/tokens``) using the service's own token; answers are cached for a few seconds,
keyed by a hash of the token, never the token itself, and tokens are never logged.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from clients.errors import Unauthorized
from clients.tokens import AuthContext, TokenValidator, token_key
from services.common.app import ApiError

__all__ = ["Admin", "Auth", "AuthContext", "TokenValidator", "require_auth", "token_key"]


async def require_auth(request: Request) -> AuthContext:
    """FastAPI dependency: the validated caller, or 401.

    ``async``: FastAPI runs a plain ``def`` dependency in its thread pool, a hand-off that
    costs more than a cache hit; only a miss (an HTTP call to identity) goes to a thread."""
    token = request.headers.get("X-Auth-Token")
    if not token:
        raise ApiError(401, "The request you have made requires authentication.")
    validator: TokenValidator = request.app.state.token_validator
    try:
        cached = validator.cached(token)
        if cached is not None:
            return cached
        return await run_in_threadpool(validator.validate, token)
    except Unauthorized as exc:
        raise ApiError(401, exc.message) from exc


Auth = Annotated[AuthContext, Depends(require_auth)]


async def require_admin(context: Auth) -> AuthContext:
    if not context.is_admin:
        raise ApiError(403, "You are not authorized to perform the requested action.")
    return context


Admin = Annotated[AuthContext, Depends(require_admin)]
