"""Real guests under libvirtd + QEMU (TCG), booted through the whole workflow.

A stack of two hosts on qemu:///system boots the guest image `make guest` builds. What
each guest printed on its serial console (its hostname, NIC and disks, read back from the
running system) is checked against the server, its port and its volume; after delete,
nothing may be left in libvirt, on disk or in the services.

libvirtd is started here when it is not running (tests/support/libvirtd.py, as root), as
the test run's own child: it, virtlogd and their QEMUs end with the run, also when the run
is killed. A libvirtd that already answers is reused and left alone. If neither works the
tests fail with the reason: real guests are part of the suite, not an option. One database
backend (SQLite) is enough here: what is under test is the hypervisor side, and each boot
costs seconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import libvirt
import psutil
import pytest

from bootflow import lifetime
from bootflow.seed import IMAGE_NAME
from clients.image import ImageClient
from clients.network import NetworkClient
from compute import domain_xml
from compute.domain_xml import DiskSpec, DomainSpec
from core.messages import FlavorSpec
from tests.chaos.campaign import libvirtd_for_real_guests
from tests.e2e.held_session import HOLD_FILE
from tests.e2e.test_boot import nothing_left
from tests.e2e.test_stopped_suite import running
from tests.support.libvirtd import URI, answers
from tests.support.stack import RunningStack, running_stack, stack_settings, wait_until

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
MARKER = "bootflow-guest"
GiB = 1 << 30
HELD = Path(__file__).with_name("held_libvirtd.py")


# First in the module: it needs the libvirtd fixtures' daemons not yet started.
def test_a_killed_test_run_leaves_no_libvirtd_virtlogd_or_guest_it_started(
    tmp_path: Path,
) -> None:
    """An inner session starts the daemons and a guest under them, then is SIGKILLed: what
    it started ends with it. A libvirtd that answered before is reused and outlives it."""
    found = answers()
    guest = None
    held = tmp_path / "held.json"
    log = tmp_path / "inner.log"
    argv = [
        sys.executable, "-m", "pytest", str(HELD), "-q", "-p", "no:cacheprovider",
        "--timeout", "1200", "--basetemp", str(tmp_path / "inner"),
    ]  # fmt: skip
    with open(log, "wb") as out:
        inner = lifetime.spawn(
            argv, stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
            env={**os.environ, HOLD_FILE: str(held)},
        )  # fmt: skip
    try:
        wait_until(lambda: held.exists() or inner.poll() is not None, timeout=300)
        assert held.exists(), log.read_text()
        hold = json.loads(held.read_text())
        guest = hold["guest"]
        started: list[psutil.Process] = []
        for pid in hold["started"]:
            with contextlib.suppress(psutil.NoSuchProcess):  # a helper that has ended since
                started.append(psutil.Process(pid))
        names = sorted(p.name() for p in started)
        if found:
            assert names == []  # the running libvirtd is used, nothing started
        else:
            assert "libvirtd" in names and "qemu-system-x86_64" in names, names

        inner.kill()
        assert inner.wait(timeout=60) == -signal.SIGKILL
        wait_until(lambda: not any(running(p) for p in started), timeout=60)
        assert answers() == found
        # Nor a status file naming the guest's pid, which a later libvirtd would kill.
        assert not list(Path("/run/libvirt/qemu").glob(f"{guest}.*"))
    finally:
        if inner.poll() is None:
            inner.kill()
            inner.wait()
        # What the killed libvirtd could not remove: the guest's private dir (files only).
        for left in Path("/var/lib/libvirt/qemu").glob(f"domain-*-{guest}") if guest else []:
            shutil.rmtree(left)


def test_make_chaos_stops_the_libvirtd_it_started(tmp_path: Path) -> None:
    """The chaos campaign's real-guest rounds (and bench-real) run on libvirtd: one that
    answered before is used and left; one they start ends with them."""
    found = answers()
    with libvirtd_for_real_guests(tmp_path):
        assert answers()
        daemons = [p for p in psutil.process_iter(["name"]) if p.info["name"] == "libvirtd"]
    assert daemons
    wait_until(lambda: answers() == found, timeout=60)
    assert all(running(p) for p in daemons) == found


@pytest.fixture(scope="module")
def guest_image() -> Path:
    """The guest `make guest` builds (cached: a second build is a no-op)."""
    out = REPO / ".guest"
    built = subprocess.run(
        [sys.executable, str(REPO / "guest" / "build.py"), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    if built.returncode != 0:
        pytest.fail(f"the guest image could not be built: {built.stderr.strip()}", pytrace=False)
    return out


@pytest.fixture(scope="module")
def stack(
    libvirtd: libvirt.virConnect, guest_image: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    settings = stack_settings(tmp_path_factory.mktemp("real-guests"), "")
    settings = settings.model_copy(update={"libvirt_uri": URI, "guest_dir": guest_image})
    with running_stack(settings, hosts=2) as running:
        yield running


def guest_line(console: str) -> dict[str, Any]:
    """The guest's own report, from its console."""
    for line in console.splitlines():
        if line.startswith(MARKER + " "):
            report: dict[str, Any] = json.loads(line.removeprefix(MARKER + " "))
            return report
    raise AssertionError(f"the guest printed no {MARKER} line; its console:\n{console}")


