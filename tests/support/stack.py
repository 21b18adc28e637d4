"""The real embedded stack (``bootflow.stack.Stack``, or ``bootflow up`` itself), on free
ports in a temp data dir. Every process started here dies with the test process, SIGKILL
included; a detached stack is stopped by a watcher when it dies."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bootflow import lifetime
from bootflow.seed import admin_session, read_openrc, stored_secret
from bootflow.stack import Stack
from clients.image import ImageClient
from clients.network import NetworkClient
from clients.session import Credentials, Session
from clients.volume import VolumeClient
from core import task_queues
from core.config import Settings
from core.messages import BootProgress, HostDomains, HostDomainsInput
from core.temporal import connect
from db.models.compute import Claim, ComputeNode, Instance, QuotaReservation, QuotaUsage
from db.quotas import RESOURCES
from db.session import SessionFactory, make_engine, make_session_factory
from tests.support.cleanup import when_this_process_ends
from tests.support.net import free_port
from workflows.host_reads import HostDomainsWorkflow

BOOTFLOW = str(Path(sys.executable).parent / "bootflow")
# `bootflow server create NAME` arguments for the seeded tiny server most tests boot.
TINY_SERVER = ("--flavor", "m1.tiny", "--image", "cirros", "--network", "private")


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class RunningStack:
    stack: Stack
    sessions: SessionFactory

    @property
    def settings(self) -> Settings:
        return self.stack.settings

    def cli(self, *args: str, timeout: float = 120) -> CliResult:
        """Run ``bootflow`` as a user would, against this stack (its openrc's demo user)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env["BOOTFLOW_DATA_DIR"] = str(self.settings.data_dir)
        proc = bootflow(env, *args, timeout=timeout)
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    def admin_cli(self, *args: str, timeout: float = 120) -> CliResult:
        """``bootflow`` as the admin user (OS_* from the stack's secrets)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env |= {
            "BOOTFLOW_DATA_DIR": str(self.settings.data_dir),
            "OS_AUTH_URL": self.settings.auth_url,
            "OS_USERNAME": "admin",
            "OS_PASSWORD": stored_secret(self.settings, "admin_password"),
            "OS_PROJECT_NAME": "admin",
        }
        proc = bootflow(env, *args, timeout=timeout)
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    def admin(self) -> Session:
        return admin_session(self.settings)

    def demo(self) -> Session:
        """A session as the demo user, from the stack's openrc (what the CLI uses)."""
        env = read_openrc(self.settings.data_dir / "openrc")
        return Session(
            Credentials(
                env["OS_AUTH_URL"], env["OS_USERNAME"], env["OS_PASSWORD"], env["OS_PROJECT_NAME"]
            )
        )

    def all_ports(self) -> list[dict[str, Any]]:
        return NetworkClient(self.admin()).list_ports()

    def ports_of(self, instance_uuid: str) -> list[dict[str, Any]]:
        return NetworkClient(self.admin()).list_ports(device_id=instance_uuid)

    def volumes_of(self, instance_uuid: str, project_id: str) -> list[dict[str, Any]]:
        client = VolumeClient(self.admin(), project_id=project_id)
        return [
            v
            for v in client.list_volumes()
            if (v.get("metadata") or {}).get("instance_uuid") == instance_uuid
        ]

    def image_client(self) -> ImageClient:
        return ImageClient(self.admin())

    def domains(self, host: str) -> HostDomains:
        async def ask() -> HostDomains:
            client = await connect(self.settings)
            return await client.execute_workflow(
                HostDomainsWorkflow.run,
                HostDomainsInput(host),
                id=f"host-domains-{uuid.uuid4()}",
                task_queue=task_queues.CONTROL,
            )

        return asyncio.run(ask())

    def progress(self, instance_uuid: str) -> BootProgress:
        """The boot workflow's own view of where it is (its ``progress`` query)."""

        async def ask() -> BootProgress:
            client = await connect(self.settings)
            handle = client.get_workflow_handle(f"boot-{instance_uuid}")
            return await handle.query("progress", result_type=BootProgress)

        return asyncio.run(ask())

    def instance(self, instance_uuid: str) -> Instance | None:
        with self.sessions.begin() as s:
            return s.get(Instance, instance_uuid)

    def claims(self, instance_uuid: str) -> list[Claim]:
        with self.sessions.begin() as s:
            return list(s.scalars(select(Claim).where(Claim.instance_uuid == instance_uuid)))

    def quota_usage(self, project_id: str) -> dict[str, int]:
        """Every quota resource's usage (0 for a project that never booted)."""
        with self.sessions.begin() as s:
            rows = s.scalars(select(QuotaUsage).where(QuotaUsage.project_id == project_id))
            return dict.fromkeys(RESOURCES, 0) | {r.resource: r.in_use for r in rows}

    def reservations(self, instance_uuid: str) -> int:
        with self.sessions.begin() as s:
            return int(
                s.scalar(
                    select(func.count())
                    .select_from(QuotaReservation)
                    .where(QuotaReservation.instance_uuid == instance_uuid)
                )
                or 0
            )

    def set_failed_builds(self, host: str, count: int) -> None:
        with self.sessions.begin() as s:
            node = s.scalar(select(ComputeNode).where(ComputeNode.host == host))
            assert node is not None
            node.failed_builds = count

    def failed_builds(self) -> dict[str, int]:
        with self.sessions.begin() as s:
            return {n.host: n.failed_builds for n in s.scalars(select(ComputeNode))}

    def host_usage(self) -> dict[str, tuple[int, int, int]]:
        with self.sessions.begin() as s:
            return {
                n.host: (n.vcpus_used, n.memory_mb_used, n.local_gb_used)
                for n in s.scalars(select(ComputeNode))
            }

    def child(self, name: str) -> subprocess.Popen[bytes]:
        for c in self.stack.children:
            if c.name == name:
                assert c.proc is not None
                return c.proc
        raise KeyError(name)


def stack_settings(data_dir: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        temporal_address=f"127.0.0.1:{free_port()}",
        temporal_ui_port=free_port(),
        codec_server_port=free_port(),
        identity_port=free_port(),
        image_port=free_port(),
        network_port=free_port(),
        volume_port=free_port(),
        compute_port=free_port(),
        heartbeat_seconds=2.0,
    )


@contextmanager
def running_stack(
    settings: Settings,
    hosts: int = 2,
    env: dict[str, str] | None = None,
    hosts_per_process: int | None = None,
) -> Iterator[RunningStack]:
    """``hosts_per_process``: simulated hosts in fleet processes (`up --hypervisor fake`)."""
    stack = Stack(settings, hosts, env=env, hosts_per_process=hosts_per_process)
    try:
        stack.start()
        engine = make_engine(stack.settings.db_url)
        try:
            yield RunningStack(stack, make_session_factory(engine))
        finally:
            engine.dispose()
    finally:
        stack.stop()


PORT_SETTINGS = (
    "temporal_ui_port",
    "codec_server_port",
    "identity_port",
    "image_port",
    "network_port",
    "volume_port",
    "compute_port",
)


def cli_env(data_dir: Path) -> dict[str, str]:
    """The environment of a user with a data dir of their own, on free ports."""
    settings = stack_settings(data_dir, "")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "BOOTFLOW_"))}
    env |= {f"BOOTFLOW_{name.upper()}": str(getattr(settings, name)) for name in PORT_SETTINGS}
    env |= {
        "BOOTFLOW_DATA_DIR": str(data_dir),
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "BOOTFLOW_HEARTBEAT_SECONDS": "2",
    }
    return env


def env_ports(env: dict[str, str]) -> list[int]:
    """The ports a stack started with ``env`` (from :func:`cli_env`) listens on."""
    ports = [int(env[f"BOOTFLOW_{name.upper()}"]) for name in PORT_SETTINGS]
    return [int(env["TEMPORAL_ADDRESS"].rsplit(":", 1)[1]), *ports]


def bootflow(
    env: dict[str, str], *args: str, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """``bootflow ARGS`` as a user runs it (it dies with the test process)."""
    return subprocess.run(
        [BOOTFLOW, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        preexec_fn=lifetime.die_with_parent(),
    )


@contextmanager
def down_afterwards(env: dict[str, str]) -> Iterator[None]:
    """``bootflow down`` on ``env``'s data dir when the block ends, or when this process dies
    first: for stacks ``bootflow up --detach`` starts, which outlive the command by design."""
    with when_this_process_ends([BOOTFLOW, "down"], env):
        yield


def wait_until(predicate: Any, timeout: float = 60.0, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(interval)
