"""``bootflow host list|disable|enable|drain``: compute hosts, for the operator.

They call the compute API as an admin: with the OS_* credentials given (an admin's), else,
on the control node, as the data dir's ``admin`` user (secrets.json).
"""

from __future__ import annotations

import json
from typing import Any

import click

from bootflow import hosts, seed
from bootflow.cli.context import CliContext, CliError, pass_context
from bootflow.cli.options import seconds_option
from bootflow.cli.output import format_options, listing
from clients.compute import ComputeClient
from core import task_queues
from core.config import SECRETS_FILE

COLUMNS = (
    "Host",
    "Zone",
    "State",
    "Status",
    "Reason",
    "VCPUs",
    "RAM MiB",
    "Disk GiB",
    "CPU ratio",
    "RAM ratio",
    "Disk ratio",
    "Servers",
    "In flight",
    "Pollers",
    "Backlog",
)


def _admin(obj: CliContext) -> ComputeClient:
    if obj.os_options.get("username"):
        return obj.compute
    secrets = obj.settings.data_dir / SECRETS_FILE
    if secrets.exists() and json.loads(secrets.read_text()).get("admin_password"):
        return ComputeClient(seed.admin_session(obj.settings))
    raise CliError(
        "host commands need an admin: set OS_AUTH_URL, OS_USERNAME, OS_PASSWORD and "
        "OS_PROJECT_NAME to an admin's credentials, or run them on the control node's data dir"
    )


def _row(state: hosts.HostState) -> dict[str, Any]:
    queue = state.queue
    return {
        "Host": state.host,
        "Zone": state.zone,
        "State": "up" if state.up else "down",
        "Status": "disabled" if state.disabled else "enabled",
        "Reason": state.disabled_reason or "",
        "VCPUs": state.vcpus,
        "RAM MiB": state.memory_mb,
        "Disk GiB": state.disk_gb,
        "CPU ratio": state.cpu_allocation_ratio,
        "RAM ratio": state.ram_allocation_ratio,
        "Disk ratio": state.disk_allocation_ratio,
        "Servers": state.servers,
        "In flight": state.in_flight,
        "Pollers": queue.pollers if queue else "?",
        "Backlog": queue.backlog if queue else "?",
    }


@click.group()
def host() -> None:
    """Compute hosts: list, disable, enable, drain (as an admin)."""


@host.command("list")
@format_options
@pass_context
def list_hosts(obj: CliContext, fmt: str, columns: tuple[str, ...]) -> None:
    """Every compute host: up/down (heartbeat), enabled/disabled, used/total vCPUs, RAM and
    disk with the allocation ratios the scheduler applies to them, its servers and
    how many have a task in flight, and its task queue's pollers and backlog ("?" when
    Temporal does not answer)."""
    states = hosts.with_queues(obj.settings, hosts.host_states(_admin(obj)))
    listing([_row(s) for s in states], COLUMNS, fmt, columns)


@host.command("disable")
@click.argument("name")
@click.option("--reason", default="disabled by the operator", show_default=True)
@pass_context
def disable(obj: CliContext, name: str, reason: str) -> None:
    """Stop scheduling new servers to host NAME (what runs there keeps running); as
    `openstack compute service set --disable`."""
    _admin(obj).set_service_enabled(name, False, reason)
    click.echo(f"{name} is disabled: the scheduler no longer chooses it")


@host.command("enable")
@click.argument("name")
@pass_context
def enable(obj: CliContext, name: str) -> None:
    """Schedule new servers to host NAME again."""
    _admin(obj).set_service_enabled(name, True)
    click.echo(f"{name} is enabled")


@host.command("drain")
@click.argument("name")
@seconds_option("--timeout", 900.0, "Seconds to wait for the host to become idle.")
@pass_context
def drain(obj: CliContext, name: str, timeout: float) -> None:
    """Disable host NAME, then wait until no instance on it has a task in flight and its
    task queue is empty; then its compute worker can be stopped."""

    def report(state: hosts.HostState) -> None:
        backlog = state.queue.backlog if state.queue else "?"
        click.echo(f"{name}: {state.in_flight} in flight, {backlog} queued", err=True)

    try:
        hosts.drain(obj.settings, _admin(obj), name, timeout, report)
    except TimeoutError as exc:
        raise CliError(str(exc)) from exc
    click.echo(
        f"{name} is drained: stop its compute worker (task queue {task_queues.compute(name)}); "
        f"`bootflow host enable {name}` after it is back"
    )
