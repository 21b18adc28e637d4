"""Booting from a volume at the compute API: the ``block_device_mapping_v2`` entry with
boot_index 0 and destination_type volume becomes the boot's root volume, or Nova's 400.

No Temporal here (the ``started`` fixture records the boots a create would start); the
volume's own checks (it exists, is bootable, is available) are step 2's, in
tests/test_boot_volume_validation.py, and a whole boot is tests/e2e/test_boot_from_volume.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from core.messages import BootRequest, BootVolumeRequest
from db.models.compute import QuotaLimit
from tests import test_compute_api
from tests.support.cloud import LoopbackCloud
from tests.test_compute_api import IMAGE, _api, _error, _project

shared_cloud = test_compute_api.shared_cloud
cloud = test_compute_api.cloud
VOLUME = "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
EXISTING = {"source_type": "volume", "uuid": VOLUME, "destination_type": "volume", "boot_index": 0}
FROM_IMAGE = {
    "source_type": "image",
    "uuid": IMAGE,
    "destination_type": "volume",
    "boot_index": 0,
    "volume_size": 2,
}
BLANK = {
    "source_type": "blank",
    "destination_type": "volume",
    "volume_size": 1,
    "delete_on_termination": True,
}


def _boot(
    cloud: LoopbackCloud, mapping: list[dict[str, Any]], version: str = "2.96", **server: Any
) -> Any:
    body = {
        "server": {
            "name": "bfv",
            "flavorRef": "1",
            "networks": "none",
            "block_device_mapping_v2": mapping,
        }
        | server
    }
    return _api(cloud, "POST", "servers", version=version, json=body)


def test_an_existing_volume_is_the_root_disk(
    shared_cloud: LoopbackCloud, started: list[BootRequest]
) -> None:
    """What Tempest's create_test_server(volume_backed=True) sends: imageRef "" and the
    volume at boot_index 0; delete_on_termination is Nova's default (false) unless given."""
    assert _boot(shared_cloud, [EXISTING], imageRef="").status_code == 202
    assert _boot(shared_cloud, [EXISTING | {"boot_index": "0"}]).status_code == 202
    given = EXISTING | {"delete_on_termination": True, "device_name": "/dev/vda"}
    assert _boot(shared_cloud, [given, BLANK]).status_code == 202
    assert [(b.image_ref, b.boot_volume, b.volume_size_gb) for b in started] == [
        ("", BootVolumeRequest("volume", VOLUME, None, False), None),
        ("", BootVolumeRequest("volume", VOLUME, None, False), None),
        ("", BootVolumeRequest("volume", VOLUME, None, True), 1),
    ]


def test_a_volume_made_from_an_image_is_the_root_disk(
    shared_cloud: LoopbackCloud, started: list[BootRequest]
) -> None:
    """What ``openstack server create --boot-from-volume 2 --image I`` sends; several such
    servers each get a volume of their own."""
    response = _boot(shared_cloud, [FROM_IMAGE | {"delete_on_termination": "true"}], max_count=2)
    assert response.status_code == 202, response.text
    assert [(b.image_ref, b.boot_volume) for b in started] == [
        ("", BootVolumeRequest("image", IMAGE, 2, True))
    ] * 2


SEQUENCE = (
    "Block Device Mapping is Invalid: Boot sequence for the instance and image/block device "
    "mapping combination is not valid."
)


@pytest.mark.parametrize(
    ("mapping", "server", "expected"),
    [
        ([EXISTING], {"imageRef": IMAGE}, SEQUENCE),
        ([BLANK], {}, SEQUENCE),
        ([EXISTING, FROM_IMAGE], {}, SEQUENCE),
        (
            [EXISTING],
            {"max_count": 2},
            "Cannot attach one or more volumes to multiple instances",
        ),
        (
            [{k: v for k, v in EXISTING.items() if k != "uuid"}],
            {},
            "Block Device Mapping is Invalid: Missing device UUID.",
        ),
        (
            [{k: v for k, v in FROM_IMAGE.items() if k != "volume_size"}],
            {},
            "Images with destination_type 'volume' need to have a non-zero size specified",
        ),
        (
            [FROM_IMAGE | {"volume_size": 0}],
            {},
            "Invalid input for field/attribute volume_size. Value: 0. 0 is less than the "
            "minimum of 1",
        ),
        (
            [EXISTING | {"uuid": "a volume"}],
            {},
            "Invalid input for field/attribute uuid. Value: a volume. 'a volume' does not "
            "match '^[a-zA-Z0-9._-]*$'",
        ),
        (
            [EXISTING | {"delete_on_termination": "maybe"}],
            {},
            "'maybe' is not one of the boolean values (true, false)",
        ),
        (
            [EXISTING | {"destination_type": "invalid"}],
            {},
            "Invalid input for field/attribute destination_type. Value: invalid. 'invalid' is "
            "not one of ['local', 'volume']",
        ),
        (
            [EXISTING | {"source_type": "floppy"}],
            {},
            "'floppy' is not one of ['volume', 'image', 'snapshot', 'blank']",
        ),
        (
            [EXISTING | {"source_type": "snapshot"}],
            {},
            "A block device from snapshot to volume is not supported",
        ),
        (
            [EXISTING | {"device_name": "vdc"}],
            {},
            "Naming the root device vdc is not supported",
        ),
        (
            [EXISTING | {"boot_index": 1}],
            {"imageRef": IMAGE},
            "Attaching an existing volume as a data disk is not supported",
        ),
        (
            [BLANK | {"boot_index": 0}],
            {},
            "Booting from a blank volume is not supported",
        ),
        (
            [FROM_IMAGE | {"destination_type": "local"}],
            {},
            "An image block device other than the boot image",
        ),
    ],
    ids=[
        "image-and-volume-root",
        "no-root",
        "two-roots",
        "one-volume-many-servers",
        "no-uuid",
        "image-without-size",
        "size-zero",
        "uuid-pattern",
        "bad-boolean",
        "bad-destination",
        "bad-source",
        "snapshot",
        "root-device-name",
        "data-volume",
        "blank-root",
        "image-local-without-imageref",
    ],
)
def test_a_bad_root_volume_is_refused_as_nova_refuses_it(
    shared_cloud: LoopbackCloud,
    started: list[BootRequest],
    mapping: list[dict[str, Any]],
    server: dict[str, Any],
    expected: str,
) -> None:
    assert expected in _error(_boot(shared_cloud, mapping, **server), 400, "badRequest")
    assert started == []


def test_no_image_and_no_mapping_is_missing_the_image(shared_cloud: LoopbackCloud) -> None:
    body = {"server": {"name": "bfv", "flavorRef": "1", "networks": "none"}}
    response = _api(shared_cloud, "POST", "servers", version="2.96", json=body)
    assert "Missing imageRef attribute" in _error(response, 400, "badRequest")


def test_a_volume_backed_server_claims_no_disk_quota(
    cloud: LoopbackCloud, started: list[BootRequest]
) -> None:
    """Several servers booted from volumes made from an image fit a project with no disk
    quota left: they have no local root disk (Nova counts none for them)."""
    project = _project(cloud, "demo")
    with cloud.sessions.begin() as s:
        s.add(QuotaLimit(project_id=project, resource="disk", hard_limit=0))
    refused = _boot(cloud, [BLANK], imageRef=IMAGE, min_count=2)
    assert "Quota exceeded for disk" in _error(refused, 403, "forbidden")
    assert _boot(cloud, [FROM_IMAGE], min_count=2).status_code == 202
    assert len(started) == 2
