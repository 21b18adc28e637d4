"""Live progress of a boot for ``server create --wait``.

The source is the boot workflow's ``progress`` query when this machine can reach Temporal
(the embedded stack, or TEMPORAL_ADDRESS and the payload key set); otherwise the server's
task_state from the compute API. Both follow the same stage table (core.states).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text
from temporalio.client import Client

from clients.compute import ComputeClient
from core.config import TemporalOptions
from core.messages import BootProgress
from core.temporal import connect
from core.workflow_ids import boot_workflow_id


@dataclass
class Snapshot:
    stage: str
    done: list[tuple[str, float]] = field(default_factory=list)
    building: bool = True


class ProgressSource:
    """Where the boot is, from the workflow if reachable, else from the record."""

    def __init__(self, settings: TemporalOptions, compute: ComputeClient, server_id: str) -> None:
        self.compute = compute
        self.server_id = server_id
        self._runner = asyncio.Runner()
        self._client: Client | None = None
        try:
            if settings.codec_key.get_secret_value():
                self._client = self._runner.run(asyncio.wait_for(connect(settings), 3))
        except (OSError, RuntimeError, TimeoutError):
            self._client = None

    def snapshot(self) -> Snapshot:
        if self._client is not None:
            try:
                return self._from_workflow(self._client)
            except Exception:
                self._client = None
        server = self.compute.get_server(self.server_id)
        return Snapshot(
            stage=server.get("OS-EXT-STS:task_state") or server["status"].lower(),
            building=server["status"] == "BUILD",
        )

    def _from_workflow(self, client: Client) -> Snapshot:
        handle = client.get_workflow_handle(boot_workflow_id(self.server_id))
        progress: BootProgress = self._runner.run(
            handle.query("progress", result_type=BootProgress)
        )
        return Snapshot(
            stage=progress.stage,
            done=[(d.stage, d.seconds) for d in progress.done],
            building=progress.vm_state == "building",
        )

    def close(self) -> None:
        self._runner.close()


def render(name: str, snap: Snapshot, elapsed: float) -> Group:
    lines: list[Any] = [
        Text(f"  ✓ {stage:<16} {seconds:6.2f}s", style="green") for stage, seconds in snap.done
    ]
    if snap.building:
        lines.append(Spinner("dots", text=f"{snap.stage:<16} {elapsed:6.1f}s total"))
    return Group(Text(f"Booting {name}", style="bold"), *lines)


def watch(source: ProgressSource, name: str, timeout: float, poll: float = 0.3) -> bool:
    """Show progress until the boot settles; False if ``timeout`` ran out first."""
    console = Console(stderr=True)
    start = time.monotonic()
    snap = source.snapshot()
    if console.is_terminal:
        with Live(render(name, snap, 0.0), console=console, refresh_per_second=8) as live:
            while snap.building and time.monotonic() - start < timeout:
                time.sleep(poll)
                snap = source.snapshot()
                live.update(render(name, snap, time.monotonic() - start))
    else:
        seen = ""
        while True:
            if snap.stage != seen:
                console.print(
                    f"{time.monotonic() - start:5.1f}s  {name}: {snap.stage}", highlight=False
                )
                seen = snap.stage
            if not snap.building or time.monotonic() - start >= timeout:
                break
            time.sleep(poll)
            snap = source.snapshot()
    return not snap.building
