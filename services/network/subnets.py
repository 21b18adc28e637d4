"""``/v2.0/subnets``: create, list, show, update and delete IPv4 subnets."""

from __future__ import annotations

from typing import Any

from fastapi import Response
from sqlalchemy import select

from db.models.network import IpAllocation, Subnet
from services.common.app import router as common_router
from services.common.auth import Auth
from services.common.db import DbSession
from services.network import ipam, quotas
from services.network.access import (
    get_network,
    get_subnet,
    owner_project,
    require_owner,
    subnet_visible,
)
from services.network.errors import invalid_input, subnet_in_use
from services.network.filters import SUBNET_FILTERS
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
    new = parse_body(body, "subnet", SubnetCreate, SUBNET_ATTRIBUTES, "POST")
    if new.ip_version == 6:
        raise invalid_input("IPv6 subnets are not supported by this cloud; use ip_version 4.")
    project_id = owner_project(caller, new.project_id, new.tenant_id)
    # One subnet change at a time per network, so two overlapping CIDRs cannot both pass.
    network = get_network(session, caller, new.network_id, lock="write")
    require_owner(caller, network.project_id, "create_subnet")
    pools = None
    if new.allocation_pools is not None:
        pools = [(p.start, p.end) for p in new.allocation_pools]
    layout = ipam.plan_layout(new.cidr, new.gateway_ip, "gateway_ip" in new.model_fields_set, pools)
    ipam.check_no_overlap(layout.cidr, network.id, network.subnets)
    subnet = Subnet(
        network_id=network.id,
        project_id=project_id,
        name=new.name,
        description=new.description,
        cidr=str(layout.cidr),
        ip_version=4,
        gateway_ip=None if layout.gateway is None else str(layout.gateway),
        allocation_pools=[p.as_json() for p in layout.pools],
        enable_dhcp=new.enable_dhcp,
        dns_nameservers=new.dns_nameservers,
    )
    session.add(subnet)
    # Neutron bumps a network's revision when its subnets change.
    network.revision_number += 1
    session.flush()
    quotas.check(session, limits, "subnet", project_id)
    return {"subnet": subnet_view(subnet)}


@router.put("/{subnet_id}")
def update_subnet(
    subnet_id: str, body: JsonBody, caller: Auth, session: DbSession
) -> dict[str, Any]:
    update = parse_body(body, "subnet", SubnetUpdate, SUBNET_ATTRIBUTES, "PUT")
    subnet = get_subnet(session, caller, subnet_id, lock="write")
    # Neutron's policy: the network's owner changes its subnets.
    require_owner(caller, subnet.network.project_id, "update_subnet")
    if apply_update(subnet, update):
        session.flush()
    return {"subnet": subnet_view(subnet)}


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
