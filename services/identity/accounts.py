"""Who a caller is: password authentication, project scope, token validation."""

from __future__ import annotations

from typing import Annotated

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import TokenOptions
from db.models.identity import (
    DEFAULT_DOMAIN_ID,
    DEFAULT_DOMAIN_NAME,
    Project,
    RevokedToken,
    User,
)
from db.session import SessionFactory
from services.common.app import ApiError
from services.common.auth import AuthContext
from services.common.state import from_state
from services.identity.errors import UNAUTHORIZED
from services.identity.schemas import AuthBody, DomainRef, ScopeBody
from services.identity.tokens import TokenError, TokenPayload, TokenProvider
from services.identity.views import roles_of, token_body


def _check_domain(ref: DomainRef | None) -> None:
    """Only the default domain exists; naming another one fails like a wrong password."""
    if ref is None:
        return
    if ref.id not in (None, DEFAULT_DOMAIN_ID) or ref.name not in (None, DEFAULT_DOMAIN_NAME):
        raise ApiError(401, UNAUTHORIZED)


class Identity:
    """Token issue and validation over the identity tables."""

    def __init__(self, settings: TokenOptions, sessions: SessionFactory) -> None:
        self.tokens = TokenProvider(
            settings.token_key.get_secret_value(), settings.token_ttl_seconds
        )
        self.sessions = sessions
        self.hasher = PasswordHasher()

    def authenticate(self, session: Session, body: AuthBody) -> tuple[str, TokenPayload]:
        methods = body.identity.methods
        if methods == ["token"] and body.identity.token is not None:
            return self._rescope(session, body.identity.token.id, body.scope)
        if methods != ["password"] or body.identity.password is None:
            raise ApiError(401, "Only the password and token authentication methods are supported.")
        ref = body.identity.password.user
        _check_domain(ref.domain)
        if ref.id:
            user = session.get(User, ref.id)
        elif ref.name:
            user = session.scalar(
                select(User).where(User.name == ref.name, User.domain_id == DEFAULT_DOMAIN_ID)
            )
        else:
            raise ApiError(400, "The user must be named by id or by name and domain.")
        if user is None or not user.enabled or not self._password_ok(user, ref.password):
            raise ApiError(401, UNAUTHORIZED)
        project_id = self._scope(session, user, body.scope)
        return self.tokens.issue(user.id, project_id, ("password",))

    def _rescope(
        self, session: Session, token: str, scope: ScopeBody | None
    ) -> tuple[str, TokenPayload]:
        """Keystone's ``token`` method: a new token for the same user, perhaps another
        scope, expiring when the original does."""
        # Keystone answers a bad, expired or revoked token here with 404, as validation does.
        original = self.validate(session, token)
        user = session.get(User, original.user_id)
        assert user is not None  # validate() checked
        project_id = self._scope(session, user, scope)
        methods = tuple(dict.fromkeys((*original.methods, "token")))
        return self.tokens.issue(user.id, project_id, methods, rescoped=original)

    def _password_ok(self, user: User, password: str) -> bool:
        try:
            return self.hasher.verify(user.password_hash, password)
        except (VerifyMismatchError, InvalidHashError):
            return False

    def _scope(self, session: Session, user: User, scope: ScopeBody | None) -> str:
        if scope is not None and scope.domain is not None and scope.project is None:
            # Domain roles are not offered, so no user may scope to a domain.
            raise ApiError(401, UNAUTHORIZED)
        if scope is None or scope.project is None:
            # Keystone scopes to the default project only where the user has a role there;
            # otherwise the token is unscoped.
            default = user.default_project_id
            if default and roles_of(session, user.id, default):
                return default
            return ""
        ref = scope.project
        _check_domain(ref.domain)
        if ref.id:
            project = session.get(Project, ref.id)
        elif ref.name:
            project = session.scalar(
                select(Project).where(
                    Project.name == ref.name, Project.domain_id == DEFAULT_DOMAIN_ID
                )
            )
        else:
            raise ApiError(400, "The project must be named by id or by name and domain.")
        if project is None or not project.enabled or not roles_of(session, user.id, project.id):
            raise ApiError(401, UNAUTHORIZED)
        return project.id

    def validate(self, session: Session, token: str) -> TokenPayload:
        try:
            payload = self.tokens.unpack(token)
        except TokenError as exc:
            raise ApiError(404, f"Could not find token: {exc}") from exc
        if session.get(RevokedToken, payload.audit_id) is not None:
            raise ApiError(404, "Could not find token: the token has been revoked.")
        user = session.get(User, payload.user_id)
        if user is None or not user.enabled:
            raise ApiError(404, "Could not find token: its user is gone or disabled.")
        if payload.project_id:
            project = session.get(Project, payload.project_id)
            if project is None or not project.enabled:
                raise ApiError(404, "Could not find token: its project is gone or disabled.")
        return payload

    def context(self, token: str) -> AuthContext:
        """Validate ``token`` for this service's own endpoints."""
        with self.sessions.begin() as session:
            try:
                payload = self.validate(session, token)
            except ApiError as exc:
                raise ApiError(401, UNAUTHORIZED) from exc
            return AuthContext.from_token_body(
                token, token_body(session, payload, with_catalog=False)
            )


# FastAPI dependency: the service's Identity (``app.state.identity``).
Keystone = Annotated[Identity, from_state("identity")]
