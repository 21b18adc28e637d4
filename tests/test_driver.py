"""The libvirt driver and domain XML, against libvirt's own test driver."""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt
import pytest

from compute import domain_xml
from compute.domain_xml import DiskSpec, DomainSpec, NicSpec
from compute.driver import MAX_CONSOLE_BYTES, GuestBootError, LibvirtDriver
from core.messages import FlavorSpec


def spec(host: str, tmp: Path, instance_uuid: str | None = None) -> DomainSpec:
    instance_uuid = instance_uuid or str(uuid.uuid4())
    return DomainSpec(
        instance_uuid=instance_uuid,
        name="vm1",
        host=host,
        project_id="proj",
        flavor=FlavorSpec("1", "m1.tiny", vcpus=1, memory_mb=512, root_gb=1),
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
    bad.flavor.memory_mb = 0
    bad.flavor.vcpus = 0
    with pytest.raises(libvirt.libvirtError):
        driver.spawn(bad)


# -- real guests: direct kernel boot, config drive, console, deployments ----------------------


def test_domain_xml_boots_the_kernel_with_a_read_only_config_drive(tmp_path: Path) -> None:
    s = spec("node1", tmp_path)
    s.domain_type, s.arch, s.deployment = "qemu", "x86_64", "d-1234"
    s.kernel, s.initrd, s.cmdline = "/base/k", "/base/r", "root=/dev/vda console=ttyS0"
    s.disks.append(DiskSpec(str(tmp_path / "disk.config"), "vdz", "raw", readonly=True))
    root = ET.fromstring(domain_xml.build(s))  # noqa: S314 (our own XML)
    assert root.get("type") == "qemu"
    assert root.findtext("os/kernel") == "/base/k" and root.findtext("os/initrd") == "/base/r"
    assert root.findtext("os/cmdline") == "root=/dev/vda console=ttyS0"
    assert root.find("os/boot") is None  # the kernel, not a disk's boot sector
    drives = [d for d in root.iterfind("devices/disk") if d.find("target[@dev='vdz']") is not None]
    assert len(drives) == 1 and drives[0].find("readonly") is not None
    assert root.find("devices/serial/source[@append='on']") is not None  # kept across restarts
    metadata = ET.tostring(root.findall("metadata/*")[0], encoding="unicode")
    assert domain_xml.owner(metadata) == ("d-1234", "node1")
    assert domain_xml.owner("<instance><host>node7</host></instance>") == ("", "node7")


def test_two_stacks_sharing_libvirt_never_see_each_others_hosts(tmp_path: Path) -> None:
    """Each stack has a node1; only the deployment id tells their domains apart."""
    mine = LibvirtDriver("test:///default", "node1", tmp_path / "a", deployment="d-aaaa")
    theirs = LibvirtDriver("test:///default", "node1", tmp_path / "b", deployment="d-bbbb")
    s = spec("node1", tmp_path)
    s.deployment = "d-bbbb"
    theirs.spawn(s)
    assert mine.guests() == [] and mine.power_state(s.instance_uuid) == 0
    assert mine.destroy(s.instance_uuid) is False
    assert [g.uuid for g in theirs.guests()] == [s.instance_uuid]
    assert theirs.destroy(s.instance_uuid) is True


def test_console_output_is_the_end_of_the_log(tmp_path: Path) -> None:
    driver = LibvirtDriver("test:///default", "node1", tmp_path)
    s = spec("node1", tmp_path)
    assert driver.console_output(s.instance_uuid) is None  # no such instance here
    driver.spawn(s)
    assert driver.console_output(s.instance_uuid) == ""  # running, nothing printed yet
    driver.console_log(s.instance_uuid).write_text("one\ntwo\nthree\n")
    assert driver.console_output(s.instance_uuid) == "one\ntwo\nthree\n"
    assert driver.console_output(s.instance_uuid, 2) == "two\nthree\n"
    assert driver.console_output(s.instance_uuid, 0) == ""
    big = "x" * (MAX_CONSOLE_BYTES + 10) + "\nlast\n"
    driver.console_log(s.instance_uuid).write_text(big)
    assert len(driver.console_output(s.instance_uuid) or "") == MAX_CONSOLE_BYTES
    assert driver.console_output(s.instance_uuid, 1) == "last\n"
    driver.destroy(s.instance_uuid)


def test_wait_for_line_returns_the_guests_line(tmp_path: Path) -> None:
    driver = LibvirtDriver("test:///default", "node1", tmp_path)
    s = spec("node1", tmp_path)
    driver.spawn(s)
    log = driver.console_log(s.instance_uuid)

    def guest() -> None:
        time.sleep(0.2)
        with open(log, "a") as f:
            f.write("booting\r\nbootflow-guest-error: not")
            f.flush()
            time.sleep(0.2)  # a line arriving in pieces
            f.write(' this one\r\nbootflow-guest {"hostname":"vm1"}\r\n')

    writer = threading.Thread(target=guest)
    writer.start()
    line = driver.wait_for_line(s.instance_uuid, "bootflow-guest", timeout=10, poll=0.05)
    writer.join()
    assert line == 'bootflow-guest {"hostname":"vm1"}'
    driver.destroy(s.instance_uuid)


def test_wait_for_line_gives_up_on_a_silent_or_stopped_guest(tmp_path: Path) -> None:
    driver = LibvirtDriver("test:///default", "node1", tmp_path)
    s = spec("node1", tmp_path)
    driver.spawn(s)
    driver.console_log(s.instance_uuid).write_text("kernel panic\n")
    with pytest.raises(GuestBootError, match="within 0s") as silent:
        driver.wait_for_line(s.instance_uuid, "bootflow-guest", timeout=0.2, poll=0.05)
    assert "kernel panic" in silent.value.console
    driver.conn.lookupByUUIDString(s.instance_uuid).destroy()
    with pytest.raises(GuestBootError, match="stopped"):
        driver.wait_for_line(s.instance_uuid, "bootflow-guest", timeout=30, poll=0.05)
    driver.destroy(s.instance_uuid)


def test_restore_starts_a_defined_guest_that_is_off(tmp_path: Path) -> None:
    driver = LibvirtDriver("test:///default", "node1", tmp_path)
    s = spec("node1", tmp_path)
    driver.spawn(s)
    driver.conn.lookupByUUIDString(s.instance_uuid).destroy()  # as after a machine restart
    assert driver.power_state(s.instance_uuid) == 4
    assert driver.restore(s.instance_uuid) is True
    assert driver.power_state(s.instance_uuid) == 1
    driver.destroy(s.instance_uuid)


def test_bases_in_use_are_what_existing_instances_recorded(tmp_path: Path) -> None:
    driver = LibvirtDriver("test:///default", "node1", tmp_path)
    one, two = str(uuid.uuid4()), str(uuid.uuid4())
    driver.record_bases(one, [tmp_path / "_base" / "img", tmp_path / "_base" / "kernel"])
    driver.record_bases(two, [tmp_path / "_base" / "img"])
    assert driver.bases_in_use() == {tmp_path / "_base" / "img", tmp_path / "_base" / "kernel"}
    driver.destroy(one)
    assert driver.bases_in_use() == {tmp_path / "_base" / "img"}


def test_config_drive_is_made_once(tmp_path: Path) -> None:
    driver = LibvirtDriver("test:///default", "node1", tmp_path)
    first = driver.create_config_drive("i-1", {"openstack/latest/meta_data.json": b"{}"})
    made = first.stat().st_mtime_ns
    again = driver.create_config_drive("i-1", {"openstack/latest/meta_data.json": b"{}"})
    assert again == first and again.stat().st_mtime_ns == made  # a retry keeps it


def test_destroy_of_a_guest_that_powers_off_just_then_still_removes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A guest that fails to boot powers itself off; spawn's cleanup may find it still
    running and then be told by libvirt that it is not: the cleanup goes on and the
    build fails with the guest's own words, not libvirt's "domain is not running"."""
    driver = LibvirtDriver("test:///default", "node1", tmp_path)
    s = spec("node1", tmp_path)
    driver.spawn(s)
    real = driver.conn.lookupByUUIDString(s.instance_uuid)

    class PowersOffJustThen:
        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

        def destroy(self) -> int:
            real.destroy()  # the guest powers itself off first
            return int(real.destroy())  # libvirt: "domain is not running"

    monkeypatch.setattr(driver, "_lookup", lambda _uuid: PowersOffJustThen())
    assert driver.destroy(s.instance_uuid) is True
    monkeypatch.undo()
    assert driver.guests() == []
    assert not driver.instance_dir(s.instance_uuid).exists()
