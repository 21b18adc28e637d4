"""`bootflow up`, `down` and `status` as a user runs them: detached, foreground with Ctrl-C,
one stack per data dir, an owner-only data dir, and supervision: its processes die with the
supervisor, and one that keeps dying is restarted for good, with a growing delay.

Every other end-to-end test starts its stack through ``bootflow.stack.Stack``; these go
through the command itself, so what the README tells a user to type is what is tested.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
from pathlib import Path
from typing import Any

import psutil
import pytest

from bootflow import lifetime
from tests.support.stack import (
    BOOTFLOW,
    bootflow,
    cli_env,
    down_afterwards,
    env_ports,
    wait_until,
)

pytestmark = pytest.mark.e2e


def as_demo(env: dict[str, str], data_dir: Path, openrc: Path | None = None) -> dict[str, str]:
    """`source <data dir>/openrc`, as the README says (or another user's openrc)."""
    out = subprocess.run(
        ["bash", "-c", f"source {openrc or data_dir / 'openrc'} && env"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    openrc = dict(line.split("=", 1) for line in out.splitlines() if line.startswith("OS_"))
    return env | openrc


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def alive(pid: int) -> bool:
    """Running (a zombie has exited: whoever adopted it may not have reaped it yet)."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat_line.rsplit(")", 1)[1].split()[0] != "Z"


def status(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """`bootflow status -f json`, by process name."""
    shown = bootflow(env, "status", "-f", "json")
    assert shown.returncode == 0, shown.stderr
    return {row["Process"]: row for row in json.loads(shown.stdout)}


def private_mode_breaches(data_dir: Path) -> list[str]:
    """Everything under ``data_dir`` (itself included) that its group or others may use."""
    breaches = []
    for path in [data_dir, *data_dir.rglob("*")]:
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode) and mode & 0o077:
            breaches.append(f"{path.relative_to(data_dir.parent)} {stat.filemode(mode)}")
    return breaches


def test_detached_stack_boots_and_down_stops_everything(tmp_path: Path) -> None:
    """Also: the data dir and everything in it are owner-only, a data dir from before that
    rule (0755, a 0644 file) included."""
    data_dir = tmp_path / "data"
    (data_dir / "logs").mkdir(parents=True)
    (data_dir / "logs" / "old.log").write_text("from an earlier bootflow\n")
    for path, mode in ((data_dir, 0o755), (data_dir / "logs", 0o755)):
        path.chmod(mode)
    (data_dir / "logs" / "old.log").chmod(0o644)
    env = cli_env(data_dir)

    with down_afterwards(env):
        up = bootflow(env, "up", "--hosts", "2", "--detach", "--hypervisor", "test")
        assert up.returncode == 0, up.stderr
        assert "bootflow is up" in up.stdout and "`bootflow down` stops it" in up.stdout
        assert (data_dir / "openrc").exists()
        supervisor = int((data_dir / "run" / "ready").read_text())

        user = as_demo(env, data_dir)
        created = bootflow(
            user, "server", "create", "vm1", "--flavor", "m1.tiny", "--image", "cirros",
            "--network", "private", "--wait", "-f", "json",
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        shown = bootflow(user, "server", "show", "vm1", "-c", "status", "-f", "value")
        assert shown.stdout.strip() == "ACTIVE"

        # The admin's openrc, as devstack's accrc/<project>/<user>: the admin finds the demo
        # project's server by ID, or by name in every project, and sees its host.
        admin = as_demo(env, data_dir, data_dir / "accrc" / "admin" / "admin")
        assert admin["OS_USERNAME"] == "admin" and admin["OS_PROJECT_NAME"] == "admin"
        server_id = json.loads(created.stdout)["id"]
        for ref in (server_id, "vm1 --all-projects"):
            seen = bootflow(admin, "server", "show", *ref.split(), "-f", "json")
            assert seen.returncode == 0, seen.stderr
            assert json.loads(seen.stdout)["OS-EXT-SRV-ATTR:host"] in ("node1", "node2")
        hidden = bootflow(admin, "server", "show", "vm1")
        assert "No server with a name or ID of 'vm1'" in hidden.stderr
        for name in ("openrc", "accrc/demo/demo", "accrc/admin/admin"):
            assert stat.S_IMODE((data_dir / name).stat().st_mode) == 0o600, name
        logged = "".join(p.read_text() for p in (data_dir / "logs").glob("*.log"))
        assert admin["OS_PASSWORD"] not in logged and admin["OS_PASSWORD"] not in up.stdout

        # The password hashes, Temporal's state, logs, secrets and the instance's disk exist,
        # and nothing in the data dir is readable by anyone but its owner.
        instance_dirs = list((data_dir / "hosts").glob(f"*/instances/{server_id}"))
        assert len(instance_dirs) == 1
        for name in ("bootflow.db", "temporal.db", "logs/identity.log", "secrets.json", "openrc"):
            assert (data_dir / name).is_file(), name
        assert (instance_dirs[0] / "disk").is_file()
        assert private_mode_breaches(data_dir) == []

        again = bootflow(env, "up", "--detach", "--hypervisor", "test")
        assert again.returncode == 0, again.stderr
        assert f"already running on {data_dir} (pid {supervisor}), all 10" in again.stdout
        # A foreground `up` on the same data dir refuses, naming the running one.
        clash = bootflow(env, "up", "--hypervisor", "test", timeout=60)
        assert clash.returncode != 0
        assert f"already running on {data_dir}" in clash.stderr

        # --data-dir where users type it, after the command (the test driver's guests end
        # with the stack: nothing to say of them).
        down = bootflow(env, "down", "--data-dir", str(data_dir))
        assert down.returncode == 0, down.stderr
        assert down.stdout.strip() == f"stopped the stack (pid {supervisor})"
        assert not alive(supervisor)
        assert not any(listening(port) for port in env_ports(env))
        assert bootflow(env, "down").stdout.strip() == f"no stack is running on {data_dir}"
        assert bootflow(env, "status").stdout.strip() == f"no stack is running on {data_dir}"


def test_foreground_stack_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    identity_port = int(env["BOOTFLOW_IDENTITY_PORT"])
    proc = lifetime.spawn(
        [BOOTFLOW, "up", "--hosts", "1", "--hypervisor", "test"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        wait_until(lambda: (tmp_path / "run" / "ready").exists(), timeout=180)
        assert listening(identity_port)
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends the foreground process
        out = proc.communicate(timeout=90)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "bootflow is up" in out
    assert not listening(identity_port)
    assert not (tmp_path / "run" / "ready").exists()
    # Nothing it started is left: the next `up` on the same dir starts cleanly.
    assert bootflow(env, "down").stdout.strip() == f"no stack is running on {tmp_path}"


def test_killed_supervisor_takes_its_processes_with_it(tmp_path: Path) -> None:
    """SIGKILL the supervisor alone: every process it started ends with it, `down` says
    nothing runs, and the next `up` starts cleanly on the same ports."""
    env = cli_env(tmp_path)
    with down_afterwards(env):
        up = bootflow(env, "up", "--hosts", "1", "--detach", "--hypervisor", "test")
        assert up.returncode == 0, up.stderr
        supervisor = psutil.Process(int((tmp_path / "run" / "ready").read_text()))
        children = supervisor.children()
        assert len(children) == 9  # Temporal, the codec server, 5 services, 2 workers
        assert listening(int(env["BOOTFLOW_IDENTITY_PORT"]))

        supervisor.kill()
        wait_until(lambda: not any(alive(c.pid) for c in children), timeout=60)
        wait_until(lambda: not any(listening(port) for port in env_ports(env)), timeout=60)
        down = bootflow(env, "down")
        assert down.returncode == 0, down.stderr
        assert down.stdout.strip() == f"no stack is running on {tmp_path}"

        again = bootflow(env, "up", "--hosts", "1", "--detach", "--hypervisor", "test")
        assert again.returncode == 0, again.stderr
        assert all(row["State"] == "running" for row in status(env).values())


def test_a_process_that_keeps_dying_is_restarted_for_good(tmp_path: Path) -> None:
    """A child killed over and over is restarted every time, at once and then after a delay
    that doubles; `status` shows its restarts and last exit, and `up` does not claim the
    stack is running while it waits."""
    env = cli_env(tmp_path) | {
        "BOOTFLOW_SUPERVISOR_BACKOFF_SECONDS": "0.25",
        "BOOTFLOW_SUPERVISOR_STABLE_SECONDS": "600",
    }
    port = int(env["BOOTFLOW_NETWORK_PORT"])

    def network(restarts: int) -> dict[str, Any] | None:
        row = status(env)["network"]
        return row if row["Restarts"] == restarts and row["State"] == "running" else None

    with down_afterwards(env):
        up = bootflow(env, "up", "--hosts", "1", "--detach", "--hypervisor", "test")
        assert up.returncode == 0, up.stderr
        delays = []
        # The supervisor before this one gave up for good after the sixth death in a minute.
        for deaths in range(7):
            row = wait_until(lambda d=deaths: network(d), timeout=60)
            os.kill(row["PID"], signal.SIGKILL)
            row = wait_until(lambda d=deaths: network(d + 1), timeout=60)
            assert row["Last exit"] == "signal SIGKILL" and row["Exited at"]
            delays.append(row["Restart delay"])
        assert delays == ["0s", "0.25s", "0.5s", "1s", "2s", "4s", "8s"]

        # The eighth death waits 16 s: meanwhile neither `status` nor `up` says it runs.
        os.kill(row["PID"], signal.SIGKILL)
        waiting = wait_until(
            lambda: (r := status(env)["network"])["State"].startswith("restarting") and r
        )
        assert waiting["PID"] == "" and waiting["Restart delay"] == "16s"
        again = bootflow(env, "up", "--detach", "--hypervisor", "test")
        assert again.returncode == 1
        assert "network restarting (last exit: signal SIGKILL, 7 restarts)" in again.stderr
        wait_until(lambda: network(8), timeout=120)
        wait_until(lambda: listening(port), timeout=60)
