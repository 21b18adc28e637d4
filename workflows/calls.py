"""Calling activities from workflows by their typed definitions, and undoing them in reverse."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, NoReturn, TypeVar, cast

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    FailureError,
    RetryState,
    TimeoutError,
)
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from core import task_queues
    from core.activity_defs import ActivityDef
    from core.errors import KNOWN_TYPES, UNDO_RETRY, ErrorType
    from core.messages import Accepted, Fault, LeftoverSpec

InT = TypeVar("InT")
OutT = TypeVar("OutT")

# A dead host never picks its undo up: give up soon (a recorded leftover, reaped when the
# host's worker returns) rather than block the boot for good.
UNDO_PICKUP_TIMEOUT = timedelta(seconds=30)


def _queue(defn: ActivityDef[Any, Any], host: str | None) -> str:
    """The queue ``defn`` runs on: ``host``'s for a host step, else the control queue."""
    if defn.on_host != (host is not None):
        where = "on a host" if defn.on_host else "on the control queue"
        raise ValueError(f"{defn.name} runs {where}; host={host!r}")
    return task_queues.compute(host) if host is not None else task_queues.CONTROL


# Since this patch, short control steps (``ActivityDef.local``) run as local activities;
# histories recorded before it ran them as regular ones, and replay so.
LOCAL_STEPS_PATCH = "local-control-steps"


def local_steps() -> bool:
    """Whether this run takes its short control steps as local activities."""
    return workflow.patched(LOCAL_STEPS_PATCH)


async def run(
    defn: ActivityDef[InT, OutT],
    arg: InT,
    *,
    host: str | None = None,
    summary: str | None = None,
    retry: RetryPolicy | None = None,
    schedule_to_start: timedelta | None = None,
) -> OutT:
    """Run ``defn`` (on ``host``'s queue if it is a host step, in this worker if it is a
    local one) as its definition says; an undo step passes its own ``retry`` and pickup
    timeout. Either way a failure is an ActivityError, a cancel one caused by
    CancelledError."""
    queue = _queue(defn, host)
    said = summary or defn.name.replace("_", " ")
    if defn.local and local_steps():
        return await _run_local(defn, arg, retry or defn.retry, said)
    result = await workflow.execute_activity(
        defn.name,
        arg,
        result_type=defn.result_type,
        task_queue=queue,
        start_to_close_timeout=defn.start_to_close,
        schedule_to_start_timeout=schedule_to_start or defn.schedule_to_start,
        heartbeat_timeout=defn.heartbeat,
        retry_policy=retry or defn.retry,
        summary=said,
        # On cancellation, wait for a running step to finish before undoing: an undo that
        # ran beside the step it undoes could miss what the step was still making.
        cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    )
    return cast(OutT, result)


async def _run_local(
    defn: ActivityDef[InT, OutT], arg: InT, retry: RetryPolicy, summary: str
) -> OutT:
    """``defn`` as a local activity, shielded from a cancel of the workflow: the SDK would
    raise a cancel inside the step's thread (mid-transaction) at once, while a regular
    control step, which never heartbeats, runs to its end. So does this one; the caller
    then sees the cancel. A failure is an ActivityError, as a regular step's: the SDK
    raises a local step's own error bare (a timeout comes wrapped already)."""
    local = workflow.execute_local_activity(
        defn.name,
        arg,
        result_type=defn.result_type,
        start_to_close_timeout=defn.start_to_close,
        retry_policy=retry,
        summary=summary,
        cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    )
    try:
        return cast(OutT, await _uncancellable(local))
    except ActivityError:
        raise
    except FailureError as err:
        final = isinstance(err, ApplicationError) and err.non_retryable
        raise ActivityError(
            "Local activity failed",
            scheduled_event_id=0,
            started_event_id=0,
            identity="",
            activity_type=defn.name,
            activity_id="",
            retry_state=(
                RetryState.NON_RETRYABLE_FAILURE if final else RetryState.MAXIMUM_ATTEMPTS_REACHED
            ),
        ) from err


