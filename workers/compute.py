"""A compute host's worker: the host-bound activities, on the host's own task queue.

    bootflow run compute-worker --host node1     (started by `bootflow up`, one per host)

It holds the host's one libvirt connection, reports the host's capacity into
``compute_nodes`` on start and heartbeats it, restarts the guests it should be running
when its hypervisor kept none (the test driver forgets everything when the process ends),
and reaps what it holds for instances that should have nothing here (workers.reaper).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import libvirt

from activities.images import ImageActivities
from activities.ports import PortActivities
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
from compute.driver import LibvirtDriver
from compute.image_cache import ImageCache
from core.conductor import HostCapacity
from core.config import HostOptions, PathOptions, Settings
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
    return [
        ports.allocate_port,
        volumes.create_volume,
        volumes.attach_volume,
        images.fetch_image,
        spawn.spawn,
        spawn.destroy_guest,
        spawn.list_domains,
        spawn.get_console_output,
    ]


def image_cache(settings: PathOptions, host: str) -> ImageCache:
    return ImageCache(settings.host_dir(host) / "_base")


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


def start_host(conductor: ConductorClient, driver: LibvirtDriver, capacity: HostCapacity) -> None:
    """Report the host, reap what it should not hold, restart the guests it should run."""
    conductor.report(driver.host, capacity)
    reaped = reap_guests(conductor, driver)
    restored = restore_guests(conductor, driver)
    log.info(
        "host %s on %s: %d guests restored, %d reaped", driver.host, driver.uri, restored, reaped
    )


async def join(conductor: ConductorClient, driver: LibvirtDriver, capacity: HostCapacity) -> None:
    """``start_host``, tried again with backoff while the control plane (the compute API,
    or identity for the service account's token) is down; a refusal is raised."""
    wait = JOIN_RETRY_SECONDS
    while True:
        try:
            await asyncio.to_thread(start_host, conductor, driver, capacity)
            return
        except ClientError as exc:
            if not transient(exc):
                raise
            log.warning(
                "host %s could not join (%s); trying again in %.0fs", driver.host, exc, wait
            )
        await asyncio.sleep(wait)
        wait = min(2 * wait, JOIN_RETRY_MAX_SECONDS)


async def clean_image_cache(
    cache: ImageCache, driver: LibvirtDriver, settings: HostOptions
) -> None:
    """Remove cached images no instance has used for a while (Nova's image cache
    manager), every ``image_cache_interval_seconds``."""
    while True:
        await asyncio.sleep(settings.image_cache_interval_seconds)
        try:
            removed = await asyncio.to_thread(
                cache.cleanup, driver.bases_in_use(), settings.image_cache_max_unused_seconds
            )
        except Exception:
            log.exception("cleaning the image cache of %s failed", driver.host)
            continue
        if removed:
            log.info("image cache of %s: removed unused %s", driver.host, ", ".join(removed))


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


async def main(settings: Settings, host: str) -> None:
    setup_logging()
    driver = LibvirtDriver(
        settings.libvirt_uri,
        host,
        settings.host_dir(host),
        settings.deployment_id,
        settings.libvirt_virt_type,
    )
    service = service_session(settings, http_client(settings))
    conductor = ConductorClient(service)
    capacity = resource_tracker.capacity(driver.resources(), settings)
    await join(conductor, driver, capacity)
    client = await connect(settings)
    cache = image_cache(settings, host)
    worker = new_worker(
        client, settings, conductor, host, build_activities(settings, cache, driver, service)
    )
    beat = asyncio.create_task(heartbeats(conductor, {host: capacity}, settings.heartbeat_seconds))
    cleaner = asyncio.create_task(clean_image_cache(cache, driver, settings))
    reaper = asyncio.create_task(
        reap_periodically(conductor, driver, NetworkClient(service), settings.reap_interval_seconds)
    )
    await run_until_signalled(worker, beat, cleaner, reaper)
    driver.close()


def run(settings: Settings, host: str) -> None:
    run_main(main(settings, host))
