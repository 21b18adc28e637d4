"""``os-quota-class-sets``: quota classes (admins only), as Nova keeps them. Only the
``default`` class does anything: its values are every project's defaults (under a
project's own os-quota-sets values), read at each create, so a PUT changes the next one's."""

from __future__ import annotations

from typing import Any, Final

from db.quotas import CLASS_PREFIX
from services.common.app import ApiError
from services.common.app import router as common_router
from services.common.db import DbSession
from services.compute import compute_quotas
from services.compute import microversions as mv
from services.compute.compute_quotas import FILE_RESOURCES, NETWORK_RESOURCES
from services.compute.context import JSON_BODY, ApiContext, Ctx, QuotaOptions
from services.compute.hosts import require_admin
from services.compute.quota_sets import store
from services.compute.schemas.quota_sets import parse_update

router = common_router()

_RULE: Final = "os_compute_api:os-quota-class-sets"
# Nova's quota class set before 2.50 lacks the server group resources; from 2.50 Neutron's
# are gone; from 2.57 the personality files.
_SERVER_GROUPS: Final = ("server_groups", "server_group_members")
CLASS_SETS_V250: Final = mv.v("2.50")
# The class name is kept where a project id would be (64 characters).
MAX_CLASS_NAME: Final = 64 - len(CLASS_PREFIX)


def resources_at(ctx: ApiContext) -> tuple[str, ...]:
    gone: set[str] = set()
    if ctx.at_least(CLASS_SETS_V250):
        gone |= set(NETWORK_RESOURCES)
    else:
        gone |= set(_SERVER_GROUPS)
    if ctx.at_least(mv.NO_PERSONALITY):
        gone |= set(FILE_RESOURCES)
    return tuple(r for r in compute_quotas.RESOURCES if r not in gone)


def _checked(ctx: ApiContext, name: str, action: str) -> None:
    require_admin(ctx, f"{_RULE}:{action}")
    if len(name) > MAX_CLASS_NAME:
        raise ApiError(400, f"Quota class name is longer than {MAX_CLASS_NAME} characters.")


@router.get("/v2.1/os-quota-class-sets/{name}")
def show_quota_class(
    name: str, ctx: Ctx, session: DbSession, settings: QuotaOptions
) -> dict[str, Any]:
    _checked(ctx, name, "show")
    limits = compute_quotas.class_limits(session, name, settings)
    return {"quota_class_set": {"id": name} | {r: limits[r] for r in resources_at(ctx)}}


@router.put("/v2.1/os-quota-class-sets/{name}")
def update_quota_class(
    name: str, ctx: Ctx, session: DbSession, settings: QuotaOptions, body: Any = JSON_BODY
) -> dict[str, Any]:
    _checked(ctx, name, "update")
    update = parse_update(body, ctx.version, key="quota_class_set", resources=resources_at(ctx))
    store(session, f"{CLASS_PREFIX}{name}", update.limits)
    limits = compute_quotas.class_limits(session, name, settings)
    return {"quota_class_set": {r: limits[r] for r in resources_at(ctx)}}
