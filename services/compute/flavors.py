"""Flavors: list, detail and show, with Nova's filters (is_public for admins, minRam,
minDisk), sort and paging."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models.compute import Flavor
from services.common.app import ApiError
from services.common.app import router as common_router
from services.common.db import DbSession
from services.compute import microversions as mv
from services.compute import views
from services.compute.context import ApiContext, Ctx
from services.compute.validation import (
    FALSE_WORDS,
    TRUE_WORDS,
    invalid_query,
    limit_and_marker,
    page_after,
    strict_query,
)

_QUERY: Final = frozenset(
    {"limit", "marker", "is_public", "minRam", "minDisk", "sort_key", "sort_dir"}
)
_SORT: Final[dict[str, Callable[[Flavor], Any]]] = {
    "created_at": lambda f: f.created_at,
    "description": lambda f: "",
    "disabled": lambda f: f.disabled,
    "ephemeral_gb": lambda f: f.ephemeral_gb,
    "flavorid": lambda f: f.flavorid,
    "id": lambda f: f.id,
    "is_public": lambda f: f.is_public,
    "memory_mb": lambda f: f.memory_mb,
    "name": lambda f: f.name,
    "root_gb": lambda f: f.root_gb,
    "rxtx_factor": lambda f: 1.0,
    "swap": lambda f: f.swap,
    "updated_at": lambda f: f.created_at,
    "vcpu_weight": lambda f: 0,
    "vcpus": lambda f: f.vcpus,
}
_NONE_WORDS: Final = frozenset({"none", "null"})


def _visible(ctx: ApiContext, flavors: list[Flavor], raw: str | None) -> list[Flavor]:
    """A member sees the public flavors not disabled; an admin chooses with ``is_public``:
    public (the default), private, or all ("None")."""
    if not ctx.is_admin:
        return [f for f in flavors if f.is_public and not f.disabled]
    if raw is None:
        return [f for f in flavors if f.is_public]
    word = raw.strip().lower()
    if word in _NONE_WORDS:
        return flavors
    if word not in TRUE_WORDS | FALSE_WORDS:
        raise ApiError(400, f"Invalid is_public filter [{raw}]")
    return [f for f in flavors if f.is_public == (word in TRUE_WORDS)]


def _flavors(ctx: ApiContext, session: Session, request: Request) -> tuple[list[Flavor], bool]:
    params = request.query_params
    if ctx.at_least(mv.STRICT_QUERY):
        strict_query(params, _QUERY)
    flavors = _visible(ctx, list(session.scalars(select(Flavor))), params.get("is_public"))
    for name, attr in (("minRam", "memory_mb"), ("minDisk", "root_gb")):
        if name in params:
            try:
                least = int(params[name])
            except ValueError:
                raise ApiError(400, f"Invalid {name} filter [{params[name]}]") from None
            flavors = [f for f in flavors if getattr(f, attr) >= least]
    sort_key = params.get("sort_key") or "flavorid"
    sort_dir = params.get("sort_dir") or "asc"
    if sort_key not in _SORT:
        raise invalid_query("sort_key", sort_key, f"'{sort_key}' is not one of the sort keys")
    if sort_dir not in ("asc", "desc"):
        raise invalid_query("sort_dir", sort_dir, f"'{sort_dir}' is not one of ['asc', 'desc']")
    flavors.sort(key=lambda f: (_SORT[sort_key](f), f.id), reverse=sort_dir == "desc")
    limit, marker = limit_and_marker(params)
    ids = [f.flavorid for f in flavors]
    return page_after(flavors, ids, marker, limit, f"marker [{marker}] not found")


router = common_router()


@router.get("/v2.1/flavors")
@router.get("/v2.1/flavors/detail")
def list_flavors(ctx: Ctx, session: DbSession, request: Request) -> dict[str, Any]:
    page, more = _flavors(ctx, session, request)
    docs = [views.flavor_view(ctx, f, request.url.path.endswith("/detail")) for f in page]
    return views.listed(ctx, "flavors", docs, request, page[-1].flavorid if more else None)


@router.get("/v2.1/flavors/{flavor_id}")
def show_flavor(flavor_id: str, ctx: Ctx, session: DbSession) -> dict[str, Any]:
    flavor = session.scalar(select(Flavor).where(Flavor.flavorid == flavor_id))
    if flavor is None:
        raise ApiError(404, f"Flavor {flavor_id} could not be found.")
    return {"flavor": views.flavor_view(ctx, flavor, detail=True)}
