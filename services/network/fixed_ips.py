"""A port's fixed IPs asked for on create or changed by a PUT, as Neutron reads them.

Entries name a subnet, an address, or both; one subnet may be named several times (an
address each). A PUT's list is the port's new set: as Neutron's
``_get_changed_ips_for_port``, an address named again is kept, a subnet named without an
address keeps one the port already has there, every other held address is released and
every other entry allocated, released first so an address can move within the request.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from sqlalchemy.orm import Session

from db.models.network import IpAllocation, Network, Port, Subnet
from services.common.auth import AuthContext
from services.network import ipam
from services.network.access import get_network, get_subnet, owns
from services.network.errors import invalid_attribute, invalid_input, policy_denied
from services.network.schemas import FixedIpBody

# Neutron's max_fixed_ips_per_port default.
MAX_FIXED_IPS_PER_PORT = 5


@dataclass(frozen=True)
class FixedIpRequest:
    subnet: Subnet
    ip: IPv4Address | None


def resolve(
    session: Session, caller: AuthContext, network: Network, given: list[FixedIpBody]
) -> list[FixedIpRequest]:
    """Each asked-for IP with its subnet, checked to belong to ``network``."""
    if len(given) > MAX_FIXED_IPS_PER_PORT:
        raise invalid_input("Exceeded maximum amount of fixed ips per port.")
    return [_resolve_one(session, caller, network, entry) for entry in given]


def _resolve_one(
    session: Session, caller: AuthContext, network: Network, entry: FixedIpBody
) -> FixedIpRequest:
    ip = ipam.parse_address(entry.ip_address, "fixed_ips") if entry.ip_address else None
    if entry.subnet_id:
        subnet = get_subnet(session, caller, entry.subnet_id)
        if subnet.network_id != network.id:
            raise invalid_input(
                f"Failed to create port on network {network.id}, because fixed_ips "
                f"included invalid subnet {subnet.id}."
            )
    elif ip is not None:
        found = [s for s in network.subnets if ip in IPv4Network(s.cidr)]
        if not found:
            raise invalid_input(
                f"IP address {ip} is not a valid IP for any of the subnets on the "
                "specified network."
            )
        subnet = found[0]
    else:
        raise invalid_attribute("fixed_ips", "each entry needs a subnet_id or ip_address")
    if ip is not None:
        ipam.check_fixed_ip(subnet, ip)
    return FixedIpRequest(subnet, ip)


def plan_changes(
    held: list[IpAllocation], requests: list[FixedIpRequest]
) -> tuple[list[FixedIpRequest], list[IpAllocation]]:
    """What to allocate and what to release for the port holding ``held`` to hold what
    ``requests`` asks for (Neutron's rules, in the module's docstring)."""
    by_ip = {a.ip_address: a for a in held}
    add = [r for r in requests if r.ip is not None and by_ip.pop(str(r.ip), None) is None]
    by_subnet: dict[str, list[IpAllocation]] = defaultdict(list)
    for allocation in by_ip.values():
        by_subnet[allocation.subnet_id].append(allocation)
    for request in requests:
        if request.ip is not None:
            continue
        left = by_subnet.get(request.subnet.id)
        if left:
            left.pop()
        else:
            add.append(request)
    return add, [a for left in by_subnet.values() for a in left]


def allocate_all(
    session: Session, caller: AuthContext, port: Port, requests: list[FixedIpRequest]
) -> None:
    """Hold an address for each request. Subnets in id order (a single lock order);
    asked-for addresses before automatic ones, so an automatic pick cannot take an address
    the same request names."""
    for request in sorted(requests, key=lambda r: (r.subnet.id, r.ip is None)):
        # FOR KEY SHARE: a concurrent delete of the subnet waits for this port, or wins
        # first and this request answers 404 instead of tripping over a foreign key.
        subnet = get_subnet(session, caller, request.subnet.id, lock="use")
        ipam.allocate(session, subnet, port.id, request.ip)


def update(session: Session, caller: AuthContext, port: Port, given: list[FixedIpBody]) -> bool:
    """Give ``port`` the fixed IPs a PUT asks for; whether anything changed."""
    network = get_network(session, caller, port.network_id, lock="use")
    requests = resolve(session, caller, network, given)
    # Neutron's policy: only the network's owner (or admin) picks addresses.
    if not owns(caller, network.project_id) and any(r.ip is not None for r in requests):
        raise policy_denied("(rule:update_port and rule:update_port:fixed_ips:ip_address)")
    add, release = plan_changes(list(port.fixed_ips), requests)
    if not add and not release:
        return False
    for allocation in release:
        port.fixed_ips.remove(allocation)
    session.flush()
    allocate_all(session, caller, port, add)
    session.expire(port, ["fixed_ips"])
    return True
