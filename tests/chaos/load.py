"""The load: each planned server created through the compute API as the demo user, then
deleted, or its boot cancelled from Temporal, at the stage its scenario names.

Creates are paced over the fault schedule's length, so faults land while boots are in
every stage. A request that got no answer, or a 5xx, is sent again for a while (as a user
or a client library would); every answer is in the recorder either way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from clients.compute import ComputeClient
from clients.errors import ClientError, HttpError, NotFound
from tests.chaos.plan import HELD_AT, Server
from tests.chaos.processes import TemporalLink

T = TypeVar("T")
RETRY_FOR_SECONDS = 120.0
STAGE_WAIT_SECONDS = 90.0
SETTLE_WAIT_SECONDS = 300.0


@dataclass
class Outcome:
    """What happened to one planned server, as the load saw it."""

    name: str
    scenario: str
    id: str | None = None
    created_status: int | None = None
    deleted: bool = False
    cancelled: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class Load:
    compute: ComputeClient
    temporal: TemporalLink
    image: str
    network: str
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, servers: list[Server], duration: float, concurrency: int) -> None:
        """Create every server, the i-th no earlier than ``i * duration / len`` seconds in."""
        began = time.monotonic()
        gap = duration / max(len(servers), 1)
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="load") as pool:
            jobs = []
            for server in servers:
                wait = server.index * gap - (time.monotonic() - began)
                if wait > 0:
                    time.sleep(wait)
                jobs.append(pool.submit(self._one, server))
            for job in jobs:
                job.result()

    def deleted_ids(self) -> set[str]:
        return {o.id for o in self.outcomes.values() if o.deleted and o.id}

    # -- one server -----------------------------------------------------------------------

    def _one(self, server: Server) -> None:
        outcome = Outcome(server.name, server.scenario)
        with self._lock:
            self.outcomes[server.name] = outcome
        try:
            self._create(server, outcome)
            if outcome.id is None:
                return
            if server.scenario in HELD_AT:
                self._await_task_state(outcome, HELD_AT[server.scenario][1])
            elif server.scenario == "del-active":
                self._await_status(outcome, "ACTIVE")
            elif server.scenario == "del-error":
                self._await_status(outcome, "ERROR")
            if server.scenario == "cancel":
                self.temporal.cancel(f"boot-{outcome.id}")
                outcome.cancelled = True
            elif server.deleted:
                self._delete(outcome)
        except Exception as exc:  # one server's trouble must not stop the others
            outcome.notes.append(f"load gave up: {type(exc).__name__}: {exc}")

    def _create(self, server: Server, outcome: Outcome) -> None:
        def create() -> dict[str, Any]:
            return self.compute.create_server(
                server.name,
                "1",
                self.image,
                [self.network],
                volume_size_gb=1 if server.volume else None,
            )

        try:
            created = _again(create, outcome)
        except HttpError as exc:
            outcome.created_status = exc.status
            outcome.notes.append(f"create refused: {exc.status} {exc}")
            return
        outcome.id = str(created["id"])
        outcome.created_status = 202

    def _delete(self, outcome: Outcome) -> None:
        assert outcome.id is not None
        server_id = outcome.id
        try:
            _again(lambda: self.compute.delete_server(server_id), outcome)
        except NotFound:
            outcome.notes.append("delete: already gone (404)")
        outcome.deleted = True

    def _status(self, outcome: Outcome) -> dict[str, Any]:
        assert outcome.id is not None
        server_id = outcome.id
        return _again(lambda: self.compute.get_server(server_id), outcome)

    def _await_task_state(self, outcome: Outcome, task_state: str) -> None:
        deadline = time.monotonic() + STAGE_WAIT_SECONDS
        while time.monotonic() < deadline:
            server = self._status(outcome)
            if server.get("OS-EXT-STS:task_state") == task_state:
                return
            if server["status"] != "BUILD":
                outcome.notes.append(f"never seen {task_state}: it became {server['status']}")
                return
            time.sleep(0.2)
        outcome.notes.append(f"never seen {task_state} in {STAGE_WAIT_SECONDS:.0f}s")

    def _await_status(self, outcome: Outcome, status: str) -> None:
        deadline = time.monotonic() + SETTLE_WAIT_SECONDS
        while time.monotonic() < deadline:
            server = self._status(outcome)
            if server["status"] != "BUILD":
                if server["status"] != status:
                    outcome.notes.append(f"wanted {status}, it became {server['status']}")
                return
            time.sleep(0.5)
        outcome.notes.append(f"still BUILD after {SETTLE_WAIT_SECONDS:.0f}s")


def _again(call: Callable[[], T], outcome: Outcome) -> T:
    """``call``, sent again while it gets no answer or a 5xx (a 4xx is the answer)."""
    deadline = time.monotonic() + RETRY_FOR_SECONDS
    while True:
        try:
            return call()
        except HttpError as exc:
            if exc.status < 500 or time.monotonic() > deadline:
                raise
            outcome.notes.append(f"{exc.status}, sent again")
        except (ClientError, httpx.TransportError) as exc:
            if time.monotonic() > deadline:
                raise
            outcome.notes.append(f"{type(exc).__name__}, sent again")
        time.sleep(1.0)
