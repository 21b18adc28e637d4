"""IP address management: subnet layout checks and race-free fixed IP allocation.

Layout rules are Neutron's: the default gateway is the first host, the default allocation
pools are every host but the gateway, pools stay inside the subnet and clear of the gateway,
and subnets on one network never overlap.

Allocation relies on the database, not on locks: an address is held by a row in
``ip_allocations`` whose primary key is (subnet, address), inserted inside a SAVEPOINT. When
a concurrent request committed the same address first, the insert fails, the savepoint is
undone and the next free address is tried, so no address is ever handed out twice, on
SQLite (writers serialized) and on PostgreSQL (READ COMMITTED) alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from ipaddress import AddressValueError, IPv4Address, IPv4Network, NetmaskValueError
from itertools import pairwise
from socket import inet_aton

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models.network import IpAllocation, Subnet
from services.common.app import ApiError
from services.network.claims import claim
from services.network.errors import (
    invalid_attribute,
    invalid_input,
    ip_already_allocated,
    ip_generation_failure,
)

# Neutron refuses prefixes that leave no usable host; /31 point-to-point links are not our use.
MAX_PREFIX = 30


@dataclass(frozen=True)
class Pool:
    """An inclusive range of addresses, Neutron's ``{"start": ..., "end": ...}``."""

    start: IPv4Address
    end: IPv4Address

    def __contains__(self, ip: object) -> bool:
        return isinstance(ip, IPv4Address) and self.start <= ip <= self.end

    def as_json(self) -> dict[str, str]:
        return {"start": str(self.start), "end": str(self.end)}

    def __str__(self) -> str:
        return f"{self.start}-{self.end}"


@dataclass(frozen=True)
class Layout:
    """A validated subnet: its network, gateway (or none) and allocation pools."""

    cidr: IPv4Network
    gateway: IPv4Address | None
    pools: tuple[Pool, ...]


def parse_address(value: str, attribute: str) -> IPv4Address:
    try:
        return IPv4Address(value)
    except (AddressValueError, ValueError) as exc:
        raise invalid_attribute(attribute, f"'{value}' is not a valid IPv4 address") from exc


def parse_cidr(value: str) -> IPv4Network:
    """The subnet ``value`` names; host bits set or a prefix too long to hold hosts is a 400."""
    try:
        loose = IPv4Network(value, strict=False)
    except (AddressValueError, NetmaskValueError, ValueError) as exc:
        raise invalid_attribute("cidr", f"'{value}' is not a valid IP subnet") from exc
    if "/" not in value:
        raise invalid_attribute("cidr", f"'{value}' is not a valid IP subnet")
    if str(loose) != value:
        raise invalid_attribute(
            "cidr", f"'{value}' isn't a recommended CIDR, it should be specified as '{loose}'"
        )
    if loose.prefixlen > MAX_PREFIX:
        raise invalid_input(
            f"A /{loose.prefixlen} IPv4 subnet has no room for hosts; use /30 or a shorter prefix."
        )
    return loose


def _first_host(cidr: IPv4Network) -> IPv4Address:
    return cidr.network_address + 1


def _last_host(cidr: IPv4Network) -> IPv4Address:
    return cidr.broadcast_address - 1


def default_pools(cidr: IPv4Network, gateway: IPv4Address | None) -> tuple[Pool, ...]:
    """Every host address of ``cidr`` but the gateway, as one or two ranges."""
    first, last = _first_host(cidr), _last_host(cidr)
    if gateway is None or not first <= gateway <= last:
        return (Pool(first, last),)
    pools = []
    if gateway > first:
        pools.append(Pool(first, gateway - 1))
    if gateway < last:
        pools.append(Pool(gateway + 1, last))
    return tuple(pools)


def _parse_pools(cidr: IPv4Network, given: Sequence[tuple[str, str]]) -> tuple[Pool, ...]:
    pools = []
    first, last = _first_host(cidr), _last_host(cidr)
    for start_text, end_text in given:
        start = parse_address(start_text, "allocation_pools")
        end = parse_address(end_text, "allocation_pools")
        pool = Pool(start, end)
        if start > end:
            raise ApiError(
                400, f"The allocation pool {pool} is not valid.", "InvalidAllocationPool"
            )
        if start < first or end > last:
            raise ApiError(
                400,
                f"The allocation pool {pool} spans beyond the subnet cidr {cidr}.",
                "OutOfBoundsAllocationPool",
            )
        pools.append(pool)
    pools.sort(key=lambda p: p.start)
    for before, after in pairwise(pools):
        if after.start <= before.end:
            raise ApiError(
                409,
                f"Found overlapping allocation pools: {before} {after} for subnet {cidr}.",
                "OverlappingAllocationPools",
            )
    return tuple(pools)


