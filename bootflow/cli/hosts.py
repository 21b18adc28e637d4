"""``bootflow host list|disable|enable|drain``: compute hosts, for the operator."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from bootflow import hosts, task_queues
from bootflow.cli.context import CliContext, CliError, pass_context
from bootflow.cli.output import format_options, listing
from db.session import SessionFactory, make_engine, make_session_factory

COLUMNS = (
    "Host",
    "Zone",
    "State",
    "Status",
    "Reason",
    "VCPUs",
    "RAM MiB",
    "Instances",
    "In flight",
    "Pollers",
    "Backlog",
    "Heartbeat",
)


@contextmanager
def _sessions(obj: CliContext) -> Iterator[SessionFactory]:
    engine = make_engine(obj.settings.db_url, pool_size=1)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


def _row(state: hosts.HostState) -> dict[str, Any]:
    queue = state.queue
    return {
        "Host": state.host,
        "Zone": state.zone,
        "State": "up" if state.up else "down",
        "Status": "disabled" if state.disabled else "enabled",
        "Reason": state.disabled_reason or "",
        "VCPUs": f"{state.vcpus_used}/{state.vcpus}",
        "RAM MiB": f"{state.memory_mb_used}/{state.memory_mb}",
        "Instances": state.instances,
        "In flight": state.in_flight,
        "Pollers": queue.pollers if queue else "?",
        "Backlog": queue.backlog if queue else "?",
        "Heartbeat": state.heartbeat_at.isoformat(timespec="seconds"),
    }


@click.group()
def host() -> None:
    """Compute hosts: list, disable, enable, drain (on the control node's database)."""


@host.command("list")
@format_options
@pass_context
def list_hosts(obj: CliContext, fmt: str, columns: tuple[str, ...]) -> None:
    """Every compute host: up/down (heartbeat), enabled/disabled, usage, instances and what
    is in flight on it, and its task queue's pollers and backlog ("?" when Temporal does
    not answer)."""
    with _sessions(obj) as sessions:
        states = hosts.with_queues(obj.settings, hosts.host_states(obj.settings, sessions))
    listing([_row(s) for s in states], COLUMNS, fmt, columns)


@host.command("disable")
@click.argument("name")
@click.option("--reason", default="disabled by the operator", show_default=True)
@pass_context
def disable(obj: CliContext, name: str, reason: str) -> None:
    """Stop scheduling new servers to host NAME (what runs there keeps running)."""
    with _sessions(obj) as sessions:
        hosts.set_disabled(sessions, name, True, reason)
    click.echo(f"{name} is disabled: the scheduler no longer chooses it")


@host.command("enable")
@click.argument("name")
@pass_context
def enable(obj: CliContext, name: str) -> None:
    """Schedule new servers to host NAME again."""
    with _sessions(obj) as sessions:
        hosts.set_disabled(sessions, name, False)
    click.echo(f"{name} is enabled")


@host.command("drain")
@click.argument("name")
@click.option(
    "--timeout",
    type=click.FloatRange(0),
    default=900.0,
    show_default=True,
    help="Seconds to wait for the host to become idle.",
)
@pass_context
def drain(obj: CliContext, name: str, timeout: float) -> None:
    """Disable host NAME, then wait until no instance on it has a task in flight and its
    task queue is empty; then its compute worker can be stopped."""

    def report(state: hosts.HostState) -> None:
        backlog = state.queue.backlog if state.queue else "?"
        click.echo(f"{name}: {state.in_flight} in flight, {backlog} queued", err=True)

    with _sessions(obj) as sessions:
        try:
            hosts.drain(obj.settings, sessions, name, timeout, report)
        except TimeoutError as exc:
            raise CliError(str(exc)) from exc
    click.echo(
        f"{name} is drained: stop its compute worker (task queue {task_queues.compute(name)}); "
        f"`bootflow host enable {name}` after it is back"
    )
