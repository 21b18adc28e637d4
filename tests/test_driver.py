"""The libvirt driver and domain XML, against libvirt's own test driver."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import libvirt
import pytest

from compute import domain_xml
from compute.domain_xml import DiskSpec, DomainSpec, NicSpec
from compute.driver import LibvirtDriver


def spec(host: str, tmp: Path, instance_uuid: str | None = None) -> DomainSpec:
    instance_uuid = instance_uuid or str(uuid.uuid4())
    return DomainSpec(
        instance_uuid=instance_uuid,
        name="vm1",
        host=host,
        project_id="proj",
        flavor_name="m1.tiny",
        vcpus=1,
        memory_mb=512,
        root_gb=1,
        image_id="img",
        domain_type="test",
        arch="i686",
        disks=[
            DiskSpec(str(tmp / "disk"), "vda", "qcow2"),
            DiskSpec(str(tmp / "vol"), "vdb", "raw", serial="vol-1"),
        ],
        nics=[NicSpec("fa:16:3e:00:00:01", "port-1")],
        console_log=str(tmp / "console.log"),
    )


def test_domain_xml_carries_flavor_disks_nic_console_and_owner(tmp_path: Path) -> None:
    s = spec("node1", tmp_path)
    xml = domain_xml.build(s)
    for fragment in (
        f"<name>instance-{s.instance_uuid}</name>",
        '<memory unit="MiB">512</memory>',
        "<vcpu>1</vcpu>",
        'dev="vdb"',
        "<serial>vol-1</serial>",
        'address="fa:16:3e:00:00:01"',
        "console.log",
        "<acpi />",
        'type="test"',
    ):
        assert fragment in xml
    assert domain_xml.owner_host("<instance><host>node7</host></instance>") == "node7"
    assert domain_xml.owner_host("not xml") is None


def test_spawn_is_idempotent_and_hosts_never_see_each_others_guests(tmp_path: Path) -> None:
    # Two hosts on one libvirt (test:///default is shared within a process).
    node1 = LibvirtDriver("test:///default", "node1", tmp_path / "node1")
    node2 = LibvirtDriver("test:///default", "node2", tmp_path / "node2")
    s = spec("node1", tmp_path)
    assert node1.spawn(s) == 1
    assert node1.spawn(s) == 1  # a retry finds the running domain
    assert [g.uuid for g in node1.guests()] == [s.instance_uuid]
    assert node2.guests() == []  # the other host's domain, and libvirt's own "test", are not ours
    assert (node1.instance_dir(s.instance_uuid) / "libvirt.xml").exists()

    assert node2.destroy(s.instance_uuid) is False  # not node2's to touch
    assert node2.power_state(s.instance_uuid) == 0
    assert [g.uuid for g in node1.guests()] == [s.instance_uuid]
    assert node1.destroy(s.instance_uuid) is True
    assert node1.guests() == []
    assert node1.destroy(s.instance_uuid) is False  # a second destroy finds nothing


def test_restore_starts_a_guest_again_from_its_libvirt_xml(tmp_path: Path) -> None:
    driver = LibvirtDriver("test:///default", "node1", tmp_path)
    s = spec("node1", tmp_path)
    driver.spawn(s)
    domain = driver.conn.lookupByUUIDString(s.instance_uuid)
    domain.destroy()
    domain.undefine()  # as if the hypervisor forgot it
    assert driver.restore(s.instance_uuid) is True
    assert driver.power_state(s.instance_uuid) == 1
    assert driver.restore(s.instance_uuid) is False  # already there
    driver.destroy(s.instance_uuid)
    assert not driver.instance_dir(s.instance_uuid).exists()


def test_root_disk_is_a_qcow2_overlay_of_the_flavor_size(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.write_bytes(b"\0" * 65536)
    driver = LibvirtDriver("test:///default", "node1", tmp_path)
    disk = driver.create_root_disk("i-1", base, "raw", 2)
    info = subprocess.run(
        ["qemu-img", "info", "--output=json", str(disk)], check=True, capture_output=True, text=True
    ).stdout
    assert '"virtual-size": 2147483648' in info
    assert str(base) in info and '"format": "qcow2"' in info
    assert driver.create_root_disk("i-1", base, "raw", 2) == disk  # kept on retry


def test_libvirt_errors_surface_as_libvirt_errors(tmp_path: Path) -> None:
    driver = LibvirtDriver("test:///default", "node1", tmp_path)
    bad = spec("node1", tmp_path)
    bad.memory_mb = 0
    bad.vcpus = 0
    with pytest.raises(libvirt.libvirtError):
        driver.spawn(bad)
