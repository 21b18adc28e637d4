"""Flavors: list, detail and show, with Nova's filters (is_public for admins, minRam,
minDisk), sort and paging."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from fastapi import APIRouter, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models.compute import Flavor
from services.common.app import ApiError
from services.common.app import router as common_router
from services.common.db import DbSession
from services.compute import microversions as mv
from services.compute import views
from services.compute.context import ApiContext, Ctx
from services.compute.validation import invalid_query, limit_and_marker, strict_query

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
_TRUE: Final = frozenset({"1", "t", "true", "on", "y", "yes"})
_FALSE: Final = frozenset({"0", "f", "false", "off", "n", "no"})


def _flavors(ctx: ApiContext, session: Session, request: Request) -> tuple[list[Flavor], bool]:
    params = request.query_params
    if ctx.at_least(mv.STRICT_QUERY):
        strict_query(params, _QUERY)
    flavors = list(session.scalars(select(Flavor)))
    if ctx.is_admin:
        # Only admins choose: public (the default), private, or all ("None").
        raw = params.get("is_public")
        if raw is None:
            flavors = [f for f in flavors if f.is_public]
        elif raw.strip().lower() not in _NONE_WORDS:
            word = raw.strip().lower()
            if word not in _TRUE | _FALSE:
                raise ApiError(400, f"Invalid is_public filter [{raw}]")
            flavors = [f for f in flavors if f.is_public == (word in _TRUE)]
    else:
        flavors = [f for f in flavors if f.is_public and not f.disabled]
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
    if marker is not None:
        ids = [f.flavorid for f in flavors]
        if marker not in ids:
            raise ApiError(400, f"marker [{marker}] not found")
        flavors = flavors[ids.index(marker) + 1 :]
    page = flavors[:limit]
    return page, bool(limit) and len(page) == limit


def router() -> APIRouter:
    r = common_router()

    def _list(ctx: ApiContext, session: Session, request: Request, detail: bool) -> dict[str, Any]:
        page, more = _flavors(ctx, session, request)
        out: dict[str, Any] = {"flavors": [views.flavor_view(ctx, f, detail) for f in page]}
        if more and page:
            out["flavors_links"] = views.next_link(
                ctx,
                "flavors/detail" if detail else "flavors",
                request.query_params.multi_items(),
                page[-1].flavorid,
            )
        return out

    @r.get("/v2.1/flavors")
    def list_flavors(ctx: Ctx, session: DbSession, request: Request) -> dict[str, Any]:
        return _list(ctx, session, request, detail=False)

    @r.get("/v2.1/flavors/detail")
    def list_flavors_detail(ctx: Ctx, session: DbSession, request: Request) -> dict[str, Any]:
        return _list(ctx, session, request, detail=True)

    @r.get("/v2.1/flavors/{flavor_id}")
    def show_flavor(flavor_id: str, ctx: Ctx, session: DbSession) -> dict[str, Any]:
        flavor = session.scalar(select(Flavor).where(Flavor.flavorid == flavor_id))
        if flavor is None:
            raise ApiError(404, f"Flavor {flavor_id} could not be found.")
        return {"flavor": views.flavor_view(ctx, flavor, detail=True)}

    return r
