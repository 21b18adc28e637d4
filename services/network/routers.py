"""``/v2.0/routers``: routers as a resource (Neutron's ``router`` extension).

A router here forwards nothing: it is the record clients and Tempest create, list, update
and attach subnets to (``router_interfaces.py``). No network is external in this cloud, so
no router has a gateway: ``external_gateway_info`` naming a network is refused as Neutron
refuses a network that is not external.
"""

from __future__ import annotations

from typing import Any

from fastapi import Response
from pydantic import field_validator
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from db.models.network import Port, Router
from services.common.app import ApiError
from services.common.app import router as common_router
from services.common.auth import Auth, AuthContext
from services.common.db import DbSession
from services.network import quotas
from services.network.access import get_network, owner_project, owns
from services.network.extra_routes import check_routes
from services.network.filters import FilterSpec, column, standard
from services.network.listing import add_list_and_show
from services.network.quotas import Quotas
from services.network.schemas import (
    EVERY_RESOURCE,
    Description,
    HostRouteBody,
    JsonBody,
    Name,
    ProjectId,
    RequestBody,
    apply_update,
    check_host_routes,
    parse_body,
)
from services.network.views import ROUTER_INTERFACE
from services.network.views import standard as standard_view

ROUTER_FILTERS: dict[str, FilterSpec] = {
    **standard(Router),
    "admin_state_up": column(Router.admin_state_up, bool),
    "status": column(Router.status),
}
# Every attribute Neutron shows on a router with the common L3 extensions: the ones this
# cloud does not implement are refused as "not supported", not as unknown.
ROUTER_ATTRIBUTES = EVERY_RESOURCE | frozenset(
    {
        "admin_state_up",
        "status",
        "external_gateway_info",
        "routes",
        "distributed",
        "ha",
        "availability_zone_hints",
        "availability_zones",
        "flavor_id",
        "service_type_id",
    }
)


def bad_router_request(message: str) -> ApiError:
    """Neutron's ``BadRequest(resource='router', msg=...)``."""
    return ApiError(400, f"Bad router request: {message}.", "BadRequest")


def router_visible(caller: AuthContext) -> ColumnElement[bool] | None:
    return None if caller.is_admin else Router.project_id == caller.project_id


def get_router(
    session: Session, caller: AuthContext, router_id: str, *, lock: bool = False
) -> Router:
    """A router of ``caller``'s project (any, for admin), or 404; ``lock`` for a change."""
    router = session.get(Router, router_id, with_for_update=lock or None, populate_existing=lock)
    if router is None or not owns(caller, router.project_id):
        raise ApiError(404, f"Router {router_id} could not be found", "RouterNotFound")
    return router


def router_view(router: Router) -> dict[str, Any]:
    return {
        "id": router.id,
        "name": router.name,
        "admin_state_up": router.admin_state_up,
        "status": router.status,
        "external_gateway_info": None,
        "routes": [dict(r) for r in router.routes],
        **standard_view(router),
    }


def _check_routes(value: list[HostRouteBody] | None) -> list[HostRouteBody] | None:
    return None if value is None else check_host_routes(value)


class _RouterAttributes(RequestBody):
    name: Name = ""
    description: Description = ""
    admin_state_up: bool = True
    external_gateway_info: dict[str, Any] | None = None


class RouterCreate(_RouterAttributes):
    project_id: ProjectId | None = None
    tenant_id: ProjectId | None = None


class RouterUpdate(_RouterAttributes):
    # Null clears them, as Neutron's convert_none_to_empty_list.
    routes: list[HostRouteBody] | None = None

    _routes = field_validator("routes", mode="after")(_check_routes)


def _check_gateway(session: Session, caller: AuthContext, info: dict[str, Any] | None) -> None:
    """Neutron's checks of a gateway: the network exists (404) and is external (400)."""
    if not info:
        return
    network_id = info.get("network_id")
    if not isinstance(network_id, str) or not network_id:
        raise bad_router_request("external_gateway_info needs a network_id")
    network = get_network(session, caller, network_id)
    raise bad_router_request(f"Network {network.id} is not an external network")


router = common_router(prefix="/v2.0/routers")
add_list_and_show(router, Router, ROUTER_FILTERS, router_visible, get_router, router_view)


@router.post("", status_code=201)
def create_router(
    body: JsonBody, caller: Auth, session: DbSession, limits: Quotas
) -> dict[str, Any]:
    new = parse_body(body, "router", RouterCreate, ROUTER_ATTRIBUTES, "POST")
    project_id = owner_project(caller, new.project_id, new.tenant_id)
    _check_gateway(session, caller, new.external_gateway_info)
    row = Router(
        name=new.name,
        description=new.description,
        project_id=project_id,
        admin_state_up=new.admin_state_up,
    )
    session.add(row)
    session.flush()
    quotas.check(session, limits, "router", project_id)
    return {"router": router_view(row)}


@router.put("/{router_id}")
def update_router(
    router_id: str, body: JsonBody, caller: Auth, session: DbSession
) -> dict[str, Any]:
    update = parse_body(body, "router", RouterUpdate, ROUTER_ATTRIBUTES, "PUT")
    row = get_router(session, caller, router_id, lock=True)
    _check_gateway(session, caller, update.external_gateway_info)
    rerouted = False
    if "routes" in update.model_fields_set:
        routes = [r.model_dump() for r in update.routes or []]
        check_routes(session, row, interface_ports(session, row), routes)
        rerouted = routes != row.routes
        row.routes = routes
    changed = apply_update(row, update, skip=frozenset({"external_gateway_info", "routes"}))
    if rerouted and not changed:
        row.revision_number += 1
    session.flush()
    return {"router": router_view(row)}


def interface_ports(session: Session, router: Router) -> list[Port]:
    """The router's interfaces, oldest first."""
    return list(
        session.scalars(
            select(Port)
            .where(Port.device_id == router.id, Port.device_owner == ROUTER_INTERFACE)
            .order_by(Port.created_at, Port.id)
        )
    )


@router.delete("/{router_id}", status_code=204)
def delete_router(router_id: str, caller: Auth, session: DbSession) -> Response:
    # Locked as interface changes lock it: an interface being added commits first, and is
    # seen below.
    row = get_router(session, caller, router_id, lock=True)
    if interface_ports(session, row):
        raise ApiError(409, f"Router {row.id} still has ports", "RouterInUse")
    session.delete(row)
    session.flush()
    return Response(status_code=204)


def check_not_an_interface(session: Session, port: Port) -> None:
    """409 for a port that is an existing router's interface: it goes with the interface."""
    if port.device_owner != ROUTER_INTERFACE or not port.device_id:
        return
    if session.get(Router, port.device_id) is not None:
        raise ApiError(
            409,
            f"Port {port.id} has owner {port.device_owner} and therefore cannot be deleted "
            "directly via the port API.",
            "L3PortInUse",
        )
