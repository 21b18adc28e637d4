"""Image transfer benchmark: upload and download a large image through the image service,
watching the service's memory.

    .venv/bin/python -m bench.image_transfer [--size-mib 200]

Identity and image run as their own processes (``services.runner.serve``, as ``bootflow
up`` runs them) on loopback ports, over a SQLite database in a throwaway data dir. The image
service's resident memory (VmRSS) is sampled every few milliseconds during each transfer;
the result is the peak minus the resident memory just before the transfer began. Streaming
keeps that growth to a few MiB whatever the image size; buffering would grow it by the size.

Writes ``bench/results/image-transfer-<date>.json`` and prints a table; exits 1 if either
transfer grew the service's memory by more than a tenth of the image size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from clients.image import ImageClient
from clients.session import Credentials, Session
from core.config import CONFIG_FILE, SECRETS_FILE, Settings, write_json_private
from db.migrate import upgrade
from db.session import make_engine, make_session_factory
from services.identity.bootstrap import EndpointSeed, UserSeed, bootstrap
from services.identity.tokens import new_key as new_token_key

MiB = 1 << 20
RESULTS_DIR = Path(__file__).parent / "results"
SAMPLE_SECONDS = 0.005
# The verdict: growth above this share of the image size means data is being buffered.
MAX_GROWTH_SHARE = 0.10

_SERVE = (
    "import sys\n"
    "from core.config import load_settings\n"
    "from services.runner import serve\n"
    "serve(sys.argv[1], load_settings())\n"
)


@dataclass
class Measurement:
    seconds: float
    mib_per_s: float
    baseline_rss_mib: float
    peak_rss_mib: float
    peak_growth_mib: float


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    """The process's resident set size, as the kernel reports it."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


class PeakSampler:
    """Samples a process's RSS in a thread until stopped; remembers the highest."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = rss_kib(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            self._stop.wait(SAMPLE_SECONDS)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_kib(self.pid))


def measure(pid: int, size: int, action: Callable[[], None]) -> Measurement:
    baseline = rss_kib(pid)
    started = time.perf_counter()
    with PeakSampler(pid) as sampler:
        action()
    seconds = time.perf_counter() - started
    return Measurement(
        seconds=round(seconds, 3),
        mib_per_s=round(size / MiB / seconds, 1),
        baseline_rss_mib=round(baseline / 1024, 1),
        peak_rss_mib=round(sampler.peak / 1024, 1),
        peak_growth_mib=round((sampler.peak - baseline) / 1024, 1),
    )


def prepare(data_dir: Path) -> tuple[Settings, str]:
    """Settings files, a migrated database and identity's users and catalog; the demo
    user's password."""
    password = secrets.token_urlsafe(16)
    demo_password = secrets.token_urlsafe(16)
    config = {"identity_port": _free_port(), "image_port": _free_port()}
    write_json_private(data_dir / CONFIG_FILE, config)
    write_json_private(
        data_dir / SECRETS_FILE, {"service_password": password, "token_key": new_token_key()}
    )
    settings = Settings(data_dir=data_dir)
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    try:
        bootstrap(
            make_session_factory(engine),
            [
                UserSeed(settings.service_username, password, settings.service_project, ("admin",)),
                UserSeed("demo", demo_password, "demo", ("member",)),
            ],
            [
                EndpointSeed("identity", "keystone", f"{settings.url(settings.identity_port)}/v3"),
                EndpointSeed("image", "glance", settings.url(settings.image_port)),
            ],
            settings.region,
        )
    finally:
        engine.dispose()
    return settings, demo_password


@contextmanager
def service(name: str, settings: Settings, url: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run one service as its own process until the block ends."""
    log = (settings.data_dir / f"{name}.log").open("wb")
    env = {**os.environ, "BOOTFLOW_DATA_DIR": str(settings.data_dir)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVE, name], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        _wait_until_up(proc, url)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _wait_until_up(proc: subprocess.Popen[bytes], url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"service at {url} exited with status {proc.returncode}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer within {timeout:.0f}s") from None
            time.sleep(0.05)


def write_random_file(path: Path, size: int) -> None:
    with path.open("wb") as f:
        for offset in range(0, size, MiB):
            f.write(os.urandom(min(MiB, size - offset)))


def run(size_mib: int, work_dir: Path) -> dict[str, object]:
    size = size_mib * MiB
    settings, demo_password = prepare(work_dir)
    source, dest = work_dir / "source.img", work_dir / "downloaded.img"
    write_random_file(source, size)
    with ExitStack() as stack:
        stack.enter_context(service("identity", settings, settings.auth_url))
        image_proc = stack.enter_context(
            service("image", settings, settings.url(settings.image_port))
        )
        session = Session(Credentials(settings.auth_url, "demo", demo_password, "demo"))
        stack.callback(session.close)
        images = ImageClient(session)

        # Warm up first (imports, pools, token cache), so the baseline is the steady state.
        warm = images.create_image(name="warm-up", disk_format="raw", container_format="bare")
        warm_file = work_dir / "warm.img"
        write_random_file(warm_file, MiB)
        images.upload(warm["id"], warm_file)
        images.download(warm["id"], work_dir / "warm.out")

        image = images.create_image(name="bench", disk_format="raw", container_format="bare")
        upload = measure(image_proc.pid, size, lambda: images.upload(image["id"], source))
        transfers = []
        download = measure(
            image_proc.pid, size, lambda: transfers.append(images.download(image["id"], dest))
        )
        record = images.get_image(image["id"])
        if not transfers[0].matches(record):
            raise RuntimeError("the downloaded data does not match the image record")
    return {
        "benchmark": "image-transfer",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "size_bytes": size,
        "size_mib": size_mib,
        "upload": asdict(upload),
        "download": asdict(download),
        "host": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
        },
        "database": "sqlite",
    }


def flat(result: dict[str, object]) -> bool:
    limit = int(str(result["size_mib"])) * MAX_GROWTH_SHARE
    return all(
        float(result[leg]["peak_growth_mib"]) <= limit  # type: ignore[index]
        for leg in ("upload", "download")
    )


def print_table(result: dict[str, object]) -> None:
    print(f"image transfer, {result['size_mib']} MiB, image service RSS (MiB)")
    print(f"{'':10}{'seconds':>9}{'MiB/s':>9}{'baseline':>10}{'peak':>8}{'growth':>8}")
    for leg in ("upload", "download"):
        m = result[leg]
        assert isinstance(m, dict)
        print(
            f"{leg:10}{m['seconds']:>9.2f}{m['mib_per_s']:>9.1f}{m['baseline_rss_mib']:>10.1f}"
            f"{m['peak_rss_mib']:>8.1f}{m['peak_growth_mib']:>8.1f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=200, help="image size (default 200)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bootflow-bench-") as tmp:
        result = run(args.size_mib, Path(tmp))
    result["flat"] = flat(result)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    out = args.results_dir / f"image-transfer-{datetime.now(UTC):%Y-%m-%d}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)
    verdict = "flat" if result["flat"] else "NOT flat"
    print(f"memory {verdict}: growth limit {args.size_mib * MAX_GROWTH_SHARE:.0f} MiB; wrote {out}")
    return 0 if result["flat"] else 1


if __name__ == "__main__":
    sys.exit(main())
