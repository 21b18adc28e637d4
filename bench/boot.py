"""Boot benchmark: bootflow against the engine's own floor, in one run.

    make bench     (or: .venv/bin/python -m bench.boot [--boots 200] [--rounds 4] [--profile]
                    [--server-profile]
                    [--set worker_max_cached_workflows=0 --tag nocache])

Starts the embedded stack (test hypervisor, 3 hosts) with the floor enabled, then measures,
on the same server and the same worker processes:
1. the floor: ``FloorBoot``, as many do-nothing activities as a boot runs, on the same queues;
2. bootflow: full boots through the compute API (authenticate -> active, every service,
   real HTTP).
For each, one alone (p50 over 20 sequential) and N concurrent (throughput, p50/p99), plus
CPU seconds per boot of every process. Latency is the server's own start-to-close time
of the workflow. The concurrent phases run in rounds, a floor phase and a bootflow phase
each, the order alternating: every phase costs more CPU per workflow than the one before
it (the stack's databases and heaps grow), the floor's by more, so whichever kind runs
later gains; with an even number of rounds each kind runs first as often as second and the
drift cancels out of the pooled ratio. Each round's
boots run on a network of their own. The throughput ratio is pooled, all of a kind's boots
over all its phases' wall time; each round's own ratio is reported beside it. Prints a
table and writes bench/results/boot-<date>.json with the ratios bootflow/floor and every
round. ``--profile`` samples the busiest processes with py-spy during the first round's
boots and lists where their time goes; ``--server-profile`` samples the Temporal server
with perf in the first round's phases and splits its CPU per
workflow by what it was doing (bench/server_profile.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle

from bench import server_profile
from bench.floor import PATTERN, FloorBoot
from bootflow.stack import Stack
from clients.compute import ComputeClient
from clients.image import ImageClient
from clients.network import NetworkClient
from core import task_queues
from core.temporal import connect
from core.workflow_ids import boot_workflow_id
from tests.support.stack import RunningStack, running_stack, stack_settings

# bootflow's own code (py-spy names files relative to sys.path, as it does libraries'), but
# not the entry points every sample passes through.
OURS = (
    "activities/",
    "workflows/",
    "db/",
    "services/",
    "clients/",
    "compute/",
    "scheduler/",
    "bootflow/codec",
    "bootflow/faults",
    "bootflow/messages",
    "workers/common",
)
RESULTS = Path(__file__).parent / "results"
HOSTS = ["node1", "node2", "node3"]
CLK_TCK = os.sysconf("SC_CLK_TCK")
# The Python processes py-spy samples (the Temporal server is Go: its CPU is reported apart).
PROFILED = ["control", "node1", "compute", "network", "identity"]
PERF_DATA = {kind: RESULTS / f"perf-temporal-{kind}.data" for kind in ("floor", "bootflow")}
# Before each concurrent phase: long enough for the Temporal server to fire the timeouts
# (30 s at most) of the activities and workflow tasks before it, which it does even for
# finished ones. Without it the floor's timers fired during bootflow's phase and were
# counted as bootflow's CPU (docs/performance.md).
SETTLE_SECONDS = 35.0


def cpu_seconds(stack: Stack) -> dict[str, float]:
    """CPU (user + system) each child of the stack has used so far."""
    out = {}
    for child in stack.children:
        if child.proc is None or child.proc.poll() is not None:
            continue
        fields = Path(f"/proc/{child.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        out[child.name] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    # The bench itself (the users' side: compute API requests, Temporal client calls) runs on
    # the same cores; reported beside the stack's processes, not counted in any group.
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out["bench_client"] = usage.ru_utime + usage.ru_stime
    return out


def per_boot(before: dict[str, float], after: dict[str, float], n: int) -> dict[str, Any]:
    groups = {
        "workers": ("control", *HOSTS),
        "services": ("identity", "image", "network", "volume", "compute"),
        "temporal": ("temporal",),
    }
    out: dict[str, Any] = {
        g: round(sum(after[p] - before.get(p, 0.0) for p in names if p in after) / n, 4)
        for g, names in groups.items()
    }
    out["by_process"] = {p: round((after[p] - before.get(p, 0.0)) / n, 4) for p in after}
    return out


async def server_latency(handles: list[WorkflowHandle[Any, Any]]) -> list[float]:
    """Start-to-close seconds of each workflow, by the server's clock."""
    described = await asyncio.gather(*(h.describe() for h in handles))
    return [
        (d.close_time - d.start_time).total_seconds() for d in described if d.close_time is not None
    ]


