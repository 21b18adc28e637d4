"""A deployment on one machine, set up as docs/deploy.md sets one up on several.

Every process gets its own environment, built from scratch (no ``BOOTFLOW_*`` or
``TEMPORAL_*`` inherited from the test's), and its own data dir, and is started with the
``bootflow`` command an operator runs. What they share is what machines share: the
Temporal server, the PostgreSQL database and the services' HTTP endpoints from identity's
catalog. ``bootflow init`` does the one-time steps, as docker-compose.yml's init jobs do.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bootflow import lifetime
from bootflow.deploy import new_secrets
from core import task_queues
from core.config import Settings
from core.temporal import has_pollers
from tests.support.devserver import dev_server
from tests.support.net import free_port, wait_http
from tests.support.stack import BOOTFLOW, CliResult
from tests.support.tls import MtlsProxy, client_env, make_pki, mtls_proxy

SERVICES = ("identity", "image", "network", "volume", "compute")
# What a process inherits from the test's environment: nothing bootflow or Temporal reads.
KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH")


def hypervisor_xml(vcpus: int, memory_mb: int) -> str:
    """A libvirt test-driver hypervisor of this size (``test:///<file>``)."""
    return (
        "<node><cpu><nodes>1</nodes><sockets>1</sockets>"
        f"<cores>{vcpus}</cores><threads>1</threads><active>{vcpus}</active>"
        "<mhz>2000</mhz><model>x86_64</model></cpu>"
        f"<memory>{memory_mb * 1024}</memory></node>"
    )


@dataclass
class Deployment:
    root: Path
    common: dict[str, str]  # every process: Temporal, database, identity, secrets
    control: dict[str, str]  # the control node's services, on top of common
    settings: Settings  # the test's own view, for reading the database and Temporal
    proxy: MtlsProxy  # mTLS in front of Temporal
    tls: dict[str, str]  # what a process needs to reach Temporal through the proxy
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    envs: dict[str, dict[str, str]] = field(default_factory=dict)

    def log(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"

    def start(self, name: str, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
        self.log(name).parent.mkdir(parents=True, exist_ok=True)
        with open(self.log(name), "ab") as out:
            proc = lifetime.spawn(
                [BOOTFLOW, *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs[name] = proc
        self.envs[name] = env
        return proc

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        proc = self.procs[name]
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def bootflow(self, *args: str, env: dict[str, str] | None = None) -> CliResult:
        """``bootflow`` as the operator runs it on the control node."""
        proc = subprocess.run(
            [BOOTFLOW, *args],
            env=env or self.control,
            capture_output=True,
            text=True,
            timeout=180,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    def compute_env(
        self, host: str, vcpus: int, memory_mb: int, *, tls: bool = False
    ) -> dict[str, str]:
        """A hypervisor host's worker: its own data dir and its own libvirt hypervisor, and no
        database (it goes through the compute API's conductor API)."""
        data_dir = self.root / f"host-{host}"
        data_dir.mkdir(parents=True, exist_ok=True)
        xml = data_dir / "hypervisor.xml"
        xml.write_text(hypervisor_xml(vcpus, memory_mb))
        common = {k: v for k, v in self.common.items() if k != "BOOTFLOW_DATABASE_URL"}
        env = common | {
            "BOOTFLOW_DATA_DIR": str(data_dir),
            "BOOTFLOW_LIBVIRT_URI": f"test://{xml}",
        }
        return env | self.tls if tls else env

    def start_compute(self, host: str, env: dict[str, str]) -> None:
        started = time.time()
        self.start(host, env, "run", "compute-worker", "--host", host)
        self.await_pollers(host, task_queues.compute(host), started)

    def await_pollers(self, name: str, queue: str, since: float, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not asyncio.run(has_pollers(self.settings, queue, since)):
            if self.procs[name].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} is not polling {queue}; see {self.log(name)}")
            time.sleep(0.2)

    def environ_of(self, name: str) -> dict[str, str]:
        """The environment the running process really has (from /proc)."""
        raw = Path(f"/proc/{self.procs[name].pid}/environ").read_bytes()
        pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
        return {k.decode(): v.decode() for k, v in pairs}


@contextmanager
def deployment(root: Path, database_url: str, fault_plan: str = "") -> Iterator[Deployment]:
    """Temporal, the control node (services and control worker) and hosts node1 (4 vCPUs,
    4 GiB) and node2 (8 vCPUs, 8 GiB); node2's worker reaches Temporal over mTLS."""
    with ExitStack() as stack:
        root.mkdir(parents=True, exist_ok=True)
        (root / "logs").mkdir(exist_ok=True)
        port = stack.enter_context(dev_server(root / "logs" / "temporal.log"))
        pki = make_pki(root / "pki")
        proxy = stack.enter_context(mtls_proxy(pki, port))
        secrets = new_secrets()
        ports = {name: free_port() for name in SERVICES}
        base = {k: v for k, v in os.environ.items() if k in KEEP}
        common = base | {
            "TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
            "TEMPORAL_NAMESPACE": "default",
            "BOOTFLOW_DATABASE_URL": database_url,
            "BOOTFLOW_AUTH_URL": f"http://127.0.0.1:{ports['identity']}/v3",
            "BOOTFLOW_SERVICE_PASSWORD": secrets["BOOTFLOW_SERVICE_PASSWORD"],
            "BOOTFLOW_CODEC_KEY": secrets["BOOTFLOW_CODEC_KEY"],
            "BOOTFLOW_CODEC_KEY_ID": secrets["BOOTFLOW_CODEC_KEY_ID"],
            "BOOTFLOW_DEPLOYMENT_ID": secrets["BOOTFLOW_DEPLOYMENT_ID"],
            "BOOTFLOW_HEARTBEAT_SECONDS": "2",
            "BOOTFLOW_FAULT_PLAN": fault_plan,
        }
        control_dir = root / "control"
        control = common | {
            "BOOTFLOW_DATA_DIR": str(control_dir),
            "BOOTFLOW_BIND_HOST": "127.0.0.1",
            **{f"BOOTFLOW_{name.upper()}_PORT": str(p) for name, p in ports.items()},
            "BOOTFLOW_IMAGE_URL": f"http://127.0.0.1:{ports['image']}",
            "BOOTFLOW_NETWORK_URL": f"http://127.0.0.1:{ports['network']}",
            "BOOTFLOW_VOLUME_URL": f"http://127.0.0.1:{ports['volume']}/v3",
            "BOOTFLOW_COMPUTE_URL": f"http://127.0.0.1:{ports['compute']}/v2.1",
            "BOOTFLOW_ADMIN_PASSWORD": secrets["BOOTFLOW_ADMIN_PASSWORD"],
            "BOOTFLOW_DEMO_PASSWORD": secrets["BOOTFLOW_DEMO_PASSWORD"],
        }
        settings = Settings(
            data_dir=control_dir,
            database_url=database_url,
            temporal_address=common["TEMPORAL_ADDRESS"],
            codec_key=secrets["BOOTFLOW_CODEC_KEY"],
            codec_key_id=secrets["BOOTFLOW_CODEC_KEY_ID"],
            service_down_seconds=60,
        )
        tls = client_env(pki, proxy.address)
        d = Deployment(root, common, control, settings, proxy, tls)
        stack.callback(lambda: [d.stop(name, signal.SIGKILL) for name in reversed(d.procs)])

        result = d.bootflow("init")
        if result.code != 0:
            raise RuntimeError(f"bootflow init failed: {result.err}")
        for name in SERVICES:
            env = control | (
                {"BOOTFLOW_TOKEN_KEY": secrets["BOOTFLOW_TOKEN_KEY"]} if name == "identity" else {}
            )
            d.start(name, env, "run", "service", name)
        for name in SERVICES:
            wait_http(f"http://127.0.0.1:{ports[name]}/", timeout=60)
        result = d.bootflow("init", "cloud")
        if result.code != 0:
            raise RuntimeError(f"bootflow init cloud failed: {result.err}")

        started = time.time()
        (root / "control-worker").mkdir()
        control_worker = common | {"BOOTFLOW_DATA_DIR": str(root / "control-worker")}
        d.start("control", control_worker, "run", "control-worker")
        d.await_pollers("control", task_queues.CONTROL, started)
        d.start_compute("node1", d.compute_env("node1", 4, 4096))
        d.start_compute("node2", d.compute_env("node2", 8, 8192, tls=True))
        yield d
