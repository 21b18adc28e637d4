"""Real boot benchmark: a server's boot through bootflow against a bare ``virsh create``.

    .venv/bin/python -m bench.real_boot [--rounds 3]

A libvirtd already running is used; else the bench starts one (as root) that ends with it.

One stack (one host on qemu:///system, SQLite, loopback ports, a throwaway data dir) boots
the default guest image. For each round:

- **bootflow**: from the compute API request (POST /servers) until the guest's ready line
  appears in its console log, i.e. every stage of the workflow (identity, quota, record,
  schedule and claim, port, image cache, overlay, config drive, define and start) plus the
  guest's own boot;
- **bare**: the same domain XML (the instance's saved ``libvirt.xml``, renamed, on its own
  overlay of the same cached base and a copy of its config drive) started with
  ``virsh create``, until the same line appears.

The two alternate which goes first. Round 1's bootflow boot also downloads the image into
the host's cache (cold); the ratio is taken over the warm rounds. Writes
``bench/results/real-boot-<date>.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from bootflow.seed import IMAGE_NAME, NETWORK_NAME, read_openrc
from bootflow.stack import QEMU_URI, Stack
from clients.compute import ComputeClient
from clients.image import ImageClient
from clients.network import NetworkClient
from clients.session import Credentials, Session
from core.config import Settings
from tests.support.libvirtd import NoLibvirtd, running_daemons

RESULTS_DIR = Path(__file__).parent / "results"
MARKER = "bootflow-guest"
POLL_SECONDS = 0.02
BOOT_TIMEOUT = 120.0


@dataclass
class Round:
    bootflow_seconds: float  # request -> guest line
    bootflow_active_seconds: float  # request -> ACTIVE seen through the API
    bare_seconds: float  # virsh create -> guest line
    virsh_create_seconds: float  # virsh create returning
    cold_cache: bool


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_line(path: Path, started: float, timeout: float = BOOT_TIMEOUT) -> float:
    """Seconds from ``started`` (perf_counter) until ``path`` holds the guest's line."""
    deadline = started + timeout
    while time.perf_counter() < deadline:
        if path.exists() and any(
            line.startswith(MARKER + " ") for line in path.read_text(errors="replace").splitlines()
        ):
            return time.perf_counter() - started
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"no {MARKER} line in {path} after {timeout:.0f}s")