def summary(latencies: list[float], wall: float | None = None) -> dict[str, float]:
    ordered = sorted(latencies)
    out = {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 1),
    }
    if wall is not None:
        out["wall_s"] = round(wall, 2)
        out["per_second"] = round(len(ordered) / wall, 2)
    return out


class Floor:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.count = 0

    async def start(self) -> WorkflowHandle[Any, Any]:
        self.count += 1
        return await self.client.start_workflow(
            FloorBoot.run,
            HOSTS[self.count % len(HOSTS)],
            id=f"floor-{uuid.uuid4()}",
            task_queue=task_queues.CONTROL,
        )

    async def one(self) -> WorkflowHandle[Any, Any]:
        handle = await self.start()
        await handle.result()
        return handle


class Boots:
    def __init__(self, stack: RunningStack, client: Client) -> None:
        demo = stack.demo()
        self.compute = ComputeClient(demo)
        self.image = ImageClient(demo).find_image("cirros")["id"]
        self.networks = NetworkClient(demo)
        self.network = self.networks.find_network("private")["id"]
        self.client = client
        self.count = 0

    def use_new_network(self, round_index: int) -> None:
        """Boot on a fresh /24 from now on: every round's ports start from an empty subnet
        (none is deleted, and the seeded one has room for one round only)."""
        network = self.networks.create_network(f"bench-round-{round_index + 1}")
        self.networks.create_subnet(network["id"], f"10.{100 + round_index}.0.0/24")
        self.network = network["id"]

    def request(self) -> str:
        self.count += 1
        server = self.compute.create_server(f"bench-{self.count}", "1", self.image, [self.network])
        return str(server["id"])

    async def one(self) -> WorkflowHandle[Any, Any]:
        server_id = await asyncio.to_thread(self.request)
        handle = self.client.get_workflow_handle(boot_workflow_id(server_id))
        await handle.result()
        return handle


# Boots alone of each kind a run: the ratio of two medians of 20 moved by 0.2-0.4 between runs.
ALONE_N = 50


async def alone(
    floor: Callable[[], Awaitable[WorkflowHandle[Any, Any]]],
    boot: Callable[[], Awaitable[WorkflowHandle[Any, Any]]],
    n: int = ALONE_N,
) -> dict[str, dict[str, float]]:
    """``n`` of each, one at a time, alternating, so that the stack's drift over the run
    (its database and heaps grow) weighs on both alike."""
    handles: dict[str, list[WorkflowHandle[Any, Any]]] = {"floor": [], "bootflow": []}
    for _ in range(n):
        handles["floor"].append(await floor())
        handles["bootflow"].append(await boot())
    return {kind: summary(await server_latency(done)) for kind, done in handles.items()}


async def concurrent_floor(floor: Floor, n: int) -> tuple[dict[str, float], list[float]]:
    start = time.monotonic()
    handles = await asyncio.gather(*(floor.start() for _ in range(n)))
    await asyncio.gather(*(h.result() for h in handles))
    wall = time.monotonic() - start
    latencies = await server_latency(list(handles))
    return summary(latencies, wall), latencies


