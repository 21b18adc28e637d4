"""A client of the conductor API (``services/compute/conductor.py``): what a compute host's
worker writes and reads of the database, asked of the compute API instead (as Nova's
computes ask nova-conductor), with the service account's session.

The compute API is found in the catalog; the conductor API sits beside its ``/v2.1``.
Lists longer than the API takes in one call go in parts. Errors are ``clients.errors``'s:
the compute API down is a ``ConnectionFailed`` or a 5xx (``transient``), for the caller to
retry later.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterator, Sequence
from typing import Any, Final
from urllib.parse import quote

import httpx

from clients.errors import NotFound
from clients.session import Session
from core.conductor import (
    MAX_EVENT_DETAILS,
    MAX_HOSTS_PER_CALL,
    MAX_INSTANCES_PER_CALL,
    PREFIX,
    HostCapacity,
    InstanceOnHost,
    StepEvent,
)

SERVICE_TYPE: Final = "compute"
# An event is written beside a step, whose worker waits for it before it reports the step
# done: a compute API that stalls must not hold the step past its heartbeat timeout.
EVENT_TIMEOUT: Final = httpx.Timeout(5.0, connect=2.0)


def _host(host: str) -> str:
    return f"hosts/{quote(host, safe='')}"


def _parts(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class ConductorClient:
    """One may be shared by threads (the session is)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(
            SERVICE_TYPE, method, f"{PREFIX}/{path}", unversioned=True, **kwargs
        )
        return response.json() if response.content else None

    # -- the host's row ------------------------------------------------------------------------

    def report(self, host: str, capacity: HostCapacity) -> None:
        """The host's capacity, zone and ratios (a new row for a new host), and a heartbeat."""
        body = dataclasses.asdict(capacity)
        if capacity.booted_at is not None:
            body["booted_at"] = capacity.booted_at.isoformat()
        self._call("PUT", _host(host), json=body)

    def heartbeat(self, hosts: Collection[str]) -> list[str]:
        """Mark ``hosts`` alive; those the control plane has no row of (to report again)."""
        unknown: list[str] = []
        for part in _parts(sorted(set(hosts)), MAX_HOSTS_PER_CALL):
            unknown += self._call("POST", "heartbeats", json={"hosts": list(part)})["unknown"]
        return unknown

    # -- what the host holds -------------------------------------------------------------------

    def placements(self, host: str, instance_uuids: Collection[str]) -> dict[str, InstanceOnHost]:
        """What ``host`` may hold of each of ``instance_uuids`` (core.conductor.ABSENT for
        one with no record)."""
        out: dict[str, InstanceOnHost] = {}
        for part in _parts(sorted(set(instance_uuids)), MAX_INSTANCES_PER_CALL):
            body = {"instance_uuids": list(part)}
            found = self._call("POST", f"{_host(host)}/placements", json=body)["placements"]
            for uuid, held in found.items():
                macs = held["macs"]
                out[uuid] = InstanceOnHost(
                    here=held["here"],
                    macs=None if macs is None else frozenset(macs),
                    preserved=frozenset(held["preserved"]),
                )
        return out

    def resolve_leftovers(self, host: str, instance_uuid: str) -> int:
        """Mark the instance's leftovers on ``host`` resolved; how many there were."""
        body = {"instance_uuid": instance_uuid}
        found = self._call("POST", f"{_host(host)}/leftovers/resolve", json=body)
        return int(found["resolved"])

    def active_instances(self, host: str) -> list[str]:
        """Uuids of the instances ``host`` should be running."""
        return list(self._call("GET", f"{_host(host)}/active-instances")["instances"])

    # -- instance actions (activities.hooks.EventRecorder) -------------------------------------

    def start_event(self, step: StepEvent) -> int | None:
        """Record that an activity attempt began (or, with its finish, that it ran); its id,
        or None when the workflow has no action on the instance (yet)."""
        body = dataclasses.asdict(step) | {
            "started_at": step.started_at.isoformat(),
            "finished_at": step.finished_at and step.finished_at.isoformat(),
        }
        found = self._call("POST", "events", json=body, timeout=EVENT_TIMEOUT)
        return None if found["event_id"] is None else int(found["event_id"])

    def finish_event(self, event_id: int, error: str | None) -> None:
        body = {"error": None if error is None else error[:MAX_EVENT_DETAILS]}
        self._call("POST", f"events/{event_id}/finish", json=body, timeout=EVENT_TIMEOUT)

    def instance_name(self, instance_uuid: str) -> str | None:
        try:
            path = f"instances/{quote(instance_uuid, safe='')}/name"
            found = self._call("GET", path, timeout=EVENT_TIMEOUT)
        except NotFound:
            return None
        return str(found["name"])
