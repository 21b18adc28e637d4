"""HostDomains: ask one compute host's worker which guests its hypervisor runs.

What ``virsh list`` would say on that host, for operators and for tests that check
nothing is left behind; it runs on the host's own queue because only its worker holds
the hypervisor connection.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from core import activity_defs as act
    from core.messages import HostDomains, HostDomainsInput
    from workflows.calls import run


@workflow.defn(name="HostDomains")
class HostDomainsWorkflow:
    @workflow.run
    async def run(self, request: HostDomainsInput) -> HostDomains:
        return await run(
            act.LIST_DOMAINS, request, host=request.host, summary=f"list guests on {request.host}"
        )
