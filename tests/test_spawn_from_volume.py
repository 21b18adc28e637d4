"""Spawn of a server booted from a volume, on libvirt's test driver: the guest's vda is the
root volume's own file (raw, the volume id as serial), not an overlay on a cached image;
data volumes and the config drive follow; a kernel the volume's image names boots it."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.images import DEFAULT_CMDLINE, BootFiles
from activities.spawn import SpawnActivities
from compute.driver import LibvirtDriver
from core.errors import ErrorType
from core.messages import AttachmentSpec, FlavorSpec, ImageSpec, SpawnInput
from tests.test_spawn import FakeNetworks


def _attachment(tmp_path: Path, device: str) -> AttachmentSpec:
    volume_id = str(uuid.uuid4())
    path = tmp_path / "volumes" / f"volume-{volume_id}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    info = {"driver_volume_type": "file", "data": {"device_path": str(path)}, "serial": volume_id}
    return AttachmentSpec(str(uuid.uuid4()), volume_id, device, info)


def _request(attachments: list[AttachmentSpec]) -> SpawnInput:
    return SpawnInput(
        instance_uuid=str(uuid.uuid4()),
        name="bfv",
        project_id="p-1",
        flavor=FlavorSpec("1", "m1.tiny", 1, 512, 1),
        # A volume-backed server's image: no id, its volume's image's properties.
        image=ImageSpec("", "guest", 1 << 30, "raw", None, properties={"kernel_id": "k-1"}),
        cached_image=None,
        ports=[],
        attachments=attachments,
    )


def _spawner(tmp_path: Path, boot: BootFiles) -> SpawnActivities:
    driver = LibvirtDriver("test:///default", "node1", tmp_path / "node1", deployment="d-1")
    return SpawnActivities(driver, boot_files=lambda _image: boot, networks=FakeNetworks())  # type: ignore[arg-type]


def _disks(xml: str) -> list[tuple[str, str, str, str | None]]:
    """(target, format, source, serial) of each disk, in order."""
    out = []
    for disk in ET.fromstring(xml).iter("disk"):  # noqa: S314 (our own XML)
        target, driver, source = disk.find("target"), disk.find("driver"), disk.find("source")
        assert target is not None and driver is not None and source is not None
        serial = disk.find("serial")
        out.append(
            (
                target.get("dev", ""),
                driver.get("type", ""),
                source.get("file", ""),
                serial.text if serial is not None else None,
            )
        )
    return out


def test_the_root_volume_is_vda_and_no_image_is_copied(tmp_path: Path) -> None:
    kernel = tmp_path / "base" / "k-1"
    kernel.parent.mkdir(parents=True)
    kernel.write_bytes(b"kernel")
    spawner = _spawner(tmp_path, BootFiles(kernel=kernel, cmdline=DEFAULT_CMDLINE))
    root, data = _attachment(tmp_path, "vda"), _attachment(tmp_path, "vdb")
    request = _request([root, data])

    result = ActivityEnvironment().run(spawner.spawn, request)
    assert result.power_state == 1
    instance_dir = spawner.driver.instance_dir(request.instance_uuid)
    xml = (instance_dir / "libvirt.xml").read_text()
    (vda, vdb, vdz) = _disks(xml)
    assert vda == ("vda", "raw", root.connection_info["data"]["device_path"], root.volume_id)
    assert vdb == ("vdb", "raw", data.connection_info["data"]["device_path"], data.volume_id)
    assert vdz[:2] == ("vdz", "raw") and vdz[2].endswith("disk.config")
    # The kernel boots the volume as its root; no overlay disk was made, and the image
    # cache keeps only the kernel for this instance.
    os_el = ET.fromstring(xml).find("os")  # noqa: S314
    assert os_el is not None and os_el.findtext("kernel") == str(kernel)
    assert "root=/dev/vda" in (os_el.findtext("cmdline") or "")
    assert not (instance_dir / "disk").exists()
    assert spawner.driver.bases_in_use() == {kernel}
    # The guest runs on the host's hypervisor; destroying it leaves the volumes' files.
    assert request.instance_uuid in {g.uuid for g in spawner.driver.guests()}
    assert spawner.driver.destroy(request.instance_uuid)
    assert Path(root.connection_info["data"]["device_path"]).exists()


def test_without_a_root_volume_or_cached_image_the_build_fails(tmp_path: Path) -> None:
    spawner = _spawner(tmp_path, BootFiles())
    with pytest.raises(ApplicationError) as failed:
        ActivityEnvironment().run(spawner.spawn, _request([_attachment(tmp_path, "vdb")]))
    assert failed.value.type == ErrorType.BUILD_FAILED and failed.value.non_retryable
    assert "no root disk" in str(failed.value)
