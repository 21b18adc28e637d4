"""os-hypervisors and /limits as Nova serves them at each microversion, checked with
Tempest's own response schemas; bootflow's extra facts only under ``/bootflow/v1``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from tempest.lib.services.compute import hypervisor_client, limits_client

from bootflow import hosts
from clients.compute import ComputeClient
from db.base import utcnow
from db.models.compute import QuotaLimit
from tests.support.cloud import LoopbackCloud
from tests.support.tempest_gaps import hypervisor_schema_288
from tests.support.tempest_schemas import schema_module, validate
from tests.test_compute_api import (
    _api,
    _error,
    _instance,
    _node,
    _project,
    _seeded_cloud,
    _session,
)

HYPERVISORS = hypervisor_client.HypervisorClient.schema_versions_info
LIMITS = limits_client.LimitsClient.schema_versions_info
# Each boundary where Tempest's schemas or Nova's documents change, and the newest.
BOUNDARIES = ("2.1", "2.27", "2.28", "2.33", "2.52", "2.53", "2.87")


@pytest.fixture
def cloud(database_url: str, tmp_path: Path) -> Iterator[LoopbackCloud]:
    for c in _seeded_cloud(database_url, tmp_path):
        _node(c, "node1", booted_at=utcnow() - timedelta(days=3, minutes=75))
        _node(c, "node2", heartbeat_at=utcnow() - timedelta(minutes=5), disabled=True)
        yield c


def _admin(cloud: LoopbackCloud, path: str, version: str | None) -> httpx.Response:
    return _api(cloud, "GET", path, user="admin", version=version)


def _own(cloud: LoopbackCloud, path: str, user: str = "demo") -> httpx.Response:
    """A request to bootflow's own API beside Nova's (``/bootflow/v1/...``)."""
    token = _session(cloud, user).token
    return httpx.get(f"{cloud.urls['compute']}/bootflow/v1/{path}", headers={"X-Auth-Token": token})


def _no_vendor_keys(document: Any) -> None:
    assert "bootflow:" not in str(document)


def test_hypervisor_documents_pass_tempest_schemas(cloud: LoopbackCloud) -> None:
    server = _instance(cloud, "on-node1")
    for version in BOUNDARIES:
        schemas = schema_module(HYPERVISORS, version)
        brief = _admin(cloud, "os-hypervisors", version)
        validate(schemas.list_search_hypervisors, brief)
        detail = _admin(cloud, "os-hypervisors/detail", version)
        validate(schemas.list_hypervisors_detail, detail)
        first = detail.json()["hypervisors"][0]
        shown = _admin(cloud, f"os-hypervisors/{first['id']}", version)
        validate(schemas.get_hypervisor, shown)
        _no_vendor_keys([brief.json(), detail.json(), shown.json()])
    with_servers = _admin(cloud, "os-hypervisors?with_servers=true", "2.53")
    validate(schema_module(HYPERVISORS, "2.53").list_search_hypervisors, with_servers)
    assert with_servers.json()["hypervisors"][0]["servers"] == [
        {"name": "on-node1", "uuid": server}
    ]

    detail = _admin(cloud, "os-hypervisors/detail", "2.88")
    validate(hypervisor_schema_288("list_hypervisors_detail"), detail)
    node1 = detail.json()["hypervisors"][0]
    # As Nova, the detail list has each host's uptime too, not only the show.
    assert " up 3 days,  1:15" in node1["uptime"]
    shown = _admin(cloud, f"os-hypervisors/{node1['id']}", "2.88")
    validate(hypervisor_schema_288("get_hypervisor"), shown)
    # From 2.88 the show has the host's uptime (null while the host is down).
    assert " up 3 days,  1:15" in shown.json()["hypervisor"]["uptime"]
    node2 = detail.json()["hypervisors"][1]["id"]
    assert _admin(cloud, f"os-hypervisors/{node2}", "2.88").json()["hypervisor"]["uptime"] is None


def test_hypervisor_uptime(cloud: LoopbackCloud) -> None:
    old = _admin(cloud, "os-hypervisors", None).json()["hypervisors"]
    node1, node2 = (h["id"] for h in old)
    for version in ("2.1", "2.28", "2.33"):
        uptime = _admin(cloud, f"os-hypervisors/{node1}/uptime", version)
        validate(schema_module(HYPERVISORS, version).get_hypervisor_uptime, uptime)
        assert uptime.json()["hypervisor"]["hypervisor_hostname"] == "node1.example"
        assert " up 3 days,  1:15" in uptime.json()["hypervisor"]["uptime"]
    new_id = _admin(cloud, "os-hypervisors", "2.53").json()["hypervisors"][0]["id"]
    uptime = _admin(cloud, f"os-hypervisors/{new_id}/uptime", "2.53")
    validate(schema_module(HYPERVISORS, "2.53").get_hypervisor_uptime, uptime)
    # A host that is down cannot say (Nova's ComputeServiceUnavailable), nor one not there.
    message = _error(_admin(cloud, f"os-hypervisors/{node2}/uptime", None), 400, "badRequest")
    assert "node2" in message
    _error(_admin(cloud, "os-hypervisors/999/uptime", None), 404, "itemNotFound")
    _error(_admin(cloud, "os-hypervisors/abc/uptime", None), 404, "itemNotFound")
    _error(_admin(cloud, "os-hypervisors/1/uptime", "2.53"), 400, "badRequest")
    _error(_api(cloud, "GET", f"os-hypervisors/{node1}/uptime"), 403, "forbidden")
    # Removed in 2.88 (the uptime is in the show).
    _error(_admin(cloud, f"os-hypervisors/{new_id}/uptime", "2.88"), 404, "itemNotFound")


def test_hypervisor_statistics_count_enabled_hosts(cloud: LoopbackCloud) -> None:
    for version in ("2.1", "2.28", "2.53", "2.87"):
        stats = _admin(cloud, "os-hypervisors/statistics", version)
        validate(schema_module(HYPERVISORS, version).get_hypervisor_statistics, stats)
    totals = stats.json()["hypervisor_statistics"]
    # node2 is disabled: Nova's statistics leave it out.
    assert (totals["count"], totals["vcpus"], totals["memory_mb"]) == (1, 8, 8192)
    assert (totals["free_ram_mb"], totals["free_disk_gb"]) == (7680, 99)
    _error(_api(cloud, "GET", "os-hypervisors/statistics"), 403, "forbidden")
    _error(_admin(cloud, "os-hypervisors/statistics", "2.88"), 404, "itemNotFound")


def test_hypervisor_search_and_servers_until_2_53(cloud: LoopbackCloud) -> None:
    server = _instance(cloud, "on-node1")
    for version in ("2.1", "2.33", "2.52"):
        schemas = schema_module(HYPERVISORS, version)
        found = _admin(cloud, "os-hypervisors/node1/search", version)
        validate(schemas.list_search_hypervisors, found)
        assert [h["hypervisor_hostname"] for h in found.json()["hypervisors"]] == ["node1.example"]
        both = _admin(cloud, "os-hypervisors/example/servers", version)
        validate(schemas.get_hypervisors_servers, both)
        with_servers, without = both.json()["hypervisors"]
        assert with_servers["servers"] == [{"name": "on-node1", "uuid": server}]
        assert "servers" not in without  # Nova leaves the key out for a host with none
    message = _error(_admin(cloud, "os-hypervisors/nowhere/search", None), 404, "itemNotFound")
    assert message == "No hypervisor matching 'nowhere' could be found."
    _error(_admin(cloud, "os-hypervisors/nowhere/servers", None), 404, "itemNotFound")
    _error(_api(cloud, "GET", "os-hypervisors/node1/search"), 403, "forbidden")
    for gone in ("os-hypervisors/node1/search", "os-hypervisors/node1/servers"):
        _error(_admin(cloud, gone, "2.53"), 404, "itemNotFound")


def test_limits_pass_tempest_schemas_and_disk_is_bootflows_own(cloud: LoopbackCloud) -> None:
    for version in ("2.1", "2.35", "2.36", "2.38", "2.39", "2.56", "2.57", "2.96"):
        limits = _api(cloud, "GET", "limits", version=version)
        validate(schema_module(LIMITS, version).get_limit, limits)
        _no_vendor_keys(limits.json())
    demo = _project(cloud, "demo")
    with cloud.sessions.begin() as s:
        s.add(QuotaLimit(project_id=demo, resource="disk", hard_limit=40))
    own = _own(cloud, "limits").json()["limits"]
    assert own["disk"] == {"limit": 40, "in_use": 0} and own["project_id"] == demo
    assert own["instances"] == {"limit": 10, "in_use": 0}
    _error(_own(cloud, f"limits?project_id={demo}", "alt"), 403, "forbidden")
    _error(_own(cloud, "limits?colour=red"), 400, "badRequest")
    admin = _own(cloud, f"limits?project_id={demo}", "admin")
    assert admin.json()["limits"]["disk"]["limit"] == 40


def test_allocation_ratios_are_bootflows_own(cloud: LoopbackCloud) -> None:
    _error(_own(cloud, "hypervisors"), 403, "forbidden")
    facts = _own(cloud, "hypervisors", "admin").json()
    node1 = facts["hypervisors"][0]
    assert node1["host"] == "node1"
    assert node1["allocation_ratios"] == {"cpu": 16.0, "ram": 1.5, "disk": 1.0}
    assert node1["booted_at"] is not None and facts["hypervisors"][1]["booted_at"] is None


def test_bootflow_host_list_reads_the_ratios_from_bootflows_own_api(cloud: LoopbackCloud) -> None:
    """``bootflow host list`` (bootflow/hosts.py) through the real API: the ratios it
    shows come from /bootflow/v1/hypervisors now that Nova's documents do not carry them."""
    compute = ComputeClient(cloud.session("admin"))
    states = {s.host: s for s in hosts.host_states(compute)}
    assert (states["node1"].cpu_allocation_ratio, states["node1"].ram_allocation_ratio) == (
        16.0,
        1.5,
    )
    own = ComputeClient(cloud.session("demo")).own_limits()
    assert own["disk"] == {"limit": 1000, "in_use": 0}
