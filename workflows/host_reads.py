"""Reads on one compute host for a caller who is waiting: one step on the host's own queue,
because only that host's worker holds the hypervisor connection and the instances' files.

- HostDomains: which guests the host's hypervisor runs (what ``virsh list`` would say), for
  operators and for tests that check nothing is left behind.
- ConsoleOutput: the end of a guest's serial console, for Nova's os-getConsoleOutput server
  action (``openstack console log show``); the compute API starts it and answers with it.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from core import activity_defs as act
    from core.messages import ConsoleOutput, ConsoleOutputInput, HostDomains, HostDomainsInput
    from workflows.calls import run


@workflow.defn(name="HostDomains")
class HostDomainsWorkflow:
    @workflow.run
    async def run(self, request: HostDomainsInput) -> HostDomains:
        return await run(
            act.LIST_DOMAINS, request, host=request.host, summary=f"list guests on {request.host}"
        )


@workflow.defn(name="ConsoleOutput")
class ConsoleOutputWorkflow:
    @workflow.run
    async def run(self, request: ConsoleOutputInput) -> ConsoleOutput:
        said = f"read the console of {request.instance_uuid} on {request.host}"
        return await run(act.GET_CONSOLE_OUTPUT, request, host=request.host, summary=said)
