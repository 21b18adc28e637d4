"""``os-keypairs``: a user's key pairs, as Nova keeps them.

A key pair is its user's (names are unique per user; another user of the same project sees
none of them); admins reach another user's with ``user_id`` (2.10). Without a public key
Nova generates the pair and returns its private key once, never stored (before 2.92; from
2.92 a public key is required). The quota is per user: ``key_pairs`` (100, Nova's default,
or the project's own limit). A server boots with one (``key_name``) and its public key goes
into the guest's config drive (``public_keys``, ``keys``).
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.messages import KeyPairSpec
from db.models.compute import KeyPair
from services.common.app import ApiError
from services.common.app import router as common_router
from services.common.db import DbSession
from services.compute import microversions as mv
from services.compute import views
from services.compute.compute_quotas import limit_of
from services.compute.context import JSON_BODY, ApiContext, Ctx
from services.compute.key_crypto import InvalidKey, fingerprint, generate
from services.compute.schemas.base import validated
from services.compute.schemas.keypairs import KEY_OWNER, KEY_TYPE, create_schema
from services.compute.validation import limit_and_marker, page_after, strict_query

KEY_PAGING: Final = mv.v("2.35")

router = common_router()


def _policy(action: str) -> ApiError:
    return ApiError(
        403, f"Policy doesn't allow os_compute_api:os-keypairs:{action} to be performed."
    )


def _owner(ctx: ApiContext, user_id: str | None, action: str) -> str:
    """The user whose key pairs a request reaches: the caller's, or (2.10, admins) another's."""
    if user_id is None or not ctx.at_least(KEY_OWNER) or user_id == ctx.caller.user_id:
        return ctx.caller.user_id
    if not ctx.is_admin:
        raise _policy(action)
    return user_id


def _query_owner(ctx: ApiContext, request: Request, allowed: set[str], action: str) -> str:
    params = request.query_params
    if ctx.at_least(mv.STRICT_QUERY):
        strict_query(params, allowed)
    return _owner(ctx, params.get("user_id"), action)


def _brief(ctx: ApiContext, key: KeyPair) -> dict[str, Any]:
    view = {"name": key.name, "public_key": key.public_key, "fingerprint": key.fingerprint}
    if ctx.at_least(KEY_TYPE):
        view["type"] = key.type
    return view


def _show_view(ctx: ApiContext, key: KeyPair) -> dict[str, Any]:
    return _brief(ctx, key) | {
        "user_id": key.user_id,
        "deleted": False,
        "created_at": views.nova_datetime(key.created_at),
        "updated_at": None,
        "deleted_at": None,
        "id": key.id,
    }


def _find(session: Session, user_id: str, name: str) -> KeyPair | None:
    return session.scalar(select(KeyPair).where(KeyPair.user_id == user_id, KeyPair.name == name))


def _get(session: Session, user_id: str, name: str) -> KeyPair:
    key = _find(session, user_id, name)
    if key is None:
        raise ApiError(404, f"Keypair {name} not found for user {user_id}")
    return key


def boot_key(session: Session, user_id: str, name: str) -> KeyPairSpec:
    """The caller's key pair a server boots with (Nova's 400 when there is none)."""
    key = _find(session, user_id, name)
    if key is None:
        raise ApiError(400, "Invalid key_name provided.")
    return KeyPairSpec(name=key.name, public_key=key.public_key, type=key.type)


def _within_quota(session: Session, project_id: str, user_id: str) -> None:
    """After the new row is flushed: 403 if the user now holds more than the quota (the
    request then rolls back). Counted under a per-user lock on PostgreSQL (SQLite's
    transactions are serialized), so two creates cannot both take the last place."""
    limit = limit_of(session, project_id, "key_pairs")
    if limit < 0:
        return
    if session.get_bind().dialect.name == "postgresql":
        digest = hashlib.blake2b(f"key-pairs:{user_id}".encode(), digest_size=8).digest()
        session.execute(select(func.pg_advisory_xact_lock(int.from_bytes(digest, signed=True))))
    count = session.scalar(select(func.count(KeyPair.id)).where(KeyPair.user_id == user_id))
    if int(count or 0) > limit:
        raise ApiError(403, "Quota exceeded, too many key pairs.")


@router.post("/v2.1/os-keypairs")
def create_keypair(ctx: Ctx, session: DbSession, body: Any = JSON_BODY) -> Response:
    asked = validated(create_schema(ctx.version), body).keypair  # type: ignore[attr-defined]
    kind = getattr(asked, "type", "ssh")
    user_id = _owner(ctx, getattr(asked, "user_id", None), "create")
    private_key = None
    public_key = asked.public_key
    if public_key is None:
        private_key, public_key = generate(kind, user_id)
    try:
        printed = fingerprint(public_key, kind)
    except InvalidKey as exc:
        raise ApiError(400, f"Keypair data is invalid: {exc}") from None
    if _find(session, user_id, asked.name) is not None:
        raise ApiError(409, f"Key pair '{asked.name}' already exists.")
    key = KeyPair(
        name=asked.name, user_id=user_id, fingerprint=printed, public_key=public_key, type=kind
    )
    session.add(key)
    try:
        session.flush()
    except IntegrityError:
        raise ApiError(409, f"Key pair '{asked.name}' already exists.") from None
    _within_quota(session, ctx.caller.project_id, user_id)
    view = _brief(ctx, key) | {"user_id": user_id}
    if private_key is not None:
        view["private_key"] = private_key
    status = 201 if ctx.at_least(KEY_TYPE) else 200
    return JSONResponse({"keypair": view}, status_code=status)


@router.get("/v2.1/os-keypairs")
def list_keypairs(ctx: Ctx, session: DbSession, request: Request) -> dict[str, Any]:
    user_id = _query_owner(ctx, request, {"user_id", "limit", "marker"}, "index")
    keys = list(
        session.scalars(select(KeyPair).where(KeyPair.user_id == user_id).order_by(KeyPair.name))
    )
    last = None
    if ctx.at_least(KEY_PAGING):
        limit, marker = limit_and_marker(request.query_params)
        missing = f"Marker {marker} could not be found."
        keys, full = page_after(keys, [k.name for k in keys], marker, limit, missing)
        last = keys[-1].name if full and keys else None
    docs = [{"keypair": _brief(ctx, key)} for key in keys]
    return views.listed(ctx, "keypairs", docs, request, last)


@router.get("/v2.1/os-keypairs/{name}")
def show_keypair(name: str, ctx: Ctx, session: DbSession, request: Request) -> dict[str, Any]:
    user_id = _query_owner(ctx, request, {"user_id"}, "show")
    return {"keypair": _show_view(ctx, _get(session, user_id, name))}


@router.delete("/v2.1/os-keypairs/{name}")
def delete_keypair(name: str, ctx: Ctx, session: DbSession, request: Request) -> Response:
    user_id = _query_owner(ctx, request, {"user_id"}, "delete")
    session.delete(_get(session, user_id, name))
    return Response(status_code=204 if ctx.at_least(KEY_TYPE) else 202)
