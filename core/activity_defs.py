"""Every activity's name, input type and result type: the contract between workflows and
the workers that implement them.

Workflows call activities through these (``workflows.calls.run``), so workflow code never
imports the implementations and with them sqlalchemy, httpx or libvirt. Each
implementation is declared with ``@activity.defn(name=X.name)``; a test checks every
definition here has an implementation with the same input and result types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from core import messages as m

InT = TypeVar("InT")
OutT = TypeVar("OutT")


@dataclass(frozen=True)
class ActivityDef(Generic[InT, OutT]):
    name: str
    input_type: type[InT]
    result_type: type[OutT]


def _def(name: str, input_type: type[InT], result_type: type[OutT]) -> ActivityDef[InT, OutT]:
    return ActivityDef(name, input_type, result_type)


# Control plane (task queue bootflow-control).
AUTHENTICATE = _def("authenticate", m.AuthenticateInput, m.RequestContext)
VALIDATE_AND_RESERVE = _def("validate_and_reserve", m.ValidateInput, m.ValidatedRequest)
RELEASE_QUOTA = _def("release_quota", m.InstanceRef, bool)
CREATE_INSTANCE_RECORD = _def("create_instance_record", m.CreateInstanceInput, m.InstanceRecord)
DELETE_INSTANCE_RECORD = _def("delete_instance_record", m.InstanceRef, bool)
SCHEDULE_AND_CLAIM = _def("schedule_and_claim", m.ScheduleInput, m.Placement)
RELEASE_CLAIM = _def("release_claim", m.InstanceRef, bool)
CLAIM_ALTERNATE = _def("claim_alternate", m.ClaimAlternateInput, bool)
RECORD_RESCHEDULE = _def("record_reschedule", m.RescheduleInput, bool)
MARK_ACTIVE = _def("mark_active", m.MarkActiveInput, m.InstanceRecord)
RECORD_FAULT = _def("record_fault", m.RecordFaultInput, m.InstanceRecord)
BEGIN_DELETE = _def("begin_delete", m.BeginDeleteInput, m.InstanceForDelete)
MARK_DELETED = _def("mark_deleted", m.InstanceRef, m.InstanceRecord)
RECORD_LEFTOVERS = _def("record_leftovers", m.RecordLeftoversInput, int)
AWAIT_BOOT_END = _def("await_boot_end", m.InstanceRef, bool)
DEALLOCATE_PORTS = _def("deallocate_ports", m.InstanceRef, int)
DETACH_VOLUMES = _def("detach_volumes", m.InstanceRef, int)
DELETE_VOLUMES = _def("delete_volumes", m.InstanceRef, int)

# On the compute host (task queue compute-<host>).
ALLOCATE_PORT = _def("allocate_port", m.AllocatePortInput, m.PortSpec)
CREATE_VOLUME = _def("create_volume", m.CreateVolumeInput, m.VolumeSpec)
ATTACH_VOLUME = _def("attach_volume", m.AttachVolumeInput, m.AttachmentSpec)
FETCH_IMAGE = _def("fetch_image", m.FetchImageInput, m.CachedImage)
SPAWN = _def("spawn", m.SpawnInput, m.SpawnResult)
DESTROY_GUEST = _def("destroy_guest", m.InstanceRef, bool)
LIST_DOMAINS = _def("list_domains", m.HostDomainsInput, m.HostDomains)

# The guest's serial console, read on its host (task queue compute-<host>); the
# ConsoleOutput workflow runs it for the compute API's os-getConsoleOutput action.
GET_CONSOLE_OUTPUT = _def("get_console_output", m.ConsoleOutputInput, m.ConsoleOutput)

ALL: tuple[ActivityDef[Any, Any], ...] = tuple(
    v for v in list(globals().values()) if isinstance(v, ActivityDef)
)

# The benchmark's floor (bench/boot.py): a step that does nothing, on either queue. Not in
# ALL: workers register it only when ``bench_floor`` is set.
BENCH_NOOP = _def("bench_noop", m.InstanceRef, bool)
