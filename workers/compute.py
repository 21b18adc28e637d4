"""A compute host's worker: the host-bound activities, on the host's own task queue.

    bootflow run compute-worker --host node1     (started by `bootflow up`, one per host)
    bootflow run compute-worker --hosts-file F   (a fleet: many simulated hosts, `up
                                                  --hypervisor fake`)

It holds the host's one libvirt connection, reports the host's capacity into
``compute_nodes`` on start and heartbeats it, restarts the guests it should be running
when its hypervisor kept none (the test driver forgets everything when the process ends),
and reaps what it holds for instances that should have nothing here (workers.reaper).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import libvirt
from temporalio.worker import PollerBehaviorSimpleMaximum

from activities.images import ImageActivities
from activities.ports import PortActivities
from activities.power import PowerActivities
from activities.spawn import SpawnActivities
from activities.volumes import VolumeActivities
from clients.conductor import ConductorClient
from clients.errors import ClientError, transient
from clients.image import ImageClient
from clients.network import NetworkClient
from clients.service_account import service_session
from clients.session import Session
from clients.volume import VolumeClient
from compute import resource_tracker
from compute.driver import GuestInfo, LibvirtDriver, guests_by_host
from compute.image_cache import ImageCache
from core.conductor import HostCapacity
from core.config import HostOptions, PathOptions, Settings, WorkerOptions
from core.temporal import connect
from workers.common import (
    http_client,
    new_worker,
    run_main,
    run_until_signalled,
    setup_logging,
)
from workers.reaper import reap_guests, reap_periodically

log = logging.getLogger("bootflow.compute")

# While the control plane cannot be reached at start: the first wait before trying again,
# doubled each time up to the most.
JOIN_RETRY_SECONDS = 1.0
JOIN_RETRY_MAX_SECONDS = 30.0
# Hosts of a fleet that join at once (each join is a few calls to the compute API).
JOIN_CONCURRENCY = 8
# The process's threads for blocking calls besides the steps' (joins, heartbeats, reaping,
# the steps' event records): more than asyncio's default, for a fleet's many hosts.
DEFAULT_THREADS = 32


def build_activities(
    settings: HostOptions, cache: ImageCache, driver: LibvirtDriver, service: Session
) -> list[Callable[..., Any]]:
    """The host's steps: they call the services and the hypervisor and return what they
    made; none writes the database (the workflow records it through the control plane)."""
    ports = PortActivities(NetworkClient(service), host=driver.host)
    volumes = VolumeActivities(
        lambda project_id: VolumeClient(service, project_id=project_id), host=driver.host
    )
    images = ImageActivities(ImageClient(service), cache)
    spawn = SpawnActivities(
        driver,
        boot_files=images.boot_files,
        networks=NetworkClient(service),
        boot_timeout=settings.guest_boot_timeout_seconds,
    )
    power = PowerActivities(driver)
    return [
        ports.allocate_port,
        volumes.create_volume,
        volumes.attach_volume,
        images.fetch_image,
        spawn.spawn,
        spawn.destroy_guest,
        spawn.list_domains,
        spawn.get_console_output,
        power.power_off_guest,
        power.power_on_guest,
        power.reboot_guest,
    ]


def image_cache(settings: PathOptions, hosts: Sequence[str]) -> ImageCache:
    """The process's one image cache: in its (first) host's dir, shared by a fleet's hosts."""
    return ImageCache(settings.host_dir(hosts[0]) / "_base")


def restore_guests(conductor: ConductorClient, driver: LibvirtDriver) -> int:
    """Start again the active instances the hypervisor no longer has (Nova's
    resume_guests_state_on_host_boot)."""
    restored = 0
    for instance_uuid in conductor.active_instances(driver.host):
        try:
            if driver.restore(instance_uuid):
                restored += 1
        except libvirt.libvirtError:
            # One guest that cannot start must not keep the host's worker down.
            log.exception("could not start instance %s again on %s", instance_uuid, driver.host)
    return restored


def start_host(
    conductor: ConductorClient,
    driver: LibvirtDriver,
    capacity: HostCapacity,
    guests: list[GuestInfo] | None = None,
) -> None:
    """Report the host, reap what it should not hold, restart the guests it should run.
    ``guests``: the host's domains when the caller listed them for all its hosts at once."""
    conductor.report(driver.host, capacity)
    reaped = reap_guests(conductor, driver, guests)
    restored = restore_guests(conductor, driver)
    log.info(
        "host %s on %s: %d guests restored, %d reaped", driver.host, driver.uri, restored, reaped
    )


async def join(
    conductor: ConductorClient,
    driver: LibvirtDriver,
    capacity: HostCapacity,
    guests: list[GuestInfo] | None = None,
) -> None:
    """``start_host``, tried again with backoff while the control plane (the compute API,
    or identity for the service account's token) is down; a refusal is raised."""
    wait = JOIN_RETRY_SECONDS
    while True:
        try:
            await asyncio.to_thread(start_host, conductor, driver, capacity, guests)
            return
        except ClientError as exc:
            if not transient(exc):
                raise
            log.warning(
                "host %s could not join (%s); trying again in %.0fs", driver.host, exc, wait
            )
        await asyncio.sleep(wait)
        wait = min(2 * wait, JOIN_RETRY_MAX_SECONDS)


