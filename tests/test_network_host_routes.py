"""A subnet's host routes and DNS servers: set, changed and refused as Neutron does, and
a subnet's gateway moved."""

from __future__ import annotations

from typing import Any

from clients.network import NetworkClient
from tests.support.neutron import refusal
from tests.test_network_service import admin, alt, client, cloud, demo

__all__ = ["admin", "alt", "client", "cloud", "demo"]

ROUTE = {"destination": "10.20.0.0/32", "nexthop": "10.100.1.1"}


def _create(client: NetworkClient, network_id: str, **subnet: Any) -> dict[str, Any]:
    body = {"network_id": network_id, "cidr": "10.0.0.0/24", "ip_version": 4, **subnet}
    answer = client.session.request("network", "POST", "v2.0/subnets", json={"subnet": body})
    created: dict[str, Any] = answer.json()["subnet"]
    return created


def test_host_routes_are_kept_shown_and_replaced(demo: NetworkClient) -> None:
    network = demo.create_network("net")
    subnet = _create(demo, network["id"], host_routes=[ROUTE], dns_nameservers=["8.8.4.4"])
    assert subnet["host_routes"] == [ROUTE]
    assert demo.get_subnet(subnet["id"])["host_routes"] == [ROUTE]
    assert demo.list_subnets()[0]["host_routes"] == [ROUTE]

    new_routes = [
        {"destination": "10.20.0.0/32", "nexthop": "10.100.1.2"},
        {"destination": "0.0.0.0/0", "nexthop": "10.0.0.254"},
    ]
    updated = demo.update_subnet(
        subnet["id"], host_routes=new_routes, dns_nameservers=["7.8.8.8", "7.8.4.4"]
    )
    assert updated["host_routes"] == new_routes
    assert updated["dns_nameservers"] == ["7.8.8.8", "7.8.4.4"]
    assert updated["revision_number"] == subnet["revision_number"] + 1
    assert demo.get_subnet(subnet["id"]) == updated
    # A name change leaves the routes alone; an empty list removes them.
    assert demo.update_subnet(subnet["id"], name="x")["host_routes"] == new_routes
    assert demo.update_subnet(subnet["id"], host_routes=[])["host_routes"] == []


def test_the_gateway_moves_clear_of_pools_and_ports(demo: NetworkClient) -> None:
    network = demo.create_network("net")
    pools = [{"start": "10.0.0.10", "end": "10.0.0.20"}]
    subnet = _create(demo, network["id"], gateway_ip="10.0.0.1", allocation_pools=pools)
    # Tempest's test_update_subnet_gw_dns_host_routes_dhcp: gateway, routes, DNS and DHCP.
    updated = demo.update_subnet(
        subnet["id"],
        name="New_subnet",
        gateway_ip="10.0.0.2",
        host_routes=[ROUTE],
        dns_nameservers=["7.8.8.8"],
        enable_dhcp=True,
    )
    assert (updated["gateway_ip"], updated["name"]) == ("10.0.0.2", "New_subnet")
    assert updated["revision_number"] == subnet["revision_number"] + 1
    assert demo.update_subnet(subnet["id"], gateway_ip=None)["gateway_ip"] is None

    assert refusal(lambda: demo.update_subnet(subnet["id"], gateway_ip="10.0.0.15")) == (
        409,
        "GatewayConflictWithAllocationPools",
        "Gateway ip 10.0.0.15 conflicts with allocation pool 10.0.0.10-10.0.0.20",
    )
    assert refusal(lambda: demo.update_subnet(subnet["id"], gateway_ip="10.0.0.255"))[:2] == (
        400,
        "InvalidInput",
    )
    port = demo.create_port(
        network["id"],
        device_id="",
        device_owner="",
        host="",
        fixed_ips=[{"subnet_id": subnet["id"], "ip_address": "10.0.0.30"}],
    )
    assert refusal(lambda: demo.update_subnet(subnet["id"], gateway_ip="10.0.0.30")) == (
        409,
        "GatewayIpInUse",
        f"Current gateway ip 10.0.0.30 already in use by port {port['id']}. Unable to update.",
    )
    assert demo.get_subnet(subnet["id"])["gateway_ip"] is None


