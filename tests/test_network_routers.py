"""Routers as a resource: CRUD, interfaces by subnet or port, and what they keep in use."""

from __future__ import annotations

from typing import Any

import pytest

from clients.errors import HttpError
from clients.network import NetworkClient
from tests.support.cloud import LoopbackCloud
from tests.support.neutron import call, refused
from tests.test_network_service import TIMESTAMP, _raw, admin, alt, client, cloud, demo

__all__ = ["admin", "alt", "client", "cloud", "demo"]


def _router(client: NetworkClient, **fields: Any) -> dict[str, Any]:
    created: dict[str, Any] = call(client, "POST", "routers", {"router": fields})["router"]
    return created


def _add(client: NetworkClient, router_id: str, **body: str) -> dict[str, Any]:
    info: dict[str, Any] = call(client, "PUT", f"routers/{router_id}/add_router_interface", body)
    return info


def _remove(client: NetworkClient, router_id: str, **body: str) -> dict[str, Any]:
    info: dict[str, Any] = call(client, "PUT", f"routers/{router_id}/remove_router_interface", body)
    return info


def test_router_crud_and_json_shape(cloud: LoopbackCloud, demo: NetworkClient) -> None:
    project = demo.session.token_info().project_id
    router = _router(demo, name="r1", admin_state_up=False, description="edge")
    assert set(router) == {
        "id",
        "name",
        "admin_state_up",
        "status",
        "external_gateway_info",
        "project_id",
        "tenant_id",
        "description",
        "tags",
        "created_at",
        "updated_at",
        "revision_number",
        "routes",
    }
    assert (router["name"], router["admin_state_up"], router["status"]) == ("r1", False, "ACTIVE")
    assert router["external_gateway_info"] is None and router["description"] == "edge"
    assert router["routes"] == []
    assert router["project_id"] == router["tenant_id"] == project
    assert TIMESTAMP.match(router["created_at"])
    assert call(demo, "GET", f"routers/{router['id']}") == {"router": router}
    other = _router(demo, name="r2")
    assert other["admin_state_up"] is True
    listed = call(demo, "GET", "routers")["routers"]
    assert [r["id"] for r in listed] == [router["id"], other["id"]]
    assert [r["id"] for r in call(demo, "GET", "routers?name=r2")["routers"]] == [other["id"]]
    assert call(demo, "GET", "routers?admin_state_up=false&fields=id")["routers"] == [
        {"id": router["id"]}
    ]
    updated = call(
        demo, "PUT", f"routers/{router['id']}", {"router": {"name": "r1b", "admin_state_up": True}}
    )["router"]
    assert (updated["name"], updated["admin_state_up"]) == ("r1b", True)
    assert updated["revision_number"] == router["revision_number"] + 1
    assert call(demo, "DELETE", f"routers/{router['id']}") is None
    assert refused(demo, "GET", f"routers/{router['id']}") == (
        404,
        "RouterNotFound",
        f"Router {router['id']} could not be found",
    )
    aliases = {e["alias"] for e in _raw(cloud, demo, "GET", "v2.0/extensions").json()["extensions"]}
    assert "router" in aliases


def test_bad_router_requests(demo: NetworkClient, alt: NetworkClient) -> None:
    router = _router(demo, name="r")
    network = demo.create_network("net")
    assert refused(demo, "POST", "routers", {"router": {"bogus": 1}})[:2] == (
        400,
        "HTTPBadRequest",
    )
    assert refused(demo, "POST", "routers", {"router": {"status": "DOWN"}})[2] == (
        "Attribute 'status' not allowed in POST"
    )
    assert refused(demo, "POST", "routers", {"router": {"distributed": True}})[2] == (
        "Setting 'distributed' is not supported by this cloud"
    )
    # Tempest's test_router_add_gateway_invalid_network_returns_404 and ..._not_external_...
    missing = "2e7a1bb4-b9de-4c5b-8d2e-6e5ba9b6ce8e"
    gateway = {"router": {"external_gateway_info": {"network_id": missing}}}
    assert refused(demo, "PUT", f"routers/{router['id']}", gateway)[:2] == (404, "NetworkNotFound")
    gateway = {"router": {"external_gateway_info": {"network_id": network["id"]}}}
    assert refused(demo, "PUT", f"routers/{router['id']}", gateway) == (
        400,
        "BadRequest",
        f"Bad router request: Network {network['id']} is not an external network.",
    )
    assert refused(demo, "POST", "routers", gateway)[:2] == (400, "BadRequest")
    for method in ("GET", "PUT", "DELETE"):
        body = {"router": {"name": "x"}} if method == "PUT" else None
        assert refused(alt, method, f"routers/{router['id']}", body)[:2] == (404, "RouterNotFound")
    assert [r["id"] for r in call(demo, "GET", "routers")["routers"]] == [router["id"]]