def bare_xml(saved: Path, scratch: Path) -> Path:
    """The instance's domain XML as a stranger's: new name and uuid, no bootflow metadata,
    its own root overlay on the same base, a copy of the config drive, its own console."""
    root = ET.parse(saved).getroot()  # noqa: S314 (written by bootflow itself)
    new_uuid = str(uuid.uuid4())
    root.find("name").text = f"bench-bare-{new_uuid[:8]}"  # type: ignore[union-attr]
    root.find("uuid").text = new_uuid  # type: ignore[union-attr]
    for metadata in root.findall("metadata"):
        root.remove(metadata)
    scratch.mkdir(parents=True, exist_ok=True)
    for source in root.iterfind("devices/disk/source"):
        path = Path(source.get("file", ""))
        if (saved.parent / path.name).exists():
            path = saved.parent / path.name  # the instance dir is gone: read its saved copy
        copy = scratch / path.name
        if path.name == "disk":
            info = json.loads(
                subprocess.run(
                    ["qemu-img", "info", "--output=json", str(path)],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )
            # fmt: off
            subprocess.run(
                [
                    "qemu-img", "create", "-q", "-f", "qcow2",
                    "-F", info["backing-filename-format"], "-b", info["backing-filename"],
                    str(copy), str(info["virtual-size"]),
                ],
                check=True,
            )
            # fmt: on
        elif path.parent == saved.parent:
            shutil.copy2(path, copy)
        else:
            continue  # a volume: none in this benchmark
        source.set("file", str(copy))
    for source in root.iterfind("devices/*/source[@path]"):
        source.set("path", str(scratch / "console.log"))
    out = scratch / "domain.xml"
    ET.ElementTree(root).write(out)
    return out


def bare_boot(xml: Path) -> tuple[float, float]:
    """``virsh create`` the XML; (seconds to the guest line, seconds virsh took)."""
    console = xml.parent / "console.log"
    started = time.perf_counter()
    subprocess.run(
        ["virsh", "-q", "-c", QEMU_URI, "create", str(xml)], check=True, capture_output=True
    )
    created = time.perf_counter() - started
    try:
        return wait_for_line(console, started), created
    finally:
        name = ET.parse(xml).getroot().findtext("name") or ""  # noqa: S314
        subprocess.run(["virsh", "-q", "-c", QEMU_URI, "destroy", name], capture_output=True)


def bootflow_boot(
    stack: Stack,
    compute: ComputeClient,
    image_id: str,
    network_id: str,
    name: str,
    created: list[str],
) -> tuple[float, float, str]:
    """Create a server (its id appended to ``created`` at once); (seconds to the guest
    line, seconds to ACTIVE, server id)."""
    started = time.perf_counter()
    server = compute.create_server(name, "1", image_id, [network_id])
    server_id = str(server["id"])
    created.append(server_id)
    host_dirs = [stack.settings.host_dir(h) for h in stack.hosts]
    logs = [d / "instances" / server_id / "console.log" for d in host_dirs]
    line_at = None
    active_at = None
    deadline = started + BOOT_TIMEOUT
    while (line_at is None or active_at is None) and time.perf_counter() < deadline:
        if line_at is None:
            for log in logs:
                if log.exists() and MARKER + " " in log.read_text(errors="replace"):
                    line_at = time.perf_counter() - started
        if active_at is None:
            status = compute.get_server(server_id)["status"]
            if status == "ERROR":
                raise RuntimeError(f"{name} failed: {compute.get_server(server_id).get('fault')}")
            if status == "ACTIVE":
                active_at = time.perf_counter() - started
        time.sleep(POLL_SECONDS)
    if line_at is None or active_at is None:
        raise TimeoutError(f"{name} did not boot in {BOOT_TIMEOUT:.0f}s")
    return line_at, active_at, server_id


def delete(compute: ComputeClient, server_id: str) -> None:
    compute.delete_server(server_id)
    deadline = time.monotonic() + 60
    while any(s["id"] == server_id for s in compute.list_servers()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"server {server_id} was not deleted in 60s")
        time.sleep(0.2)


def _settings(work_dir: Path) -> Settings:
    """A stack of one host on qemu:///system, on free ports of its own."""
    return Settings(
        data_dir=work_dir / "data",
        libvirt_uri=QEMU_URI,
        temporal_address=f"127.0.0.1:{_free_port()}",
        temporal_ui_port=_free_port(),
        identity_port=_free_port(),
        image_port=_free_port(),
        network_port=_free_port(),
        volume_port=_free_port(),
        compute_port=_free_port(),
        codec_server_port=_free_port(),
    )


@dataclass
class _Bench:
    stack: Stack
    compute: ComputeClient
    image_id: str
    network_id: str
    work_dir: Path
    left: list[str]  # servers to delete if a round fails: libvirtd outlives the stack
    saved_xml: Path | None = None


def _round(bench: _Bench, n: int) -> Round:
    """One bootflow boot and one bare ``virsh create`` of the same domain XML; odd rounds
    boot bare first."""
    bare = None
    if n % 2 == 1 and bench.saved_xml is not None:
        bare = bare_boot(bare_xml(bench.saved_xml, bench.work_dir / f"bare-{n}"))
    line, active, server_id = bootflow_boot(
        bench.stack, bench.compute, bench.image_id, bench.network_id, f"bench-{n}", bench.left
    )
    saved = bench.stack.settings.host_dir(bench.stack.hosts[0]) / "instances" / server_id
    bench.saved_xml = bench.work_dir / f"saved-{n}" / "libvirt.xml"
    shutil.copytree(saved, bench.saved_xml.parent, ignore=shutil.ignore_patterns("console.log"))
    if bare is None:
        bare = bare_boot(bare_xml(bench.saved_xml, bench.work_dir / f"bare-{n}"))
    delete(bench.compute, server_id)
    bench.left.remove(server_id)
    print(
        f"round {n + 1}: bootflow {line:.2f}s to the line ({active:.2f}s to ACTIVE), "
        f"bare virsh create {bare[0]:.2f}s",
        flush=True,
    )
    return Round(round(line, 3), round(active, 3), round(bare[0], 3),
                 round(bare[1], 3), cold_cache=n == 0)  # fmt: skip


def run(rounds: int, work_dir: Path) -> dict[str, object]:
    stack = Stack(_settings(work_dir), hosts=1)
    results: list[Round] = []
    left: list[str] = []
    session: Session | None = None
    compute: ComputeClient | None = None
    try:
        stack.start()
        env = read_openrc(stack.settings.data_dir / "openrc")
        session = Session(
            Credentials(
                env["OS_AUTH_URL"], env["OS_USERNAME"], env["OS_PASSWORD"], env["OS_PROJECT_NAME"]
            )
        )
        compute = ComputeClient(session)
        image_id = str(ImageClient(session).find_image(IMAGE_NAME)["id"])
        network_id = str(NetworkClient(session).find_network(NETWORK_NAME)["id"])
        bench = _Bench(stack, compute, image_id, network_id, work_dir, left)
        results = [_round(bench, n) for n in range(rounds)]
    finally:
        for server_id in left:
            try:
                if compute is not None:
                    delete(compute, server_id)
            except Exception as exc:
                print(f"could not delete server {server_id}: {exc}", file=sys.stderr)
        if session is not None:
            session.close()
        stack.stop()
    return _summary(results)


def _summary(results: list[Round]) -> dict[str, object]:
    warm = [r for r in results if not r.cold_cache] or results
    bootflow_median = statistics.median(r.bootflow_seconds for r in warm)
    bare_median = statistics.median(r.bare_seconds for r in warm)
    return {
        "benchmark": "real-boot",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "hypervisor": f"{QEMU_URI} (domain type qemu, TCG)",
        "flavor": "m1.tiny (1 vCPU, 512 MiB, 1 GiB)",
        "rounds": [asdict(r) for r in results],
        "warm_median_bootflow_seconds": round(bootflow_median, 3),
        "warm_median_bare_seconds": round(bare_median, 3),
        "ratio": round(bootflow_median / bare_median, 2),
        "overhead_seconds": round(bootflow_median - bare_median, 3),
        "host": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            # Other work on the machine skews TCG boots; this says how busy it was.
            "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        },
        "database": "sqlite",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3, help="boots of each kind (default 3)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bootflow-bench-") as tmp:
        try:
            with running_daemons(Path(tmp) / "libvirtd.log"):
                result = run(max(args.rounds, 2), Path(tmp))
        except NoLibvirtd as e:
            print(e, file=sys.stderr)
            return 1
    args.results_dir.mkdir(parents=True, exist_ok=True)
    out = args.results_dir / f"real-boot-{datetime.now(UTC):%Y-%m-%d}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"warm medians: bootflow {result['warm_median_bootflow_seconds']}s, bare virsh create "
        f"{result['warm_median_bare_seconds']}s; ratio {result['ratio']} "
        f"(+{result['overhead_seconds']}s); wrote {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