# (host_routes, status, Neutron error type, words of the message)
BAD_ROUTES: list[tuple[Any, int, str, str]] = [
    (
        [{"destination": "banana", "nexthop": "10.0.0.9"}],
        400,
        "HTTPBadRequest",
        "'banana' is not a valid IP subnet",
    ),
    (
        [{"destination": "10.20.0.0", "nexthop": "10.0.0.9"}],
        400,
        "HTTPBadRequest",
        "it should be specified as '10.20.0.0/32'",
    ),
    (
        [{"destination": "10.20.0.0/24", "nexthop": "10.0.0.999"}],
        400,
        "HTTPBadRequest",
        "'10.0.0.999' is not a valid IP address",
    ),
    ([{"destination": "10.20.0.0/24"}], 400, "HTTPBadRequest", "Invalid input for host_routes"),
    (
        [{"destination": "10.20.0.0/24", "nexthop": "10.0.0.9", "x": 1}],
        400,
        "HTTPBadRequest",
        "Invalid input for host_routes",
    ),
    ("10.20.0.0/24", 400, "HTTPBadRequest", "Invalid input for host_routes"),
    ([ROUTE, ROUTE], 400, "HTTPBadRequest", "Duplicate hostroute"),
    (
        [{"destination": "2001::/64", "nexthop": "10.0.0.9"}],
        400,
        "InvalidInput",
        "destination '2001::/64' does not match the ip_version '4'",
    ),
    (
        [{"destination": "10.20.0.0/24", "nexthop": "2003::1"}],
        400,
        "InvalidInput",
        "nexthop '2003::1' does not match the ip_version '4'",
    ),
    (
        [{"destination": f"10.30.{i}.0/24", "nexthop": "10.0.0.9"} for i in range(21)],
        400,
        "HostRoutesExhausted",
        "Unable to complete operation for new subnet. The number of host routes exceeds the "
        "limit 20.",
    ),
]


def test_bad_host_routes_are_refused_as_neutron_does(demo: NetworkClient) -> None:
    network = demo.create_network("net")
    for routes, status, kind, words in BAD_ROUTES:
        got = refusal(
            lambda r=routes: demo.session.request(
                "network",
                "POST",
                "v2.0/subnets",
                json={
                    "subnet": {
                        "network_id": network["id"],
                        "cidr": "10.0.0.0/24",
                        "ip_version": 4,
                        "host_routes": r,
                    }
                },
            )
        )
        assert got[:2] == (status, kind), (routes, got)
        assert words in got[2], (routes, got)
    assert demo.list_subnets() == []
    twenty = [{"destination": f"10.30.{i}.0/24", "nexthop": "10.0.0.9"} for i in range(20)]
    subnet = _create(demo, network["id"], host_routes=twenty)
    assert len(subnet["host_routes"]) == 20
    many = [*twenty, {"destination": "10.40.0.0/24", "nexthop": "10.0.0.9"}]
    assert refusal(lambda: demo.update_subnet(subnet["id"], host_routes=many)) == (
        400,
        "HostRoutesExhausted",
        f"Unable to complete operation for {subnet['id']}. The number of host routes exceeds "
        "the limit 20.",
    )
    six = [f"8.8.8.{i}" for i in range(6)]
    assert refusal(lambda: demo.update_subnet(subnet["id"], dns_nameservers=six)) == (
        400,
        "DNSNameServersExhausted",
        f"Unable to complete operation for {subnet['id']}. The number of DNS nameservers "
        "exceeds the limit 5.",
    )
    assert demo.update_subnet(subnet["id"], dns_nameservers=six[:5])["dns_nameservers"] == six[:5]
    assert len(demo.get_subnet(subnet["id"])["host_routes"]) == 20


def test_only_the_networks_owner_changes_routes(demo: NetworkClient, alt: NetworkClient) -> None:
    network = demo.create_network("net")
    subnet = _create(demo, network["id"])
    got = refusal(lambda: alt.update_subnet(subnet["id"], host_routes=[ROUTE]))
    assert got[:2] == (404, "SubnetNotFound")
    assert demo.get_subnet(subnet["id"])["host_routes"] == []