def create(stack: RunningStack, name: str, *extra: str, image: str = IMAGE_NAME) -> str:
    result = stack.cli(
        "server", "create", name, "--flavor", "m1.tiny", "--image", image,
        "--network", "private", *extra, "-f", "json",
    )  # fmt: skip
    assert result.code == 0, result.err
    return str(result.json()["id"])


def status(stack: RunningStack, server_id: str) -> str:
    return str(stack.cli("server", "show", server_id, "-f", "json").json()["status"])


def decoy(conn: libvirt.virConnect, tmp_path: Path) -> libvirt.virDomain:
    """Another stack's domain on "node1" of the same libvirtd: defined, never started."""
    spec = DomainSpec(
        instance_uuid=str(uuid.uuid4()),
        name="not-ours",
        host="node1",
        project_id="p",
        flavor=FlavorSpec("1", "m1.tiny", vcpus=1, memory_mb=64, root_gb=1),
        image_id="img",
        domain_type="qemu",
        arch="x86_64",
        disks=[DiskSpec(str(tmp_path / "disk"), "vda", "qcow2")],
        nics=[],
        console_log=str(tmp_path / "console.log"),
        deployment="d-another-stack",
    )
    return conn.defineXML(domain_xml.build(spec))


def test_two_real_guests_boot_with_their_names_ports_and_volume_then_leave_nothing(
    stack: RunningStack, libvirtd: libvirt.virConnect, tmp_path: Path
) -> None:
    other = decoy(libvirtd, tmp_path)
    try:
        started = time.monotonic()
        # Both at once: two guests boot side by side (and may share a host's cached base).
        servers = {
            "real-vm1": create(stack, "real-vm1", "--volume-size", "1"),
            "real-vm2": create(stack, "real-vm2"),
        }
        for server_id in servers.values():
            wait_until(lambda i=server_id: status(stack, i) != "BUILD", timeout=180, interval=0.5)
        print(f"two real guests active {time.monotonic() - started:.1f}s after the requests")
        for name, server_id in servers.items():
            shown = stack.cli("server", "show", server_id, "-f", "json").json()
            assert shown["status"] == "ACTIVE", shown.get("fault")
            _check_guest(stack, libvirtd, name, server_id)
        # Hosts see only their own domains; another stack's "node1" is nobody's here.
        for host in ("node1", "node2"):
            listed = {d.uuid for d in stack.domains(host).domains}
            assert other.UUIDString() not in listed

        project = str(stack.cli("server", "show", "real-vm1", "-f", "json").json()["project_id"])
        records = {server_id: stack.instance(server_id) for server_id in servers.values()}
        for name in servers:
            deleted = stack.cli("server", "delete", name, "--wait")
            assert deleted.code == 0, deleted.err
        for server_id, record in records.items():
            assert record is not None and record.host
            nothing_left(stack, server_id, project)
            with pytest.raises(libvirt.libvirtError) as gone:
                libvirtd.lookupByUUIDString(server_id)
            assert gone.value.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN
            host_dir = stack.settings.host_dir(record.host)
            assert not (host_dir / "instances" / server_id).exists()
            # The cached base stays for the next boot (until unused for the configured age).
            assert any(p.is_file() for p in (host_dir / "_base").iterdir())
        assert not list(stack.settings.volumes_dir.glob("volume-*"))
        assert other.isActive() == 0 and other.name()  # never touched
    finally:
        other.undefine()