def test_interfaces_by_subnet_and_port(demo: NetworkClient) -> None:
    router = _router(demo, name="r")
    network = demo.create_network("net")
    subnet = demo.create_subnet(network["id"], "10.0.0.0/24")
    info = _add(demo, router["id"], subnet_id=subnet["id"])
    assert info == {
        "id": router["id"],
        "tenant_id": router["project_id"],
        "project_id": router["project_id"],
        "port_id": info["port_id"],
        "network_id": network["id"],
        "subnet_id": subnet["id"],
        "subnet_ids": [subnet["id"]],
    }
    port = demo.get_port(info["port_id"])
    assert (port["device_id"], port["device_owner"]) == (router["id"], "network:router_interface")
    # Up at once: the service is the router's agent (Tempest waits for ACTIVE to remove it).
    assert port["status"] == "ACTIVE"
    assert port["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": "10.0.0.1"}]
    assert [p["id"] for p in demo.list_ports(device_id=router["id"])] == [port["id"]]
    # Tempest's test_router_interface_port_update_with_fixed_ip: the same subnet again.
    kept = demo.update_port(port["id"], fixed_ips=[{"subnet_id": subnet["id"]}])
    assert kept["fixed_ips"] == port["fixed_ips"]

    second = demo.create_network("net2")
    other = demo.create_subnet(second["id"], "10.1.0.0/24")
    free = demo.create_port(second["id"], device_id="", device_owner="", host="")
    by_port = _add(demo, router["id"], port_id=free["id"])
    assert (by_port["port_id"], by_port["subnet_id"]) == (free["id"], other["id"])
    taken = demo.get_port(free["id"])
    assert (taken["device_id"], taken["device_owner"]) == (router["id"], "network:router_interface")
    assert (free["status"], taken["status"]) == ("DOWN", "ACTIVE")

    assert _remove(demo, router["id"], port_id=free["id"])["port_id"] == free["id"]
    assert _remove(demo, router["id"], subnet_id=subnet["id"])["port_id"] == port["id"]
    # The interfaces' ports go with them, and their addresses are free again.
    assert demo.list_ports() == []
    demo.delete_subnet(subnet["id"])
    call(demo, "DELETE", f"routers/{router['id']}")


def test_a_routers_ports_keep_its_subnet_network_and_itself(demo: NetworkClient) -> None:
    router = _router(demo, name="r")
    network = demo.create_network("net")
    subnet = demo.create_subnet(network["id"], "10.0.0.0/24")
    info = _add(demo, router["id"], subnet_id=subnet["id"])
    with pytest.raises(HttpError) as in_use:
        demo.delete_subnet(subnet["id"])
    assert (in_use.value.status, in_use.value.error_type) == (409, "SubnetInUse")
    with pytest.raises(HttpError) as net_in_use:
        demo.delete_network(network["id"])
    assert (net_in_use.value.status, net_in_use.value.error_type) == (409, "NetworkInUse")
    assert refused(demo, "DELETE", f"routers/{router['id']}") == (
        409,
        "RouterInUse",
        f"Router {router['id']} still has ports",
    )
    with pytest.raises(HttpError) as direct:
        demo.delete_port(info["port_id"])
    assert (direct.value.status, direct.value.error_type, direct.value.message) == (
        409,
        "L3PortInUse",
        f"Port {info['port_id']} has owner network:router_interface and therefore cannot be "
        "deleted directly via the port API.",
    )
    assert demo.get_subnet(subnet["id"])["id"] == subnet["id"]
    _remove(demo, router["id"], subnet_id=subnet["id"])
    demo.delete_network(network["id"])
    call(demo, "DELETE", f"routers/{router['id']}")


