"""What both workers share: logging, the DB, HTTP, and running until told to stop."""

from __future__ import annotations

import asyncio
import logging
import signal
from concurrent.futures import ThreadPoolExecutor

import httpx
from temporalio.worker import Worker

from bootflow.config import Settings
from db.session import SessionFactory, make_engine, make_session_factory

log = logging.getLogger("bootflow.worker")

# Activities are sync (SQLAlchemy, httpx, libvirt are blocking): each runs in one of these
# threads, and the worker takes no more activities at once than there are threads.
ACTIVITY_THREADS = 32


def setup_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every request URL at INFO; keep it quiet (and tokens never go in URLs).
    logging.getLogger("httpx").setLevel(logging.WARNING)


def database(settings: Settings) -> SessionFactory:
    engine = make_engine(settings.db_url, pool_size=settings.database_pool_size)
    return make_session_factory(engine)


def http_client() -> httpx.Client:
    return httpx.Client(
        timeout=httpx.Timeout(60.0, connect=5.0),
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
    )


def activity_executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=ACTIVITY_THREADS, thread_name_prefix="activity")


async def run_until_signalled(worker: Worker, *background: asyncio.Task[None]) -> None:
    """Run the worker until SIGTERM or SIGINT, then shut it down gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        log.info("polling task queue %s", worker.task_queue)
        await stop.wait()
        log.info("stopping")
    for task in background:
        task.cancel()
