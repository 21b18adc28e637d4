"""``/v2.0/subnets``: create, list, show, update and delete IPv4 subnets."""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Any

from fastapi import Response
from sqlalchemy import select

from db.models.network import IpAllocation, Subnet
from services.common.app import ApiError
from services.common.app import router as common_router
from services.common.auth import Auth, AuthContext
from services.common.db import DbSession
from services.network import bulk, ipam, quotas
from services.network.access import (
    get_network,
    get_subnet,
    owner_project,
    require_owner,
    subnet_visible,
)
from services.network.errors import invalid_input, subnet_in_use
from services.network.filters import SUBNET_FILTERS
from services.network.host_routes import check_subnet_lists
from services.network.listing import add_list_and_show
from services.network.quotas import Quotas
from services.network.schemas import (
    SUBNET_ATTRIBUTES,
    JsonBody,
    SubnetCreate,
    SubnetUpdate,
    apply_update,
    parse_body,
)
from services.network.views import subnet_view

router = common_router(prefix="/v2.0/subnets")
add_list_and_show(router, Subnet, SUBNET_FILTERS, subnet_visible, get_subnet, subnet_view)


@router.post("", status_code=201)
def create_subnet(
    body: JsonBody, caller: Auth, session: DbSession, limits: Quotas
) -> dict[str, Any]:
    items, is_bulk = bulk.bodies(body, "subnet")
    news = [parse_body(b, "subnet", SubnetCreate, SUBNET_ATTRIBUTES, "POST") for b in items]
    # One subnet change at a time per network, so two overlapping CIDRs cannot both pass;
    # a bulk locks its networks first, in one order, so two bulks cannot deadlock.
    for network_id in sorted({new.network_id for new in news}):
        get_network(session, caller, network_id, lock="write")
    subnets = [_insert_subnet(session, caller, new) for new in news]
    session.flush()
    for project_id in sorted({s.project_id for s in subnets}):
        quotas.check(session, limits, "subnet", project_id)
    return bulk.answer("subnet", [subnet_view(s) for s in subnets], is_bulk)


def _insert_subnet(session: DbSession, caller: AuthContext, new: SubnetCreate) -> Subnet:
    if new.ip_version == 6:
        raise invalid_input("IPv6 subnets are not supported by this cloud; use ip_version 4.")
    routes = [r.model_dump() for r in new.host_routes]
    check_subnet_lists(None, routes, new.dns_nameservers)
    project_id = owner_project(caller, new.project_id, new.tenant_id)
    network = get_network(session, caller, new.network_id, lock="write")
    require_owner(caller, network.project_id, "create_subnet")
    pools = None
    if new.allocation_pools is not None:
        pools = [(p.start, p.end) for p in new.allocation_pools]
    layout = ipam.plan_layout(new.cidr, new.gateway_ip, "gateway_ip" in new.model_fields_set, pools)
    ipam.check_no_overlap(layout.cidr, network.id, network.subnets)
    subnet = Subnet(
        network=network,
        project_id=project_id,
        name=new.name,
        description=new.description,
        cidr=str(layout.cidr),
        ip_version=4,
        gateway_ip=None if layout.gateway is None else str(layout.gateway),
        allocation_pools=[p.as_json() for p in layout.pools],
        enable_dhcp=new.enable_dhcp,
        dns_nameservers=new.dns_nameservers,
        host_routes=routes,
    )
    session.add(subnet)
    # Neutron bumps a network's revision when its subnets change.
    network.revision_number += 1
    return subnet


@router.put("/{subnet_id}")
def update_subnet(
    subnet_id: str, body: JsonBody, caller: Auth, session: DbSession
) -> dict[str, Any]:
    update = parse_body(body, "subnet", SubnetUpdate, SUBNET_ATTRIBUTES, "PUT")
    subnet = get_subnet(session, caller, subnet_id, lock="write")
    # Neutron's policy: the network's owner changes its subnets.
    require_owner(caller, subnet.network.project_id, "update_subnet")
    given = update.model_fields_set
    routes = [r.model_dump() for r in update.host_routes] if "host_routes" in given else None
    check_subnet_lists(
        subnet.id, routes, update.dns_nameservers if "dns_nameservers" in given else None
    )
    moved = False
    if routes is not None and routes != subnet.host_routes:
        subnet.host_routes = routes
        moved = True
    if "gateway_ip" in given:
        moved = _move_gateway(session, subnet, update.gateway_ip) or moved
    # One revision for the whole update, whichever attributes it changed.
    if not apply_update(subnet, update, skip=frozenset({"host_routes", "gateway_ip"})) and moved:
        subnet.revision_number += 1
    session.flush()
    return {"subnet": subnet_view(subnet)}


def _move_gateway(session: DbSession, subnet: Subnet, text: str | None) -> bool:
    """A new gateway (None: none), clear of the pools and of every port's address."""
    cidr = IPv4Network(subnet.cidr)
    gateway = None if text is None else ipam.parse_gateway(cidr, text)
    new = None if gateway is None else str(gateway)
    if new == subnet.gateway_ip:
        return False
    ipam.check_gateway_out_of_pools(gateway, ipam.pools_of(subnet))
    if new is not None:
        holder = session.scalar(
            select(IpAllocation.port_id).where(
                IpAllocation.subnet_id == subnet.id, IpAllocation.ip_address == new
            )
        )
        if holder is not None:
            raise ApiError(
                409,
                f"Current gateway ip {new} already in use by port {holder}. Unable to update.",
                "GatewayIpInUse",
            )
    subnet.gateway_ip = new
    return True


@router.delete("/{subnet_id}", status_code=204)
def delete_subnet(subnet_id: str, caller: Auth, session: DbSession) -> Response:
    subnet = get_subnet(session, caller, subnet_id)
    network = get_network(session, caller, subnet.network_id, lock="write")
    require_owner(caller, network.project_id, "delete_subnet")
    # FOR UPDATE waits for allocations being made from it; any that commit are seen below.
    subnet = get_subnet(session, caller, subnet_id, lock="delete")
    held = select(IpAllocation.ip_address).where(IpAllocation.subnet_id == subnet.id)
    if session.scalar(held.limit(1)) is not None:
        raise subnet_in_use(subnet.id)
    session.delete(subnet)
    network.revision_number += 1
    session.flush()
    return Response(status_code=204)
