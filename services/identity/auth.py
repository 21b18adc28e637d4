"""``/v3/auth``: issue, validate, check and revoke tokens; the caller's catalog."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Header, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models.identity import RevokedToken
from services.common.app import ApiError
from services.common.app import router as common_router
from services.common.auth import AuthContext, Token
from services.common.db import DbSession
from services.identity.accounts import Identity, Keystone
from services.identity.errors import forbidden
from services.identity.schemas import AuthRequest
from services.identity.tokens import TokenPayload
from services.identity.views import base_url, catalog, token_body

router = common_router(prefix="/v3/auth")
SubjectToken = Annotated[str | None, Header()]
NoCatalog = Annotated[str | None, Query()]


@router.post("/tokens", status_code=201)
def issue_token(
    body: AuthRequest,
    response: Response,
    session: DbSession,
    identity: Keystone,
    nocatalog: NoCatalog = None,
) -> dict[str, Any]:
    token, payload = identity.authenticate(session, body.auth)
    response.headers["X-Subject-Token"] = token
    return {"token": token_body(session, payload, with_catalog=nocatalog is None)}


def _subject(
    identity: Identity, session: Session, caller: AuthContext, subject: str | None
) -> TokenPayload:
    if not subject:
        raise ApiError(400, "X-Subject-Token header is required.")
    payload = identity.validate(session, subject)
    # Keystone's policy: admins and services validate any token, others only their own.
    if not caller.is_admin and payload.user_id != caller.user_id:
        raise forbidden()
    return payload


@router.get("/tokens")
def validate_token(
    response: Response,
    caller: Token,
    session: DbSession,
    identity: Keystone,
    x_subject_token: SubjectToken = None,
    nocatalog: NoCatalog = None,
) -> dict[str, Any]:
    payload = _subject(identity, session, caller, x_subject_token)
    assert x_subject_token is not None
    response.headers["X-Subject-Token"] = x_subject_token
    return {"token": token_body(session, payload, with_catalog=nocatalog is None)}


@router.head("/tokens")
def check_token(
    caller: Token, session: DbSession, identity: Keystone, x_subject_token: SubjectToken = None
) -> Response:
    _subject(identity, session, caller, x_subject_token)
    return Response(status_code=200)


@router.delete("/tokens", status_code=204)
def revoke_token(
    caller: Token, session: DbSession, identity: Keystone, x_subject_token: SubjectToken = None
) -> Response:
    payload = _subject(identity, session, caller, x_subject_token)
    if session.get(RevokedToken, payload.audit_id) is None:
        session.add(RevokedToken(audit_id=payload.audit_id, expires_at=payload.expires_at))
    # Forget revocations of tokens that have expired anyway, so the table stays small.
    for old in session.scalars(
        select(RevokedToken).where(RevokedToken.expires_at < datetime.now(UTC))
    ):
        session.delete(old)
    return Response(status_code=204)


@router.get("/catalog")
def get_catalog(caller: Token, session: DbSession, request: Request) -> dict[str, Any]:
    if not caller.project_id:
        # Keystone's own answer: the catalog belongs to a project scope.
        raise ApiError(403, "A project-scoped token is required to produce a service catalog.")
    return {"catalog": catalog(session), "links": {"self": f"{base_url(request)}/v3/auth/catalog"}}