def test_bad_interface_requests(demo: NetworkClient, alt: NetworkClient) -> None:
    router = _router(demo, name="r")
    network = demo.create_network("net")
    subnet = demo.create_subnet(network["id"], "10.0.0.0/24")
    no_gateway = demo.create_subnet(demo.create_network("n2")["id"], "10.9.0.0/24", gateway_ip=None)
    path = f"routers/{router['id']}/add_router_interface"
    assert refused(demo, "PUT", path, {}) == (
        400,
        "BadRequest",
        "Bad router request: Either subnet_id or port_id must be specified.",
    )
    assert refused(demo, "PUT", path, {"subnet_id": "x"}) == (
        400,
        "BadRequest",
        "Bad router request: 'x' is not a valid UUID.",
    )
    for body in ([], "x", {"subnet_id": None}, {"port_id": 5}, {"subnet_id": "x" * 5000}):
        assert refused(demo, "PUT", path, body)[:2] == (400, "BadRequest"), body
    both = {"subnet_id": subnet["id"], "port_id": subnet["id"]}
    assert refused(demo, "PUT", path, both)[2] == (
        "Bad router request: Cannot specify both subnet-id and port-id."
    )
    assert refused(demo, "PUT", path, {"subnet_id": no_gateway["id"]})[2] == (
        "Bad router request: Subnet for router interface must have a gateway IP."
    )
    _add(demo, router["id"], subnet_id=subnet["id"])
    assert refused(demo, "PUT", path, {"subnet_id": subnet["id"]})[2] == (
        f"Bad router request: Router already has a port on subnet {subnet['id']}."
    )
    # Tempest's test_add_router_interfaces_on_overlapping_subnets_returns_400.
    overlapping = demo.create_subnet(demo.create_network("n3")["id"], "10.0.0.0/24")
    assert refused(demo, "PUT", path, {"subnet_id": overlapping["id"]}) == (
        400,
        "BadRequest",
        f"Bad router request: Cidr 10.0.0.0/24 of subnet {overlapping['id']} overlaps with "
        f"cidr 10.0.0.0/24 of subnet {subnet['id']}.",
    )
    used = demo.create_port(network["id"], device_id="vm-1", device_owner="compute:nova", host="")
    assert refused(demo, "PUT", path, {"port_id": used["id"]})[:2] == (409, "PortInUse")
    missing = "2e7a1bb4-b9de-4c5b-8d2e-6e5ba9b6ce8e"
    assert refused(demo, "PUT", path, {"subnet_id": missing})[:2] == (404, "SubnetNotFound")
    assert refused(demo, "PUT", path, {"port_id": missing})[:2] == (404, "PortNotFound")
    remove = f"routers/{router['id']}/remove_router_interface"
    assert refused(demo, "PUT", remove, {"port_id": used["id"]})[:2] == (
        404,
        "RouterInterfaceNotFound",
    )
    assert refused(demo, "PUT", remove, {"subnet_id": no_gateway["id"]})[:2] == (
        404,
        "RouterInterfaceNotFoundForSubnet",
    )
    # Another project's router is not there for it.
    assert refused(alt, "PUT", path, {"subnet_id": subnet["id"]})[:2] == (404, "RouterNotFound")
    assert refused(
        demo, "PUT", f"routers/{missing}/add_router_interface", {"subnet_id": subnet["id"]}
    )[:2] == (404, "RouterNotFound")
    assert len(demo.list_ports(device_id=router["id"])) == 1


def test_extra_routes_go_through_the_routers_interfaces(demo: NetworkClient) -> None:
    # Tempest's test_update_delete_extra_route, then Neutron's refusals.
    router = _router(demo, name="r")
    subnets = []
    for i in range(4):
        network = demo.create_network(f"net{i}")
        subnets.append(demo.create_subnet(network["id"], f"10.{i}.0.0/24"))
        _add(demo, router["id"], subnet_id=subnets[-1]["id"])
    routes = [{"destination": f"10.{i}.0.0/24", "nexthop": f"10.{i}.0.2"} for i in range(4)]
    path = f"routers/{router['id']}"
    updated = call(demo, "PUT", path, {"router": {"routes": routes}})["router"]
    assert updated["routes"] == routes
    assert updated["revision_number"] == router["revision_number"] + 1
    assert call(demo, "GET", path)["router"]["routes"] == routes

    assert refused(
        demo,
        "PUT",
        f"routers/{router['id']}/remove_router_interface",
        {"subnet_id": subnets[0]["id"]},
    ) == (
        409,
        "RouterInterfaceInUseByRoute",
        f"Router interface for subnet {subnets[0]['id']} on router {router['id']} cannot be "
        "deleted, as it is required by one or more routes.",
    )
    far = [{"destination": "10.9.0.0/24", "nexthop": "10.8.0.5"}]
    assert refused(demo, "PUT", path, {"router": {"routes": far}}) == (
        400,
        "InvalidRoutes",
        f"Invalid format for routes: {far}, the nexthop is not connected with router",
    )
    own = [{"destination": "10.9.0.0/24", "nexthop": "10.1.0.1"}]
    assert refused(demo, "PUT", path, {"router": {"routes": own}})[2].endswith(
        "the nexthop is used by router"
    )
    many = [{"destination": f"10.100.{i}.0/24", "nexthop": "10.0.0.5"} for i in range(31)]
    assert refused(demo, "PUT", path, {"router": {"routes": many}}) == (
        400,
        "RoutesExhausted",
        f"Unable to complete operation for {router['id']}. The number of routes exceeds the "
        "maximum 30.",
    )
    v6 = [{"destination": "2001::/64", "nexthop": "2003::1"}]
    assert refused(demo, "PUT", path, {"router": {"routes": v6}})[:2] == (400, "InvalidRoutes")
    bad = [{"destination": "10.9.0.0", "nexthop": "10.0.0.5"}]
    assert refused(demo, "PUT", path, {"router": {"routes": bad}})[:2] == (400, "HTTPBadRequest")
    assert refused(demo, "POST", "routers", {"router": {"routes": routes}})[2] == (
        "Attribute 'routes' not allowed in POST"
    )
    assert call(demo, "GET", path)["router"]["routes"] == routes

    # Null clears them (Tempest's cleanup); then the interfaces come off.
    assert call(demo, "PUT", path, {"router": {"routes": None}})["router"]["routes"] == []
    for subnet in subnets:
        _remove(demo, router["id"], subnet_id=subnet["id"])
    call(demo, "DELETE", path)
