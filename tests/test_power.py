"""The guest's power through the libvirt driver (test:///default): what stop, start and
reboot do to the domain on its host, each safe to repeat, and their refusals as the
workflow sees them."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from activities.power import PowerActivities
from compute.driver import GuestMissing, LibvirtDriver
from core.errors import ErrorType
from core.messages import GuestPowerInput
from core.states import PowerState
from tests.test_driver import spec


def test_stop_keeps_the_guest_start_and_reboot_bring_it_back(tmp_path: Path) -> None:
    driver = LibvirtDriver("test:///default", "node1", tmp_path)
    s = spec("node1", tmp_path)
    driver.spawn(s)
    uuid_ = s.instance_uuid
    assert driver.power_off(uuid_, clean_timeout=5) == PowerState.SHUTDOWN
    # Off, not gone: its domain and files stay for the start.
    assert driver.conn.lookupByUUIDString(uuid_) is not None
    assert (driver.instance_dir(uuid_) / "libvirt.xml").exists()
    assert driver.power_off(uuid_, clean_timeout=None) == PowerState.SHUTDOWN  # again: no-op
    assert driver.power_on(uuid_) == PowerState.RUNNING
    assert driver.power_on(uuid_) == PowerState.RUNNING  # again: no-op
    assert driver.reboot(uuid_, hard=False, clean_timeout=5) == PowerState.RUNNING
    assert driver.reboot(uuid_, hard=True, clean_timeout=5) == PowerState.RUNNING
    # A hypervisor that forgot the stopped guest (the test driver after a restart).
    driver.power_off(uuid_, None)
    driver.conn.lookupByUUIDString(uuid_).undefine()
    assert driver.power_on(uuid_) == PowerState.RUNNING
    driver.destroy(uuid_)


def test_a_guest_that_is_not_there_is_not_found(tmp_path: Path) -> None:
    driver = LibvirtDriver("test:///default", "node1", tmp_path)
    missing = str(uuid.uuid4())
    assert driver.power_off(missing, clean_timeout=1) == PowerState.NOSTATE
    with pytest.raises(GuestMissing):
        driver.power_on(missing)
    with pytest.raises(GuestMissing):
        driver.reboot(missing, hard=False, clean_timeout=1)
    with pytest.raises(ApplicationError) as refused:
        PowerActivities(driver).power_on_guest(GuestPowerInput(missing))
    assert refused.value.type == ErrorType.INSTANCE_NOT_FOUND and refused.value.non_retryable
    assert f"Could not start instance {missing} on node1" in refused.value.message
