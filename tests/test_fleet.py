"""A fleet process (``bootflow run compute-worker --host a --host b ...``, what `bootflow up
--hypervisor fake` starts) serves many simulated hosts, each as a host of its own: its task
queue, its compute_nodes row and heartbeat, its guests; the process shares one libvirt
connection, one heartbeat call and one reaper among them, and the conductor's heartbeat
for all of them costs the database the same few statements however many there are."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import uuid
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import libvirt
import pytest
from click.testing import CliRunner
from sqlalchemy import event, select, update
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from bootflow.cli.main import cli
from bootflow.stack import fleets
from compute.domain_xml import DomainSpec
from compute.driver import LibvirtDriver, guests_by_host
from core.conductor import ABSENT, HostCapacity, InstanceOnHost
from core.config import Settings
from core.messages import HostDomains, HostDomainsInput
from core.temporal import connect, has_pollers
from db.migrate import upgrade
from db.models.compute import Claim, ComputeNode
from db.session import make_engine, make_session_factory
from services.compute.conductor import Heartbeat, heartbeat
from tests.support.cloud import LoopbackCloud
from tests.support.records import instance_row
from tests.support.stack import wait_until
from tests.test_compute_worker import compute_worker, control_plane
from tests.test_reap import _spec as _reap_spec
from workers.compute import clean, heartbeats, image_cache
from workers.reaper import reap_hosts
from workflows.host_reads import HostDomainsWorkflow

HOSTS = ["sim1", "sim2", "sim3"]
# Domains of this module's own deployment: the test driver's state is the pytest process's.
DEPLOYMENT = f"d-fleet-{uuid.uuid4()}"
CAPACITY = HostCapacity("QEMU", "sim.example", "x86_64", "nova", 8, 8192, 100, 4.0, 1.0, 1.0)
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def _spec(instance_uuid: str, host: str, tmp: Path) -> DomainSpec:
    return dataclasses.replace(_reap_spec(instance_uuid, host, tmp), deployment=DEPLOYMENT)


def _heartbeats(cloud: LoopbackCloud) -> dict[str, datetime]:
    with cloud.sessions.begin() as s:
        return {n.host: n.heartbeat_at for n in s.scalars(select(ComputeNode))}


async def _domains_of_each(cloud: LoopbackCloud, temporal_port: int) -> list[HostDomains]:
    """Each host's guests, asked on its own queue (the step runs on that host's worker)."""
    settings = cloud.settings.model_copy(update={"temporal_address": f"127.0.0.1:{temporal_port}"})
    client = await connect(settings)
    for host in HOSTS:
        polled = await has_pollers(settings, f"compute-{host}")
        assert polled, f"nobody polls {host}'s queue"
    async with Worker(
        client,
        task_queue="probe",
        workflows=[HostDomainsWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        return [
            await client.execute_workflow(
                HostDomainsWorkflow.run,
                HostDomainsInput(host),
                id=f"domains-{uuid.uuid4()}",
                task_queue="probe",
            )
            for host in HOSTS
        ]


def test_one_process_serves_several_hosts_each_its_own(database_url: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "fleet"
    gone = str(uuid.uuid4())
    # What a build that moved on left on sim2 (the start's one reaping pass finds it).
    (data_dir / "hosts" / "sim2" / "instances" / gone).mkdir(parents=True)
    with control_plane(database_url, tmp_path) as (temporal_port, cloud):
        with cloud.sessions.begin() as s:
            s.add(instance_row(gone, None, deleted=True))
        log = tmp_path / "fleet.log"
        with compute_worker(cloud, temporal_port, data_dir, log, HOSTS) as proc:
            # A row a host, each beating on its own.
            wait_until(lambda: set(_heartbeats(cloud)) == set(HOSTS), timeout=120)
            before = _heartbeats(cloud)
            wait_until(lambda: all(_heartbeats(cloud)[h] > before[h] for h in HOSTS))
            assert not (data_dir / "hosts" / "sim2" / "instances" / gone).exists()

            # Each host's queue is served by its own driver (the same steps a host runs).
            answers = asyncio.run(_domains_of_each(cloud, temporal_port))
            assert [a.host for a in answers] == HOSTS
            assert all(a.domains == [] for a in answers)
            assert proc.poll() is None, log.read_text()


def test_hosts_sharing_a_connection_see_and_destroy_only_their_own_guests(
    tmp_path: Path,
) -> None:
    conn = libvirt.open("test:///default")
    try:
        a, b = (LibvirtDriver(conn.getURI(), h, tmp_path / h, DEPLOYMENT, conn=conn) for h in "ab")
        on_a, on_b = str(uuid.uuid4()), str(uuid.uuid4())
        a.spawn(_spec(on_a, "a", tmp_path))
        b.spawn(_spec(on_b, "b", tmp_path))
        assert [g.uuid for g in a.guests()] == [on_a]
        assert [g.uuid for g in b.guests()] == [on_b]
        listed = guests_by_host(conn, DEPLOYMENT)
        assert {h: [g.uuid for g in gs] for h, gs in listed.items()} == {"a": [on_a], "b": [on_b]}

        assert b.destroy(on_a) is False  # another host's guest is as good as absent
        assert [g.uuid for g in a.guests()] == [on_a]
        a.close()  # a shared connection stays open for the other hosts
        assert [g.uuid for g in b.guests()] == [on_b]
        assert b.destroy(on_b) and a.destroy(on_a)
    finally:
        conn.close()


class _Conductor:
    """Records what the process asks of the conductor API; nothing is placed anywhere."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.beaten = threading.Event()

    def heartbeat(self, hosts: Collection[str]) -> list[str]:
        self.calls.append(("heartbeat", sorted(hosts)))
        self.beaten.set()
        return []

    def placements(self, host: str, uuids: Collection[str]) -> dict[str, InstanceOnHost]:
        if uuids:
            self.calls.append(("placements", host))
        return dict.fromkeys(uuids, ABSENT)

    def resolve_leftovers(self, host: str, instance_uuid: str) -> int:
        return 0


