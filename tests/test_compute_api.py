"""The compute API (Nova v2.1 with microversions 2.1-2.96) over real HTTP on loopback.

Everything here is answered before a workflow would start (reads from the database, and
the checks of a create request), so no Temporal server is needed; tests/e2e/
test_openstacksdk.py and test_openstack_cli.py boot real servers through the same API.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from clients.network import NetworkClient
from clients.session import Session
from core.messages import BootRequest, NetworkRequest
from db.base import utcnow
from db.migrate import upgrade
from db.models.compute import (
    ComputeNode,
    Flavor,
    Instance,
    InstanceAction,
    InstanceActionEvent,
    InstanceFault,
    QuotaLimit,
    QuotaUsage,
    ServerGroup,
    ServerGroupMember,
)
from services.compute.hosts import service_uuid
from tests.support.cloud import LoopbackCloud, loopback_cloud
from tests.support.databases import BACKENDS, new_database

IMAGE = "0b8e6d41-4f64-4b1b-9f5c-6a3f2d1e0c9b"
NETWORK = "7c2d4e6f-8a9b-4c1d-9e2f-3a4b5c6d7e8f"


def _seeded_cloud(database_url: str, data_dir: Path) -> Iterator[LoopbackCloud]:
    with loopback_cloud(database_url, data_dir, services=("identity", "network", "compute")) as c:
        with c.sessions.begin() as s:
            s.add_all(
                [
                    Flavor(flavorid="1", name="m1.tiny", vcpus=1, memory_mb=512, root_gb=1),
                    Flavor(flavorid="2", name="m1.small", vcpus=1, memory_mb=2048, root_gb=20),
                    Flavor(
                        flavorid="9", name="private", vcpus=4, memory_mb=8192, root_gb=80,
                        is_public=False,
                    ),
                ]
            )  # fmt: skip
        yield c


@pytest.fixture
def cloud(database_url: str, tmp_path: Path) -> Iterator[LoopbackCloud]:
    yield from _seeded_cloud(database_url, tmp_path)


@pytest.fixture(scope="module", params=BACKENDS)
def shared_cloud(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LoopbackCloud]:
    """One cloud for the tests that change nothing (a cloud takes seconds to start)."""
    data_dir = tmp_path_factory.mktemp(f"compute-{request.param}")
    url = new_database(request.param, data_dir, request)
    upgrade(url)
    for cloud in _seeded_cloud(url, data_dir):
        _node(cloud, "node1")
        yield cloud


def _session(cloud: LoopbackCloud, user: str) -> Session:
    """One session per user and cloud (a token each, not one per request)."""
    sessions: dict[str, Session] = cloud.__dict__.setdefault("_compute_test_sessions", {})
    if user not in sessions:
        sessions[user] = cloud.session(user)
    return sessions[user]


def _api(
    cloud: LoopbackCloud,
    method: str,
    path: str,
    *,
    user: str = "demo",
    version: str | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """A raw request to the compute endpoint (path relative to .../v2.1/)."""
    session = _session(cloud, user)
    headers = {"X-Auth-Token": session.token, **kwargs.pop("headers", {})}
    if version is not None:
        headers["OpenStack-API-Version"] = f"compute {version}"
    return httpx.request(method, f"{session.endpoint('compute')}/{path}", headers=headers, **kwargs)


def _project(cloud: LoopbackCloud, user: str) -> str:
    return _session(cloud, user).token_info().project_id


def _user(cloud: LoopbackCloud, user: str) -> str:
    return _session(cloud, user).token_info().user_id


def _instance(
    cloud: LoopbackCloud,
    name: str,
    *,
    owner: str = "demo",
    vm_state: str = "active",
    host: str | None = "node1",
    request_id: str | None = None,
    **fields: Any,
) -> str:
    server_id = str(uuid.uuid4())
    addresses = {
        "private": [
            {
                "version": 4,
                "addr": f"10.0.0.{len(name) + 2}",
                "OS-EXT-IPS:type": "fixed",
                "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:01",
            }
        ]
    }
    with cloud.sessions.begin() as s:
        s.add(
            Instance(
                uuid=server_id,
                name=name,
                project_id=_project(cloud, owner),
                user_id=_user(cloud, owner),
                request_id=request_id or f"req-{uuid.uuid4()}",
                flavor_id="1",
                flavor_name="m1.tiny",
                vcpus=1,
                memory_mb=512,
                root_gb=1,
                image_ref=IMAGE,
                vm_state=vm_state,
                power_state=1 if vm_state == "active" else 0,
                host=host,
                addresses=addresses if vm_state != "building" else {},
                **{"task_state": "spawning" if vm_state == "building" else None, **fields},
            )
        )
    return server_id


def _node(cloud: LoopbackCloud, host: str, **fields: Any) -> None:
    values: dict[str, Any] = {
        "host": host,
        "hypervisor_type": "QEMU",
        "hypervisor_hostname": f"{host}.example",
        "cpu_arch": "x86_64",
        "vcpus": 8,
        "memory_mb": 8192,
        "local_gb": 100,
        "vcpus_used": 1,
        "memory_mb_used": 512,
        "local_gb_used": 1,
        "running_vms": 1,
        "cpu_allocation_ratio": 16.0,
        "ram_allocation_ratio": 1.5,
        "disk_allocation_ratio": 1.0,
        "heartbeat_at": utcnow(),
    }
    values.update(fields)
    with cloud.sessions.begin() as s:
        s.add(ComputeNode(**values))


def _error(response: httpx.Response, status: int, kind: str) -> str:
    """Nova's error JSON: ``{kind: {code, message}}``; the message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == [kind], body
    assert body[kind]["code"] == status
    message: str = body[kind]["message"]
    return message


# --- versions and microversions ----------------------------------------------------------------


