"""Task-queue names: the control queue and one queue per compute host."""

from __future__ import annotations

from typing import Final

# Workflows and the control-plane activities (identity, quota, records, scheduler).
CONTROL: Final = "bootflow-control"

_COMPUTE_PREFIX: Final = "compute-"


def compute(host: str) -> str:
    """The queue only ``host``'s compute worker polls; host-bound activities go here."""
    return f"{_COMPUTE_PREFIX}{host}"


def host_of(task_queue: str) -> str | None:
    """The compute host a queue belongs to; None for the control queue."""
    return (
        task_queue.removeprefix(_COMPUTE_PREFIX) if task_queue.startswith(_COMPUTE_PREFIX) else None
    )
