"""The chaos campaign: create and delete servers on a whole stack while its processes are
killed and stalled, its services answer 503 and its database restarts; then let it settle,
audit every source (tests/chaos/audit.py), delete every server that survived, and audit
again, when nothing at all may be left.

    python -m tests.chaos.campaign --db sqlite --db postgresql --ops 200 --hosts 4 \\
        --real-guests 20 --seed 1 --rounds 1

writes bench/results/chaos-<timestamp>.json. ``make chaos`` runs it with the long numbers;
tests/chaos/test_chaos.py runs ``run_round`` with small ones.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import libvirt
from sqlalchemy import distinct, func, select

from bootflow.seed import ADMIN_USER, stored_secret
from clients.compute import ComputeClient
from clients.errors import ClientError, NotFound
from clients.image import ImageClient
from clients.network import NetworkClient
from clients.session import Credentials, Session
from db.models.compute import InstanceAction, InstanceActionEvent
from tests.chaos import audit, injector, plan
from tests.chaos.load import Load, Outcome
from tests.chaos.processes import Supervisor, TemporalLink
from tests.chaos.recorder import Recorder
from tests.support.libvirtd import NoLibvirtd, running_daemons
from tests.support.postgres import create_database, restart_cluster, throwaway_cluster
from tests.support.stack import RunningStack, running_stack, stack_settings

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results"
QEMU_URI = "qemu:///system"
# Room for every server: quota and host size are not what the campaign is about.
# How often each host reaps what it holds for servers that should have none there (what a
# step that finished after its boot moved on made); the audit waits out two passes.
REAP_INTERVAL_SECONDS = 5.0
ROOM = {
    "BOOTFLOW_QUOTA_INSTANCES": "100000",
    "BOOTFLOW_QUOTA_CORES": "100000",
    "BOOTFLOW_QUOTA_RAM_MB": "100000000",
    "BOOTFLOW_QUOTA_DISK_GB": "1000000",
    "BOOTFLOW_QUOTA_VOLUMES": "100000",
    "BOOTFLOW_QUOTA_GIGABYTES": "1000000",
    "BOOTFLOW_HOST_VCPUS": "100000",
    "BOOTFLOW_HOST_MEMORY_MB": "100000000",
    "BOOTFLOW_HOST_DISK_GB": "1000000",
}


@dataclass
class RoundSpec:
    """One stack, one database, one hypervisor, one load with its faults."""

    db: str  # sqlite | postgresql
    ops: int
    hosts: int
    seed: int
    hypervisor: str = "test"  # test | qemu
    concurrency: int = 6
    seconds_per_op: float = 0.6  # paces the creates (and so spreads the faults)
    step_fault_probability: float = 0.03
    host_stall_seconds: float = 20.0  # longer than a host step's 15 s heartbeat timeout
    control_stall_seconds: float = 35.0  # longer than a control step's 30 s timeout
    kills: list[str] | None = None  # default: every process kind once
    stalls: int = 2  # a compute worker's and (from 2 on) the control worker's
    bursts: int = 2
    postgres_restarts: int = 1  # PostgreSQL rounds only
    settle_timeout: float = 600.0


@dataclass
class RoundResult:
    spec: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)
    scenarios: dict[str, int] = field(default_factory=dict)
    operations: dict[str, int] = field(default_factory=dict)
    faults: list[dict[str, Any]] = field(default_factory=list)
    http: dict[str, int] = field(default_factory=dict)
    settled: dict[str, Any] = field(default_factory=dict)
    final: dict[str, Any] = field(default_factory=dict)
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, int] = field(default_factory=dict)

    def findings(self) -> list[dict[str, Any]]:
        return list(self.settled.get("findings", [])) + list(self.final.get("findings", []))


def _session(rs: RunningStack, http: Any, user: str, password: str, project: str) -> Session:
    creds = Credentials(rs.settings.auth_url, user, password, project)
    return Session(creds, http=http)


def run_round(
    spec: RoundSpec,
    database_url: str,
    data_dir: Path,
    restart_postgres: Callable[[], None] | None = None,
) -> RoundResult:
    """Run one round on a new stack in ``data_dir`` over ``database_url``; the PostgreSQL
    restart fault calls ``restart_postgres`` (not injected without one)."""
    rng = random.Random(spec.seed)
    planned = plan.servers(spec.ops, rng)
    fault_plan = plan.fault_plan(spec.seed, planned, spec.step_fault_probability)
    settings = stack_settings(data_dir, database_url)
    if spec.hypervisor == "qemu":
        settings = settings.model_copy(
            update={"libvirt_uri": QEMU_URI, "guest_dir": REPO / ".guest"}
        )
    env = {
        "BOOTFLOW_FAULT_PLAN": plan.as_json(fault_plan),
        "BOOTFLOW_REAP_INTERVAL_SECONDS": str(REAP_INTERVAL_SECONDS),
        **ROOM,
    }
    if spec.hypervisor == "qemu":
        # Real hosts: what the machine has (every guest is a 512 MiB QEMU process).
        env = {k: v for k, v in env.items() if not k.startswith("BOOTFLOW_HOST_")}
    result = RoundResult(spec=asdict(spec))
    result.scenarios = dict(Counter(s.scenario for s in planned))
    began = time.monotonic()
    with running_stack(settings, hosts=spec.hosts, env=env) as rs, Supervisor(rs.stack) as sup:
        result.seconds["start"] = round(time.monotonic() - began, 1)
        recorder = Recorder()
        http = recorder.client()
        env_rc = _openrc(rs)
        demo = _session(rs, http, env_rc[0], env_rc[1], env_rc[2])
        admin = _session(
            rs, http, ADMIN_USER, stored_secret(rs.settings, "admin_password"), "admin"
        )
        temporal = TemporalLink(rs.settings)
        try:
            _campaign(
                spec, rs, sup, recorder, demo, admin, temporal, planned, restart_postgres, result
            )
        finally:
            temporal.close()
            http.close()
    if spec.hypervisor == "qemu":
        # What leaked into libvirtd outlives the stack: the audit has counted it, now end it.
        result.final["guests_removed_after"] = remove_guests(QEMU_URI, rs.settings.deployment_id)
    result.seconds["total"] = round(time.monotonic() - began, 1)
    return result


def remove_guests(uri: str, deployment: str) -> int:
    """Destroy and undefine every domain of ``deployment``; how many there were."""
    conn = libvirt.open(uri)
    removed = 0
    try:
        for domain, _ in list(audit.owned_domains(conn, deployment)):
            if domain.isActive():
                domain.destroy()
            domain.undefine()
            removed += 1
    finally:
        conn.close()
    return removed


def _openrc(rs: RunningStack) -> tuple[str, str, str]:
    from bootflow.seed import read_openrc

    env = read_openrc(rs.settings.data_dir / "openrc")
    return env["OS_USERNAME"], env["OS_PASSWORD"], env["OS_PROJECT_NAME"]


def _campaign(
    spec: RoundSpec,
    rs: RunningStack,
    sup: Supervisor,
    recorder: Recorder,
    demo: Session,
    admin: Session,
    temporal: TemporalLink,
    planned: list[plan.Server],
    restart_postgres: Callable[[], None] | None,
    result: RoundResult,
) -> None:
    hosts = rs.stack.hosts
    rng = random.Random(spec.seed + 1)
    duration = max(len(planned) * spec.seconds_per_op, 30.0)
    stall_targets = [(rng.choice(hosts), spec.host_stall_seconds)]
    if spec.stalls > 1:
        stall_targets.append(("control", spec.control_stall_seconds))
    stall_targets += [
        (rng.choice(hosts), spec.host_stall_seconds) for _ in range(max(spec.stalls - 2, 0))
    ]
    faults = injector.schedule(
        rng,
        duration,
        kills=injector.every_process(hosts) if spec.kills is None else spec.kills,
        stalls=stall_targets[: spec.stalls],
        bursts=[injector.BURST_SERVICES[i % 4] for i in range(spec.bursts)],
        postgres=spec.postgres_restarts if spec.db == "postgresql" else 0,
    )
    driver = injector.Injector(faults, sup, recorder, spec.seed, restart_postgres)
    load = Load(
        ComputeClient(demo),
        temporal,
        ImageClient(demo).find_image("cirros")["id"],
        NetworkClient(demo).find_network("private")["id"],
    )

    t0 = time.monotonic()
    driver.start()
    load.run(planned, duration, spec.concurrency)
    driver.join()
    if driver.error is not None:
        raise RuntimeError(f"the fault driver failed: {driver.error!r}") from driver.error
    result.seconds["load"] = round(time.monotonic() - t0, 1)
    result.faults = driver.report()

    t0 = time.monotonic()
    sources = _sources(rs, admin, temporal)
    _settle(sources, spec.settle_timeout)
    result.seconds["settle"] = round(time.monotonic() - t0, 1)
    deleted = load.deleted_ids()
    census = audit.take_census(sources)
    findings = audit.reconcile(census, deleted) + driver.findings
    findings += phantoms(census.servers, list(load.outcomes.values()))
    findings += ignored_cancels(census.servers, list(load.outcomes.values()))
    result.settled = {"counts": census.counts(), "findings": findings}

    # Reap: delete every survivor (again, while a delete leaves one in error), then nothing
    # may be left anywhere.
    t0 = time.monotonic()
    compute = ComputeClient(admin)
    reaped: set[str] = set()
    for _ in range(3):
        survivors = [s["id"] for s in compute.list_servers(all_projects=True)]
        if not survivors:
            break
        for sid in survivors:
            try:
                compute.delete_server(sid)
            except NotFound:
                pass
            except ClientError as exc:
                result.final.setdefault("delete_errors", []).append(f"{sid}: {exc}")
            reaped.add(sid)
        _settle(sources, spec.settle_timeout, gone=True)
    result.seconds["reap"] = round(time.monotonic() - t0, 1)
    census = audit.take_census(sources)
    final = audit.reconcile(census, deleted | reaped)
    result.final = {**result.final, "counts": census.counts(), "findings": final}
    result.http = recorder.statuses()
    with sup.lock:
        sup.note_deaths()
    result.settled["findings"] += [
        {
            "kind": "crash",
            "resource": "process",
            "id": f"{c['process']} pid {c['pid']}",
            "server": None,
            "detail": f"died with status {c['status']} without a fault killing it",
        }
        for c in sup.crashes
    ]
    http_findings = recorder.findings()
    result.settled["findings"] = result.settled["findings"] + http_findings

    outcomes = list(load.outcomes.values())
    names = {o.id: o.name for o in outcomes if o.id}
    _name_findings(result.settled["findings"] + result.final["findings"], names)
    result.outcomes = [asdict(o) for o in outcomes]
    result.operations = {
        "creates": len(outcomes),
        "accepted": sum(o.id is not None for o in outcomes),
        "deletes": sum(o.deleted for o in outcomes),
        "cancels": sum(o.cancelled for o in outcomes),
        "reap_deletes": len(reaped),
        "guests_spawned": spawned(rs),
    }
    result.summary = summarize(result.findings(), result.http.get("500", 0))


KINDS = (
    "leak",
    "stuck",
    "http",
    "missing",
    "mismatch",
    "supervisor",
    "phantom",
    "crash",
    "ignored",
)


def summarize(findings: list[dict[str, Any]], answers_500: int) -> dict[str, int]:
    """Findings by kind; a leak both audits see (it outlived the reap) counts once."""
    unique = {
        (f["kind"], f["resource"], f["id"], f["detail"] if f["kind"] == "http" else ""): f
        for f in findings
    }
    counts = Counter(f["kind"] for f in unique.values())
    summary = {"leaked": counts["leak"], "stuck": counts["stuck"], "http_500": answers_500}
    return summary | {k: counts[k] for k in KINDS if k not in ("leak", "stuck")}


def phantoms(servers: list[dict[str, Any]], outcomes: list[Outcome]) -> list[dict[str, Any]]:
    """Servers whose create was answered with an error (and was then sent again): the
    server exists though the answer said it was not made. A create that got no answer at
    all (the API process died) may or may not have made one, so it is not counted."""
    by_name = {o.name: o for o in outcomes}
    found = []
    for server in servers:
        outcome = by_name.get(server["name"])
        if outcome is None or outcome.id == server["id"]:
            continue
        answers = [n for n in outcome.notes if n.endswith("sent again")]
        if answers and all(n[:3].isdigit() for n in answers):
            found.append(
                {
                    "kind": "phantom",
                    "resource": "server",
                    "id": server["id"],
                    "server": server["id"],
                    "name": server["name"],
                    "detail": f"made, though its create was answered {', '.join(answers)}",
                }
            )
    return found


def ignored_cancels(servers: list[dict[str, Any]], outcomes: list[Outcome]) -> list[dict[str, Any]]:
    """Boots cancelled from Temporal (while held before spawn) that went on to ACTIVE."""
    active = {s["id"] for s in servers if s["status"] == "ACTIVE"}
    return [
        {
            "kind": "ignored",
            "resource": "cancel",
            "id": f"boot-{o.id}",
            "server": o.id,
            "name": o.name,
            "detail": "its boot was cancelled from Temporal while building, yet it is ACTIVE",
        }
        for o in outcomes
        if o.cancelled and o.id in active
    ]


def spawned(rs: RunningStack) -> int:
    """How many servers had a spawn step succeed (a statistic for the report, not audited)."""
    query = (
        select(func.count(distinct(InstanceAction.instance_uuid)))
        .join(InstanceActionEvent, InstanceActionEvent.action_id == InstanceAction.id)
        .where(InstanceActionEvent.event == "spawn", InstanceActionEvent.result == "Success")
    )
    with rs.sessions.begin() as s:
        return int(s.scalar(query) or 0)


def _sources(rs: RunningStack, admin: Session, temporal: TemporalLink) -> audit.Sources:
    s = rs.settings
    return audit.Sources(
        admin=admin,
        sessions=rs.sessions,
        hosts=list(rs.stack.hosts),
        data_dir=s.data_dir,
        volumes_dir=s.volumes_dir,
        deployment_id=s.deployment_id,
        libvirt_uri=s.libvirt_uri,
        test_domains=temporal.domains,
        running_workflows=temporal.running,
    )


def _settle(sources: audit.Sources, timeout: float, gone: bool = False) -> bool:
    """Wait until no workflow runs (twice in a row, a few seconds apart) and, ``gone``, no
    server is left but those whose delete failed; False if the timeout passed first. A
    server still building or deleting with no workflow running will never move: the audit
    reports it as stuck."""
    compute = ComputeClient(sources.admin)
    deadline = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < deadline:
        try:
            running = sources.running_workflows()
            servers = compute.list_servers(all_projects=True) if gone else []
        except Exception:  # a process was still coming back; ask again
            time.sleep(2)
            continue
        left = [s for s in servers if s["status"] != "ERROR" or s.get("OS-EXT-STS:task_state")]
        quiet = quiet + 1 if not running and not left else 0
        if quiet >= 2:
            # The hosts' reapers remove, within a pass, what late steps made: let two run.
            time.sleep(2 * REAP_INTERVAL_SECONDS + 1)
            return True
        time.sleep(3)
    return False


def _name_findings(findings: list[dict[str, Any]], names: dict[str, str]) -> None:
    """Add each finding's server name (its scenario), where the server is known."""
    for f in findings:
        if f.get("server") in names:
            f["name"] = names[f["server"]]


