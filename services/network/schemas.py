"""Request bodies, checked the way Neutron's API layer checks them.

Neutron names the offending attribute in every refusal ("Unrecognized attribute(s) 'x'",
"Attribute 'status' not allowed in POST", "Invalid input for mtu. Reason: ..."), so bodies
arrive as plain JSON and are read here rather than by FastAPI's generic validation.
"""

from __future__ import annotations

from ipaddress import AddressValueError, IPv4Address
from typing import Annotated, Any, Literal, Protocol, TypeVar

from fastapi import Body
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from services.network.errors import bad_request, invalid_attribute
from services.network.host_routes import check_route_syntax

# A request body as plain JSON (malformed JSON is still FastAPI's 400); read by parse_body.
JsonBody = Annotated[Any, Body()]

Name = Annotated[str, Field(max_length=255)]
Description = Annotated[str, Field(max_length=255)]
ProjectId = Annotated[str, Field(min_length=1, max_length=64)]


def _none_as_empty(value: object) -> object:
    # Nova unbinds a port with "binding:host_id": null; Neutron stores that as unbound.
    return "" if value is None else value


HostId = Annotated[str, BeforeValidator(_none_as_empty), Field(max_length=255)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=False)


class _NetworkAttributes(_Body):
    """What a network's owner sets, on create and on update."""

    name: Name = ""
    description: Description = ""
    admin_state_up: bool = True
    shared: bool = False
    mtu: int = Field(1500, ge=68, le=9000)


class NetworkCreate(_NetworkAttributes):
    project_id: ProjectId | None = None
    tenant_id: ProjectId | None = None
    # Shown on every network; only the values this cloud implements are accepted.
    port_security_enabled: Literal[True] = True
    router_external: Literal[False] = Field(False, alias="router:external")


# Updates: only the attributes a request names are applied (``model_fields_set``); the
# defaults below are never used, and null is refused as Neutron refuses it.


class NetworkUpdate(_NetworkAttributes):
    pass


class PoolBody(_Body):
    start: str
    end: str


def _check_nameservers(value: list[str]) -> list[str]:
    # The count is checked with the subnet (Neutron's DNSNameServersExhausted); the list's
    # size is bounded by the request body meanwhile.
    seen: set[IPv4Address] = set()
    for server in value:
        try:
            ip = IPv4Address(server)
        except (AddressValueError, ValueError) as exc:
            raise ValueError(f"'{server}' is not a valid nameserver") from exc
        if ip in seen:
            raise ValueError(f"Duplicate nameserver '{server}'")
        seen.add(ip)
    return [str(IPv4Address(s)) for s in value]


class HostRouteBody(_Body):
    destination: str = Field(max_length=64)
    nexthop: str = Field(max_length=64)


def check_host_routes(value: list[HostRouteBody]) -> list[HostRouteBody]:
    """Neutron's ``type:hostroutes``: a CIDR and an address each, no route twice."""
    seen: list[dict[str, str]] = []
    for route in value:
        given = route.model_dump()
        check_route_syntax(given)
        if given in seen:
            raise ValueError(f"Duplicate hostroute '{given}'")
        seen.append(given)
    return value


