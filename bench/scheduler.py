"""Scheduler benchmark: select + claim latency at 100, 1,000 and 10,000 hosts, and claims
per second under 20 concurrent callers, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.scheduler [--quick]

Each select reads at most ``scheduler_max_candidates`` rows (resource, enabled/up and zone
filters in SQL). The same run times a baseline that reads every host into Python and
filters there, so the choice is defended by the ratio between them on this machine.
Writes bench/results/scheduler-<date>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select

from core.config import DEFAULT_SCHEDULER_FILTERS
from db.base import utcnow
from db.migrate import upgrade
from db.models.compute import Claim, ComputeNode
from db.session import SessionFactory, make_engine, make_session_factory
from scheduler import claims
from scheduler.filters import build_filters, run_filters
from scheduler.host_state import HostState, RequestSpec
from scheduler.manager import SchedulerConfig, select_hosts
from tests.support.postgres import create_database, throwaway_cluster

RESULTS = Path(__file__).parent / "results"
FILTERS = list(DEFAULT_SCHEDULER_FILTERS)
CONFIG = SchedulerConfig(filters=FILTERS, service_down=timedelta(seconds=60))


def populate(sessions: SessionFactory, hosts: int) -> None:
    now = utcnow()
    rows = [
        {
            "host": f"host{i:05d}",
            "hypervisor_type": "QEMU",
            "hypervisor_hostname": f"host{i}",
            "cpu_arch": "x86_64",
            "availability_zone": "nova",
            "vcpus": 64,
            "memory_mb": 256 * 1024,
            "local_gb": 4000,
            "vcpus_used": 0,
            "memory_mb_used": random.randrange(0, 128 * 1024, 512),
            "local_gb_used": 0,
            "running_vms": 0,
            "cpu_allocation_ratio": 4.0,
            "ram_allocation_ratio": 1.0,
            "disk_allocation_ratio": 1.0,
            "disabled": False,
            "failed_builds": 0,
            "heartbeat_at": now,
            "created_at": now,
        }
        for i in range(hosts)
    ]
    with sessions.begin() as s:
        s.execute(delete(Claim))
        s.execute(delete(ComputeNode))
        for start in range(0, len(rows), 1000):
            s.execute(insert(ComputeNode), rows[start : start + 1000])


def scheduled_claim(sessions: SessionFactory, n: int, rng: random.Random) -> None:
    spec = RequestSpec(f"bench-{n}-{rng.random()}", vcpus=1, memory_mb=512, root_gb=1)
    with sessions.begin() as s:
        selection = select_hosts(s, spec, CONFIG, utcnow(), rng)
    for host in selection.hosts:
        with sessions.begin() as s:
            if claims.claim(s, spec, host.host):
                return
    raise RuntimeError("no host claimed")


def full_scan_select(sessions: SessionFactory, n: int, rng: random.Random) -> None:
    """The baseline: every host read into Python, filtered and sorted there."""
    spec = RequestSpec(f"scan-{n}", vcpus=1, memory_mb=512, root_gb=1)
    filters = build_filters(FILTERS, utcnow(), CONFIG.service_down)
    with sessions.begin() as s:
        hosts = [HostState.from_node(node) for node in s.scalars(select(ComputeNode))]
    passed, _ = run_filters(hosts, spec, filters)
    passed.sort(key=lambda h: -h.free_ram_mb)


def timed(
    fn: Callable[[SessionFactory, int, random.Random], None], sessions: SessionFactory, count: int
) -> dict[str, float]:
    rng = random.Random(1)
    samples = []
    for n in range(count):
        start = time.perf_counter()
        fn(sessions, n, rng)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 2),
        "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 2),
        "n": count,
    }


def concurrent_claims(sessions: SessionFactory, callers: int, seconds: float) -> float:
    done = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def caller(index: int) -> None:
        nonlocal done
        rng = random.Random(index)
        n = 0
        while time.monotonic() < stop:
            scheduled_claim(sessions, index * 1_000_000 + n, rng)
            n += 1
            with lock:
                done += 1

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(callers)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return round(done / (time.monotonic() - start), 1)


@contextmanager
def database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/bench.db"
        return
    with throwaway_cluster() as admin:
        yield create_database(admin, "bench_scheduler")


def run(quick: bool) -> dict[str, Any]:
    sizes = [100, 1000] if quick else [100, 1000, 10_000]
    count, baseline_count, seconds = (50, 10, 3.0) if quick else (200, 30, 10.0)
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "max_candidates": CONFIG.max_candidates,
        "backends": {},
    }
    for kind in ("sqlite", "postgresql"):
        with database(kind) as url:
            upgrade(url)
            engine = make_engine(url, pool_size=25)
            sessions = make_session_factory(engine)
            per_size = {}
            for size in sizes:
                populate(sessions, size)
                select_claim = timed(scheduled_claim, sessions, count)
                scan = timed(full_scan_select, sessions, baseline_count)
                populate(sessions, size)
                per_size[str(size)] = {
                    "select_and_claim": select_claim,
                    "full_scan_select_baseline": scan,
                    "baseline_over_select_p50": round(scan["p50_ms"] / select_claim["p50_ms"], 1),
                    "claims_per_second_20_callers": concurrent_claims(sessions, 20, seconds),
                }
                print(
                    f"{kind:10} {size:6} hosts: select+claim p50 "
                    f"{select_claim['p50_ms']:7.2f} ms p99 {select_claim['p99_ms']:7.2f} ms | "
                    f"full scan p50 {scan['p50_ms']:8.2f} ms | "
                    f"{per_size[str(size)]['claims_per_second_20_callers']:6.1f} claims/s"
                )
            results["backends"][kind] = per_size
            engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    results = run(args.quick)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"scheduler-{datetime.now(UTC):%Y-%m-%d}.json"
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