# -- the command ---------------------------------------------------------------------------


@contextmanager
def _database(kind: str, where: Path) -> Iterator[tuple[str, Callable[[], None] | None]]:
    """A database URL for one round, and how to restart its server (PostgreSQL only)."""
    if kind == "sqlite":
        yield f"sqlite:///{where / 'bootflow.db'}", None
        return
    with throwaway_cluster() as admin_url:
        yield create_database(admin_url, "bootflow_chaos"), partial(restart_cluster, admin_url)


def build_guest() -> None:
    built = subprocess.run(
        [sys.executable, str(REPO / "guest" / "build.py"), "--out", str(REPO / ".guest")],
        capture_output=True,
        text=True,
    )
    if built.returncode != 0:
        raise SystemExit(f"the guest image could not be built: {built.stderr.strip()}")


@contextmanager
def libvirtd_for_real_guests(work: Path) -> Iterator[None]:
    """libvirtd at qemu:///system for the real-guest rounds: one already running is used;
    else the campaign starts its own, which ends with it (also when it is killed)."""
    try:
        with running_daemons(work / "libvirtd.log"):
            yield
    except NoLibvirtd as e:
        raise SystemExit(str(e)) from e


TABLE_HEAD = (
    "| run | db | hypervisor | hosts | creates + deletes | faults | leaked | stuck | 500s "
    "| other findings | seconds |\n|---|---|---|---|---|---|---|---|---|---|---|"
)


