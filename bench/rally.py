"""Rally's ``NovaServers.boot_and_delete_server``, run the way Rally runs it, through the
compute API only: POST a server, sleep the pre-poll delay, GET it every poll interval until
ACTIVE; DELETE it, sleep, GET it every poll interval until 404. Rally's ``constant``
runner: ``times`` iterations, ``concurrency`` at once. Durations per atomic action and
iterations per second of load are reported as Rally reports them.

Rally's defaults (rally-openstack's ``[openstack]`` options): boot pre-poll delay 1 s,
delete pre-poll delay 2 s, both poll intervals 2 s. Each of Rally's users logs in once and
its iterations share that session (rally-openstack caches a user's clients with its
credential); its users context has one tenant of one user by default (``users``). Every
request still carries the token, so a poll costs the API a token check (from its cache, or
identity's when the cache has expired).
"""

from __future__ import annotations

import itertools
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from clients.compute import ComputeClient
from clients.errors import NotFound
from clients.session import Session

BOOT_PREPOLL_S = 1.0
DELETE_PREPOLL_S = 2.0
POLL_S = 2.0
TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Server:
    """What every iteration boots."""

    flavor: str
    image: str
    network: str


@dataclass
class Iteration:
    boot_s: float = 0.0
    delete_s: float = 0.0
    error: str = ""


@dataclass
class Poll:
    """The pre-poll delay and the interval, Rally's by default (a bench of boots alone
    polls faster so its latencies are not rounded up to the interval)."""

    boot_prepoll: float = BOOT_PREPOLL_S
    delete_prepoll: float = DELETE_PREPOLL_S
    interval: float = POLL_S
    timeout: float = TIMEOUT_S


def users(login: Callable[[], Session], count: int = 1) -> Callable[[], ComputeClient]:
    """A compute client per worker thread, on the sessions of ``count`` users in turn."""
    sessions = itertools.cycle([login() for _ in range(count)])
    lock = threading.Lock()

    def client() -> ComputeClient:
        with lock:
            return ComputeClient(next(sessions))

    return client


@dataclass
class Runner:
    """Makes one compute client per worker thread and names the servers."""

    client: Callable[[], ComputeClient]
    server: Server
    poll: Poll = field(default_factory=Poll)
    prefix: str = "rally"
    _local: threading.local = field(default_factory=threading.local)
    _count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def compute(self) -> ComputeClient:
        if not hasattr(self._local, "compute"):
            self._local.compute = self.client()
        compute: ComputeClient = self._local.compute
        return compute

    def name(self) -> str:
        with self._lock:
            self._count += 1
            return f"{self.prefix}-{self._count}"

    def boot(self) -> tuple[str, float]:
        """nova.boot_server: the seconds from the POST until a GET shows ACTIVE."""
        compute = self.compute()
        start = time.monotonic()
        s = self.server
        server_id = str(compute.create_server(self.name(), s.flavor, s.image, [s.network])["id"])
        time.sleep(self.poll.boot_prepoll)
        while True:
            status = compute.get_server(server_id)["status"]
            if status == "ACTIVE":
                return server_id, time.monotonic() - start
            if status == "ERROR":
                raise RuntimeError(f"server {server_id} went to ERROR")
            self._wait(start)

    def delete(self, server_id: str) -> float:
        """nova.delete_server: the seconds from the DELETE until a GET answers 404."""
        compute = self.compute()
        start = time.monotonic()
        compute.delete_server(server_id)
        time.sleep(self.poll.delete_prepoll)
        while True:
            try:
                compute.get_server(server_id)
            except NotFound:
                return time.monotonic() - start
            self._wait(start)

    def _wait(self, start: float) -> None:
        if time.monotonic() - start > self.poll.timeout:
            raise TimeoutError(f"not done after {self.poll.timeout:.0f} s")
        time.sleep(self.poll.interval)

    def iterate(self, delete: bool) -> Iteration:
        """One iteration of boot_server, or of boot_and_delete_server with ``delete``."""
        out = Iteration()
        try:
            server_id, out.boot_s = self.boot()
            if delete:
                out.delete_s = self.delete(server_id)
        except Exception as exc:  # Rally counts a failed iteration and goes on
            out.error = f"{type(exc).__name__}: {exc}"
        return out


def constant(
    iteration: Callable[[], Iteration], times: int, concurrency: int
) -> tuple[list[Iteration], float]:
    """Rally's constant runner: ``times`` iterations, ``concurrency`` running at once; the
    iterations and the load duration (first start to last end)."""
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        done = list(pool.map(lambda _: iteration(), range(times)))
    return done, time.monotonic() - start


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 2)

    return {
        "min": round(ordered[0], 2),
        "median": round(statistics.median(ordered), 2),
        "90%ile": pct(0.90),
        "95%ile": pct(0.95),
        "max": round(ordered[-1], 2),
        "avg": round(statistics.fmean(ordered), 2),
    }


def report(done: list[Iteration], load_s: float) -> dict[str, Any]:
    """Rally's table: per atomic action, and iterations per second over the load."""
    ok = [i for i in done if not i.error]
    out: dict[str, Any] = {
        "iterations": len(done),
        "success_rate": round(len(ok) / len(done), 3) if done else 0.0,
        "load_duration_s": round(load_s, 2),
        "per_second": round(len(ok) / load_s, 2) if load_s else 0.0,
        "nova.boot_server": _stats([i.boot_s for i in ok]),
    }
    if any(i.delete_s for i in ok):
        out["nova.delete_server"] = _stats([i.delete_s for i in ok])
    errors = sorted({i.error for i in done if i.error})
    if errors:
        out["errors"] = errors[:5]
    return out
