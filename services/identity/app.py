"""The identity service: Keystone v3's token, project, user and role API subset."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from fastapi import FastAPI, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.config import Settings
from db.models.identity import (
    DEFAULT_DOMAIN_ID,
    DEFAULT_DOMAIN_NAME,
    CatalogEndpoint,
    Project,
    RevokedToken,
    Role,
    RoleAssignment,
    User,
)
from db.session import SessionFactory
from services.common.app import ApiError, create_app
from services.common.auth import Admin, AuthContext, Token, TokenValidator
from services.common.db import DbSession
from services.identity.tokens import TokenError, TokenPayload, TokenProvider, isotime

API_VERSION = "v3.14"
_UNAUTHORIZED = "The request you have made requires authentication."
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    413: "Request Entity Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def keystone_error(status: int, message: str, kind: str | None) -> dict[str, Any]:
    return {
        "error": {"code": status, "message": message, "title": kind or _TITLES.get(status, "Error")}
    }


# --- request bodies (Keystone's JSON, validated; anything malformed is a 400) -----------------


class DomainRef(BaseModel):
    id: str | None = None
    name: str | None = None


class UserRef(BaseModel):
    id: str | None = None
    name: str | None = None
    domain: DomainRef | None = None
    password: str


class PasswordMethod(BaseModel):
    user: UserRef


class IdentityBody(BaseModel):
    methods: list[str]
    password: PasswordMethod | None = None


class ProjectRef(BaseModel):
    id: str | None = None
    name: str | None = None
    domain: DomainRef | None = None


class ScopeBody(BaseModel):
    project: ProjectRef | None = None


class AuthBody(BaseModel):
    identity: IdentityBody
    scope: ScopeBody | None = None


class AuthRequest(BaseModel):
    auth: AuthBody


class NewProject(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    description: str = ""
    domain_id: str = DEFAULT_DOMAIN_ID
    enabled: bool = True


class NewProjectRequest(BaseModel):
    project: NewProject


class NewUser(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    password: str = Field(min_length=1)
    domain_id: str = DEFAULT_DOMAIN_ID
    default_project_id: str | None = None
    enabled: bool = True


class NewUserRequest(BaseModel):
    user: NewUser


# --- the service ---------------------------------------------------------------------------


def _domain() -> dict[str, str]:
    return {"id": DEFAULT_DOMAIN_ID, "name": DEFAULT_DOMAIN_NAME}


def _check_domain(ref: DomainRef | None) -> None:
    """Only the default domain exists; naming another one fails like a wrong password."""
    if ref is None:
        return
    if ref.id not in (None, DEFAULT_DOMAIN_ID) or ref.name not in (None, DEFAULT_DOMAIN_NAME):
        raise ApiError(401, _UNAUTHORIZED)


class Identity:
    """Token issue and validation over the identity tables."""

    def __init__(self, settings: Settings, sessions: SessionFactory) -> None:
        self.tokens = TokenProvider(
            settings.token_key.get_secret_value(), settings.token_ttl_seconds
        )
        self.sessions = sessions
        self.hasher = PasswordHasher()

    def authenticate(self, session: Session, body: AuthBody) -> tuple[str, TokenPayload]:
        if body.identity.methods != ["password"] or body.identity.password is None:
            raise ApiError(401, "Only the password authentication method is supported.")
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
            raise ApiError(401, _UNAUTHORIZED)
        project_id = self._scope(session, user, body.scope)
        return self.tokens.issue(user.id, project_id, ("password",))

    def _password_ok(self, user: User, password: str) -> bool:
        try:
            return self.hasher.verify(user.password_hash, password)
        except (VerifyMismatchError, InvalidHashError):
            return False

    def _scope(self, session: Session, user: User, scope: ScopeBody | None) -> str:
        if scope is None or scope.project is None:
            # Keystone scopes to the default project only where the user has a role there;
            # otherwise the token is unscoped.
            default = user.default_project_id
            if default and _roles(session, user.id, default):
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
        if project is None or not project.enabled or not _roles(session, user.id, project.id):
            raise ApiError(401, _UNAUTHORIZED)
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
        return payload

    def context(self, token: str) -> AuthContext:
        """Validate ``token`` for this service's own endpoints."""
        with self.sessions.begin() as session:
            try:
                payload = self.validate(session, token)
            except ApiError as exc:
                raise ApiError(401, _UNAUTHORIZED) from exc
            return AuthContext.from_token_body(
                token, token_body(session, payload, with_catalog=False)
            )


