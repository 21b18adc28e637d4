"""Several hosts on one machine: a control node and hypervisor hosts that share nothing but
Temporal, the database and the services' HTTP endpoints.

Set up by ``tests/support/deployment.py`` as docs/deploy.md describes: ``bootflow init``,
each service and worker started by ``bootflow run`` with only its own environment and data
dir, each compute worker on its own libvirt hypervisor (the test driver, which lives in the
worker's process, from a file describing that host), one of them reaching Temporal over
mTLS. Boots land on both hosts; a host is disabled, drained, and joined by a new one; and a
host whose worker is SIGKILLed in the middle of a boot loses that boot to the other host.
"""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core import task_queues
from core.messages import BootProgress, HostDomains, HostDomainsInput
from core.temporal import connect
from db.models.compute import ComputeNode, Instance
from db.session import SessionFactory, make_engine, make_session_factory
from tests.support.databases import new_database
from tests.support.deployment import Deployment, deployment
from tests.support.stack import TINY_SERVER, wait_until
from workflows.host_reads import HostDomainsWorkflow

pytestmark = pytest.mark.e2e

# Spawn waits this long for servers named mh-slow*, so a test can kill the host mid-boot.
SLOW_SPAWN_SECONDS = 8
FAULT_PLAN = json.dumps(
    [
        {
            "point": "spawn:before",
            "match": "mh-slow*",
            "action": "delay",
            "seconds": SLOW_SPAWN_SECONDS,
        }
    ]
)


@pytest.fixture(scope="module")
def deployed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("multihost")
    url = new_database("postgresql", root, request)
    with deployment(root, url, FAULT_PLAN) as d:
        yield d


@pytest.fixture(scope="module")
def sessions(deployed: Deployment) -> Iterator[SessionFactory]:
    engine = make_engine(deployed.settings.db_url, pool_size=2)
    yield make_session_factory(engine)
    engine.dispose()


def instance(sessions: SessionFactory, instance_uuid: str) -> Instance | None:
    with sessions.begin() as s:
        return s.get(Instance, instance_uuid)


def domains(d: Deployment, host: str) -> set[str]:
    """The bootflow domains ``host``'s own hypervisor has, asked through its worker."""

    async def ask() -> HostDomains:
        client = await connect(d.settings)
        return await client.execute_workflow(
            HostDomainsWorkflow.run,
            HostDomainsInput(host),
            id=f"host-domains-{uuid.uuid4()}",
            task_queue=task_queues.CONTROL,
        )

    return {domain.uuid for domain in asyncio.run(ask()).domains}


def boot(d: Deployment, name: str, *extra: str) -> dict[str, Any]:
    result = d.bootflow(
        "server",
        "create",
        name,
        *TINY_SERVER,
        *extra,
        "-f",
        "json",
    )
    assert result.code == 0, result.err
    body: dict[str, Any] = json.loads(result.out)
    return body


def host_list(d: Deployment) -> dict[str, dict[str, Any]]:
    result = d.bootflow("host", "list", "-f", "json")
    assert result.code == 0, result.err
    return {row["Host"]: row for row in json.loads(result.out)}


def only_enabled(d: Deployment, host: str, hosts: tuple[str, ...]) -> None:
    for other in hosts:
        verb = "enable" if other == host else "disable"
        assert d.bootflow("host", verb, other).code == 0


def test_processes_share_no_environment_and_no_data_dir(deployed: Deployment) -> None:
    envs = {name: deployed.environ_of(name) for name in ("control", "node1", "node2", "image")}
    data_dirs = {name: env["BOOTFLOW_DATA_DIR"] for name, env in envs.items()}
    # The services share the control node's dir; the workers each have their own.
    assert (
        len({data_dirs["control"], data_dirs["node1"], data_dirs["node2"], data_dirs["image"]}) == 4
    )
    for name in ("control", "node1", "node2"):
        assert not (Path(data_dirs[name]) / "secrets.json").exists()
        assert not (Path(data_dirs[name]) / "bootflow.json").exists()
        assert "BOOTFLOW_TOKEN_KEY" not in envs[name]  # only identity has it
    assert envs["node1"]["BOOTFLOW_LIBVIRT_URI"] != envs["node2"]["BOOTFLOW_LIBVIRT_URI"]
    # A hypervisor host is not given the database: it goes through the conductor API.
    assert "BOOTFLOW_DATABASE_URL" not in envs["node1"] | envs["node2"]
    # node2 reached Temporal only through the mTLS proxy, with a client certificate.
    assert envs["node2"]["TEMPORAL_ADDRESS"] == deployed.proxy.address
    assert "TEMPORAL_TLS_CLIENT_CERT_PATH" in envs["node2"]
    assert deployed.proxy.accepted > 0
    assert len({p.pid for p in deployed.procs.values()}) == len(deployed.procs)


def test_each_host_reports_its_own_hypervisor(
    deployed: Deployment, sessions: SessionFactory
) -> None:
    with sessions.begin() as s:
        nodes = {n.host: (n.vcpus, n.memory_mb) for n in s.scalars(select(ComputeNode))}
    assert nodes == {"node1": (4, 4096), "node2": (8, 8192)}
    listed = host_list(deployed)
    for host in ("node1", "node2"):
        assert listed[host]["State"] == "up" and listed[host]["Status"] == "enabled"
        assert listed[host]["Pollers"] >= 1


