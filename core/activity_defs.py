"""Every activity's name, input type and result type, and how a workflow schedules it (on
the control queue or a host's, its timeouts, heartbeat and retries): the contract between
workflows and the workers that implement them.

Workflows call activities through these (``workflows.calls.run``), so workflow code never
imports the implementations and with them sqlalchemy, httpx or libvirt. Each
implementation is declared with ``@activity.defn(name=X.name)``; a test checks every
definition here has an implementation with the same input and result types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Generic, TypeVar

from temporalio.common import RetryPolicy

from core import messages as m
from core.errors import STEP_RETRY

InT = TypeVar("InT")
OutT = TypeVar("OutT")

# A control step: quick database and service calls.
CONTROL_TIMEOUT = timedelta(seconds=30)
# A host whose worker does not pick a task up in this time is taken as down.
HOST_PICKUP_TIMEOUT = timedelta(minutes=2)
# Blocking host steps heartbeat every few seconds: a dead worker is noticed this fast.
HOST_HEARTBEAT = timedelta(seconds=15)


@dataclass(frozen=True)
class ActivityDef(Generic[InT, OutT]):
    """An activity's name and types, and how a workflow schedules it: on the control queue
    or on one host's (``on_host``), with these timeouts and retries. A ``local`` step (a
    short control step) runs in the workflow's own worker as a local activity: no task
    queue round trip through the server, one marker in the history instead of three
    events."""

    name: str
    input_type: type[InT]
    result_type: type[OutT]
    on_host: bool = False
    start_to_close: timedelta = CONTROL_TIMEOUT
    schedule_to_start: timedelta | None = None
    heartbeat: timedelta | None = None
    retry: RetryPolicy = field(default_factory=lambda: STEP_RETRY)
    local: bool = False

    def __post_init__(self) -> None:
        # A local activity runs where the workflow runs, on the control worker.
        if self.local and (self.on_host or self.heartbeat or self.schedule_to_start):
            raise ValueError(f"{self.name}: a local step has no host, heartbeat nor pickup")


def _def(name: str, input_type: type[InT], result_type: type[OutT]) -> ActivityDef[InT, OutT]:
    return ActivityDef(name, input_type, result_type)


def _local(name: str, input_type: type[InT], result_type: type[OutT]) -> ActivityDef[InT, OutT]:
    """A short control step (a token check, a database write): a local activity."""
    return ActivityDef(name, input_type, result_type, local=True)


def _on_host(
    name: str,
    input_type: type[InT],
    result_type: type[OutT],
    start_to_close: timedelta,
    *,
    heartbeat: timedelta | None = HOST_HEARTBEAT,
    schedule_to_start: timedelta = HOST_PICKUP_TIMEOUT,
    retry: RetryPolicy = STEP_RETRY,
) -> ActivityDef[InT, OutT]:
    return ActivityDef(
        name, input_type, result_type, True, start_to_close, schedule_to_start, heartbeat, retry
    )


# Control plane (task queue bootflow-control). The short steps are local activities; those
# that call other services at length, or wait, are regular ones (on the queue, each retry a
# task of its own).
AUTHENTICATE = _local("authenticate", m.AuthenticateInput, m.RequestContext)
VALIDATE_AND_RESERVE = _local("validate_and_reserve", m.ValidateInput, m.ValidatedRequest)
RELEASE_QUOTA = _local("release_quota", m.InstanceRef, bool)
CREATE_INSTANCE_RECORD = _local("create_instance_record", m.CreateInstanceInput, m.InstanceRecord)
DELETE_INSTANCE_RECORD = _local("delete_instance_record", m.InstanceRef, bool)
SCHEDULE_AND_CLAIM = _def("schedule_and_claim", m.ScheduleInput, m.Placement)
RELEASE_CLAIM = _local("release_claim", m.InstanceRef, bool)
CLAIM_ALTERNATE = _local("claim_alternate", m.ClaimAlternateInput, bool)
RECORD_RESCHEDULE = _local("record_reschedule", m.RescheduleInput, bool)
MARK_ACTIVE = _local("mark_active", m.MarkActiveInput, m.InstanceRecord)
RECORD_FAULT = _local("record_fault", m.RecordFaultInput, m.InstanceRecord)
BEGIN_DELETE = _local("begin_delete", m.BeginDeleteInput, m.InstanceForDelete)
MARK_DELETED = _local("mark_deleted", m.InstanceRef, m.InstanceRecord)
RECORD_LEFTOVERS = _local("record_leftovers", m.RecordLeftoversInput, int)
# What the host's steps did, recorded by the control plane: compute hosts never write the
# database (Nova's rule), and task_state has one writer, the workflow's stage table.
SET_TASK_STATE = _local("set_task_state", m.TaskStateInput, bool)
RECORD_BLOCK_DEVICE = _local("record_block_device", m.RecordBlockDeviceInput, bool)
# A server action's (stop, start, reboot) checks and task_state, then its outcome.
BEGIN_SERVER_ACTION = _local("begin_server_action", m.BeginActionInput, m.ActionTarget)
END_SERVER_ACTION = _local("end_server_action", m.EndActionInput, bool)
# A rebuild's begin (its checks, the new image and the record's changes) and its move from
# rebuilding (the guest destroyed) to rebuild_spawning; it ends as the actions do.
BEGIN_REBUILD = _local("begin_rebuild", m.BeginRebuildInput, m.RebuildTarget)
ADVANCE_REBUILD = _local("advance_rebuild", m.RebuildStageInput, bool)
# A cancelled boot's undo steps retry for minutes before giving up on one.
AWAIT_BOOT_END = ActivityDef(
    "await_boot_end",
    m.InstanceRef,
    bool,
    start_to_close=timedelta(minutes=15),
    heartbeat=timedelta(seconds=10),
)
DEALLOCATE_PORTS = _def("deallocate_ports", m.InstanceRef, int)
DETACH_VOLUMES = _def("detach_volumes", m.InstanceRef, int)
DELETE_VOLUMES = _def("delete_volumes", m.InstanceRef, int)

# On the compute host (task queue compute-<host>).
ALLOCATE_PORT = _on_host("allocate_port", m.AllocatePortInput, m.PortSpec, timedelta(minutes=1))
CREATE_VOLUME = _on_host("create_volume", m.CreateVolumeInput, m.VolumeSpec, timedelta(minutes=3))
ATTACH_VOLUME = _on_host(
    "attach_volume", m.AttachVolumeInput, m.AttachmentSpec, timedelta(minutes=3)
)
# Heartbeats with the bytes so far, every few seconds.
FETCH_IMAGE = _on_host(
    "fetch_image",
    m.FetchImageInput,
    m.CachedImage,
    timedelta(minutes=30),
    heartbeat=timedelta(seconds=30),
)
SPAWN = _on_host("spawn", m.SpawnInput, m.SpawnResult, timedelta(minutes=5))
DESTROY_GUEST = _on_host("destroy_guest", m.InstanceRef, bool, timedelta(minutes=2))
# The server actions' part on the guest: a clean shutdown waits up to its timeout (Nova's
# shutdown_timeout, 60 s) before it destroys the guest.
POWER_OFF_GUEST = _on_host("power_off_guest", m.GuestPowerInput, m.GuestPower, timedelta(minutes=3))
POWER_ON_GUEST = _on_host("power_on_guest", m.GuestPowerInput, m.GuestPower, timedelta(minutes=2))
REBOOT_GUEST = _on_host("reboot_guest", m.GuestPowerInput, m.GuestPower, timedelta(minutes=3))


def _host_read(name: str, input_type: type[InT], result_type: type[OutT]) -> ActivityDef[InT, OutT]:
    """A read on a host for a caller who is waiting: asked twice at most, briefly."""
    brief = timedelta(seconds=20)
    return _on_host(
        name,
        input_type,
        result_type,
        brief,
        heartbeat=None,
        schedule_to_start=brief,
        retry=RetryPolicy(maximum_attempts=2),
    )


# The guests a host's hypervisor runs (``virsh list``), for operators and tests.
LIST_DOMAINS = _host_read("list_domains", m.HostDomainsInput, m.HostDomains)
# The guest's serial console, for the compute API's os-getConsoleOutput action.
GET_CONSOLE_OUTPUT = _host_read("get_console_output", m.ConsoleOutputInput, m.ConsoleOutput)

ALL: tuple[ActivityDef[Any, Any], ...] = tuple(
    v for v in list(globals().values()) if isinstance(v, ActivityDef)
)
