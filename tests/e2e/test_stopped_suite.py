"""A test session stopped by SIGTERM or SIGKILL leaves nothing running: not the stacks its
fixtures started, not a detached `bootflow up`, not the throwaway PostgreSQL cluster.

It runs an inner session (held_session.py) with the real fixtures, stops it once they are
up, and checks every process it had started has ended and every port it held is free.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from bootflow import lifetime
from tests.e2e.held_session import HOLD_FILE
from tests.support.stack import wait_until

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
HELD = Path(__file__).with_name("held_session.py")


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_stopped_session_leaves_nothing_running(tmp_path: Path, signum: int) -> None:
    held = tmp_path / "held.json"
    log = tmp_path / "inner.log"
    argv = [
        sys.executable, "-m", "pytest", str(HELD), "-k", "postgresql", "-q",
        "-p", "no:cacheprovider", "--timeout", "1200", "--basetemp", str(tmp_path / "inner"),
    ]  # fmt: skip
    with open(log, "wb") as out:
        inner = lifetime.spawn(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env={**os.environ, HOLD_FILE: str(held)},
        )
    try:
        wait_until(lambda: held.exists() or inner.poll() is not None, timeout=600)
        assert held.exists(), log.read_text()
        ports = json.loads(held.read_text())["ports"]
        started = psutil.Process(inner.pid).children(recursive=True)
        assert all(listening(port) for port in ports)

        inner.send_signal(signum)
        # SIGTERM unwinds like Ctrl-C: pytest reports the session interrupted (exit 2).
        assert inner.wait(timeout=300) == (2 if signum == signal.SIGTERM else -signal.SIGKILL)
        wait_until(lambda: not any(running(p) for p in started), timeout=120)
        wait_until(lambda: not any(listening(port) for port in ports), timeout=120)
    finally:
        if inner.poll() is None:
            inner.kill()
            inner.wait()
