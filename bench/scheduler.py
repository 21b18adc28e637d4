"""Scheduler benchmark: select + claim latency at 1,000 and 10,000 hosts with every filter
enabled and active, weighing for spreading (Nova's defaults) and for packing (a negative RAM
multiplier); and claims per second under 20 concurrent callers; on SQLite and PostgreSQL.

    .venv/bin/python -m bench.scheduler [--quick] [--sizes 1000,10000] [--backends sqlite]
                                        [--count 300] [--seconds 10] [--label before]

Each select filters and weighs every host in one statement (scheduler.manager) and returns the
best few. Writes bench/results/scheduler-<date>.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, text

from core.config import DEFAULT_SCHEDULER_FILTERS, SchedulerOptions
from db.base import utcnow
from db.migrate import upgrade
from db.models.compute import Claim, ComputeNode
from db.session import SessionFactory, make_engine, make_session_factory
from scheduler import claims
from scheduler.host_state import RequestSpec
from scheduler.manager import select_hosts
from tests.support.postgres import create_database, throwaway_cluster

RESULTS = Path(__file__).parent / "results"
FILTERS = list(DEFAULT_SCHEDULER_FILTERS)
CONFIGS = {
    "spread": SchedulerOptions(),
    "pack": SchedulerOptions(ram_weight_multiplier=-1.0),
}


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
    engine = sessions.kw["bind"]
    if engine.dialect.name == "postgresql":
        # The rows deleted above would be scanned until autovacuum came by, at a moment no
        # run controls; a fleet's table is not rewritten whole.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE compute_nodes"))


def request(n: int, rng: random.Random, hosts: int) -> RequestSpec:
    """A request every filter has something to say about: a zone, an image that names its
    architecture and hypervisor, an anti-affinity group and different_host hints."""
    # 15 hosts to avoid (10 in the group, 5 named), or half of a small fleet.
    avoided = min(15, hosts // 2)
    names = [f"host{i:05d}" for i in rng.sample(range(hosts), avoided)]
    in_group = avoided * 2 // 3
    return RequestSpec(
        f"bench-{n}-{rng.random()}",
        vcpus=1,
        memory_mb=512,
        root_gb=1,
        availability_zone="nova",
        image_properties={"hw_architecture": "x86_64", "hypervisor_type": "kvm"},
        group_policy="anti-affinity",
        group_hosts=frozenset(names[:in_group]),
        different_host=frozenset(names[in_group:]),
    )


def scheduled_claim(
    sessions: SessionFactory, config: SchedulerOptions, spec: RequestSpec, rng: random.Random
) -> float:
    """Select, then claim the first host that takes it; the select's CPU time in ms (this
    thread's: all of it on SQLite, only the client's side on PostgreSQL)."""
    cpu = time.thread_time()
    with sessions.begin() as s:
        selection = select_hosts(s, spec, config, utcnow(), rng)
    cpu = time.thread_time() - cpu
    for host in selection.hosts:
        with sessions.begin() as s:
            if claims.claim(s, spec, host):
                return cpu * 1000
    raise RuntimeError("no host claimed")


def timed(
    sessions: SessionFactory, config: SchedulerOptions, hosts: int, count: int
) -> dict[str, float]:
    rng = random.Random(1)
    samples, cpu = [], []
    # As the control worker after its start (workers/common.py): what exists now lives on,
    # so the collector's full passes do not walk it during the timed requests.
    gc.collect()
    gc.freeze()
    for n in range(count):
        spec = request(n, rng, hosts)
        start = time.perf_counter()
        cpu.append(scheduled_claim(sessions, config, spec, rng))
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 2),
        "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 2),
        "select_cpu_p50_ms": round(statistics.median(cpu), 2),
        "n": count,
    }


def concurrent_claims(
    sessions: SessionFactory, config: SchedulerOptions, hosts: int, callers: int, seconds: float
) -> float:
    done = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def caller(index: int) -> None:
        nonlocal done
        rng = random.Random(index)
        n = 0
        while time.monotonic() < stop:
            scheduled_claim(sessions, config, request(index * 1_000_000 + n, rng, hosts), rng)
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


def run(
    sizes: list[int], backends: list[str], count: int, seconds: float, label: str
) -> dict[str, Any]:
    results: dict[str, Any] = {
        "label": label,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        # Other work on the machine shows in the latencies: the 1-minute load at the start.
        "load_average": round(os.getloadavg()[0], 1),
        "filters": FILTERS,
        "backends": {},
    }
    for kind in backends:
        with database(kind) as url:
            upgrade(url)
            engine = make_engine(url, pool_size=25)
            sessions = make_session_factory(engine)
            results["backends"][kind] = {
                str(size): {
                    name: measure(sessions, kind, size, name, config, count, seconds)
                    for name, config in CONFIGS.items()
                }
                for size in sizes
            }
            engine.dispose()
    return results


def measure(
    sessions: SessionFactory,
    kind: str,
    size: int,
    name: str,
    config: SchedulerOptions,
    count: int,
    seconds: float,
) -> dict[str, Any]:
    populate(sessions, size)
    select_claim = timed(sessions, config, size, count)
    populate(sessions, size)
    per_second = concurrent_claims(sessions, config, size, 20, seconds)
    print(
        f"{kind:10} {size:6} hosts {name:6}: select+claim p50 {select_claim['p50_ms']:7.2f} ms "
        f"p99 {select_claim['p99_ms']:7.2f} ms (select CPU {select_claim['select_cpu_p50_ms']:6.2f}"
        f" ms) | {per_second:6.1f} claims/s (20 callers)"
    )
    return {"select_and_claim": select_claim, "claims_per_second_20_callers": per_second}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 hosts, 50 requests, 3 s")
    parser.add_argument("--sizes", help="host counts, comma-separated (1000,10000)")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated")
    parser.add_argument("--count", type=int, help="timed requests per case (300)")
    parser.add_argument("--seconds", type=float, help="concurrent callers' run (10)")
    parser.add_argument("--label", default="", help="added to the result file's name")
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")] if args.sizes else None
    results = run(
        sizes or ([1000] if args.quick else [1000, 10_000]),
        args.backends.split(","),
        args.count or (50 if args.quick else 300),
        args.seconds or (3.0 if args.quick else 10.0),
        args.label,
    )
    RESULTS.mkdir(exist_ok=True)
    suffix = f"-{args.label}" if args.label else ""
    out = RESULTS / f"scheduler-{datetime.now(UTC):%Y-%m-%d}{suffix}.json"
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
