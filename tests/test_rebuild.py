"""Rebuild and hostname rules answered before any workflow starts: the rebuild body per
microversion, Nova's 404/409/403/400 (state, lock, metadata quota, key pair, a
volume-backed server), the REBUILD status, a hostname at create and update as Nova
validates it, the config drive's hostname and user_data, and the control steps that keep a
delete's win. The workflow runs end to end in tests/e2e/test_rebuild.py."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from temporalio.testing import ActivityEnvironment

from activities.rebuild import RebuildActivities
from compute import config_drive
from core.messages import RebuildStageInput
from core.rebuild import volume_backed_refusal
from core.states import TaskState, VmState, api_status
from db.instances import placements
from db.models.compute import Instance
from tests.support.cloud import LoopbackCloud
from tests.test_compute_api import IMAGE, _api, _error, _instance, _seeded_cloud

FQDN = "x" * 52 + "-guest-test.domaintest.com"


@pytest.fixture
def cloud(database_url: str, tmp_path: Path) -> Iterator[LoopbackCloud]:
    yield from _seeded_cloud(database_url, tmp_path)


def _rebuild(
    cloud: LoopbackCloud, server_id: str, body: Any, version: str | None = None
) -> httpx.Response:
    return _api(
        cloud, "POST", f"servers/{server_id}/action", json={"rebuild": body}, version=version
    )


def test_a_rebuild_shows_as_rebuild_from_each_state_it_may_begin_in() -> None:
    for vm_state in (VmState.ACTIVE, VmState.STOPPED, VmState.ERROR):
        for task_state in (TaskState.REBUILDING, TaskState.REBUILD_SPAWNING):
            assert api_status(vm_state, task_state) == "REBUILD"
    assert api_status(VmState.STOPPED, None) == "SHUTOFF"


def test_rebuild_is_refused_with_novas_409s_and_404(cloud: LoopbackCloud) -> None:
    body = {"imageRef": IMAGE}
    building = _instance(cloud, "building", vm_state=VmState.BUILDING, host=None)
    assert _error(_rebuild(cloud, building, body), 409, "conflictingRequest") == (
        f"Instance {building} is not ready"
    )
    busy = _instance(cloud, "busy")
    with cloud.sessions.begin() as s:
        s.execute(update(Instance).where(Instance.uuid == busy).values(task_state="rebuilding"))
    assert _error(_rebuild(cloud, busy, body), 409, "conflictingRequest") == (
        f"Cannot 'rebuild' instance {busy} while it is in task_state rebuilding"
    )
    locked = _instance(cloud, "locked", locked=True, locked_by="owner")
    message = _error(_rebuild(cloud, locked, body), 409, "conflictingRequest")
    assert message == f"Instance {locked} is locked"
    theirs = _instance(cloud, "theirs", owner="alt")
    _error(_rebuild(cloud, theirs, body), 404, "itemNotFound")


def test_the_rebuild_body_follows_the_microversion(cloud: LoopbackCloud) -> None:
    mine = _instance(cloud, "mine")
    message = _error(_rebuild(cloud, mine, {}), 400, "badRequest")
    assert "'imageRef' is a required property" in message
    message = _error(_rebuild(cloud, mine, {"imageRef": "cirros"}), 400, "badRequest")
    assert "'cirros' is not a 'uuid'" in message
    # Fields join at their microversions, and are refused before.
    later = (
        ("description", "web", "2.19"),
        ("key_name", None, "2.54"),
        ("user_data", "aGk=", "2.57"),
        ("hostname", "web-1", "2.90"),
    )
    for key, value, since in later:
        before = f"2.{int(since.split('.')[1]) - 1}"
        response = _rebuild(cloud, mine, {"imageRef": IMAGE, key: value}, version=before)
        assert "Additional properties are not allowed" in _error(response, 400, "badRequest")
    bad = {"imageRef": IMAGE, "user_data": "not base64!"}
    assert "is not a 'base64'" in _error(_rebuild(cloud, mine, bad, "2.57"), 400, "badRequest")
    # personality goes at 2.57; before, it is a field bootflow refuses by name.
    files = {"imageRef": IMAGE, "personality": [{"path": "/etc/motd", "contents": "aGk="}]}
    message = _error(_rebuild(cloud, mine, files, "2.56"), 400, "badRequest")
    assert message.startswith("Personality files is not supported")
    gone = _error(_rebuild(cloud, mine, files, "2.57"), 400, "badRequest")
    assert "Additional properties are not allowed ('personality' was unexpected)" in gone


def test_a_hostname_is_novas_hostname_at_290_and_an_fqdn_from_294(cloud: LoopbackCloud) -> None:
    mine = _instance(cloud, "mine")
    for bad in ("web.example.com", "-web", "w", "x" * 64):
        response = _rebuild(cloud, mine, {"imageRef": IMAGE, "hostname": bad}, "2.90")
        message = _error(response, 400, "badRequest")
        assert message.startswith("Invalid input for field/attribute hostname")
    too_long = {"imageRef": IMAGE, "hostname": "a" * 256}
    assert "is too long" in _error(_rebuild(cloud, mine, too_long, "2.94"), 400, "badRequest")
    spaced = {"imageRef": IMAGE, "hostname": "web 1"}
    assert "does not match" in _error(_rebuild(cloud, mine, spaced, "2.94"), 400, "badRequest")

    # PUT /servers/{id}: the record's hostname, shown from 2.90 (an FQDN from 2.94).
    put = _api(
        cloud, "PUT", f"servers/{mine}", json={"server": {"hostname": "a.b"}}, version="2.90"
    )
    assert "does not match" in _error(put, 400, "badRequest")
    put = _api(cloud, "PUT", f"servers/{mine}", json={"server": {"hostname": FQDN}}, version="2.94")
    assert put.status_code == 200, put.text
    assert put.json()["server"]["OS-EXT-SRV-ATTR:hostname"] == FQDN
    renamed = _api(cloud, "PUT", f"servers/{mine}", json={"server": {"name": "other"}})
    assert renamed.status_code == 200
    shown = _api(cloud, "GET", f"servers/{mine}", version="2.90").json()["server"]
    assert shown["OS-EXT-SRV-ATTR:hostname"] == FQDN  # a rename keeps a set hostname


def test_a_hostname_at_create_is_checked_and_one_server_only(cloud: LoopbackCloud) -> None:
    def create(version: str, **server: Any) -> httpx.Response:
        body = {"name": "vm", "flavorRef": "1", "imageRef": IMAGE, "networks": "none", **server}
        return _api(cloud, "POST", "servers", json={"server": body}, version=version)

    message = _error(create("2.90", hostname="vm.example.com"), 400, "badRequest")
    assert message.startswith("Invalid input for field/attribute hostname")
    message = _error(create("2.94", hostname="vm-1", max_count=2), 400, "badRequest")
    assert message == "Unable to allocate a single hostname to multiple instances"
    message = _error(create("2.89", hostname="vm-1"), 400, "badRequest")
    assert "Additional properties are not allowed ('hostname' was unexpected)" in message


def test_the_metadata_quota_the_key_pair_and_a_volume_backed_server(
    cloud: LoopbackCloud,
) -> None:
    mine = _instance(cloud, "mine")
    many = {"imageRef": IMAGE, "metadata": {f"k{i}": "v" for i in range(129)}}
    message = _error(_rebuild(cloud, mine, many), 403, "forbidden")
    assert message == "Maximum number of metadata items exceeds 128"
    keyed = {"imageRef": IMAGE, "key_name": "nosuchkey"}
    message = _error(_rebuild(cloud, mine, keyed, "2.54"), 400, "badRequest")
    assert message == "Invalid key_name provided."
    # A volume-backed server (no local image) is not rebuilt with an image (Nova < 2.93).
    backed = _instance(cloud, "backed")
    with cloud.sessions.begin() as s:
        s.execute(update(Instance).where(Instance.uuid == backed).values(image_ref=""))
    message = _error(_rebuild(cloud, backed, {"imageRef": IMAGE}), 400, "badRequest")
    assert message.endswith("Unable to rebuild with a different image for a volume-backed server.")
    assert volume_backed_refusal(IMAGE, IMAGE) is None


def test_the_config_drive_carries_the_hostname_and_user_data() -> None:
    uuid_ = str(uuid.uuid4())
    meta = config_drive.meta_data(
        instance_uuid=uuid_, name="web", project_id="p", availability_zone=None, hostname=FQDN
    )
    assert meta["hostname"] == FQDN
    named = config_drive.meta_data(
        instance_uuid=uuid_, name="Web Server", project_id="p", availability_zone=None
    )
    assert named["hostname"] == "web-server"
    files = config_drive.files(meta, {}, base64.b64decode("aGVsbG8="))
    assert files["openstack/latest/user_data"] == b"hello"
    assert json.loads(files["openstack/latest/meta_data.json"])["hostname"] == FQDN
    assert "openstack/latest/user_data" not in config_drive.files(meta, {})


def test_a_delete_takes_a_rebuild_over_and_keeps_its_guest_on_its_host(
    cloud: LoopbackCloud,
) -> None:
    server_id = _instance(cloud, "mine", vm_state=VmState.ERROR)
    steps = RebuildActivities(cloud.sessions, lambda token: None, None)  # type: ignore[arg-type]
    move = RebuildStageInput(server_id, TaskState.REBUILDING, TaskState.REBUILD_SPAWNING)
    with cloud.sessions.begin() as s:
        s.execute(
            update(Instance).where(Instance.uuid == server_id).values(task_state="rebuilding")
        )
    # The host's reaper keeps a rebuilding server's guest, though it is in error.
    assert placements(cloud.sessions, [server_id], "node1")[server_id].here
    env = ActivityEnvironment()
    assert env.run(steps.advance_rebuild, move) is True
    assert env.run(steps.advance_rebuild, move) is True  # a retry finds its move made
    with cloud.sessions.begin() as s:
        s.execute(update(Instance).where(Instance.uuid == server_id).values(task_state="deleting"))
    assert env.run(steps.advance_rebuild, move) is False
    assert not placements(cloud.sessions, [server_id], "node1")[server_id].here
