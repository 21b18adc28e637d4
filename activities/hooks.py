"""What happens around every activity, in one place (a worker interceptor):

- the instance's action gets an event for each attempt (host, start, finish, result);
- a test's fault plan may fail the attempt just before it runs or just after its side
  effect (``<activity>:before`` / ``<activity>:after``), which proves every step is safe to
  run twice; this is the only place activities meet the plan;
- what it raised is classified: transient errors stay retryable, request errors become
  non-retryable ApplicationErrors with a readable type (activities.errors.classify);
- a step the workflow gave a heartbeat timeout heartbeats while it runs (unless it reports
  its own progress), so a worker that dies mid-step is noticed within that timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

from temporalio import activity
from temporalio.exceptions import CancelledError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ActivityOutboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from activities.errors import classify, hypervisor_failure, start_refused
from core import activity_defs as act
from core.conductor import MAX_EVENT_DETAILS, StepEvent
from core.faults import FaultPlan

log = logging.getLogger(__name__)

# Steps that heartbeat with their progress (bytes so far); a bare beat would overwrite it.
REPORTS_OWN_PROGRESS = frozenset({act.FETCH_IMAGE.name})
# The liveness heartbeat's period: this often, and at least three a heartbeat timeout.
LIVENESS_EVERY_SECONDS = 3.0
# The longest a finished step waits for its event to be recorded (the record is written
# beside the step, and its worker reports the step done after it): an event store that
# stalls costs an event, never the step (nor its heartbeat timeout).
RECORD_WAIT_SECONDS = 5.0
# A step's start is recorded once it has run this long; one that ends sooner (most do) is
# recorded whole when it ends: one write, or one conductor call, instead of two in a row.
RECORD_START_AFTER_SECONDS = 0.25


class EventRecorder(Protocol):
    """Where the instance-action events go, and where an instance's name (what fault rules
    match) comes from: the database on the control worker, which is the control plane
    (``db.actions.EventLog``); the conductor API on a compute host, which opens no database
    connection (``clients.conductor.ConductorClient``)."""

    def start_event(self, step: StepEvent) -> int | None:
        """The event's id, or None when the workflow has no action on the instance (yet)."""
        ...

    def finish_event(self, event_id: int, error: str | None) -> None: ...

    def instance_name(self, instance_uuid: str) -> str | None: ...


class ActivityHooks(Interceptor):
    def __init__(self, events: EventRecorder, host: str | None, faults: FaultPlan) -> None:
        self.events = events
        self.host = host
        self.faults = faults
        self.names: dict[str, str] = {}  # instance uuid -> name, for fault rules

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Hooks(next, self)


class _Hooks(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, hooks: ActivityHooks) -> None:
        super().__init__(next)
        self.hooks = hooks
        self.outbound: ActivityOutboundInterceptor | None = None

    def init(self, outbound: ActivityOutboundInterceptor) -> None:
        super().init(outbound)
        self.outbound = outbound

    def _heartbeat(self) -> None:
        """A heartbeat sent from the event loop. (Not activity.heartbeat(): while a sync step
        runs, that one hands the beat from its thread to this loop and waits for it.)"""
        assert self.outbound is not None
        self.outbound.heartbeat()

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        name = info.activity_type
        instance_uuid = getattr(input.args[0], "instance_uuid", None) if input.args else None
        event = _Event(self.hooks, info.workflow_id, instance_uuid, name, info.attempt)
        label = await self._label(instance_uuid)
        try:
            await self._fault(f"{name}:before", label, instance_uuid)
            with _liveness(info, self._heartbeat):
                result = await super().execute_activity(input)
            # Named now if the step wrote the record (create_instance_record's first try).
            await self._fault(f"{name}:after", await self._label(instance_uuid), instance_uuid)
        except BaseException as exc:
            await event.finish(f"{type(exc).__name__}: {exc}")
            classified = classify(exc)
            if classified is exc:
                raise
            raise classified from exc
        await event.finish(None)
        return result

    async def _fault(self, point: str, label: str, instance_uuid: str | None) -> None:
        """Apply the fault plan here; a delay is an asyncio sleep, which cancelling the
        activity interrupts (a test can hold a step and cancel it)."""
        rule = self.hooks.faults.take(point, label, activity.info().workflow_id or "")
        if rule is None:
            return
        if rule.action == "delay":
            # Held as the step itself runs: heartbeating only when it has a heartbeat timeout
            # (a cancel reaches a running step only that way), so a held control step, like a
            # slow one, never hears of a cancel and finishes.
            beats = activity.info().heartbeat_timeout is not None
            deadline = asyncio.get_running_loop().time() + rule.seconds
            while (left := deadline - asyncio.get_running_loop().time()) > 0:
                if beats:
                    self._heartbeat()
                    if activity.is_cancelled():  # (a sync step is told so, not interrupted)
                        raise CancelledError("cancelled while held by the fault plan")
                await asyncio.sleep(min(0.5, left))
            return
        if rule.raises == "hypervisor":
            uuid, host = instance_uuid or label, self.hooks.host or ""
            self.hooks.faults.fail(
                rule, lambda message: start_refused(uuid, host, hypervisor_failure(message))
            )
        self.hooks.faults.fail(rule)

    async def _label(self, instance_uuid: str | None) -> str:
        """What fault rules match: the instance's name (else its uuid), when a plan is set."""
        if not instance_uuid or not self.hooks.faults.active:
            return instance_uuid or ""
        name = self.hooks.names.get(instance_uuid)
        if name is None:
            name = await asyncio.to_thread(self.hooks.events.instance_name, instance_uuid)
            if name is not None:
                self.hooks.names[instance_uuid] = name
        return name or instance_uuid


