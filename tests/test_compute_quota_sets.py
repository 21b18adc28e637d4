"""``os-quota-sets``: an admin changes a project's quotas at run time, and the next create,
``/limits`` and the checks that enforce them follow; bodies checked with Tempest's
schemas at each microversion where the quota set changes; refusals are 4xx."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tempest.lib.services.compute import quota_classes_client, quotas_client

from db import quotas
from db.models.compute import QuotaUsage
from tests.support.cloud import LoopbackCloud
from tests.support.tempest_schemas import schema_module, validate
from tests.test_compute_api import _api, _error, _instance, _project, _seeded_cloud

QUOTAS = quotas_client.QuotasClient.schema_versions_info
CLASSES = quota_classes_client.QuotaClassesClient.schema_versions_info
VERSIONS = ("2.1", "2.35", "2.36", "2.56", "2.57", "2.75", "2.96")
ALL_BEFORE_236 = {
    "metadata_items": 256, "ram": 10240, "key_pairs": 200, "instances": 20, "server_groups": 20,
    "server_group_members": 20, "cores": 2, "fixed_ips": 10, "floating_ips": 20,
    "security_group_rules": 20, "security_groups": 20, "injected_file_content_bytes": 20480,
    "injected_file_path_bytes": 512, "injected_files": 10,
}  # fmt: skip


@pytest.fixture
def cloud(database_url: str, tmp_path: Path) -> Iterator[LoopbackCloud]:
    yield from _seeded_cloud(database_url, tmp_path)


def _quota(
    cloud: LoopbackCloud, method: str, path: str, user: str = "admin", **kw: Any
) -> httpx.Response:
    return _api(cloud, method, f"os-quota-sets/{path}", user=user, **kw)


def _one_server_fits(cloud: LoopbackCloud, project: str) -> None:
    """The boot's own reservation (db/quotas.py, in the control worker) takes one server
    for ``project`` and refuses a second."""
    deltas = {"instances": 1, "cores": 1, "ram": 512, "disk": 1}
    defaults = {"instances": 10, "cores": 20, "ram": 51200, "disk": 1000}
    with cloud.sessions.begin() as s:
        assert quotas.reserve(s, str(uuid.uuid4()), project, deltas, defaults)
    with cloud.sessions.begin() as s, pytest.raises(quotas.QuotaExceeded):
        quotas.reserve(s, str(uuid.uuid4()), project, deltas, defaults)


def test_quota_documents_pass_tempest_schemas(cloud: LoopbackCloud) -> None:
    demo = _project(cloud, "demo")
    for version in VERSIONS:
        schemas = schema_module(QUOTAS, version)
        shown = _quota(cloud, "GET", demo, version=version)
        validate(schemas.get_quota_set, shown)
        assert shown.json()["quota_set"]["id"] == demo
        validate(
            schemas.get_quota_set_details, _quota(cloud, "GET", f"{demo}/detail", version=version)
        )
        defaults = _quota(cloud, "GET", f"{demo}/defaults", user="demo", version=version)
        validate(schemas.get_quota_set, defaults)
        assert defaults.json()["quota_set"]["instances"] == 10
        body = {"quota_set": {"ram": 40960, "force": True}}
        validate(schemas.update_quota_set, _quota(cloud, "PUT", demo, version=version, json=body))
    everything = _quota(cloud, "PUT", demo, version="2.1", json={"quota_set": ALL_BEFORE_236})
    validate(schema_module(QUOTAS, "2.1").update_quota_set, everything)
    assert everything.json()["quota_set"] == ALL_BEFORE_236
    validate(schema_module(QUOTAS, "2.1").delete_quota, _quota(cloud, "DELETE", demo))
    assert _quota(cloud, "GET", demo).json()["quota_set"]["ram"] == 51200


def test_a_changed_quota_is_what_the_next_create_is_checked_against(cloud: LoopbackCloud) -> None:
    demo = _project(cloud, "demo")
    assert _api(cloud, "GET", "limits").json()["limits"]["absolute"]["maxTotalInstances"] == 10
    body = {"quota_set": {"instances": 1, "metadata_items": 1, "server_groups": 1}}
    assert _quota(cloud, "PUT", demo, json=body).status_code == 200
    absolute = _api(cloud, "GET", "limits").json()["limits"]["absolute"]
    assert (absolute["maxTotalInstances"], absolute["maxServerMeta"]) == (1, 1)
    assert absolute["maxServerGroups"] == 1
    # The create's up-front check and the boot's own reservation (db/quotas.py) both follow.
    create = {"name": "x", "flavorRef": "1", "imageRef": "0b8e6d41-4f64-4b1b-9f5c-6a3f2d1e0c9b"}
    many = _api(
        cloud, "POST", "servers", version="2.96",
        json={"server": create | {"networks": "none", "min_count": 2}},
    )  # fmt: skip
    assert "instances" in _error(many, 403, "forbidden")
    _one_server_fits(cloud, demo)
    # Metadata items and server groups too.
    server = _instance(cloud, "web")
    two = {"metadata": {"a": "1", "b": "2"}}
    _error(_api(cloud, "PUT", f"servers/{server}/metadata", json=two), 403, "forbidden")
    group = {"server_group": {"name": "g", "policies": ["affinity"]}}
    assert _api(cloud, "POST", "os-server-groups", json=group).status_code == 200
    _error(_api(cloud, "POST", "os-server-groups", json=group), 403, "forbidden")
    # Unlimited (-1), then back to the defaults.
    assert _quota(cloud, "PUT", demo, json={"quota_set": {"metadata_items": -1}}).status_code == 200
    assert _api(cloud, "PUT", f"servers/{server}/metadata", json=two).status_code == 200
    assert _quota(cloud, "DELETE", demo).status_code == 202
    assert _api(cloud, "GET", "limits").json()["limits"]["absolute"]["maxServerMeta"] == 128


def test_quota_refusals(cloud: LoopbackCloud) -> None:
    demo, alt = _project(cloud, "demo"), _project(cloud, "alt")
    # Members read their own project's quotas; only admins change them or read another's.
    assert _quota(cloud, "GET", demo, user="demo").status_code == 200
    assert _quota(cloud, "GET", f"{demo}/detail", user="demo").status_code == 200
    _error(_quota(cloud, "GET", alt, user="demo"), 403, "forbidden")
    _error(_quota(cloud, "GET", f"{alt}/detail", user="demo"), 403, "forbidden")
    body = {"quota_set": {"instances": 50}}
    _error(_quota(cloud, "PUT", demo, user="demo", json=body), 403, "forbidden")
    _error(_quota(cloud, "DELETE", demo, user="demo"), 403, "forbidden")
    refused: list[tuple[Any, str | None]] = [
        ({"quota_set": {"instances": -2}}, None),
        ({"quota_set": {"instances": "ten"}}, None),
        ({"quota_set": {"instances": True}}, None),
        ({"quota_set": {"instances": 1.5}}, None),
        ({"quota_set": {"instances": 2**31}}, None),
        ({"quota_set": {"disk": 10}}, None),
        ({"quota_set": {"force": "maybe"}}, None),
        ({"quota_set": {"floating_ips": 1}}, "2.36"),
        ({"quota_set": {"injected_files": 1}}, "2.57"),
        ({"quota_set": []}, None),
        ({"quota": {"instances": 1}}, None),
        ({"quota_set": {}, "more": 1}, None),
        (None, None),
    ]
    for bad, version in refused:
        _error(_quota(cloud, "PUT", demo, json=bad, version=version), 400, "badRequest")
    user = f"{demo}?user_id={uuid.uuid4().hex}"
    _error(_quota(cloud, "PUT", user, json=body), 400, "badRequest")
    # A user with no quota of their own has the project's.
    assert _quota(cloud, "GET", user).json()["quota_set"]["instances"] == 10
    _error(_quota(cloud, "GET", f"{demo}?colour=red", version="2.75"), 400, "badRequest")
    # Under what is in use: refused unless forced.
    with cloud.sessions.begin() as s:
        s.add(QuotaUsage(project_id=demo, resource="instances", in_use=3))
    low = {"quota_set": {"instances": 2}}
    message = _error(_quota(cloud, "PUT", demo, json=low), 400, "badRequest")
    assert message == (
        "Quota limit 2 for instances must be greater than or equal to already used and reserved 3."
    )
    forced = {"quota_set": {"instances": "2", "force": "true"}}
    assert _quota(cloud, "PUT", demo, json=forced).json()["quota_set"]["instances"] == 2
    detail = _quota(cloud, "GET", f"{demo}/detail").json()["quota_set"]
    assert detail["instances"] == {"limit": 2, "in_use": 3, "reserved": 0}


def test_the_default_quota_class_is_every_projects_defaults(cloud: LoopbackCloud) -> None:
    demo, alt = _project(cloud, "demo"), _project(cloud, "alt")
    for version in ("2.1", "2.49", "2.50", "2.56", "2.57", "2.96"):
        schemas = schema_module(CLASSES, version)
        shown = _api(cloud, "GET", "os-quota-class-sets/default", user="admin", version=version)
        validate(schemas.get_quota_class_set, shown)
        assert shown.json()["quota_class_set"]["id"] == "default"
        body = {"quota_class_set": {"cores": 40}}
        updated = _api(
            cloud, "PUT", "os-quota-class-sets/default", user="admin", version=version, json=body
        )
        validate(schemas.update_quota_class_set, updated)
    # A project's own value stays; every other project's default follows the class.
    _quota(cloud, "PUT", alt, json={"quota_set": {"instances": 7}})
    body = {"quota_class_set": {"instances": 1}}
    _api(cloud, "PUT", "os-quota-class-sets/default", user="admin", json=body)
    assert (
        _quota(cloud, "GET", f"{demo}/defaults", user="demo").json()["quota_set"]["instances"] == 1
    )
    assert _api(cloud, "GET", "limits").json()["limits"]["absolute"]["maxTotalInstances"] == 1
    assert _quota(cloud, "GET", alt).json()["quota_set"]["instances"] == 7
    _one_server_fits(cloud, demo)

    _error(_api(cloud, "GET", "os-quota-class-sets/default"), 403, "forbidden")
    _error(_api(cloud, "PUT", "os-quota-class-sets/default", json=body), 403, "forbidden")
    for bad, version in (
        ({"quota_class_set": {"server_groups": 1}}, "2.49"),
        ({"quota_class_set": {"floating_ips": 1}}, "2.50"),
        ({"quota_class_set": {"force": True}}, "2.50"),
        ({"quota_class_set": {"instances": -5}}, "2.50"),
        ({"quota_set": {"instances": 1}}, "2.50"),
    ):
        response = _api(
            cloud, "PUT", "os-quota-class-sets/default", user="admin", version=version, json=bad
        )
        _error(response, 400, "badRequest")
    long_name = "c" * 100
    _error(_api(cloud, "GET", f"os-quota-class-sets/{long_name}", user="admin"), 400, "badRequest")