class SubnetCreate(_Body):
    network_id: str = Field(min_length=1, max_length=36)
    cidr: str = Field(max_length=64)
    ip_version: int
    name: Name = ""
    description: Description = ""
    gateway_ip: str | None = None
    allocation_pools: list[PoolBody] | None = None
    enable_dhcp: bool = True
    dns_nameservers: list[str] = Field(default_factory=list)
    host_routes: list[HostRouteBody] = Field(default_factory=list)
    project_id: ProjectId | None = None
    tenant_id: ProjectId | None = None

    _nameservers = field_validator("dns_nameservers")(_check_nameservers)
    _routes = field_validator("host_routes", mode="after")(check_host_routes)

    @field_validator("ip_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value not in (4, 6):
            raise ValueError(f"{value} is not in [4, 6]")
        return value


class SubnetUpdate(_Body):
    name: Name = ""
    description: Description = ""
    enable_dhcp: bool = True
    dns_nameservers: list[str] = Field(default_factory=list)
    host_routes: list[HostRouteBody] = Field(default_factory=list)
    gateway_ip: Annotated[str, Field(max_length=64)] | None = None

    _nameservers = field_validator("dns_nameservers")(_check_nameservers)
    _routes = field_validator("host_routes", mode="after")(check_host_routes)


class FixedIpBody(_Body):
    subnet_id: str | None = Field(None, max_length=36)
    ip_address: str | None = Field(None, max_length=64)


def _distinct_addresses(value: list[FixedIpBody] | None) -> list[FixedIpBody] | None:
    # Neutron's type:fixed_ips; one subnet named twice is two addresses there, which is fine.
    seen: set[str] = set()
    for entry in value or []:
        if entry.ip_address is not None:
            if entry.ip_address in seen:
                raise ValueError(f"Duplicate IP address '{entry.ip_address}'")
            seen.add(entry.ip_address)
    return value


class _PortAttributes(_Body):
    """What a port's owner sets, on create and on update."""

    name: Name = ""
    description: Description = ""
    admin_state_up: bool = True
    device_id: Name = ""
    device_owner: Name = ""
    binding_host_id: HostId = Field("", alias="binding:host_id")


class _OnNetwork(_Body):
    network_id: str = Field(min_length=1, max_length=36)


# pydantic orders fields from the last base to the first, and the first field that fails is
# the one a refusal names: network_id, then the port's own attributes, then the rest.
class PortCreate(_PortAttributes, _OnNetwork):
    binding_vnic_type: Literal["normal"] = Field("normal", alias="binding:vnic_type")
    fixed_ips: list[FixedIpBody] | None = None
    mac_address: str | None = None

    _fixed_ips = field_validator("fixed_ips")(_distinct_addresses)
    project_id: ProjectId | None = None
    tenant_id: ProjectId | None = None
    port_security_enabled: Literal[True] = True


class PortUpdate(_PortAttributes):
    fixed_ips: list[FixedIpBody] = Field(default_factory=list)

    _fixed_ips = field_validator("fixed_ips")(_distinct_addresses)


# Every attribute Neutron shows on each resource: one that a request may not set is refused
# as read-only, anything else as unrecognized, just as Neutron tells them apart.
_EVERY_RESOURCE = frozenset(
    {
        "id",
        "name",
        "project_id",
        "tenant_id",
        "description",
        "tags",
        "created_at",
        "updated_at",
        "revision_number",
    }
)
NETWORK_ATTRIBUTES = _EVERY_RESOURCE | frozenset(
    {
        "shared",
        "admin_state_up",
        "status",
        "subnets",
        "mtu",
        "router:external",
        "availability_zones",
        "availability_zone_hints",
        "port_security_enabled",
    }
)
SUBNET_ATTRIBUTES = _EVERY_RESOURCE | frozenset(
    {
        "network_id",
        "cidr",
        "ip_version",
        "gateway_ip",
        "allocation_pools",
        "enable_dhcp",
        "dns_nameservers",
        "host_routes",
        "ipv6_ra_mode",
        "ipv6_address_mode",
        "subnetpool_id",
    }
)
PORT_ATTRIBUTES = _EVERY_RESOURCE | frozenset(
    {
        "network_id",
        "mac_address",
        "fixed_ips",
        "device_id",
        "device_owner",
        "binding:host_id",
        "binding:vif_type",
        "binding:vnic_type",
        "binding:profile",
        "binding:vif_details",
        "admin_state_up",
        "status",
        "security_groups",
        "allowed_address_pairs",
        "extra_dhcp_opts",
        "port_security_enabled",
    }
)

# Attributes no request sets (Neutron's allow_post/allow_put False, or fixed at creation);
# other known attributes a body may not carry are ones Neutron can set and this cloud cannot.
READ_ONLY = frozenset(
    {
        "id",
        "project_id",
        "tenant_id",
        "status",
        "created_at",
        "updated_at",
        "revision_number",
        "subnets",
        "availability_zones",
        "network_id",
        "cidr",
        "ip_version",
        "binding:vif_type",
        "binding:vif_details",
        # A router's routes are set by a PUT only (Neutron's extraroute).
        "routes",
    }
)

BodyT = TypeVar("BodyT", bound=_Body)


def _accepted(model: type[_Body]) -> set[str]:
    return {info.alias or name for name, info in model.model_fields.items()}


def parse_body(
    body: Any,
    resource: str,
    model: type[BodyT],
    attributes: frozenset[str],
    method: Literal["POST", "PUT"],
) -> BodyT:
    """``body[resource]`` validated as ``model``, or a 400 naming what is wrong with it."""
    if not isinstance(body, dict) or not isinstance(body.get(resource), dict):
        raise bad_request(f"Unable to find '{resource}' in request body")
    if len(body) > 1:
        extra = sorted(k for k in body if k != resource)
        raise bad_request(f"Unrecognized attribute(s) '{', '.join(extra)}'")
    fields: dict[str, Any] = body[resource]
    accepted = _accepted(model)
    unknown = sorted(k for k in fields if k not in accepted and k not in attributes)
    if unknown:
        raise bad_request(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    for key in sorted(fields):
        if key in accepted:
            continue
        if key not in READ_ONLY:
            raise bad_request(f"Setting '{key}' is not supported by this cloud")
        if method == "POST":
            raise bad_request(f"Attribute '{key}' not allowed in POST")
        raise bad_request(f"Cannot update read-only attribute {key}")
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise _refusal(exc) from exc


def _refusal(exc: ValidationError) -> Exception:
    error = exc.errors()[0]
    location = error.get("loc", ())
    attribute = str(location[0]) if location else "body"
    if error["type"] == "missing" and len(location) == 1:
        return bad_request(
            f"Failed to parse request. Required attribute '{attribute}' not specified"
        )
    reason = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    if len(location) > 1:
        reason = f"{'.'.join(str(p) for p in location[1:])}: {reason}"
    given = repr(error.get("input"))
    if len(given) > 60:
        given = given[:57] + "..."
    return invalid_attribute(attribute, f"{reason} (got {given})")


class _Revised(Protocol):
    revision_number: int


def apply_update(row: _Revised, update: _Body, skip: frozenset[str] = frozenset()) -> bool:
    """Copy the attributes a PUT named (but those in ``skip``, which the caller applies)
    onto ``row``; bump its revision if any changed."""
    changed = False
    for name in sorted(update.model_fields_set - skip):
        value = getattr(update, name)
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    if changed:
        row.revision_number += 1
    return changed


# For request bodies and attributes defined beside their resource (routers.py, ...).
RequestBody = _Body
EVERY_RESOURCE = _EVERY_RESOURCE
