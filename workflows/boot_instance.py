"""BootInstance: Nova's boot path (seed steps 4-28), one retried activity per stage.

Read top to bottom, ``run`` is the seed's steps: authenticate, validate and reserve quota,
create the record (``_accept``: the ``accepted`` update answers the caller then, as Nova's
API answers 202 or 400); schedule and claim a host; on that host allocate ports, create and
attach the volume, fetch the image, spawn (``_build_on``; a boot from a volume attaches its
root volume instead of fetching the image); mark active. A host failure
undoes that host's part and reschedules to an alternate (``_place``). From scheduling on, a
failure undoes what was done, newest first, and leaves the instance in ``error`` with a
fault that says why. Each step's queue, timeouts and retries are in its definition
(core/activity_defs.py).

The module runs afresh in the sandbox for every boot: its annotations are evaluated eagerly
(no ``from __future__ import annotations``), so the SDK's get_type_hints on the handlers
finds types, not strings to evaluate again each run.
"""

import asyncio
from dataclasses import replace
from datetime import datetime
from typing import NoReturn, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from core import activity_defs as act
    from core import search_attributes as sa
    from core.activity_defs import ActivityDef
    from core.errors import ErrorType
    from core.messages import (
        Accepted,
        AllocatePortInput,
        AttachmentSpec,
        AttachVolumeInput,
        AuthenticateInput,
        BootProgress,
        BootRequest,
        BootResult,
        CachedImage,
        CancelReason,
        ClaimAlternateInput,
        CreateInstanceInput,
        CreateVolumeInput,
        Fault,
        FetchImageInput,
        FlavorSpec,
        InstanceRef,
        LeftoverSpec,
        MarkActiveInput,
        Placement,
        PortSpec,
        RecordBlockDeviceInput,
        RecordFaultInput,
        RecordLeftoversInput,
        RequestContext,
        RescheduleInput,
        ScheduleInput,
        SpawnInput,
        SpawnResult,
        StageTime,
        TaskStateInput,
        ValidatedRequest,
        ValidateInput,
    )
    from core.states import STAGE_TASK_STATE, TaskState, VmState
    from workflows.calls import (
        Acceptance,
        Compensation,
        cancelled,
        describe,
        error_type,
        fault_of,
        host_failure,
        local_steps,
        run,
    )

# Host steps whose failure (a timeout, a guest that would not start, retries run out) is the
# host's, not the request's: those reschedule to an alternate host.
HOST_STEPS = frozenset(
    d.name
    for d in (act.ALLOCATE_PORT, act.CREATE_VOLUME, act.ATTACH_VOLUME, act.FETCH_IMAGE, act.SPAWN)
)

# Since this patch the image is fetched while the ports are allocated (and the volumes
# made), as Nova allocates the network while it prepares the disks; histories from before
# it fetched after them, and replay so.
FETCH_BESIDE_PATCH = "fetch-image-beside-ports"
# Since this patch the claim moves the record on to the first host stage's task_state
# (networking) in its own transaction, one step fewer a boot; histories from before it
# wrote that in a step of its own, and replay so.
CLAIM_MOVES_ON_PATCH = "claim-moves-task-state-on"

# The first stage on a chosen host (every boot allocates its ports first).
FIRST_ON_HOST = "allocate port"

InT = TypeVar("InT")
OutT = TypeVar("OutT")


class _Boot:
    """An accepted request: what it asked for, who asked, what validation resolved. (Not a
    dataclass: this module runs for every boot, and a dataclass is built by generating and
    compiling its methods.)"""

    __slots__ = ("context", "request", "valid")

    def __init__(
        self, request: BootRequest, context: RequestContext, valid: ValidatedRequest
    ) -> None:
        self.request = request
        self.context = context
        self.valid = valid

    @property
    def uuid(self) -> str:
        return self.request.instance_uuid

    @property
    def instance(self) -> InstanceRef:
        return InstanceRef(self.request.instance_uuid)


def _host_flavor(boot: _Boot) -> FlavorSpec:
    """What the boot asks of a host: the flavor, without its root disk for a server booted
    from a volume (Nova's is_bfv: no local disk is claimed)."""
    flavor = boot.valid.flavor
    return replace(flavor, root_gb=0) if boot.request.boot_volume else flavor


