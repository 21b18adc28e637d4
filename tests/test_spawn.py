"""The spawn activity on a host whose hypervisor boots real guests: it returns once the guest
prints its ready line, and a guest that never does aborts the build on that host.

libvirt's test driver stands in for libvirtd (its domains run but print nothing), so these
tests write the guest's console themselves; tests/e2e/test_real_guests.py boots real ones.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import libvirt
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.errors import classify, hypervisor_failure
from activities.images import BootFiles
from activities.spawn import SpawnActivities
from compute.domain_xml import DomainSpec
from compute.driver import LibvirtDriver
from core.errors import ErrorType
from core.messages import (
    CachedImage,
    FixedIp,
    FlavorSpec,
    ImageSpec,
    KeyPairSpec,
    PortSpec,
    SpawnInput,
)

MARKER = "bootflow-guest"


class QemuLikeDriver(LibvirtDriver):
    """The test driver, but taken for a hypervisor whose guests print their line."""

    @property
    def domain_type(self) -> str:
        return "qemu"


class FakeNetworks:
    def get_subnet(self, subnet_id: str) -> dict[str, Any]:
        return {"id": subnet_id, "cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.1"}


def _request(tmp_path: Path) -> SpawnInput:
    base = tmp_path / "base.qcow2"
    if not base.exists():
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(base), "64M"], check=True)
    return SpawnInput(
        instance_uuid=str(uuid.uuid4()),
        name="vm1",
        project_id="p-1",
        flavor=FlavorSpec("1", "m1.tiny", 1, 512, 1),
        image=ImageSpec("img-1", "guest", base.stat().st_size, "qcow2", None),
        cached_image=CachedImage("img-1", str(base), base.stat().st_size),
        ports=[
            PortSpec("port-1", "net-1", "private", "fa:16:3e:00:00:09", [FixedIp("10.0.0.9", "s")])
        ],
        attachments=[],
    )


def _spawner(tmp_path: Path, timeout: float) -> SpawnActivities:
    driver = QemuLikeDriver("test:///default", "node1", tmp_path / "node1", deployment="d-1")
    return SpawnActivities(
        driver,
        boot_files=lambda _image: BootFiles(ready_marker=MARKER),
        networks=FakeNetworks(),  # type: ignore[arg-type]
        boot_timeout=timeout,
    )


def test_spawn_returns_once_the_guest_prints_its_line(tmp_path: Path) -> None:
    spawner = _spawner(tmp_path, timeout=30)
    request = _request(tmp_path)
    request.key = KeyPairSpec("laptop", "ssh-ed25519 AAAAC3Nza me@laptop")
    log = spawner.driver.console_log(request.instance_uuid)

    def guest() -> None:
        time.sleep(0.5)
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f'{MARKER} {{"hostname": "vm1"}}\n')

    printer = threading.Thread(target=guest)
    started = time.monotonic()
    printer.start()
    result = ActivityEnvironment().run(spawner.spawn, request)
    elapsed = time.monotonic() - started
    printer.join()
    assert result.power_state == 1
    assert elapsed >= 0.5  # it waited for the line

    # The guest got a config drive with its port's address and subnet, and its key pair.
    drive = spawner.driver.instance_dir(request.instance_uuid) / "disk.config"

    def read(name: str) -> Any:
        path = f"/openstack/latest/{name}"
        found = subprocess.run(["isoinfo", "-R", "-i", str(drive), "-x", path], capture_output=True)
        return json.loads(found.stdout)

    network = read("network_data.json")
    meta = read("meta_data.json")
    assert meta["public_keys"] == {"laptop": "ssh-ed25519 AAAAC3Nza me@laptop"}
    assert meta["keys"] == [
        {"name": "laptop", "type": "ssh", "data": "ssh-ed25519 AAAAC3Nza me@laptop"}
    ]
    assert network["links"][0]["ethernet_mac_address"] == "fa:16:3e:00:00:09"
    assert network["networks"][0]["ip_address"] == "10.0.0.9"
    assert network["networks"][0]["routes"][0]["gateway"] == "10.0.0.1"
    spawner.driver.destroy(request.instance_uuid)


def test_a_silent_guest_aborts_the_build_and_is_destroyed(tmp_path: Path) -> None:
    spawner = _spawner(tmp_path, timeout=1)
    request = _request(tmp_path)
    log = spawner.driver.console_log(request.instance_uuid)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("Kernel panic - not syncing: VFS: Unable to mount root fs\n")

    with pytest.raises(ApplicationError) as failed:
        ActivityEnvironment().run(spawner.spawn, request)
    assert failed.value.type == ErrorType.BUILD_ABORTED and failed.value.non_retryable
    message = str(failed.value)
    assert "did not finish booting within 1s on node1" in message
    assert "Unable to mount root fs" in message  # the console says why
    assert spawner.driver.guests() == []
    assert not spawner.driver.instance_dir(request.instance_uuid).exists()


class FailingDriver(LibvirtDriver):
    """The test driver, but defining and starting the domain fails with ``code``."""

    code = libvirt.VIR_ERR_OPERATION_FAILED

    def spawn(self, spec: DomainSpec) -> int:
        exc = libvirt.libvirtError("virDomainCreate failed")
        exc.err = (self.code, libvirt.VIR_FROM_QEMU, str(exc), libvirt.VIR_ERR_ERROR)
        exc.err += ("", "", "", 0, 0)
        raise exc


def _failing(tmp_path: Path, code: int) -> SpawnActivities:
    driver = FailingDriver("test:///default", "node1", tmp_path / "node1", deployment="d-1")
    driver.code = code
    return SpawnActivities(driver, networks=FakeNetworks())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "code",
    [
        libvirt.VIR_ERR_OPERATION_TIMEOUT,
        libvirt.VIR_ERR_RPC,
        libvirt.VIR_ERR_NO_CONNECT,
        libvirt.VIR_ERR_SYSTEM_ERROR,
    ],
)
def test_a_transient_hypervisor_error_is_retried_not_aborted(tmp_path: Path, code: int) -> None:
    """A libvirt timeout or a lost connection propagates as is: the activity's retry policy
    tries again with backoff on the same host, rather than aborting the build there."""
    spawner = _failing(tmp_path, code)
    with pytest.raises(libvirt.libvirtError) as raised:
        ActivityEnvironment().run(spawner.spawn, _request(tmp_path))
    assert raised.value.get_error_code() == code
    assert classify(raised.value) is raised.value  # the interceptor leaves it retryable


@pytest.mark.parametrize(
    "code", [libvirt.VIR_ERR_OPERATION_FAILED, libvirt.VIR_ERR_XML_ERROR, libvirt.VIR_ERR_NO_DOMAIN]
)
def test_a_definitive_hypervisor_error_aborts_the_build_on_this_host(
    tmp_path: Path, code: int
) -> None:
    spawner = _failing(tmp_path, code)
    request = _request(tmp_path)
    with pytest.raises(ApplicationError) as failed:
        ActivityEnvironment().run(spawner.spawn, request)
    assert failed.value.type == ErrorType.BUILD_ABORTED and failed.value.non_retryable
    assert f"Build of instance {request.instance_uuid} aborted" in str(failed.value)
    assert "the hypervisor on node1 failed to start it" in str(failed.value)


def test_an_injected_spawn_failure_is_definitive_whatever_libvirt_last_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """libvirtError() takes the thread's last libvirt error: an injected one must not pick up
    a stale transient code (and be retried instead of failing as the plan says)."""
    stale = (libvirt.VIR_ERR_OPERATION_TIMEOUT, 0, "stale timeout", 2, "", "", "", 0, 0)
    monkeypatch.setattr(libvirt.libvirtmod, "virGetLastError", lambda: stale)
    assert libvirt.libvirtError("x").get_error_code() == libvirt.VIR_ERR_OPERATION_TIMEOUT
    injected = hypervisor_failure("injected: the domain failed to start")
    assert injected.get_error_code() is None
    assert str(injected) == "injected: the domain failed to start"
    assert isinstance(classify(injected), ApplicationError)
