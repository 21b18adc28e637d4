"""``PUT /v2.0/routers/{id}/add_router_interface`` and ``remove_router_interface``.

An interface is a port on the subnet's network holding the subnet's gateway address, with
``device_owner`` ``network:router_interface`` and the router's id as ``device_id``: made
here for a subnet, or an existing free port taken over. Removing it deletes the port, as
Neutron does either way. Its address keeps the subnet (and network) in use meanwhile.

Checks and words are Neutron's (``l3_db``): one of subnet_id or port_id, as UUIDs; the
subnet needs a gateway; no two interfaces on one subnet or on overlapping subnets.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from typing import Any
from uuid import UUID

from sqlalchemy.orm import Session

from db.base import new_uuid
from db.models.network import Port, Router, Subnet
from services.common.app import ApiError
from services.common.app import router as common_router
from services.common.auth import Auth, AuthContext
from services.common.db import DbSession
from services.network import ipam, quotas
from services.network.access import get_network, get_port, get_subnet
from services.network.extra_routes import check_interface_unused
from services.network.ports import insert_port
from services.network.quotas import Quotas
from services.network.routers import (
    bad_router_request,
    get_router,
    interface_ports,
)
from services.network.schemas import JsonBody
from services.network.views import ROUTER_INTERFACE, port_status

router = common_router(prefix="/v2.0/routers")


def _interface_ids(body: Any, *, removing: bool) -> tuple[str | None, str | None]:
    """(port_id, subnet_id) from the body, as Neutron's ``_validate_interface_info``."""
    info = body if isinstance(body, dict) else {}
    if "port_id" not in info and "subnet_id" not in info:
        raise bad_router_request("Either subnet_id or port_id must be specified")
    for key in ("port_id", "subnet_id"):
        if key in info:
            value = info[key]
            try:
                UUID(str(value))
            except ValueError as exc:
                raise bad_router_request(f"'{value}' is not a valid UUID") from exc
    if not removing and "port_id" in info and "subnet_id" in info:
        raise bad_router_request("Cannot specify both subnet-id and port-id")
    return info.get("port_id"), info.get("subnet_id")


def _info(router: Router, port: Port, subnet_ids: list[str]) -> dict[str, Any]:
    return {
        "id": router.id,
        "tenant_id": router.project_id,
        "project_id": router.project_id,
        "port_id": port.id,
        "network_id": port.network_id,
        "subnet_id": subnet_ids[0] if subnet_ids else None,
        "subnet_ids": subnet_ids,
    }


def _check_no_dup_subnets(session: Session, router: Router, subnets: list[Subnet]) -> None:
    """No interface of the router already on one of ``subnets`` or overlapping one."""
    for port in interface_ports(session, router):
        for held in port.fixed_ips:
            other = session.get(Subnet, held.subnet_id)
            if other is None:
                continue
            for subnet in subnets:
                if subnet.id == other.id:
                    raise bad_router_request(f"Router already has a port on subnet {subnet.id}")
                if IPv4Network(subnet.cidr).overlaps(IPv4Network(other.cidr)):
                    raise bad_router_request(
                        f"Cidr {subnet.cidr} of subnet {subnet.id} overlaps with cidr "
                        f"{other.cidr} of subnet {other.id}"
                    )


def _by_subnet(session: Session, caller: AuthContext, router: Router, subnet_id: str) -> Port:
    subnet = get_subnet(session, caller, subnet_id)
    if not subnet.gateway_ip:
        raise bad_router_request("Subnet for router interface must have a gateway IP")
    if subnet.project_id != caller.project_id and not caller.is_admin:
        raise bad_router_request(
            f"Cannot add interface to router because subnet {subnet.id} is not owned by "
            "project making the request"
        )
    _check_no_dup_subnets(session, router, [subnet])
    network = get_network(session, caller, subnet.network_id, lock="use")
    port = Port(
        id=new_uuid(),
        network_id=network.id,
        project_id=subnet.project_id,
        device_id=router.id,
        device_owner=ROUTER_INTERFACE,
        admin_state_up=True,
    )
    port.status = port_status(port)
    insert_port(session, port, None)
    subnet = get_subnet(session, caller, subnet.id, lock="use")
    ipam.allocate(session, subnet, port.id, IPv4Address(subnet.gateway_ip))
    session.expire(port, ["fixed_ips"])
    return port


def _by_port(session: Session, caller: AuthContext, router: Router, port_id: str) -> Port:
    port = get_port(session, caller, port_id, lock=True)
    if port.device_id:
        raise ApiError(
            409,
            f"Unable to complete operation on port {port.id} for network {port.network_id}. "
            f"Port already has an attached device {port.device_id}.",
            "PortInUse",
        )
    if not port.fixed_ips:
        raise bad_router_request("Router port must have at least one fixed IP")
    subnets = [session.get(Subnet, a.subnet_id) for a in port.fixed_ips]
    _check_no_dup_subnets(session, router, [s for s in subnets if s is not None])
    if len(subnets) > 1:
        raise bad_router_request("Cannot have multiple IPv4 subnets on router port")
    port.device_id, port.device_owner = router.id, ROUTER_INTERFACE
    port.revision_number += 1
    port.status = port_status(port)
    return port


@router.put("/{router_id}/add_router_interface")
def add_router_interface(
    router_id: str, body: JsonBody, caller: Auth, session: DbSession, limits: Quotas
) -> dict[str, Any]:
    # The router's lock makes its interface changes one at a time, so two overlapping
    # subnets cannot both pass the check.
    row = get_router(session, caller, router_id, lock=True)
    port_id, subnet_id = _interface_ids(body, removing=False)
    if port_id is not None:
        port = _by_port(session, caller, row, port_id)
    else:
        assert subnet_id is not None
        port = _by_subnet(session, caller, row, subnet_id)
        session.flush()
        quotas.check(session, limits, "port", port.project_id)
    session.flush()
    return _info(row, port, [a.subnet_id for a in port.fixed_ips])


@router.put("/{router_id}/remove_router_interface")
def remove_router_interface(
    router_id: str, body: JsonBody, caller: Auth, session: DbSession
) -> dict[str, Any]:
    row = get_router(session, caller, router_id, lock=True)
    port_id, subnet_id = _interface_ids(body, removing=True)
    ports = interface_ports(session, row)
    if port_id is not None:
        found = [p for p in ports if p.id == port_id]
        if not found:
            raise ApiError(
                404,
                f"Router {row.id} does not have an interface with id {port_id}",
                "RouterInterfaceNotFound",
            )
        port = found[0]
        if subnet_id is not None and subnet_id not in {a.subnet_id for a in port.fixed_ips}:
            raise ApiError(
                400,
                f"Subnet on port {port.id} does not match the requested subnet {subnet_id}.",
                "SubnetMismatchForPort",
            )
    else:
        assert subnet_id is not None
        get_subnet(session, caller, subnet_id)
        found = [p for p in ports if subnet_id in {a.subnet_id for a in p.fixed_ips}]
        if not found:
            raise ApiError(
                404,
                f"Router {row.id} has no interface on subnet {subnet_id}",
                "RouterInterfaceNotFoundForSubnet",
            )
        port = found[0]
    for held in port.fixed_ips:
        subnet = session.get(Subnet, held.subnet_id)
        if subnet is not None:
            check_interface_unused(row, subnet)
    answer = _info(row, port, [a.subnet_id for a in port.fixed_ips])
    session.delete(port)
    session.flush()
    return answer
