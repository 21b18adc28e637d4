"""Chaos: boot and delete many servers while everything fails now and then, then prove that
nothing leaked and nothing is stuck.

Faults (a seeded plan, so a failing run can be repeated):
- every boot and delete step fails at random just before, or just after, its side effect
  (the second kind is the crash between doing a thing and reporting it);
- the network, volume and image services answer 503 for a while;
- a compute worker is killed with SIGKILL mid-run and restarted;
- some boots fail for good at spawn; some servers are deleted while still building.
Afterwards the database, the services and the hypervisors must agree on every invariant.
"""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bootflow import activity_defs
from bootflow.temporal import connect
from clients.compute import ComputeClient
from clients.image import ImageClient
from clients.network import NetworkClient
from clients.volume import VolumeClient
from db.models import (
    Claim,
    ComputeNode,
    Instance,
    InstanceActionEvent,
    Leftover,
    QuotaReservation,
    QuotaUsage,
)
from tests.support.databases import BACKENDS, new_database
from tests.support.stack import RunningStack, running_stack, stack_settings, wait_until

pytestmark = pytest.mark.e2e

SEED = 20261124
# Steps that act on an instance (host inspection and console reads are left alone).
STEPS = [d.name for d in activity_defs.ALL if d.name not in ("list_domains", "get_console_output")]
PLAN = json.dumps(
    {
        "seed": SEED,
        "rules": [
            *(
                {"point": f"{step}:{when}", "probability": 0.08, "message": f"chaos: {step} {when}"}
                for step in STEPS
                for when in ("before", "after")
            ),
            {"point": "spawn", "match": "chaos-*-failspawn", "message": "chaos: spawn failed"},
            {"point": "http:network", "match": "POST /v2.0/ports", "probability": 0.3, "times": 8},
            {"point": "http:volume", "match": "POST /v3/*", "probability": 0.3, "times": 8},
            {
                "point": "http:image",
                "match": "GET /v2/images/*/file",
                "probability": 0.5,
                "times": 4,
            },
        ],
    }
)

BOOTS = 12  # kept, every third with a volume
FAILING = 3  # fail for good at spawn
DELETED_WHILE_BUILDING = 3
DELETED_WHEN_SETTLED = 4


@pytest.fixture(scope="module", params=BACKENDS)
def chaos_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    data_dir = tmp_path_factory.mktemp(f"chaos-{request.param}")
    url = new_database(request.param, data_dir, request)
    settings = stack_settings(data_dir, url)
    # Room for every server: quota and host memory are not what this test is about.
    env = {
        "BOOTFLOW_FAULT_PLAN": PLAN,
        "BOOTFLOW_QUOTA_INSTANCES": "100",
        "BOOTFLOW_HOST_MEMORY_MB": "32768",
    }
    with running_stack(settings, hosts=2, env=env) as stack:
        yield stack


def _create(compute: ComputeClient, image: str, network: str, name: str, volume: bool) -> str:
    server = compute.create_server(
        name, "1", image, [network], volume_size_gb=1 if volume else None
    )
    return str(server["id"])


def _settled(compute: ComputeClient, server_id: str) -> str:
    while True:
        status = str(compute.get_server(server_id)["status"])
        if status != "BUILD":
            return status
        time.sleep(0.3)


def _running_workflows(stack: RunningStack) -> list[str]:
    async def ask() -> list[str]:
        client = await connect(stack.settings)
        return [w.id async for w in client.list_workflows('ExecutionStatus="Running"')]

    return asyncio.run(ask())


def test_chaos_leaves_every_server_settled_and_nothing_leaked(chaos_stack: RunningStack) -> None:
    stack = chaos_stack
    demo = stack.demo()
    compute = ComputeClient(demo)
    image = ImageClient(demo).find_image("cirros")["id"]
    network = NetworkClient(demo).find_network("private")["id"]

    kept: list[str] = []
    deleted: list[str] = []
    lock = threading.Lock()

    def keep(i: int) -> None:
        server_id = _create(compute, image, network, f"chaos-{i}", volume=i % 3 == 0)
        with lock:
            kept.append(server_id)

    def fail(i: int) -> None:
        server_id = _create(compute, image, network, f"chaos-{i}-failspawn", volume=True)
        with lock:
            kept.append(server_id)

    def delete_while_building(i: int) -> None:
        server_id = _create(compute, image, network, f"chaos-{i}-gone", volume=i % 2 == 0)
        compute.delete_server(server_id)
        with lock:
            deleted.append(server_id)

    def kill_a_host() -> None:
        time.sleep(2.0)
        worker = stack.child("node1")
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        time.sleep(2.0)
        stack.stack.supervise_once()

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=6) as pool:
        jobs = [pool.submit(keep, i) for i in range(BOOTS)]
        jobs += [pool.submit(fail, BOOTS + i) for i in range(FAILING)]
        jobs += [pool.submit(delete_while_building, 100 + i) for i in range(DELETED_WHILE_BUILDING)]
        jobs.append(pool.submit(kill_a_host))
        for job in jobs:
            job.result()
    statuses = {s: _settled(compute, s) for s in kept}
    for server_id in [s for s in kept if statuses[s] == "ACTIVE"][:DELETED_WHEN_SETTLED]:
        compute.delete_server(server_id)
        deleted.append(server_id)
    wait_until(lambda: not _running_workflows(stack), timeout=600, interval=1.0)
    elapsed = time.monotonic() - started

    report = check_invariants(stack, deleted)
    report["seconds"] = round(elapsed, 1)
    print("\nchaos:", json.dumps(report))
    assert report["active"] >= 1 and report["error"] >= FAILING
    assert report["injected_failures_seen"] >= 5  # the faults really happened
    assert report["deleted"] == len(deleted)