def _check_guest(stack: RunningStack, conn: libvirt.virConnect, name: str, server_id: str) -> None:
    console = stack.cli("console", "log", name)
    assert console.code == 0, console.err
    report = guest_line(console.out)
    last = stack.cli("console", "log", name, "--lines", "1")
    assert last.out == console.out.splitlines(keepends=True)[-1]
    (port,) = stack.ports_of(server_id)

    assert report["hostname"] == name
    assert report["uuid"] == server_id
    (nic,) = report["nics"]
    assert nic["mac"] == port["mac_address"]
    assert nic["ip"] == port["fixed_ips"][0]["ip_address"] and nic["prefix"] == 24
    disks = {d["name"]: d for d in report["disks"]}
    assert disks["vda"]["bytes"] == 1 * GiB  # the overlay, grown to m1.tiny's root disk
    volumes = [d for d in report["disks"] if d["serial"] and not d["ro"]]
    if name == "real-vm1":
        (volume,) = stack.volumes_of(server_id, str(stack.instance(server_id).project_id))  # type: ignore[union-attr]
        (disk,) = volumes
        assert volume["id"].startswith(disk["serial"])  # virtio-blk keeps 20 characters
        assert disk["bytes"] == volume["size"] * GiB == 1 * GiB
    else:
        assert volumes == []

    # The domain: TCG, the flavor's size, owned by this stack's host, booting the kernel.
    root = ET.fromstring(conn.lookupByUUIDString(server_id).XMLDesc())  # noqa: S314 (libvirtd's)
    assert root.get("type") == "qemu"
    assert root.findtext("vcpu") == "1" and root.findtext("memory") == str(512 * 1024)
    metadata = ET.tostring(root.findall("metadata/*")[0], encoding="unicode")
    owner = domain_xml.owner(metadata)
    assert owner == (stack.settings.deployment_id, stack.instance(server_id).host)  # type: ignore[union-attr]
    assert "/_base/" in (root.findtext("os/kernel") or "")


def test_a_guest_that_never_comes_up_fails_its_boot_and_leaves_nothing(
    stack: RunningStack, guest_image: Path
) -> None:
    """An image whose kernel is told to mount a root disk that does not exist: the guest
    says so on its console and powers off; spawn aborts the build with that line."""
    admin = stack.image_client()
    good = admin.find_image(IMAGE_NAME)
    broken = admin.create_image(
        name="no-root-disk",
        disk_format="qcow2",
        container_format="bare",
        visibility="public",
        kernel_id=good["kernel_id"],
        ramdisk_id=good["ramdisk_id"],
        os_command_line="root=/dev/vdq console=ttyS0 quiet",
        bootflow_ready_marker=MARKER,
    )
    admin.upload(broken["id"], guest_image / "disk.qcow2")

    result = stack.cli(
        "server", "create", "real-broken", "--flavor", "m1.tiny", "--image", "no-root-disk",
        "--network", "private", "--wait", "-f", "json",
    )  # fmt: skip
    assert result.code == 1
    assert "stopped before it finished booting" in result.err, result.err
    assert "root disk /dev/vdq did not appear" in result.err  # the guest's own words
    server_id = str(result.json()["id"])
    shown = stack.cli("server", "show", server_id, "-f", "json").json()
    assert shown["status"] == "ERROR"
    # A guest that won't come up fails on every host it is tried on (a host failure:
    # reschedule), and the fault names the hosts and the last failure.
    message = shown["fault"]["message"]
    assert message.startswith("Exceeded maximum number of retries.")
    assert "Hosts tried: node1, node2" in message or "Hosts tried: node2, node1" in message
    assert (
        f"Last error: Build of instance {server_id} aborted: the guest stopped before it "
        "finished booting"
    ) in message
    project = str(shown["project_id"])
    nothing_left(stack, server_id, project, quota_held=True)
    assert stack.cli("server", "delete", server_id, "--wait").code == 0
    nothing_left(stack, server_id, project)