def _roles(session: Session, user_id: str, project_id: str) -> list[Role]:
    return list(
        session.scalars(
            select(Role)
            .join(RoleAssignment, RoleAssignment.role_id == Role.id)
            .where(RoleAssignment.user_id == user_id, RoleAssignment.project_id == project_id)
            .order_by(Role.name)
        )
    )


def catalog(session: Session) -> list[dict[str, Any]]:
    services: dict[str, dict[str, Any]] = {}
    for ep in session.scalars(select(CatalogEndpoint).order_by(CatalogEndpoint.service_type)):
        entry = services.setdefault(
            ep.service_type,
            {
                "id": ep.service_id,
                "type": ep.service_type,
                "name": ep.service_name,
                "endpoints": [],
            },
        )
        entry["endpoints"].append(
            {
                "id": ep.id,
                "interface": ep.interface,
                "region": ep.region,
                "region_id": ep.region,
                "url": ep.url,
            }
        )
    return list(services.values())


def token_body(
    session: Session, payload: TokenPayload, with_catalog: bool = True
) -> dict[str, Any]:
    user = session.get(User, payload.user_id)
    assert user is not None
    body: dict[str, Any] = {
        "methods": list(payload.methods),
        "user": {
            "id": user.id,
            "name": user.name,
            "domain": _domain(),
            "password_expires_at": None,
        },
        "audit_ids": [payload.audit_id],
        "issued_at": isotime(payload.issued_at),
        "expires_at": isotime(payload.expires_at),
    }
    project = session.get(Project, payload.project_id) if payload.project_id else None
    if project is not None:
        body["project"] = {"id": project.id, "name": project.name, "domain": _domain()}
        body["is_domain"] = False
        body["roles"] = [{"id": r.id, "name": r.name} for r in _roles(session, user.id, project.id)]
        if with_catalog:
            body["catalog"] = catalog(session)
    return body


def _version(base: str) -> dict[str, Any]:
    return {
        "id": API_VERSION,
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": f"{base}/v3/"}],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
        ],
    }


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _project_view(request: Request, p: Project) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "domain_id": p.domain_id,
        "description": p.description,
        "enabled": p.enabled,
        "is_domain": False,
        "parent_id": p.domain_id,
        "links": {"self": f"{_base(request)}/v3/projects/{p.id}"},
    }


def _user_view(request: Request, u: User) -> dict[str, Any]:
    return {
        "id": u.id,
        "name": u.name,
        "domain_id": u.domain_id,
        "enabled": u.enabled,
        "default_project_id": u.default_project_id,
        "password_expires_at": None,
        "links": {"self": f"{_base(request)}/v3/users/{u.id}"},
    }


