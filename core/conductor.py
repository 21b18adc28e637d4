"""What a compute host and the control plane exchange through the conductor API, as Nova's
computes go through nova-conductor: a host's worker opens no database connection, and
reports and reads through the compute API instead (``services/compute/conductor.py`` serves
it, ``clients/conductor.py`` calls it).

The API is bootflow's own, outside Nova's ``/v2.1`` documents, and for admins (the service
account) only. Its bounds are here so the client can split what the service would refuse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Final

from pydantic import AwareDatetime, ConfigDict, Field
from pydantic.dataclasses import dataclass as checked_dataclass

PREFIX: Final = "/bootflow/v1/conductor"

# The most hosts one heartbeat names, and instances one placements call asks about: a
# request stays small however many hosts a process runs; the client sends longer lists in
# parts.
MAX_HOSTS_PER_CALL: Final = 1000
MAX_INSTANCES_PER_CALL: Final = 500
# A host name: a hostname's characters (and underscore), as task queue names carry it.
HOST_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
MAX_HOST_LENGTH: Final = 255
# An event's error text is cut to this (a console's end can be long).
MAX_EVENT_DETAILS: Final = 65536


# OpenStack's 32-bit database integers.
_Count = Annotated[int, Field(ge=0, le=2**31 - 1)]
_Ratio = Annotated[float, Field(gt=0, le=1000)]
HostName = Annotated[str, Field(min_length=1, max_length=MAX_HOST_LENGTH, pattern=HOST_PATTERN)]
# An instance's uuid as its record's column holds it.
InstanceId = Annotated[str, Field(min_length=1, max_length=36)]
# Checked where they are made and where the conductor API receives them (the bodies).
_CHECKED = ConfigDict(extra="forbid")


@checked_dataclass(frozen=True, config=_CHECKED)
class HostCapacity:
    """What a host reports of itself on start (Nova's resource tracker): its hypervisor,
    zone, capacity and allocation ratios. Usage is the control plane's: the sum of claims."""

    hypervisor_type: Annotated[str, Field(min_length=1, max_length=32)]
    hypervisor_hostname: Annotated[str, Field(min_length=1, max_length=255)]
    cpu_arch: Annotated[str, Field(min_length=1, max_length=32)]
    availability_zone: Annotated[str, Field(min_length=1, max_length=255)]
    vcpus: _Count
    memory_mb: _Count
    local_gb: _Count
    cpu_allocation_ratio: _Ratio
    ram_allocation_ratio: _Ratio
    disk_allocation_ratio: _Ratio
    # When the host booted (its uptime in os-hypervisors); None if it cannot tell.
    booted_at: AwareDatetime | None = None


@checked_dataclass(frozen=True, config=_CHECKED)
class StepEvent:
    """An activity attempt began: an event of its workflow's action on the instance (Nova's
    instance action event), with its host (None on the control plane). A step that ended
    before its start was recorded is recorded whole, with when it finished and its error."""

    workflow_id: Annotated[str, Field(min_length=1, max_length=128)]
    instance_uuid: InstanceId
    event: Annotated[str, Field(min_length=1, max_length=64)]
    host: HostName | None
    attempt: Annotated[int, Field(ge=1, le=2**31 - 1)]
    started_at: AwareDatetime
    finished_at: AwareDatetime | None = None
    error: Annotated[str, Field(max_length=MAX_EVENT_DETAILS)] | None = None


@dataclass(frozen=True)
class InstanceOnHost:
    """What a host may hold of an instance."""

    # Its guest and ports: it exists, is not deleted, is placed on the host, did not fail
    # (a failed build was undone; what is left of it is a leak).
    here: bool
    # An active instance's ports are those it records (their MACs): any other port of it is
    # a leak. None while it builds: every port it has may be one being made.
    macs: frozenset[str] | None
    # The user's own ports it was booted on: unbound when released, never deleted.
    preserved: frozenset[str]


ABSENT = InstanceOnHost(here=False, macs=None, preserved=frozenset())
