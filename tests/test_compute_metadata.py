"""Server metadata (``/servers/{id}/metadata``, and ``metadata`` at create) as Nova's
server_metadata API, checked with Tempest's response schemas; refusals are 4xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tempest.lib.api_schema.response.compute.v2_1 import servers as schema
from tempest.lib.services.compute import servers_client

from core.messages import BootRequest
from db.models.compute import Instance, InstanceMetadata, QuotaLimit
from tests.support.cloud import LoopbackCloud
from tests.support.tempest_schemas import schema_module, validate
from tests.test_compute_api import (
    IMAGE,
    _api,
    _create,
    _error,
    _instance,
    _node,
    _project,
    _seeded_cloud,
)

SERVERS = servers_client.ServersClient.schema_versions_info


@pytest.fixture
def cloud(database_url: str, tmp_path: Path) -> Iterator[LoopbackCloud]:
    for c in _seeded_cloud(database_url, tmp_path):
        _node(c, "node1")
        yield c


def _meta(
    cloud: LoopbackCloud, method: str, server: str, key: str = "", user: str = "demo", **kw: Any
) -> httpx.Response:
    path = f"servers/{server}/metadata" + (f"/{key}" if key else "")
    return _api(cloud, method, path, user=user, **kw)


def test_metadata_round_trip(cloud: LoopbackCloud) -> None:
    server = _instance(cloud, "web")
    listed = _meta(cloud, "GET", server)
    validate(schema.list_server_metadata, listed)
    assert listed.json() == {"metadata": {}}

    replaced = _meta(cloud, "PUT", server, json={"metadata": {"role": "web", "tier": "1"}})
    validate(schema.set_server_metadata, replaced)
    assert replaced.json() == {"metadata": {"role": "web", "tier": "1"}}
    merged = _meta(cloud, "POST", server, json={"metadata": {"tier": "2", "owner": "ops"}})
    validate(schema.update_server_metadata, merged)
    assert merged.json()["metadata"] == {"role": "web", "tier": "2", "owner": "ops"}

    item = _meta(cloud, "GET", server, "owner")
    validate(schema.set_show_server_metadata_item, item)
    assert item.json() == {"meta": {"owner": "ops"}}
    put_item = _meta(cloud, "PUT", server, "colour", json={"meta": {"colour": "blue"}})
    validate(schema.set_show_server_metadata_item, put_item)
    assert put_item.json() == {"meta": {"colour": "blue"}}
    deleted = _meta(cloud, "DELETE", server, "role")
    validate(schema.delete_server_metadata_item, deleted)

    # A replace drops what it does not name; show and list detail carry the metadata.
    _meta(cloud, "PUT", server, json={"metadata": {"tier": "3", "a b:c.d_e-f": "x"}})
    for version in ("2.1", "2.47", "2.75", "2.96"):
        shown = _api(cloud, "GET", f"servers/{server}", version=version)
        validate(schema_module(SERVERS, version).get_server, shown)
        assert shown.json()["server"]["metadata"] == {"tier": "3", "a b:c.d_e-f": "x"}
    detail = _api(cloud, "GET", "servers/detail").json()["servers"]
    assert detail[0]["metadata"] == {"tier": "3", "a b:c.d_e-f": "x"}
    # The owner's metadata is the admin's to read and change too; another project's 404.
    assert _meta(cloud, "GET", server, user="admin").json()["metadata"]["tier"] == "3"
    _error(_meta(cloud, "GET", server, user="alt"), 404, "itemNotFound")
    _error(_meta(cloud, "PUT", server, user="alt", json={"metadata": {}}), 404, "itemNotFound")


def test_metadata_refusals(cloud: LoopbackCloud) -> None:
    server = _instance(cloud, "web")
    _meta(cloud, "PUT", server, json={"metadata": {"keep": "me"}})
    bad_bodies = [
        {"metadata": {"k" * 256: "v"}},
        {"metadata": {"": "v"}},
        {"metadata": {"bad/key": "v"}},
        {"metadata": {"k": "v" * 256}},
        {"metadata": {"k": 1}},
        {"metadata": {"k": None}},
        {"metadata": "k=v"},
        {"metadata": None},
        {"meta": {"k": "v"}},
        {"metadata": {}, "extra": 1},
        [],
        None,
    ]
    for body in bad_bodies:
        for method in ("PUT", "POST"):
            _error(_meta(cloud, method, server, json=body), 400, "badRequest")
    for body in (
        {"meta": {"k": "v", "l": "w"}},
        {"meta": {}},
        {"meta": {"k": "v" * 256}},
        {"metadata": {"k": "v"}},
    ):
        _error(_meta(cloud, "PUT", server, "k", json=body), 400, "badRequest")
    mismatch = _meta(cloud, "PUT", server, "k", json={"meta": {"other": "v"}})
    assert _error(mismatch, 400, "badRequest") == "Request body and URI mismatch"
    _error(_meta(cloud, "GET", server, "nope"), 404, "itemNotFound")
    _error(_meta(cloud, "DELETE", server, "nope"), 404, "itemNotFound")
    missing = "8b2f6a3e-0c8f-4e53-9a3f-0d6a1c5e9b21"
    _error(_meta(cloud, "GET", missing), 404, "itemNotFound")
    assert _meta(cloud, "GET", server).json()["metadata"] == {"keep": "me"}


def test_metadata_of_a_server_with_a_task_cannot_change(cloud: LoopbackCloud) -> None:
    building = _instance(cloud, "b", vm_state="building")
    with cloud.sessions.begin() as s:
        s.add(InstanceMetadata(instance_uuid=building, key="k", value="v"))
    assert _meta(cloud, "GET", building).json() == {"metadata": {"k": "v"}}
    message = _error(
        _meta(cloud, "POST", building, json={"metadata": {}}), 409, "conflictingRequest"
    )
    assert (
        message == f"Cannot 'update metadata' instance {building} while it is in vm_state building"
    )
    _error(_meta(cloud, "DELETE", building, "k"), 409, "conflictingRequest")
    _error(_meta(cloud, "PUT", building, "k", json={"meta": {"k": "w"}}), 409, "conflictingRequest")
    deleting = _instance(cloud, "d")
    with cloud.sessions.begin() as s:
        s.get_one(Instance, deleting).task_state = "deleting"
    _error(_meta(cloud, "PUT", deleting, json={"metadata": {}}), 409, "conflictingRequest")


def test_metadata_items_quota(cloud: LoopbackCloud) -> None:
    server = _instance(cloud, "web")
    many = {f"k{i}": "v" for i in range(129)}
    over = _meta(cloud, "PUT", server, json={"metadata": many})
    assert _error(over, 403, "forbidden") == "Maximum number of metadata items exceeds 128"
    many.pop("k0")
    assert _meta(cloud, "PUT", server, json={"metadata": many}).status_code == 200
    _error(_meta(cloud, "POST", server, json={"metadata": {"one": "more"}}), 403, "forbidden")
    _error(_meta(cloud, "PUT", server, "one", json={"meta": {"one": "more"}}), 403, "forbidden")
    # The project's own quota counts (os-quota-sets metadata_items), at create too.
    with cloud.sessions.begin() as s:
        s.add(
            QuotaLimit(project_id=_project(cloud, "demo"), resource="metadata_items", hard_limit=1)
        )
    body = {"metadata": {"a": "1", "b": "2"}}
    _error(_meta(cloud, "PUT", server, json=body), 403, "forbidden")
    created = _api(
        cloud,
        "POST",
        "servers",
        version="2.96",
        json={
            "server": {"name": "x", "flavorRef": "1", "imageRef": IMAGE, "networks": "none"} | body
        },
    )
    assert "Maximum number of metadata items exceeds 1" in _error(created, 403, "forbidden")
    with cloud.sessions.begin() as s:
        assert s.query(Instance).filter_by(name="x").count() == 0


def test_metadata_at_create_goes_with_each_boot(
    cloud: LoopbackCloud, started: list[BootRequest]
) -> None:
    body = {"metadata": {"role": "web", "tier": "1"}, "min_count": 2}
    assert _create(cloud, body).status_code == 202
    assert [b.metadata for b in started] == [{"role": "web", "tier": "1"}] * 2
    for bad in ({"k/": "v"}, {"k": "v" * 256}, {"k": 1}, None):
        _error(_create(cloud, {"metadata": bad}), 400, "badRequest")
    too_many = {"metadata": {f"k{i}": "v" for i in range(129)}}
    assert "exceeds 128" in _error(_create(cloud, too_many), 403, "forbidden")
    assert len(started) == 2
