"""Ports with several fixed IPs, on one subnet or more, and a PUT that changes them."""

from __future__ import annotations

from typing import Any

from clients.network import NetworkClient
from tests.support.neutron import refusal
from tests.test_network_service import _ips, admin, alt, client, cloud, demo

__all__ = ["admin", "alt", "client", "cloud", "demo"]


def _two_subnets(client: NetworkClient) -> tuple[str, dict[str, Any], dict[str, Any]]:
    network = client.create_network("net")
    first = client.create_subnet(network["id"], "10.0.0.0/24")
    second = client.create_subnet(network["id"], "10.0.1.0/24")
    return network["id"], first, second


def _port(client: NetworkClient, network_id: str, fixed_ips: Any = None) -> dict[str, Any]:
    return client.create_port(
        network_id, device_id="", device_owner="", host="", fixed_ips=fixed_ips
    )


def test_a_second_fixed_ip_on_another_subnet_comes_and_goes(demo: NetworkClient) -> None:
    # Tempest's test_create_update_port_with_second_ip.
    network_id, first, second = _two_subnets(demo)
    both = [{"subnet_id": first["id"]}, {"subnet_id": second["id"]}]
    port = _port(demo, network_id, both)
    assert sorted(port["fixed_ips"], key=lambda ip: ip["ip_address"]) == [
        {"subnet_id": first["id"], "ip_address": "10.0.0.2"},
        {"subnet_id": second["id"], "ip_address": "10.0.1.2"},
    ]
    one = demo.update_port(port["id"], fixed_ips=[{"subnet_id": first["id"]}])
    # The address on the subnet named again is kept; the other one is released.
    assert one["fixed_ips"] == [{"subnet_id": first["id"], "ip_address": "10.0.0.2"}]
    assert one["revision_number"] == port["revision_number"] + 1
    assert _ips(_port(demo, network_id, [{"subnet_id": second["id"]}])) == ["10.0.1.2"]
    again = demo.update_port(port["id"], fixed_ips=both)
    assert sorted(_ips(again)) == ["10.0.0.2", "10.0.1.3"]
    assert demo.get_port(port["id"]) == again
    # Naming what it holds changes nothing, not even the revision.
    same = demo.update_port(port["id"], fixed_ips=again["fixed_ips"])
    assert same == again


def test_several_addresses_on_one_subnet_and_a_chosen_one_replaced(demo: NetworkClient) -> None:
    network_id, first, _second = _two_subnets(demo)
    port = _port(
        demo,
        network_id,
        [{"subnet_id": first["id"]}, {"ip_address": "10.0.0.50"}, {"subnet_id": first["id"]}],
    )
    assert sorted(_ips(port)) == ["10.0.0.2", "10.0.0.3", "10.0.0.50"]
    moved = demo.update_port(
        port["id"],
        fixed_ips=[
            {"ip_address": "10.0.0.50"},
            {"subnet_id": first["id"], "ip_address": "10.0.0.60"},
        ],
    )
    assert _ips(moved) == ["10.0.0.50", "10.0.0.60"]
    # The released addresses are free for the next port, the kept ones are not.
    assert _ips(_port(demo, network_id, [{"subnet_id": first["id"]}])) == ["10.0.0.2"]
    assert refusal(lambda: _port(demo, network_id, [{"ip_address": "10.0.0.60"}])) == (
        409,
        "IpAddressAlreadyAllocated",
        f"IP address 10.0.0.60 already allocated in subnet {first['id']}",
    )
    assert demo.update_port(port["id"], fixed_ips=[])["fixed_ips"] == []
    assert _ips(_port(demo, network_id, [{"ip_address": "10.0.0.60"}])) == ["10.0.0.60"]


def test_bad_fixed_ip_changes_are_refused_and_change_nothing(
    demo: NetworkClient, alt: NetworkClient
) -> None:
    network_id, first, _second = _two_subnets(demo)
    other = demo.create_network("other")
    elsewhere = demo.create_subnet(other["id"], "10.9.0.0/24")
    port = _port(demo, network_id, [{"subnet_id": first["id"]}])
    taker = _port(demo, network_id, [{"ip_address": "10.0.0.77"}])

    def put(fixed_ips: Any) -> Any:
        return lambda: demo.update_port(port["id"], fixed_ips=fixed_ips)

    assert refusal(put([{"ip_address": "10.0.0.77"}])) == (
        409,
        "IpAddressAlreadyAllocated",
        f"IP address 10.0.0.77 already allocated in subnet {first['id']}",
    )
    assert refusal(put([{"subnet_id": elsewhere["id"]}])) == (
        400,
        "InvalidInput",
        f"Invalid input for operation: Failed to create port on network {network_id}, "
        f"because fixed_ips included invalid subnet {elsewhere['id']}.",
    )
    assert refusal(put([{"subnet_id": first["id"], "ip_address": "10.0.1.5"}]))[:2] == (
        400,
        "InvalidIpForSubnet",
    )
    assert refusal(put([{"ip_address": "10.7.0.5"}]))[:2] == (400, "InvalidInput")
    assert refusal(put([{"subnet_id": first["id"]}] * 6)) == (
        400,
        "InvalidInput",
        "Invalid input for operation: Exceeded maximum amount of fixed ips per port.",
    )
    status, kind, message = refusal(put([{"ip_address": "10.0.0.9"}, {"ip_address": "10.0.0.9"}]))
    assert (status, kind) == (
        400,
        "HTTPBadRequest",
    ) and "Duplicate IP address '10.0.0.9'" in message
    assert refusal(put(None))[:2] == (400, "HTTPBadRequest")
    assert refusal(put([{}]))[:2] == (400, "HTTPBadRequest")
    assert refusal(put([{"subnet_id": "nope"}]))[:2] == (404, "SubnetNotFound")
    assert refusal(lambda: alt.update_port(port["id"], fixed_ips=[]))[:2] == (404, "PortNotFound")
    assert demo.get_port(port["id"])["fixed_ips"] == [
        {"subnet_id": first["id"], "ip_address": "10.0.0.2"}
    ]
    assert _ips(demo.get_port(taker["id"])) == ["10.0.0.77"]


def test_only_the_networks_owner_picks_addresses_on_a_shared_network(
    admin: NetworkClient, alt: NetworkClient
) -> None:
    network = admin.create_network("shared", shared=True)
    subnet = admin.create_subnet(network["id"], "10.0.0.0/24")
    port = _port(alt, network["id"])
    status, kind, _ = refusal(
        lambda: alt.update_port(port["id"], fixed_ips=[{"ip_address": "10.0.0.40"}])
    )
    assert (status, kind) == (403, "PolicyNotAuthorized")
    both = [{"subnet_id": subnet["id"]}, {"subnet_id": subnet["id"]}]
    assert _ips(alt.update_port(port["id"], fixed_ips=both)) == ["10.0.0.2", "10.0.0.3"]