def test_a_real_guest_boots_from_a_volume_made_from_the_image(
    stack: RunningStack, libvirtd: libvirt.virConnect
) -> None:
    """The volume service writes the image's disk into a raw volume; that volume is the
    guest's vda (the kernel and ramdisk the image names boot it): the guest mounts it as
    its root and comes up. A delete with delete_on_termination leaves nothing."""
    demo = stack.demo()
    image = ImageClient(demo).find_image(IMAGE_NAME)["id"]
    network = NetworkClient(demo).find_network("private")["id"]
    root = {"source_type": "image", "uuid": image, "destination_type": "volume"}
    root |= {"boot_index": 0, "volume_size": 1, "delete_on_termination": True}
    body = {"name": "real-bfv", "flavorRef": "1", "networks": [{"uuid": network}]}
    body["block_device_mapping_v2"] = [root]
    created = demo.request("compute", "POST", "servers", json={"server": body}).json()
    server_id = str(created["server"]["id"])
    wait_until(lambda: status(stack, server_id) != "BUILD", timeout=180, interval=0.5)
    shown = stack.cli("server", "show", server_id, "-f", "json").json()
    assert shown["status"] == "ACTIVE", shown.get("fault")

    project = str(shown["project_id"])
    (volume,) = stack.volumes_of(server_id, project)
    report = guest_line(stack.cli("console", "log", server_id).out)
    assert report["uuid"] == server_id
    disks = {d["name"]: d for d in report["disks"]}
    assert disks["vda"]["bytes"] == volume["size"] * GiB == 1 * GiB
    assert volume["id"].startswith(disks["vda"]["serial"])  # virtio-blk keeps 20 characters
    domain = ET.fromstring(libvirtd.lookupByUUIDString(server_id).XMLDesc())  # noqa: S314
    (vda,) = [d for d in domain.iter("disk") if d.find("target").get("dev") == "vda"]  # type: ignore[union-attr]
    assert (vda.find("source").get("file") or "").endswith(f"volume-{volume['id']}")  # type: ignore[union-attr]

    assert stack.cli("server", "delete", server_id, "--wait").code == 0
    nothing_left(stack, server_id, project)
    assert not list(stack.settings.volumes_dir.glob(f"volume-{volume['id']}"))


def test_console_output_action_answers_as_nova_does(stack: RunningStack) -> None:
    demo = stack.demo()
    url = demo.endpoint("compute")

    def action(server_id: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(
            f"{url}/servers/{server_id}/action", json=body, headers={"X-Auth-Token": demo.token}
        )

    missing = str(uuid.uuid4())
    assert action(missing, {"os-getConsoleOutput": {"length": 5}}).status_code == 404
    unknown = action(missing, {"os-frobnicate": None})
    assert unknown.status_code == 400 and "os-frobnicate" in unknown.text
    bad = action(missing, {"os-getConsoleOutput": {"length": "many"}})
    assert bad.status_code == 400 and "length" in bad.text
