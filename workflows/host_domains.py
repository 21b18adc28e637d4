"""HostDomains: ask one compute host's worker which guests its hypervisor runs.

What ``virsh list`` would say on that host, for operators and for tests that check
nothing is left behind; it runs on the host's own queue because only its worker holds
the hypervisor connection.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from core import activity_defs as act
    from core import task_queues
    from core.messages import HostDomains, HostDomainsInput
    from workflows.calls import run


@workflow.defn(name="HostDomains")
class HostDomainsWorkflow:
    @workflow.run
    async def run(self, request: HostDomainsInput) -> HostDomains:
        return await run(
            act.LIST_DOMAINS,
            request,
            task_queue=task_queues.compute(request.host),
            schedule_to_start=timedelta(seconds=20),
            start_to_close=timedelta(seconds=20),
            retry=RetryPolicy(maximum_attempts=2),
            summary=f"list guests on {request.host}",
        )