async def concurrent_boots(boots: Boots, n: int) -> tuple[dict[str, float], list[float]]:
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=min(n, 50)) as pool:
        ids = await asyncio.gather(
            *(asyncio.get_running_loop().run_in_executor(pool, boots.request) for _ in range(n))
        )
    handles = [boots.client.get_workflow_handle(boot_workflow_id(i)) for i in ids]
    await asyncio.gather(*(h.result() for h in handles))
    wall = time.monotonic() - start
    latencies = await server_latency(handles)
    return summary(latencies, wall), latencies


def profile(stack: RunningStack, names: list[str], seconds: float) -> list[subprocess.Popen[bytes]]:
    spy = Path(sys.executable).parent / "py-spy"
    procs = []
    for name in names:
        out = RESULTS / f"profile-{name}.txt"
        procs.append(
            subprocess.Popen(
                [
                    str(spy),
                    "record",
                    "--pid",
                    str(stack.child(name).pid),
                    "--format",
                    "raw",
                    "--duration",
                    str(int(seconds)),
                    "--rate",
                    "200",
                    "--nonblocking",
                    "--gil",  # only the thread holding the GIL: where CPU goes, not waits
                    "-o",
                    str(out),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    return procs


def _frame(raw: str) -> str:
    """``func (path/to/file.py:12)`` -> ``func file.py``."""
    func, _, where = raw.partition(" (")
    return f"{func} {where.rsplit('/', 1)[-1].split(':')[0]}"


def top_frames(path: Path, limit: int = 12) -> dict[str, list[tuple[str, float]]]:
    """Where a process's CPU went, in percent of its samples: by own time (the innermost
    frame), and inclusive for bootflow's own functions (each counted once per sample)."""
    own: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        frames = stack.split(";")
        own[_frame(frames[-1])] += int(n)
        mine = {_frame(f) for f in frames if f.partition(" (")[2].startswith(OURS)}
        for f in mine:
            ours[f] += int(n)
        total += int(n)

    def pct(c: Counter[str]) -> list[tuple[str, float]]:
        return [(frame, round(100 * n / total, 1)) for frame, n in c.most_common(limit)]

    return {"own": pct(own), "bootflow_inclusive": pct(ours)}


def stage_costs(stack: RunningStack, instance_uuids: list[str]) -> dict[str, float]:
    """Mean milliseconds each activity of those boots took, from their recorded events; and
    what remains of the workflow's time: scheduling, dispatch and the workflow's own tasks."""
    from sqlalchemy import select

    from db.models.compute import InstanceAction, InstanceActionEvent

    with stack.sessions.begin() as s:
        rows = s.execute(
            select(
                InstanceActionEvent.event,
                InstanceActionEvent.start_time,
                InstanceActionEvent.finish_time,
            )
            .join(InstanceAction, InstanceAction.id == InstanceActionEvent.action_id)
            .where(InstanceAction.instance_uuid.in_(instance_uuids))
        ).all()
    spent: dict[str, list[float]] = {}
    for event, start, finish in rows:
        if finish is not None:
            spent.setdefault(event, []).append((finish - start).total_seconds() * 1000)
    return {event: round(statistics.mean(ms), 1) for event, ms in sorted(spent.items())}


def record_server(stack: RunningStack, kind: str) -> subprocess.Popen[bytes]:
    return server_profile.record(stack.child("temporal").pid, PERF_DATA[kind])


async def phase(
    stack: RunningStack,
    kind: str,
    run: Callable[[], Awaitable[tuple[dict[str, float], list[float]]]],
    spy: bool,
    on_server: bool,
) -> dict[str, Any]:
    """One concurrent phase, after the server has settled: its numbers and the CPU it took."""
    await asyncio.sleep(SETTLE_SECONDS)
    before = cpu_seconds(stack.stack)
    spies = profile(stack, PROFILED, 120) if spy else []
    perf = record_server(stack, kind) if on_server else None
    concurrent, latencies = await run()
    after = cpu_seconds(stack.stack)
    if perf is not None:
        server_profile.stop(perf)
    for s in spies:
        s.send_signal(signal.SIGINT)  # py-spy writes what it sampled on SIGINT, not SIGTERM
        s.wait()
    return {"concurrent": concurrent, "latencies": latencies, "cpu": (before, after)}


async def one_round(
    stack: RunningStack,
    floor: Floor,
    boots: Boots,
    n: int,
    *,
    boots_first: bool,
    spy: bool,
    on_server: bool,
) -> dict[str, Any]:
    """The floor's N concurrent and bootflow's, in the order given. Rounds alternate the
    order: every phase costs more per workflow than the one before, the floor's by more,
    so a kind that ran second in every round would gain."""
    order = ["bootflow", "floor"] if boots_first else ["floor", "bootflow"]
    runs = {
        "floor": lambda: concurrent_floor(floor, n),
        "bootflow": lambda: concurrent_boots(boots, n),
    }
    done = {
        kind: await phase(stack, kind, runs[kind], spy and kind == "bootflow", on_server)
        for kind in order
    }
    return {
        "order": order,
        "concurrent": {k: done[k]["concurrent"] for k in done},
        "latencies": {k: done[k]["latencies"] for k in done},
        "cpu": {k: done[k]["cpu"] for k in done},
        "throughput_ratio": round(
            done["bootflow"]["concurrent"]["per_second"]
            / done["floor"]["concurrent"]["per_second"],
            3,
        ),
    }


def pooled(rounds: list[dict[str, Any]], kind: str, n: int) -> dict[str, Any]:
    """One kind's concurrent numbers over every round: latencies together, throughput as
    all boots over all the phases' wall time, CPU as all CPU over all boots."""
    latencies = [x for r in rounds for x in r["latencies"][kind]]
    wall = sum(r["concurrent"][kind]["wall_s"] for r in rounds)
    used: dict[str, float] = {}
    for r in rounds:
        before, after = r["cpu"][kind]
        for p in after:
            used[p] = used.get(p, 0.0) + after[p] - before.get(p, 0.0)
    return {"concurrent": summary(latencies, wall), "cpu": per_boot({}, used, n * len(rounds))}


async def measure(
    stack: RunningStack, n: int, rounds: int, do_profile: bool, on_server: bool
) -> dict[str, Any]:
    client = await connect(stack.settings)
    floor, boots = Floor(client), Boots(stack, client)
    for _ in range(3):  # warm up: image caches on every host, connection pools, JITs
        await floor.one()
        await boots.one()
    results: dict[str, Any] = {"alone": await alone(floor.one, boots.one)}
    recent = [str(s["id"]) for s in boots.compute.list_servers()][:ALONE_N]
    results["alone"]["bootflow_stage_ms"] = stage_costs(stack, recent)
    done = await all_rounds(stack, floor, boots, n, rounds, do_profile, on_server)
    kinds = {kind: pooled(done, kind, n) for kind in ("floor", "bootflow")}
    results["concurrent"] = {kind: kinds[kind]["concurrent"] for kind in kinds}
    results["cpu_seconds_per_boot"] = {kind: kinds[kind]["cpu"] for kind in kinds}
    results["rounds"] = [
        {
            "concurrent": r["concurrent"],
            "cpu_seconds_per_boot": {
                k: per_boot(r["cpu"][k][0], r["cpu"][k][1], n) for k in r["cpu"]
            },
            "throughput_ratio": r["throughput_ratio"],
            "order": r["order"],
        }
        for r in done
    ]
    if on_server:
        symbols = server_profile.GoSymbols(Path(f"/proc/{stack.child('temporal').pid}/exe"))
        results["temporal_server_ms_per_workflow"] = {
            kind: server_profile.by_category(data, symbols, n) for kind, data in PERF_DATA.items()
        }
    if do_profile:
        results["profile_top_own_time"] = {
            name: top_frames(RESULTS / f"profile-{name}.txt")
            for name in PROFILED
            if (RESULTS / f"profile-{name}.txt").exists()
        }
    results["ratios"] = ratios(results["alone"], kinds, done, results["cpu_seconds_per_boot"])
    return results


async def all_rounds(
    stack: RunningStack,
    floor: Floor,
    boots: Boots,
    n: int,
    rounds: int,
    do_profile: bool,
    on_server: bool,
) -> list[dict[str, Any]]:
    done = []
    for index in range(rounds):
        boots.use_new_network(index)
        first = index == 0  # the profilers run in the first round only
        done.append(
            await one_round(
                stack,
                floor,
                boots,
                n,
                boots_first=index % 2 == 1,
                spy=do_profile and first,
                on_server=on_server and first,
            )
        )
        print(f"round {index + 1}: throughput x{done[-1]['throughput_ratio']}", flush=True)
    return done


# Issue 19's goals for the two ratios.
ALONE_LATENCY_AT_MOST = 1.3
THROUGHPUT_AT_LEAST = 0.85


def cpu_bound(cpu: dict[str, dict[str, Any]]) -> float:
    """The throughput ratio bootflow would reach if its workers cost what the floor's do and
    the rest stayed as measured (the services, Temporal, the bench's client): with both
    cores busy, boots a second go as one over CPU seconds a boot."""

    def besides_workers(kind: str) -> float:
        c = cpu[kind]
        return float(c["services"] + c["temporal"] + c["by_process"]["bench_client"])

    workers = float(cpu["floor"]["workers"])
    return (workers + besides_workers("floor")) / (workers + besides_workers("bootflow"))


def ratios(
    alone: dict[str, Any],
    kinds: dict[str, Any],
    done: list[dict[str, Any]],
    cpu: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """bootflow over the floor: one boot's latency, and throughput pooled over the rounds."""
    alone_ratio = alone["bootflow"]["p50_ms"] / alone["floor"]["p50_ms"]
    pooled_ratio = (
        kinds["bootflow"]["concurrent"]["per_second"] / kinds["floor"]["concurrent"]["per_second"]
    )
    return {
        "alone_latency_bootflow_over_floor": round(alone_ratio, 3),
        "concurrent_throughput_bootflow_over_floor": round(pooled_ratio, 3),
        "concurrent_throughput_each_round": [r["throughput_ratio"] for r in done],
        "concurrent_throughput_median_of_rounds": round(
            statistics.median(r["throughput_ratio"] for r in done), 3
        ),
        "concurrent_throughput_if_workers_cost_the_floors": round(cpu_bound(cpu), 3),
        "targets": {
            "alone_latency_at_most": ALONE_LATENCY_AT_MOST,
            "concurrent_throughput_at_least": THROUGHPUT_AT_LEAST,
        },
    }


def table(results: dict[str, Any]) -> str:
    a, c = results["alone"], results["concurrent"]
    lines = [
        f"{'':10} {'alone p50':>10} {'p99':>8} | {'concurrent p50':>14} {'p99':>8} "
        f"{'boots/s':>8} | {'CPU s/boot (workers/services/temporal)':>38}",
    ]
    for kind in ("floor", "bootflow"):
        cpu = results["cpu_seconds_per_boot"][kind]
        lines.append(
            f"{kind:10} {a[kind]['p50_ms']:8.1f}ms {a[kind]['p99_ms']:6.1f}ms | "
            f"{c[kind]['p50_ms']:12.1f}ms {c[kind]['p99_ms']:6.1f}ms {c[kind]['per_second']:8.2f}"
            f" | {cpu['workers']:.3f} / {cpu['services']:.3f} / {cpu['temporal']:.3f}"
        )
    r = results["ratios"]
    lines.append(
        f"bootflow/floor: alone latency x{r['alone_latency_bootflow_over_floor']} "
        f"(target <= {ALONE_LATENCY_AT_MOST}), concurrent throughput x"
        f"{r['concurrent_throughput_bootflow_over_floor']} (target >= {THROUGHPUT_AT_LEAST}; "
        f"all rounds pooled; each round "
        f"{', '.join(f'x{x}' for x in r['concurrent_throughput_each_round'])}); with workers "
        f"that cost the floor's, the rest as measured: at most "
        f"x{r['concurrent_throughput_if_workers_cost_the_floors']}"
    )
    return "\n".join(lines)


def server_table(by_kind: dict[str, dict[str, float]]) -> str:
    floor, boot = by_kind["floor"], by_kind["bootflow"]
    lines = [f"{'Temporal server, ms per workflow':42} {'floor':>7} {'bootflow':>9} {'+':>6}"]
    for name in sorted(floor, key=lambda k: floor[k] - boot[k]):
        lines.append(
            f"{name:42} {floor[name]:7.2f} {boot[name]:9.2f} {boot[name] - floor[name]:+6.2f}"
        )
    return "\n".join(lines)


# Every process of the benchmark's stack gets these.
STACK_ENV = {
    # The floor runs on the boot's own workers (bench/floor.py).
    "BOOTFLOW_EXTRA_WORKER_MODULES": json.dumps(["bench.floor"]),
    # Room for every boot of the run (none is deleted) on 3 hosts.
    "BOOTFLOW_HOST_VCPUS": str(1 << 12),
    "BOOTFLOW_HOST_MEMORY_MB": str(1 << 20),
    "BOOTFLOW_HOST_DISK_GB": str(1 << 16),
    "BOOTFLOW_QUOTA_INSTANCES": "100000",
    "BOOTFLOW_QUOTA_CORES": "100000",
    "BOOTFLOW_QUOTA_RAM_MB": str(1 << 30),
    "BOOTFLOW_QUOTA_DISK_GB": str(1 << 20),
    # A port a boot: 4 rounds of 200 are past Neutron's default of 500 a project.
    "BOOTFLOW_QUOTA_PORT": "-1",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boots", type=int, default=200, help="concurrent boots (and floors)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="rounds of a floor and a bootflow phase (even: each kind first as often)",
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the busiest processes")
    parser.add_argument(
        "--server-profile",
        action="store_true",
        help="perf the Temporal server in each concurrent phase, by what it was doing",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SETTING=VALUE",
        help="a setting for every process, e.g. worker_max_cached_workflows=0 (repeatable)",
    )
    parser.add_argument("--tag", default="", help="appended to the result file's name")
    args = parser.parse_args()
    tuning = dict(item.split("=", 1) for item in args.set)
    if args.server_profile and (why := server_profile.available()):
        parser.error(f"--server-profile: {why}")
    RESULTS.mkdir(exist_ok=True)
    env = STACK_ENV | {f"BOOTFLOW_{k.upper()}": v for k, v in tuning.items()}
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        settings = stack_settings(data_dir, f"sqlite:///{data_dir / 'bootflow.db'}")
        settings = settings.model_copy(update={"libvirt_uri": "test:///default"})
        with running_stack(settings, hosts=len(HOSTS), env=env) as stack:
            results = asyncio.run(
                measure(stack, args.boots, args.rounds, args.profile, args.server_profile)
            )
    results |= {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_end": os.getloadavg(),
        },
        "activities_per_boot": len(PATTERN),
        "settle_seconds_before_each_concurrent_phase": SETTLE_SECONDS,
        "settings": tuning,
        "concurrent": results["concurrent"] | {"n": args.boots, "rounds": args.rounds},
    }
    report(results, args.tag)


def report(results: dict[str, Any], tag: str) -> None:
    """Writes the JSON and prints the tables."""
    suffix = f"-{tag}" if tag else ""
    out = RESULTS / f"boot-{datetime.now(UTC):%Y-%m-%d}{suffix}.json"
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(table(results))
    if "temporal_server_ms_per_workflow" in results:
        print(server_table(results["temporal_server_ms_per_workflow"]))
    print("a boot alone, mean ms per stage:", results["alone"]["bootflow_stage_ms"])
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