def check_invariants(stack: RunningStack, deleted_ids: list[str]) -> dict[str, Any]:
    admin = stack.admin()
    with stack.sessions.begin() as s:
        instances = list(s.scalars(select(Instance).options(selectinload(Instance.block_devices))))
        claims = list(s.scalars(select(Claim)))
        nodes = list(s.scalars(select(ComputeNode)))
        reservations = list(s.scalars(select(QuotaReservation)))
        usages = list(s.scalars(select(QuotaUsage)))
        leftovers = list(s.scalars(select(Leftover).where(Leftover.resolved_at.is_(None))))
        failed_attempts = list(
            s.scalars(
                select(InstanceActionEvent.details).where(InstanceActionEvent.result == "Error")
            )
        )

    by_state: dict[str, list[Instance]] = {}
    for inst in instances:
        assert inst.vm_state in ("active", "error", "deleted"), (inst.uuid, inst.vm_state)
        assert inst.task_state is None, (inst.uuid, inst.task_state)
        by_state.setdefault(inst.vm_state, []).append(inst)
    active = {i.uuid: i for i in by_state.get("active", [])}
    dead = {i.uuid for i in instances if i.uuid not in active}
    assert {i.uuid for i in by_state.get("deleted", [])} == set(deleted_ids)

    ports = NetworkClient(admin).list_ports(device_owner="compute:nova")
    ports_by_instance: dict[str, int] = {}
    for port in ports:
        ports_by_instance[port["device_id"]] = ports_by_instance.get(port["device_id"], 0) + 1
    volumes: dict[str, list[dict[str, Any]]] = {}
    for project in {i.project_id for i in instances}:
        for vol in VolumeClient(admin, project_id=project).list_volumes():
            owner = (vol.get("metadata") or {}).get("instance_uuid")
            volumes.setdefault(owner, []).append(vol)
    domains: dict[str, str] = {}
    for node in nodes:
        for domain in stack.domains(node.host).domains:
            assert domain.uuid not in domains, f"{domain.uuid} runs on two hosts"
            domains[domain.uuid] = node.host
    claim_hosts = {c.instance_uuid: c.host for c in claims}

    for uuid, inst in active.items():
        assert ports_by_instance.get(uuid) == 1, (uuid, ports_by_instance.get(uuid))
        for vol in volumes.get(uuid, []):
            assert vol["status"] == "in-use" and len(vol["attachments"]) == 1, vol
        assert len(volumes.get(uuid, [])) == (1 if inst.block_devices else 0), uuid
        assert claim_hosts.get(uuid) == inst.host, uuid
        assert domains.get(uuid) == inst.host, uuid
    for uuid in dead:
        assert uuid not in ports_by_instance, f"port of {uuid} leaked"
        assert uuid not in volumes, f"volume of {uuid} leaked"
        assert uuid not in claim_hosts, f"claim of {uuid} leaked"
        assert uuid not in domains, f"domain of {uuid} leaked"
    assert not set(domains) - set(active), "a domain belongs to no live server"

    for node in nodes:
        held = [c for c in claims if c.host == node.host]
        assert node.vcpus_used == sum(c.vcpus for c in held), node.host
        assert node.memory_mb_used == sum(c.memory_mb for c in held), node.host
        assert node.local_gb_used == sum(c.disk_gb for c in held), node.host

    # Every server not deleted holds its quota, an ERROR one too (as Nova counts).
    undeleted = {i.uuid: i for i in instances if i.vm_state != "deleted"}
    assert {r.instance_uuid for r in reservations} == set(undeleted)
    for usage in usages:
        live = [i for i in undeleted.values() if i.project_id == usage.project_id]
        expected = {
            "instances": len(live),
            "cores": sum(i.vcpus for i in live),
            "ram": sum(i.memory_mb for i in live),
            "disk": sum(i.root_gb for i in live),
        }
        assert usage.in_use == expected[usage.resource], (usage.resource, usage.in_use)
    assert leftovers == [], [(x.instance_uuid, x.step, x.error) for x in leftovers]

    return {
        "injected_failures_seen": sum("chaos:" in (d or "") for d in failed_attempts),
        "instances": len(instances),
        "active": len(active),
        "error": len(by_state.get("error", [])),
        "deleted": len(by_state.get("deleted", [])),
        "ports": len(ports),
        "volumes": sum(len(v) for v in volumes.values()),
        "domains": len(domains),
        "claims": len(claims),
        "hosts": len(nodes),
        "quota_rows": len(usages),
    }
