"""``os-services``: each host's nova-compute service, listed, and enabled or disabled.

Disabling a service (``PUT /os-services/{id}``, 2.53 style, or the older
``/os-services/disable``) sets ``compute_nodes.disabled``, which the scheduler honours.
Forcing a service down is refused: a host is down when its heartbeat stops."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session

from db.models.compute import ComputeNode
from services.common.app import ApiError
from services.common.app import router as common_router
from services.common.db import DbSession
from services.compute import microversions as mv
from services.compute.context import JSON_BODY, ApiContext, Ctx
from services.compute.hosts import (
    COMPUTE_BINARY,
    nodes,
    require_admin,
    service_id,
    service_uuid,
    state,
    status,
)
from services.compute.schemas.base import as_text, validated
from services.compute.schemas.services import ServiceActionV21, ServiceActionV211, ServiceUpdate
from services.compute.validation import is_uuid, strict_query
from services.compute.views import nova_datetime

router = common_router()
_ACTIONS = ("enable", "disable", "disable-log-reason", "force-down")


def service_view(ctx: ApiContext, node: ComputeNode) -> dict[str, Any]:
    view: dict[str, Any] = {
        "binary": COMPUTE_BINARY,
        "host": node.host,
        "id": service_id(ctx, node),
        "zone": node.availability_zone,
        "status": status(node),
        "state": state(ctx, node),
        "updated_at": nova_datetime(node.heartbeat_at),
        "disabled_reason": node.disabled_reason,
    }
    if ctx.at_least(mv.SERVICE_FORCED_DOWN):
        view["forced_down"] = False
    return view


@router.get("/v2.1/os-services")
def list_services(ctx: Ctx, session: DbSession, request: Request) -> dict[str, Any]:
    require_admin(ctx, "os_compute_api:os-services:list")
    params = request.query_params
    if ctx.at_least(mv.STRICT_QUERY):
        strict_query(params, {"host", "binary"})
    found = nodes(session)
    if params.get("host"):
        found = [n for n in found if n.host == params["host"]]
    if params.get("binary") and params["binary"] != COMPUTE_BINARY:
        found = []
    return {"services": [service_view(ctx, n) for n in found]}


@router.put("/v2.1/os-services/{service_id}")
def update_service(
    service_id: str, ctx: Ctx, session: DbSession, body: Any = JSON_BODY
) -> dict[str, Any]:
    require_admin(ctx, "os_compute_api:os-services:update")
    if not isinstance(body, dict):
        raise ApiError(400, f"{body!r} is not of type 'object'")
    if ctx.at_least(mv.SERVICE_UUIDS):
        return _update_by_id(ctx, session, service_id, body)
    return _update_by_action(ctx, session, service_id, body)


def _update_by_id(
    ctx: ApiContext, session: Session, ident: str, body: dict[str, Any]
) -> dict[str, Any]:
    if not is_uuid(ident):
        raise ApiError(400, f"Invalid uuid {ident}")
    ServiceUpdate.check_shape(body)
    node = next((n for n in nodes(session) if service_uuid(n.host) == ident), None)
    if node is None:
        raise ApiError(404, f"Service {ident} could not be found.")
    update = validated(ServiceUpdate, body)
    if update.forced_down:
        raise ApiError(
            400,
            "Forcing a service down is not supported by bootflow: a host is down when its "
            "heartbeat stops; disable it (status disabled) to keep new servers off it.",
        )
    if update.status is None:
        raise ApiError(
            400, "No updates were requested. Fields 'status' or 'forced_down' should be specified."
        )
    if update.status == "enabled" and update.disabled_reason:
        raise ApiError(400, "Specifying 'disabled_reason' with status 'enabled' is invalid.")
    node.disabled = update.status == "disabled"
    node.disabled_reason = update.disabled_reason if node.disabled else None
    session.flush()
    return {"service": service_view(ctx, node)}


def _update_by_action(
    ctx: ApiContext, session: Session, action: str, body: dict[str, Any]
) -> dict[str, Any]:
    forced_down = ctx.at_least(mv.SERVICE_FORCED_DOWN)
    if action not in _ACTIONS or (action == "force-down" and not forced_down):
        raise ApiError(404, "Unknown action")
    service = validated(ServiceActionV211 if forced_down else ServiceActionV21, body)
    host, binary = service.host, service.binary
    if action == "force-down":
        raise ApiError(
            400,
            "Forcing a service down is not supported by bootflow: a host is down when its "
            "heartbeat stops; disable it to keep new servers off it.",
        )
    if binary != COMPUTE_BINARY:
        raise ApiError(
            400,
            f"Updating a {binary} service is not supported. Only nova-compute services "
            "can be updated.",
        )
    node = next((n for n in nodes(session) if n.host == host), None)
    if node is None:
        raise ApiError(404, f"Could not find binary {binary} on host {host}.")
    reason = None
    if action == "disable-log-reason":
        if "disabled_reason" not in body:
            raise ApiError(400, "Missing disabled reason field")
        reason = as_text("disabled_reason", body["disabled_reason"], min_length=1)
    node.disabled = action != "enable"
    node.disabled_reason = reason
    out: dict[str, Any] = {"host": host, "binary": binary, "status": status(node)}
    if reason:
        out["disabled_reason"] = reason
    return {"service": out}
