"""Weighers, as Nova's: each scores hosts, normalized to 0..1 across the candidates, times
its multiplier; the sums order the hosts, best first."""

from __future__ import annotations

from dataclasses import dataclass

from scheduler.host_state import HostState


@dataclass
class Weigher:
    multiplier: float = 1.0

    def value(self, host: HostState) -> float:
        raise NotImplementedError


class RAMWeigher(Weigher):
    """More free RAM first (a positive multiplier spreads, a negative one stacks)."""

    def value(self, host: HostState) -> float:
        return host.free_ram_mb


class CPUWeigher(Weigher):
    def value(self, host: HostState) -> float:
        return host.free_vcpus


class DiskWeigher(Weigher):
    def value(self, host: HostState) -> float:
        return host.free_disk_gb


class BuildFailureWeigher(Weigher):
    """Hosts where builds failed lately go last (Nova's multiplier is 1,000,000, so it
    outweighs everything else), until a build succeeds there again."""

    def value(self, host: HostState) -> float:
        return -float(host.failed_builds)


def weigh(hosts: list[HostState], weighers: list[Weigher]) -> list[HostState]:
    """Hosts best first; ties broken by host name so the order is stable."""
    scores = {h.host: 0.0 for h in hosts}
    for weigher in weighers:
        values = [weigher.value(h) for h in hosts]
        low, high = min(values, default=0.0), max(values, default=0.0)
        span = high - low
        for host, value in zip(hosts, values, strict=True):
            normalized = (value - low) / span if span else 0.0
            scores[host.host] += weigher.multiplier * normalized
    return sorted(hosts, key=lambda h: (-scores[h.host], h.host))
