"""Fleet benchmark: what N idle simulated hosts cost (`bootflow up --hypervisor fake`).

    make bench-fleet   (or: .venv/bin/python -m bench.fleet [--hosts 1000]
                        [--hosts-per-process 250] [--seconds 30] [--settle 20] [--tag x])

Starts the embedded stack with N fake hosts in fleet processes (on SQLite, free ports, a
temp data dir) and measures how long it took to be ready (every host reported and its
fleet polling), then, after ``--settle`` seconds, every process's CPU over ``--seconds``
(as % of one core) and its RSS at the end: each fleet process, the Temporal dev server,
the compute API (which takes the heartbeats) and the whole stack. Prints a table and writes
bench/results/fleet-<date>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import select

from bootflow.stack import fleets
from core import task_queues
from core.temporal import has_pollers
from db.models.compute import ComputeNode
from tests.support.stack import RunningStack, running_stack, stack_settings

RESULTS = Path(__file__).parent / "results"
MIB = 1 << 20


def _cpu_seconds(procs: dict[str, psutil.Process]) -> dict[str, float]:
    out = {}
    for name, proc in procs.items():
        times = proc.cpu_times()
        out[name] = times.user + times.system
    return out


def measure_idle(stack: RunningStack, seconds: float) -> dict[str, dict[str, float]]:
    """Each process's CPU (% of one core) over ``seconds``, and its RSS (MiB) at the end."""
    procs = {c.name: psutil.Process(c.proc.pid) for c in stack.stack.children if c.proc is not None}
    before, start = _cpu_seconds(procs), time.monotonic()
    time.sleep(seconds)
    after, wall = _cpu_seconds(procs), time.monotonic() - start
    return {
        name: {
            "cpu_percent": round(100 * (after[name] - before[name]) / wall, 2),
            "rss_mib": round(proc.memory_info().rss / MIB, 1),
        }
        for name, proc in procs.items()
    }


def check_hosts(stack: RunningStack, hosts: list[str], sample: int = 25) -> dict[str, int]:
    """How many hosts have a row that beat since the stack started, and of a random sample
    of their queues how many a worker polls: the measurement is of hosts that serve."""
    since = datetime.fromtimestamp(min(c.started_at for c in stack.stack.children), UTC)
    with stack.sessions.begin() as s:
        beats = s.scalars(select(ComputeNode.heartbeat_at)).all()
    reported = sum(1 for b in beats if b.replace(tzinfo=b.tzinfo or UTC) >= since)
    queues = random.sample(hosts, min(sample, len(hosts)))
    polled = sum(
        asyncio.run(has_pollers(stack.settings, task_queues.compute(h), since.timestamp()))
        for h in queues
    )
    return {"hosts_reported": reported, "queues_sampled": len(queues), "queues_polled": polled}


def summarize(processes: dict[str, dict[str, float]]) -> dict[str, Any]:
    fleet = {n: v for n, v in processes.items() if n.startswith("fleet")}
    return {
        "fleet_rss_mib": round(sum(v["rss_mib"] for v in fleet.values()), 1),
        "fleet_cpu_percent": round(sum(v["cpu_percent"] for v in fleet.values()), 2),
        "stack_rss_mib": round(sum(v["rss_mib"] for v in processes.values()), 1),
        "stack_cpu_percent": round(sum(v["cpu_percent"] for v in processes.values()), 2),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        data_dir = Path(tmp)
        settings = stack_settings(data_dir, f"sqlite:///{data_dir / 'bootflow.db'}")
        started = time.monotonic()
        with running_stack(
            settings, hosts=args.hosts, hosts_per_process=args.hosts_per_process
        ) as stack:
            start_seconds = time.monotonic() - started
            print(f"{args.hosts} hosts up in {start_seconds:.1f}s; settling {args.settle:.0f}s")
            time.sleep(args.settle)
            serving = check_hosts(stack, stack.stack.hosts)
            processes = measure_idle(stack, args.seconds)
    hosts = [f"node{i}" for i in range(1, args.hosts + 1)]
    return {
        **serving,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "hosts": args.hosts,
        "hosts_per_process": args.hosts_per_process,
        "fleet_processes": len(fleets(hosts, args.hosts_per_process)),
        "start_seconds": round(start_seconds, 1),
        "idle_window_seconds": args.seconds,
        "processes": processes,
        **summarize(processes),
    }


def show(result: dict[str, Any]) -> None:
    print(f"{'process':<12} {'CPU %':>7} {'RSS MiB':>9}")
    for name, v in sorted(result["processes"].items(), key=lambda kv: -kv[1]["rss_mib"]):
        print(f"{name:<12} {v['cpu_percent']:>7.2f} {v['rss_mib']:>9.1f}")
    print(
        f"{result['hosts_reported']} hosts reported; {result['queues_polled']} of "
        f"{result['queues_sampled']} sampled queues polled"
    )
    print(
        f"start {result['start_seconds']}s; fleet {result['fleet_rss_mib']} MiB "
        f"{result['fleet_cpu_percent']}%; stack {result['stack_rss_mib']} MiB "
        f"{result['stack_cpu_percent']}% of one core"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--hosts-per-process", type=int, default=250)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--settle", type=float, default=20.0)
    parser.add_argument("--tag", default="")
    args = parser.parse_args()
    result = run(args)
    show(result)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    path = RESULTS / f"fleet-{stamp}{'-' + args.tag if args.tag else ''}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
