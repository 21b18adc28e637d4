"""The compute API's calls into Temporal: start a workflow and wait for it to accept (Nova's
202), or run a short one (a console read). Failures become Nova's HTTP errors: a request
error its 4xx; Temporal, or a service a step needs, staying unavailable a 503; anything
else (a bug) a 500."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from typing import Any

from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    WithStartWorkflowOperation,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
    WorkflowUpdateHandle,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ApplicationError, FailureError
from temporalio.service import RPCError, RPCStatusCode

from core import search_attributes as sa
from core import task_queues
from core.config import ComputeApiOptions, TemporalOptions
from core.errors import HTTP_STATUS, ErrorType
from core.messages import CancelReason, ConsoleOutputInput
from core.temporal import TemporalUnreachable, connect
from services.common.app import ApiError, unavailable
from workflows.host_reads import ConsoleOutputWorkflow

log = logging.getLogger(__name__)


def instance_attributes(
    instance_uuid: str, name: str, project_id: str, *more: SearchAttributePair[Any]
) -> TypedSearchAttributes:
    """What a workflow about one server is found by in the Web UI and `temporal workflow
    list` (names, ids and states only: they are indexed in plaintext)."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(sa.INSTANCE_UUID, instance_uuid),
            SearchAttributePair(sa.INSTANCE_NAME, name),
            SearchAttributePair(sa.PROJECT_ID, project_id),
            *more,
        ]
    )


# How long a withdrawn boot that had already ended is given to say whether it accepted.
OUTCOME_TIMEOUT = 10.0
# os-getConsoleOutput: how long the API waits for the host, and what it strips (as Nova).
CONSOLE_TIMEOUT = 45.0
_CONSOLE_CONTROL_CHARS = re.compile("[\x00-\x08\x0b-\x1f]")


class Rejected(ApiError):
    """The workflow refused the request (validation, quota...): Nova's 4xx, with its type;
    503 when a service it needed stayed unavailable; 500 when an accepting step failed for
    no reason of the request's."""

    def __init__(self, status: int, message: str, error_type: str | None) -> None:
        super().__init__(status, message)
        self.error_type = error_type


def _rejected(exc: WorkflowUpdateFailedError) -> ApiError:
    cause = _application_cause(exc)
    if cause is None:
        return ApiError(500, "The request failed before it was accepted.")
    if cause.type == ErrorType.SERVICE_UNAVAILABLE:
        return unavailable(
            "The request was not accepted, and nothing was done: "
            f"{cause.message.rstrip('.')}. Retry later."
        )
    # A type with no status is not the request's fault (a step failed past its retries):
    # Nova's 500, not a 400 telling the user to change the request.
    return Rejected(HTTP_STATUS.get(cause.type or "", 500), cause.message, cause.type)


def _application_cause(
    exc: WorkflowUpdateFailedError | WorkflowFailureError,
) -> ApplicationError | None:
    """The ApplicationError a workflow failed with (the type names the request error)."""
    cause: BaseException | None = exc.cause
    while isinstance(cause, FailureError) and not isinstance(cause, ApplicationError):
        cause = cause.cause
    return cause if isinstance(cause, ApplicationError) else None


