"""BootInstance: Nova's boot path (seed steps 4-28), one retried activity per stage.

Steps 1-3 (authenticate, validate and reserve quota, create the record) decide whether
the request is accepted; the ``accepted`` update answers the caller then, as Nova's API
answers 202 or 400. From step 4 on, a failure undoes what was done, newest first, and
leaves the instance in ``error`` with a fault that says why.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from bootflow import activity_defs as act
    from bootflow import task_queues
    from bootflow.errors import ErrorType
    from bootflow.messages import (
        Accepted,
        AllocatePortInput,
        AttachmentSpec,
        AttachVolumeInput,
        AuthenticateInput,
        BootProgress,
        BootRequest,
        BootResult,
        CreateInstanceInput,
        CreateVolumeInput,
        FetchImageInput,
        InstanceRef,
        MarkActiveInput,
        RecordFaultInput,
        ScheduleInput,
        SpawnInput,
        ValidateInput,
    )
    from bootflow.states import TaskState, VmState
    from workflows.calls import Acceptance, Compensation, error_type, fault_of, run

# A host whose worker does not pick a task up in this time is taken as down.
HOST_PICKUP_TIMEOUT = timedelta(minutes=2)
PORT_TIMEOUT = timedelta(minutes=1)
VOLUME_TIMEOUT = timedelta(minutes=3)
IMAGE_TIMEOUT = timedelta(minutes=30)
IMAGE_HEARTBEAT = timedelta(seconds=30)
SPAWN_TIMEOUT = timedelta(minutes=5)
# Blocking host steps heartbeat every few seconds: a dead worker is noticed this fast.
HOST_HEARTBEAT = timedelta(seconds=15)


@workflow.defn(name="BootInstance")
class BootInstance:
    def __init__(self) -> None:
        self._acceptance = Acceptance()
        self._progress = BootProgress(
            instance_uuid="", stage="authenticate", vm_state=VmState.BUILDING, task_state=None
        )

    @workflow.update
    async def accepted(self) -> Accepted:
        """Returns once the request is accepted (record written), or raises why it was not."""
        return await self._acceptance.wait()

    @workflow.query
    def progress(self) -> BootProgress:
        return self._progress

    def _stage(self, stage: str, task_state: str | None = None) -> None:
        if self._progress.stage and self._progress.stage not in self._progress.done:
            self._progress.done.append(self._progress.stage)
        self._progress.stage = stage
        if task_state is not None:
            self._progress.task_state = task_state

    @workflow.run
    async def run(self, request: BootRequest) -> BootResult:
        self._progress.instance_uuid = request.instance_uuid
        instance = InstanceRef(request.instance_uuid)
        undo = Compensation()

        # Steps 1-3: the request is accepted only if all of these succeed.
        try:
            self._stage("authenticate")
            context = await run(act.AUTHENTICATE, AuthenticateInput(request.auth_token))
            self._stage("validate")
            undo.push_activity(act.RELEASE_QUOTA, instance)
            valid = await run(act.VALIDATE_AND_RESERVE, ValidateInput(request, context))
            self._stage("create record")
            await run(
                act.CREATE_INSTANCE_RECORD,
                CreateInstanceInput(
                    instance_uuid=request.instance_uuid,
                    name=request.name,
                    request_id=request.request_id,
                    context=context,
                    flavor=valid.flavor,
                    image=valid.image,
                    availability_zone=request.availability_zone,
                ),
            )
        except ActivityError as err:
            await undo.run()
            self._progress.stage = "rejected"
            await self._acceptance.reject(err, ErrorType.BUILD_FAILED)

        self._acceptance.accept(request.instance_uuid)
        self._progress.task_state = TaskState.SCHEDULING
        stage = "schedule"
        host: str | None = None
        try:
            # Step 4: choose a host and claim its resources.
            self._stage(stage, TaskState.SCHEDULING)
            undo.push_activity(act.RELEASE_CLAIM, instance)
            placement = await run(
                act.SCHEDULE_AND_CLAIM,
                ScheduleInput(request.instance_uuid, valid.flavor, request.availability_zone),
            )
            host = placement.host
            self._progress.host = host
            on_host = task_queues.compute(host)

            # Step 5, on the host's own worker: network, volumes, image, guest.
            stage = "allocate port"
            self._stage(stage, TaskState.NETWORKING)
            undo.push_activity(act.DEALLOCATE_PORTS, instance)
            ports = [
                await run(
                    act.ALLOCATE_PORT,
                    AllocatePortInput(request.instance_uuid, context.project_id, network),
                    task_queue=on_host,
                    start_to_close=PORT_TIMEOUT,
                    schedule_to_start=HOST_PICKUP_TIMEOUT,
                    summary=f"allocate port on {network.name} for {host}",
                )
                for network in valid.networks
            ]

            attachments: list[AttachmentSpec] = []
            if request.volume_size_gb:
                stage = "create volume"
                self._stage(stage, TaskState.BLOCK_DEVICE_MAPPING)
                undo.push_activity(act.DELETE_VOLUMES, instance)
                volume = await run(
                    act.CREATE_VOLUME,
                    CreateVolumeInput(
                        request.instance_uuid, context.project_id, request.volume_size_gb
                    ),
                    task_queue=on_host,
                    start_to_close=VOLUME_TIMEOUT,
                    schedule_to_start=HOST_PICKUP_TIMEOUT,
                    summary=f"create {request.volume_size_gb} GiB volume",
                )
                stage = "attach volume"
                self._stage(stage)
                undo.push_activity(act.DETACH_VOLUMES, instance)
                attachments.append(
                    await run(
                        act.ATTACH_VOLUME,
                        AttachVolumeInput(request.instance_uuid, context.project_id, volume),
                        task_queue=on_host,
                        start_to_close=VOLUME_TIMEOUT,
                        schedule_to_start=HOST_PICKUP_TIMEOUT,
                        summary=f"attach volume to {host}",
                    )
                )

            stage = "fetch image"
            self._stage(stage, TaskState.SPAWNING)
            cached = await run(
                act.FETCH_IMAGE,
                FetchImageInput(request.instance_uuid, valid.image),
                task_queue=on_host,
                start_to_close=IMAGE_TIMEOUT,
                schedule_to_start=HOST_PICKUP_TIMEOUT,
                heartbeat=IMAGE_HEARTBEAT,
                summary=f"fetch image {valid.image.name} into {host}'s cache",
            )

            stage = "spawn"
            self._stage(stage)
            undo.push_activity(act.DESTROY_GUEST, instance, task_queue=on_host)
            spawned = await run(
                act.SPAWN,
                SpawnInput(
                    instance_uuid=request.instance_uuid,
                    name=request.name,
                    project_id=context.project_id,
                    flavor=valid.flavor,
                    image=valid.image,
                    cached_image=cached,
                    ports=ports,
                    attachments=attachments,
                ),
                task_queue=on_host,
                start_to_close=SPAWN_TIMEOUT,
                schedule_to_start=HOST_PICKUP_TIMEOUT,
                heartbeat=HOST_HEARTBEAT,
                summary=f"spawn on {host}",
            )

            # Step 6: the record says active, with host, addresses and launch time.
            stage = "finish"
            self._stage(stage)
            await run(
                act.MARK_ACTIVE,
                MarkActiveInput(request.instance_uuid, host, ports, spawned.power_state),
            )
        except ActivityError as err:
            fault = fault_of(err, stage)
            self._stage("undo")
            self._progress.fault = fault
            leftovers = await undo.run()
            if leftovers:
                fault.details += "; not undone: " + "; ".join(leftovers)
            await run(act.RECORD_FAULT, RecordFaultInput(request.instance_uuid, fault, host))
            self._stage("error")
            self._progress.task_state = None
            self._progress.vm_state = VmState.ERROR
            raise ApplicationError(
                fault.message, type=error_type(err) or ErrorType.BUILD_FAILED, non_retryable=True
            ) from err

        self._stage("active")
        self._progress.vm_state = VmState.ACTIVE
        self._progress.task_state = None
        return BootResult(request.instance_uuid, VmState.ACTIVE, host)
