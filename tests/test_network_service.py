"""The network service (Neutron v2.0 subset) through NetworkClient over real HTTP on loopback."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from clients.errors import BadRequest, Conflict, Forbidden, HttpError, NotFound
from clients.network import NetworkClient
from clients.session import Session
from db.models.network import Network, Port, Subnet
from services.network import ports as network_ports
from tests.support.cloud import LoopbackCloud, loopback_cloud

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
MAC = re.compile(r"^fa:16:3e(:[0-9a-f]{2}){3}$")


@pytest.fixture
def cloud(database_url: str, tmp_path: Path) -> Iterator[LoopbackCloud]:
    with loopback_cloud(database_url, tmp_path, services=("identity", "network")) as c:
        yield c


@pytest.fixture
def client(cloud: LoopbackCloud) -> Iterator[Callable[[str], NetworkClient]]:
    """Makes a client as a user; their HTTP connections are closed after the test."""
    sessions: list[Session] = []

    def make(user: str) -> NetworkClient:
        sessions.append(cloud.session(user))
        return NetworkClient(sessions[-1])

    yield make
    for session in sessions:
        session.close()


@pytest.fixture
def demo(client: Callable[[str], NetworkClient]) -> NetworkClient:
    return client("demo")


@pytest.fixture
def alt(client: Callable[[str], NetworkClient]) -> NetworkClient:
    return client("alt")


@pytest.fixture
def admin(client: Callable[[str], NetworkClient]) -> NetworkClient:
    return client("admin")


def _raw(
    cloud: LoopbackCloud, client: NetworkClient, method: str, path: str, **kwargs: Any
) -> httpx.Response:
    """A request the client would never send (bad JSON, wrong shapes), with a valid token."""
    return httpx.request(
        method,
        f"{cloud.urls['network']}/{path}",
        headers={"X-Auth-Token": client.session.token, **kwargs.pop("headers", {})},
        **kwargs,
    )


def _error(exc: pytest.ExceptionInfo[HttpError]) -> tuple[int, str | None, str]:
    return exc.value.status, exc.value.error_type, exc.value.message


def _net_with_subnet(
    client: NetworkClient, cidr: str = "10.0.0.0/24", **subnet: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    network = client.create_network("net")
    return network, client.create_subnet(network["id"], cidr, **subnet)


def _ips(port: dict[str, Any]) -> list[str]:
    return [ip["ip_address"] for ip in port["fixed_ips"]]


# -- discovery ------------------------------------------------------------------------------


def test_version_discovery_and_resources(cloud: LoopbackCloud, demo: NetworkClient) -> None:
    root = httpx.get(cloud.urls["network"] + "/")
    assert root.status_code == 200
    version = root.json()["versions"][0]
    assert (version["id"], version["status"]) == ("v2.0", "CURRENT")
    assert version["links"][0]["href"] == f"{cloud.urls['network']}/v2.0/"
    for path in ("v2.0", "v2.0/"):
        listed = _raw(cloud, demo, "GET", path).json()["resources"]
        assert {(r["name"], r["collection"]) for r in listed} == {
            ("network", "networks"),
            ("subnet", "subnets"),
            ("port", "ports"),
        }
        assert listed[0]["links"][0]["href"].startswith(f"{cloud.urls['network']}/v2.0/")
    aliases = {e["alias"] for e in _raw(cloud, demo, "GET", "v2.0/extensions").json()["extensions"]}
    assert {"binding", "net-mtu", "standard-attr-revisions"} <= aliases
    unauthenticated = httpx.get(cloud.urls["network"] + "/v2.0/networks")
    assert unauthenticated.status_code == 401


# -- networks -------------------------------------------------------------------------------


def test_network_crud_and_json_shape(demo: NetworkClient) -> None:
    project_id = demo.session.token_info().project_id
    network = demo.create_network("private", mtu=1450, description="for tests")
    assert network["name"] == "private"
    assert network["project_id"] == network["tenant_id"] == project_id
    assert (network["shared"], network["admin_state_up"], network["status"]) == (
        False,
        True,
        "ACTIVE",
    )
    assert (network["mtu"], network["router:external"], network["port_security_enabled"]) == (
        1450,
        False,
        True,
    )
    assert network["subnets"] == [] and network["tags"] == []
    assert network["availability_zones"] == [] and network["description"] == "for tests"
    assert TIMESTAMP.match(network["created_at"]) and TIMESTAMP.match(network["updated_at"])
    assert demo.get_network(network["id"]) == network

    demo.create_network("other")
    assert [n["id"] for n in demo.list_networks(name="private")] == [network["id"]]
    assert len(demo.list_networks()) == 2
    assert [n["name"] for n in demo.list_networks(id=network["id"])] == ["private"]

    updated = demo.update_network(network["id"], name="renamed", admin_state_up=False)
    assert (updated["name"], updated["admin_state_up"]) == ("renamed", False)
    assert updated["revision_number"] == network["revision_number"] + 1
    assert demo.list_networks(name="renamed")[0]["id"] == network["id"]

    demo.delete_network(network["id"])
    with pytest.raises(NotFound) as gone:
        demo.get_network(network["id"])
    assert _error(gone) == (404, "NetworkNotFound", f"Network {network['id']} could not be found.")
    with pytest.raises(NotFound):
        demo.delete_network(network["id"])


def test_find_network_by_id_then_unique_name(demo: NetworkClient) -> None:
    network = demo.create_network("blue")
    assert demo.find_network(network["id"])["id"] == network["id"]
    assert demo.find_network("blue")["id"] == network["id"]
    demo.create_network("blue")
    with pytest.raises(Conflict, match="More than one network"):
        demo.find_network("blue")
    with pytest.raises(NotFound, match="No network with a name or ID of 'green'"):
        demo.find_network("green")


# -- subnets --------------------------------------------------------------------------------


def test_subnet_defaults_gateway_and_pools(demo: NetworkClient) -> None:
    network, subnet = _net_with_subnet(demo, "10.0.0.0/24", name="s1", dns_nameservers=["8.8.8.8"])
    assert subnet["network_id"] == network["id"] and subnet["name"] == "s1"
    assert (subnet["cidr"], subnet["ip_version"], subnet["gateway_ip"]) == (
        "10.0.0.0/24",
        4,
        "10.0.0.1",
    )
    assert subnet["allocation_pools"] == [{"start": "10.0.0.2", "end": "10.0.0.254"}]
    assert subnet["enable_dhcp"] is True and subnet["dns_nameservers"] == ["8.8.8.8"]
    assert subnet["host_routes"] == [] and subnet["subnetpool_id"] is None
    assert subnet["ipv6_ra_mode"] is None and subnet["ipv6_address_mode"] is None
    assert subnet["project_id"] == network["project_id"] == subnet["tenant_id"]
    assert TIMESTAMP.match(subnet["created_at"])
    assert demo.get_network(network["id"])["subnets"] == [subnet["id"]]

    middle = demo.create_subnet(network["id"], "10.0.1.0/24", gateway_ip="10.0.1.100")
    assert middle["allocation_pools"] == [
        {"start": "10.0.1.1", "end": "10.0.1.99"},
        {"start": "10.0.1.101", "end": "10.0.1.254"},
    ]
    none = demo.create_subnet(network["id"], "10.0.2.0/24", gateway_ip=None)
    assert none["gateway_ip"] is None
    assert none["allocation_pools"] == [{"start": "10.0.2.1", "end": "10.0.2.254"}]
    pools = [{"start": "10.0.3.10", "end": "10.0.3.20"}, {"start": "10.0.3.30", "end": "10.0.3.40"}]
    given = demo.create_subnet(network["id"], "10.0.3.0/24", allocation_pools=pools)
    assert given["allocation_pools"] == pools and given["gateway_ip"] == "10.0.3.1"

    assert {s["id"] for s in demo.list_subnets(network_id=network["id"])} == {
        subnet["id"],
        middle["id"],
        none["id"],
        given["id"],
    }
    assert [s["id"] for s in demo.list_subnets(cidr="10.0.1.0/24")] == [middle["id"]]
    assert [s["id"] for s in demo.list_subnets(name="s1")] == [subnet["id"]]

    updated = demo.update_subnet(
        subnet["id"], name="renamed", dns_nameservers=["1.1.1.1", "9.9.9.9"]
    )
    assert (updated["name"], updated["dns_nameservers"]) == ("renamed", ["1.1.1.1", "9.9.9.9"])
    assert updated["revision_number"] == subnet["revision_number"] + 1
    assert demo.get_subnet(subnet["id"]) == updated

    demo.delete_subnet(middle["id"])
    with pytest.raises(NotFound) as gone:
        demo.get_subnet(middle["id"])
    assert gone.value.error_type == "SubnetNotFound"
    demo.delete_network(network["id"])  # its remaining subnets go with it
    assert demo.list_subnets(network_id=network["id"]) == []


# (subnet attributes, status, Neutron error type, words of the message)
BAD_SUBNETS: list[tuple[dict[str, Any], int, str, str]] = [
    ({"cidr": "10.0.0.0/33"}, 400, "HTTPBadRequest", "'10.0.0.0/33' is not a valid IP subnet"),
    ({"cidr": "banana"}, 400, "HTTPBadRequest", "'banana' is not a valid IP subnet"),
    ({"cidr": "10.0.0.5/24"}, 400, "HTTPBadRequest", "it should be specified as '10.0.0.0/24'"),
    (
        {"allocation_pools": [{"start": "10.0.0.2", "end": "10.0.1.5"}]},
        400,
        "OutOfBoundsAllocationPool",
        "spans beyond the subnet cidr 10.0.0.0/24",
    ),
    (
        {"allocation_pools": [{"start": "10.0.0.9", "end": "10.0.0.5"}]},
        400,
        "InvalidAllocationPool",
        "10.0.0.9-10.0.0.5 is not valid",
    ),
    (
        {
            "allocation_pools": [
                {"start": "10.0.0.2", "end": "10.0.0.9"},
                {"start": "10.0.0.8", "end": "10.0.0.20"},
            ]
        },
        409,
        "OverlappingAllocationPools",
        "Found overlapping allocation pools",
    ),
    (
        {"allocation_pools": [{"start": "10.0.0.1", "end": "10.0.0.9"}]},
        409,
        "GatewayConflictWithAllocationPools",
        "Gateway ip 10.0.0.1 conflicts",
    ),
    ({"gateway_ip": "10.0.0.255"}, 400, "InvalidInput", "Gateway is not valid on subnet"),
    ({"ip_version": 6, "cidr": "fd00::/64"}, 400, "InvalidInput", "IPv6 subnets are not"),
    ({"ip_version": 5}, 400, "HTTPBadRequest", "5 is not in [4, 6]"),
    (
        {"dns_nameservers": ["8.8.8.8", "8.8.8.8"]},
        400,
        "HTTPBadRequest",
        "Duplicate nameserver '8.8.8.8'",
    ),
    ({"cidr": None}, 400, "HTTPBadRequest", "Invalid input for cidr"),
    (
        {"host_routes": [{"destination": "10.20.0.5/24", "nexthop": "10.0.0.9"}]},
        400,
        "HTTPBadRequest",
        "it should be specified as '10.20.0.0/24'",
    ),
]


def test_bad_subnets_are_refused_as_neutron_does(demo: NetworkClient) -> None:
    network, _first = _net_with_subnet(demo, "10.0.0.0/16")
    other = demo.create_network("other")
    for subnet, status, error_type, message in BAD_SUBNETS:
        body = {"network_id": other["id"], "cidr": "10.0.0.0/24", "ip_version": 4, **subnet}
        with pytest.raises(HttpError) as refused:
            demo.session.request("network", "POST", "v2.0/subnets", json={"subnet": body})
        got = (refused.value.status, refused.value.error_type)
        assert got == (status, error_type), (subnet, refused.value.message)
        assert message in refused.value.message, subnet
    assert demo.list_subnets(network_id=other["id"]) == []
    with pytest.raises(BadRequest) as overlap:
        demo.create_subnet(network["id"], "10.0.128.0/24")
    assert _error(overlap) == (
        400,
        "InvalidInput",
        "Invalid input for operation: Requested subnet with cidr: "
        f"10.0.128.0/24 for network: {network['id']} overlaps with another subnet",
    )


# -- ports ----------------------------------------------------------------------------------


def test_port_create_allocates_address_and_mac(demo: NetworkClient, admin: NetworkClient) -> None:
    network, subnet = _net_with_subnet(demo)
    demo_project = demo.session.token_info().project_id
    # Bound ports are the admin's to create (Neutron's policy), as Nova's service user does.
    port = admin.create_port(
        network["id"],
        device_id="vm-1",
        device_owner="compute:nova",
        host="host-1",
        name="eth0",
        project_id=demo_project,
    )
    assert port["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": "10.0.0.2"}]
    assert MAC.match(port["mac_address"])
    assert (port["name"], port["network_id"], port["device_id"], port["device_owner"]) == (
        "eth0",
        network["id"],
        "vm-1",
        "compute:nova",
    )
    assert port["project_id"] == port["tenant_id"] == demo.session.token_info().project_id
    assert (port["binding:host_id"], port["binding:vif_type"], port["status"]) == (
        "host-1",
        "ovs",
        "ACTIVE",
    )
    assert port["binding:vnic_type"] == "normal"
    assert port["binding:profile"] == {} and port["binding:vif_details"] == {}
    assert port["security_groups"] == [] and port["allowed_address_pairs"] == []
    assert port["extra_dhcp_opts"] == [] and port["port_security_enabled"] is True
    assert port["admin_state_up"] is True and TIMESTAMP.match(port["created_at"])
    assert demo.get_port(port["id"]) == port

    unbound = demo.create_port(network["id"], device_id="", device_owner="", host="")
    assert _ips(unbound) == ["10.0.0.3"]
    assert (unbound["binding:vif_type"], unbound["status"]) == ("unbound", "DOWN")
    chosen = demo.create_port(
        network["id"],
        device_id="vm-2",
        device_owner="compute:nova",
        host="",
        fixed_ips=[{"subnet_id": subnet["id"], "ip_address": "10.0.0.50"}],
    )
    assert _ips(chosen) == ["10.0.0.50"]
    by_ip_only = demo.create_port(
        network["id"],
        device_id="",
        device_owner="",
        host="",
        fixed_ips=[{"ip_address": "10.0.0.51"}],
    )
    assert by_ip_only["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": "10.0.0.51"}]

    with pytest.raises(Conflict) as taken:
        demo.create_port(
            network["id"],
            device_id="vm-3",
            device_owner="",
            host="",
            fixed_ips=[{"subnet_id": subnet["id"], "ip_address": "10.0.0.50"}],
        )
    assert _error(taken) == (
        409,
        "IpAddressAlreadyAllocated",
        f"IP address 10.0.0.50 already allocated in subnet {subnet['id']}",
    )
    with pytest.raises(BadRequest) as outside:
        demo.create_port(
            network["id"],
            device_id="",
            device_owner="",
            host="",
            fixed_ips=[{"subnet_id": subnet["id"], "ip_address": "10.0.9.9"}],
        )
    assert outside.value.error_type == "InvalidIpForSubnet"
    macs = {p["mac_address"] for p in demo.list_ports()}
    assert len(macs) == 4 and all(MAC.match(m) for m in macs)
    assert len(demo.list_ports(network_id=network["id"])) == 4  # no port left by a refusal


def test_admin_chooses_mac_and_a_taken_mac_is_refused(admin: NetworkClient) -> None:
    network, _subnet = _net_with_subnet(admin)
    port = admin.create_port(
        network["id"], device_id="", device_owner="", host="", mac_address="FA:16:3E:00:00:01"
    )
    assert port["mac_address"] == "fa:16:3e:00:00:01"
    with pytest.raises(Conflict) as taken:
        admin.create_port(
            network["id"], device_id="", device_owner="", host="", mac_address="fa:16:3e:00:00:01"
        )
    assert taken.value.error_type == "MacAddressInUse"
    with pytest.raises(BadRequest, match="not a valid MAC address"):
        admin.create_port(
            network["id"], device_id="", device_owner="", host="", mac_address="01:00:5e:00:00:01"
        )


def test_random_mac_collision_is_retried(
    demo: NetworkClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    network, _subnet = _net_with_subnet(demo)
    first = demo.create_port(network["id"], device_id="", device_owner="", host="")
    # The service runs in this process: make its generator repeat the MAC just handed out.
    draws = iter([first["mac_address"], first["mac_address"], "fa:16:3e:00:00:02"])
    monkeypatch.setattr(network_ports, "random_mac", lambda: next(draws))
    second = demo.create_port(network["id"], device_id="", device_owner="", host="")
    assert second["mac_address"] == "fa:16:3e:00:00:02"
    assert _ips(second) == ["10.0.0.3"]


def test_update_port_binds_and_unbinds(demo: NetworkClient, admin: NetworkClient) -> None:
    network, _subnet = _net_with_subnet(demo)
    port = demo.create_port(network["id"], device_id="", device_owner="", host="")
    bound = admin.update_port(
        port["id"], device_id="vm-1", device_owner="compute:nova", host="host-2", name="renamed"
    )
    assert (bound["binding:host_id"], bound["binding:vif_type"], bound["status"]) == (
        "host-2",
        "ovs",
        "ACTIVE",
    )
    assert (bound["device_id"], bound["name"]) == ("vm-1", "renamed")
    assert bound["revision_number"] == port["revision_number"] + 1
    assert bound["fixed_ips"] == port["fixed_ips"] and bound["mac_address"] == port["mac_address"]
    down = demo.update_port(port["id"], admin_state_up=False)
    assert (down["admin_state_up"], down["status"]) == (False, "DOWN")
    # Nova unbinds with a null host.
    unbound = admin.update_port(port["id"], **{"binding:host_id": None, "admin_state_up": True})
    assert (unbound["binding:host_id"], unbound["binding:vif_type"], unbound["status"]) == (
        "",
        "unbound",
        "DOWN",
    )
    with pytest.raises(BadRequest, match="Cannot update read-only attribute network_id"):
        demo.update_port(port["id"], network_id=network["id"])


def test_only_admin_sets_a_ports_host(
    cloud: LoopbackCloud, demo: NetworkClient, admin: NetworkClient
) -> None:
    """binding:host_id is admin-only in Neutron's policy, on create and update, whatever
    the value: a user must not steer a port to a host its instance is not on."""
    network, _subnet = _net_with_subnet(demo)
    with pytest.raises(Forbidden) as on_create:
        demo.create_port(network["id"], device_id="vm", device_owner="compute:nova", host="node1")
    assert _error(on_create) == (
        403,
        "PolicyNotAuthorized",
        "(rule:create_port and rule:create_port:binding:host_id) is disallowed by policy",
    )
    empty = _raw(
        cloud,
        demo,
        "POST",
        "v2.0/ports",
        json={"port": {"network_id": network["id"], "binding:host_id": ""}},
    )
    assert empty.status_code == 403
    assert demo.list_ports() == []  # nothing was created
    port = demo.create_port(network["id"], device_id="", device_owner="", host="")
    for host in ("node1", None):
        with pytest.raises(Forbidden) as on_update:
            demo.update_port(port["id"], host=host)
        assert _error(on_update) == (
            403,
            "PolicyNotAuthorized",
            "(rule:update_port and rule:update_port:binding:host_id) is disallowed by policy",
        )
    assert demo.get_port(port["id"])["binding:host_id"] == ""
    assert admin.update_port(port["id"], host="node1")["binding:host_id"] == "node1"
    assert demo.update_port(port["id"], name="still mine")["binding:host_id"] == "node1"


def test_port_filters(demo: NetworkClient, admin: NetworkClient) -> None:
    network, subnet = _net_with_subnet(demo)
    other, _ = _net_with_subnet(demo, "10.1.0.0/24")
    project = demo.session.token_info().project_id

    def bound(network_id: str, device_id: str, owner: str, host: str) -> dict[str, Any]:
        return admin.create_port(
            network_id, device_id=device_id, device_owner=owner, host=host, project_id=project
        )

    a = bound(network["id"], "vm-a", "compute:nova", "h1")
    b = bound(network["id"], "vm-b", "compute:nova", "h2")
    c = bound(other["id"], "vm-a", "network:dhcp", "h1")

    def ids(**filters: Any) -> set[str]:
        return {p["id"] for p in demo.list_ports(**filters)}

    assert ids(device_id="vm-a") == {a["id"], c["id"]}
    assert ids(device_id=["vm-a", "vm-b"]) == {a["id"], b["id"], c["id"]}
    assert ids(device_id="vm-a", network_id=network["id"]) == {a["id"]}
    assert ids(device_owner="network:dhcp") == {c["id"]}
    assert ids(host="h2") == {b["id"]}
    assert {p["id"] for p in demo.list_ports({"binding:host_id": "h1"})} == {a["id"], c["id"]}
    assert ids(mac_address=b["mac_address"].upper()) == {b["id"]}
    assert ids(fixed_ips=f"ip_address={_ips(b)[0]}") == {b["id"]}
    assert ids(fixed_ips=f"subnet_id={subnet['id']}") == {a["id"], b["id"]}
    assert ids(device_id="nothing") == set()
    assert demo.list_ports(device_id="vm-b", fields=["id", "mac_address"]) == [
        {"id": b["id"], "mac_address": b["mac_address"]}
    ]
    with pytest.raises(BadRequest, match="'colour' is not a valid attribute for filtering"):
        demo.list_ports(colour="red")


def test_deleting_a_port_frees_its_address(demo: NetworkClient) -> None:
    network, _subnet = _net_with_subnet(demo)
    first = demo.create_port(network["id"], device_id="a", device_owner="", host="")
    second = demo.create_port(network["id"], device_id="b", device_owner="", host="")
    assert (_ips(first), _ips(second)) == (["10.0.0.2"], ["10.0.0.3"])
    demo.delete_port(first["id"])
    with pytest.raises(NotFound) as gone:
        demo.get_port(first["id"])
    assert _error(gone) == (404, "PortNotFound", f"Port {first['id']} could not be found.")
    again = demo.create_port(network["id"], device_id="c", device_owner="", host="")
    assert _ips(again) == ["10.0.0.2"] and again["mac_address"] != first["mac_address"]


def test_network_and_subnet_in_use_until_their_ports_go(demo: NetworkClient) -> None:
    network, subnet = _net_with_subnet(demo)
    port = demo.create_port(network["id"], device_id="vm", device_owner="compute:nova", host="")
    with pytest.raises(Conflict) as net_busy:
        demo.delete_network(network["id"])
    assert net_busy.value.error_type == "NetworkInUse"
    assert f"operation on network {network['id']}" in net_busy.value.message
    with pytest.raises(Conflict) as subnet_busy:
        demo.delete_subnet(subnet["id"])
    assert _error(subnet_busy) == (
        409,
        "SubnetInUse",
        f"Unable to complete operation on subnet {subnet['id']}: "
        "One or more ports have an IP allocation from this subnet.",
    )
    demo.delete_port(port["id"])
    demo.delete_subnet(subnet["id"])
    demo.delete_network(network["id"])
    assert demo.list_networks() == []


def test_full_subnet_answers_ip_generation_failure(demo: NetworkClient) -> None:
    network, subnet = _net_with_subnet(demo, "10.0.0.0/29")  # hosts .1-.6, gateway .1
    ports = [
        demo.create_port(network["id"], device_id=f"vm-{i}", device_owner="", host="")
        for i in range(5)
    ]
    assert sorted(ip for p in ports for ip in _ips(p)) == [f"10.0.0.{i}" for i in range(2, 7)]
    with pytest.raises(Conflict) as full:
        demo.create_port(network["id"], device_id="vm-x", device_owner="", host="")
    assert _error(full) == (
        409,
        "IpAddressGenerationFailure",
        f"No more IP addresses available on network {network['id']}.",
    )
    assert len(demo.list_ports(network_id=network["id"])) == 5
    assert subnet["allocation_pools"] == [{"start": "10.0.0.2", "end": "10.0.0.6"}]


# -- projects -------------------------------------------------------------------------------


def test_projects_never_see_each_others_resources(
    demo: NetworkClient, alt: NetworkClient, admin: NetworkClient
) -> None:
    network, subnet = _net_with_subnet(demo)
    port = demo.create_port(network["id"], device_id="vm", device_owner="compute:nova", host="")
    alt_net, _ = _net_with_subnet(alt, "10.9.0.0/24")
    alt_port = alt.create_port(alt_net["id"], device_id="vm2", device_owner="", host="")

    for call, kind in (
        (lambda: alt.get_network(network["id"]), "NetworkNotFound"),
        (lambda: alt.get_subnet(subnet["id"]), "SubnetNotFound"),
        (lambda: alt.get_port(port["id"]), "PortNotFound"),
        (lambda: alt.delete_port(port["id"]), "PortNotFound"),
        (lambda: alt.update_port(port["id"], name="x"), "PortNotFound"),
        (lambda: alt.delete_subnet(subnet["id"]), "SubnetNotFound"),
        (lambda: alt.delete_network(network["id"]), "NetworkNotFound"),
        (
            lambda: alt.create_port(network["id"], device_id="", device_owner="", host=""),
            "NetworkNotFound",
        ),
    ):
        with pytest.raises(NotFound) as hidden:
            call()
        assert hidden.value.error_type == kind
    assert [n["id"] for n in alt.list_networks()] == [alt_net["id"]]
    assert [p["id"] for p in alt.list_ports()] == [alt_port["id"]]
    assert alt.list_ports(device_id="vm") == [] and alt.list_subnets(id=subnet["id"]) == []
    assert demo.get_port(port["id"])["name"] == ""  # untouched

    assert {port["id"], alt_port["id"]} <= {p["id"] for p in admin.list_ports()}
    assert {network["id"], alt_net["id"]} <= {n["id"] for n in admin.list_networks()}
    assert admin.get_port(port["id"])["id"] == port["id"]


def test_shared_network_is_usable_by_every_project(
    demo: NetworkClient, alt: NetworkClient, admin: NetworkClient
) -> None:
    shared = admin.create_network("public", shared=True)
    subnet = admin.create_subnet(shared["id"], "172.24.4.0/24")
    demo_port = demo.create_port(shared["id"], device_id="d", device_owner="", host="")
    alt_port = alt.create_port(shared["id"], device_id="a", device_owner="", host="")
    assert _ips(demo_port) != _ips(alt_port)
    assert shared["id"] in {n["id"] for n in alt.list_networks(shared=True)}
    assert alt.get_subnet(subnet["id"])["cidr"] == "172.24.4.0/24"
    assert [p["id"] for p in alt.list_ports(network_id=shared["id"])] == [alt_port["id"]]

    with pytest.raises(Forbidden) as denied:
        alt.delete_network(shared["id"])
    assert denied.value.error_type == "PolicyNotAuthorized"
    with pytest.raises(Forbidden):
        alt.update_network(shared["id"], name="mine")
    with pytest.raises(Forbidden):
        alt.create_subnet(shared["id"], "172.25.0.0/24")
    with pytest.raises(Forbidden, match="create_port:fixed_ips:ip_address"):
        alt.create_port(
            shared["id"],
            device_id="",
            device_owner="",
            host="",
            fixed_ips=[{"ip_address": "172.24.4.99"}],
        )
    with pytest.raises(Conflict) as in_use:
        admin.update_network(shared["id"], shared=False)
    assert in_use.value.error_type == "InvalidSharedSetting"

    # The service account creates a port for a project, as Nova does for an instance.
    demo_project = demo.session.token_info().project_id
    for_demo = admin.create_port(
        shared["id"], device_id="vm", device_owner="compute:nova", host="h", project_id=demo_project
    )
    assert demo.get_port(for_demo["id"])["project_id"] == demo_project


def test_only_admin_shares_networks_or_acts_for_other_projects(
    demo: NetworkClient, alt: NetworkClient
) -> None:
    with pytest.raises(Forbidden) as denied:
        demo.create_network("mine", shared=True)
    assert _error(denied) == (
        403,
        "PolicyNotAuthorized",
        "(rule:create_network and rule:create_network:shared) is disallowed by policy",
    )
    alt_project = alt.session.token_info().project_id
    with pytest.raises(BadRequest, match="requires admin privileges"):
        demo.create_network("theirs", project_id=alt_project)
    network = demo.create_network("mine")
    with pytest.raises(Forbidden):
        demo.update_network(network["id"], shared=True)
    with pytest.raises(BadRequest, match="requires admin privileges"):
        demo.create_port(
            network["id"], device_id="", device_owner="", host="", project_id=alt_project
        )
    assert demo.list_networks() == [demo.get_network(network["id"])]


# -- malformed requests ---------------------------------------------------------------------


def test_malformed_requests_are_400_in_neutrons_shape(
    cloud: LoopbackCloud, demo: NetworkClient
) -> None:
    network = demo.create_network("net")

    def post(path: str, **kwargs: Any) -> dict[str, Any]:
        response = _raw(cloud, demo, "POST", path, **kwargs)
        assert response.status_code == 400, response.text
        error: dict[str, Any] = response.json()["NeutronError"]
        assert error["detail"] == ""
        return error

    assert post("v2.0/networks", json={"network": {"name": "x", "bogus": 1}}) == {
        "type": "HTTPBadRequest",
        "message": "Unrecognized attribute(s) 'bogus'",
        "detail": "",
    }
    assert post("v2.0/networks", json={"network": {"status": "DOWN"}})["message"] == (
        "Attribute 'status' not allowed in POST"
    )
    assert (
        "admin_state_up"
        in post("v2.0/networks", json={"network": {"admin_state_up": "maybe"}})["message"]
    )
    assert (
        "Invalid input for name" in post("v2.0/networks", json={"network": {"name": 5}})["message"]
    )
    assert (
        "Invalid input for mtu" in post("v2.0/networks", json={"network": {"mtu": 10}})["message"]
    )
    post("v2.0/networks", content=b"{not json", headers={"Content-Type": "application/json"})
    assert post("v2.0/networks", json=[])["message"] == "Unable to find 'network' in request body"
    assert post("v2.0/ports", json={"port": {}})["message"] == (
        "Failed to parse request. Required attribute 'network_id' not specified"
    )
    assert (
        "fixed_ips"
        in post(
            "v2.0/ports", json={"port": {"network_id": network["id"], "fixed_ips": "10.0.0.2"}}
        )["message"]
    )
    assert (
        "Invalid input for ip_version"
        in post(
            "v2.0/subnets",
            json={"subnet": {"network_id": network["id"], "cidr": "10.0.0.0/24", "ip_version": 5}},
        )["message"]
    )
    put = _raw(
        cloud, demo, "PUT", f"v2.0/networks/{network['id']}", json={"network": {"id": "new"}}
    )
    assert put.status_code == 400
    assert put.json()["NeutronError"]["message"] == "Cannot update read-only attribute id"
    assert (
        _raw(
            cloud, demo, "POST", "v2.0/networks", json={"network": {"name": "x" * (2 << 20)}}
        ).status_code
        == 413
    )

    missing = _raw(cloud, demo, "GET", "v2.0/floatingips")
    assert missing.status_code == 404 and "NeutronError" in missing.json()
    assert demo.list_networks() == [demo.get_network(network["id"])]  # nothing half-created


# -- concurrency ----------------------------------------------------------------------------


def _racing_port_creates(
    client: NetworkClient, network_id: str, attempts: int
) -> list[dict[str, Any] | Conflict]:
    """``attempts`` port creates on ``network_id`` released at once; each port or its 409."""
    start = threading.Barrier(attempts)
    client.list_ports()  # the service now holds the token's validation: the race is on ports

    def create(i: int) -> dict[str, Any] | Conflict:
        start.wait()
        try:
            return client.create_port(network_id, device_id=f"vm-{i}", device_owner="", host="")
        except Conflict as exc:
            return exc

    with ThreadPoolExecutor(max_workers=attempts) as pool:
        return list(pool.map(create, range(attempts)))


def test_concurrent_port_creates_never_share_an_address(demo: NetworkClient) -> None:
    """50 creates race for the 29 addresses of a /27: each address goes to exactly one port."""
    network, subnet = _net_with_subnet(demo, "10.5.0.0/27")
    assert subnet["allocation_pools"] == [{"start": "10.5.0.2", "end": "10.5.0.30"}]
    results = _racing_port_creates(demo, network["id"], 50)
    ports = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, Conflict)]
    addresses = [ip for p in ports for ip in _ips(p)]
    assert len(ports) == 29 and len(refused) == 21
    assert sorted(addresses) == sorted(f"10.5.0.{i}" for i in range(2, 31))
    assert {(e.error_type, e.message) for e in refused} == {
        (
            "IpAddressGenerationFailure",
            f"No more IP addresses available on network {network['id']}.",
        )
    }
    assert len({p["mac_address"] for p in ports}) == 29
    stored = demo.list_ports(network_id=network["id"])
    assert sorted(ip for p in stored for ip in _ips(p)) == sorted(addresses)


# -- quotas ---------------------------------------------------------------------------------


def _fill(cloud: LoopbackCloud, project_id: str, network_id: str, kind: str, count: int) -> None:
    """``count`` rows of ``kind`` in the project, written directly: only their number matters."""
    with cloud.sessions.begin() as session:
        for i in range(count):
            if kind == "network":
                session.add(Network(name=f"n{i}", project_id=project_id, subnets=[]))
            elif kind == "subnet":
                cidr = f"10.{100 + i // 256}.{i % 256}.0/24"
                session.add(Subnet(network_id=network_id, project_id=project_id, cidr=cidr))
            else:
                mac = f"fa:16:3e:ff:{i // 256:02x}:{i % 256:02x}"
                session.add(Port(network_id=network_id, project_id=project_id, mac_address=mac))


def test_neutron_default_quotas_refuse_the_501st_port_and_the_101st_network_and_subnet(
    cloud: LoopbackCloud, demo: NetworkClient, alt: NetworkClient, admin: NetworkClient
) -> None:
    project = demo.session.token_info().project_id
    network, _subnet = _net_with_subnet(demo, "10.0.0.0/16")
    _fill(cloud, project, network["id"], "port", 499)
    _fill(cloud, project, network["id"], "subnet", 99)
    _fill(cloud, project, network["id"], "network", 99)

    demo.create_port(network["id"], device_id="", device_owner="", host="")  # the 500th
    # Neutron counts what a project holds, whoever created it: the admin acting for it too.
    for create in (
        lambda: demo.create_port(network["id"], device_id="", device_owner="", host=""),
        lambda: admin.create_port(
            network["id"], device_id="vm", device_owner="compute:nova", host="h", project_id=project
        ),
    ):
        with pytest.raises(Conflict) as over:
            create()
        assert _error(over) == (409, "OverQuota", "Quota exceeded for resources: ['port'].")
    assert len(demo.list_ports()) == 500
    with pytest.raises(Conflict) as no_subnet:
        demo.create_subnet(network["id"], "10.200.0.0/24")
    assert _error(no_subnet) == (409, "OverQuota", "Quota exceeded for resources: ['subnet'].")
    with pytest.raises(Conflict) as no_network:
        demo.create_network("101st")
    assert _error(no_network) == (409, "OverQuota", "Quota exceeded for resources: ['network'].")
    assert len(demo.list_networks()) == 100 and len(demo.list_subnets()) == 100
    # Another project's quota is its own.
    alt.create_port(alt.create_network("alt")["id"], device_id="", device_owner="", host="")
    # A port freed makes room again.
    demo.delete_port(demo.list_ports()[-1]["id"])
    demo.create_port(network["id"], device_id="", device_owner="", host="")

    shown = _raw(cloud, demo, "GET", f"v2.0/quotas/{project}")
    assert shown.json() == {"quota": {"network": 100, "subnet": 100, "port": 500, "router": 10}}
    alt_project = alt.session.token_info().project_id
    denied = _raw(cloud, demo, "GET", f"v2.0/quotas/{alt_project}")
    assert denied.status_code == 403
    assert _raw(cloud, admin, "GET", f"v2.0/quotas/{alt_project}").json() == shown.json()


def test_concurrent_creates_at_the_port_quota_never_both_pass(
    cloud: LoopbackCloud, demo: NetworkClient
) -> None:
    network, _subnet = _net_with_subnet(demo, "10.0.0.0/24")
    _fill(cloud, demo.session.token_info().project_id, network["id"], "port", 497)
    attempts = 12
    results = _racing_port_creates(demo, network["id"], attempts)
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(refused) == attempts - 3
    assert {e.error_type for e in refused} == {"OverQuota"}
    assert len(demo.list_ports()) == 500
