"""RebuildServer (``rebuild-<uuid>``): Nova's rebuild, the guest made again from a (new)
image on the host it is on, with its ports and volumes kept.

authenticate; begin (Nova's checks, the image's, the record's changes and task_state
rebuilding, one control step: the ``accepted`` update answers the caller then); on the
server's host: destroy the guest; rebuild_spawning; fetch the image and spawn it again (its
config drive made anew: metadata, key, hostname, user_data); a server that was stopped is
stopped again; end (vm_state, power_state, no task), as the other actions end. A failure
leaves the server in error with a fault saying why. A delete that begins meanwhile wins:
the move to rebuild_spawning or the end then finds the server taken over and writes
nothing, and the delete's destroy_guest removes the guest (or, when it ran before the
spawn, the rebuild's own destroy after it).

No ``from __future__ import annotations``: see workflows/boot_instance.py.
"""

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from core import activity_defs as act
    from core.errors import UNDO_RETRY, ErrorType
    from core.messages import (
        Accepted,
        ActionResult,
        AuthenticateInput,
        BeginRebuildInput,
        EndActionInput,
        Fault,
        FetchImageInput,
        GuestPowerInput,
        InstanceRef,
        RebuildRequest,
        RebuildStageInput,
        RebuildTarget,
        SpawnInput,
    )
    from core.states import TaskState, VmState
    from workflows.calls import Acceptance, error_type, fault_of, run


@workflow.defn(name="RebuildServer")
class RebuildServer:
    def __init__(self) -> None:
        self._acceptance = Acceptance()
        # The task_state the record is in now: the end writes only while it still is.
        self._task_state: str = TaskState.REBUILDING

    @workflow.update
    async def accepted(self) -> Accepted:
        """Returns once the rebuild has begun (task_state rebuilding), or raises why not."""
        return await self._acceptance.wait()

    @workflow.run
    async def run(self, request: RebuildRequest) -> ActionResult:
        try:
            context = await run(act.AUTHENTICATE, AuthenticateInput(request.auth_token))
            target = await run(
                act.BEGIN_REBUILD, BeginRebuildInput(request, context), summary="begin rebuild"
            )
        except ActivityError as err:
            await self._acceptance.reject(err, ErrorType.ACTION_FAILED)
        self._acceptance.accept(request.instance_uuid)
        workflow.set_current_details(
            f"rebuild {target.name} on {target.host} from image {target.image.name}"
        )
        final = VmState.STOPPED if target.vm_state == VmState.STOPPED else VmState.ACTIVE
        try:
            power_state = await self._on_host(target)
        except ActivityError as err:
            fault = fault_of(err, "rebuild")
            await self._end(target, VmState.ERROR, None, fault)
            raise ApplicationError(
                fault.message, type=error_type(err) or ErrorType.ACTION_FAILED, non_retryable=True
            ) from err
        # (No power state: a delete took the server over, and the end writes nothing.)
        recorded = await self._end(target, final, power_state, None)
        if not recorded and power_state is not None:
            # A delete took over while the guest was being spawned: its destroy_guest may
            # have run before the spawn, so the guest made since is removed here.
            gone = InstanceRef(target.instance_uuid)
            await run(act.DESTROY_GUEST, gone, host=target.host, retry=UNDO_RETRY)
        return ActionResult(request.instance_uuid, final, recorded)

    async def _on_host(self, target: RebuildTarget) -> int | None:
        """The host's part: the guest destroyed, then spawned from the image (and stopped
        again if it was); its power state after, or None if a delete took over."""
        host, uuid = target.host, target.instance_uuid
        gone = InstanceRef(uuid)
        await run(act.DESTROY_GUEST, gone, host=host, summary=f"destroy the guest on {host}")
        spawning = RebuildStageInput(uuid, TaskState.REBUILDING, TaskState.REBUILD_SPAWNING)
        if not await run(act.ADVANCE_REBUILD, spawning, summary="rebuild spawning"):
            return None
        self._task_state = TaskState.REBUILD_SPAWNING
        image = target.image
        cached = await run(
            act.FETCH_IMAGE,
            FetchImageInput(uuid, image),
            host=host,
            summary=f"fetch image {image.name} into {host}'s cache",
        )
        spawn = SpawnInput(
            instance_uuid=uuid,
            name=target.name,
            project_id=target.project_id,
            flavor=target.flavor,
            image=image,
            cached_image=cached,
            ports=target.ports,
            attachments=target.attachments,
            key=target.key,
            metadata=target.metadata,
            hostname=target.hostname,
            user_data=target.user_data,
        )
        spawned = await run(act.SPAWN, spawn, host=host, summary=f"spawn on {host}")
        if target.vm_state != VmState.STOPPED:
            return spawned.power_state
        # As Nova's compute manager: a server rebuilt while stopped is stopped again.
        off = GuestPowerInput(uuid, hard=True)
        power = await run(act.POWER_OFF_GUEST, off, host=host, summary=f"stop on {host}")
        return power.power_state

    async def _end(
        self, target: RebuildTarget, vm_state: str, power_state: int | None, fault: Fault | None
    ) -> bool:
        # Retried as an undo is: the server must not be left mid-task for want of a try.
        end = EndActionInput(target.instance_uuid, self._task_state, vm_state, power_state, fault)
        return await run(act.END_SERVER_ACTION, end, retry=UNDO_RETRY, summary="end rebuild")
