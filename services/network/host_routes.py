"""A subnet's ``host_routes`` and ``dns_nameservers``, checked as Neutron checks them:
the syntax with the attribute (``type:hostroutes``), the IP version and the counts
(``max_subnet_host_routes``, ``max_dns_nameservers``) with the subnet."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import ip_address, ip_network

from services.common.app import ApiError
from services.network.errors import invalid_input

# Neutron's max_subnet_host_routes and max_dns_nameservers defaults.
MAX_SUBNET_HOST_ROUTES = 20
MAX_DNS_NAMESERVERS = 5


def check_route_syntax(route: dict[str, str]) -> None:
    """ValueError (Neutron's attribute reason) unless the destination is a CIDR as Neutron
    writes it and the next hop an address; either IP version, checked with the subnet."""
    destination, nexthop = route["destination"], route["nexthop"]
    try:
        network = ip_network(destination, strict=False)
    except ValueError as exc:
        raise ValueError(f"'{destination}' is not a valid IP subnet") from exc
    if "/" not in destination or (network.version == 4 and str(network) != destination):
        raise ValueError(
            f"'{destination}' isn't a recommended CIDR, it should be specified as '{network}'"
        )
    try:
        ip_address(nexthop)
    except ValueError as exc:
        raise ValueError(f"'{nexthop}' is not a valid IP address") from exc


def check_subnet_lists(
    subnet_id: str | None,
    routes: Sequence[dict[str, str]] | None,
    nameservers: Sequence[str] | None,
    ip_version: int = 4,
) -> None:
    """What Neutron checks when a subnet is created or updated (None: not given)."""
    name = subnet_id or "new subnet"
    if nameservers is not None and len(nameservers) > MAX_DNS_NAMESERVERS:
        raise ApiError(
            400,
            f"Unable to complete operation for {name}. The number of DNS nameservers exceeds "
            f"the limit {MAX_DNS_NAMESERVERS}.",
            "DNSNameServersExhausted",
        )
    if routes is None:
        return
    if len(routes) > MAX_SUBNET_HOST_ROUTES:
        raise ApiError(
            400,
            f"Unable to complete operation for {name}. The number of host routes exceeds "
            f"the limit {MAX_SUBNET_HOST_ROUTES}.",
            "HostRoutesExhausted",
        )
    for route in routes:
        for key, version in (
            ("nexthop", ip_address(route["nexthop"]).version),
            ("destination", ip_network(route["destination"], strict=False).version),
        ):
            if version != ip_version:
                raise invalid_input(
                    f"{key} '{route[key]}' does not match the ip_version '{ip_version}'"
                )
