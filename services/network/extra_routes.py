"""A router's ``routes`` (Neutron's ``extraroute``): each next hop must sit on a subnet the
router has an interface on and must not be one of the router's own addresses; at most
``max_routes``; an interface a route goes through cannot be removed."""

from __future__ import annotations

from ipaddress import IPv4Network, ip_address

from sqlalchemy.orm import Session

from db.models.network import Port, Router, Subnet
from services.common.app import ApiError

# Neutron's max_routes default.
MAX_ROUTES = 30


def _invalid(routes: list[dict[str, str]], reason: str) -> ApiError:
    return ApiError(400, f"Invalid format for routes: {routes}, {reason}", "InvalidRoutes")


def check_routes(
    session: Session, router: Router, interfaces: list[Port], routes: list[dict[str, str]]
) -> None:
    """Neutron's ``_validate_routes``: the count, then each next hop against the router's
    interfaces (their subnets and addresses)."""
    if len(routes) > MAX_ROUTES:
        raise ApiError(
            400,
            f"Unable to complete operation for {router.id}. The number of routes exceeds the "
            f"maximum {MAX_ROUTES}.",
            "RoutesExhausted",
        )
    cidrs: list[IPv4Network] = []
    addresses: set[str] = set()
    for port in interfaces:
        for held in port.fixed_ips:
            subnet = session.get(Subnet, held.subnet_id)
            if subnet is not None:
                cidrs.append(IPv4Network(subnet.cidr))
            addresses.add(held.ip_address)
    for route in routes:
        nexthop = ip_address(route["nexthop"])
        if not any(nexthop in cidr for cidr in cidrs):
            raise _invalid(routes, "the nexthop is not connected with router")
        if str(nexthop) in addresses:
            raise _invalid(routes, "the nexthop is used by router")


def check_interface_unused(router: Router, subnet: Subnet) -> None:
    """409 if a route of ``router`` goes through ``subnet`` (its interface must stay)."""
    cidr = IPv4Network(subnet.cidr)
    if any(ip_address(route["nexthop"]) in cidr for route in router.routes):
        raise ApiError(
            409,
            f"Router interface for subnet {subnet.id} on router {router.id} cannot be "
            "deleted, as it is required by one or more routes.",
            "RouterInterfaceInUseByRoute",
        )
