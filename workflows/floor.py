"""FloorBoot: as many do-nothing activities as a boot runs, on the same task queues, in the
same order (four on the control queue, three on a host's, one more on the control queue).

No boot can be faster than this on the same server and workers; bench/boot.py reports
bootflow's latency and throughput as ratios to it.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from core import task_queues
    from core.activity_defs import BENCH_NOOP
    from core.messages import InstanceRef

# A boot without a volume: authenticate, validate, create record, schedule | allocate port,
# fetch image, spawn (on the host) | mark active.
PATTERN = ("control",) * 4 + ("host",) * 3 + ("control",)


@workflow.defn(name="FloorBoot")
class FloorBoot:
    @workflow.run
    async def run(self, host: str) -> int:
        ref = InstanceRef(workflow.info().workflow_id)
        for where in PATTERN:
            await workflow.execute_activity(
                BENCH_NOOP.name,
                ref,
                task_queue=task_queues.CONTROL if where == "control" else task_queues.compute(host),
                start_to_close_timeout=timedelta(seconds=30),
                result_type=bool,
            )
        return len(PATTERN)
