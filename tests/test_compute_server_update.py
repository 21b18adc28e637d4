"""``PUT /servers/{id}`` as Nova answers it at each microversion, checked with Tempest's
response schemas, and its refusals (4xx, never 500)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tempest.lib.services.compute import servers_client

from tests.support.cloud import LoopbackCloud
from tests.support.tempest_schemas import schema_module, validate
from tests.test_compute_api import _api, _error, _instance, _node, _seeded_cloud

SERVERS = servers_client.ServersClient.schema_versions_info
# Where Tempest's update_server schema (or Nova's update view) changes.
VERSIONS = (
    "2.1", "2.3", "2.9", "2.16", "2.19", "2.26", "2.47", "2.63", "2.71", "2.73", "2.74",
    "2.75", "2.79", "2.89", "2.90", "2.96",
)  # fmt: skip


@pytest.fixture
def cloud(database_url: str, tmp_path: Path) -> Iterator[LoopbackCloud]:
    for c in _seeded_cloud(database_url, tmp_path):
        _node(c, "node1")
        yield c


def _put(
    cloud: LoopbackCloud, server: str, body: Any, version: str | None = None, user: str = "demo"
) -> httpx.Response:
    return _api(cloud, "PUT", f"servers/{server}", user=user, version=version, json=body)


def test_rename_and_describe_at_every_microversion(cloud: LoopbackCloud) -> None:
    server = _instance(cloud, "before")
    for user in ("demo", "admin"):
        for version in VERSIONS:
            body: dict[str, Any] = {"name": f"n-{version}"}
            updated = _put(cloud, server, {"server": body}, version, user)
            validate(schema_module(SERVERS, version).update_server, updated)
            assert updated.json()["server"]["name"] == f"n-{version}"
    # Pre-2.75 answers are Nova's short update view; 2.75's is the whole show.
    short = _put(cloud, server, {"server": {"name": "x"}}, "2.74", "admin").json()["server"]
    full = _put(cloud, server, {"server": {"name": "x"}}, "2.75", "admin").json()["server"]
    shown = _api(cloud, "GET", f"servers/{server}", user="admin", version="2.75").json()["server"]
    assert "OS-EXT-STS:vm_state" not in short and "OS-EXT-SRV-ATTR:host" not in short
    assert set(full) == set(shown) and full["OS-EXT-SRV-ATTR:host"] == "node1"

    described = _put(cloud, server, {"server": {"description": "web front"}}, "2.19").json()[
        "server"
    ]
    assert (described["name"], described["description"]) == ("x", "web front")
    show = _api(cloud, "GET", f"servers/{server}", version="2.19")
    validate(schema_module(SERVERS, "2.19").get_server, show)
    assert show.json()["server"]["description"] == "web front"
    listed = _api(cloud, "GET", "servers/detail", version="2.19").json()["servers"]
    assert listed[0]["description"] == "web front"
    cleared = _put(cloud, server, {"server": {"description": None}}, "2.19")
    assert cleared.json()["server"]["description"] is None
    # Leading and trailing spaces are trimmed (Nova's normalize_name).
    assert _put(cloud, server, {"server": {"name": "  web  "}}).json()["server"]["name"] == "web"


def test_access_addresses(cloud: LoopbackCloud) -> None:
    server = _instance(cloud, "web")
    body = {"server": {"accessIPv4": "192.0.2.7", "accessIPv6": "2001:DB8::0:7"}}
    updated = _put(cloud, server, body)
    validate(schema_module(SERVERS, None).update_server, updated)
    shown = _api(cloud, "GET", f"servers/{server}").json()["server"]
    assert (shown["accessIPv4"], shown["accessIPv6"]) == ("192.0.2.7", "2001:db8::7")


def test_update_refusals(cloud: LoopbackCloud) -> None:
    server = _instance(cloud, "web")
    refused = [
        ({"server": {"name": ""}}, None),
        ({"server": {"name": "   "}}, None),
        ({"server": {"name": "a" * 256}}, None),
        ({"server": {"name": 7}}, None),
        ({"server": {"name": "bad\x01name"}}, None),
        ({"server": {"description": "d"}}, "2.18"),  # description is 2.19's
        ({"server": {"description": "d" * 256}}, "2.19"),
        ({"server": {"description": 5}}, "2.19"),
        ({"server": {"accessIPv4": "not-an-ip"}}, None),
        ({"server": {"accessIPv4": "2001:db8::1"}}, None),
        ({"server": {"accessIPv6": "192.0.2.1"}}, None),
        ({"server": {"OS-DCF:diskConfig": "SOMETIMES"}}, None),
        ({"server": {"OS-DCF:diskConfig": "AUTO"}}, None),  # bootflow's guests are MANUAL
        ({"server": {"hostname": "web2"}}, "2.89"),
        ({"server": {"hostname": "web.two"}}, "2.90"),  # an FQDN from 2.94
        ({"server": {"colour": "red"}}, None),
        ({"server": "web"}, None),
        ({"name": "web"}, None),
        ({"server": {}, "extra": 1}, None),
        ([], None),
        (None, None),
    ]
    for body, version in refused:
        _error(_put(cloud, server, body, version), 400, "badRequest")
    assert _api(cloud, "GET", f"servers/{server}").json()["server"]["name"] == "web"
    missing = "8b2f6a3e-0c8f-4e53-9a3f-0d6a1c5e9b21"
    _error(_put(cloud, missing, {"server": {"name": "x"}}), 404, "itemNotFound")
    # Another project's server is not there for the caller; an admin may rename it.
    _error(_put(cloud, server, {"server": {"name": "x"}}, user="alt"), 404, "itemNotFound")
    assert _put(cloud, server, {"server": {"name": "x"}}, user="admin").status_code == 200
    gone = _instance(cloud, "gone", vm_state="deleted", deleted=True)
    _error(_put(cloud, gone, {"server": {"name": "x"}}), 404, "itemNotFound")


def test_a_rename_keeps_the_guests_hostname(cloud: LoopbackCloud) -> None:
    server = _instance(cloud, "web one")
    _put(cloud, server, {"server": {"name": "db two"}})
    shown = _api(cloud, "GET", f"servers/{server}", version="2.90").json()["server"]
    assert (shown["name"], shown["OS-EXT-SRV-ATTR:hostname"]) == ("db two", "web-one")
    _put(cloud, server, {"server": {"name": "third"}})
    listed = _api(cloud, "GET", "servers/detail?hostname=web-one", version="2.90")
    assert [s["id"] for s in listed.json()["servers"]] == [server]
