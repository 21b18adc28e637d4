"""Step 1: validate the caller's token with the identity service (seed steps 4-5)."""

from __future__ import annotations

from temporalio import activity

from clients.errors import Unauthorized
from clients.tokens import TokenValidator
from core import activity_defs as act
from core.errors import ErrorType, request_error
from core.messages import AuthenticateInput, RequestContext


class IdentityActivities:
    def __init__(self, tokens: TokenValidator) -> None:
        # Validations are cached a few seconds (token_cache_seconds), as every service's
        # are: a client booting several servers with one token asks identity once.
        self.tokens = tokens

    @activity.defn(name=act.AUTHENTICATE.name)
    def authenticate(self, request: AuthenticateInput) -> RequestContext:
        """Who the token belongs to, as identity says. Read-only, so safe to repeat."""
        try:
            caller = self.tokens.validate(request.token)
        except Unauthorized as exc:
            raise request_error(
                ErrorType.UNAUTHORIZED,
                "The token is invalid, expired or revoked; authenticate again.",
            ) from exc
        if not caller.project_id:
            raise request_error(
                ErrorType.FORBIDDEN, "The token is not scoped to a project; name one."
            )
        return RequestContext(
            user_id=caller.user_id,
            user_name=caller.user_name,
            project_id=caller.project_id,
            project_name=caller.project_name,
            roles=list(caller.roles),
            expires_at=caller.expires_at,
        )
