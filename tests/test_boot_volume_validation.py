"""Step 2 of a boot from a volume (validate_and_reserve), against real identity, image and
volume services on loopback: the volume is read with the user's own token and must exist,
be bootable and be available (Nova's 400s otherwise); the guest is described by the image
the volume was made from; the flavor's root disk is not counted against the disk quota."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.quota import QuotaActivities
from clients.volume import VolumeClient
from core.errors import ErrorType
from core.messages import (
    BootRequest,
    BootVolumeRequest,
    RequestContext,
    ValidatedRequest,
    ValidateInput,
)
from db import quotas
from db.models.compute import Flavor
from tests.support.cloud import LoopbackCloud, loopback_cloud
from tests.support.stack import wait_until

KERNEL = "5a8f1c2e-9b3d-4e6f-8a1b-2c3d4e5f6a7b"
PROPERTIES = {"kernel_id": KERNEL, "bootflow_ready_marker": "up"}


@pytest.fixture
def cloud(database_url: str, tmp_path: Path) -> Iterator[LoopbackCloud]:
    with loopback_cloud(database_url, tmp_path, services=("identity", "image", "volume")) as c:
        with c.sessions.begin() as s:
            s.add(Flavor(flavorid="1", name="m1.tiny", vcpus=1, memory_mb=512, root_gb=1))
        yield c


def _image(cloud: LoopbackCloud, **properties: Any) -> str:
    """A small raw image of the demo project, with these properties."""
    demo = cloud.session("demo")
    fields = {"name": "guest", "disk_format": "raw", "container_format": "bare"} | properties
    image = demo.request("image", "POST", "v2/images", json=fields).json()
    demo.request(
        "image",
        "PUT",
        f"v2/images/{image['id']}/file",
        content=b"\x01" * 4096,
        headers={"Content-Type": "application/octet-stream"},
    )
    return str(image["id"])


def _volume(cloud: LoopbackCloud, user: str = "demo", image_id: str | None = None) -> str:
    client = VolumeClient(cloud.session(user))
    volume_id = str(client.create_volume(1, image_id=image_id)["id"])
    client.wait_for_status(volume_id, ["available"], timeout=30)
    return volume_id


def _validate(
    cloud: LoopbackCloud, root: BootVolumeRequest, instance_uuid: str | None = None
) -> ValidatedRequest:
    """validate_and_reserve as the control worker runs it: the demo user's token, handed
    to the service account's session (which carries no project of the token's own)."""
    demo = cloud.session("demo")
    info = demo.token_info()
    service = cloud.session("bootflow")
    boot = BootRequest(
        instance_uuid=instance_uuid or str(uuid.uuid4()),
        name="bfv",
        flavor_ref="1",
        image_ref="",
        networks=[],
        auth_token=demo.token,
        request_id="req-1",
        boot_volume=root,
    )
    context = RequestContext(
        info.user_id, "demo", info.project_id, "demo", ["member"], "2099-01-01T00:00:00Z"
    )
    check = QuotaActivities(cloud.sessions, cloud.settings, service.acting_as)
    result: ValidatedRequest = ActivityEnvironment().run(
        check.validate_and_reserve, ValidateInput(boot, context)
    )
    return result


def _refusal(cloud: LoopbackCloud, root: BootVolumeRequest) -> str:
    with pytest.raises(ApplicationError) as refused:
        _validate(cloud, root)
    assert refused.value.type == ErrorType.INVALID_REQUEST and refused.value.non_retryable
    return refused.value.message


def test_a_bootable_available_volume_is_the_root_disk(cloud: LoopbackCloud) -> None:
    image = _image(cloud, kernel_id=KERNEL, bootflow_ready_marker="up", min_ram=256)
    volume = _volume(cloud, image_id=image)
    valid = _validate(cloud, BootVolumeRequest("volume", volume))
    assert valid.root_volume is not None
    assert (valid.root_volume.id, valid.root_volume.size_gb) == (volume, 1)
    assert valid.root_volume.device_name == "vda"
    # What the guest boots is the volume's image, as Nova reads it; no image id is
    # recorded (the server shows image "").
    assert valid.image.id == "" and valid.image.min_ram == 256
    assert valid.image.properties | PROPERTIES == valid.image.properties
    assert not {"image_id", "min_ram", "size", "disk_format"} & set(valid.image.properties)


def test_a_volume_backed_server_holds_no_disk_quota(cloud: LoopbackCloud) -> None:
    volume = _volume(cloud, image_id=_image(cloud))
    instance = str(uuid.uuid4())
    _validate(cloud, BootVolumeRequest("volume", volume), instance)
    with cloud.sessions.begin() as s:
        project = cloud.session("demo").token_info().project_id
        usage = quotas.usage(s, project)
    assert (usage["instances"], usage["cores"], usage["ram"], usage["disk"]) == (1, 1, 512, 0)


def test_a_missing_or_another_projects_volume_cannot_be_found(cloud: LoopbackCloud) -> None:
    for volume in (str(uuid.uuid4()), _volume(cloud, user="alt", image_id=None)):
        assert _refusal(cloud, BootVolumeRequest("volume", volume)) == (
            f"Block Device Mapping is Invalid: failed to get volume {volume}."
        )


def test_a_volume_not_bootable_is_refused(cloud: LoopbackCloud) -> None:
    """Tempest's test_create_server_from_non_bootable_volume: a blank volume, or one set
    not bootable, is Nova's 400."""
    volume = _volume(cloud, image_id=_image(cloud))
    client = VolumeClient(cloud.session("demo"))
    client._request(
        "POST", f"volumes/{volume}/action", json={"os-set_bootable": {"bootable": False}}
    )
    for candidate in (volume, _volume(cloud)):
        message = _refusal(cloud, BootVolumeRequest("volume", candidate))
        assert message == f"Block Device {candidate} is not bootable."


def test_a_volume_in_use_is_refused(cloud: LoopbackCloud) -> None:
    volume = _volume(cloud, image_id=_image(cloud))
    client = VolumeClient(cloud.session("demo"))
    client.create_attachment(volume, str(uuid.uuid4()))  # reserved for another server
    wait_until(lambda: client.get_volume(volume)["status"] == "reserved", timeout=10)
    assert _refusal(cloud, BootVolumeRequest("volume", volume)) == (
        f"Invalid volume: Volume {volume} status must be available or downloading to reserve, "
        "but the current status is reserved."
    )


def test_the_images_minimum_ram_is_the_flavors_to_meet(cloud: LoopbackCloud) -> None:
    volume = _volume(cloud, image_id=_image(cloud, min_ram=1024))
    message = _refusal(cloud, BootVolumeRequest("volume", volume))
    assert message.startswith("Flavor's memory is too small for requested image")


def test_an_image_to_volume_is_checked_against_the_volume_size(cloud: LoopbackCloud) -> None:
    """min_disk is the volume's to meet, not the flavor's root disk (Nova's
    VolumeSmallerThanMinDisk); a fitting image is described by its own properties."""
    image = _image(cloud, min_disk=2, kernel_id=KERNEL)
    message = _refusal(cloud, BootVolumeRequest("image", image, size_gb=1))
    assert message == (
        "Volume is smaller than the minimum size specified in image metadata. Volume size is "
        "1073741824 bytes, minimum size is 2147483648 bytes."
    )
    # The flavor's 1 GiB root disk does not matter: the volume is 5 GiB.
    valid = _validate(cloud, BootVolumeRequest("image", image, size_gb=5))
    assert valid.root_volume is None
    assert valid.image.id == "" and valid.image.properties["kernel_id"] == KERNEL
