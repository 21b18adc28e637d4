"""A compute host's worker opens no database connection (Nova's rule for computes): given a
database it cannot reach, it still reports its host, heartbeats, reaps, restores nothing
it should not, and records its steps' events and reads instance names for fault plans, all
through the compute API's conductor API. The compute API down delays its start and costs
heartbeats while it lasts, never the process."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from temporalio import workflow
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.ports import DEVICE_OWNER
from bootflow import lifetime
from clients.network import NetworkClient
from core import activity_defs as act
from core.messages import InstanceRef
from core.temporal import connect
from db.models.compute import ComputeNode, InstanceActionEvent, Leftover
from tests.support.cloud import PASSWORDS, LoopbackCloud, loopback_cloud
from tests.support.deployment import KEEP
from tests.support.devserver import dev_server, terminate
from tests.support.records import instance_row, start_action
from tests.support.stack import BOOTFLOW, wait_until
from workflows import calls

# Nothing listens on port 1: any use of this database fails at once.
UNREACHABLE_DATABASE = "postgresql://nobody:nothing@127.0.0.1:1/nowhere"
# The first attempt of destroy_guest on a server named web-* fails after its side effect.
FAULT_PLAN = json.dumps(
    [{"point": "destroy_guest:after", "match": "web-*", "times": 1, "message": "injected"}]
)


@workflow.defn(name="DestroyProbe")
class DestroyProbe:
    """Runs the host's destroy_guest on node1, as a boot's undo does."""

    @workflow.run
    async def run(self, instance_uuid: str) -> bool:
        return await calls.run(act.DESTROY_GUEST, InstanceRef(instance_uuid), host="node1")


@contextmanager
def control_plane(database_url: str, tmp_path: Path) -> Iterator[tuple[int, LoopbackCloud]]:
    """A Temporal dev server's port, and what a compute worker calls: identity, network and
    the compute API (its conductor API)."""
    with (
        dev_server(tmp_path / "temporal.log") as temporal_port,
        loopback_cloud(
            database_url, tmp_path / "cloud", services=("identity", "network", "compute")
        ) as cloud,
    ):
        yield temporal_port, cloud


@contextmanager
def compute_worker(
    cloud: LoopbackCloud,
    temporal_port: int,
    data_dir: Path,
    log: Path,
    hosts: Sequence[str] = ("node1",),
) -> Iterator[subprocess.Popen[bytes]]:
    """``bootflow run compute-worker --host node1`` as a host runs it (or a fleet's, with
    more hosts), with a database URL that nothing answers on."""
    settings = cloud.settings
    env = {k: v for k, v in os.environ.items() if k in KEEP}
    env |= {
        "BOOTFLOW_DATA_DIR": str(data_dir),
        "BOOTFLOW_DATABASE_URL": UNREACHABLE_DATABASE,
        "BOOTFLOW_AUTH_URL": settings.auth_url,
        "BOOTFLOW_SERVICE_PASSWORD": PASSWORDS["bootflow"],
        "BOOTFLOW_CODEC_KEY": settings.codec_key.get_secret_value(),
        "BOOTFLOW_CODEC_KEY_ID": settings.codec_key_id,
        "BOOTFLOW_DEPLOYMENT_ID": "d-test",
        "BOOTFLOW_LIBVIRT_URI": "test:///default",
        "BOOTFLOW_HOST_VCPUS": "6",
        "BOOTFLOW_HEARTBEAT_SECONDS": "0.5",
        "BOOTFLOW_REAP_INTERVAL_SECONDS": "0.5",
        "BOOTFLOW_FAULT_PLAN": FAULT_PLAN,
        "TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
    }
    with open(log, "ab") as out:
        proc = lifetime.spawn(
            [BOOTFLOW, "run", "compute-worker", *(a for h in hosts for a in ("--host", h))],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield proc
    finally:
        terminate(proc)


def _node(cloud: LoopbackCloud) -> ComputeNode | None:
    with cloud.sessions.begin() as s:
        node = s.scalar(select(ComputeNode).where(ComputeNode.host == "node1"))
        if node is not None:
            s.expunge(node)
        return node


def _heartbeat(cloud: LoopbackCloud) -> datetime:
    node = _node(cloud)
    assert node is not None
    return node.heartbeat_at


def _logged(log: Path, text: str, proc: subprocess.Popen[bytes]) -> bool:
    """Whether the worker logged ``text``; it must be alive all along."""
    assert proc.poll() is None, log.read_text()
    return text in log.read_text()


def _beat(cloud: LoopbackCloud, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Waits for the worker's next heartbeat."""
    before = _heartbeat(cloud)
    wait_until(lambda: _logged(log, "", proc) and _heartbeat(cloud) > before)


