"""`bootflow up` and `bootflow down` as a user runs them: detached, foreground with Ctrl-C,
and one stack per data dir.

Every other end-to-end test starts its stack through ``bootflow.stack.Stack``; these go
through the command itself, so what the README tells a user to type is what is tested.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from tests.support.stack import BOOTFLOW, stack_settings, wait_until

pytestmark = pytest.mark.e2e

PORT_SETTINGS = (
    "temporal_ui_port",
    "codec_server_port",
    "identity_port",
    "image_port",
    "network_port",
    "volume_port",
    "compute_port",
)


def cli_env(data_dir: Path) -> dict[str, str]:
    """The environment of a user with a data dir of their own, on free ports."""
    settings = stack_settings(data_dir, "")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "BOOTFLOW_"))}
    env |= {f"BOOTFLOW_{name.upper()}": str(getattr(settings, name)) for name in PORT_SETTINGS}
    env |= {
        "BOOTFLOW_DATA_DIR": str(data_dir),
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "BOOTFLOW_HEARTBEAT_SECONDS": "2",
    }
    return env


def bootflow(
    env: dict[str, str], *args: str, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BOOTFLOW, *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def as_demo(env: dict[str, str], data_dir: Path) -> dict[str, str]:
    """`source <data dir>/openrc`, as the README says."""
    out = subprocess.run(
        ["bash", "-c", f"source {data_dir / 'openrc'} && env"],
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
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_detached_stack_boots_and_down_stops_everything(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    identity_port = int(env["BOOTFLOW_IDENTITY_PORT"])

    up = bootflow(env, "up", "--hosts", "2", "--detach", "--hypervisor", "test")
    assert up.returncode == 0, up.stderr
    assert "bootflow is up" in up.stdout and "`bootflow down` stops it" in up.stdout
    assert (tmp_path / "openrc").exists()
    supervisor = int((tmp_path / "run" / "ready").read_text())

    again = bootflow(env, "up", "--detach", "--hypervisor", "test")
    assert again.returncode == 0
    assert f"already running on {tmp_path} (pid {supervisor})" in again.stdout
    # A foreground `up` on the same data dir refuses, naming the running one.
    clash = bootflow(env, "up", "--hypervisor", "test", timeout=60)
    assert clash.returncode != 0
    assert f"already running on {tmp_path}" in clash.stderr

    user = as_demo(env, tmp_path)
    created = bootflow(
        user, "server", "create", "vm1", "--flavor", "m1.tiny", "--image", "cirros",
        "--network", "private", "--wait",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    shown = bootflow(user, "server", "show", "vm1", "-c", "status", "-f", "value")
    assert shown.stdout.strip() == "ACTIVE"

    down = bootflow(env, "down")
    assert down.returncode == 0, down.stderr
    assert down.stdout.strip() == f"stopped the stack (pid {supervisor})"
    assert not alive(supervisor)
    assert not listening(identity_port)
    assert not listening(int(env["TEMPORAL_ADDRESS"].rsplit(":", 1)[1]))
    assert bootflow(env, "down").stdout.strip() == f"no stack is running on {tmp_path}"


def test_foreground_stack_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    identity_port = int(env["BOOTFLOW_IDENTITY_PORT"])
    proc = subprocess.Popen(
        [BOOTFLOW, "up", "--hosts", "1", "--hypervisor", "test"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        wait_until(lambda: (tmp_path / "run" / "ready").exists(), timeout=180)
        assert listening(identity_port)
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends the foreground process
        out, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "bootflow is up" in out
    assert not listening(identity_port)
    assert not (tmp_path / "run" / "ready").exists()
    # Nothing it started is left: the next `up` on the same dir starts cleanly.
    assert bootflow(env, "down").stdout.strip() == f"no stack is running on {tmp_path}"
