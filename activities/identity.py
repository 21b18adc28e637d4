"""Step 1: validate the caller's token with the identity service (seed steps 4-5)."""

from __future__ import annotations

from temporalio import activity

from bootflow import activity_defs as act
from bootflow.errors import ErrorType, request_error
from bootflow.messages import AuthenticateInput, RequestContext
from clients.errors import NotFound, Unauthorized
from clients.session import Session


class IdentityActivities:
    def __init__(self, service: Session) -> None:
        self.service = service

    @activity.defn(name=act.AUTHENTICATE.name)
    def authenticate(self, request: AuthenticateInput) -> RequestContext:
        """Who the token belongs to, as identity says now. Read-only, so safe to repeat."""
        try:
            response = self.service.request(
                "identity",
                "GET",
                "auth/tokens",
                headers={"X-Subject-Token": request.token},
                params={"nocatalog": "1"},
            )
        except (NotFound, Unauthorized) as exc:
            raise request_error(
                ErrorType.UNAUTHORIZED,
                "The token is invalid, expired or revoked; authenticate again.",
            ) from exc
        token = response.json()["token"]
        if "project" not in token:
            raise request_error(
                ErrorType.FORBIDDEN, "The token is not scoped to a project; name one."
            )
        return RequestContext(
            user_id=token["user"]["id"],
            user_name=token["user"]["name"],
            project_id=token["project"]["id"],
            project_name=token["project"]["name"],
            roles=[r["name"] for r in token.get("roles", [])],
            expires_at=token["expires_at"],
        )