def test_init_again_changes_nothing(deployed: Deployment) -> None:
    result = deployed.bootflow("init", "database", "temporal", "cloud")
    assert result.code == 0, result.err
    assert "added none missing" in result.out


def test_boots_land_on_both_hosts_and_stay_apart(
    deployed: Deployment, sessions: SessionFactory
) -> None:
    hosts = ("node1", "node2")
    servers: dict[str, str] = {}
    try:
        for host in hosts:
            only_enabled(deployed, host, hosts)
            server = boot(deployed, f"mh-{host}", "--wait")
            assert server["status"] == "ACTIVE", server
            record = instance(sessions, server["id"])
            assert record is not None and record.host == host
            servers[host] = server["id"]
    finally:
        for host in hosts:
            deployed.bootflow("host", "enable", host)

    for host, other in (("node1", "node2"), ("node2", "node1")):
        # Each guest is on its host's hypervisor only, and its image in that host's cache.
        assert servers[host] in domains(deployed, host)
        assert servers[host] not in domains(deployed, other)
        data_dir = Path(deployed.envs[host]["BOOTFLOW_DATA_DIR"])
        assert any((data_dir / "hosts" / host / "_base").iterdir())
        assert (data_dir / "hosts" / host / "instances" / servers[host]).is_dir()
        assert not (data_dir / "hosts" / other).exists()
    for server_id in servers.values():
        assert deployed.bootflow("server", "delete", server_id, "--wait").code == 0


def test_a_new_host_joins_and_a_drained_host_leaves(
    deployed: Deployment, sessions: SessionFactory
) -> None:
    # A new hypervisor host: its worker, its environment, nothing else.
    deployed.start_compute("node3", deployed.compute_env("node3", 2, 2048))
    listed = host_list(deployed)
    assert listed["node3"]["State"] == "up" and listed["node3"]["Pollers"] >= 1
    hosts = ("node1", "node2", "node3")
    try:
        only_enabled(deployed, "node3", hosts)
        server = boot(deployed, "mh-joined", "--wait")
        assert server["status"] == "ACTIVE"
        record = instance(sessions, server["id"])
        assert record is not None and record.host == "node3"
    finally:
        for host in hosts:
            deployed.bootflow("host", "enable", host)
    assert deployed.bootflow("server", "delete", server["id"], "--wait").code == 0

    # Draining: disabled at once, done when nothing is in flight and the queue is empty.
    drained = deployed.bootflow("host", "drain", "node3", "--timeout", "60")
    assert drained.code == 0, drained.err
    assert "node3 is drained" in drained.out
    listed = host_list(deployed)
    assert listed["node3"]["Status"] == "disabled" and listed["node3"]["Reason"] == "draining"
    assert listed["node3"]["In flight"] == 0 and listed["node3"]["Backlog"] == 0
    deployed.stop("node3")
    assert deployed.procs["node3"].returncode == 0
    # Disabled, it is never chosen, even with its worker gone.
    server = boot(deployed, "mh-after-drain", "--wait")
    record = instance(sessions, server["id"])
    assert record is not None and record.host in ("node1", "node2")
    assert deployed.bootflow("server", "delete", server["id"], "--wait").code == 0


def progress(d: Deployment, server_id: str) -> BootProgress:
    async def ask() -> BootProgress:
        client = await connect(d.settings)
        handle = client.get_workflow_handle(f"boot-{server_id}")
        result: BootProgress = await handle.query("progress", result_type=BootProgress)
        return result

    return asyncio.run(ask())


# Dying mid-spawn costs the boot the heartbeat timeout (15 s), then the retry's pickup timeout
# on the dead host's queue (2 min), before it moves; this allows for another pickup timeout
# in the undo of the dead host's part, and the boot on the other host.
RESCHEDULE_WAIT = 330


@pytest.mark.timeout(RESCHEDULE_WAIT + 90)
def test_boot_moves_to_the_other_host_when_its_host_worker_is_killed(
    deployed: Deployment, sessions: SessionFactory
) -> None:
    server_id = boot(deployed, "mh-slow-reschedule")["id"]

    def spawning() -> str | None:
        """The host, once spawn runs there (held SLOW_SPAWN_SECONDS by the fault plan)."""
        now = progress(deployed, server_id)
        return now.host if now.stage == "spawn" else None

    first = wait_until(spawning, timeout=60)
    other = "node2" if first == "node1" else "node1"
    deployed.stop(first, signal.SIGKILL)  # the host dies mid-spawn; nothing restarts it

    def settled() -> Instance | None:
        record = instance(sessions, server_id)
        return record if record is not None and record.vm_state != "building" else None

    record = wait_until(settled, timeout=RESCHEDULE_WAIT, interval=1.0)
    assert record.vm_state == "active", deployed.bootflow("server", "show", server_id).out
    assert record.host == other
    assert server_id in domains(deployed, other)
    shown = deployed.bootflow("server", "show", server_id, "-f", "json")
    assert shown.code == 0 and shown.json()["status"] == "ACTIVE"
    assert shown.json()["addresses"]
