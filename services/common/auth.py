"""FastAPI dependencies for a service's caller: its validated token (401 otherwise), admin.

Each request's ``X-Auth-Token`` is validated with the identity service (``GET
/v3/auth/tokens``) using the service's own token; answers are cached for a few seconds,
keyed by a hash of the token, never the token itself, and tokens are never logged.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from clients.errors import Unauthorized
from clients.tokens import AuthContext, TokenValidator, token_key
from services.common.app import ApiError

__all__ = ["Admin", "Auth", "AuthContext", "TokenValidator", "require_auth", "token_key"]


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
    try:
        return validator.validate(token)
    except Unauthorized as exc:
        raise ApiError(401, exc.message) from exc


Auth = Annotated[AuthContext, Depends(require_auth)]


def require_admin(context: Auth) -> AuthContext:
    if not context.is_admin:
        raise ApiError(403, "You are not authorized to perform the requested action.")
    return context


Admin = Annotated[AuthContext, Depends(require_admin)]
