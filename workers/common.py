"""What both workers share: logging, HTTP, the Temporal worker, and running until told to
stop. Only the control worker opens the database (workers.control); a compute host reaches
it through the conductor API."""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
import signal
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from typing import Any

import httpx
import uvloop
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.hooks import ActivityHooks, EventRecorder
from core import task_queues
from core.config import HttpOptions, WorkerOptions
from core.faults import FaultPlan
from workers.sandbox import SandboxRunner

log = logging.getLogger("bootflow.worker")
_SANDBOXED, _UNSANDBOXED = SandboxRunner(), UnsandboxedWorkflowRunner()


def setup_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every request URL at INFO; keep it quiet (and tokens never go in URLs).
    logging.getLogger("httpx").setLevel(logging.WARNING)


def http_client(settings: HttpOptions) -> httpx.Client:
    return httpx.Client(
        timeout=httpx.Timeout(60.0, connect=5.0),
        limits=httpx.Limits(
            max_connections=settings.http_max_connections,
            max_keepalive_connections=settings.http_max_keepalive_connections,
        ),
    )


def new_worker(
    client: Client,
    settings: WorkerOptions,
    events: EventRecorder,
    host: str | None,
    activities: list[Callable[..., Any]],
    workflows: Sequence[type] = (),
    **tuning: Any,
) -> Worker:
    """The control worker (``host`` None) or a compute host's, on its task queue: the
    activity hooks around every step (recording its events in ``events``, with this
    process's fault plan), the tuning from config (activities are sync, one thread each),
    and the extra modules' activities (their workflows on the control worker). ``tuning``:
    more Worker arguments (a fleet's hosts share a thread pool and poll less)."""
    extra_workflows, extra_activities = extra_modules(settings)
    executor = tuning.pop("activity_executor", None) or ThreadPoolExecutor(
        max_workers=settings.worker_activity_threads, thread_name_prefix="activity"
    )
    return Worker(
        client,
        task_queue=task_queues.CONTROL if host is None else task_queues.compute(host),
        workflows=[*workflows, *extra_workflows] if host is None else [],
        activities=[*activities, *extra_activities],
        activity_executor=executor,
        max_concurrent_activities=settings.worker_activity_threads,
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
        max_cached_workflows=settings.worker_max_cached_workflows,
        workflow_runner=_SANDBOXED if settings.worker_workflow_sandbox else _UNSANDBOXED,
        interceptors=[ActivityHooks(events, host, FaultPlan.from_json(settings.fault_plan, host))],
        **tuning,
    )


def extra_modules(settings: WorkerOptions) -> tuple[list[type], list[Callable[..., Any]]]:
    """The workflows and activities of ``settings.extra_worker_modules``: each module lists
    its own in ``WORKFLOWS`` and ``ACTIVITIES`` (either may be absent)."""
    workflows: list[type] = []
    activities: list[Callable[..., Any]] = []
    for name in settings.extra_worker_modules:
        module = importlib.import_module(name)
        workflows += getattr(module, "WORKFLOWS", [])
        activities += getattr(module, "ACTIVITIES", [])
    return workflows, activities


def run_main(main: Coroutine[Any, Any, None]) -> None:
    """Run a worker's main coroutine on uvloop: every activity and workflow task crosses the
    event loop a few times (poll, thread hand-off, completion), and uvloop's loop costs less
    CPU per crossing than asyncio's own (docs/performance.md)."""
    uvloop.run(main)


async def run_until_signalled(
    workers: Worker | Sequence[Worker], *background: asyncio.Task[None]
) -> None:
    """Run the worker(s) until SIGTERM or SIGINT, then shut them down gracefully, together."""
    running = [workers] if isinstance(workers, Worker) else list(workers)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with AsyncExitStack() as started:
        for worker in running:
            await started.enter_async_context(worker)
        queues = [w.task_queue for w in running]
        # What start-up made (modules, the workers, their clients) lives as long as the
        # process: kept out of the collector's full passes, which otherwise walk it all and
        # stall the step they interrupt (docs/performance.md). Its garbage goes first.
        gc.collect()
        gc.freeze()
        log.info("polling task queue%s %s", "s" * (len(queues) > 1), _queues(queues))
        await stop.wait()
        log.info("stopping")
        await asyncio.gather(*(w.shutdown() for w in running))
    for task in background:
        task.cancel()


def _queues(names: list[str]) -> str:
    return ", ".join(names) if len(names) <= 3 else f"{names[0]} .. {names[-1]} ({len(names)})"