def test_version_documents_and_microversion_headers(cloud: LoopbackCloud) -> None:
    base = cloud.urls["compute"]
    root = httpx.get(f"{base}/")
    assert root.status_code == 200
    assert "OpenStack-API-Version" not in root.headers  # the root is outside microversions
    v21 = next(v for v in root.json()["versions"] if v["id"] == "v2.1")
    assert (v21["status"], v21["min_version"], v21["version"]) == ("CURRENT", "2.1", "2.96")
    doc = httpx.get(f"{base}/v2.1").json()["version"]
    assert (doc["version"], doc["min_version"]) == ("2.96", "2.1")
    assert doc["links"][0] == {"rel": "self", "href": f"{base}/v2.1/"}

    plain = _api(cloud, "GET", "flavors")
    assert plain.headers["X-OpenStack-Request-ID"].startswith("req-")
    assert plain.headers["X-Compute-Request-Id"] == plain.headers["X-OpenStack-Request-ID"]
    assert plain.headers["OpenStack-API-Version"] == "compute 2.1"
    assert plain.headers["X-OpenStack-Nova-API-Version"] == "2.1"
    assert {v.strip() for v in plain.headers["Vary"].split(",")} >= {
        "OpenStack-API-Version",
        "X-OpenStack-Nova-API-Version",
    }
    assert _api(cloud, "GET", "flavors", version="2.55").headers["OpenStack-API-Version"] == (
        "compute 2.55"
    )
    legacy = _api(cloud, "GET", "flavors", headers={"X-OpenStack-Nova-API-Version": "2.10"})
    assert legacy.headers["X-OpenStack-Nova-API-Version"] == "2.10"
    # The new header wins over the legacy one; another service's entry is not ours.
    both = _api(
        cloud,
        "GET",
        "flavors",
        headers={
            "OpenStack-API-Version": "volume 3.5, compute 2.20",
            "X-OpenStack-Nova-API-Version": "2.10",
        },
    )
    assert both.headers["OpenStack-API-Version"] == "compute 2.20"
    assert (
        _api(cloud, "GET", "flavors", version="latest").headers["X-OpenStack-Nova-API-Version"]
        == "2.96"
    )

    message = _error(_api(cloud, "GET", "flavors", version="2.97"), 406, "notAcceptable")
    assert (
        message == "Version 2.97 is not supported by the API. Minimum is 2.1 and maximum is 2.96."
    )
    _error(_api(cloud, "GET", "flavors", version="3.0"), 406, "notAcceptable")
    message = _error(_api(cloud, "GET", "flavors", version="2.x"), 400, "badRequest")
    assert "2.x is of invalid format" in message

    unauthenticated = httpx.get(f"{_session(cloud, 'demo').endpoint('compute')}/servers")
    _error(unauthenticated, 401, "unauthorized")
    assert unauthenticated.headers["OpenStack-API-Version"] == "compute 2.1"


# --- servers: visibility and views ------------------------------------------------------------


def test_projects_see_only_their_servers(cloud: LoopbackCloud) -> None:
    mine = _instance(cloud, "mine")
    theirs = _instance(cloud, "theirs", owner="alt")

    listed = _api(cloud, "GET", "servers").json()["servers"]
    assert [s["id"] for s in listed] == [mine]
    assert set(listed[0]) == {"id", "name", "links"}
    message = _error(_api(cloud, "GET", f"servers/{theirs}"), 404, "itemNotFound")
    assert message == f"Instance {theirs} could not be found."
    _error(_api(cloud, "DELETE", f"servers/{theirs}"), 404, "itemNotFound")
    _error(
        _api(cloud, "POST", f"servers/{theirs}/action", json={"os-getConsoleOutput": {}}),
        404,
        "itemNotFound",
    )
    _error(_api(cloud, "GET", f"servers/{theirs}/os-instance-actions"), 404, "itemNotFound")
    # all_tenants is for admins (Nova's policy error for the others).
    message = _error(_api(cloud, "GET", "servers/detail?all_tenants=1"), 403, "forbidden")
    assert "get_all_tenants" in message

    admin_all = _api(cloud, "GET", "servers/detail?all_tenants=1", user="admin").json()
    assert {s["id"] for s in admin_all["servers"]} == {mine, theirs}
    # An admin without all_tenants sees its own project's, as Nova.
    assert _api(cloud, "GET", "servers", user="admin").json()["servers"] == []
    by_project = _api(
        cloud, "GET", f"servers?all_tenants=true&project_id={_project(cloud, 'alt')}", user="admin"
    ).json()["servers"]
    assert [s["id"] for s in by_project] == [theirs]
    assert _api(cloud, "GET", f"servers/{theirs}", user="admin").status_code == 200


def test_server_view_follows_the_microversion(cloud: LoopbackCloud) -> None:
    _node(cloud, "node1", availability_zone="az1")
    server = _instance(cloud, "web", availability_zone="az1")
    with cloud.sessions.begin() as s:
        s.add(
            ServerGroup(
                uuid=(group := str(uuid.uuid4())),
                name="g",
                project_id=_project(cloud, "demo"),
                user_id=_user(cloud, "demo"),
                policy="affinity",
            )
        )
        s.flush()
        s.add(ServerGroupMember(group_uuid=group, instance_uuid=server))

    v21 = _api(cloud, "GET", f"servers/{server}").json()["server"]
    assert v21["status"] == "ACTIVE" and v21["OS-EXT-STS:vm_state"] == "active"
    assert v21["OS-EXT-STS:task_state"] is None and v21["progress"] == 0
    assert v21["flavor"] == {
        "id": "1",
        "links": [{"rel": "bookmark", "href": f"{cloud.urls['compute']}/flavors/1"}],
    }
    assert v21["image"]["id"] == IMAGE
    assert v21["OS-EXT-AZ:availability_zone"] == "az1"
    assert v21["addresses"]["private"][0]["OS-EXT-IPS:type"] == "fixed"
    assert v21["links"][0]["href"].endswith(f"/v2.1/servers/{server}")
    for later in ("locked", "description", "tags", "server_groups", "pinned_availability_zone"):
        assert later not in v21
    # Host attributes are for admins.
    assert not any(k.startswith("OS-EXT-SRV-ATTR") for k in v21)
    assert "host_status" not in v21
    assert "delete_on_termination" not in str(v21)

    latest = _api(cloud, "GET", f"servers/{server}", version="2.96").json()["server"]
    assert latest["flavor"] == {
        "vcpus": 1,
        "ram": 512,
        "disk": 1,
        "ephemeral": 0,
        "swap": 0,
        "original_name": "m1.tiny",
        "extra_specs": {},
    }
    assert latest["locked"] is False and latest["locked_reason"] is None
    assert latest["tags"] == [] and latest["description"] is None
    assert latest["trusted_image_certificates"] is None
    assert latest["server_groups"] == [group]
    assert latest["pinned_availability_zone"] == "az1"
    assert latest["OS-EXT-SRV-ATTR:hostname"] == "web"  # 2.90: for everyone
    assert "OS-EXT-SRV-ATTR:host" not in latest
    # server_groups is in show only, never in the detail list.
    (detailed,) = _api(cloud, "GET", "servers/detail", version="2.96").json()["servers"]
    assert "server_groups" not in detailed and detailed["flavor"] == latest["flavor"]

    admin = _api(cloud, "GET", f"servers/{server}", user="admin", version="2.96").json()["server"]
    assert admin["OS-EXT-SRV-ATTR:host"] == "node1"
    assert admin["OS-EXT-SRV-ATTR:hypervisor_hostname"] == "node1.example"
    assert admin["OS-EXT-SRV-ATTR:reservation_id"].startswith("r-")
    assert admin["OS-EXT-SRV-ATTR:launch_index"] == 0
    assert admin["host_status"] == "UP"
    admin_v21 = _api(cloud, "GET", f"servers/{server}", user="admin").json()["server"]
    assert admin_v21["OS-EXT-SRV-ATTR:host"] == "node1"
    assert "OS-EXT-SRV-ATTR:reservation_id" not in admin_v21  # from 2.3


