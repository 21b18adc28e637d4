"""The benchmark's floor: ``FloorBoot``, as many do-nothing activities as a boot runs, on
the same task queues, in the same order (four on the control queue, three on a host's, one
more on the control queue).

No boot can be faster than this on the same server and workers; bench/boot.py reports
bootflow's latency and throughput as ratios to it. bench/boot.py loads this module into the
workers (``extra_worker_modules``), so the floor shares the boot's worker processes, threads,
interceptors and server, and differs only in doing no work.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from core import task_queues
    from core.messages import InstanceRef

NOOP = "bench_noop"
# A boot without a volume: authenticate, validate, create record, schedule | allocate port,
# fetch image, spawn (on the host) | mark active.
PATTERN = ("control",) * 4 + ("host",) * 3 + ("control",)


@activity.defn(name=NOOP)
def noop(request: InstanceRef) -> bool:
    """Nothing, as fast as an activity can be. Safe to repeat."""
    return bool(request.instance_uuid)


@workflow.defn(name="FloorBoot")
class FloorBoot:
    @workflow.run
    async def run(self, host: str) -> int:
        ref = InstanceRef(workflow.info().workflow_id)
        for where in PATTERN:
            await workflow.execute_activity(
                noop,
                ref,
                task_queue=task_queues.CONTROL if where == "control" else task_queues.compute(host),
                start_to_close_timeout=timedelta(seconds=30),
            )
        return len(PATTERN)


# What a worker loading this module registers (workers.common.extra_modules).
WORKFLOWS = [FloorBoot]
ACTIVITIES = [noop]
