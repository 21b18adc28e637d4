"""Weighers, as Nova's: each scores hosts, normalized to 0..1, times its multiplier."""

from __future__ import annotations

from scheduler.host_state import HostState


class RAMWeigher:
    """More free RAM first (a positive multiplier spreads, a negative one stacks)."""

    def __init__(self, multiplier: float = 1.0) -> None:
        self.multiplier = multiplier

    def value(self, host: HostState) -> float:
        return host.free_ram_mb


def weigh(hosts: list[HostState], weighers: list[RAMWeigher]) -> list[HostState]:
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