def test_building_and_failed_servers(cloud: LoopbackCloud) -> None:
    building = _instance(cloud, "b", vm_state="building", host=None)
    failed = _instance(cloud, "f", vm_state="error", host=None)
    with cloud.sessions.begin() as s:
        s.add(InstanceFault(instance_uuid=failed, code=500, message="No valid host", details="tb"))

    shown = _api(cloud, "GET", f"servers/{building}").json()["server"]
    assert (shown["status"], shown["OS-EXT-STS:task_state"]) == ("BUILD", "spawning")
    assert shown["addresses"] == {} and shown["hostId"] == ""
    assert shown["OS-EXT-AZ:availability_zone"] == ""

    demo = _api(cloud, "GET", f"servers/{failed}").json()["server"]
    assert demo["status"] == "ERROR" and "progress" not in demo
    assert demo["fault"]["code"] == 500 and demo["fault"]["message"] == "No valid host"
    assert "details" not in demo["fault"]  # a 500's details are for admins
    admin = _api(cloud, "GET", f"servers/{failed}", user="admin").json()["server"]
    assert admin["fault"]["details"] == "tb"


def test_listing_filters_sorting_and_paging(cloud: LoopbackCloud) -> None:
    _node(cloud, "node1")
    _node(cloud, "node2")
    ids = {
        name: _instance(cloud, name, host=host)
        for name, host in (("web-1", "node1"), ("web-2", "node2"), ("db", "node1"))
    }
    building = _instance(cloud, "web-3", vm_state="building", host=None)

    def names(query: str, **kwargs: Any) -> list[str]:
        response = _api(cloud, "GET", f"servers/detail?{query}", **kwargs)
        assert response.status_code == 200, response.text
        return sorted(s["name"] for s in response.json()["servers"])

    # name is a regular expression matched anywhere, as Nova's.
    assert names("name=web") == ["web-1", "web-2", "web-3"]
    assert names("name=^web-1$") == ["web-1"]
    assert names("status=ACTIVE") == ["db", "web-1", "web-2"]
    assert names("status=BUILD") == ["web-3"]
    assert names("status=active&status=build") == ["db", "web-1", "web-2", "web-3"]
    assert (
        _error(_api(cloud, "GET", "servers?status=SLEEPY", version="2.38"), 400, "badRequest")
        == "Invalid status value"
    )
    assert names("status=SLEEPY") == []  # before 2.38 an unknown status finds nothing
    # host is an admin filter: ignored for others, applied for admins.
    assert names("host=node2") == ["db", "web-1", "web-2", "web-3"]
    assert names("all_tenants=1&host=node2", user="admin") == ["web-2"]
    assert names(f"uuid={building}&all_tenants=1", user="admin") == ["web-3"]
    assert names("ip=10.0.0.7") == ["web-1", "web-2"]
    # Patterns that could run for ever are refused, not run.
    assert "too complex" in _error(_api(cloud, "GET", "servers?name=(w%2B)%2B$"), 400, "badRequest")
    # Unknown parameters: ignored before 2.75, refused from 2.75.
    assert names("colour=blue") == ["db", "web-1", "web-2", "web-3"]
    message = _error(_api(cloud, "GET", "servers?colour=blue", version="2.75"), 400, "badRequest")
    assert "'colour' was unexpected" in message
    _error(_api(cloud, "GET", "servers?_secret=1"), 400, "badRequest")

    ordered = _api(cloud, "GET", "servers?sort_key=display_name&sort_dir=asc").json()
    assert [s["name"] for s in ordered["servers"]] == ["db", "web-1", "web-2", "web-3"]
    _error(_api(cloud, "GET", "servers?sort_key=host"), 403, "forbidden")

    page = _api(cloud, "GET", "servers?sort_key=display_name&sort_dir=asc&limit=2").json()
    assert [s["name"] for s in page["servers"]] == ["db", "web-1"]
    (link,) = page["servers_links"]
    assert link["rel"] == "next" and f"marker={ids['web-1']}" in link["href"]
    following = httpx.get(
        link["href"], headers={"X-Auth-Token": _session(cloud, "demo").token}
    ).json()
    assert [s["name"] for s in following["servers"]] == ["web-2", "web-3"]
    assert "servers_links" in following  # a full page always links on, as Nova's
    last = _api(cloud, "GET", f"servers?sort_key=display_name&sort_dir=asc&marker={building}")
    assert last.json() == {"servers": []}
    missing = str(uuid.uuid4())
    assert (
        _error(_api(cloud, "GET", f"servers?marker={missing}"), 400, "badRequest")
        == f"marker [{missing}] not found"
    )
    _error(_api(cloud, "GET", "servers?limit=-1"), 400, "badRequest")


def test_deleted_servers_and_their_actions(cloud: LoopbackCloud) -> None:
    gone = _instance(cloud, "gone", vm_state="deleted", host=None, deleted=True)
    request_id = f"req-{uuid.uuid4()}"
    with cloud.sessions.begin() as s:
        action = InstanceAction(
            instance_uuid=gone,
            action="create",
            request_id=request_id,
            user_id=_user(cloud, "demo"),
            project_id=_project(cloud, "demo"),
            workflow_id=f"boot-{gone}",
            finish_time=utcnow(),
        )
        action.events = [
            InstanceActionEvent(event="spawn", host="node1", result="Error", details="boom"),
            InstanceActionEvent(event="spawn", host="node2", result="Success"),
        ]
        s.add(action)

    _error(_api(cloud, "GET", f"servers/{gone}"), 404, "itemNotFound")
    assert _api(cloud, "GET", "servers").json()["servers"] == []
    assert names_of(_api(cloud, "GET", "servers?deleted=true&all_tenants=1", user="admin")) == [
        "gone"
    ]
    # Actions of a deleted server: 404 before 2.21, listed from 2.21.
    _error(_api(cloud, "GET", f"servers/{gone}/os-instance-actions"), 404, "itemNotFound")
    listed = _api(cloud, "GET", f"servers/{gone}/os-instance-actions", version="2.21").json()
    assert [a["request_id"] for a in listed["instanceActions"]] == [request_id]
    assert "updated_at" not in listed["instanceActions"][0]

    path = f"servers/{gone}/os-instance-actions/{request_id}"
    assert "events" not in _api(cloud, "GET", path, version="2.50").json()["instanceAction"]
    owner = _api(cloud, "GET", path, version="2.51").json()["instanceAction"]["events"]
    assert [e["result"] for e in owner] == ["Error", "Success"]
    assert all("traceback" not in e and "host" not in e and "hostId" not in e for e in owner)
    owner_62 = _api(cloud, "GET", path, version="2.62").json()["instanceAction"]["events"]
    assert all(len(e["hostId"]) == 56 and "host" not in e for e in owner_62)
    admin = _api(cloud, "GET", path, version="2.84", user="admin").json()["instanceAction"]
    assert [(e["host"], e["traceback"], e["details"]) for e in admin["events"]] == [
        ("node1", "boom", "boom"),
        ("node2", None, None),
    ]
    paged = _api(cloud, "GET", f"servers/{gone}/os-instance-actions?limit=1", version="2.58")
    assert paged.json()["instanceActions"][0]["updated_at"]
    assert paged.json()["links"][0]["rel"] == "next"


