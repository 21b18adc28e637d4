"""The SDK's workflow sandbox, asked once per command which payload context it belongs to.

For every payload of every activation and completion, on each of its passes (codec,
external storage, references), the worker asks the workflow instance which serialization
and storage context the payload belongs to: the workflow's own, or the activity's, child's
or signalled workflow's of the command it travels with. The sandboxed instance answers each
question by compiling and running a snippet inside the sandbox, which costs more than the
codec it serves (docs/performance.md). A command's answer is fixed once the command exists
(its kind and number name the same activity or child for the whole run) and the SDK asks
only about commands that exist, so each command's is asked once and kept for the run.
"""

from __future__ import annotations

from collections.abc import Sequence

import temporalio.workflow
from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.converter import SerializationContext, StorageDriverStoreContext
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails, WorkflowRunner
from temporalio.worker._command_aware_visitor import CommandInfo
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner


class SandboxRunner(WorkflowRunner):
    """The SDK's SandboxedWorkflowRunner, whose instances ask each command's contexts once."""

    def __init__(self, sandboxed: WorkflowRunner | None = None) -> None:
        self._sandboxed = sandboxed or SandboxedWorkflowRunner()

    def prepare_workflow(self, defn: temporalio.workflow._Definition) -> None:
        self._sandboxed.prepare_workflow(defn)

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _Instance(self._sandboxed.create_instance(det))

    def set_worker_level_failure_exception_types(
        self, types: Sequence[type[BaseException]]
    ) -> None:
        self._sandboxed.set_worker_level_failure_exception_types(types)


class _Instance(WorkflowInstance):
    def __init__(self, sandboxed: WorkflowInstance) -> None:
        self._sandboxed = sandboxed
        # Keyed by command (None: the workflow's own); a run has a few dozen commands.
        self._serialization: dict[CommandInfo | None, SerializationContext | None] = {}
        self._store: dict[CommandInfo | None, StorageDriverStoreContext] = {}

    def activate(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
        return self._sandboxed.activate(act)

    def get_info(self) -> temporalio.workflow.Info:
        return self._sandboxed.get_info()

    def get_thread_id(self) -> int | None:
        return self._sandboxed.get_thread_id()

    def get_serialization_context(
        self, command_info: CommandInfo | None
    ) -> SerializationContext | None:
        if command_info not in self._serialization:
            context = self._sandboxed.get_serialization_context(command_info)
            self._serialization[command_info] = context
        return self._serialization[command_info]

    def get_external_store_context(
        self, command_info: CommandInfo | None
    ) -> StorageDriverStoreContext:
        if command_info not in self._store:
            self._store[command_info] = self._sandboxed.get_external_store_context(command_info)
        return self._store[command_info]
