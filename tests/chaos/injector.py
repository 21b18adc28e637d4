"""The fault driver: while the load runs, one thread hits the stack's processes at seeded
random moments, each fault inside a recorded window.

- ``kill``: SIGKILL of one process (the Temporal dev server, the control worker, each
  compute worker, each HTTP service); the supervisor must start it again (if it does not
  in time, that is a finding and the campaign starts it itself);
- ``stall``: SIGSTOP of a worker for longer than its steps' timeouts, then SIGCONT;
- ``burst``: a service stopped and started again with a plan that answers 503 to about
  half of its next requests;
- ``postgres``: a restart of the PostgreSQL server (``pg_ctl restart -m fast``).
"""

from __future__ import annotations

import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from tests.chaos import plan
from tests.chaos.processes import Supervisor
from tests.chaos.recorder import Recorder

HTTP_SERVICES = ("identity", "image", "network", "volume", "compute")
BURST_SERVICES = ("image", "network", "volume", "compute")
RESTART_TIMEOUT = 15.0
READY_TIMEOUT = 90.0


@dataclass
class Fault:
    at: float  # planned: seconds after the load began
    kind: str  # kill, stall, burst, postgres
    target: str
    seconds: float = 0.0  # a stall's length
    started: float | None = None
    ended: float | None = None
    notes: list[str] = field(default_factory=list)


def schedule(
    rng: random.Random,
    duration: float,
    *,
    kills: list[str],
    stalls: list[tuple[str, float]],
    bursts: list[str],
    postgres: int,
) -> list[Fault]:
    """The faults at seeded moments spread over ``duration`` seconds, in time order."""
    faults = [Fault(0.0, "kill", t) for t in kills]
    faults += [Fault(0.0, "stall", t, s) for t, s in stalls]
    faults += [Fault(0.0, "burst", t) for t in bursts]
    faults += [Fault(0.0, "postgres", "postgresql") for _ in range(postgres)]
    slots = sorted(rng.uniform(0.03, 0.9) * duration for _ in faults)
    rng.shuffle(faults)
    for fault, at in zip(faults, slots, strict=True):
        fault.at = round(at, 1)
    return sorted(faults, key=lambda f: f.at)


def every_process(hosts: list[str]) -> list[str]:
    """Each process kind once: the dev server, the control worker, each host, each service."""
    return ["temporal", "control", *hosts, *HTTP_SERVICES]


class Injector:
    def __init__(
        self,
        faults: list[Fault],
        supervisor: Supervisor,
        recorder: Recorder,
        seed: int,
        restart_postgres: Callable[[], None] | None,
    ) -> None:
        self.faults = faults
        self.supervisor = supervisor
        self.recorder = recorder
        self.seed = seed
        self.restart_postgres = restart_postgres
        self.findings: list[dict[str, Any]] = []
        self._thread = threading.Thread(target=self._run, name="injector", daemon=True)
        self._began = 0.0
        self.error: BaseException | None = None

    def start(self) -> None:
        self._began = time.monotonic()
        self._thread.start()

    def join(self) -> None:
        self._thread.join()

    def report(self) -> list[dict[str, Any]]:
        return [asdict(f) for f in self.faults]

    def _run(self) -> None:
        try:
            for fault in self.faults:
                wait = fault.at - (time.monotonic() - self._began)
                if wait > 0:
                    time.sleep(wait)
                fault.started = self.recorder.now()
                window = self.recorder.open_window(fault.kind, fault.target)
                try:
                    getattr(self, f"_{fault.kind}")(fault)
                finally:
                    self.recorder.close_window(window)
                    fault.ended = self.recorder.now()
        except BaseException as exc:  # reported by the campaign, not lost in a thread
            self.error = exc

    # -- the faults ------------------------------------------------------------------------

    def _restarted(self, fault: Fault, old: subprocess.Popen[bytes]) -> None:
        name = fault.target
        if not self.supervisor.await_restart(name, old, RESTART_TIMEOUT):
            self.findings.append(
                {
                    "kind": "supervisor",
                    "resource": "process",
                    "id": name,
                    "server": None,
                    "detail": f"not restarted within {RESTART_TIMEOUT:.0f}s of its death",
                }
            )
            fault.notes.append("the supervisor did not restart it; the campaign did")
            self.supervisor.force_restart(name)
        if not self.supervisor.await_ready(name, READY_TIMEOUT):
            fault.notes.append(f"not ready {READY_TIMEOUT:.0f}s after its restart")

    def _kill(self, fault: Fault) -> None:
        with self.supervisor.lock:
            proc = self.supervisor.child(fault.target).proc
            assert proc is not None
            self.supervisor.expected.add(proc.pid)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait()
        fault.notes.append(f"killed pid {proc.pid}")
        self._restarted(fault, proc)

    def _stall(self, fault: Fault) -> None:
        proc = self.supervisor.child(fault.target).proc
        assert proc is not None
        proc.send_signal(signal.SIGSTOP)
        try:
            time.sleep(fault.seconds)
        finally:
            proc.send_signal(signal.SIGCONT)
        fault.notes.append(f"stopped pid {proc.pid} for {fault.seconds:.0f}s")

    def _burst(self, fault: Fault) -> None:
        stack = self.supervisor.stack
        with self.supervisor.lock:
            proc = self.supervisor.child(fault.target).proc
            assert proc is not None
            self.supervisor.expected.add(proc.pid)
            proc.send_signal(signal.SIGTERM)
            proc.wait()
            normal = stack.env.get("BOOTFLOW_FAULT_PLAN", "")
            stack.env["BOOTFLOW_FAULT_PLAN"] = plan.as_json(
                plan.burst_plan(self.seed, fault.target, answers=20)
            )
            try:
                stack.supervise_once()
            finally:
                stack.env["BOOTFLOW_FAULT_PLAN"] = normal
        self._restarted(fault, proc)
        # The burst lasts until about 20 of its requests were refused; give it that long.
        time.sleep(15)

    def _postgres(self, fault: Fault) -> None:
        if self.restart_postgres is None:
            fault.notes.append("not injected: the PostgreSQL server is not ours to restart")
            return
        self.restart_postgres()
        fault.notes.append("restarted (fast shutdown, then start)")
