"""Waiting on a boot workflow from a delete: the delete of a server still building cancels
its boot, then waits here until the boot's undo steps have run."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from core import activity_defs as act
from core.messages import InstanceRef
from core.workflow_ids import boot_workflow_id

POLL_SECONDS = 0.5


class BootActivities:
    def __init__(self, connect: Callable[[], Awaitable[Client]]) -> None:
        self._connect = connect
        self._client: Client | None = None

    async def client(self) -> Client:
        if self._client is None:
            self._client = await self._connect()
        return self._client

    @activity.defn(name=act.AWAIT_BOOT_END.name)
    async def await_boot_end(self, request: InstanceRef) -> bool:
        """Return once the instance's boot workflow has closed; False if there is none.
        Read-only, so safe to repeat."""
        handle = (await self.client()).get_workflow_handle(boot_workflow_id(request.instance_uuid))
        while True:
            try:
                described = await handle.describe()
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    return False
                raise
            if described.status != WorkflowExecutionStatus.RUNNING:
                return True
            activity.heartbeat()
            await asyncio.sleep(POLL_SECONDS)
