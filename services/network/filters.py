"""List filters from the query string, as Neutron reads them.

``?device_id=a&device_id=b`` matches either value; different attributes must all match;
``fields=`` picks the attributes shown. Pagination and sorting parameters are accepted and
ignored (every list is answered whole). Filtering on an attribute that cannot be filtered
is a 400, so a typo never silently lists everything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from ipaddress import AddressValueError, IPv4Address
from typing import Any

from sqlalchemy import ColumnElement, and_, false, select, true
from sqlalchemy.orm import InstrumentedAttribute

from db.models.network import IpAllocation, Network, Port, Router, Subnet
from services.network.errors import bad_request, invalid_attribute

# name, values -> a WHERE clause
FilterSpec = Callable[[str, list[str]], ColumnElement[bool]]

_IGNORED = frozenset({"limit", "marker", "page_reverse", "sort_dir", "sort_key"})
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})


def to_bool(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE or lowered in _FALSE:
        return lowered in _TRUE
    raise invalid_attribute(name, f"'{value}' is not a valid boolean value")


def to_int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise invalid_attribute(name, f"'{value}' is not an integer") from exc


def column(attribute: InstrumentedAttribute[Any], kind: type = str) -> FilterSpec:
    """Match ``attribute`` against any of the values, converted to ``kind``."""

    def build(name: str, values: list[str]) -> ColumnElement[bool]:
        if kind is bool:
            return attribute.in_([to_bool(name, v) for v in values])
        if kind is int:
            return attribute.in_([to_int(name, v) for v in values])
        return attribute.in_(values)

    return build


def _router_external(name: str, values: list[str]) -> ColumnElement[bool]:
    # No network here is external: asking for external ones finds none.
    return true() if not any(to_bool(name, v) for v in values) else false()


def _fixed_ips(name: str, values: list[str]) -> ColumnElement[bool]:
    """``fixed_ips=ip_address=10.0.0.5`` and ``fixed_ips=subnet_id=<id>``, as Nova sends."""
    wanted: dict[str, list[str]] = {"ip_address": [], "subnet_id": []}
    for value in values:
        key, sep, wanted_value = value.partition("=")
        if not sep or key not in wanted:
            raise invalid_attribute(name, f"'{value}' is not ip_address=<ip> or subnet_id=<id>")
        if key == "ip_address":
            try:
                wanted_value = str(IPv4Address(wanted_value))
            except (AddressValueError, ValueError) as exc:
                raise invalid_attribute(name, f"'{wanted_value}' is not an IP address") from exc
        wanted[key].append(wanted_value)
    conditions = [getattr(IpAllocation, key).in_(given) for key, given in wanted.items() if given]
    return Port.id.in_(select(IpAllocation.port_id).where(and_(*conditions)))


def standard(
    model: type[Network] | type[Subnet] | type[Port] | type[Router],
) -> dict[str, FilterSpec]:
    return {
        "id": column(model.id),
        "name": column(model.name),
        "description": column(model.description),
        "project_id": column(model.project_id),
        "tenant_id": column(model.project_id),
        "revision_number": column(model.revision_number, int),
    }


NETWORK_FILTERS: dict[str, FilterSpec] = {
    **standard(Network),
    "shared": column(Network.shared, bool),
    "admin_state_up": column(Network.admin_state_up, bool),
    "status": column(Network.status),
    "mtu": column(Network.mtu, int),
    "router:external": _router_external,
}
SUBNET_FILTERS: dict[str, FilterSpec] = {
    **standard(Subnet),
    "network_id": column(Subnet.network_id),
    "cidr": column(Subnet.cidr),
    "ip_version": column(Subnet.ip_version, int),
    "gateway_ip": column(Subnet.gateway_ip),
    "enable_dhcp": column(Subnet.enable_dhcp, bool),
}
PORT_FILTERS: dict[str, FilterSpec] = {
    **standard(Port),
    "network_id": column(Port.network_id),
    "mac_address": lambda _name, values: Port.mac_address.in_([v.lower() for v in values]),
    "device_id": column(Port.device_id),
    "device_owner": column(Port.device_owner),
    "binding:host_id": column(Port.binding_host_id),
    "admin_state_up": column(Port.admin_state_up, bool),
    "status": column(Port.status),
    "fixed_ips": _fixed_ips,
}


@dataclass
class ListQuery:
    where: list[ColumnElement[bool]] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)


def parse_query(params: Iterable[tuple[str, str]], filters: Mapping[str, FilterSpec]) -> ListQuery:
    grouped: dict[str, list[str]] = {}
    for key, value in params:
        grouped.setdefault(key, []).append(value)
    query = ListQuery(fields=grouped.pop("fields", []))
    for key, values in grouped.items():
        if key in _IGNORED:
            continue
        spec = filters.get(key)
        if spec is None:
            raise bad_request(f"'{key}' is not a valid attribute for filtering")
        query.where.append(spec(key, values))
    return query
