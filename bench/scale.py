"""Scale benchmark: the same stack at 10, 100 and 1,000 fake hosts, in one run.

    make bench-scale    (or: .venv/bin/python -m bench.scale [--hosts 10 100 1000]
                         [--times 100] [--concurrency 50] [--boots 100])

For each host count, on a fresh stack (`bootflow up --hosts N --hypervisor fake`, hosts
served many to a process):
1. idle: every process's CPU and RSS over 30 s with nothing to do, after ``--idle-settle``
   seconds (as ``make bench-fleet``: the hosts' first polls and reports are the start's cost);
2. the floor (bench/floor.py: as many do-nothing activities as a boot runs) and bootflow's
   boots, each alone (p50 of 10 sequential, the server's start-to-close) and ``--boots`` at
   once (throughput), as ``make bench`` measures them;
3. Rally's ``NovaServers.boot_server`` and ``boot_and_delete_server`` at ``--concurrency``
   through the compute API, polled every 2 s (bench/rally.py): median, p95, per second;
4. the scheduler's select+claim p50/p99 over that many hosts (bench/scheduler.py's
   measurement, on a database of its own).
Writes bench/results/scale-<date>.json and prints the table docs/performance.md quotes;
the goals are ratios within the run (1,000 hosts against 10, bootflow against the floor).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import platform
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import fleet as fleet_bench
from bench import rally
from bench import scheduler as scheduler_bench
from bench.boot import (
    SETTLE_SECONDS,
    STACK_ENV,
    Boots,
    Floor,
    alone,
    concurrent_boots,
    concurrent_floor,
)
from core.config import SchedulerOptions
from core.temporal import connect
from db.migrate import upgrade
from db.session import make_engine, make_session_factory
from tests.support.stack import RunningStack, running_stack, stack_settings

RESULTS = Path(__file__).parent / "results"
IDLE_SECONDS = 30.0
IDLE_SETTLE_SECONDS = 20.0


def idle(
    stack: RunningStack, seconds: float = IDLE_SECONDS, settle: float = IDLE_SETTLE_SECONDS
) -> dict[str, Any]:
    """The whole stack's CPU (% of one core) and RSS while nothing is asked of it, once the
    start's work (first polls, host reports) is over."""
    time.sleep(settle)
    processes = fleet_bench.measure_idle(stack, seconds)
    return fleet_bench.summarize(processes) | {"processes": processes, "settle_seconds": settle}


def scheduler_latency(hosts: int, count: int = 200) -> dict[str, float]:
    """select+claim with every filter on, Nova's spreading weighers, over ``hosts`` hosts."""
    with scheduler_bench.database("sqlite") as url:
        upgrade(url)
        engine = make_engine(url, pool_size=5)
        try:
            sessions = make_session_factory(engine)
            scheduler_bench.populate(sessions, hosts)
            return scheduler_bench.timed(sessions, SchedulerOptions(), hosts, count)
        finally:
            engine.dispose()


async def rally_scenario(
    stack: RunningStack, boots: Boots, args: argparse.Namespace, round_index: int, delete: bool
) -> dict[str, Any]:
    """Rally's boot_server (boot_and_delete_server with ``delete``) on a network of its own,
    after the settle."""
    boots.use_new_network(round_index)
    await asyncio.sleep(args.settle)
    server = rally.Server(flavor="1", image=boots.image, network=boots.network)
    prefix = "rally-bootdel" if delete else "rally-boot"
    runner = rally.Runner(rally.users(stack.demo, args.users), server, prefix=prefix)
    iteration = functools.partial(runner.iterate, delete)
    done, load = await asyncio.to_thread(rally.constant, iteration, args.times, args.concurrency)
    return rally.report(done, load)


