"""Volume (Cinder v3 subset) through real HTTP on loopback, via the VolumeClient."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from tempest.lib.api_schema.response.volume import quota_classes as quota_class_schemas
from tempest.lib.api_schema.response.volume import quotas as quota_schemas
from tempest.lib.api_schema.response.volume import volumes as volume_schemas

from clients.errors import BadRequest, HttpError, NotFound
from clients.session import Session
from clients.volume import VolumeClient, VolumeFailed, legacy_connection_info
from db.base import utcnow
from db.models.volume import Volume
from db.session import make_engine, make_session_factory
from services.volume import attaching
from services.volume.backend import BackendError, FileBackend, GiB, ImageData
from services.volume.images import ImageService
from services.volume.manager import VolumeManager
from services.volume.quotas import Limits
from tests.support.cloud import LoopbackCloud, cloud_settings, loopback_cloud
from tests.support.tempest_validation import assert_tempest_valid

SERVER = "6f1e8f6a-33c4-4e8e-9f3e-0d1c2b3a4f50"
OTHER_SERVER = "9a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d"
CONNECTOR = {"host": "compute-1", "mountpoint": "/dev/vdb", "initiator": "iqn.test:compute-1"}
CINDER_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$")


@pytest.fixture
def cloud(database_url: str, tmp_path: Path) -> Iterator[LoopbackCloud]:
    with loopback_cloud(database_url, tmp_path, services=("identity", "volume")) as c:
        yield c


def _client(cloud: LoopbackCloud, user: str = "demo", **kwargs: Any) -> VolumeClient:
    return VolumeClient(cloud.session(user), **kwargs)


def _http(
    session: Session, method: str, path: str, version: str | None = "3.44", **kwargs: Any
) -> httpx.Response:
    """A raw request to the volume endpoint (path relative to .../v3/), for what a client
    hides: status codes, headers, malformed bodies."""
    headers = {"X-Auth-Token": session.token, **kwargs.pop("headers", {})}
    if version is not None:
        headers["OpenStack-API-Version"] = f"volume {version}"
    url = f"{session.endpoint('volumev3')}/{path}"
    return httpx.request(method, url, headers=headers, **kwargs)


def _available(client: VolumeClient, size: int = 1, **kwargs: Any) -> dict[str, Any]:
    volume = client.create_volume(size, **kwargs)
    return client.wait_for_status(volume["id"], ["available"], timeout=30)


def _backing_file(cloud: LoopbackCloud, volume_id: str) -> Path:
    return cloud.settings.volumes_dir / f"volume-{volume_id}"


# --- versions and microversions ---------------------------------------------------------------


def test_version_documents_and_microversion_negotiation(cloud: LoopbackCloud) -> None:
    base = cloud.urls["volume"]
    root = httpx.get(f"{base}/")
    assert root.status_code == 300
    (v3,) = root.json()["versions"]
    assert (v3["id"], v3["status"], v3["version"], v3["min_version"]) == (
        "v3.0",
        "CURRENT",
        "3.70",
        "3.0",
    )
    assert {"rel": "self", "href": f"{base}/v3/"} in v3["links"]
    assert httpx.get(f"{base}/v3/").json() == {"versions": [v3]}

    demo = cloud.session("demo")
    project = demo.token_info().project_id
    for asked, served in ((None, "3.0"), ("3.27", "3.27"), ("latest", "3.70")):
        response = _http(demo, "GET", f"{project}/volumes", version=asked)
        assert response.status_code == 200
        assert response.headers["OpenStack-API-Version"] == f"volume {served}"
        assert "OpenStack-API-Version" in response.headers["Vary"]

    for asked, status in (("3.71", 406), ("2.9", 406), ("3.x", 400), ("three", 400)):
        refused = _http(demo, "GET", f"{project}/volumes", version=asked)
        assert refused.status_code == status, asked
        kind = "computeFault" if status == 406 else "badRequest"  # Cinder's fault names
        assert refused.json()[kind]["code"] == status

    # Attachments exist from 3.27 (os-complete from 3.44); below, as if they did not.
    assert _http(demo, "GET", f"{project}/attachments", version="3.26").status_code == 404
    assert _http(demo, "GET", f"{project}/attachments", version="3.27").json() == {
        "attachments": []
    }


# --- volumes ---------------------------------------------------------------------------------


def test_create_makes_a_sparse_file_and_shows_cinder_json(cloud: LoopbackCloud) -> None:
    demo = _client(cloud)
    created = demo.create_volume(2, name="data", description="scratch", metadata={"tier": "a"})
    assert created["status"] == "creating"
    volume = demo.wait_for_status(created["id"], ["available"], timeout=30)

    path = _backing_file(cloud, volume["id"])
    stat = path.stat()
    assert stat.st_size == 2 * GiB  # apparent size
    assert stat.st_blocks * 512 < 1 << 20  # but nothing allocated
    assert stat.st_mode & 0o077 == 0

    assert volume["size"] == 2
    assert (volume["name"], volume["description"], volume["metadata"]) == (
        "data",
        "scratch",
        {"tier": "a"},
    )
    assert volume["bootable"] == "false"
    assert volume["availability_zone"] == "nova"
    assert (volume["encrypted"], volume["multiattach"]) == (False, False)
    assert volume["attachments"] == []
    assert volume["user_id"] == cloud.session("demo").token_info().user_id
    assert CINDER_TIME.match(volume["created_at"]) and CINDER_TIME.match(volume["updated_at"])
    assert [link["rel"] for link in volume["links"]] == ["self", "bookmark"]
    assert "os-vol-tenant-attr:tenant_id" not in volume
    assert str(path) not in json.dumps(volume)

    # Admins see whose it is and where it lives (Cinder's admin-only extension attributes).
    project = cloud.session("demo").token_info().project_id
    as_admin = _client(cloud, "admin", project_id=project).get_volume(volume["id"])
    assert as_admin["os-vol-tenant-attr:tenant_id"] == project
    assert as_admin["os-vol-host-attr:host"].endswith("@file#file")


def test_list_detail_show_filters_and_paging(cloud: LoopbackCloud) -> None:
    demo = _client(cloud)
    made = [_available(demo, name=name) for name in ("a", "b", "c")]

    summary = demo.list_volumes(detail=False)
    assert all(set(v) == {"id", "name", "links"} for v in summary)
    # Newest first, as Cinder sorts (created_at, id) descending.
    assert [v["id"] for v in summary] == [v["id"] for v in reversed(made)]
    assert [v["name"] for v in demo.list_volumes(name="b")] == ["b"]
    assert len(demo.list_volumes(status="available")) == 3
    assert demo.list_volumes(status="error") == []
    assert demo.get_volume(made[0]["id"])["name"] == "a"

    session = cloud.session("demo")
    project = session.token_info().project_id
    first = _http(session, "GET", f"{project}/volumes/detail", params={"limit": 2}).json()
    assert [v["name"] for v in first["volumes"]] == ["c", "b"]
    (link,) = first["volumes_links"]
    assert link["rel"] == "next"
    assert f"/v3/{project}/volumes/detail?" in link["href"]
    assert f"marker={first['volumes'][-1]['id']}" in link["href"]
    rest = httpx.get(link["href"], headers={"X-Auth-Token": session.token}).json()
    assert [v["name"] for v in rest["volumes"]] == ["a"]
    assert "volumes_links" not in rest

    # The client follows next links to the end, a page at a time.
    assert [v["name"] for v in demo.list_volumes(limit=1)] == ["c", "b", "a"]
    with pytest.raises(NotFound):
        demo.list_volumes(marker=str(uuid.uuid4()))
    with pytest.raises(BadRequest):
        demo.list_volumes(limit=-1)


def test_list_sorts_as_asked_and_pages_in_that_order(cloud: LoopbackCloud) -> None:
    demo = _client(cloud)
    made = {
        name: _available(demo, size=size, name=name)
        for name, size in (("b", 2), ("a", 3), ("c", 2))
    }
    ids = {v["id"]: name for name, v in made.items()}

    def names(**params: Any) -> list[str]:
        return [ids[v["id"]] for v in demo.list_volumes(detail=False, **params)]

    assert names(sort_key="name", sort_dir="asc") == ["a", "b", "c"]
    assert names(sort_key="display_name") == ["c", "b", "a"]
    assert names(sort="size:asc,name:desc") == ["c", "b", "a"]
    assert names(sort="size:desc,name") == ["a", "c", "b"]
    assert names(sort="name:asc", limit=1) == ["a", "b", "c"]  # every page in that order
    assert names(sort_key="size", sort_dir="asc", limit=2) == ["b", "c", "a"]
    assert names(sort_key="created_at", sort_dir="asc") == ["b", "a", "c"]

    session = cloud.session("demo")
    for bad in (
        {"sort_key": "no_such_column"},
        {"sort_key": "path"},
        {"sort_dir": "sideways"},
        {"sort": "name:up"},
        {"sort": "name", "sort_key": "size"},
        {"sort": ",".join(["name"] * 100)},
    ):
        refused = _http(session, "GET", "volumes", params=bad)
        assert refused.status_code == 400, bad
        assert "badRequest" in refused.json()


def test_list_filters_on_metadata_pairs(cloud: LoopbackCloud) -> None:
    """Cinder's ``metadata=`` filter: a dict literal (JSON or Python's repr, as Tempest's
    urlencode sends it), every pair must match, in the list, the detail and every page."""
    demo = _client(cloud)
    both = _available(demo, name="both", metadata={"Type": "work", "k": "v"})
    work = _available(demo, name="work", metadata={"Type": "work", "k": "other"})
    _available(demo, name="bare")
    odd = _available(demo, name="odd", metadata={'we"ird.$key': "1"})

    def names(detail: bool = True, **params: Any) -> list[str]:
        return [v["name"] for v in demo.list_volumes(detail=detail, **params)]

    assert names(metadata={"Type": "work"}) == ["work", "both"]
    assert names(detail=False, metadata={"Type": "work"}) == ["work", "both"]
    assert names(metadata='{"Type": "work", "k": "v"}') == ["both"]
    assert names(metadata={"Type": "home"}) == [] and names(metadata={"k": "work"}) == []
    assert names(metadata={"Type": "work"}, limit=1) == ["work", "both"]  # kept on each page
    assert names(metadata={}) == ["odd", "bare", "work", "both"]
    assert names(metadata={'we"ird.$key': "1"}) == ["odd"]
    assert names(metadata={'we"ird.$key': 1}) == ["odd"]  # a number matches its spelling
    assert names(metadata={"Type": "work"}, name="both") == ["both"]
    marker = names(metadata={"Type": "work"}, marker=work["id"], sort="name:asc")
    assert marker == []  # "work" sorts after "both": nothing follows it
    assert names(metadata={"Type": "work"}, marker=both["id"], sort="name:asc") == ["work"]
    assert odd["metadata"] == {'we"ird.$key': "1"}

    session = cloud.session("demo")
    for bad in ("nope", "['Type']", "{'k': ['v']}", "{1: 'v'}", "{'k': 'v'", "{" * 5000):
        refused = _http(session, "GET", "volumes/detail", params={"metadata": bad})
        assert refused.status_code == 400, bad
        assert "metadata" in refused.json()["badRequest"]["message"]


def test_list_filters_on_bootable(cloud: LoopbackCloud) -> None:
    """Cinder's ``bootable=``: from 3.2 only true/false spellings (else 400); before it,
    anything but False/false/FALSE means true."""
    demo = _client(cloud)
    _available(demo, name="plain")
    boot = _available(demo, name="boot")
    session = cloud.session("demo")
    action = {"os-set_bootable": {"bootable": True}}
    assert _http(session, "POST", f"volumes/{boot['id']}/action", json=action).status_code == 200

    def names(version: str, bootable: str, path: str = "volumes/detail") -> list[str]:
        answer = _http(session, "GET", path, version=version, params={"bootable": bootable})
        assert answer.status_code == 200, (version, bootable, answer.text)
        return [v["name"] for v in answer.json()["volumes"]]

    for version in ("3.0", "3.2", "3.70"):
        assert names(version, "true") == ["boot"] and names(version, "TRUE") == ["boot"]
        assert names(version, "false") == ["plain"] and names(version, "False") == ["plain"]
        assert names(version, "true", path="volumes") == ["boot"]
    for spelling, wanted in (("yes", "boot"), ("1", "boot"), ("off", "plain"), ("N", "plain")):
        assert names("3.2", spelling) == [wanted], spelling
    assert names("3.0", "maybe") == ["boot"] and names("3.1", "0") == ["boot"]
    for bad in ("maybe", "", "truthy"):
        refused = _http(session, "GET", "volumes", version="3.2", params={"bootable": bad})
        assert refused.status_code == 400, bad
        assert "bootable" in refused.json()["badRequest"]["message"]


def test_volume_summary_counts_sizes_and_metadata(cloud: LoopbackCloud) -> None:
    demo = _client(cloud)
    _available(demo, size=2, metadata={"tier": "gold", "team": "a"})
    _available(demo, size=3, metadata={"tier": "silver"})
    _available(demo, size=1, metadata={"tier": "gold"})
    _available(_client(cloud, "alt"), size=5, metadata={"secret": "x"})
    session = cloud.session("demo")

    at_3_36 = _http(session, "GET", "volumes/summary", version="3.36")
    body = assert_tempest_valid(volume_schemas.show_volume_summary, at_3_36)
    assert body == {
        "volume-summary": {
            "total_count": 3,
            "total_size": 6,
            "metadata": {"team": ["a"], "tier": ["gold", "silver"]},
        }
    }
    at_3_12 = _http(session, "GET", "volumes/summary", version="3.12")
    assert assert_tempest_valid(volume_schemas.show_volume_summary, at_3_12) == {
        "volume-summary": {"total_count": 3, "total_size": 6}
    }
    project = session.token_info().project_id
    filtered = _http(session, "GET", f"{project}/volumes/summary", params={"status": "error"})
    assert filtered.json()["volume-summary"]["total_count"] == 0
    # Before 3.12 there is no summary (nor a volume called "summary").
    assert _http(session, "GET", "volumes/summary", version="3.11").status_code == 404

    admin = cloud.session("admin")
    everyone = _http(admin, "GET", "volumes/summary", version="3.12", params={"all_tenants": 1})
    assert everyone.json()["volume-summary"] == {"total_count": 4, "total_size": 11}
    empty = _http(admin, "GET", "volumes/summary", version="3.36").json()["volume-summary"]
    assert empty == {"total_count": 0, "total_size": 0, "metadata": {}}


def test_update_volume_and_set_bootable(cloud: LoopbackCloud) -> None:
    demo = _client(cloud)
    volume = _available(demo, name="old", description="first", metadata={"a": "1"})
    session = cloud.session("demo")
    url = f"volumes/{volume['id']}"

    updated = _http(session, "PUT", url, json={"volume": {"name": " new ", "metadata": {"b": "2"}}})
    body = assert_tempest_valid(volume_schemas.update_volume, updated)["volume"]
    assert (body["name"], body["description"], body["metadata"]) == ("new", "first", {"b": "2"})
    cleared = _http(session, "PUT", url, json={"volume": {"display_description": None}})
    assert cleared.json()["volume"]["description"] is None
    assert demo.get_volume(volume["id"])["name"] == "new"

    assert demo.get_volume(volume["id"])["bootable"] == "false"
    for value, shown in ((True, "true"), ("false", "false"), ("yes", "true")):
        done = _http(
            session, "POST", f"{url}/action", json={"os-set_bootable": {"bootable": value}}
        )
        assert_tempest_valid(volume_schemas.set_bootable_volume, done)
        assert demo.get_volume(volume["id"])["bootable"] == shown

    for bad in (
        {"volume": {}},
        {"volume": {"name": "n" * 256}},
        {"volume": {"size": 5}},
        {"volume": {"metadata": {"k": 5}}},
        {"volume": "x"},
        {},
    ):
        assert _http(session, "PUT", url, json=bad).status_code == 400, bad
    for bad_action in (
        {"os-set_bootable": {"bootable": "maybe"}},
        {"os-set_bootable": {}},
        {"os-set_bootable": None},
        {"os-explode": {}},
        {"os-set_bootable": {"bootable": True}, "extra": {}},
        [],
    ):
        assert _http(session, "POST", f"{url}/action", json=bad_action).status_code == 400
    malformed = _http(session, "POST", f"{url}/action", content=b"{nope")
    assert malformed.status_code == 400

    alt = cloud.session("alt")
    assert _http(alt, "PUT", url, json={"volume": {"name": "x"}}).status_code == 404
    set_bootable = {"os-set_bootable": {"bootable": True}}
    assert _http(alt, "POST", f"{url}/action", json=set_bootable).status_code == 404
    missing = f"volumes/{uuid.uuid4()}"
    assert _http(session, "PUT", missing, json={"volume": {"name": "x"}}).status_code == 404


def test_project_less_urls_mean_the_token_project(cloud: LoopbackCloud) -> None:
    demo = _client(cloud)
    volume = _available(demo, name="mine")
    session = cloud.session("demo")
    listed = _http(session, "GET", "volumes/detail").json()["volumes"]
    assert [v["id"] for v in listed] == [volume["id"]]
    assert listed[0]["links"][0]["href"].endswith(f"/v3/volumes/{volume['id']}")
    assert _http(session, "GET", f"volumes/{volume['id']}").status_code == 200


def test_delete_removes_the_file_and_the_volume(cloud: LoopbackCloud) -> None:
    demo = _client(cloud)
    volume = _available(demo)
    path = _backing_file(cloud, volume["id"])
    assert path.exists()
    demo.delete_volume(volume["id"])
    assert not path.exists()
    with pytest.raises(NotFound) as gone:
        demo.get_volume(volume["id"])
    assert gone.value.message == f"Volume {volume['id']} could not be found."
    assert gone.value.error_type == "itemNotFound"
    with pytest.raises(NotFound):
        demo.delete_volume(volume["id"])


def test_a_volume_whose_file_cannot_be_made_goes_to_error(cloud: LoopbackCloud) -> None:
    cloud.settings.volumes_dir.write_text("in the way")  # the directory cannot be made
    demo = _client(cloud)
    volume = demo.create_volume(1)
    with pytest.raises(VolumeFailed):
        demo.wait_for_status(volume["id"], ["available"], timeout=30)
    assert demo.get_volume(volume["id"])["status"] == "error"
    with pytest.raises(BadRequest) as refused:
        demo.create_attachment(volume["id"], SERVER)
    assert "error state" in refused.value.message
    demo.delete_volume(volume["id"])
    assert demo.quota_usage()["volumes"]["in_use"] == 0


# --- attachments -----------------------------------------------------------------------------


def test_attachment_flow_reserve_connect_complete_detach(cloud: LoopbackCloud) -> None:
    demo = _client(cloud)
    volume = _available(demo)
    path = _backing_file(cloud, volume["id"])

    reserved = demo.create_attachment(volume["id"], SERVER)
    assert (reserved["status"], reserved["instance"], reserved["connection_info"]) == (
        "reserved",
        SERVER,
        {},
    )
    assert demo.get_volume(volume["id"])["status"] == "reserved"
    with pytest.raises(BadRequest) as taken:
        demo.create_attachment(volume["id"], OTHER_SERVER)
    assert "must be available or downloading to reserve" in taken.value.message

    attaching = demo.update_attachment(reserved["id"], CONNECTOR)
    assert attaching["status"] == "attaching"
    info = attaching["connection_info"]
    assert info["driver_volume_type"] == "file"
    assert info["device_path"] == str(path.resolve())
    assert (info["format"], info["access_mode"], info["attachment_id"]) == (
        "raw",
        "rw",
        reserved["id"],
    )
    assert CINDER_TIME.match(attaching["attached_at"])
    assert demo.get_volume(volume["id"])["status"] == "attaching"
    # What Nova's volume drivers get from it.
    legacy = legacy_connection_info(attaching)
    assert legacy["data"]["device_path"] == str(path.resolve())
    assert legacy["serial"] == volume["id"]

    demo.complete_attachment(reserved["id"])
    in_use = demo.get_volume(volume["id"])
    assert in_use["status"] == "in-use"
    (shown,) = in_use["attachments"]
    assert (shown["attachment_id"], shown["server_id"], shown["device"]) == (
        reserved["id"],
        SERVER,
        "/dev/vdb",
    )
    assert shown["host_name"] is None  # host names are for admins and services
    assert demo.get_attachment(reserved["id"])["status"] == "attached"
    assert [a["id"] for a in demo.list_attachments(volume_id=volume["id"])] == [reserved["id"]]
    assert demo.list_attachments(instance_id=OTHER_SERVER) == []

    with pytest.raises(BadRequest) as refused:
        demo.delete_volume(volume["id"])
    assert refused.value.message.startswith("Invalid volume: Volume status must be available")
    assert "attached" in refused.value.message
    assert path.exists()

    assert demo.delete_attachment(reserved["id"]) == []
    assert demo.get_volume(volume["id"])["status"] == "available"
    with pytest.raises(NotFound):
        demo.get_attachment(reserved["id"])
    demo.delete_volume(volume["id"])
    assert not path.exists()


def test_attach_in_one_step_and_same_server_may_attach_again(cloud: LoopbackCloud) -> None:
    demo = _client(cloud)
    volume = _available(demo)
    first = demo.create_attachment(volume["id"], SERVER, connector=CONNECTOR)
    assert first["status"] == "attaching"
    assert first["connection_info"]["device_path"].endswith(f"volume-{volume['id']}")
    demo.complete_attachment(first["id"])

    # Nova moving a server attaches the same volume to the same server on the new host.
    second = demo.create_attachment(volume["id"], SERVER)
    assert second["status"] == "reserved"
    with pytest.raises(BadRequest):
        demo.create_attachment(volume["id"], OTHER_SERVER)

    remaining = demo.delete_attachment(first["id"])
    assert [(a["id"], a["status"]) for a in remaining] == [(second["id"], "reserved")]
    assert demo.get_volume(volume["id"])["status"] == "reserved"
    demo.delete_attachment(second["id"])
    assert demo.get_volume(volume["id"])["status"] == "available"


def test_concurrent_reservations_of_one_volume_have_one_winner(
    cloud: LoopbackCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = _client(cloud)
    volume = _available(demo)
    # Widen the window between reading the volume's status and reserving it (the service
    # runs in this process), so requests that did not wait for the volume's lock would all
    # see it available.
    real_reserve = attaching.reserve

    def slow_reserve(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.1)
        return real_reserve(*args, **kwargs)

    monkeypatch.setattr(attaching, "reserve", slow_reserve)
    servers = [str(uuid.uuid4()) for _ in range(6)]
    start = threading.Barrier(len(servers))
    outcomes: list[str] = []

    def reserve(server: str) -> None:
        start.wait()
        try:
            demo.create_attachment(volume["id"], server)
        except BadRequest:
            outcomes.append("refused")
        else:
            outcomes.append("reserved")

    threads = [threading.Thread(target=reserve, args=(s,)) for s in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["refused"] * 5 + ["reserved"]
    assert len(demo.list_attachments(volume_id=volume["id"])) == 1


# --- quotas ----------------------------------------------------------------------------------


@pytest.fixture
def small_quota(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOOTFLOW_QUOTA_VOLUMES", "2")
    monkeypatch.setenv("BOOTFLOW_QUOTA_GIGABYTES", "3")


@pytest.mark.usefixtures("small_quota")
def test_admins_change_quotas_at_run_time(cloud: LoopbackCloud) -> None:
    demo = _client(cloud)
    project = demo.project_id
    admin = cloud.session("admin")
    url = f"os-quota-sets/{project}"
    _available(demo, size=2)
    _available(demo, size=1)
    with pytest.raises(HttpError):  # the defaults: 2 volumes, 3 GiB
        demo.create_volume(1)

    raised = _http(admin, "PUT", url, json={"quota_set": {"volumes": 5, "gigabytes": "10"}})
    body = assert_tempest_valid(quota_schemas.update_quota_set, raised)["quota_set"]
    assert (body["volumes"], body["gigabytes"]) == (5, 10)
    assert demo.quota_usage()["volumes"] == {"limit": 5, "in_use": 2, "reserved": 0}
    _available(demo, size=4)  # now within the raised limits
    absolute = _http(cloud.session("demo"), "GET", "limits").json()["limits"]["absolute"]
    assert (absolute["maxTotalVolumes"], absolute["maxTotalVolumeGigabytes"]) == (5, 10)
    # Another project keeps the defaults.
    alt = _client(cloud, "alt")
    assert alt.quota_usage()["volumes"]["limit"] == 2

    defaults = _http(admin, "GET", f"{url}/defaults")
    default_set = assert_tempest_valid(quota_schemas.show_quota_set, defaults)["quota_set"]
    assert (default_set["volumes"], default_set["gigabytes"]) == (2, 3)

    demo_session = cloud.session("demo")
    for bad in (
        {"quota_set": {"volumes": 2}},  # below the 3 volumes in use
        {"quota_set": {"volumes": -2}},
        {"quota_set": {"volumes": "many"}},
        {"quota_set": {"volumes": True}},
        {"quota_set": {"volumes": 2**31}},
        {"quota_set": {"no_such_resource": 1}},
        {"quota_set": []},
        {"volumes": 5},
    ):
        refused = _http(admin, "PUT", url, json=bad)
        assert refused.status_code == 400, bad
    assert (
        _http(admin, "PUT", "os-quota-sets/" + "p" * 65, json={"quota_set": {}}).status_code == 400
    )
    forbidden = _http(demo_session, "PUT", url, json={"quota_set": {"volumes": 50}})
    assert forbidden.status_code == 403
    assert _http(demo_session, "DELETE", url).status_code == 403
    assert demo.quota_usage()["volumes"]["limit"] == 5

    # The default quota class: every project's defaults, below what a project was given.
    classes = "os-quota-class-sets/default"
    raised_defaults = _http(admin, "PUT", classes, json={"quota_class_set": {"volumes": 4}})
    assert_tempest_valid(quota_class_schemas.update_quota_classes, raised_defaults)
    shown = assert_tempest_valid(
        quota_class_schemas.show_quota_classes, _http(admin, "GET", classes)
    )["quota_class_set"]
    assert (shown["id"], shown["volumes"], shown["gigabytes"]) == ("default", 4, 3)
    assert alt.quota_usage()["volumes"]["limit"] == 4
    _available(alt)
    assert demo.quota_usage()["volumes"]["limit"] == 5  # its own limit stands
    assert _http(admin, "GET", f"{url}/defaults").json()["quota_set"]["volumes"] == 4
    assert _http(demo_session, "GET", classes).status_code == 403
    refused_class = _http(demo_session, "PUT", classes, json={"quota_class_set": {"volumes": 9}})
    assert refused_class.status_code == 403
    for bad in ({"quota_class_set": {"volumes": "x"}}, {"quota_class_set": {"nope": 1}}, {}):
        assert _http(admin, "PUT", classes, json=bad).status_code == 400, bad

    unlimited = _http(admin, "PUT", url, json={"quota_set": {"gigabytes": -1}})
    assert unlimited.json()["quota_set"]["gigabytes"] == -1
    reset = _http(admin, "DELETE", url)
    assert reset.status_code == 200
    assert demo.quota_usage()["volumes"]["limit"] == 4  # the default class's


@pytest.mark.usefixtures("small_quota")
def test_quotas_refuse_with_413_and_come_back_after_delete(cloud: LoopbackCloud) -> None:
    demo = _client(cloud)
    assert demo.quota_usage()["volumes"] == {"limit": 2, "in_use": 0, "reserved": 0}
    big = _available(demo, size=2)
    with pytest.raises(HttpError) as too_big:
        demo.create_volume(2)
    assert too_big.value.status == 413
    assert too_big.value.message == (
        "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed "
        "gigabytes quota. Requested 2G, quota is 3G and 2G has been consumed."
    )
    _available(demo, size=1)
    with pytest.raises(HttpError) as too_many:
        demo.create_volume(1)
    assert too_many.value.status == 413
    assert too_many.value.message == (
        "VolumeLimitExceeded: Maximum number of volumes allowed (2) exceeded for quota 'volumes'."
    )

    usage = demo.quota_usage()
    assert (usage["volumes"]["in_use"], usage["gigabytes"]["in_use"]) == (2, 3)
    # The same through Cinder's limits API, as `openstack limits show --absolute` reads it.
    limits = cloud.session("demo").request("volumev3", "GET", f"{demo.project_id}/limits")
    absolute = limits.json()["limits"]["absolute"]
    assert (absolute["maxTotalVolumes"], absolute["totalVolumesUsed"]) == (2, 2)
    assert (absolute["maxTotalVolumeGigabytes"], absolute["totalGigabytesUsed"]) == (3, 3)
    session = cloud.session("demo")
    project = session.token_info().project_id
    plain = _http(session, "GET", f"{project}/os-quota-sets/{project}")
    body = assert_tempest_valid(quota_schemas.show_quota_set, plain)["quota_set"]
    assert (body["id"], body["volumes"], body["gigabytes"]) == (project, 2, 3)
    with_usage = _http(session, "GET", f"{project}/os-quota-sets/{project}?usage=true")
    assert_tempest_valid(quota_schemas.show_quota_set_usage, with_usage)
    refused = _http(session, "POST", f"{project}/volumes", json={"volume": {"size": 1}})
    assert refused.headers["Retry-After"] == "0"

    demo.delete_volume(big["id"])
    usage = demo.quota_usage()
    assert (usage["volumes"]["in_use"], usage["gigabytes"]["in_use"]) == (1, 1)
    assert _client(cloud, "alt").quota_usage()["volumes"]["in_use"] == 0
    with pytest.raises(NotFound):  # another project's quota is not ours to see
        demo.quota_usage(project_id=cloud.session("alt").token_info().project_id)


@pytest.mark.usefixtures("small_quota")
def test_concurrent_creates_never_exceed_the_quota(cloud: LoopbackCloud) -> None:
    demo = _client(cloud)
    attempts = 8
    start = threading.Barrier(attempts)
    created: list[str] = []
    refused: list[int] = []
    lock = threading.Lock()

    def create() -> None:
        start.wait()
        try:
            volume = demo.create_volume(1)
        except HttpError as exc:
            with lock:
                refused.append(exc.status)
        else:
            with lock:
                created.append(volume["id"])

    threads = [threading.Thread(target=create) for _ in range(attempts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(created) == 2
    assert refused == [413] * (attempts - 2)
    usage = demo.quota_usage()
    assert (usage["volumes"]["in_use"], usage["gigabytes"]["in_use"]) == (2, 2)
    for volume_id in created:
        demo.wait_for_status(volume_id, ["available"], timeout=30)


# --- isolation -------------------------------------------------------------------------------


def test_projects_are_isolated_and_admins_act_in_any_project(cloud: LoopbackCloud) -> None:
    demo, alt = _client(cloud), _client(cloud, "alt")
    demo_project = cloud.session("demo").token_info().project_id
    volume = _available(demo)
    attachment = demo.create_attachment(volume["id"], SERVER)

    with pytest.raises(NotFound):
        alt.get_volume(volume["id"])
    with pytest.raises(NotFound):
        alt.delete_volume(volume["id"])
    with pytest.raises(NotFound):
        alt.create_attachment(volume["id"], OTHER_SERVER)
    with pytest.raises(NotFound):
        alt.get_attachment(attachment["id"])
    with pytest.raises(NotFound):
        alt.delete_attachment(attachment["id"])
    assert alt.list_volumes() == []
    assert alt.list_attachments() == []
    # Naming demo's project in the URL finds nothing either.
    with pytest.raises(NotFound):
        _client(cloud, "alt", project_id=demo_project).list_volumes()

    # The service account creates a volume in demo's project; it is demo's.
    service = _client(cloud, "bootflow", project_id=demo_project)
    made = service.create_volume(1, name="for-demo")
    assert made["os-vol-tenant-attr:tenant_id"] == demo_project
    demo.wait_for_status(made["id"], ["available"], timeout=30)
    assert demo.quota_usage()["volumes"]["in_use"] == 2
    assert _client(cloud, "bootflow").list_volumes() == []  # not in its own project
    everyone = _client(cloud, "admin").list_volumes(all_tenants=1)
    assert {volume["id"], made["id"]} <= {v["id"] for v in everyone}


# --- bad input -------------------------------------------------------------------------------


def test_malformed_requests_are_400_not_500(cloud: LoopbackCloud) -> None:
    session = cloud.session("demo")
    project = session.token_info().project_id
    volumes = f"{project}/volumes"
    malformed: list[Any] = [
        {"volume": {"size": 0}},
        {"volume": {"size": "x"}},
        {"volume": {"size": 1.5}},
        {"volume": {"size": True}},
        {"volume": {}},
        {"size": 1},
        [],
        {"volume": {"size": 1, "metadata": {"k": 1}}},
        {"volume": {"size": 1, "multiattach": True}},
        {"volume": {"size": 1}, "extra": 1},
    ]
    for body in malformed:
        response = _http(session, "POST", volumes, json=body)
        assert response.status_code == 400, body
        assert response.json()["badRequest"]["code"] == 400
    # Cinder's schema bounds a size at its DB_MAX_INT, as Nova's does a boot volume's.
    for size in (10**12, "1000000000000", 2**31):
        too_big = _http(session, "POST", volumes, json={"volume": {"size": size}})
        assert too_big.status_code == 400
        assert "2147483647" in too_big.json()["badRequest"]["message"]
    assert _http(session, "POST", volumes, json={"volume": {"size": "1"}}).status_code == 202
    bad_json = _http(
        session, "POST", volumes, content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert bad_json.status_code == 400
    huge = _http(session, "POST", volumes, json={"volume": {"size": 1, "x": "y" * (2 << 20)}})
    assert huge.status_code == 413

    demo = _client(cloud)
    volume = _available(demo)
    attachment = demo.create_attachment(volume["id"], SERVER)
    action = f"{project}/attachments/{attachment['id']}/action"
    unknown = _http(session, "POST", action, json={"os-frobnicate": None})
    assert unknown.status_code == 400
    assert unknown.json()["badRequest"]["message"] == "There is no such action: os-frobnicate"
    assert _http(session, "POST", action, json={"os-complete": None, "x": 1}).status_code == 400
    assert (
        _http(session, "POST", action, json={"os-complete": None}, version="3.43").status_code
        == 404
    )
    attachments_path = f"{project}/attachments"
    for body in (
        {"attachment": {"volume_uuid": "not-a-uuid"}},
        {"attachment": {"volume_uuid": volume["id"], "mode": "rw"}},  # 3.54+ only
        {"attachment": {"volume_uuid": volume["id"], "bogus": 1}},
    ):
        assert _http(session, "POST", attachments_path, json=body).status_code == 400, body
    update = _http(
        session,
        "PUT",
        f"{attachments_path}/{attachment['id']}",
        json={"attachment": {"connector": {}}},
    )
    assert update.status_code == 400


# --- volumes from images ---------------------------------------------------------------------


@pytest.mark.skipif(
    importlib.util.find_spec("services.image.app") is None,
    reason="the image service is not built yet",
)
def test_volume_from_image_is_filled_bootable_and_checked_for_visibility(
    database_url: str, tmp_path: Path
) -> None:
    with loopback_cloud(database_url, tmp_path, services=("identity", "image", "volume")) as c:
        demo, alt = c.session("demo"), c.session("alt")
        data = os.urandom(3 << 20) + bytes(1 << 20)
        image = demo.request(
            "image",
            "POST",
            "v2/images",
            json={
                "name": "disk",
                "disk_format": "raw",
                "container_format": "bare",
                "visibility": "private",
                "os_distro": "cirros",
            },
        ).json()
        demo.request(
            "image",
            "PUT",
            f"v2/images/{image['id']}/file",
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )

        client = VolumeClient(demo)
        volume = client.wait_for_status(
            client.create_volume(1, image_id=image["id"])["id"], ["available"], timeout=30
        )
        assert volume["bootable"] == "true"
        meta = volume["volume_image_metadata"]
        assert (meta["image_id"], meta["image_name"], meta["disk_format"]) == (
            image["id"],
            "disk",
            "raw",
        )
        assert meta["os_distro"] == "cirros"
        # As Cinder's: show has the image's metadata, an update's answer not (regression:
        # Tempest's update_volume schema refused it).
        assert_tempest_valid(
            volume_schemas.show_volume, _http(demo, "GET", f"volumes/{volume['id']}")
        )
        renamed = _http(demo, "PUT", f"volumes/{volume['id']}", json={"volume": {"name": "r"}})
        assert (
            "volume_image_metadata"
            not in assert_tempest_valid(volume_schemas.update_volume, renamed)["volume"]
        )
        with _backing_file(c, volume["id"]).open("rb") as f:
            assert f.read(len(data)) == data
            assert f.seek(0, os.SEEK_END) == GiB

        with pytest.raises(BadRequest) as private:  # demo's private image is not alt's
            VolumeClient(alt).create_volume(1, image_id=image["id"])
        assert "unable to access requested image" in private.value.message
        with pytest.raises(BadRequest):
            client.create_volume(1, image_id=str(uuid.uuid4()))


# --- the backend and recovery, without HTTP --------------------------------------------------


def _chunks(data: bytes, size: int = 1 << 16) -> Iterator[bytes]:
    return (data[i : i + size] for i in range(0, len(data), size))


def test_backend_fills_raw_images_sparsely_and_verifies_them(tmp_path: Path) -> None:
    backend = FileBackend(tmp_path)
    data = b"boot" * 1024 + bytes(8 << 20) + b"tail"
    good = ImageData(
        "img", "raw", os_hash_algo="sha512", os_hash_value=hashlib.sha512(data).hexdigest()
    )
    path = backend.create_from_image("v1", 1, good, _chunks(data))
    assert path.stat().st_size == GiB
    assert path.stat().st_blocks * 512 < 1 << 20  # the zeros were skipped, not written
    with path.open("rb") as f:
        assert f.read(len(data)) == data

    bad = ImageData("img", "raw", checksum=hashlib.md5(b"other").hexdigest())  # noqa: S324
    with pytest.raises(BackendError, match="failed verification"):
        backend.create_from_image("v2", 1, bad, _chunks(data))
    with pytest.raises(BackendError, match="larger than the volume"):
        backend.create_from_image("v3", 1, ImageData("img", "raw"), _chunks(bytes(GiB + 1), GiB))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["volume-v1"]  # no leftovers


@pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img is not installed")
def test_backend_converts_qcow2_and_refuses_backing_files(tmp_path: Path) -> None:
    raw = tmp_path / "src.raw"
    raw.write_bytes(b"x" * 4096 + bytes(1 << 20))
    qcow2 = tmp_path / "src.qcow2"
    subprocess.run(
        ["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow2)], check=True
    )
    store = tmp_path / "volumes"
    backend = FileBackend(store)
    path = backend.create_from_image(
        "v1", 1, ImageData("img", "qcow2"), _chunks(qcow2.read_bytes())
    )
    with path.open("rb") as f:
        assert f.read(4096) == b"x" * 4096
    assert path.stat().st_size == GiB

    overlay = tmp_path / "overlay.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-f", "qcow2", "-F", "raw", "-b", str(raw), str(overlay)],
        check=True,
        capture_output=True,
    )
    with pytest.raises(BackendError, match="backing file"):
        backend.create_from_image("v2", 1, ImageData("img", "qcow2"), _chunks(overlay.read_bytes()))
    assert sorted(p.name for p in store.iterdir()) == ["volume-v1"]


def test_volumes_left_creating_by_a_restart_become_error(database_url: str, tmp_path: Path) -> None:
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        session.add(
            Volume(
                id="v-stuck",
                project_id="p",
                size=1,
                status="creating",
                created_at=utcnow(),
                metadata_={},
            )
        )
        session.add(
            Volume(
                id="v-fine",
                project_id="p",
                size=1,
                status="available",
                created_at=utcnow(),
                metadata_={},
            )
        )
    settings = cloud_settings(database_url, tmp_path)
    manager = VolumeManager(
        sessions, FileBackend(tmp_path), ImageService(settings), Limits.from_settings(settings)
    )
    assert manager.recover() == 1
    with sessions.begin() as session:
        statuses = {
            vid: status for vid, status in session.execute(select(Volume.id, Volume.status))
        }
    assert statuses == {"v-stuck": "error", "v-fine": "available"}
    engine.dispose()