class Compensation:
    """Undo steps pushed as work is done, run newest first when the work must be undone.

    A step is pushed *before* the work it undoes: every undo is keyed by the instance and
    finds what there is, so undoing work that never happened is harmless, while work that
    happened but whose activity never reported back is still undone.

    With ``shielded``, a cancel of the workflow that arrives while the steps run does not
    cut them short: each step runs to its end (the caller sees the cancel through
    ``workflow.cancellation_reason()`` and decides what to do next). Unshielded, a cancelled
    undo step would be recorded as a leftover and the work it undoes left behind.
    """

    def __init__(self, *, shielded: bool = False) -> None:
        self._steps: list[tuple[str, str | None, Callable[[], Awaitable[Any]]]] = []
        self._shielded = shielded

    def push(
        self, description: str, undo: Callable[[], Awaitable[Any]], host: str | None = None
    ) -> None:
        self._steps.append((description, host, undo))

    def push_activity(
        self, defn: ActivityDef[InT, Any], arg: InT, *, host: str | None = None
    ) -> None:
        async def undo() -> None:
            await run(
                defn,
                arg,
                host=host,
                retry=UNDO_RETRY,
                schedule_to_start=UNDO_PICKUP_TIMEOUT if host else None,
                summary=f"undo: {defn.name.replace('_', ' ')}",
            )

        self.push(defn.name, undo, host)

    def pending(self, description: str) -> bool:
        """Whether an undo step of that name is pushed and not yet run."""
        return any(d == description for d, _host, _undo in self._steps)

    def extend(self, other: Compensation) -> None:
        """Take over ``other``'s steps, to run (newest first) before this one's own."""
        self._steps.extend(other._steps)
        other._steps.clear()

    async def run(self) -> list[LeftoverSpec]:
        """Run every undo step, newest first; what could not be undone, never dropped."""
        leftovers = []
        while self._steps:
            description, host, undo = self._steps.pop()
            try:
                await (_uncancellable(undo()) if self._shielded else undo())
            except ActivityError as err:
                workflow.logger.error("undo step %s failed: %s", description, describe(err))
                leftovers.append(LeftoverSpec(description, describe(err), host))
        return leftovers


async def _uncancellable(work: Awaitable[OutT]) -> OutT:
    """``work`` run to its end even if the workflow is cancelled meanwhile. Only a cancel the
    server delivered is held off; any other (the worker evicting the run) goes through."""
    task = asyncio.ensure_future(work)
    while True:
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done() or workflow.cancellation_reason() is None:
                raise


def describe(err: BaseException) -> str:
    """One line naming what went wrong, without a traceback."""
    cause = err.cause if isinstance(err, ActivityError) else err
    if isinstance(cause, ApplicationError):
        return cause.message
    if isinstance(cause, TimeoutError):
        kind = cause.type.name.lower().replace("_", "-") if cause.type else "timeout"
        return f"timed out ({kind})"
    return str(cause or err)


def host_failure(err: ActivityError, host_steps: frozenset[str]) -> bool:
    """Whether a host step failed for a host reason: it timed out (the worker died or never
    picked it up), the guest would not start, or its retries ran out; a refusal of the
    request itself (quota, bad image, no IPs left) is not one."""
    if err.activity_type not in host_steps:
        return False
    cause = err.cause
    if isinstance(cause, TimeoutError):
        return True
    if isinstance(cause, ApplicationError):
        return cause.type == ErrorType.BUILD_ABORTED or not cause.non_retryable
    return False


def cancelled(err: ActivityError) -> bool:
    """Whether an activity failed only because this workflow is being cancelled."""
    return isinstance(err.cause, CancelledError)


def error_type(err: BaseException) -> str | None:
    """The bootflow error type of a failure, or None for an unexpected one."""
    cause = err.cause if isinstance(err, ActivityError) else err
    if isinstance(cause, ApplicationError) and cause.type in KNOWN_TYPES:
        return cause.type
    return None


def fault_of(err: BaseException, stage: str) -> Fault:
    """Nova-style fault for a failed stage: code 500, a message a user can read."""
    kind = error_type(err)
    message = describe(err)
    if kind is None:
        cause = err.cause if isinstance(err, ActivityError) else err
        raw = cause.type if isinstance(cause, ApplicationError) and cause.type else "error"
        message = f"{stage} failed ({raw}): {message}"
    return Fault(code=500, message=message, details=f"{kind or 'Error'} during {stage}")


class Acceptance:
    """The answer to a workflow's ``accepted`` update: the request was accepted (its first
    steps succeeded) or rejected with a request error, as an API answers 202 or 4xx."""

    def __init__(self) -> None:
        self._accepted: Accepted | None = None
        self._rejected: ApplicationError | None = None

    async def wait(self) -> Accepted:
        await workflow.wait_condition(
            lambda: self._accepted is not None or self._rejected is not None
        )
        if self._rejected is not None:
            raise self._rejected
        assert self._accepted is not None
        return self._accepted

    def accept(self, instance_uuid: str) -> None:
        self._accepted = Accepted(instance_uuid)

    @property
    def accepted(self) -> bool:
        return self._accepted is not None

    async def settle_cancelled(self) -> None:
        """The workflow was cancelled: an update still waiting hears so, then it ends."""
        if self._accepted is None and self._rejected is None:
            self._rejected = ApplicationError(
                "The request was cancelled before it was accepted.",
                type="Cancelled",
                non_retryable=True,
            )
        await workflow.wait_condition(workflow.all_handlers_finished)

    async def reject(self, err: ActivityError, default_type: str) -> NoReturn:
        """Fail the update (if one waits) and then the workflow, with the request error."""
        self._rejected = ApplicationError(
            describe(err), type=error_type(err) or default_type, non_retryable=True
        )
        await workflow.wait_condition(workflow.all_handlers_finished)
        raise self._rejected from err
