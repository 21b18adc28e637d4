"""The compute API's calls into Temporal: start a workflow and wait for it to accept (Nova's
202), or run a short one (a console read). Failures become Nova's HTTP errors."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from typing import Any

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError, FailureError
from temporalio.service import RPCError

from bootflow import task_queues
from bootflow.config import Settings
from bootflow.errors import HTTP_STATUS
from bootflow.messages import ConsoleOutputInput
from bootflow.temporal import connect
from services.common.app import ApiError
from workflows.console_output import ConsoleOutputWorkflow

log = logging.getLogger(__name__)

# How long a create or delete waits for the workflow to accept it before answering 503.
ACCEPT_TIMEOUT = 60.0
# os-getConsoleOutput: how long the API waits for the host, and what it strips (as Nova).
CONSOLE_TIMEOUT = 45.0
_CONSOLE_CONTROL_CHARS = re.compile("[\x00-\x08\x0b-\x1f]")


class Rejected(ApiError):
    """The workflow refused the request (validation, quota...): Nova's 4xx, with its type;
    500 when an accepting step failed for no reason of the request's."""

    def __init__(self, status: int, message: str, error_type: str | None) -> None:
        super().__init__(status, message)
        self.error_type = error_type


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

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        async with self._lock:
            if self._client is None:
                self._client = await connect(self.settings)
            return self._client

    async def accept(self, operation: WithStartWorkflowOperation[Any, Any], update: Any) -> None:
        """Start (or join) the workflow and wait for its ``update`` to say it accepted."""
        client = await self.client()
        try:
            await asyncio.wait_for(
                client.execute_update_with_start_workflow(
                    update, start_workflow_operation=operation
                ),
                ACCEPT_TIMEOUT,
            )
        except WorkflowUpdateFailedError as exc:
            cause = _application_cause(exc)
            if cause is None:
                raise ApiError(500, "The request failed before it was accepted.") from exc
            # A type with no status is not the request's fault (a step failed past its
            # retries): Nova's 500, not a 400 telling the user to change the request.
            raise Rejected(
                HTTP_STATUS.get(cause.type or "", 500), cause.message, cause.type
            ) from exc
        except TimeoutError as exc:
            raise ApiError(
                503,
                "The compute service did not accept the request in time; it may still be "
                "processed. Check the server list before retrying.",
            ) from exc
        except RPCError as exc:
            log.error("Temporal refused a request: %s", exc.message)
            raise ApiError(
                503, f"The compute service could not start the request: {exc.message}"
            ) from exc

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
        except (TimeoutError, RPCError) as exc:
            raise ApiError(503, f"Host {host} did not answer for the console in time.") from exc
        # As Nova: control characters other than tab and newline are removed.
        return _CONSOLE_CONTROL_CHARS.sub("", result.output)