class _Event:
    """A step attempt's event, written beside the step so that it adds to the step's time
    at most one write: the start once the step has run RECORD_START_AFTER_SECONDS (and its
    finish when it ends), or, for a step that ends sooner, the whole event when it ends."""

    def __init__(
        self,
        hooks: ActivityHooks,
        workflow_id: str | None,
        instance_uuid: str | None,
        name: str,
        attempt: int,
    ) -> None:
        self.events = hooks.events
        self.step: StepEvent | None = None
        if workflow_id and instance_uuid:
            try:
                self.step = StepEvent(
                    workflow_id, instance_uuid, name, hooks.host, attempt, datetime.now(UTC)
                )
            except ValueError as exc:  # an event the store would refuse costs the event only
                log.warning("no event for %s of %s: %s", name, instance_uuid, exc)
        self.started: asyncio.Task[int | None] | None = None
        self.timer = (
            asyncio.get_running_loop().call_later(RECORD_START_AFTER_SECONDS, self._start)
            if self.step
            else None
        )

    def _start(self) -> None:
        assert self.step is not None
        self.started = asyncio.create_task(self._record(self.step))

    async def _record(self, step: StepEvent) -> int | None:
        try:
            return await asyncio.to_thread(self.events.start_event, step)
        except Exception as exc:
            log.warning("could not record %s for %s: %r", step.event, step.instance_uuid, exc)
            return None

    async def finish(self, error: str | None) -> None:
        if self.step is None or self.timer is None:
            return
        self.timer.cancel()
        error = None if error is None else error[:MAX_EVENT_DETAILS]
        try:
            async with asyncio.timeout(RECORD_WAIT_SECONDS):
                if self.started is None:
                    whole = replace(self.step, finished_at=datetime.now(UTC), error=error)
                    await self._record(whole)
                    return
                event_id = await self.started
                if event_id is not None:
                    await asyncio.to_thread(self.events.finish_event, event_id, error)
        except Exception as exc:
            log.warning("could not record the end of a step's event: %r", exc)


@contextmanager
def _liveness(info: activity.Info, heartbeat: Callable[[], None]) -> Iterator[None]:
    """Heartbeat from the worker's event loop while the step runs in its thread, when the
    workflow gave it a heartbeat timeout: a live worker keeps beating however long one call
    blocks, a killed one stops, and Temporal retries the step after the timeout (a sync step
    also hears of its cancellation only through a heartbeat)."""
    timeout = info.heartbeat_timeout
    if not timeout or info.activity_type in REPORTS_OWN_PROGRESS:
        yield
        return
    every = min(LIVENESS_EVERY_SECONDS, timeout.total_seconds() / 3)

    async def beat() -> None:
        # The first beat after one period: most steps end sooner and cost the server nothing.
        while True:
            await asyncio.sleep(every)
            heartbeat()

    task = asyncio.get_running_loop().create_task(beat())
    try:
        yield
    finally:
        task.cancel()
