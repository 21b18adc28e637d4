"""Host filters with Nova's names and meanings; each removes hosts that can't take a request.

The resource filters (Core/Ram/Disk) do what Placement does for Nova since Train: compare
the request with what is free after allocation ratios. They answer from the last-read
usage; the claim (scheduler.claims) is what makes the final, atomic decision.
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
