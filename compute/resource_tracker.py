"""What a host reports of itself, as Nova's resource tracker: libvirt's numbers unless the
settings override them, its availability zone and allocation ratios. The host's worker sends
it through the conductor API (clients/conductor.py), which keeps the ``compute_nodes`` row."""

from __future__ import annotations

from datetime import UTC, datetime

import psutil

from compute.driver import HostResources
from core.conductor import HostCapacity
from core.config import HostOptions


def capacity(found: HostResources, settings: HostOptions) -> HostCapacity:
    return HostCapacity(
        hypervisor_type=found.hypervisor_type,
        hypervisor_hostname=found.hypervisor_hostname,
        cpu_arch=found.cpu_arch,
        availability_zone=settings.availability_zone,
        vcpus=settings.host_vcpus or found.vcpus,
        memory_mb=settings.host_memory_mb or found.memory_mb,
        local_gb=settings.host_disk_gb or found.disk_gb,
        cpu_allocation_ratio=settings.cpu_allocation_ratio,
        ram_allocation_ratio=settings.ram_allocation_ratio,
        disk_allocation_ratio=settings.disk_allocation_ratio,
        # Every host a worker runs is on the machine it runs on (a fleet's simulated ones
        # too), so the machine's boot is each host's.
        booted_at=datetime.fromtimestamp(psutil.boot_time(), UTC),
    )