def create_identity_app(settings: Settings, sessions: SessionFactory) -> FastAPI:
    app = create_app("identity", keystone_error)
    identity = Identity(settings, sessions)
    app.state.sessions = sessions
    app.state.token_validator = TokenValidator(
        None, cache_seconds=0, validate_locally=identity.context
    )

    @app.get("/")
    def versions(request: Request) -> Response:
        return JSONResponse({"versions": {"values": [_version(_base(request))]}}, status_code=300)

    @app.get("/v3")
    @app.get("/v3/")
    def version(request: Request) -> dict[str, Any]:
        return {"version": _version(_base(request))}

    @app.post("/v3/auth/tokens", status_code=201)
    def issue_token(
        body: AuthRequest,
        response: Response,
        session: DbSession,
        nocatalog: Annotated[str | None, Query()] = None,
    ) -> dict[str, Any]:
        token, payload = identity.authenticate(session, body.auth)
        response.headers["X-Subject-Token"] = token
        return {"token": token_body(session, payload, with_catalog=nocatalog is None)}

    def _subject(session: Session, caller: AuthContext, subject: str | None) -> TokenPayload:
        if not subject:
            raise ApiError(400, "X-Subject-Token header is required.")
        payload = identity.validate(session, subject)
        # Keystone's policy: admins and services validate any token, others only their own.
        if not caller.is_admin and payload.user_id != caller.user_id:
            raise ApiError(403, "You are not authorized to perform the requested action.")
        return payload

    @app.get("/v3/auth/tokens")
    def validate_token(
        response: Response,
        caller: Token,
        session: DbSession,
        x_subject_token: Annotated[str | None, Header()] = None,
        nocatalog: Annotated[str | None, Query()] = None,
    ) -> dict[str, Any]:
        payload = _subject(session, caller, x_subject_token)
        assert x_subject_token is not None
        response.headers["X-Subject-Token"] = x_subject_token
        return {"token": token_body(session, payload, with_catalog=nocatalog is None)}

    @app.head("/v3/auth/tokens")
    def check_token(
        caller: Token, session: DbSession, x_subject_token: Annotated[str | None, Header()] = None
    ) -> Response:
        _subject(session, caller, x_subject_token)
        return Response(status_code=200)

    @app.delete("/v3/auth/tokens", status_code=204)
    def revoke_token(
        caller: Token, session: DbSession, x_subject_token: Annotated[str | None, Header()] = None
    ) -> Response:
        payload = _subject(session, caller, x_subject_token)
        if session.get(RevokedToken, payload.audit_id) is None:
            session.add(RevokedToken(audit_id=payload.audit_id, expires_at=payload.expires_at))
        # Forget revocations of tokens that have expired anyway, so the table stays small.
        for old in session.scalars(
            select(RevokedToken).where(RevokedToken.expires_at < datetime.now(UTC))
        ):
            session.delete(old)
        return Response(status_code=204)

    @app.get("/v3/auth/catalog")
    def get_catalog(caller: Token, session: DbSession, request: Request) -> dict[str, Any]:
        if not caller.project_id:
            # Keystone's own answer: the catalog belongs to a project scope.
            raise ApiError(403, "A project-scoped token is required to produce a service catalog.")
        return {"catalog": catalog(session), "links": {"self": f"{_base(request)}/v3/auth/catalog"}}

    # -- admin: projects, users, roles ------------------------------------------------------

    @app.get("/v3/projects")
    def list_projects(
        _admin: Admin, session: DbSession, request: Request, name: str | None = None
    ) -> dict[str, Any]:
        query = select(Project).order_by(Project.name)
        if name is not None:
            query = query.where(Project.name == name)
        return {
            "projects": [_project_view(request, p) for p in session.scalars(query)],
            "links": {"self": f"{_base(request)}/v3/projects", "next": None, "previous": None},
        }

    @app.post("/v3/projects", status_code=201)
    def create_project(
        body: NewProjectRequest, _admin: Admin, session: DbSession, request: Request
    ) -> dict[str, Any]:
        if body.project.domain_id != DEFAULT_DOMAIN_ID:
            raise ApiError(400, f"Domain {body.project.domain_id} does not exist; use 'default'.")
        project = Project(
            name=body.project.name,
            description=body.project.description,
            enabled=body.project.enabled,
        )
        session.add(project)
        _flush_unique(session, f"A project named {body.project.name!r} already exists.")
        return {"project": _project_view(request, project)}

    @app.get("/v3/projects/{project_id}")
    def show_project(
        project_id: str, caller: Token, session: DbSession, request: Request
    ) -> dict[str, Any]:
        project = session.get(Project, project_id)
        if project is None or (not caller.is_admin and caller.project_id != project_id):
            raise ApiError(404, f"Could not find project: {project_id}.")
        return {"project": _project_view(request, project)}

    @app.get("/v3/users")
    def list_users(
        _admin: Admin, session: DbSession, request: Request, name: str | None = None
    ) -> dict[str, Any]:
        query = select(User).order_by(User.name)
        if name is not None:
            query = query.where(User.name == name)
        return {
            "users": [_user_view(request, u) for u in session.scalars(query)],
            "links": {"self": f"{_base(request)}/v3/users", "next": None, "previous": None},
        }

    @app.post("/v3/users", status_code=201)
    def create_user(
        body: NewUserRequest, _admin: Admin, session: DbSession, request: Request
    ) -> dict[str, Any]:
        new = body.user
        if new.domain_id != DEFAULT_DOMAIN_ID:
            raise ApiError(400, f"Domain {new.domain_id} does not exist; use 'default'.")
        if new.default_project_id and session.get(Project, new.default_project_id) is None:
            raise ApiError(400, f"Project {new.default_project_id} does not exist.")
        user = User(
            name=new.name,
            password_hash=identity.hasher.hash(new.password),
            enabled=new.enabled,
            default_project_id=new.default_project_id,
        )
        session.add(user)
        _flush_unique(session, f"A user named {new.name!r} already exists.")
        return {"user": _user_view(request, user)}

    @app.get("/v3/users/{user_id}")
    def show_user(
        user_id: str, caller: Token, session: DbSession, request: Request
    ) -> dict[str, Any]:
        user = session.get(User, user_id)
        if user is None or (not caller.is_admin and caller.user_id != user_id):
            raise ApiError(404, f"Could not find user: {user_id}.")
        return {"user": _user_view(request, user)}

    @app.get("/v3/users/{user_id}/projects")
    def user_projects(
        user_id: str, caller: Token, session: DbSession, request: Request
    ) -> dict[str, Any]:
        if not caller.is_admin and caller.user_id != user_id:
            raise ApiError(404, f"Could not find user: {user_id}.")
        projects = session.scalars(
            select(Project)
            .join(RoleAssignment, RoleAssignment.project_id == Project.id)
            .where(RoleAssignment.user_id == user_id)
            .distinct()
            .order_by(Project.name)
        )
        return {
            "projects": [_project_view(request, p) for p in projects],
            "links": {"self": f"{_base(request)}/v3/users/{user_id}/projects"},
        }

    @app.get("/v3/roles")
    def list_roles(_caller: Token, session: DbSession, request: Request) -> dict[str, Any]:
        return {
            "roles": [
                {
                    "id": r.id,
                    "name": r.name,
                    "domain_id": None,
                    "links": {"self": f"{_base(request)}/v3/roles/{r.id}"},
                }
                for r in session.scalars(select(Role).order_by(Role.name))
            ]
        }

    @app.put("/v3/projects/{project_id}/users/{user_id}/roles/{role_id}", status_code=204)
    def assign_role(
        project_id: str, user_id: str, role_id: str, _admin: Admin, session: DbSession
    ) -> Response:
        for model, key, what in (
            (Project, project_id, "project"),
            (User, user_id, "user"),
            (Role, role_id, "role"),
        ):
            if session.get(model, key) is None:
                raise ApiError(404, f"Could not find {what}: {key}.")
        if session.get(RoleAssignment, (user_id, project_id, role_id)) is None:
            session.add(RoleAssignment(user_id=user_id, project_id=project_id, role_id=role_id))
        return Response(status_code=204)

    @app.get("/v3/role_assignments")
    def list_assignments(_admin: Admin, session: DbSession) -> dict[str, Any]:
        return {
            "role_assignments": [
                {
                    "role": {"id": a.role_id},
                    "user": {"id": a.user_id},
                    "scope": {"project": {"id": a.project_id}},
                }
                for a in session.scalars(select(RoleAssignment))
            ]
        }

    return app


def _flush_unique(session: Session, message: str) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        raise ApiError(409, message) from exc