def table_rows(path: Path) -> list[str]:
    """The docs' results table rows for one campaign's JSON."""
    report = json.loads(path.read_text())
    rows = []
    for r in report["rounds"]:
        spec, ops = r["spec"], r["operations"]
        findings = r["settled"]["findings"] + r["final"]["findings"]
        s = summarize(findings, r["http"].get("500", 0))
        other = {k: v for k, v in s.items() if k not in ("leaked", "stuck", "http_500", "http")}
        other = {k: v for k, v in other.items() if v}
        rows.append(
            f"| {report['started']} | {spec['db']} | {spec['hypervisor']} | {spec['hosts']} "
            f"| {ops['creates']} + {ops['deletes']} | {len(r['faults'])} | {s['leaked']} "
            f"| {s['stuck']} | {s['http_500']} "
            f"| {', '.join(f'{k} {v}' for k, v in other.items()) or '-'} "
            f"| {r['seconds']['total']:.0f} |"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.campaign", description=__doc__)
    parser.add_argument("--db", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--ops", type=int, default=200, help="creates + deletes per round")
    parser.add_argument("--hosts", type=int, default=4)
    parser.add_argument(
        "--real-guests", type=int, default=20, help="creates on qemu:///system (0: none)"
    )
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--rounds", type=int, default=1, help="rounds on each database")
    parser.add_argument("--concurrency", type=int, default=6)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument(
        "--table", type=Path, nargs="+", help="print the docs' results table of these JSONs"
    )
    args = parser.parse_args(argv)
    if args.table:
        print("\n".join([TABLE_HEAD] + [row for p in args.table for row in table_rows(p)]))
        return 0
    dbs = args.db or ["sqlite", "postgresql"]
    import tempfile

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="bootflow-chaos-"))
    work.mkdir(parents=True, exist_ok=True)
    with ExitStack() as daemons:
        if args.real_guests:
            build_guest()
            daemons.enter_context(libvirtd_for_real_guests(work))
        return _run(args, dbs, work)


