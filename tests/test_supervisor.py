"""The supervisor's parts on real processes, without a whole stack: children that die with
their parent, a crashing child restarted for good with a growing delay, and ``bootflow
down``/``status`` on processes left running on a data dir without their supervisor."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from bootflow import lifetime
from bootflow.stack import Child, Stack, read_status
from core.config import Settings
from tests.support.net import free_port
from tests.support.stack import bootflow, wait_until

# A parent that starts two children through bootflow.lifetime, each from a thread that ends
# at once (the parent-death signal follows the forking thread), the second as `postgres`
# when run as root (a change of user clears that signal), prints their pids and waits.
PARENT = """
import os, threading, time
from bootflow import lifetime

pids = []
def start(**user):
    pids.append(lifetime.spawn(["sleep", "600"], **user).pid)
for user in ({}, {"user": "postgres"} if os.geteuid() == 0 else {}):
    thread = threading.Thread(target=start, kwargs=user)
    thread.start()
    thread.join()
print(*pids, flush=True)
time.sleep(600)
"""


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_children_die_with_their_parent_even_when_it_is_sigkilled() -> None:
    parent = lifetime.spawn([sys.executable, "-c", PARENT], stdout=subprocess.PIPE)
    try:
        assert parent.stdout is not None
        children = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(children) == 2 and all(running(pid) for pid in children)
        if os.geteuid() == 0:
            assert psutil.Process(children[1]).username() == "postgres"
    finally:
        parent.kill()
        parent.wait()
    wait_until(lambda: not any(running(pid) for pid in children), timeout=30)


def test_a_child_that_keeps_crashing_is_restarted_for_good_with_growing_delay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in (("BACKOFF", "0.05"), ("BACKOFF_MAX", "0.4"), ("STABLE", "600")):
        monkeypatch.setenv(f"BOOTFLOW_SUPERVISOR_{name}_SECONDS", value)
    stack = Stack(Settings(data_dir=tmp_path), hosts=1)
    crasher = Child("crasher", [sys.executable, "-c", "raise SystemExit(3)"], lambda: True)
    delays = []
    try:
        stack._spawn(crasher)
        while crasher.restarts < 9:
            before = crasher.restarts
            stack.supervise_once()
            if crasher.restarts > before:
                delays.append(crasher.delay)
            time.sleep(0.01)
    finally:
        stack.stop()
    # At once, then doubling up to the cap, and still going after the ninth death.
    assert delays == [0.0, 0.05, 0.1, 0.2, 0.4, 0.4, 0.4, 0.4, 0.4]
    assert crasher.last_exit == "status 3" and crasher.last_exit_at is not None


def test_status_shows_restarts_and_last_exit(tmp_path: Path) -> None:
    stack = Stack(Settings(data_dir=tmp_path), hosts=1)
    sleeper = Child("sleeper", ["sleep", "600"], lambda: True)
    try:
        stack._spawn(sleeper)
        assert sleeper.proc is not None
        first = sleeper.proc.pid
        sleeper.proc.send_signal(signal.SIGTERM)
        sleeper.proc.wait()
        stack.supervise_once()
        [state] = read_status(stack.settings)
        assert state.name == "sleeper" and state.state == "running"
        assert state.pid == sleeper.proc.pid != first
        assert state.restarts == 1 and state.last_exit == "signal SIGTERM"
        os.kill(state.pid, signal.SIGKILL)
        wait_until(lambda: read_status(stack.settings)[0].state == "exited", timeout=30)
    finally:
        stack.stop()


def test_down_stops_what_runs_on_the_data_dir_without_a_supervisor(tmp_path: Path) -> None:
    """A process a stack started, whose supervisor is gone, is found and stopped; a process
    that merely names the data dir (a user's shell) is left alone."""
    settings = Settings(data_dir=tmp_path, codec_server_port=free_port())
    stack = Stack(settings, hosts=1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOTFLOW_")}
    env["BOOTFLOW_DATA_DIR"] = str(tmp_path)
    shell = lifetime.spawn(["sleep", "600"], env=env)
    codec = stack._codec_server()
    try:
        stack._spawn(codec)
        wait_until(codec.ready, timeout=60)
        assert codec.proc is not None
        shown = bootflow(env, "status")
        assert shown.returncode == 1
        assert f"its processes are: codec (pid {codec.proc.pid})" in shown.stderr
        down = bootflow(env, "down")
        assert down.returncode == 0, down.stderr
        assert down.stdout.strip() == (
            f"stopped what ran on {tmp_path} without its supervisor: codec (pid {codec.proc.pid})"
        )
        assert codec.proc.wait(timeout=30) is not None
        assert shell.poll() is None
        assert bootflow(env, "down").stdout.strip() == f"no stack is running on {tmp_path}"
    finally:
        stack.stop()
        shell.kill()
        shell.wait()
