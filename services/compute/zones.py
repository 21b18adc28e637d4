"""``os-availability-zone`` and (read only) the ``os-aggregates`` zones imply.

A host's zone is set where its compute worker starts. A zone with an enabled compute
service is available, one whose services are all disabled is not."""

from __future__ import annotations

import uuid
from typing import Any, Final

from sqlalchemy.orm import Session

from db.models.compute import ComputeNode
from services.common.app import ApiError
from services.common.app import router as common_router
from services.common.db import DbSession
from services.compute import microversions as mv
from services.compute.context import ApiContext, Ctx
from services.compute.hosts import COMPUTE_BINARY, DEFAULT_ZONE, nodes, require_admin
from services.compute.views import nova_datetime, service_is_up

_AGGREGATE_NS: Final = uuid.UUID("9b3c1d2e-4f5a-4b6c-8d7e-0f1a2b3c4d5e")

router = common_router()


def _aggregate(
    ctx: ApiContext, index: int, zone: str, members: list[ComputeNode]
) -> dict[str, Any]:
    aggregate: dict[str, Any] = {
        "availability_zone": zone,
        "created_at": nova_datetime(min(n.created_at for n in members)),
        "deleted": False,
        "deleted_at": None,
        "hosts": [n.host for n in members],
        "id": index,
        "metadata": {"availability_zone": zone},
        "name": zone,
        "updated_at": None,
    }
    if ctx.at_least(mv.AGGREGATE_UUID):
        aggregate["uuid"] = str(uuid.uuid5(_AGGREGATE_NS, zone))
    return aggregate


def _aggregates(ctx: ApiContext, session: Session) -> list[dict[str, Any]]:
    """The host aggregates Nova would have for bootflow's zones: one per zone other than the
    default "nova" (which in Nova has none), holding the zone's hosts."""
    found = nodes(session)
    zones = sorted({n.availability_zone for n in found} - {DEFAULT_ZONE})
    return [
        _aggregate(ctx, index, zone, [n for n in found if n.availability_zone == zone])
        for index, zone in enumerate(zones, start=1)
    ]


@router.get("/v2.1/os-aggregates")
def list_aggregates(ctx: Ctx, session: DbSession) -> dict[str, Any]:
    require_admin(ctx, "os_compute_api:os-aggregates:index")
    return {"aggregates": _aggregates(ctx, session)}


@router.get("/v2.1/os-aggregates/{aggregate_id}")
def show_aggregate(aggregate_id: str, ctx: Ctx, session: DbSession) -> dict[str, Any]:
    require_admin(ctx, "os_compute_api:os-aggregates:show")
    for aggregate in _aggregates(ctx, session):
        if str(aggregate["id"]) == aggregate_id:
            return {"aggregate": aggregate}
    raise ApiError(404, f"Aggregate {aggregate_id} could not be found.")


def _zone_hosts(ctx: ApiContext, found: list[ComputeNode], zone: str) -> dict[str, Any]:
    """The detail's enabled services of a zone, by host."""
    return {
        n.host: {
            COMPUTE_BINARY: {
                "available": service_is_up(n, ctx.service_down_seconds),
                "active": True,
                "updated_at": nova_datetime(n.heartbeat_at),
            }
        }
        for n in found
        if n.availability_zone == zone and not n.disabled
    }


def _zones(ctx: ApiContext, session: Session, detail: bool) -> list[dict[str, Any]]:
    found = nodes(session)
    available = sorted({n.availability_zone for n in found if not n.disabled})
    unavailable = sorted({n.availability_zone for n in found} - set(available))
    out: list[dict[str, Any]] = [
        {
            "zoneName": zone,
            "zoneState": {"available": True},
            "hosts": _zone_hosts(ctx, found, zone) if detail else None,
        }
        for zone in available
    ]
    out += [
        {"zoneName": zone, "zoneState": {"available": False}, "hosts": None} for zone in unavailable
    ]
    return out


@router.get("/v2.1/os-availability-zone")
def list_zones(ctx: Ctx, session: DbSession) -> dict[str, Any]:
    return {"availabilityZoneInfo": _zones(ctx, session, detail=False)}


@router.get("/v2.1/os-availability-zone/detail")
def list_zones_detail(ctx: Ctx, session: DbSession) -> dict[str, Any]:
    require_admin(ctx, "os_compute_api:os-availability-zone:detail")
    return {"availabilityZoneInfo": _zones(ctx, session, detail=True)}