def _run(args: argparse.Namespace, dbs: list[str], work: Path) -> int:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or RESULTS / f"chaos-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"started": stamp, "args": vars(args) | {"out": str(out)}}
    rounds: list[dict[str, Any]] = []
    specs = []
    for n in range(args.rounds):
        for db in dbs:
            seed = args.seed + 1000 * n + (0 if db == "sqlite" else 500)
            specs.append(RoundSpec(db, args.ops, args.hosts, seed, concurrency=args.concurrency))
            if args.real_guests:
                specs.append(
                    RoundSpec(
                        db,
                        4 * args.real_guests,
                        min(args.hosts, 2),
                        seed + 7,
                        hypervisor="qemu",
                        concurrency=3,
                        seconds_per_op=2.5,
                        kills=injector.every_process([f"node{i}" for i in (1, 2)])[:4],
                        stalls=1,
                        bursts=1,
                    )
                )
    for i, spec in enumerate(specs):
        where = work / f"round-{i}-{spec.db}-{spec.hypervisor}"
        where.mkdir(parents=True)
        print(
            f"chaos: round {i + 1}/{len(specs)}: {spec.db}, {spec.hypervisor}, "
            f"{spec.ops} ops on {spec.hosts} hosts, seed {spec.seed}",
            flush=True,
        )
        with _database(spec.db, where) as (url, restart_postgres):
            r = run_round(spec, url, where / "data", restart_postgres)
        rounds.append(asdict(r))
        print(f"chaos: {json.dumps(r.summary)} in {r.seconds.get('total')}s", flush=True)
        report["rounds"] = rounds
        out.write_text(json.dumps(report, indent=1, default=str))
    totals: Counter[str] = Counter()
    for done in rounds:
        totals.update(done["summary"])
    report["summary"] = dict(totals)
    out.write_text(json.dumps(report, indent=1, default=str))
    print(f"chaos: wrote {out}: {json.dumps(report['summary'])}")
    return 0 if not (totals["leaked"] or totals["stuck"] or totals["http_500"]) else 1


if __name__ == "__main__":
    sys.exit(main())
