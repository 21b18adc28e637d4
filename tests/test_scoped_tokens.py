"""An unscoped token (no project) is refused outside identity, and identity still takes it.

Each service runs over real HTTP on loopback with the real identity service behind it. The
token comes from identity itself: a user with no role anywhere authenticates without a
scope, as Keystone allows.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from db.models.network import Network
from tests.support.cloud import LoopbackCloud, loopback_cloud

SERVICES = ("identity", "image", "network", "volume", "compute")


@pytest.fixture
def cloud(database_url: str, tmp_path: Path) -> Iterator[LoopbackCloud]:
    with loopback_cloud(database_url, tmp_path, services=SERVICES) as c:
        yield c


def _call(
    cloud: LoopbackCloud, service: str, method: str, path: str, token: str, **kwargs: Any
) -> httpx.Response:
    headers = {"X-Auth-Token": token, **kwargs.pop("headers", {})}
    return httpx.request(method, f"{cloud.urls[service]}/{path}", headers=headers, **kwargs)


def test_unscoped_token_gets_401_from_every_service_but_identity(cloud: LoopbackCloud) -> None:
    unscoped = cloud.unscoped_token()
    admin = cloud.session("admin")
    # A network of project "", as unscoped tokens could create and then all share.
    with cloud.sessions.begin() as session:
        orphan = Network(name="orphan", project_id="", subnets=[])
        session.add(orphan)
    refused = {
        "compute server list": _call(cloud, "compute", "GET", "v2.1/servers", unscoped),
        "image list": _call(cloud, "image", "GET", "v2/images", unscoped),
        "network create": _call(
            cloud, "network", "POST", "v2.0/networks", unscoped, json={"network": {"name": "n"}}
        ),
        "network update": _call(
            cloud,
            "network",
            "PUT",
            f"v2.0/networks/{orphan.id}",
            unscoped,
            json={"network": {"name": "mine now"}},
        ),
        "subnet create": _call(
            cloud,
            "network",
            "POST",
            "v2.0/subnets",
            unscoped,
            json={"subnet": {"network_id": orphan.id, "cidr": "10.0.0.0/24", "ip_version": 4}},
        ),
        "network list": _call(cloud, "network", "GET", "v2.0/networks", unscoped),
        "volume list": _call(cloud, "volume", "GET", "v3/volumes", unscoped),
    }
    assert {what: r.status_code for what, r in refused.items()} == dict.fromkeys(refused, 401)
    assert (
        "scoped to no project" in refused["compute server list"].json()["unauthorized"]["message"]
    )
    assert refused["network create"].json()["error"]["code"] == 401  # keystonemiddleware's
    networks = _call(cloud, "network", "GET", "v2.0/networks", admin.token).json()["networks"]
    # Nothing created, renamed or extended.
    assert [(n["name"], n["subnets"]) for n in networks] == [("orphan", [])]

    # Identity takes it for what Keystone allows an unscoped token: validating itself...
    own = _call(
        cloud,
        "identity",
        "GET",
        "v3/auth/tokens",
        unscoped,
        headers={"X-Subject-Token": unscoped},
    )
    assert own.status_code == 200 and "project" not in own.json()["token"]
    user_id = own.json()["token"]["user"]["id"]
    projects = _call(cloud, "identity", "GET", f"v3/users/{user_id}/projects", unscoped)
    assert projects.status_code == 200 and projects.json()["projects"] == []
    # ...but, as Keystone, no catalog without a project.
    catalog = _call(cloud, "identity", "GET", "v3/auth/catalog", unscoped)
    assert catalog.status_code == 403
    assert catalog.json()["error"]["message"] == (
        "A project-scoped token is required to produce a service catalog."
    )
    scoped = cloud.session("demo")
    assert _call(cloud, "identity", "GET", "v3/auth/catalog", scoped.token).status_code == 200
    assert _call(cloud, "compute", "GET", "v2.1/servers", scoped.token).status_code == 200
    admin.close()
    scoped.close()
