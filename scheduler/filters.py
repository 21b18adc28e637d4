"""Host filters with Nova's names and meanings; each removes hosts that can't take a request.

The resource filters (Core/Ram/Disk) do what Placement does for Nova since Train: compare
the request with what is free after allocation ratios. They answer from the last-read
usage; the claim (scheduler.claims) makes the final, atomic decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from scheduler.host_state import HostState, RequestSpec


class HostFilter:
    name: str = "HostFilter"

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        raise NotImplementedError


@dataclass
class ComputeFilter(HostFilter):
    """Enabled hosts whose worker heartbeated within the service-down time."""

    now: datetime
    service_down: timedelta
    name = "ComputeFilter"

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        return not host.disabled and self.now - host.heartbeat_at <= self.service_down


class CoreFilter(HostFilter):
    name = "CoreFilter"

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        return host.free_vcpus >= spec.vcpus


class RamFilter(HostFilter):
    name = "RamFilter"

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        return host.free_ram_mb >= spec.memory_mb


class DiskFilter(HostFilter):
    name = "DiskFilter"

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        return host.free_disk_gb >= spec.root_gb


class AvailabilityZoneFilter(HostFilter):
    name = "AvailabilityZoneFilter"

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        return spec.availability_zone in (None, "", host.availability_zone)


# libvirt's getType() names and Nova's hypervisor_type image property, compared lower-case.
_HYPERVISOR_ALIASES = {"qemu": {"qemu", "kvm"}, "kvm": {"kvm", "qemu"}, "test": {"test"}}


class ImagePropertiesFilter(HostFilter):
    """The image's hw_architecture and hypervisor_type, if it names them, match the host's."""

    name = "ImagePropertiesFilter"

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        arch = spec.image_properties.get("hw_architecture") or spec.image_properties.get(
            "architecture"
        )
        if arch and arch.lower() != host.cpu_arch.lower():
            return False
        wanted = spec.image_properties.get("hypervisor_type") or spec.image_properties.get(
            "img_hv_type"
        )
        if wanted:
            have = host.hypervisor_type.lower()
            return wanted.lower() in _HYPERVISOR_ALIASES.get(have, {have})
        return True


class ServerGroupAffinityFilter(HostFilter):
    """An affinity group's members all land on one host (the first member's)."""

    name = "ServerGroupAffinityFilter"

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        if spec.group_policy != "affinity" or not spec.group_hosts:
            return True
        return host.host in spec.group_hosts


class ServerGroupAntiAffinityFilter(HostFilter):
    """An anti-affinity group's members each land on a host of their own."""

    name = "ServerGroupAntiAffinityFilter"

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        return spec.group_policy != "anti-affinity" or host.host not in spec.group_hosts


class SameHostFilter(HostFilter):
    name = "SameHostFilter"

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        return not spec.same_host or host.host in spec.same_host


class DifferentHostFilter(HostFilter):
    name = "DifferentHostFilter"

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        return host.host not in spec.different_host


ALL_FILTERS: dict[str, type[HostFilter]] = {
    cls.name: cls
    for cls in (
        ComputeFilter,
        AvailabilityZoneFilter,
        CoreFilter,
        RamFilter,
        DiskFilter,
        ImagePropertiesFilter,
        ServerGroupAffinityFilter,
        ServerGroupAntiAffinityFilter,
        SameHostFilter,
        DifferentHostFilter,
    )
}


def build_filters(names: list[str], now: datetime, service_down: timedelta) -> list[HostFilter]:
    """The enabled filters, in the configured order; an unknown name is a config error."""
    unknown = [n for n in names if n not in ALL_FILTERS]
    if unknown:
        raise ValueError(f"unknown scheduler filters {unknown}; known: {sorted(ALL_FILTERS)}")
    return [
        ComputeFilter(now, service_down) if n == ComputeFilter.name else ALL_FILTERS[n]()
        for n in names
    ]


@dataclass
class FilterReport:
    """How many hosts there were and how many each filter removed, for NoValidHost faults."""

    hosts: int
    removed: dict[str, int]

    def explain(self) -> str:
        if self.hosts == 0:
            return "No valid host was found. There are no compute hosts."
        removed = ", ".join(f"{name} removed {n}" for name, n in self.removed.items() if n)
        plural = "host" if self.hosts == 1 else "hosts"
        return f"No valid host was found. {self.hosts} {plural}; {removed or 'none removed'}."


def run_filters(
    hosts: list[HostState], spec: RequestSpec, filters: list[HostFilter]
) -> tuple[list[HostState], FilterReport]:
    report = FilterReport(hosts=len(hosts), removed={f.name: 0 for f in filters})
    remaining = hosts
    for host_filter in filters:
        passed = [h for h in remaining if host_filter.host_passes(h, spec)]
        report.removed[host_filter.name] += len(remaining) - len(passed)
        remaining = passed
    return remaining, report