class _Network:
    def __init__(self) -> None:
        self.listings = 0

    def list_ports(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        self.listings += 1
        return []


async def _beat_once(conductor: _Conductor, hosts: list[str]) -> None:
    capacities = dict.fromkeys(hosts, CAPACITY)
    beating = asyncio.create_task(heartbeats(conductor, capacities, 0.01))  # type: ignore[arg-type]
    await asyncio.to_thread(conductor.beaten.wait, 30)
    beating.cancel()


def test_one_heartbeat_call_covers_every_host_of_the_process() -> None:
    conductor = _Conductor()
    hosts = [f"sim{i}" for i in range(250)]
    asyncio.run(_beat_once(conductor, hosts))
    assert conductor.calls[0] == ("heartbeat", sorted(hosts))


def test_the_reaper_lists_once_for_all_hosts_and_reaps_each_hosts_own(tmp_path: Path) -> None:
    conn = libvirt.open("test:///default")
    try:
        hosts = [f"sim{i}" for i in range(150)]
        drivers = [
            LibvirtDriver(conn.getURI(), h, tmp_path / h, DEPLOYMENT, conn=conn) for h in hosts
        ]
        stray = {h: str(uuid.uuid4()) for h in ("sim3", "sim140")}
        for host, uid in stray.items():
            drivers[hosts.index(host)].spawn(_spec(uid, host, tmp_path))
        conductor, network = _Conductor(), _Network()

        assert reap_hosts(conductor, drivers, network) == 2  # type: ignore[arg-type]
        assert not guests_by_host(conn, DEPLOYMENT)
        # Only the hosts that held something were asked about; ports in two listings.
        assert conductor.calls == [("placements", "sim3"), ("placements", "sim140")]
        assert network.listings == 2
    finally:
        conn.close()


def test_a_processs_one_image_cache_keeps_what_any_of_its_hosts_uses(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    cache = image_cache(settings, ["sim1", "sim2"])
    assert cache.base_dir == settings.host_dir("sim1") / "_base"
    cache.base_dir.mkdir(parents=True)
    for image in ("used-by-sim1", "used-by-sim2", "unused"):
        (cache.base_dir / image).write_bytes(b"x")
    drivers = [LibvirtDriver("test:///default", h, settings.host_dir(h)) for h in ("sim1", "sim2")]
    for n, driver in enumerate(drivers, 1):
        driver.record_bases(str(uuid.uuid4()), [cache.path(f"used-by-sim{n}")])

    assert clean(cache, drivers, max_unused=0) == ["unused"]
    assert cache.path("used-by-sim1").exists() and cache.path("used-by-sim2").exists()
    for driver in drivers:
        driver.close()


def _count_statements(sessions_engine: Any) -> list[str]:
    seen: list[str] = []
    event.listen(sessions_engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


def test_the_conductor_heartbeat_syncs_only_hosts_whose_usage_drifted(
    database_url: str,
) -> None:
    """A heartbeat of N hosts costs the same statements for 5 hosts as for 60 (it used to
    lock and re-sum every host), and still sets a drifted host's usage from its claims."""
    upgrade(database_url)
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    hosts = [f"sim{i:02}" for i in range(60)]
    with sessions.begin() as s:
        for host in hosts:
            s.add(ComputeNode(host=host, hypervisor_hostname=host, **_capacity()))
        s.add(Claim(instance_uuid="i-1", host="sim01", vcpus=2, memory_mb=1024, disk_gb=10))
        s.add(Claim(instance_uuid="i-2", host="sim02", vcpus=1, memory_mb=512, disk_gb=1))
        # sim01's usage matches its claim; sim02's drifted (as if a release was lost).
        s.execute(
            update(ComputeNode)
            .where(ComputeNode.host == "sim01")
            .values(vcpus_used=2, memory_mb_used=1024, local_gb_used=10, running_vms=1)
        )
        s.execute(update(ComputeNode).values(heartbeat_at=LONG_AGO))
    statements = _count_statements(engine)
    assert heartbeat(Heartbeat(hosts=hosts[3:8]), sessions) == {"unknown": []}
    few = len(statements)
    statements.clear()
    # All of them: the drifted one is synced (a few statements more, for it alone)...
    assert heartbeat(Heartbeat(hosts=[*hosts, "nosuch"]), sessions) == {"unknown": ["nosuch"]}
    assert few < len(statements) <= few + 4
    statements.clear()
    # ... and once none drifted, 60 hosts cost what 5 did.
    assert heartbeat(Heartbeat(hosts=hosts), sessions) == {"unknown": []}
    assert len(statements) == few

    with sessions.begin() as s:
        nodes = {n.host: n for n in s.scalars(select(ComputeNode))}
        assert all(n.heartbeat_at > LONG_AGO for n in nodes.values())
        used = {h: (n.vcpus_used, n.memory_mb_used, n.running_vms) for h, n in nodes.items()}
    assert used["sim01"] == (2, 1024, 1)
    assert used["sim02"] == (1, 512, 1)
    assert used["sim03"] == (0, 0, 0)
    engine.dispose()


def _capacity() -> dict[str, Any]:
    return {
        "hypervisor_type": "QEMU",
        "cpu_arch": "x86_64",
        "vcpus": 8,
        "memory_mb": 8192,
        "local_gb": 100,
        "cpu_allocation_ratio": 4.0,
        "ram_allocation_ratio": 1.0,
        "disk_allocation_ratio": 1.0,
    }


def test_fleets_split_hosts_into_processes_of_at_most_the_given_size() -> None:
    hosts = [f"node{i}" for i in range(1, 1001)]
    assert [len(f) for f in fleets(hosts, 250)] == [250] * 4
    assert [len(f) for f in fleets(hosts[:50], 25)] == [25, 25]
    assert [len(f) for f in fleets(hosts[:7], 3)] == [3, 3, 1]
    assert [h for fleet in fleets(hosts[:7], 3) for h in fleet] == hosts[:7]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--hosts", "100", "--hypervisor", "test"], "--hypervisor fake simulates more"),
        (["--hosts", "2", "--hypervisor", "test", "--hosts-per-process", "2"], "fake only"),
        (["--hosts", "2001", "--hypervisor", "fake"], "2001 is not in the range"),
    ],
)
def test_up_refuses_more_hosts_than_a_real_hypervisor_runs(
    tmp_path: Path, args: list[str], says: str
) -> None:
    done = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "up", *args])
    assert done.exit_code != 0
    assert says in done.output
    assert not (tmp_path / "run").exists()  # nothing was started


def test_a_compute_worker_needs_its_hosts_named(tmp_path: Path) -> None:
    done = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "run", "compute-worker"])
    assert done.exit_code == 2
    assert "--hosts-file" in done.output