class HostsExhausted(Exception):
    """Every host the scheduler offered failed the build for a host reason (Nova's
    MaxRetriesExceeded)."""

    def __init__(self, instance_uuid: str, tried: list[str], reason: str) -> None:
        self.fault = Fault(
            code=500,
            message=(
                "Exceeded maximum number of retries. Exhausted all hosts available for "
                f"retrying build failures for instance {instance_uuid}. Hosts tried: "
                f"{', '.join(tried)}. Last error: {reason}"
            ),
            details=f"MaxRetriesExceeded after {len(tried)} attempts",
        )
        super().__init__(self.fault.message)


@workflow.defn(name="BootInstance")
class BootInstance:
    def __init__(self) -> None:
        self._acceptance = Acceptance()
        self._progress = BootProgress(
            instance_uuid="", stage="", vm_state=VmState.BUILDING, task_state=None
        )
        self._stage_started: datetime | None = None
        self._indexed: tuple[str | None, str | None, str | None] | None = None
        # What a request that ends without being accepted undoes: its quota, its record.
        self._rejection = Compensation(shielded=True)
        # How the current host was chosen, said by the first step on it.
        self._placed: str | None = None

    @workflow.update
    async def accepted(self) -> Accepted:
        """Returns once the request is accepted (record written), or raises why it was not."""
        return await self._acceptance.wait()

    @workflow.query
    def progress(self) -> BootProgress:
        return self._progress

    @workflow.run
    async def run(self, request: BootRequest) -> BootResult:
        self._progress.instance_uuid = request.instance_uuid
        self._index_as_started()
        undo = Compensation(shielded=True)
        try:
            boot = await self._accept(request, undo)
            return await self._build(boot, undo)
        except asyncio.CancelledError:
            await self._end_cancelled(request, undo)
            await self._acceptance.settle_cancelled()
            raise

    async def _accept(self, request: BootRequest, undo: Compensation) -> _Boot:
        """Steps 1-3: the request is accepted only if all of these succeed."""
        # The record's and the quota's undo are for a rejection only: an accepted boot that
        # fails keeps both, in error, until the server is deleted (as in Nova).
        instance = InstanceRef(request.instance_uuid)
        # A local step may have done its work in a workflow task that never completed (its
        # worker died): history says nothing of it, and a cancel in the retried task stops
        # the run before any push after the first step. So with local steps both undos
        # (keyed by the instance, harmless when there is nothing to undo) come first.
        early = local_steps()
        if early:
            self._rejection.push_activity(act.RELEASE_QUOTA, instance)
            self._rejection.push_activity(act.DELETE_INSTANCE_RECORD, instance)
        try:
            self._enter("authenticate")
            context = await self._step(act.AUTHENTICATE, AuthenticateInput(request.auth_token))
            self._enter("validate", f"validate and reserve quota for {context.project_name}")
            if not early:
                self._rejection.push_activity(act.RELEASE_QUOTA, instance)
            valid = await self._step(act.VALIDATE_AND_RESERVE, ValidateInput(request, context))
            self._enter("create record")
            if not early:
                self._rejection.push_activity(act.DELETE_INSTANCE_RECORD, instance)
            await self._step(
                act.CREATE_INSTANCE_RECORD,
                CreateInstanceInput(
                    instance_uuid=request.instance_uuid,
                    name=request.name,
                    request_id=request.request_id,
                    context=context,
                    flavor=valid.flavor,
                    image=valid.image,
                    availability_zone=request.availability_zone,
                    scheduler_hints=request.scheduler_hints,
                    preserved_ports=[n.port_id for n in request.networks if n.port_id],
                    key=request.key,
                    metadata=request.metadata,
                    description=request.description,
                    access_ip_v4=request.access_ip_v4,
                    access_ip_v6=request.access_ip_v6,
                    hostname=request.hostname,
                    volumes_requested=request.asks_for_volumes,
                ),
            )
        except ActivityError as err:
            if cancelled(err):
                raise asyncio.CancelledError from err
            undo.extend(self._rejection)
            await undo.run()
            self._enter("rejected")
            await self._acceptance.reject(err, ErrorType.BUILD_FAILED)
        self._acceptance.accept(request.instance_uuid)
        return _Boot(request, context, valid)

    async def _build(self, boot: _Boot, undo: Compensation) -> BootResult:
        """Steps 4-6; a failure undoes what was done and leaves the instance in error."""
        # This host's part (its claim, ports, volumes, guest), undone on its own on reschedule.
        on_host = Compensation(shielded=True)
        try:
            placement = await self._schedule(boot, on_host)
            host, ports, spawned = await self._place(boot, placement, on_host)
            # Step 6: the record says active, with host, addresses and launch time.
            await self._begin("finish")
            marked = MarkActiveInput(boot.uuid, host, ports, spawned.power_state)
            await run(act.MARK_ACTIVE, marked, summary=f"mark active on {host}")
        except asyncio.CancelledError:
            undo.extend(on_host)
            raise
        except ActivityError as err:
            undo.extend(on_host)
            if cancelled(err):
                raise asyncio.CancelledError from err
            kind = error_type(err) or ErrorType.BUILD_FAILED
            await self._fail(boot, undo, fault_of(err, self._progress.stage), kind)
        except HostsExhausted as exhausted:
            undo.extend(on_host)
            await self._fail(boot, undo, exhausted.fault, ErrorType.MAX_RETRIES_EXCEEDED)
        self._settle(VmState.ACTIVE, "active", f"active on {host}")
        return BootResult(boot.uuid, VmState.ACTIVE, host)

    async def _schedule(self, boot: _Boot, on_host: Compensation) -> Placement:
        """Step 4: choose a host and claim its resources."""
        await self._begin("schedule")
        on_host.push_activity(act.RELEASE_CLAIM, boot.instance)
        request, valid = boot.request, boot.valid
        then = STAGE_TASK_STATE[FIRST_ON_HOST] if workflow.patched(CLAIM_MOVES_ON_PATCH) else None
        placement = await self._step(
            act.SCHEDULE_AND_CLAIM,
            ScheduleInput(
                boot.uuid,
                _host_flavor(boot),
                request.availability_zone,
                image_properties=valid.image.properties,
                scheduler_hints=request.scheduler_hints,
                project_id=boot.context.project_id,
                task_state=then,
            ),
            # Said before the answer is known; the first step on the chosen host then names
            # it and how many hosts passed.
            summary=f"schedule {valid.flavor.name}: choose and claim a host",
        )
        if then is not None:
            # The record holds it now, so the first host stage begins without a write.
            self._progress.task_state = then
        return placement

    async def _place(
        self, boot: _Boot, placement: Placement, on_host: Compensation
    ) -> tuple[str, list[PortSpec], SpawnResult]:
        """Step 5 on the chosen host; a host failure (the guest failed to start, the host's
        worker died or never picked the task up) undoes that host's part and moves to the
        next alternate that still fits. Raises HostsExhausted when none is left."""
        alternates = list(placement.alternates)
        host: str | None = placement.host
        tried: list[str] = []
        reason = ""
        while host is not None:
            tried.append(host)
            self._progress.host = host
            try:
                ports, spawned = await self._build_on(
                    boot, host, on_host, placement.candidates, len(tried)
                )
                return host, ports, spawned
            except ActivityError as err:
                if not host_failure(err, HOST_STEPS):
                    raise
                reason = describe(err)
            host = await self._reschedule(boot, on_host, tried[-1], reason, alternates)
        raise HostsExhausted(boot.uuid, tried, reason)

    async def _build_on(
        self, boot: _Boot, host: str, undo: Compensation, candidates: int, attempt: int
    ) -> tuple[list[PortSpec], SpawnResult]:
        """Step 5, on the host's own worker: network, volumes, image, guest."""
        # Where the boot went is known only now: the first step on the host says so (its
        # summary in the timeline), as do the current details.
        self._placed = f"schedule: {host} of {candidates} candidates"
        await self._begin(FIRST_ON_HOST, f"{self._placed}; allocate ports on {host}")
        image = boot.valid.image
        fetch = f"fetch image {image.name} into {host}'s cache"
        # A volume-backed guest's root disk is its volume: no image to cache (spawn caches
        # a kernel and ramdisk the volume's image names).
        fetching: asyncio.Task[CachedImage] | None = None
        if boot.request.boot_volume is None and workflow.patched(FETCH_BESIDE_PATCH):
            fetching = asyncio.ensure_future(self._fetch_image(boot, host, fetch))
        try:
            ports = await self._allocate_ports(boot, host, undo, attempt)
            attachments = await self._boot_volume(boot, host, undo)
            attachments += await self._create_volume(boot, host, undo)
        except BaseException:
            await _stopped(fetching)
            raise
        cached: CachedImage | None = None
        if boot.request.boot_volume is None:
            await self._begin("fetch image", fetch)
            cached = await (fetching or self._fetch_image(boot, host, fetch))

        await self._begin("spawn", f"spawn on {host}")
        undo.push_activity(act.DESTROY_GUEST, boot.instance, host=host)
        spawn = SpawnInput(
            instance_uuid=boot.uuid,
            name=boot.request.name,
            project_id=boot.context.project_id,
            flavor=boot.valid.flavor,
            image=image,
            cached_image=cached,
            ports=ports,
            attachments=attachments,
            key=boot.request.key,
            metadata=boot.request.metadata,
            hostname=boot.request.hostname,
        )
        spawned = await self._step(act.SPAWN, spawn, host=host, summary=f"spawn on {host}")
        return ports, spawned

    async def _fetch_image(self, boot: _Boot, host: str, summary: str) -> CachedImage:
        fetched = FetchImageInput(boot.uuid, boot.valid.image)
        summary = self._first_on_host(summary)
        return await self._step(act.FETCH_IMAGE, fetched, host=host, summary=summary)

    def _first_on_host(self, text: str) -> str:
        """A host step's summary; the first one on a host also says how it was chosen."""
        said, self._placed = (f"{self._placed}; {text}" if self._placed else text), None
        return said

    async def _allocate_ports(
        self, boot: _Boot, host: str, undo: Compensation, attempt: int
    ) -> list[PortSpec]:
        """A port per NIC; a NIC on the user's own port binds it instead of creating one.
        Each step is told the ports the NICs before it hold (and the user's own), so a retry
        on a network with two NICs finds its own port, not theirs."""
        undo.push_activity(act.DEALLOCATE_PORTS, boot.instance)
        users_own = [nic.port_id for nic in boot.request.networks if nic.port_id]
        ports: list[PortSpec] = []
        for nic, network in zip(boot.request.networks, boot.valid.networks, strict=True):
            allocate = AllocatePortInput(
                boot.uuid,
                boot.context.project_id,
                network,
                after_reschedule=attempt > 1,
                port_id=nic.port_id,
                taken=[p.id for p in ports] + users_own,
            )
            said = (
                f"bind port {nic.port_id} on {network.name} to {host}"
                if nic.port_id
                else f"allocate port on {network.name} for {host}"
            )
            port = await self._step(
                act.ALLOCATE_PORT, allocate, host=host, summary=self._first_on_host(said)
            )
            ports.append(port)
        return ports

    async def _boot_volume(
        self, boot: _Boot, host: str, undo: Compensation
    ) -> list[AttachmentSpec]:
        """A boot from a volume: the root volume (made from the image, or the user's own),
        attached to the host as vda; none for a boot from an image. Both undo steps go
        first, so the undo detaches before it deletes whatever volumes follow."""
        spec = boot.request.boot_volume
        if spec is None:
            return []
        undo.push_activity(act.DELETE_VOLUMES, boot.instance)
        undo.push_activity(act.DETACH_VOLUMES, boot.instance)
        # The user's own volume, as validation found it; None: one made from the image.
        volume = boot.valid.root_volume
        if volume is None:
            size = spec.size_gb or 1
            await self._begin("create volume", f"create a {size} GiB volume from {spec.uuid}")
            created = CreateVolumeInput(
                boot.uuid, boot.context.project_id, size, "vda", image_id=spec.uuid
            )
            summary = self._first_on_host(f"create {size} GiB root volume from image")
            volume = await self._step(act.CREATE_VOLUME, created, host=host, summary=summary)
        await self._begin("attach volume", f"attach root volume {volume.id} to {host}")
        attach = AttachVolumeInput(boot.uuid, boot.context.project_id, volume)
        summary = self._first_on_host(f"attach root volume to {host}")
        attached = await self._step(act.ATTACH_VOLUME, attach, host=host, summary=summary)
        recorded = RecordBlockDeviceInput(
            boot.uuid,
            volume,
            attached,
            delete_on_termination=spec.delete_on_termination,
            source_type=spec.source_type,
            boot_index=0,
        )
        await self._step(act.RECORD_BLOCK_DEVICE, recorded)
        return [attached]

    async def _create_volume(
        self, boot: _Boot, host: str, undo: Compensation
    ) -> list[AttachmentSpec]:
        """The requested volume, created and attached to the host; none if none asked."""
        size = boot.request.volume_size_gb
        if not size:
            return []
        await self._begin("create volume", f"create a {size} GiB volume")
        # A root volume's undo steps, pushed before it, undo this one too.
        if not undo.pending(act.DELETE_VOLUMES.name):
            undo.push_activity(act.DELETE_VOLUMES, boot.instance)
        created = CreateVolumeInput(boot.uuid, boot.context.project_id, size)
        volume = await self._step(
            act.CREATE_VOLUME,
            created,
            host=host,
            summary=self._first_on_host(f"create {size} GiB volume"),
        )
        await self._begin("attach volume", f"attach volume {volume.id} to {host}")
        if not undo.pending(act.DETACH_VOLUMES.name):
            undo.push_activity(act.DETACH_VOLUMES, boot.instance)
        attach = AttachVolumeInput(boot.uuid, boot.context.project_id, volume)
        summary = f"attach volume to {host}"
        attached = await self._step(act.ATTACH_VOLUME, attach, host=host, summary=summary)
        await self._step(
            act.RECORD_BLOCK_DEVICE, RecordBlockDeviceInput(boot.uuid, volume, attached)
        )
        return [attached]

    async def _reschedule(
        self,
        boot: _Boot,
        on_host: Compensation,
        failed_host: str,
        reason: str,
        alternates: list[str],
    ) -> str | None:
        """Undo the failed host's part, then claim the next alternate that still fits; the
        host claimed, or None when none is left."""
        self._enter("reschedule", f"reschedule from {failed_host}: {reason}")
        leftovers = await on_host.run()
        if leftovers:
            await run(act.RECORD_LEFTOVERS, RecordLeftoversInput(boot.uuid, leftovers))
        if workflow.cancellation_reason() is not None:
            raise asyncio.CancelledError("cancelled while undoing the failed host's part")
        await self._step(
            act.RECORD_RESCHEDULE,
            RescheduleInput(boot.uuid, failed_host, reason, boot.request.request_id),
        )
        while alternates:
            candidate = alternates.pop(0)
            await self._begin("schedule", f"reschedule: claim {candidate}")
            on_host.push_activity(act.RELEASE_CLAIM, boot.instance)
            claim = ClaimAlternateInput(
                boot.uuid, _host_flavor(boot), candidate, boot.request.scheduler_hints
            )
            summary = f"reschedule: claim alternate {candidate}"
            if await self._step(act.CLAIM_ALTERNATE, claim, summary=summary):
                return candidate
        return None

    # --- when the boot fails or is cancelled -----------------------------------------------

    async def _end_cancelled(self, request: BootRequest, undo: Compensation) -> None:
        """Undo everything the boot did. A request never accepted, or withdrawn (its caller
        was told nothing was created), leaves no record, unless an undo step failed: then
        the record stays, in error, so the leftovers are shown and a delete removes them.
        Otherwise the record stays in error with a fault, and its quota, until deleted."""
        reason = workflow.cancellation_reason()
        fault = self._cancel_fault(request.instance_uuid, reason)
        leftovers = await self._undo(request.instance_uuid, undo, fault)
        withdrawn = CancelReason.of(reason) == CancelReason.WITHDRAWN
        if not leftovers and (withdrawn or not self._acceptance.accepted):
            await self._rejection.run()
            self._enter("withdrawn")
            return
        deleting = TaskState.DELETING if CancelReason.of(reason) == CancelReason.DELETED else None
        await self._mark_error(request.instance_uuid, fault, self._progress.host, deleting)

    def _cancel_fault(self, instance_uuid: str, reason: str | None) -> Fault:
        if CancelReason.of(reason) == CancelReason.DELETED:
            why = "the server was deleted while it was building."
        elif CancelReason.of(reason) == CancelReason.WITHDRAWN:
            why = "the compute API withdrew the request, which was not accepted in time."
        else:
            why = f"the boot was cancelled in Temporal{f' ({reason})' if reason else ''}."
        return Fault(
            code=500,
            message=f"Build of instance {instance_uuid} was cancelled: {why}",
            details=f"Cancelled during {self._progress.stage}",
        )

    async def _fail(self, boot: _Boot, undo: Compensation, fault: Fault, kind: str) -> NoReturn:
        """Undo newest first, keep what could not be undone, leave the instance in error with
        ``fault``, and fail the boot with it."""
        await self._undo(boot.uuid, undo, fault)
        await self._mark_error(boot.uuid, fault, self._progress.host, None)
        raise ApplicationError(fault.message, type=kind, non_retryable=True)

    async def _undo(
        self, instance_uuid: str, undo: Compensation, fault: Fault
    ) -> list[LeftoverSpec]:
        """Undo newest first; what could not be undone is recorded and named in the fault."""
        self._enter("undo", f"undo: {fault.message}")
        self._progress.fault = fault
        leftovers = await undo.run()
        if leftovers:
            fault.details += "; not undone: " + "; ".join(f"{x.step}: {x.error}" for x in leftovers)
            await run(act.RECORD_LEFTOVERS, RecordLeftoversInput(instance_uuid, leftovers))
        return leftovers

    async def _mark_error(
        self, instance_uuid: str, fault: Fault, host: str | None, task_state: str | None
    ) -> None:
        """The record says error, with the fault (if it was ever written)."""
        try:
            await run(act.RECORD_FAULT, RecordFaultInput(instance_uuid, fault, host, task_state))
        except ActivityError as err:
            if error_type(err) != ErrorType.INSTANCE_NOT_FOUND:
                raise
            # Cancelled before the record was written: there is nothing to mark.
        self._settle(VmState.ERROR, "error")
        self._progress.task_state = task_state

    # --- each step, and the progress and search attributes it moves -----------------------

    async def _step(
        self,
        defn: ActivityDef[InT, OutT],
        arg: InT,
        *,
        host: str | None = None,
        summary: str | None = None,
    ) -> OutT:
        """A forward step. A cancel stops the boot here, also when the step ended anyway: a
        running step hears of a cancel only through a heartbeat, and when it finishes the
        SDK hands back its result, not the cancel."""
        try:
            result = await run(defn, arg, host=host, summary=summary)
        except ActivityError as err:
            if cancelled(err):
                raise asyncio.CancelledError(f"cancelled during {defn.name}") from err
            raise
        if workflow.cancellation_reason() is not None:
            raise asyncio.CancelledError(f"cancelled during {defn.name}")
        return result

    def _enter(self, stage: str, details: str | None = None) -> None:
        """Stage ``stage`` begins: progress, the UI's current details, search attributes."""
        now = workflow.now()
        if self._progress.stage and self._stage_started is not None:
            seconds = (now - self._stage_started).total_seconds()
            self._progress.done.append(StageTime(self._progress.stage, round(seconds, 3)))
        self._progress.stage = stage
        self._stage_started = now
        if stage in STAGE_TASK_STATE:
            self._progress.task_state = STAGE_TASK_STATE[stage]
        workflow.set_current_details(details or stage)
        self._index()

    async def _begin(self, stage: str, details: str | None = None) -> None:
        """Stage ``stage`` of a build whose record exists begins: as ``_enter``, and the
        record takes the task_state the stage table gives it (its one writer but for the
        claim, which writes the first host stage's ahead)."""
        before = self._progress.task_state
        self._enter(stage, details)
        if self._progress.task_state != before:
            state = TaskStateInput(self._progress.instance_uuid, self._progress.task_state)
            await self._step(act.SET_TASK_STATE, state, summary=f"task_state {state.task_state}")

    def _settle(self, vm_state: str, stage: str, details: str | None = None) -> None:
        """The boot is over: the record holds ``vm_state`` and no task."""
        self._progress.vm_state = vm_state
        self._progress.task_state = None
        self._enter(stage, details)

    def _index_as_started(self) -> None:
        """The compute API starts a boot indexed as Nova creates it (building, scheduling):
        no upsert repeats what the start indexed."""
        started = workflow.info().typed_search_attributes
        task_state = started.get(sa.TASK_STATE)
        self._progress.task_state = None if task_state == sa.NONE else task_state
        self._indexed = (
            started.get(sa.VM_STATE),
            self._progress.task_state or "",
            started.get(sa.COMPUTE_HOST),
        )

    def _index(self) -> None:
        values = (self._progress.vm_state, self._progress.task_state or "", self._progress.host)
        if values == self._indexed:
            return
        self._indexed = values
        updates = [
            sa.VM_STATE.value_set(self._progress.vm_state),
            sa.TASK_STATE.value_set(self._progress.task_state or sa.NONE),
        ]
        if self._progress.host:
            updates.append(sa.COMPUTE_HOST.value_set(self._progress.host))
        workflow.upsert_search_attributes(updates)


async def _stopped(task: asyncio.Task[CachedImage] | None) -> None:
    """A step running beside the one that failed is cancelled and waited for, so nothing
    of this host's part runs on while the undo (or the next host) begins."""
    if task is None:
        return
    task.cancel()
    await workflow.wait([task])
    if not task.cancelled():
        task.exception()  # retrieved: its failure is not the one reported
