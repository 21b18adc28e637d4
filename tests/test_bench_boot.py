"""bench/boot.py's arithmetic: what the throughput ratio could be with floor-cost workers."""

from __future__ import annotations

import pytest

from bench.boot import cpu_bound


def _cpu(workers: float, services: float, temporal: float, client: float) -> dict[str, object]:
    return {
        "workers": workers,
        "services": services,
        "temporal": temporal,
        "by_process": {"bench_client": client},
    }


def test_the_bound_swaps_in_the_floors_workers_and_keeps_the_rest() -> None:
    floor = _cpu(0.05, 0.0, 0.10, 0.0)
    # The same CPU as the floor's apart from the workers: the bound is x1.
    assert cpu_bound({"floor": floor, "bootflow": _cpu(0.5, 0.0, 0.10, 0.0)}) == 1.0
    # The services' 0.05 s a boot alone caps it at 0.15 / 0.20.
    bootflow = _cpu(0.12, 0.05, 0.10, 0.0)
    assert cpu_bound({"floor": floor, "bootflow": bootflow}) == pytest.approx(0.75)