async def _destroy_through_temporal(cloud: LoopbackCloud, temporal_port: int, uid: str) -> bool:
    settings = cloud.settings.model_copy(update={"temporal_address": f"127.0.0.1:{temporal_port}"})
    client = await connect(settings)
    async with Worker(
        client,
        task_queue="probe",
        workflows=[DestroyProbe],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        return await client.execute_workflow(
            DestroyProbe.run, uid, id=f"probe-{uid}", task_queue="probe"
        )


def test_a_compute_worker_works_without_reaching_the_database(
    database_url: str, tmp_path: Path
) -> None:
    host_dir = tmp_path / "host"
    gone, web = str(uuid.uuid4()), str(uuid.uuid4())
    # What a boot that moved on left here: an instance dir, and the leftover its undo recorded.
    (host_dir / "hosts" / "node1" / "instances" / gone).mkdir(parents=True)
    with control_plane(database_url, tmp_path) as (temporal_port, cloud):
        with cloud.sessions.begin() as s:
            s.add_all(
                [instance_row(gone, None, deleted=True), instance_row(web, None, name="web-1")]
            )
            s.add(
                Leftover(
                    instance_uuid=gone,
                    project_id="p",
                    step="destroy_guest",
                    error="x",
                    host="node1",
                )
            )
            start_action(s, web, f"probe-{web}")
        log = tmp_path / "node1.log"
        with ExitStack() as running:
            # The control plane down at start: the worker waits for it, alive.
            with cloud.stopped("compute"):
                proc = running.enter_context(compute_worker(cloud, temporal_port, host_dir, log))
                wait_until(lambda: _logged(log, "could not join", proc))
            node = wait_until(lambda: _node(cloud))
            assert (node.vcpus, node.availability_zone) == (6, "nova")
            _beat(cloud, proc, log)
            # Reaped on start: the dir is gone, the leftover resolved.
            assert not (host_dir / "hosts" / "node1" / "instances" / gone).exists()
            with cloud.sessions.begin() as s:
                assert s.scalar(select(Leftover.resolved_at)) is not None

            # A step's events, and the name its fault rule matched, through the compute API.
            assert asyncio.run(_destroy_through_temporal(cloud, temporal_port, web)) is False
            with cloud.sessions.begin() as s:
                events = s.scalars(select(InstanceActionEvent).order_by(InstanceActionEvent.id))
                seen = [(e.event, e.host, e.attempt, e.result) for e in events]
            assert seen == [
                ("destroy_guest", "node1", 1, "Error"),
                ("destroy_guest", "node1", 2, "Success"),
            ]

            # A port bound here for an instance with no record is reaped.
            network = NetworkClient(cloud.session("bootflow"))
            net = network.create_network("private")
            network.create_subnet(net["id"], "10.0.0.0/24")
            stray = network.create_port(
                net["id"], device_id=str(uuid.uuid4()), device_owner=DEVICE_OWNER, host="node1"
            )
            wait_until(lambda: stray["id"] not in {p["id"] for p in network.list_ports()})

            # The compute API down: heartbeats fail, the worker lives on; back, they resume.
            with cloud.stopped("compute"):
                wait_until(lambda: _logged(log, "heartbeat of node1 failed", proc))
            _beat(cloud, proc, log)
            _beat(cloud, proc, log)
