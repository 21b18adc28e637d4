"""Recorded workflow histories (``<label>-<kind>.json``) and what makes each one its kind.

A history file is named for what happened in it; ``KINDS`` checks that it did, so a label
that no longer tells the truth (a "rescheduled" boot that went straight to its host) fails
the suite instead of passing as coverage.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

from core.messages import CancelReason

# What is wrong with a history for its kind, or None.
Check = Callable[[WorkflowHistory], str | None]

_ENDS = {
    "completed": EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    "failed": EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    "canceled": EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
}


def steps_of(history: WorkflowHistory) -> list[str]:
    """The activities the workflow scheduled, in order."""
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]


# SDK core's marker for a local activity; its "data" detail (plain JSON) names the activity.
LOCAL_ACTIVITY_MARKER = "core_local_activity"


def local_steps_of(history: WorkflowHistory) -> list[str]:
    """The local activities the workflow ran, in order (one marker each)."""
    return [
        json.loads(e.marker_recorded_event_attributes.details["data"].payloads[0].data)[
            "activity_type"
        ]
        for e in history.events
        if e.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER
    ]


def cancel_reasons(history: WorkflowHistory) -> list[str]:
    return [
        e.workflow_execution_cancel_requested_event_attributes.cause
        for e in history.events
        if e.HasField("workflow_execution_cancel_requested_event_attributes")
    ]


def _kind(
    workflow: str,
    ends: str,
    *,
    steps: Collection[str] = (),
    no_steps: Collection[str] = (),
    cancelled: Callable[[str], bool] | None = None,
) -> Check:
    def check(history: WorkflowHistory) -> str | None:
        started = history.events[0].workflow_execution_started_event_attributes
        if started.workflow_type.name != workflow:
            return f"a {started.workflow_type.name}, not a {workflow}"
        if history.events[-1].event_type != _ENDS[ends]:
            return f"does not end {ends}"
        done = set(steps_of(history)) | set(local_steps_of(history))
        if missing := set(steps) - done:
            return f"never ran {sorted(missing)}"
        if extra := set(no_steps) & done:
            return f"ran {sorted(extra)}"
        reasons = cancel_reasons(history)
        if cancelled is None and reasons:
            return f"was cancelled ({reasons})"
        if cancelled is not None and not (reasons and cancelled(reasons[0])):
            return f"was not cancelled that way (cancel requests: {reasons})"
        return None

    return check


KINDS: dict[str, Check] = {
    "boot-active": _kind(
        "BootInstance",
        "completed",
        steps={"set_task_state", "spawn", "record_block_device", "mark_active"},
    ),
    "boot-compensated": _kind(
        "BootInstance", "failed", steps={"spawn", "destroy_guest", "record_fault"}
    ),
    "boot-rescheduled": _kind(
        "BootInstance", "completed", steps={"record_reschedule", "claim_alternate", "mark_active"}
    ),
    "boot-deleted-while-building": _kind(
        "BootInstance",
        "canceled",
        steps={"spawn", "destroy_guest"},
        cancelled=lambda reason: CancelReason.of(reason) == CancelReason.DELETED,
    ),
    "boot-cancelled": _kind(
        "BootInstance",
        "canceled",
        steps={"spawn", "destroy_guest", "record_fault"},
        cancelled=lambda reason: CancelReason.of(reason) is None,
    ),
    "boot-withdrawn": _kind(
        "BootInstance",
        "canceled",
        no_steps={"schedule_and_claim", "record_fault"},
        cancelled=lambda reason: CancelReason.of(reason) == CancelReason.WITHDRAWN,
    ),
    "boot-rejected": _kind(
        "BootInstance", "failed", steps={"validate_and_reserve"}, no_steps={"schedule_and_claim"}
    ),
    "boot-leftovers": _kind("BootInstance", "failed", steps={"record_leftovers", "record_fault"}),
    "boot-active-novolume": _kind(
        "BootInstance", "completed", steps={"spawn"}, no_steps={"create_volume"}
    ),
    "boot-active-fromvolume": _kind(
        "BootInstance",
        "completed",
        steps={"create_volume", "attach_volume", "record_block_device", "spawn", "mark_active"},
        no_steps={"fetch_image"},
    ),
    "delete": _kind("DeleteInstance", "completed", steps={"mark_deleted"}),
    "delete-novolume": _kind(
        "DeleteInstance",
        "completed",
        steps={"deallocate_ports", "mark_deleted"},
        no_steps={"detach_volumes", "delete_volumes"},
    ),
}
