"""What a compute host reaps: the guests, instance dirs and ports it holds for instances
that should have none there (deleted, placed on another host, or failed), and the ports an
active instance does not record, as Nova's running_deleted_instance_action=reap does for
guests.

Undo steps remove what a boot made, but a step can also finish *after* its boot moved on:
a worker stalled past the step's heartbeat timeout and then resumed completes the call it
was in (the port is made), and its result is refused. Nothing would ever undo that, so each
host looks, when its worker starts and then every ``reap_interval_seconds`` (a fleet
process for all its hosts at once: one listing of guests and a few of ports). What each
instance should have here comes from the control plane (the conductor API), never from the
database directly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from typing import Any

from activities.ports import DEVICE_OWNER
from clients.conductor import ConductorClient
from clients.errors import NotFound
from clients.network import NetworkClient
from compute.driver import GuestInfo, LibvirtDriver, guests_by_host

# A port as the network service lists it.
Port = dict[str, Any]

log = logging.getLogger("bootflow.reaper")


# Hosts one port listing names (a query string stays well under a server's URL limit).
PORT_HOSTS_PER_CALL = 100


def reap_guests(
    conductor: ConductorClient, driver: LibvirtDriver, guests: list[GuestInfo] | None = None
) -> int:
    """Destroy the guests (and instance dirs) this host holds but should not; the leftovers
    their undo recorded here are resolved. How many it reaped. ``guests``: the host's
    domains, when the caller listed them for all its hosts at once."""
    # Domains, and instance dirs (a hypervisor that forgets, like the test driver's, leaves
    # only the dir of a build that moved on).
    found = {g.uuid for g in (driver.guests() if guests is None else guests)}
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


def ports_by_host(network: NetworkClient, hosts: Collection[str]) -> dict[str, list[Port]]:
    """The instance ports bound to each of ``hosts``, in a listing per PORT_HOSTS_PER_CALL."""
    out: dict[str, list[Port]] = {}
    ordered = sorted(set(hosts))
    for start in range(0, len(ordered), PORT_HOSTS_PER_CALL):
        part = ordered[start : start + PORT_HOSTS_PER_CALL]
        for port in network.list_ports({"binding:host_id": part, "device_owner": DEVICE_OWNER}):
            out.setdefault(port["binding:host_id"], []).append(port)
    return out


def reap_ports(
    conductor: ConductorClient, network: NetworkClient, host: str, ports: list[Port] | None = None
) -> int:
    """Release the instance ports bound to this host that their instance should not have
    here: all of them if it should have none here, else those an active instance does not
    record (a second port a late attempt made). bootflow's are deleted, a user's own port
    is unbound and kept. How many it released. ``ports``: the host's, when the caller
    listed them for all its hosts at once."""
    if ports is None:
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


def reap_hosts(
    conductor: ConductorClient, drivers: list[LibvirtDriver], network: NetworkClient
) -> int:
    """Reap every host of the process: its guests listed once per connection, its ports
    in a few listings, and the conductor asked only about hosts that hold something. A
    host that fails is logged and the others go on. How many guests and ports it reaped."""
    guests: dict[int, dict[str, list[GuestInfo]]] = {}
    for driver in drivers:
        if id(driver.conn) not in guests:
            guests[id(driver.conn)] = guests_by_host(driver.conn, driver.deployment)
    ports = ports_by_host(network, [d.host for d in drivers])
    reaped = 0
    for driver in drivers:
        try:
            found = guests[id(driver.conn)].get(driver.host, [])
            reaped += reap_guests(conductor, driver, found)
            reaped += reap_ports(conductor, network, driver.host, ports.get(driver.host, []))
        except Exception:
            log.exception("reaping on %s failed", driver.host)
    return reaped


async def reap_periodically(
    conductor: ConductorClient,
    drivers: list[LibvirtDriver],
    network: NetworkClient,
    every: float,
) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await asyncio.to_thread(reap_hosts, conductor, drivers, network)
        except Exception:
            hosts = drivers[0].host if len(drivers) == 1 else f"{len(drivers)} hosts"
            log.exception("reaping on %s failed; trying again in %.0fs", hosts, every)