class Workflows:
    """The Temporal client, connected on first use."""

    def __init__(self, temporal: TemporalOptions, options: ComputeApiOptions) -> None:
        self.temporal = temporal
        self.options = options
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        """The client; 503 while Temporal cannot be reached (the next call tries again)."""
        async with self._lock:
            if self._client is None:
                try:
                    self._client = await connect(self.temporal)
                except TemporalUnreachable as exc:
                    log.error("%s", exc)
                    raise unavailable(
                        "The compute service's workflow engine (Temporal) could not be "
                        "reached; nothing was started. Retry later."
                    ) from exc
            return self._client

    async def accept(
        self,
        operation: WithStartWorkflowOperation[Any, Any],
        update: Any,
        workflow_id: str,
        *,
        withdraw: bool,
        update_id: str | None = None,
    ) -> None:
        """Start (or join) the workflow and wait for its ``update`` to say it accepted; a
        rejection is raised as Nova's 4xx. When no answer comes in time: with ``withdraw``
        the workflow is cancelled as withdrawn (it undoes whatever it did, its record
        included) and the caller hears 503, nothing created; without, 503 saying it will
        still run (a delete, which a retry joins). ``update_id``: one per request where the
        workflow id names every run of its kind (a server action's), since the server
        answers an update id a closed run already accepted from that run."""
        client = await self.client()
        update_id = update_id or f"accept-{workflow_id}"
        try:
            await asyncio.wait_for(
                client.execute_update_with_start_workflow(
                    update, start_workflow_operation=operation, id=update_id
                ),
                self.options.accept_timeout_seconds,
            )
        except WorkflowUpdateFailedError as exc:
            raise _rejected(exc) from exc
        except (TimeoutError, RPCTimeoutOrCancelledError, RPCError) as exc:
            if isinstance(exc, RPCError):
                log.error("Temporal refused a request for %s: %s", workflow_id, exc.message)
            if withdraw:
                await self._withdraw(client, workflow_id, update_id)
                return
            if isinstance(exc, RPCError):
                raise unavailable(
                    "The compute service's workflow engine (Temporal) could not be reached "
                    f"({exc.message}); the request may not have started. Retrying it is safe."
                ) from exc
            raise ApiError(
                503,
                "The compute service did not confirm the request in time; it is queued and "
                "will run. Retrying it is safe.",
            ) from exc

    async def _withdraw(self, client: Client, workflow_id: str, update_id: str) -> None:
        """Make sure a boot that did not answer in time creates nothing, then answer 503.
        Returns instead if the boot had ended accepted meanwhile (the caller's 202)."""
        handle = client.get_workflow_handle(workflow_id)
        try:
            await handle.cancel(reason=CancelReason.WITHDRAWN)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                log.error("could not withdraw %s: %s", workflow_id, exc.message)
                raise unavailable(
                    "The compute service could not be reached to confirm or withdraw the "
                    f"request ({exc.message}). It may still be carried out: look for "
                    f"{workflow_id.removeprefix('boot-')} in the server list before retrying.",
                ) from exc
            # Not running: never started, or already over. Over and accepted: say so.
            if await self._accepted(handle.get_update_handle(update_id)):
                return
        raise ApiError(
            503,
            "The compute service did not accept the request within "
            f"{self.options.accept_timeout_seconds:g} s (it is overloaded, or a worker is "
            "stalled); the request was withdrawn and nothing will be created. Retry later.",
        )

    async def _accepted(self, update: WorkflowUpdateHandle[Any]) -> bool:
        """Whether the update had accepted; its rejection raised as Nova's 4xx."""
        try:
            await asyncio.wait_for(update.result(), OUTCOME_TIMEOUT)
        except WorkflowUpdateFailedError as exc:
            raise _rejected(exc) from exc
        except (TimeoutError, RPCTimeoutOrCancelledError, RPCError):
            return False  # it never answered: the workflow ended without accepting
        return True

    async def console_output(self, server_id: str, host: str, length: int | None) -> str:
        client = await self.client()
        try:
            result = await asyncio.wait_for(
                client.execute_workflow(
                    ConsoleOutputWorkflow.run,
                    ConsoleOutputInput(server_id, host, length),
                    id=f"console-{server_id}-{uuid.uuid4()}",
                    task_queue=task_queues.CONTROL,
                ),
                CONSOLE_TIMEOUT,
            )
        except WorkflowFailureError as exc:
            cause = _application_cause(exc)
            if cause is not None and cause.type in HTTP_STATUS:
                raise ApiError(HTTP_STATUS[cause.type or ""], cause.message) from exc
            raise ApiError(409, f"The console of instance {server_id} is not available.") from exc
        except RPCError as exc:
            raise unavailable(
                "The compute service's workflow engine (Temporal) could not be reached for "
                f"the console ({exc.message}). Retry later."
            ) from exc
        except TimeoutError as exc:
            raise ApiError(503, f"Host {host} did not answer for the console in time.") from exc
        # As Nova: control characters other than tab and newline are removed.
        return _CONSOLE_CONTROL_CHARS.sub("", result.output)
