"""Boot from a volume, end to end on libvirt's test driver: ``openstack server create
--volume`` and ``--boot-from-volume SIZE --image``, what the server, the volume, the host's
claim and the guest's domain then are, and what a failure, a reschedule and a delete leave.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from clients.volume import VolumeClient
from tests.e2e.conftest import demo_project
from tests.e2e.test_openstack_cli import ok, openstack
from tests.support.stack import RunningStack, wait_until

pytestmark = pytest.mark.e2e

SERVER = ("--flavor", "m1.tiny", "--network", "private")


def _volumes(stack: RunningStack) -> VolumeClient:
    return VolumeClient(stack.admin(), project_id=demo_project(stack))


def _volume_from_image(stack: RunningStack, name: str) -> str:
    """A 1 GiB volume of the demo project made from the cirros image, available."""
    made = ok(stack, "volume", "create", name, "--image", "cirros", "--size", "1")
    _volumes(stack).wait_for_status(made["id"], ["available"], timeout=60)
    return str(made["id"])


def _gone(stack: RunningStack, volume_id: str) -> bool:
    return all(v["id"] != volume_id for v in _volumes(stack).list_volumes())


def _root_disk(stack: RunningStack, server_id: str, host: str) -> tuple[str, str, str | None]:
    """The guest's vda as its host defined it: (source file, format, serial)."""
    xml = (stack.settings.host_dir(host) / "instances" / server_id / "libvirt.xml").read_text()
    for disk in ET.fromstring(xml).iter("disk"):  # noqa: S314 (the host's own file)
        target, driver, source = disk.find("target"), disk.find("driver"), disk.find("source")
        if target is not None and target.get("dev") == "vda":
            assert driver is not None and source is not None
            return source.get("file", ""), driver.get("type", ""), disk.findtext("serial")
    raise AssertionError(f"no vda in {xml}")


def _boot_by_api(stack: RunningStack, name: str, mapping: dict[str, Any]) -> str:
    body = {
        "server": {
            "name": name,
            "flavorRef": "1",
            "imageRef": "",
            "networks": "none",
            "block_device_mapping_v2": [mapping | {"destination_type": "volume", "boot_index": 0}],
        }
    }
    answer = stack.demo().request(
        "compute", "POST", "servers", json=body, headers={"OpenStack-API-Version": "compute 2.96"}
    )
    return str(answer.json()["server"]["id"])


def _settled(stack: RunningStack, server_id: str) -> str:
    def state() -> str | None:
        record = stack.instance(server_id)
        return record.vm_state if record and record.vm_state != "building" else None

    found: str = wait_until(state, timeout=120)
    return found


def test_boot_from_an_existing_volume_with_the_openstack_cli(stack: RunningStack) -> None:
    volume_id = _volume_from_image(stack, "bfv-root")
    created = ok(
        stack, "server", "create", "bfv-existing", *SERVER, "--volume", volume_id, "--wait"
    )
    assert created["status"] == "ACTIVE"
    server_id = created["id"]
    shown = (
        stack.demo()
        .request(
            "compute",
            "GET",
            f"servers/{server_id}",
            headers={"OpenStack-API-Version": "compute 2.96"},
        )
        .json()["server"]
    )
    # Nova's answer for a volume-backed server: no image; the volume is attached.
    assert shown["image"] == ""
    assert shown["os-extended-volumes:volumes_attached"] == [
        {"id": volume_id, "delete_on_termination": False}
    ]
    volume = _volumes(stack).get_volume(volume_id)
    assert volume["status"] == "in-use"
    assert [a["server_id"] for a in volume["attachments"]] == [server_id]

    # No local root disk is claimed on the host, and its guest's vda is the volume's file.
    (claim,) = stack.claims(server_id)
    assert (claim.vcpus, claim.memory_mb, claim.disk_gb) == (1, 512, 0)
    source, disk_format, serial = _root_disk(stack, server_id, claim.host)
    assert source.endswith(f"volume-{volume_id}") and (disk_format, serial) == ("raw", volume_id)

    # Deleted, the server leaves the volume (delete_on_termination false), available.
    deleted = openstack(stack, "server", "delete", server_id, "--wait")
    assert deleted.code == 0, deleted.err
    assert stack.claims(server_id) == []
    volume = _volumes(stack).get_volume(volume_id)
    assert (volume["status"], volume["attachments"]) == ("available", [])
    assert openstack(stack, "volume", "delete", volume_id).code == 0


def test_boot_from_a_new_volume_made_from_an_image_with_the_openstack_cli(
    stack: RunningStack,
) -> None:
    created = ok(
        stack, "server", "create", "bfv-image", *SERVER,
        "--image", "cirros", "--boot-from-volume", "1", "--delete-on-termination", "--wait",
    )  # fmt: skip
    assert created["status"] == "ACTIVE"
    server_id = created["id"]
    (volume,) = [v for v in _volumes(stack).list_volumes() if v["name"] == f"{server_id}-image-vol"]
    assert (volume["size"], volume["bootable"], volume["status"]) == (1, "true", "in-use")
    assert volume["volume_image_metadata"]["image_name"] == "cirros"
    record = stack.instance(server_id)
    assert record is not None and record.image_ref == ""
    source, _format, serial = _root_disk(stack, server_id, str(record.host))
    assert source.endswith(f"volume-{volume['id']}") and serial == volume["id"]

    deleted = openstack(stack, "server", "delete", server_id, "--wait")
    assert deleted.code == 0, deleted.err
    assert _gone(stack, volume["id"])  # --delete-on-termination


