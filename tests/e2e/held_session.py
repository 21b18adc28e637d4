"""The inner session of test_stopped_suite.py (run by path: not a test_*.py, so the suite
does not collect it): it holds the end-to-end ``stack`` fixture on the session's PostgreSQL
cluster and a detached ``bootflow up``, writes the ports they listen on to the file
$BOOTFLOW_TEST_HOLD_FILE names, and waits to be stopped."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from sqlalchemy.engine import make_url

from bootflow.stack import SERVICES, temporal_port
from tests.support.stack import RunningStack, bootflow, cli_env, down_afterwards, env_ports

HOLD_FILE = "BOOTFLOW_TEST_HOLD_FILE"


def test_hold(stack: RunningStack, postgres_admin_url: str, tmp_path: Path) -> None:
    env = cli_env(tmp_path / "detached")
    with down_afterwards(env):
        up = bootflow(env, "up", "--hosts", "1", "--detach", "--hypervisor", "test")
        assert up.returncode == 0, up.stderr
        s = stack.settings
        ports = [
            temporal_port(s),
            s.temporal_ui_port,
            s.codec_server_port,
            *(getattr(s, f"{name}_port") for name in SERVICES),
            make_url(postgres_admin_url).port,
            *env_ports(env),
        ]
        hold = Path(os.environ[HOLD_FILE])
        hold.with_suffix(".part").write_text(json.dumps({"ports": ports}))
        hold.with_suffix(".part").rename(hold)  # whole, or not there
        time.sleep(900)
