"""The benchmark's floor: an activity that does nothing, run where a boot's steps run.

Registered only when ``BOOTFLOW_BENCH_FLOOR`` is set (bench/boot.py sets it), so the floor
shares the boot's workers, threads, interceptors and server, and differs only in doing no
work.
"""

from __future__ import annotations

from temporalio import activity

from core import activity_defs as act
from core.messages import InstanceRef


@activity.defn(name=act.BENCH_NOOP.name)
def noop(request: InstanceRef) -> bool:
    """Nothing, as fast as an activity can be. Safe to repeat."""
    return bool(request.instance_uuid)
