"""Who a caller is: password authentication, project scope, token validation."""

from __future__ import annotations

from typing import Annotated

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import TokenOptions
from db.models.identity import Domain, Project, RevokedToken, User
from db.session import SessionFactory
from services.common.app import ApiError
from services.common.auth import AuthContext
from services.common.state import from_state
from services.identity.effective import domain_roles_of, roles_of
from services.identity.errors import UNAUTHORIZED
from services.identity.lookup import domain_enabled, find_domain
from services.identity.schemas import AuthBody, DomainRef, ProjectRef, ScopeBody
from services.identity.tokens import TokenError, TokenPayload, TokenProvider
from services.identity.views import token_body

# A token's scope: (project id, domain id), at most one of them set.
Scope = tuple[str, str]


def _enabled_domain(session: Session, ref: DomainRef | None) -> Domain:
    """The enabled domain ``ref`` names; an unknown or disabled one fails like a wrong
    password, as Keystone's authentication does."""
    domain = find_domain(session, ref)
    if domain is None or not domain.enabled:
        raise ApiError(401, UNAUTHORIZED)
    return domain


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
        if ref.id:
            user = session.get(User, ref.id)
        elif ref.name:
            domain = _enabled_domain(session, ref.domain)
            user = session.scalar(
                select(User).where(User.name == ref.name, User.domain_id == domain.id)
            )
        else:
            raise ApiError(400, "The user must be named by id or by name and domain.")
        if user is None or not user.enabled or not self._password_ok(user, ref.password):
            raise ApiError(401, UNAUTHORIZED)
        if not domain_enabled(session, user.domain_id):
            raise ApiError(401, UNAUTHORIZED)
        project_id, domain_id = self._scope(session, user, body.scope)
        return self.tokens.issue(user.id, project_id, ("password",), domain_id=domain_id)

    def _rescope(
        self, session: Session, token: str, scope: ScopeBody | None
    ) -> tuple[str, TokenPayload]:
        """Keystone's ``token`` method: a new token for the same user, perhaps another
        scope, expiring when the original does."""
        # Keystone answers a bad, expired or revoked token here with 404, as validation does.
        original = self.validate(session, token)
        user = session.get(User, original.user_id)
        assert user is not None  # validate() checked
        project_id, domain_id = self._scope(session, user, scope)
        methods = tuple(dict.fromkeys((*original.methods, "token")))
        return self.tokens.issue(
            user.id, project_id, methods, rescoped=original, domain_id=domain_id
        )

    def _password_ok(self, user: User, password: str) -> bool:
        try:
            return self.hasher.verify(user.password_hash, password)
        except (VerifyMismatchError, InvalidHashError):
            return False

    def _scope(self, session: Session, user: User, scope: ScopeBody | None) -> Scope:
        if scope is not None and scope.project is not None:
            return self._project_scope(session, user, scope.project), ""
        if scope is not None and scope.domain is not None:
            domain = _enabled_domain(session, scope.domain)
            if not domain_roles_of(session, user.id, domain.id):
                raise ApiError(401, UNAUTHORIZED)
            return "", domain.id
        # Keystone scopes to the default project only where the user has a role there;
        # otherwise the token is unscoped.
        default = user.default_project_id
        if default and roles_of(session, user.id, default):
            return default, ""
        return "", ""

    def _project_scope(self, session: Session, user: User, ref: ProjectRef) -> str:
        if ref.id:
            project = session.get(Project, ref.id)
        elif ref.name:
            domain = _enabled_domain(session, ref.domain)
            project = session.scalar(
                select(Project).where(Project.name == ref.name, Project.domain_id == domain.id)
            )
        else:
            raise ApiError(400, "The project must be named by id or by name and domain.")
        if (
            project is None
            or not project.enabled
            or not domain_enabled(session, project.domain_id)
            or not roles_of(session, user.id, project.id)
        ):
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
        if user is None or not user.enabled or not domain_enabled(session, user.domain_id):
            raise ApiError(404, "Could not find token: its user is gone or disabled.")
        if payload.project_id:
            project = session.get(Project, payload.project_id)
            if (
                project is None
                or not project.enabled
                or not domain_enabled(session, project.domain_id)
            ):
                raise ApiError(404, "Could not find token: its project is gone or disabled.")
        if payload.domain_id and not domain_enabled(session, payload.domain_id):
            raise ApiError(404, "Could not find token: its domain is gone or disabled.")
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
