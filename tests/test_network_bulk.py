"""Neutron's native bulk create of networks, subnets and ports: all or nothing."""

from __future__ import annotations

from typing import Any

import pytest

from clients.errors import HttpError
from clients.network import NetworkClient
from db.models.network import Port
from services.network.bulk import MAX_BULK
from tests.support.cloud import LoopbackCloud
from tests.test_network_service import _raw, admin, alt, client, cloud, demo

__all__ = ["admin", "alt", "client", "cloud", "demo"]


def _bulk(client: NetworkClient, collection: str, items: list[Any]) -> list[dict[str, Any]]:
    answer = client.session.request(
        "network", "POST", f"v2.0/{collection}", json={collection: items}
    )
    assert answer.status_code == 201
    created: list[dict[str, Any]] = answer.json()[collection]
    return created


def _refused(client: NetworkClient, collection: str, items: Any) -> tuple[int, str | None, str]:
    with pytest.raises(HttpError) as refused:
        client.session.request("network", "POST", f"v2.0/{collection}", json={collection: items})
    return refused.value.status, refused.value.error_type, refused.value.message


def test_bulk_creates_networks_subnets_and_ports_in_order(demo: NetworkClient) -> None:
    networks = _bulk(demo, "networks", [{"name": "n1"}, {"network": {"name": "n2"}}])
    assert [n["name"] for n in networks] == ["n1", "n2"]
    assert {n["id"] for n in demo.list_networks()} == {n["id"] for n in networks}
    assert networks[0] == demo.get_network(networks[0]["id"])

    first, second = (n["id"] for n in networks)
    subnets = _bulk(
        demo,
        "subnets",
        [
            {"network_id": first, "cidr": "10.1.0.0/24", "ip_version": 4, "name": "s1"},
            {"network_id": second, "cidr": "10.2.0.0/24", "ip_version": 4},
            {"network_id": first, "cidr": "10.3.0.0/24", "ip_version": 4},
        ],
    )
    assert [(s["network_id"], s["cidr"]) for s in subnets] == [
        (first, "10.1.0.0/24"),
        (second, "10.2.0.0/24"),
        (first, "10.3.0.0/24"),
    ]
    assert demo.get_network(first)["subnets"] == [subnets[0]["id"], subnets[2]["id"]]

    ports = _bulk(
        demo,
        "ports",
        [
            {"network_id": first, "name": "p1"},
            {"network_id": second, "admin_state_up": False},
            {"network_id": first},
        ],
    )
    assert [p["name"] for p in ports] == ["p1", "", ""]
    assert ports[1]["admin_state_up"] is False
    # Each gets its own address, in request order, as one create after another would.
    assert [p["fixed_ips"][0]["ip_address"] for p in ports] == ["10.1.0.2", "10.2.0.2", "10.1.0.3"]
    assert demo.get_port(ports[2]["id"]) == ports[2]
    assert len({p["mac_address"] for p in ports}) == 3


def test_a_refused_item_creates_nothing(demo: NetworkClient, alt: NetworkClient) -> None:
    network = demo.create_network("net")
    subnet = demo.create_subnet(network["id"], "10.0.0.0/24")
    # The second item's problem refuses the whole request with that item's error.
    assert _refused(demo, "networks", [{"name": "ok"}, {"name": "bad", "bogus": 1}]) == (
        400,
        "HTTPBadRequest",
        "Unrecognized attribute(s) 'bogus'",
    )
    overlapping = [
        {"network_id": network["id"], "cidr": "10.1.0.0/24", "ip_version": 4},
        {"network_id": network["id"], "cidr": "10.1.0.0/25", "ip_version": 4},
    ]
    status, kind, message = _refused(demo, "subnets", overlapping)
    assert (status, kind) == (400, "InvalidInput") and "overlaps with another subnet" in message
    taken = [
        {"network_id": network["id"], "fixed_ips": [{"ip_address": "10.0.0.50"}]},
        {"network_id": network["id"], "fixed_ips": [{"ip_address": "10.0.0.50"}]},
    ]
    assert _refused(demo, "ports", taken) == (
        409,
        "IpAddressAlreadyAllocated",
        f"IP address 10.0.0.50 already allocated in subnet {subnet['id']}",
    )
    # Another project's network is not there for this one.
    elsewhere = alt.create_network("alt")
    status, kind, _message = _refused(
        demo, "ports", [{"network_id": network["id"]}, {"network_id": elsewhere["id"]}]
    )
    assert (status, kind) == (404, "NetworkNotFound")
    assert [n["id"] for n in demo.list_networks()] == [network["id"]]
    assert [s["id"] for s in demo.list_subnets()] == [subnet["id"]]
    assert demo.list_ports() == []
    # The addresses the refused requests held are free again.
    port = demo.create_port(network["id"], device_id="", device_owner="", host="")
    assert port["fixed_ips"][0]["ip_address"] == "10.0.0.2"


def test_malformed_bulk_bodies_are_400(cloud: LoopbackCloud, demo: NetworkClient) -> None:
    assert _refused(demo, "networks", [])[:2] == (400, "HTTPBadRequest")
    assert _refused(demo, "networks", [])[2] == "Resources required"
    assert _refused(demo, "networks", {"name": "x"})[2] == "Resources required"
    assert _refused(demo, "networks", ["x"])[2] == "Unable to find 'network' in request body"
    assert _refused(demo, "networks", [{"name": "x"}] * (MAX_BULK + 1))[0] == 400
    both = _raw(cloud, demo, "POST", "v2.0/networks", json={"networks": [{}], "network": {}})
    assert both.status_code == 400
    assert both.json()["NeutronError"]["message"] == "Unrecognized attribute(s) 'network'"
    assert demo.list_networks() == []


def test_a_bulk_over_quota_creates_none(cloud: LoopbackCloud, demo: NetworkClient) -> None:
    network = demo.create_network("net")
    demo.create_subnet(network["id"], "10.0.0.0/16")
    with cloud.sessions.begin() as session:
        project = demo.session.token_info().project_id
        for i in range(498):
            mac = f"fa:16:3e:ee:{i // 256:02x}:{i % 256:02x}"
            session.add(Port(network_id=network["id"], project_id=project, mac_address=mac))
    assert _refused(demo, "ports", [{"network_id": network["id"]}] * 3) == (
        409,
        "OverQuota",
        "Quota exceeded for resources: ['port'].",
    )
    assert len(_bulk(demo, "ports", [{"network_id": network["id"]}] * 2)) == 2