async def at_size(stack: RunningStack, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {
        "idle": await asyncio.to_thread(idle, stack, IDLE_SECONDS, args.idle_settle)
    }
    client = await connect(stack.settings)
    floor, boots = Floor(client), Boots(stack, client)
    boots.use_new_network(0)
    both = await alone(floor.one, boots.one)
    out["floor_alone"], out["boot_alone"] = both["floor"], both["bootflow"]
    await asyncio.sleep(args.settle)
    out["floor_concurrent"], _ = await concurrent_floor(floor, args.boots)
    await asyncio.sleep(args.settle)
    out["boot_concurrent"], _ = await concurrent_boots(boots, args.boots)
    out["rally_boot_server"] = await rally_scenario(stack, boots, args, 1, delete=False)
    out["rally_boot_and_delete_server"] = await rally_scenario(stack, boots, args, 2, delete=True)
    out["ratios"] = {
        "boot_throughput_over_floor": round(
            out["boot_concurrent"]["per_second"] / out["floor_concurrent"]["per_second"], 3
        ),
        "boot_alone_over_floor": round(
            out["boot_alone"]["p50_ms"] / out["floor_alone"]["p50_ms"], 3
        ),
    }
    return out


def run_size(hosts: int, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        settings = stack_settings(data_dir, f"sqlite:///{data_dir / 'bootflow.db'}")
        started = time.monotonic()
        with running_stack(
            settings, hosts=hosts, env=STACK_ENV, hosts_per_process=args.hosts_per_process
        ) as stack:
            up_s = round(time.monotonic() - started, 1)
            print(f"{hosts} hosts up in {up_s} s", flush=True)
            result = asyncio.run(at_size(stack, args))
    result["up_seconds"] = up_s
    result["scheduler_select_and_claim"] = scheduler_latency(hosts)
    return result


def across(sizes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The issue's goals as ratios: the largest size against the smallest."""
    small, large = sizes[min(sizes, key=int)], sizes[max(sizes, key=int)]
    key = "rally_boot_and_delete_server"
    return {
        "boot_and_delete_per_second_largest_over_smallest": round(
            large[key]["per_second"] / small[key]["per_second"], 3
        ),
        "largest_idle_rss_mib": large["idle"]["stack_rss_mib"],
        "largest_idle_cpu_percent": large["idle"]["stack_cpu_percent"],
    }


def table(sizes: dict[str, dict[str, Any]]) -> str:
    head = (
        "hosts | up s | idle CPU % | idle RSS MiB | boot+delete /s | boot med s | boot p95 s "
        "| delete med s | boots/s (floor) | alone ms (floor) | sched p50/p99 ms"
    )
    rows = [head, "|".join("---" for _ in head.split("|"))]
    for hosts, r in sizes.items():
        bd = r["rally_boot_and_delete_server"]
        boot, delete = bd.get("nova.boot_server", {}), bd.get("nova.delete_server", {})
        sched = r["scheduler_select_and_claim"]
        rows.append(
            f"{hosts} | {r['up_seconds']} | {r['idle']['stack_cpu_percent']} "
            f"| {r['idle']['stack_rss_mib']} | {bd['per_second']} | {boot.get('median')} "
            f"| {boot.get('95%ile')} | {delete.get('median')} "
            f"| {r['boot_concurrent']['per_second']} ({r['floor_concurrent']['per_second']}) "
            f"| {r['boot_alone']['p50_ms']} ({r['floor_alone']['p50_ms']}) "
            f"| {sched['p50_ms']}/{sched['p99_ms']}"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--times", type=int, default=100, help="Rally iterations per scenario")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--boots", type=int, default=100, help="boots (and floors) at once")
    parser.add_argument("--hosts-per-process", type=int, default=250)
    parser.add_argument(
        "--users",
        type=int,
        default=1,
        help="Rally users (each logs in once; Rally's users context: 1 tenant of 1 user)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=SETTLE_SECONDS,
        help="seconds before each concurrent phase, for the server's timers (bench/boot.py)",
    )
    parser.add_argument(
        "--idle-settle",
        type=float,
        default=IDLE_SETTLE_SECONDS,
        help="seconds between the stack's start and the idle measurement",
    )
    args = parser.parse_args()
    random.seed(0)
    sizes = {str(n): run_size(n, args) for n in args.hosts}
    results = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_end": os.getloadavg(),
        },
        "arguments": vars(args),
        "sizes": sizes,
        "goals": across(sizes),
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"scale-{datetime.now(UTC):%Y-%m-%d}.json"
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(table(sizes))
    print(json.dumps(results["goals"]))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
