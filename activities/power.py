"""The host's part of stop, start and reboot: the guest's power, through the libvirt
driver. Each returns the power state after it and writes nothing (the workflow records
it); each is keyed by the domain uuid, so a retry finds the guest as the first try left
it (off stays off, on stays on)."""

from __future__ import annotations

from collections.abc import Callable

import libvirt
from temporalio import activity

from activities.errors import transient_libvirt
from compute.driver import GuestMissing, LibvirtDriver
from core import activity_defs as act
from core.errors import ErrorType, request_error
from core.messages import GuestPower, GuestPowerInput


class PowerActivities:
    def __init__(self, driver: LibvirtDriver) -> None:
        self.driver = driver

    @activity.defn(name=act.POWER_OFF_GUEST.name)
    def power_off_guest(self, request: GuestPowerInput) -> GuestPower:
        """Shut the guest down (cleanly, then by force), keeping its domain and disks."""
        timeout = None if request.hard else request.clean_timeout_seconds
        return self._power(
            request, "stop", lambda: self.driver.power_off(request.instance_uuid, timeout)
        )

    @activity.defn(name=act.POWER_ON_GUEST.name)
    def power_on_guest(self, request: GuestPowerInput) -> GuestPower:
        """Start the stopped guest."""
        return self._power(request, "start", lambda: self.driver.power_on(request.instance_uuid))

    @activity.defn(name=act.REBOOT_GUEST.name)
    def reboot_guest(self, request: GuestPowerInput) -> GuestPower:
        """Reboot the guest: soft (a clean shutdown, then a start) or hard."""
        return self._power(
            request,
            "reboot",
            lambda: self.driver.reboot(
                request.instance_uuid, request.hard, request.clean_timeout_seconds
            ),
        )

    def _power(self, request: GuestPowerInput, verb: str, change: Callable[[], int]) -> GuestPower:
        """``change``, its refusals as request errors that say what and where."""
        where = f"instance {request.instance_uuid} on {self.driver.host}"
        try:
            return GuestPower(change())
        except GuestMissing as exc:
            raise request_error(
                ErrorType.INSTANCE_NOT_FOUND, f"Could not {verb} {where}: {exc}"
            ) from exc
        except libvirt.libvirtError as exc:
            if transient_libvirt(exc):
                raise  # retried with backoff
            raise request_error(
                ErrorType.ACTION_FAILED, f"Could not {verb} {where}: libvirt: {exc}"
            ) from exc
