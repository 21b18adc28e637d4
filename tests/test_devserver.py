"""The suite's bare dev server is handed to a test only once its frontend answers: a client
connecting as soon as the port took TCP got "Frontend is not healthy yet" (a CI failure)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client

from tests.support.devserver import dev_server, wait_for_frontend


def test_a_port_that_only_accepts_tcp_is_not_a_started_server(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        with pytest.raises(RuntimeError, match="did not start"):
            wait_for_frontend(port, lambda: True, tmp_path / "server.log", timeout=2)


def test_a_dead_server_is_reported_without_waiting_out_the_timeout(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
    with pytest.raises(RuntimeError, match="did not start"):
        wait_for_frontend(port, lambda: False, tmp_path / "server.log", timeout=3600)


async def test_a_client_connects_the_moment_the_server_is_handed_over(tmp_path: Path) -> None:
    with dev_server(tmp_path / "server.log") as port:
        client = await Client.connect(f"127.0.0.1:{port}")
        info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
        assert info.server_version
