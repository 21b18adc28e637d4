"""Heartbeats for blocking steps, so a worker that dies mid-step is noticed in seconds.

A step that makes no progress reports of its own (defining and starting a domain) still
heartbeats from a side thread while it runs; with a heartbeat timeout on the activity,
Temporal retries it elsewhere once the heartbeats stop, not at the start-to-close timeout.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from temporalio import activity


@contextmanager
def heartbeating(every: float = 3.0) -> Iterator[None]:
    stop = threading.Event()
    # The activity's context, so activity.heartbeat() works from the side thread.
    context = contextvars.copy_context()

    def beat() -> None:
        while not stop.wait(every):
            context.run(activity.heartbeat)

    thread = threading.Thread(target=beat, name="heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
