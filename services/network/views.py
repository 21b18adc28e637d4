"""Networks, subnets and ports as Neutron's JSON shows them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from ipaddress import IPv4Address
from typing import Any

from db.models.network import Network, Port, Router, Subnet


def isotime(value: datetime) -> str:
    """Neutron's timestamps: UTC, whole seconds, a trailing Z."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def standard(row: Network | Subnet | Port | Router) -> dict[str, Any]:
    """The attributes Neutron adds to every resource (project, description, tags, times)."""
    return {
        "project_id": row.project_id,
        "tenant_id": row.project_id,
        "description": row.description,
        "tags": [],
        "created_at": isotime(row.created_at),
        "updated_at": isotime(row.updated_at),
        "revision_number": row.revision_number,
    }


def network_view(network: Network) -> dict[str, Any]:
    return {
        "id": network.id,
        "name": network.name,
        "shared": network.shared,
        "admin_state_up": network.admin_state_up,
        "status": network.status,
        "subnets": [s.id for s in network.subnets],
        "mtu": network.mtu,
        "router:external": False,
        "availability_zones": [],
        "availability_zone_hints": [],
        "port_security_enabled": True,
        **standard(network),
    }


def subnet_view(subnet: Subnet) -> dict[str, Any]:
    return {
        "id": subnet.id,
        "name": subnet.name,
        "network_id": subnet.network_id,
        "cidr": subnet.cidr,
        "ip_version": subnet.ip_version,
        "gateway_ip": subnet.gateway_ip,
        "allocation_pools": [dict(p) for p in subnet.allocation_pools],
        "enable_dhcp": subnet.enable_dhcp,
        "dns_nameservers": list(subnet.dns_nameservers),
        "host_routes": [dict(r) for r in subnet.host_routes],
        "ipv6_ra_mode": None,
        "ipv6_address_mode": None,
        "subnetpool_id": None,
        **standard(subnet),
    }


# A router's interface port (``device_id`` the router's).
ROUTER_INTERFACE = "network:router_interface"


def port_status(port: Port) -> str:
    """ACTIVE once the port is up, bound to a host and attached to a device. A router's
    interface needs no host: the service is its L3 agent, and Tempest waits for ACTIVE."""
    bound = bool(port.binding_host_id and port.device_id)
    if port.device_owner == ROUTER_INTERFACE and port.device_id:
        bound = True
    return "ACTIVE" if bound and port.admin_state_up else "DOWN"


def port_view(port: Port) -> dict[str, Any]:
    fixed_ips = sorted(port.fixed_ips, key=lambda a: (a.subnet_id, IPv4Address(a.ip_address)))
    return {
        "id": port.id,
        "name": port.name,
        "network_id": port.network_id,
        "mac_address": port.mac_address,
        "fixed_ips": [{"subnet_id": a.subnet_id, "ip_address": a.ip_address} for a in fixed_ips],
        "device_id": port.device_id,
        "device_owner": port.device_owner,
        "binding:host_id": port.binding_host_id,
        "binding:vif_type": "ovs" if port.binding_host_id else "unbound",
        "binding:vnic_type": "normal",
        "binding:profile": {},
        "binding:vif_details": {},
        "admin_state_up": port.admin_state_up,
        "status": port.status,
        "security_groups": [],
        "allowed_address_pairs": [],
        "extra_dhcp_opts": [],
        "port_security_enabled": True,
        **standard(port),
    }


def select_fields(view: dict[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """Only the attributes asked for with ``?fields=``; all of them when none were."""
    wanted = set(fields)
    if not wanted:
        return view
    return {k: v for k, v in view.items() if k in wanted}
