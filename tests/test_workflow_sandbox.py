"""Workflows run in the SDK's sandbox unless an operator turns it off
(``worker_workflow_sandbox``: docs/performance.md has what it costs); the sandbox is asked
each command's payload context once, and answers as the SDK's own does."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Self

import pytest
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.client import Client
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    PayloadCodec,
    SerializationContext,
    StorageDriverStoreContext,
    WithSerializationContext,
)
from temporalio.worker import (
    Worker,
    WorkflowInstance,
    WorkflowInstanceDetails,
    WorkflowRunner,
)
from temporalio.worker._command_aware_visitor import CommandInfo
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

# The sandbox imports this module afresh for the probe; what it needs outside is passed in.
with workflow.unsafe.imports_passed_through():
    from core.config import WorkerOptions
    from db.actions import EventLog
    from db.migrate import upgrade
    from db.session import make_engine, make_session_factory
    from tests.support.devserver import dev_server
    from workers.common import new_worker
    from workers.sandbox import SandboxRunner


@workflow.defn(name="SandboxProbe")
class SandboxProbe:
    @workflow.run
    async def run(self) -> bool:
        return workflow.unsafe.in_sandbox()


@activity.defn(name="echo")
async def echo(text: str) -> str:
    return text


@workflow.defn(name="ContextProbe")
class ContextProbe:
    """An activity and a local activity: payloads of the workflow's own and of each."""

    @workflow.run
    async def run(self, text: str) -> str:
        timeout = timedelta(seconds=30)
        text = await workflow.execute_activity(echo, text, start_to_close_timeout=timeout)
        return await workflow.execute_local_activity(echo, text, start_to_close_timeout=timeout)


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


class _NotingCodec(PayloadCodec, WithSerializationContext):
    """Passes payloads through and notes the context of each it encodes or decodes."""

    def __init__(self, seen: list[str], context: SerializationContext | None = None) -> None:
        self.seen = seen
        self.context = context

    def with_context(self, context: SerializationContext) -> Self:
        return type(self)(self.seen, context)

    def _note(self, payloads: Sequence[Payload]) -> list[Payload]:
        context = self.context
        if isinstance(context, ActivitySerializationContext):
            said = f"{context.activity_type} local={context.is_local}"
        else:
            said = type(context).__name__
        self.seen.extend(said for _ in payloads)
        return list(payloads)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return self._note(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return self._note(payloads)


class _Asked(WorkflowInstance):
    """The SDK's sandboxed instance, counting the context questions put to it."""

    def __init__(self, inner: WorkflowInstance, asked: list[CommandInfo | None]) -> None:
        self.inner, self.asked = inner, asked

    def activate(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
        return self.inner.activate(act)

    def get_info(self) -> workflow.Info:
        return self.inner.get_info()

    def get_serialization_context(
        self, command_info: CommandInfo | None
    ) -> SerializationContext | None:
        self.asked.append(command_info)
        return self.inner.get_serialization_context(command_info)

    def get_external_store_context(
        self, command_info: CommandInfo | None
    ) -> StorageDriverStoreContext:
        self.asked.append(command_info)
        return self.inner.get_external_store_context(command_info)


class _Asking(WorkflowRunner):
    def __init__(self, asked: list[CommandInfo | None]) -> None:
        self.asked = asked
        self.sdks = SandboxedWorkflowRunner()

    def prepare_workflow(self, defn: workflow._Definition) -> None:
        self.sdks.prepare_workflow(defn)

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _Asked(self.sdks.create_instance(det), self.asked)


async def _contexts_seen(client: Client, runner: WorkflowRunner) -> list[str]:
    seen: list[str] = []
    config = client.config()
    config["data_converter"] = dataclasses.replace(
        DataConverter.default, payload_codec=_NotingCodec(seen)
    )
    noting = Client(**config)
    queue = f"contexts-{uuid.uuid4()}"
    async with Worker(
        noting,
        task_queue=queue,
        workflows=[ContextProbe],
        activities=[echo],
        workflow_runner=runner,
    ):
        answer = await noting.execute_workflow(
            ContextProbe.run, "hello", id=f"contexts-{uuid.uuid4()}", task_queue=queue
        )
    assert answer == "hello"
    return seen


async def test_each_payload_has_the_context_the_sdks_sandbox_gives_it(client: Client) -> None:
    """A codec that keys payloads to their activity or workflow sees the same contexts, in
    the same order, under the sandbox as bootflow runs it and as the SDK ships it."""
    asked: list[CommandInfo | None] = []
    ours = await _contexts_seen(client, SandboxRunner(_Asking(asked)))
    sdks = await _contexts_seen(client, SandboxedWorkflowRunner())
    assert ours == sdks
    assert {"echo local=False", "echo local=True", "WorkflowSerializationContext"} <= set(ours)
    # Each command (and the workflow itself) was asked about once for each kind of context,
    # where the SDK's own asks for every payload on every pass.
    assert len(asked) == 2 * len(set(asked))
