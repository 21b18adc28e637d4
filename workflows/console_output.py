"""ConsoleOutput: the end of a guest's serial console, read on its host.

Nova's os-getConsoleOutput server action (``openstack console log show``); the compute API
starts it and answers with its result. It runs the read on the host's own queue because
only that host's worker has the instance's files.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from core import activity_defs as act
    from core.messages import ConsoleOutput, ConsoleOutputInput
    from workflows.calls import run


@workflow.defn(name="ConsoleOutput")
class ConsoleOutputWorkflow:
    @workflow.run
    async def run(self, request: ConsoleOutputInput) -> ConsoleOutput:
        return await run(
            act.GET_CONSOLE_OUTPUT,
            request,
            host=request.host,
            summary=f"read the console of {request.instance_uuid} on {request.host}",
        )
