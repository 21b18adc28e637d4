"""What a compute host reaps: the guests, instance dirs and ports it holds for instances
that should have none there (deleted, placed on another host, or failed), and the ports an
active instance does not record, as Nova's running_deleted_instance_action=reap does for
guests.

Undo steps remove what a boot made, but a step can also finish *after* its boot moved on:
a worker stalled past the step's heartbeat timeout and then resumed completes the call it
was in (the port is made), and its result is refused. Nothing would ever undo that, so each
host looks, when its worker starts and then every ``reap_interval_seconds``. What each
instance should have here comes from the control plane (the conductor API), never from the
database directly.
"""

from __future__ import annotations

import asyncio
import logging

from activities.ports import DEVICE_OWNER
from clients.conductor import ConductorClient
from clients.errors import NotFound
from clients.network import NetworkClient
from compute.driver import LibvirtDriver

log = logging.getLogger("bootflow.reaper")


def reap_guests(conductor: ConductorClient, driver: LibvirtDriver) -> int:
    """Destroy the guests (and instance dirs) this host holds but should not; the leftovers
    their undo recorded here are resolved. How many it reaped."""
    # Domains, and instance dirs (a hypervisor that forgets, like the test driver's, leaves
    # only the dir of a build that moved on).
    found = {g.uuid for g in driver.guests()}
    instances = driver.host_dir / "instances"
    if instances.is_dir():
        found |= {d.name for d in instances.iterdir() if d.is_dir()}
    held = conductor.placements(driver.host, found)
    orphans = sorted(uuid for uuid, placement in held.items() if not placement.here)
    for instance_uuid in orphans:
        driver.destroy(instance_uuid)
        conductor.resolve_leftovers(driver.host, instance_uuid)
        log.warning("reaped %s on %s: it does not belong here", instance_uuid, driver.host)
    return len(orphans)


def reap_ports(conductor: ConductorClient, network: NetworkClient, host: str) -> int:
    """Release the instance ports bound to this host that their instance should not have
    here: all of them if it should have none here, else those an active instance does not
    record (a second port a late attempt made). bootflow's are deleted, a user's own port
    is unbound and kept. How many it released."""
    ports = network.list_ports({"binding:host_id": host, "device_owner": DEVICE_OWNER})
    held = conductor.placements(host, {p["device_id"] for p in ports if p["device_id"]})
    released = 0
    for port in ports:
        placement = held.get(port["device_id"])
        if placement is None or (
            placement.here and (placement.macs is None or port["mac_address"] in placement.macs)
        ):
            continue
        try:
            if port["id"] in placement.preserved:
                network.update_port(port["id"], device_id="", device_owner="", host=None)
            else:
                network.delete_port(port["id"])
        except NotFound:
            continue
        log.warning("reaped port %s of %s on %s", port["id"], port["device_id"], host)
        released += 1
    return released


async def reap_periodically(
    conductor: ConductorClient, driver: LibvirtDriver, network: NetworkClient, every: float
) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await asyncio.to_thread(reap_guests, conductor, driver)
            await asyncio.to_thread(reap_ports, conductor, network, driver.host)
        except Exception:
            log.exception("reaping on %s failed; trying again in %.0fs", driver.host, every)