def test_a_failed_boot_leaves_the_users_volume_and_removes_the_one_it_made(
    stack: RunningStack,
) -> None:
    """Spawn fails on every host: the boot's undo detaches the user's volume (available,
    deleted with the errored server only as its delete_on_termination says) and deletes
    the volume it made from the image (whatever delete_on_termination says)."""
    volume_id = _volume_from_image(stack, "bfv-kept")
    mine = _boot_by_api(
        stack,
        "bfv-existing-failspawn",
        {"source_type": "volume", "uuid": volume_id, "delete_on_termination": True},
    )
    image = next(i for i in ok(stack, "image", "list") if i["Name"] == "cirros")["ID"]
    made = _boot_by_api(
        stack,
        "bfv-image-failspawn",
        {"source_type": "image", "uuid": image, "volume_size": 1},
    )
    assert _settled(stack, mine) == "error" and _settled(stack, made) == "error"

    volume = _volumes(stack).get_volume(volume_id)
    assert (volume["status"], volume["attachments"]) == ("available", [])
    assert all(v["name"] != f"{made}-image-vol" for v in _volumes(stack).list_volumes())
    assert stack.claims(mine) == [] and stack.claims(made) == []

    # The errored server still maps the user's volume; its delete honours the mapping.
    assert openstack(stack, "server", "delete", mine, made, "--wait").code == 0
    assert _gone(stack, volume_id)


def test_a_boot_from_a_volume_reschedules_to_another_host(stack: RunningStack) -> None:
    """node1's spawn fails: the volume is detached there and attached again on node2."""
    volume_id = _volume_from_image(stack, "bfv-moving")
    stack.set_failed_builds("node2", 1)  # node1 first (BuildFailureWeigher)
    try:
        created = ok(
            stack, "server", "create", "bfv-failsonnode1", *SERVER, "--volume", volume_id, "--wait"
        )
    finally:
        stack.set_failed_builds("node1", 0)
        stack.set_failed_builds("node2", 0)
    assert created["status"] == "ACTIVE"
    server_id = created["id"]
    record = stack.instance(server_id)
    assert record is not None and record.host == "node2"
    volume = _volumes(stack).get_volume(volume_id)
    assert volume["status"] == "in-use"
    assert [(a["server_id"], a["host_name"]) for a in volume["attachments"]] == [
        (server_id, "node2")
    ]
    assert _root_disk(stack, server_id, "node2")[0].endswith(f"volume-{volume_id}")
    assert server_id not in {d.uuid for d in stack.domains("node1").domains}
    assert openstack(stack, "server", "delete", server_id, "--wait").code == 0
    assert _volumes(stack).get_volume(volume_id)["status"] == "available"
    assert openstack(stack, "volume", "delete", volume_id).code == 0


def test_a_volume_that_is_not_bootable_is_refused(stack: RunningStack) -> None:
    """Tempest's test_create_server_from_non_bootable_volume, with the openstack CLI."""
    blank = ok(stack, "volume", "create", "bfv-blank", "--size", "1")
    _volumes(stack).wait_for_status(blank["id"], ["available"], timeout=60)
    refused = openstack(stack, "server", "create", "bfv-refused", *SERVER, "--volume", blank["id"])
    assert refused.code == 1
    assert "400" in refused.err and f"Block Device {blank['id']} is not bootable." in refused.err
    assert openstack(stack, "volume", "delete", blank["id"]).code == 0


def test_deleting_a_failed_server_keeps_its_volume_that_another_server_now_uses(
    stack: RunningStack,
) -> None:
    """The failed boot let go of the user's volume (available), so another server booted
    from it; deleting the failed server then leaves that volume to the other server, though
    its own mapping said delete_on_termination (regression: the delete failed on it and
    left the server in error)."""
    volume_id = _volume_from_image(stack, "bfv-reused")
    mapping = {"source_type": "volume", "uuid": volume_id}
    failed = _boot_by_api(stack, "bfv-reused-failspawn", mapping | {"delete_on_termination": True})
    assert _settled(stack, failed) == "error"
    second = _boot_by_api(stack, "bfv-reused", mapping)
    assert _settled(stack, second) == "active"

    deleted = openstack(stack, "server", "delete", failed, "--wait")
    assert deleted.code == 0, deleted.err
    record = stack.instance(failed)
    assert record is not None and record.deleted
    volume = _volumes(stack).get_volume(volume_id)
    assert volume["status"] == "in-use"
    assert [a["server_id"] for a in volume["attachments"]] == [second]
    assert openstack(stack, "server", "delete", second, "--wait").code == 0
    assert openstack(stack, "volume", "delete", volume_id).code == 0