def names_of(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return sorted(s["name"] for s in response.json()["servers"])


# --- create: what is refused before a workflow starts -----------------------------------------


def _create(
    cloud: LoopbackCloud, server: dict[str, Any], version: str = "2.96", **more: Any
) -> httpx.Response:
    body = {
        "server": {"name": "x", "flavorRef": "1", "imageRef": IMAGE, "networks": "none"} | server
    }
    return _api(cloud, "POST", "servers", version=version, json=body | more)


@pytest.mark.parametrize(
    ("server", "version", "status", "expected"),
    [
        ({"networks": None}, "2.37", 400, "'networks' is a required property"),
        ({"networks": [{"port": "eth0"}]}, "2.96", 400, "'eth0' is not a 'uuid'"),
        (
            {"networks": [{"port": NETWORK, "fixed_ip": "10.0.0.9"}]},
            "2.96",
            400,
            "cannot be used with port",
        ),
        (
            {"networks": [{"port": NETWORK}], "max_count": 2},
            "2.96",
            400,
            "Unable to launch multiple instances with a single configured port ID",
        ),
        ({"networks": [{"uuid": NETWORK, "fixed_ip": "10.0.0.9"}]}, "2.96", 400, "fixed IP"),
        ({"networks": [{"uuid": "private"}]}, "2.96", 400, "is not a 'uuid'"),
        ({"networks": [{"uuid": "private"}]}, "2.1", 400, "not in proper format (private)"),
        ({"networks": "auto"}, "2.36", 400, "not valid under any of the given schemas"),
        ({"min_count": 3, "max_count": 2}, "2.96", 400, "min_count must be <= max_count"),
        ({"min_count": 0}, "2.96", 400, "less than the minimum of 1"),
        ({"key_name": "mykey"}, "2.96", 400, "Invalid key_name provided"),
        ({"imageRef": ""}, "2.96", 400, "Missing imageRef attribute"),
        ({"imageRef": "cirros"}, "2.96", 400, "Invalid imageRef provided: 'cirros'"),
        ({"flavorRef": True}, "2.96", 400, "flavorRef"),
        ({"name": " padded"}, "2.96", 400, "must not start or end with whitespace"),
        ({"colour": "blue"}, "2.96", 400, "'colour' was unexpected"),
        ({"description": "d"}, "2.18", 400, "'description' was unexpected"),
        ({"tags": ["a"]}, "2.96", 400, "Server tags is not supported"),
        (
            {"hostname": "h.example", "max_count": 2},
            "2.96",
            400,
            "Unable to allocate a single hostname to multiple instances",
        ),
        ({"host": "node1"}, "2.96", 403, "requested_destination"),
        ({"availability_zone": "nova:node1"}, "2.96", 403, "forced_host"),
        ({"availability_zone": "mars"}, "2.96", 400, "availability zone is not available"),
        ({"metadata": {"k/": "v"}}, "2.96", 400, "('k/' was unexpected)"),
        ({"user_data": "aGk="}, "2.96", 400, "user_data is not supported"),
        ({"security_groups": [{"name": "web"}]}, "2.96", 400, "Security group web not found"),
        (
            {
                "block_device_mapping_v2": [
                    {
                        "source_type": "image",
                        "destination_type": "volume",
                        "boot_index": 0,
                        "uuid": IMAGE,
                        "volume_size": 1,
                    }
                ]
            },
            "2.96",
            400,
            # Both imageRef and a volume as the root disk (boot_index 0).
            "Boot sequence for the instance and image/block device mapping combination",
        ),
        (
            {
                "block_device_mapping_v2": [
                    {"source_type": "blank", "destination_type": "volume", "volume_size": 1}
                ]
            },
            "2.96",
            400,
            "set delete_on_termination to true",
        ),
    ],
)
def test_create_refusals_name_the_fix(
    shared_cloud: LoopbackCloud, server: dict[str, Any], version: str, status: int, expected: str
) -> None:
    cloud = shared_cloud
    if server.get("networks", "") is None:
        server = {k: v for k, v in server.items() if k != "networks"}
        body = {"server": {"name": "x", "flavorRef": "1", "imageRef": IMAGE} | server}
        response = _api(cloud, "POST", "servers", version=version, json=body)
    else:
        response = _create(cloud, server, version)
    kind = {400: "badRequest", 403: "forbidden"}[status]
    assert expected in _error(response, status, kind)


_BLANK = {"source_type": "blank", "destination_type": "volume", "delete_on_termination": True}
_FIELD = "Invalid input for field/attribute"


@pytest.mark.parametrize(
    ("server", "version", "more", "expected"),
    [
        (
            {"config_drive": "maybe"},
            "2.96",
            {},
            f"{_FIELD} config_drive. Value: maybe. 'maybe' is not one of the boolean values "
            "(true, false)",
        ),
        (
            {"OS-DCF:diskConfig": "FAST"},
            "2.96",
            {},
            f"{_FIELD} OS-DCF:diskConfig. Value: FAST. 'FAST' is not one of ['AUTO', 'MANUAL']",
        ),
        (
            {"adminPass": None},
            "2.96",
            {},
            f"{_FIELD} adminPass. Value: None. None is not of type 'string'",
        ),
        (
            {"return_reservation_id": "often"},
            "2.96",
            {},
            f"{_FIELD} return_reservation_id. Value: often. 'often' is not one of the boolean "
            "values (true, false)",
        ),
        (
            {"security_groups": "default"},
            "2.96",
            {},
            f"{_FIELD} security_groups. Value: default. 'default' is not of type 'array'",
        ),
        (
            {"metadata": "k=v"},
            "2.96",
            {},
            f"{_FIELD} metadata. Value: k=v. 'k=v' is not of type 'object'",
        ),
        (
            {"name": "x" * 256},
            "2.96",
            {},
            f"{_FIELD} name. Value: {'x' * 256}. '{'x' * 256}' is too long",
        ),
        (
            {"min_count": "two"},
            "2.96",
            {},
            f"{_FIELD} min_count. Value: two. 'two' is not of type 'integer', 'string'",
        ),
        (
            {"networks": [{"uuid": NETWORK}] * 17},
            "2.96",
            {},
            "Too many networks: 17 NICs asked for, but a server has at most 16 (one per PCI slot "
            "bootflow's guests keep for NICs).",
        ),
        (
            {"block_device_mapping_v2": [_BLANK | {"volume_size": 0}]},
            "2.96",
            {},
            f"{_FIELD} volume_size. Value: 0. 0 is less than the minimum of 1",
        ),
        (
            {"block_device_mapping_v2": [_BLANK | {"volume_size": 2**31}]},
            "2.96",
            {},
            f"{_FIELD} volume_size. Value: 2147483648. 2147483648 is greater than the maximum "
            "of 2147483647",
        ),
        (
            {"block_device_mapping_v2": [_BLANK]},
            "2.96",
            {},
            "Invalid block device mapping: a blank volume needs a volume_size.",
        ),
        (
            {"block_device_mapping_v2": {"volume_size": 1}},
            "2.96",
            {},
            f"{_FIELD} block_device_mapping_v2. Value: {{'volume_size': 1}}. {{'volume_size': 1}} "
            "is not of type 'array'",
        ),
        (
            {"block_device_mapping_v2": [{"size": 1}]},
            "2.96",
            {},
            f"{_FIELD} block_device_mapping_v2. Value: {{'size': 1}}. Additional properties are "
            "not allowed ('size' was unexpected)",
        ),
        (
            {"personality": [{"path": "/etc/motd", "contents": "aGk="}]},
            "2.57",
            {},
            "'personality' was unexpected",
        ),
        (
            {"networks": [{"uuid": NETWORK, "tag": "nic1"}]},
            "2.37",
            {},
            f"{_FIELD} networks. Value: {{'uuid': '{NETWORK}', 'tag': 'nic1'}}. Additional "
            "properties are not allowed ('tag' was unexpected)",
        ),
        (
            {},
            "2.96",
            {"os:scheduler_hints": {"same_host": []}},
            f"{_FIELD} same_host. Value: []. [] is not valid under any of the given schemas",
        ),
        (
            {},
            "2.96",
            {"os:scheduler_hints": "near"},
            f"{_FIELD} os:scheduler_hints. Value: near. 'near' is not of type 'object'",
        ),
        (
            {},
            "2.96",
            {"reason": "why"},
            "Additional properties are not allowed ('reason' was unexpected)",
        ),
    ],
)
def test_a_create_body_breaking_its_schema_is_a_400_naming_the_field(
    shared_cloud: LoopbackCloud,
    server: dict[str, Any],
    version: str,
    more: dict[str, Any],
    expected: str,
) -> None:
    """Each key of Nova's create schema is checked as Nova's validator checks it."""
    response = _create(shared_cloud, server, version, **more)
    message = _error(response, 400, "badRequest")
    assert message == expected or (expected.startswith("'") and expected in message)


_TAGGED_NIC = {"networks": [{"uuid": NETWORK, "tag": "nic1"}]}


@pytest.mark.parametrize(
    ("server", "version", "expected"),
    [
        (_TAGGED_NIC, "2.31", "'tag' was unexpected"),
        (_TAGGED_NIC, "2.32", "Tagging a NIC (tag) is not supported"),
        (_TAGGED_NIC, "2.36", "Tagging a NIC (tag) is not supported"),
        (_TAGGED_NIC, "2.41", "'tag' was unexpected"),
        (_TAGGED_NIC, "2.42", "Tagging a NIC (tag) is not supported"),
        ({"tags": ["a"]}, "2.51", "'tags' was unexpected"),
        ({"tags": ["a"]}, "2.52", "Server tags is not supported"),
        ({"personality": [{"path": "/etc/motd"}]}, "2.56", "Personality files is not supported"),
        (
            {"trusted_image_certificates": ["c"]},
            "2.62",
            "'trusted_image_certificates' was unexpected",
        ),
        (
            {"trusted_image_certificates": ["c"]},
            "2.63",
            "trusted_image_certificates is not supported",
        ),
        ({"host": "node1"}, "2.73", "'host' was unexpected"),
        ({"hostname": "h"}, "2.89", "'hostname' was unexpected"),
        ({"hostname": "h"}, "2.90", "'h' is too short"),
        ({"hostname": "web.example.com"}, "2.90", "does not match"),
        ({"hostname": "a" * 256}, "2.94", "is too long"),
    ],
)
def test_each_create_key_is_known_from_its_microversion_on(
    shared_cloud: LoopbackCloud, server: dict[str, Any], version: str, expected: str
) -> None:
    """The create schema of each microversion range: a key before the version that adds it
    is an unexpected property; from it on, a key bootflow cannot carry out is refused by name."""
    body = {"networks": [{"uuid": NETWORK}]} | server
    assert expected in _error(_create(shared_cloud, body, version), 400, "badRequest")


def test_a_body_with_two_faults_is_refused_for_its_schema_first(
    shared_cloud: LoopbackCloud,
) -> None:
    """As Nova: the whole schema is checked before what bootflow cannot do (user data)."""
    response = _create(shared_cloud, {"user_data": "aGk=", "networks": "none"}, "2.19")
    assert _error(response, 400, "badRequest") == (
        f"{_FIELD} networks. Value: none. 'none' is not valid under any of the given schemas"
    )


@pytest.mark.parametrize(
    ("method", "path", "version", "body", "expected"),
    [
        (
            "POST",
            "servers/{server}/action",
            "2.96",
            {"os-getConsoleOutput": {"length": -5}},
            f"{_FIELD} length. Value: -5.",
        ),
        (
            "POST",
            "os-server-groups",
            "2.1",
            {"server_group": {"name": "g", "policies": "affinity"}},
            f"{_FIELD} policies. Value: affinity. 'affinity' is not a one-item list of one of "
            "['anti-affinity', 'affinity']",
        ),
        (
            "POST",
            "os-server-groups",
            "2.64",
            {"server_group": {"name": "g", "policy": "spread"}},
            f"{_FIELD} policy. Value: spread. 'spread' is not one of ['anti-affinity', "
            "'affinity', 'soft-anti-affinity', 'soft-affinity']",
        ),
        (
            "POST",
            "os-server-groups",
            "2.64",
            {
                "server_group": {
                    "name": "g",
                    "policy": "affinity",
                    "rules": {"max_server_per_host": 1},
                }
            },
            "Only anti-affinity policy supports rules.",
        ),
        (
            "POST",
            "os-server-groups",
            "2.64",
            {"server_group": {"name": "g", "policy": "anti-affinity", "rules": {"spread": 1}}},
            f"{_FIELD} rules. Value: {{'spread': 1}}. Additional properties are not allowed "
            "('spread' was unexpected)",
        ),
        (
            "POST",
            "os-server-groups",
            "2.64",
            {"server_group": {"policy": "affinity"}},
            f"{_FIELD} server_group. Value: {{'policy': 'affinity'}}. 'name' is a required "
            "property",
        ),
        (
            "PUT",
            "os-services/{service}",
            "2.53",
            {"status": "off"},
            f"{_FIELD} status. Value: off. 'off' is not one of ['enabled', 'disabled']",
        ),
        (
            "PUT",
            "os-services/{service}",
            "2.53",
            {"status": "disabled", "forced_down": "maybe"},
            f"{_FIELD} forced_down. Value: maybe. 'maybe' is not one of the boolean values "
            "(true, false)",
        ),
        (
            "PUT",
            "os-services/disable",
            "2.1",
            {"binary": "nova-compute"},
            "'host' is a required property",
        ),
        (
            "PUT",
            "os-services/disable",
            "2.1",
            {"host": "node1", "binary": "nova-compute", "forced_down": True},
            f"{_FIELD} service. Value: {{'host': 'node1', 'binary': 'nova-compute', "
            "'forced_down': True}. Additional properties are not allowed ('forced_down' was "
            "unexpected)",
        ),
    ],
)
def test_other_bodies_breaking_their_schema_are_400s_naming_the_field(
    shared_cloud: LoopbackCloud,
    method: str,
    path: str,
    version: str,
    body: dict[str, Any],
    expected: str,
) -> None:
    """Server actions, server groups and services: each body checked against its schema,
    before anything is looked up or changed."""
    path = path.format(server=uuid.uuid4(), service=service_uuid("node1"))
    response = _api(shared_cloud, method, path, user="admin", version=version, json=body)
    assert _error(response, 400, "badRequest") == expected


def test_create_checks_hints_networks_and_quota_up_front(cloud: LoopbackCloud) -> None:
    _node(cloud, "node1")
    demo = _project(cloud, "demo")
    unknown = str(uuid.uuid4())
    message = _error(
        _create(cloud, {}, **{"os:scheduler_hints": {"group": unknown}}), 400, "badRequest"
    )
    assert message == f"Instance group {unknown} could not be found."
    theirs = _api(
        cloud,
        "POST",
        "os-server-groups",
        user="alt",
        version="2.64",
        json={"server_group": {"name": "alt-g", "policy": "affinity"}},
    ).json()["server_group"]["id"]
    _error(_create(cloud, {}, **{"os:scheduler_hints": {"group": theirs}}), 400, "badRequest")
    _error(_create(cloud, {}, **{"os:scheduler_hints": {"group": "not-a-uuid"}}), 400, "badRequest")

    # "auto" needs exactly one network the project can use.
    message = _error(_create(cloud, {"networks": "auto"}), 400, "badRequest")
    assert f"Unable to automatically allocate a network for project {demo}" in message
    networks = NetworkClient(cloud.session("admin"))
    for name in ("a", "b"):
        networks.create_network(name, project_id=demo)
    message = _error(_create(cloud, {"networks": "auto"}), 409, "conflictingRequest")
    assert message.startswith("Multiple possible networks found")

    # Several servers that the quota cannot hold at least min_count of: 403, naming it.
    with cloud.sessions.begin() as s:
        s.add(QuotaLimit(project_id=demo, resource="instances", hard_limit=3))
        s.add(QuotaUsage(project_id=demo, resource="instances", in_use=2))
    message = _error(_create(cloud, {"min_count": 2, "max_count": 4}), 403, "forbidden")
    assert message.startswith("Quota exceeded for instances: requested 2, but already used 2 of 3")


def _unlimited(cloud: LoopbackCloud, project: str) -> None:
    with cloud.sessions.begin() as s:
        for resource in ("instances", "cores", "ram", "disk"):
            s.add(QuotaLimit(project_id=project, resource=resource, hard_limit=-1))


def test_max_count_is_bounded_before_any_boot_is_built(
    cloud: LoopbackCloud, started: list[BootRequest]
) -> None:
    """A million servers asked for: the quota (or, unlimited, the per-request bound) decides
    how many before a single boot is built, whatever the flavor."""
    _node(cloud, "node1")
    huge = {"max_count": 1_000_000}
    # The instances quota (10) bounds it even when the flavor is one the boot will refuse.
    for flavor in ("1", "no-such-flavor"):
        accepted = _create(cloud, {"flavorRef": flavor} | huge)
        assert accepted.status_code == 202, accepted.text
        assert len(started) == 10 and started[-1].name == "x-10"
        started.clear()
    message = _error(_create(cloud, huge | {"min_count": 1_000_000}), 403, "forbidden")
    assert message.startswith("Quota exceeded for instances: requested 1000000, but already used 0")

    # Unlimited quotas: at most max_servers_per_request (100) in one request.
    _unlimited(cloud, _project(cloud, "demo"))
    assert _create(cloud, huge).status_code == 202
    assert len(started) == cloud.settings.max_servers_per_request == 100
    started.clear()
    message = _error(_create(cloud, huge | {"min_count": 101}), 400, "badRequest")
    assert message.startswith("min_count 101 is more than the 100 servers one request may boot")
    assert started == []


def test_nics_and_volume_size_are_bounded(cloud: LoopbackCloud, started: list[BootRequest]) -> None:
    message = _error(_create(cloud, {"networks": [{"uuid": NETWORK}] * 1000}), 400, "badRequest")
    assert message == (
        "Too many networks: 1000 NICs asked for, but a server has at most 16 (one per PCI "
        "slot bootflow's guests keep for NICs)."
    )
    volume = {"source_type": "blank", "destination_type": "volume", "delete_on_termination": True}
    for size in (10**12, "1000000000000", 2**31):
        bdm = {"block_device_mapping_v2": [volume | {"volume_size": size}]}
        message = _error(_create(cloud, bdm), 400, "badRequest")
        assert message.endswith(f"{size!r} is greater than the maximum of 2147483647")
    assert started == []
    # The bounds themselves are accepted.
    assert _create(cloud, {"networks": [{"uuid": NETWORK}] * 16}).status_code == 202
    largest = {"block_device_mapping_v2": [volume | {"volume_size": 2**31 - 1}]}
    assert _create(cloud, largest).status_code == 202
    assert [len(b.networks) for b in started] == [16, 0]
    assert started[-1].volume_size_gb == 2**31 - 1


def test_create_on_a_users_port_checks_it_as_nova(
    cloud: LoopbackCloud, started: list[BootRequest]
) -> None:
    """``networks: [{"port": id}]``: the port must exist for the caller, be its project's
    and be bound to no device; the boot carries the port and the port's network."""
    demo = NetworkClient(cloud.session("demo"))
    network = demo.create_network("ports")
    demo.create_subnet(network["id"], "10.9.0.0/24")
    free = demo.create_port(network["id"], device_id="", device_owner="", host="")
    used = demo.create_port(
        network["id"], device_id=str(uuid.uuid4()), device_owner="compute:nova", host=""
    )
    bare = demo.create_port(
        demo.create_network("no-subnet")["id"], device_id="", device_owner="", host=""
    )
    alt = NetworkClient(cloud.session("alt"))
    alt_network = alt.create_network("alt-net")
    alt.create_subnet(alt_network["id"], "10.8.0.0/24")
    theirs = alt.create_port(alt_network["id"], device_id="", device_owner="", host="")

    def create(*ports: str, user: str = "demo") -> httpx.Response:
        body = {
            "server": {
                "name": "on-port",
                "flavorRef": "1",
                "imageRef": IMAGE,
                "networks": [{"port": p} for p in ports],
            }
        }
        return _api(cloud, "POST", "servers", user=user, version="2.96", json=body)

    missing = str(uuid.uuid4())
    assert _error(create(missing), 400, "badRequest") == f"Port id {missing} could not be found."
    # Another project's port is not the caller's to see: not found, as Neutron hides it.
    message = _error(create(theirs["id"]), 400, "badRequest")
    assert message == f"Port id {theirs['id']} could not be found."
    message = _error(create(used["id"]), 409, "conflictingRequest")
    assert message == f"Port {used['id']} is still in use."
    message = _error(create(free["id"], free["id"]), 409, "conflictingRequest")
    assert message == f"Port {free['id']} is still in use."
    message = _error(create(bare["id"]), 400, "badRequest")
    assert message == f"Port {bare['id']} requires a FixedIP in order to be used."
    assert started == []

    accepted = create(free["id"])
    assert accepted.status_code == 202, accepted.text
    (boot,) = started
    assert boot.networks == [NetworkRequest(network_id=network["id"], port_id=free["id"])]
    assert accepted.json()["server"]["id"] == boot.instance_uuid
    # An admin may boot on another project's port (as Nova's API allows).
    assert create(theirs["id"], user="admin").status_code == 202
    assert started[-1].networks[0].port_id == theirs["id"]
    # The API only checks: nothing is bound until the boot's host binds it.
    assert demo.get_port(free["id"])["device_id"] == ""


# --- flavors, limits ---------------------------------------------------------------------------


def test_flavors(cloud: LoopbackCloud) -> None:
    brief = _api(cloud, "GET", "flavors").json()["flavors"]
    assert [(f["id"], f["name"]) for f in brief] == [("1", "m1.tiny"), ("2", "m1.small")]
    assert set(brief[0]) == {"id", "name", "links"}
    (tiny, _small) = _api(cloud, "GET", "flavors/detail").json()["flavors"]
    assert tiny["swap"] == "" and tiny["rxtx_factor"] == 1.0 and "description" not in tiny
    assert (tiny["vcpus"], tiny["ram"], tiny["disk"]) == (1, 512, 1)
    newer = _api(cloud, "GET", "flavors/1", version="2.75").json()["flavor"]
    assert newer["swap"] == 0 and newer["description"] is None and newer["extra_specs"] == {}
    assert "extra_specs" not in _api(cloud, "GET", "flavors/1", version="2.60").json()["flavor"]
    _error(_api(cloud, "GET", "flavors/m1.tiny"), 404, "itemNotFound")
    # Private flavors: only admins, and only when they ask (is_public=None: all).
    admin_all = _api(cloud, "GET", "flavors?is_public=None", user="admin").json()["flavors"]
    assert [f["name"] for f in admin_all] == ["m1.tiny", "m1.small", "private"]
    assert len(_api(cloud, "GET", "flavors?is_public=None").json()["flavors"]) == 2
    assert [f["name"] for f in _api(cloud, "GET", "flavors?minRam=1024").json()["flavors"]] == [
        "m1.small"
    ]
    page = _api(cloud, "GET", "flavors?limit=1").json()
    assert "marker=1" in page["flavors_links"][0]["href"]
    _error(_api(cloud, "GET", "flavors?sort_key=colour"), 400, "badRequest")


def test_limits_show_quota_and_usage(cloud: LoopbackCloud) -> None:
    demo = _project(cloud, "demo")
    with cloud.sessions.begin() as s:
        s.add(QuotaLimit(project_id=demo, resource="cores", hard_limit=6))
        s.add(QuotaUsage(project_id=demo, resource="cores", in_use=2))
        s.add(QuotaUsage(project_id=demo, resource="instances", in_use=2))
    old = _api(cloud, "GET", "limits").json()["limits"]
    assert old["rate"] == []
    absolute = old["absolute"]
    assert (absolute["maxTotalCores"], absolute["totalCoresUsed"]) == (6, 2)
    assert (absolute["maxTotalInstances"], absolute["totalInstancesUsed"]) == (10, 2)
    assert (absolute["maxTotalRAMSize"], absolute["totalRAMUsed"]) == (51200, 0)
    assert absolute["maxServerGroups"] == 10 and absolute["totalServerGroupsUsed"] == 0
    assert absolute["maxPersonality"] == 5 and absolute["maxTotalFloatingIps"] == 10
    new = _api(cloud, "GET", "limits", version="2.57").json()["limits"]["absolute"]
    for gone in ("maxPersonality", "maxImageMeta", "maxTotalFloatingIps", "maxSecurityGroups"):
        assert gone not in new
    _error(_api(cloud, "GET", f"limits?tenant_id={demo}", user="alt"), 403, "forbidden")
    other = _api(cloud, "GET", f"limits?tenant_id={demo}", user="admin").json()
    assert other["limits"]["absolute"]["totalCoresUsed"] == 2


# --- server groups -----------------------------------------------------------------------------


def test_server_groups(cloud: LoopbackCloud) -> None:
    old = _api(
        cloud,
        "POST",
        "os-server-groups",
        json={"server_group": {"name": "old", "policies": ["anti-affinity"]}},
    ).json()["server_group"]
    assert old["policies"] == ["anti-affinity"] and old["metadata"] == {}
    assert "project_id" not in old and "policy" not in old
    new = _api(
        cloud,
        "POST",
        "os-server-groups",
        version="2.64",
        json={"server_group": {"name": "new", "policy": "soft-affinity"}},
    ).json()["server_group"]
    assert (new["policy"], new["rules"], new["members"]) == ("soft-affinity", {}, [])
    assert new["project_id"] == _project(cloud, "demo")
    # soft policies from 2.15; rules only for anti-affinity; more than 1 per host unsupported.
    _error(
        _api(
            cloud,
            "POST",
            "os-server-groups",
            version="2.14",
            json={"server_group": {"name": "s", "policies": ["soft-affinity"]}},
        ),
        400,
        "badRequest",
    )
    _error(
        _api(
            cloud,
            "POST",
            "os-server-groups",
            version="2.64",
            json={
                "server_group": {
                    "name": "r",
                    "policy": "affinity",
                    "rules": {"max_server_per_host": 2},
                }
            },
        ),
        400,
        "badRequest",
    )
    _error(
        _api(
            cloud,
            "POST",
            "os-server-groups",
            version="2.64",
            json={
                "server_group": {
                    "name": "r",
                    "policy": "anti-affinity",
                    "rules": {"max_server_per_host": 2},
                }
            },
        ),
        409,
        "conflictingRequest",
    )

    member = _instance(cloud, "m")
    gone = _instance(cloud, "g", vm_state="deleted", deleted=True)
    with cloud.sessions.begin() as s:
        for server in (member, gone):
            s.add(ServerGroupMember(group_uuid=new["id"], instance_uuid=server))
    shown = _api(cloud, "GET", f"os-server-groups/{new['id']}", version="2.64").json()
    assert shown["server_group"]["members"] == [member]  # deleted servers are not members

    listed = _api(cloud, "GET", "os-server-groups").json()["server_groups"]
    assert {g["name"] for g in listed} == {"old", "new"}
    assert _api(cloud, "GET", "os-server-groups", user="alt").json()["server_groups"] == []
    everyone = _api(cloud, "GET", "os-server-groups?all_projects=1", user="admin").json()
    assert {g["name"] for g in everyone["server_groups"]} == {"old", "new"}
    _error(_api(cloud, "GET", f"os-server-groups/{new['id']}", user="alt"), 403, "forbidden")

    assert _api(cloud, "DELETE", f"os-server-groups/{old['id']}").status_code == 204
    _error(_api(cloud, "GET", f"os-server-groups/{old['id']}"), 404, "itemNotFound")
    assert _api(cloud, "GET", "limits").json()["limits"]["absolute"]["totalServerGroupsUsed"] == 1

    for index in range(9):
        created = _api(
            cloud,
            "POST",
            "os-server-groups",
            json={"server_group": {"name": f"q{index}", "policies": ["affinity"]}},
        )
        assert created.status_code == 200
    over = _api(
        cloud,
        "POST",
        "os-server-groups",
        json={"server_group": {"name": "one-too-many", "policies": ["affinity"]}},
    )
    assert "Quota exceeded, too many server groups" in _error(over, 403, "forbidden")


# --- hosts: hypervisors, services, zones ----------------------------------------------------------


def test_hypervisors(cloud: LoopbackCloud) -> None:
    _node(cloud, "node1")
    _node(cloud, "node2", heartbeat_at=utcnow() - timedelta(minutes=5), disabled=True)
    _error(_api(cloud, "GET", "os-hypervisors"), 403, "forbidden")

    old = _api(cloud, "GET", "os-hypervisors/detail", user="admin").json()["hypervisors"]
    assert [(h["hypervisor_hostname"], h["state"], h["status"]) for h in old] == [
        ("node1.example", "up", "enabled"),
        ("node2.example", "down", "disabled"),
    ]
    first = old[0]
    assert isinstance(first["id"], int) and isinstance(first["service"]["id"], int)
    assert (first["vcpus"], first["vcpus_used"], first["memory_mb"], first["free_ram_mb"]) == (
        8,
        1,
        8192,
        7680,
    )
    assert (first["local_gb"], first["local_gb_used"], first["running_vms"]) == (100, 1, 1)
    assert first["service"]["host"] == "node1" and first["hypervisor_type"] == "QEMU"
    assert not [key for key in first if key.startswith("bootflow:")]
    assert isinstance(first["cpu_info"], str)

    v253 = _api(cloud, "GET", "os-hypervisors/detail", user="admin", version="2.53").json()
    node1 = v253["hypervisors"][0]
    assert node1["service"]["id"] == service_uuid("node1") and node1["cpu_info"] == {
        "arch": "x86_64"
    }
    shown = _api(cloud, "GET", f"os-hypervisors/{node1['id']}", user="admin", version="2.53")
    assert shown.json()["hypervisor"]["hypervisor_hostname"] == "node1.example"
    _error(_api(cloud, "GET", "os-hypervisors/1", user="admin", version="2.53"), 400, "badRequest")
    v288 = _api(cloud, "GET", "os-hypervisors/detail", user="admin", version="2.88").json()
    assert "vcpus" not in v288["hypervisors"][0] and "uptime" in v288["hypervisors"][0]
    brief = _api(cloud, "GET", "os-hypervisors?limit=1", user="admin", version="2.33").json()
    assert set(brief["hypervisors"][0]) == {"id", "hypervisor_hostname", "state", "status"}
    assert brief["hypervisors_links"][0]["rel"] == "next"
    uptime = _api(cloud, "GET", f"os-hypervisors/{first['id']}/uptime", user="admin")
    _error(uptime, 501, "notImplemented")


def test_services_enable_and_disable_hosts(cloud: LoopbackCloud) -> None:
    _node(cloud, "node1")
    _node(cloud, "node2", availability_zone="az2")
    _error(_api(cloud, "GET", "os-services"), 403, "forbidden")
    services = _api(cloud, "GET", "os-services", user="admin", version="2.53").json()["services"]
    assert [(s["binary"], s["host"], s["zone"], s["status"], s["state"]) for s in services] == [
        ("nova-compute", "node1", "nova", "enabled", "up"),
        ("nova-compute", "node2", "az2", "enabled", "up"),
    ]
    assert services[0]["forced_down"] is False

    path = f"os-services/{service_uuid('node1')}"
    disabled = _api(
        cloud,
        "PUT",
        path,
        user="admin",
        version="2.53",
        json={"status": "disabled", "disabled_reason": "disk swap"},
    ).json()["service"]
    assert (disabled["status"], disabled["disabled_reason"]) == ("disabled", "disk swap")
    with cloud.sessions.begin() as s:
        node = s.query(ComputeNode).filter_by(host="node1").one()
        assert node.disabled and node.disabled_reason == "disk swap"
    both = {"status": "enabled", "disabled_reason": "x"}
    _error(_api(cloud, "PUT", path, user="admin", version="2.53", json=both), 400, "badRequest")
    _error(_api(cloud, "PUT", path, user="admin", version="2.53", json={}), 400, "badRequest")
    _error(
        _api(cloud, "PUT", path, user="admin", version="2.53", json={"forced_down": True}),
        400,
        "badRequest",
    )
    enabled = _api(cloud, "PUT", path, user="admin", version="2.53", json={"status": "enabled"})
    assert enabled.json()["service"]["disabled_reason"] is None
    _error(
        _api(cloud, "PUT", f"os-services/{uuid.uuid4()}", user="admin", version="2.53", json={}),
        404,
        "itemNotFound",
    )
    _error(
        _api(cloud, "PUT", "os-services/disable", user="admin", version="2.53", json={}),
        400,
        "badRequest",
    )
    # Before 2.53: PUT /os-services/<action> with host and binary.
    legacy = _api(
        cloud,
        "PUT",
        "os-services/disable-log-reason",
        user="admin",
        json={"host": "node2", "binary": "nova-compute", "disabled_reason": "old style"},
    ).json()
    assert legacy == {
        "service": {
            "host": "node2",
            "binary": "nova-compute",
            "status": "disabled",
            "disabled_reason": "old style",
        }
    }
    _error(
        _api(
            cloud,
            "PUT",
            "os-services/enable",
            user="admin",
            json={"host": "node2", "binary": "nova-scheduler"},
        ),
        400,
        "badRequest",
    )

    # node2 (alone in az2) is disabled: az2 is not available; the detail is for admins.
    zones = _api(cloud, "GET", "os-availability-zone").json()["availabilityZoneInfo"]
    assert zones == [
        {"zoneName": "nova", "zoneState": {"available": True}, "hosts": None},
        {"zoneName": "az2", "zoneState": {"available": False}, "hosts": None},
    ]
    _error(_api(cloud, "GET", "os-availability-zone/detail"), 403, "forbidden")
    detail = _api(cloud, "GET", "os-availability-zone/detail", user="admin").json()
    nova = detail["availabilityZoneInfo"][0]
    assert nova["hosts"]["node1"]["nova-compute"]["available"] is True
    aggregates = _api(cloud, "GET", "os-aggregates", user="admin", version="2.41").json()
    (az2,) = aggregates["aggregates"]
    assert (az2["name"], az2["hosts"], az2["availability_zone"]) == ("az2", ["node2"], "az2")
    assert "uuid" in az2


def test_a_status_of_a_task_lists_the_servers_in_that_task(cloud: LoopbackCloud) -> None:
    """REBUILD, REBOOT and HARD_REBOOT are statuses of a task, not of a vm_state (Nova's
    task_and_vm_state_from_status): `server list --status REBUILD` listed nothing."""
    _instance(cloud, "plain")
    _instance(cloud, "rebuilding", task_state="rebuilding")
    _instance(cloud, "stopped-rebuilding", vm_state="stopped", task_state="rebuild_spawning")
    _instance(cloud, "rebooting", task_state="rebooting")
    _instance(cloud, "hard", task_state="rebooting_hard")

    def names(query: str) -> list[str]:
        response = _api(cloud, "GET", f"servers?{query}", version="2.38")
        assert response.status_code == 200, response.text
        return sorted(s["name"] for s in response.json()["servers"])

    assert names("status=REBUILD") == ["rebuilding", "stopped-rebuilding"]
    assert names("status=REBOOT") == ["rebooting"]
    assert names("status=HARD_REBOOT&status=reboot") == ["hard", "rebooting"]
    # As Nova: a vm_state's own status lists its servers whatever their task.
    assert names("status=ACTIVE") == ["hard", "plain", "rebooting", "rebuilding"]
    assert names("status=SHUTOFF") == ["stopped-rebuilding"]
