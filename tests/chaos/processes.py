"""Reaching a running stack's processes and its Temporal server from the campaign's threads.

``Supervisor`` does what ``bootflow up``'s loop does (``supervise_once`` every half second)
and notes each restart; ``TemporalLink`` keeps one client on a loop thread of its own and
connects again after the dev server was killed.
"""

from __future__ import annotations

import asyncio
import gc
import subprocess
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from temporalio.client import Client

from bootflow.stack import Child, Stack
from core import task_queues
from core.config import Settings
from core.messages import HostDomains, HostDomainsInput
from core.temporal import connect
from workflows.host_reads import HostDomainsWorkflow

T = TypeVar("T")
SUPERVISE_EVERY_SECONDS = 0.5


class Supervisor:
    """Restarts dead children as ``bootflow up`` does; every call under one lock."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="supervisor", daemon=True)
        # Processes the fault driver ends on purpose; any other death is a crash.
        self.expected: set[int] = set()
        self.crashes: list[dict[str, object]] = []
        self._seen: set[int] = set()

    def __enter__(self) -> Supervisor:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(SUPERVISE_EVERY_SECONDS):
            with self.lock:
                self.note_deaths()
                self.stack.supervise_once()

    def note_deaths(self) -> None:
        """Record children that died since the last look (call with the lock held)."""
        for child in self.stack.children:
            proc = child.proc
            if proc is None or proc.poll() is None or proc.pid in self._seen:
                continue
            self._seen.add(proc.pid)
            if proc.pid not in self.expected:
                self.crashes.append(
                    {"process": child.name, "pid": proc.pid, "status": proc.returncode}
                )

    def child(self, name: str) -> Child:
        return next(c for c in self.stack.children if c.name == name)

    def await_restart(self, name: str, old: subprocess.Popen[bytes], timeout: float) -> bool:
        """Whether the supervisor started ``name`` again (a new, live process) in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.child(name).proc
            if proc is not None and proc is not old and proc.poll() is None:
                return True
            time.sleep(0.2)
        return False

    def force_restart(self, name: str) -> None:
        """Start ``name`` again though the supervisor gave up on it (its restart budget)."""
        with self.lock:
            child = self.child(name)
            child.restarts.clear()
            self.stack.supervise_once()

    def await_ready(self, name: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.child(name).ready():
                    return True
            except Exception:  # noqa: S110 (not ready yet, whatever the reason)
                pass
            time.sleep(0.5)
        return False


class TemporalLink:
    """One Temporal client, used from any thread; reconnects after a failed call."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="temporal", daemon=True)
        self._thread.start()
        self._client: Client | None = None

    def call(self, fn: Callable[[Client], Awaitable[T]], timeout: float = 60.0) -> T:
        async def go() -> T:
            if self._client is None:
                self._client = await connect(self.settings)
            try:
                return await fn(self._client)
            except Exception:
                self._client = None
                raise

        return asyncio.run_coroutine_threadsafe(go(), self._loop).result(timeout)

    def cancel(self, workflow_id: str) -> None:
        async def go(client: Client) -> None:
            await client.get_workflow_handle(workflow_id).cancel()

        self.call(go)

    def running(self) -> list[str]:
        """Ids of the workflows still running (a HostDomains the audit runs is not counted)."""

        async def go(client: Client) -> list[str]:
            found = client.list_workflows('ExecutionStatus="Running"')
            return [w.id async for w in found if not w.id.startswith("host-domains-")]

        return self.call(go)

    def domains(self, host: str) -> list[tuple[str, int]]:
        """The test driver's domains on ``host`` (they live in its worker process)."""

        async def go(client: Client) -> HostDomains:
            return await client.execute_workflow(
                HostDomainsWorkflow.run,
                HostDomainsInput(host),
                id=f"host-domains-{uuid.uuid4()}",
                task_queue=task_queues.CONTROL,
                execution_timeout=timedelta(seconds=60),
            )

        found = self.call(go, timeout=90)
        return [(d.uuid, d.state) for d in found.domains]

    def close(self) -> None:
        async def drop() -> None:
            self._client = None
            gc.collect()

        asyncio.run_coroutine_threadsafe(drop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