def plan_layout(
    cidr_text: str,
    gateway_text: str | None,
    gateway_given: bool,
    pools_given: Sequence[tuple[str, str]] | None,
) -> Layout:
    """Check a new subnet's addresses and fill in Neutron's defaults.

    ``gateway_given`` tells an explicit ``"gateway_ip": null`` (no gateway) from an absent
    one (the first host).
    """
    cidr = parse_cidr(cidr_text)
    if not gateway_given:
        gateway: IPv4Address | None = _first_host(cidr)
    elif gateway_text is None:
        gateway = None
    else:
        gateway = parse_gateway(cidr, gateway_text)
    if pools_given is None:
        return Layout(cidr, gateway, default_pools(cidr, gateway))
    pools = _parse_pools(cidr, pools_given)
    if not pools:
        raise invalid_attribute("allocation_pools", "at least one pool is needed")
    check_gateway_out_of_pools(gateway, pools)
    return Layout(cidr, gateway, pools)


def parse_gateway(cidr: IPv4Network, text: str) -> IPv4Address:
    gateway = parse_address(text, "gateway_ip")
    # Neutron allows a gateway outside the subnet (an on-link route), but never the
    # subnet's own network or broadcast address.
    if gateway in (cidr.network_address, cidr.broadcast_address):
        raise invalid_input("Gateway is not valid on subnet")
    return gateway


def check_gateway_out_of_pools(gateway: IPv4Address | None, pools: Iterable[Pool]) -> None:
    for pool in pools:
        if gateway is not None and gateway in pool:
            raise ApiError(
                409,
                f"Gateway ip {gateway} conflicts with allocation pool {pool}",
                "GatewayConflictWithAllocationPools",
            )


def check_no_overlap(new: IPv4Network, network_id: str, existing: Iterable[Subnet]) -> None:
    for subnet in existing:
        if IPv4Network(subnet.cidr).overlaps(new):
            raise invalid_input(
                f"Requested subnet with cidr: {new} for network: {network_id} overlaps with "
                "another subnet"
            )


def pools_of(subnet: Subnet) -> tuple[Pool, ...]:
    return tuple(
        Pool(IPv4Address(p["start"]), IPv4Address(p["end"])) for p in subnet.allocation_pools
    )


def check_fixed_ip(subnet: Subnet, ip: IPv4Address) -> None:
    """An address a port may ask for on ``subnet``: inside it, not its network or broadcast."""
    cidr = IPv4Network(subnet.cidr)
    if ip not in cidr or ip in (cidr.network_address, cidr.broadcast_address):
        raise ApiError(
            400,
            f"IP address {ip} is not a valid IP for the specified subnet.",
            "InvalidIpForSubnet",
        )


def _free_addresses(pools: Iterable[Pool], taken: set[int]) -> Iterator[IPv4Address]:
    # Addresses as integers: every allocation of the subnet is in ``taken``, and building an
    # IPv4Address for each cost more than the rest of a port create (docs/performance.md).
    for pool in pools:
        for ip in range(int(pool.start), int(pool.end) + 1):
            if ip not in taken:
                yield IPv4Address(ip)


def _taken(session: Session, subnet_id: str) -> set[int]:
    rows = session.scalars(
        select(IpAllocation.ip_address).where(IpAllocation.subnet_id == subnet_id)
    )
    # Stored as written by _allocation (dotted quads), so inet_aton reads them exactly.
    return {int.from_bytes(inet_aton(address), "big") for address in rows}


def allocate(
    session: Session, subnet: Subnet, port_id: str, requested: IPv4Address | None = None
) -> IPv4Address:
    """Hold an address of ``subnet`` for ``port_id``: ``requested``, or the first free one.

    Raises 409 ``IpAddressAlreadyAllocated`` when the requested address is held, and 409
    ``IpAddressGenerationFailure`` when the pools are exhausted.
    """
    if requested is not None:
        if not claim(session, _allocation(subnet, port_id, requested)):
            raise ip_already_allocated(str(requested), subnet.id)
        return requested
    lost: set[int] = set()
    while True:
        # Re-read after every lost race: under READ COMMITTED each statement sees what other
        # transactions committed since, so the winner's address drops out of the candidates.
        taken = _taken(session, subnet.id) | lost
        ip = next(_free_addresses(pools_of(subnet), taken), None)
        if ip is None:
            raise ip_generation_failure(subnet.network_id)
        if claim(session, _allocation(subnet, port_id, ip)):
            return ip
        # Terminates: each lost race removes one candidate from a finite pool.
        lost.add(int(ip))


def _allocation(subnet: Subnet, port_id: str, ip: IPv4Address) -> IpAllocation:
    return IpAllocation(
        subnet_id=subnet.id, ip_address=str(ip), port_id=port_id, network_id=subnet.network_id
    )