async def join_all(
    conductor: ConductorClient, drivers: list[LibvirtDriver], capacities: dict[str, HostCapacity]
) -> None:
    """Every host joins, a few at a time; their guests are listed once for all of them,
    before any is restored (a shared connection lists every host's)."""
    listed = await asyncio.to_thread(guests_by_host, drivers[0].conn, drivers[0].deployment)
    shared = all(d.conn is drivers[0].conn for d in drivers)
    gate = asyncio.Semaphore(JOIN_CONCURRENCY)

    async def one(driver: LibvirtDriver) -> None:
        async with gate:
            guests = listed.get(driver.host, []) if shared else None
            await join(conductor, driver, capacities[driver.host], guests)

    await asyncio.gather(*(one(d) for d in drivers))


def clean(cache: ImageCache, drivers: list[LibvirtDriver], max_unused: float) -> list[str]:
    """Remove the cached images no instance of the process's hosts uses, unused for
    ``max_unused`` seconds; their names."""
    used: set[Path] = set().union(*(d.bases_in_use() for d in drivers))
    return cache.cleanup(used, max_unused)


async def clean_image_cache(
    cache: ImageCache, drivers: list[LibvirtDriver], settings: HostOptions
) -> None:
    """Remove cached images no instance of the process's hosts has used for a while (Nova's
    image cache manager), every ``image_cache_interval_seconds``."""
    while True:
        await asyncio.sleep(settings.image_cache_interval_seconds)
        try:
            removed = await asyncio.to_thread(
                clean, cache, drivers, settings.image_cache_max_unused_seconds
            )
        except Exception:
            log.exception("cleaning the image cache %s failed", cache.base_dir)
            continue
        if removed:
            log.info("image cache %s: removed unused %s", cache.base_dir, ", ".join(removed))


async def heartbeats(
    conductor: ConductorClient, capacities: dict[str, HostCapacity], every: float
) -> None:
    """Every ``every`` seconds, one heartbeat for all of this process's hosts; a host the
    control plane has no row of is reported again. A failure waits for the next period."""
    while True:
        await asyncio.sleep(every)
        try:
            unknown = await asyncio.to_thread(conductor.heartbeat, list(capacities))
            for host in unknown:
                log.warning("host %s is unknown to the control plane: reporting it again", host)
                await asyncio.to_thread(conductor.report, host, capacities[host])
        except Exception as exc:
            hosts = ", ".join(capacities)
            # An outage in a line; anything else with its traceback.
            log.warning(
                "heartbeat of %s failed (%s); retrying in %.0fs",
                hosts,
                exc,
                every,
                exc_info=not transient(exc),
            )


def fleet_tuning(settings: WorkerOptions, executor: Executor) -> dict[str, Any]:
    """The Worker arguments of a fleet's hosts: one thread pool for the process, and few
    pollers a host (each poller is a long poll the server holds open)."""
    polls = PollerBehaviorSimpleMaximum(settings.fleet_activity_task_polls)
    return {"activity_executor": executor, "activity_task_poller_behavior": polls}


def drivers_for(settings: Settings, hosts: Sequence[str]) -> list[LibvirtDriver]:
    """A driver per host; a fleet's share one connection (its simulated hypervisor)."""
    shared = libvirt.open(settings.libvirt_uri) if len(hosts) > 1 else None
    return [
        LibvirtDriver(
            settings.libvirt_uri,
            host,
            settings.host_dir(host),
            settings.deployment_id,
            settings.libvirt_virt_type,
            conn=shared,
        )
        for host in hosts
    ]


async def main(settings: Settings, hosts: Sequence[str]) -> None:
    """Serve ``hosts``: one (a real host, the production shape) or a fleet of simulated
    ones. Each host has its own task queue, Worker, row and heartbeat and runs the same
    steps; the process shares one Temporal client, libvirt connection, image cache,
    heartbeat call and reaper among them."""
    setup_logging()
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(DEFAULT_THREADS))
    drivers = drivers_for(settings, hosts)
    service = service_session(settings, http_client(settings))
    conductor = ConductorClient(service)
    capacities = {d.host: resource_tracker.capacity(d.resources(), settings) for d in drivers}
    await join_all(conductor, drivers, capacities)
    client = await connect(settings)
    cache = image_cache(settings, hosts)
    tuning: dict[str, Any] = {}
    if len(drivers) > 1:
        executor = ThreadPoolExecutor(settings.worker_activity_threads, "activity")
        tuning = fleet_tuning(settings, executor)
    workers = [
        new_worker(
            client,
            settings,
            conductor,
            d.host,
            build_activities(settings, cache, d, service),
            **tuning,
        )
        for d in drivers
    ]
    beat = asyncio.create_task(heartbeats(conductor, capacities, settings.heartbeat_seconds))
    cleaner = asyncio.create_task(clean_image_cache(cache, drivers, settings))
    network = NetworkClient(service)
    reaper = asyncio.create_task(
        reap_periodically(conductor, drivers, network, settings.reap_interval_seconds)
    )
    await run_until_signalled(workers, beat, cleaner, reaper)
    for driver in drivers:
        driver.close()
    if len(drivers) > 1:
        drivers[0].conn.close()  # the shared one, which no driver owns


def run(settings: Settings, hosts: Sequence[str]) -> None:
    run_main(main(settings, hosts))
