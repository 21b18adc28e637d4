"""The conductor API (``/bootflow/v1/conductor``): what compute hosts write and read of the
database, done here for them, as Nova's computes go through nova-conductor. A host's worker
opens no database connection (``clients/conductor.py`` calls this).

bootflow's own, outside Nova's ``/v2.1`` documents and their microversions; admins only (the
workers' service account). Every list in a body is bounded (``core.conductor``), and a body
that breaks its schema is Nova's 400. Each write is a short transaction of its own, so a
heartbeat for many hosts (a fleet process's) is one statement and one read, plus a usage
sync only for each host whose usage drifted from its claims, each committed before the
next (a sync locks its host's row, and claims wait on that lock).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from core.conductor import (
    HOST_PATTERN,
    MAX_EVENT_DETAILS,
    MAX_HOST_LENGTH,
    MAX_HOSTS_PER_CALL,
    MAX_INSTANCES_PER_CALL,
    PREFIX,
    HostCapacity,
    HostName,
    InstanceId,
    StepEvent,
)
from db import actions, hosts, instances
from scheduler.claims import sync_usage
from services.common.app import MAX_INT, not_found
from services.common.app import router as common_router
from services.common.auth import require_admin
from services.common.db import Sessions

router = common_router(prefix=PREFIX, dependencies=[Depends(require_admin)])

HostPath = Annotated[str, Path(min_length=1, max_length=MAX_HOST_LENGTH, pattern=HOST_PATTERN)]
# What a host found on itself: a domain's uuid or an instance dir's name, whatever it is.
FoundName = Annotated[str, Field(min_length=1, max_length=255)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Heartbeat(_Body):
    hosts: list[HostName] = Field(min_length=1, max_length=MAX_HOSTS_PER_CALL)


class PlacementsQuery(_Body):
    instance_uuids: list[FoundName] = Field(min_length=1, max_length=MAX_INSTANCES_PER_CALL)


class ResolveLeftovers(_Body):
    instance_uuid: InstanceId


class EventFinish(_Body):
    error: str | None = Field(default=None, max_length=MAX_EVENT_DETAILS)


@router.put("/hosts/{host}", status_code=204)
def report(host: HostPath, capacity: HostCapacity, sessions: Sessions) -> Response:
    """The host's capacity (on its worker's start): its row, then usage from its claims."""
    with sessions.begin() as session:
        hosts.report(session, host, capacity)
    with sessions.begin() as session:
        sync_usage(session, host)
    return Response(status_code=204)


@router.post("/heartbeats")
def heartbeat(body: Heartbeat, sessions: Sessions) -> dict[str, Any]:
    """Liveness of every host a process runs, in one write; then the usage of those whose
    usage drifted from their claims is set from them (Nova's update_available_resource).
    Answers the hosts it has no row of: their worker reports them again."""
    with sessions.begin() as session:
        unknown = hosts.heartbeat(session, body.hosts)
        drifted = hosts.usage_drifted(session, body.hosts)
    for host in drifted:
        with sessions.begin() as session:
            sync_usage(session, host)
    return {"unknown": unknown}


@router.post("/hosts/{host}/placements")
def placements(host: HostPath, body: PlacementsQuery, sessions: Sessions) -> dict[str, Any]:
    """What the host may hold of each instance it found (workers.reaper)."""
    found = instances.placements(sessions, body.instance_uuids, host)
    return {
        "placements": {
            uuid: {
                "here": held.here,
                "macs": None if held.macs is None else sorted(held.macs),
                "preserved": sorted(held.preserved),
            }
            for uuid, held in found.items()
        }
    }


@router.post("/hosts/{host}/leftovers/resolve")
def resolve_leftovers(host: HostPath, body: ResolveLeftovers, sessions: Sessions) -> dict[str, Any]:
    """The instance's leftovers on the host are gone (its reaper removed them)."""
    return {"resolved": instances.resolve_leftovers(sessions, body.instance_uuid, host)}


@router.get("/hosts/{host}/active-instances")
def active_instances(host: HostPath, sessions: Sessions) -> dict[str, Any]:
    """The instances the host should be running (restored on its worker's start)."""
    return {"instances": instances.active_instances(sessions, host)}


@router.post("/events", status_code=201)
def start_event(step: StepEvent, sessions: Sessions) -> dict[str, Any]:
    """An activity attempt began; its event's id, or null when the workflow has no action on
    the instance (yet)."""
    return {"event_id": actions.EventLog(sessions).start_event(step)}


@router.post("/events/{event_id}/finish", status_code=204)
def finish_event(
    event_id: Annotated[int, Path(ge=1, le=MAX_INT)], body: EventFinish, sessions: Sessions
) -> Response:
    actions.finish_event(sessions, event_id, body.error)
    return Response(status_code=204)


@router.get("/instances/{instance_uuid}/name")
def instance_name(
    instance_uuid: Annotated[str, Path(min_length=1, max_length=36)], sessions: Sessions
) -> dict[str, Any]:
    """The name fault plans match a step by (a test's)."""
    name = instances.instance_name(sessions, instance_uuid)
    if name is None:
        raise not_found(f"Instance {instance_uuid} could not be found.")
    return {"name": name}
