"""Workflows run in the SDK's sandbox unless an operator turns it off
(``worker_workflow_sandbox``: docs/performance.md has what it costs)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import Client

# The sandbox imports this module afresh for the probe; what it needs outside is passed in.
with workflow.unsafe.imports_passed_through():
    from core.config import WorkerOptions
    from db.actions import EventLog
    from db.migrate import upgrade
    from db.session import make_engine, make_session_factory
    from tests.support.devserver import dev_server
    from workers.common import new_worker


@workflow.defn(name="SandboxProbe")
class SandboxProbe:
    @workflow.run
    async def run(self) -> bool:
        return workflow.unsafe.in_sandbox()


@pytest.fixture(scope="module")
async def client(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Client]:
    with dev_server(tmp_path_factory.mktemp("temporal") / "server.log") as port:
        yield await Client.connect(f"127.0.0.1:{port}")


@pytest.mark.parametrize("sandbox", [True, False])
async def test_the_sandbox_setting_decides_where_workflow_code_runs(
    client: Client, tmp_path: Path, sandbox: bool
) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    events = EventLog(make_session_factory(make_engine(url)))
    options = WorkerOptions(worker_workflow_sandbox=sandbox)
    worker = new_worker(client, options, events, None, [], [SandboxProbe])
    async with worker:
        ran_in_sandbox = await client.execute_workflow(
            SandboxProbe.run, id=f"probe-{uuid.uuid4()}", task_queue=worker.task_queue
        )
    assert ran_in_sandbox is sandbox
    assert WorkerOptions().worker_workflow_sandbox  # on unless turned off
