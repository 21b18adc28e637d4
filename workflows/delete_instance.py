"""DeleteInstance: the reverse of a boot, for an active or errored server.

Each step is keyed by the instance and finds what there is, so a delete of a server whose
boot failed half-way (or a delete retried after a crash) removes exactly what is left.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from core import activity_defs as act
    from core import search_attributes as sa
    from core.errors import ErrorType
    from core.messages import (
        Accepted,
        AuthenticateInput,
        BeginDeleteInput,
        CancelReason,
        DeleteRequest,
        DeleteResult,
        InstanceForDelete,
        InstanceRef,
        RecordFaultInput,
    )
    from core.states import TaskState, VmState
    from core.workflow_ids import boot_workflow_id
    from workflows.calls import Acceptance, error_type, fault_of, run


# What a delete does once the guests are gone, in order, each with the stage a fault names.
_AFTER_GUEST: tuple[tuple[str, act.ActivityDef[InstanceRef, Any]], ...] = (
    ("detach volumes", act.DETACH_VOLUMES),
    ("delete volumes", act.DELETE_VOLUMES),
    ("deallocate ports", act.DEALLOCATE_PORTS),
    ("release claim", act.RELEASE_CLAIM),
    ("release quota", act.RELEASE_QUOTA),
    ("mark deleted", act.MARK_DELETED),
)
_VOLUME_STEPS = (act.DETACH_VOLUMES, act.DELETE_VOLUMES)

# Since this patch a delete of a server whose boot never asked for a volume skips the
# volume steps (no host made one); histories from before it ran them, and replay so.
SKIP_VOLUME_STEPS_PATCH = "delete-skips-volume-steps"


@workflow.defn(name="DeleteInstance")
class DeleteInstance:
    def __init__(self) -> None:
        self._acceptance = Acceptance()

    @workflow.update
    async def accepted(self) -> Accepted:
        """Returns once the delete has begun (task_state deleting), or raises why not."""
        return await self._acceptance.wait()

    @workflow.run
    async def run(self, request: DeleteRequest) -> DeleteResult:
        instance = InstanceRef(request.instance_uuid)
        try:
            context = await run(act.AUTHENTICATE, AuthenticateInput(request.auth_token))
            begin = BeginDeleteInput(request.instance_uuid, context, request.request_id)
            target = await run(act.BEGIN_DELETE, begin)
        except ActivityError as err:
            await self._acceptance.reject(err, ErrorType.DELETE_FAILED)
        self._acceptance.accept(request.instance_uuid)
        if target.vm_state == VmState.BUILDING:
            # As Nova allows: cancel the boot, let its undo steps run, then delete what is left.
            await self._cancel_boot(request.instance_uuid)
            target = await run(act.BEGIN_DELETE, begin)
        self._index(target, TaskState.DELETING)
        stage = "destroy guest"
        try:
            # Its host's guest, and any an undo failed to destroy elsewhere (a leftover).
            for host in [*([target.host] if target.host else []), *target.guest_hosts]:
                await run(
                    act.DESTROY_GUEST, instance, host=host, summary=f"destroy guest on {host}"
                )
            for name, step in self._after_guest(target):
                stage = name
                await run(step, instance)
        except ActivityError as err:
            # As Nova: a delete that fails leaves the server in error, saying where it stopped.
            fault = fault_of(err, f"delete ({stage})")
            await run(act.RECORD_FAULT, RecordFaultInput(request.instance_uuid, fault, target.host))
            raise ApplicationError(
                fault.message, type=error_type(err) or ErrorType.DELETE_FAILED, non_retryable=True
            ) from err
        target.vm_state = VmState.DELETED
        self._index(target, None)
        return DeleteResult(request.instance_uuid, VmState.DELETED)

    @staticmethod
    def _after_guest(
        target: InstanceForDelete,
    ) -> tuple[tuple[str, act.ActivityDef[InstanceRef, Any]], ...]:
        if target.volumes_requested or not workflow.patched(SKIP_VOLUME_STEPS_PATCH):
            return _AFTER_GUEST
        return tuple((name, step) for name, step in _AFTER_GUEST if step not in _VOLUME_STEPS)

    async def _cancel_boot(self, instance_uuid: str) -> None:
        boot = workflow.get_external_workflow_handle(boot_workflow_id(instance_uuid))
        try:
            await boot.cancel(reason=CancelReason.DELETED)
        except Exception as err:
            workflow.logger.info("boot of %s not cancelled: %s", instance_uuid, err)
        waited = "wait for the cancelled boot's undo steps"
        await run(act.AWAIT_BOOT_END, InstanceRef(instance_uuid), summary=waited)

    def _index(self, target: InstanceForDelete, task_state: str | None) -> None:
        updates = [
            sa.INSTANCE_UUID.value_set(target.instance_uuid),
            sa.INSTANCE_NAME.value_set(target.name),
            sa.PROJECT_ID.value_set(target.project_id),
            sa.VM_STATE.value_set(target.vm_state),
            sa.TASK_STATE.value_set(task_state or sa.NONE),
        ]
        if target.host:
            updates.append(sa.COMPUTE_HOST.value_set(target.host))
        workflow.upsert_search_attributes(updates)
