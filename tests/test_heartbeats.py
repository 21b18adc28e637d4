"""A step the workflow gives a heartbeat timeout heartbeats while it runs (activities.hooks),
however long one blocking call takes: a live worker is not taken for a dead one, and a dead
one is noticed within the timeout."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, TimeoutError, TimeoutType
from temporalio.worker import Interceptor, UnsandboxedWorkflowRunner, Worker

from activities.hooks import ActivityHooks
from core.faults import FaultPlan
from db.actions import EventLog
from db.migrate import upgrade
from db.session import make_engine, make_session_factory
from tests.support.devserver import dev_server

TASK_QUEUE = "heartbeats"


@activity.defn(name="blocking_step")
def blocking_step(seconds: float) -> str:
    """A step that makes no progress reports: one call that blocks (a libvirt define, an
    HTTP request to a slow service)."""
    time.sleep(seconds)
    return "done"


@workflow.defn(name="HeartbeatProbe")
class HeartbeatProbe:
    @workflow.run
    async def run(self, seconds: float) -> str:
        return await workflow.execute_activity(
            "blocking_step",
            seconds,
            result_type=str,
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=timedelta(seconds=1),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


@pytest.fixture(scope="module")
async def client(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Client]:
    with dev_server(tmp_path_factory.mktemp("temporal") / "server.log") as port:
        yield await Client.connect(f"127.0.0.1:{port}")


def _hooks(tmp_path: Path) -> ActivityHooks:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    return ActivityHooks(EventLog(make_session_factory(make_engine(url))), "node1", FaultPlan())


async def _probe(client: Client, interceptors: list[Interceptor], seconds: float) -> str:
    with ThreadPoolExecutor(4) as pool:
        async with Worker(
            client,
            task_queue=TASK_QUEUE,
            workflows=[HeartbeatProbe],
            activities=[blocking_step],
            activity_executor=pool,
            interceptors=interceptors,
            workflow_runner=UnsandboxedWorkflowRunner(),
        ):
            return await client.execute_workflow(
                HeartbeatProbe.run, seconds, id=f"probe-{uuid.uuid4()}", task_queue=TASK_QUEUE
            )


async def test_a_step_blocked_longer_than_its_heartbeat_timeout_is_kept_alive(
    client: Client, tmp_path: Path
) -> None:
    assert await _probe(client, [_hooks(tmp_path)], seconds=3.5) == "done"


async def test_without_the_hooks_the_same_step_times_out(client: Client) -> None:
    """The probe can fail: the step itself never heartbeats."""
    with pytest.raises(WorkflowFailureError) as failed:
        await _probe(client, [], seconds=3.5)
    cause = failed.value.cause
    assert isinstance(cause, ActivityError)
    assert isinstance(cause.cause, TimeoutError)
    assert cause.cause.type == TimeoutType.HEARTBEAT
