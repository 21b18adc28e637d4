"""``bootflow up``/``down``/``status``, ``db upgrade``, and ``run`` (the processes ``up``
starts)."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import IO, Any

import click

from bootflow import guests
from bootflow import stack as stacks
from bootflow.cli.context import CliContext, CliError, pass_context
from bootflow.cli.output import format_options, listing
from core.config import PathOptions

STATUS_COLUMNS = (
    "Process",
    "PID",
    "State",
    "Started",
    "Restarts",
    "Restart delay",
    "Last exit",
    "Exited at",
)


@click.command()
@click.option(
    "--hosts",
    type=click.IntRange(1, stacks.MAX_FAKE_HOSTS),
    default=1,
    show_default=True,
    help=f"Compute hosts to start (node1..nodeN), each its own worker; at most "
    f"{stacks.MAX_HOSTS}, or {stacks.MAX_FAKE_HOSTS} with --hypervisor fake.",
)
@click.option("--detach", is_flag=True, help="Run in the background; `bootflow down` stops it.")
@click.option(
    "--hypervisor",
    type=click.Choice(sorted(stacks.HYPERVISORS)),
    help="qemu: real guests under libvirtd (qemu:///system); test: libvirt's test driver; "
    "fake: the test driver's, many hosts a worker process (simulating a large cloud). "
    "Default: the data dir's earlier choice, else qemu when libvirtd answers.",
)
@click.option("--libvirt-uri", help="Any libvirt URI for the hosts (overrides --hypervisor).")
@click.option(
    "--hosts-per-process",
    type=click.IntRange(1),
    help="With --hypervisor fake: hosts one worker process serves [default: the "
    "hosts_per_process setting, 250].",
)
@pass_context
def up(
    obj: CliContext,
    hosts: int,
    detach: bool,
    hypervisor: str | None,
    libvirt_uri: str | None,
    hosts_per_process: int | None,
) -> None:
    """Start the embedded stack: Temporal, the services and the workers."""
    fake = hypervisor == "fake" and not libvirt_uri
    if not fake and hosts > stacks.MAX_HOSTS:
        raise CliError(
            f"--hosts {hosts}: at most {stacks.MAX_HOSTS} hosts, one process each; "
            "--hypervisor fake simulates more"
        )
    if hosts_per_process is not None and not fake:
        raise CliError("--hosts-per-process is for --hypervisor fake only")
    per_process = (hosts_per_process or obj.settings.hosts_per_process) if fake else None
    try:
        settings = stacks.choose_hypervisor(obj.settings, hypervisor, libvirt_uri)
    except stacks.StackError as exc:
        raise CliError(str(exc)) from exc
    if detach:
        pid = stacks.running_pid(settings)
        if pid is not None:
            _already_running(settings, pid)
            return
        pid, log_text = stacks.run_detached(settings, hosts, per_process)
        summary = (
            log_text[log_text.rfind("bootflow is up") :] if "bootflow is up" in log_text else ""
        )
        click.echo(summary.rstrip() or "bootflow is up")
        click.echo(
            f"  supervisor    pid {pid}; logs in {settings.logs_dir}; `bootflow down` stops it"
        )
        return
    try:
        stacks.run_foreground(
            settings,
            hosts,
            on_ready=lambda text: click.echo(text, nl=True),
            hosts_per_process=per_process,
        )
    except stacks.StackError as exc:
        raise CliError(str(exc)) from exc


def _already_running(settings: PathOptions, pid: int) -> None:
    """Say so, and fail naming each process of it that is not running."""
    states = stacks.read_status(settings)
    down = [s for s in states if s.state != "running"]
    if not down:
        click.echo(
            f"bootflow is already running on {settings.data_dir} (pid {pid}), "
            f"all {len(states)} processes of it running"
        )
        return
    raise CliError(
        f"bootflow is already running on {settings.data_dir} (pid {pid}), but not all of it: "
        + "; ".join(_not_running(s) for s in down)
        + f". `bootflow status` shows it; logs in {settings.logs_dir}"
    )


def _not_running(state: stacks.ProcessState) -> str:
    text = f"{state.name} {state.state}"
    if state.last_exit:
        text += f" (last exit: {state.last_exit}, {state.restarts} restarts)"
    return text


@click.command()
@click.option(
    "--destroy-guests",
    is_flag=True,
    help="Also stop the real guests (QEMU) the stack's hosts run under libvirtd; their "
    "servers stay, and the next `bootflow up` starts them again. Asked when interactive.",
)
@pass_context
def down(obj: CliContext, destroy_guests: bool) -> None:
    """Stop the stack running on this data dir, and anything it left running there. Real
    guests outlive it: it says which, and stops them with --destroy-guests."""
    _stop_stack(obj)
    _left_guests(obj, destroy_guests)


def _left_guests(obj: CliContext, destroy: bool) -> None:
    settings = obj.settings
    left = guests.running_guests(settings)
    if not left:
        return
    named = ", ".join(g.label for g in left)
    count = f"{len(left)} guest{'s' if len(left) > 1 else ''}"
    if not destroy and _interactive():
        destroy = click.confirm(
            f"{count} of this stack still running under {settings.libvirt_uri}: {named}. "
            "Stop them?",
            default=False,
        )
    if destroy:
        stopped = guests.stop_guests(settings, left)
        click.echo(
            f"stopped {len(stopped)} of {count}: {named} (their servers stay; "
            "`bootflow up` starts them again)"
        )
        return
    click.echo(
        f"{count} of this stack still running under {settings.libvirt_uri}: {named}; "
        "`bootflow down --destroy-guests` stops them"
    )


def _interactive() -> bool:
    """Whether a user is there to answer a prompt."""
    return sys.stdin.isatty()


def _stop_stack(obj: CliContext) -> None:
    pid, left = stacks.stop_running(obj.settings)
    if pid is not None:
        click.echo(f"stopped the stack (pid {pid})")
    if left:
        click.echo(
            f"stopped what ran on {obj.settings.data_dir} without its supervisor: "
            + stacks.describe(left)
        )
    if pid is None and not left:
        click.echo(f"no stack is running on {obj.settings.data_dir}")


def _time(stamp: float | None) -> str:
    return "" if stamp is None else datetime.fromtimestamp(stamp).isoformat(timespec="seconds")


def _status_row(state: stacks.ProcessState) -> dict[str, Any]:
    shown = state.state
    if state.state == "restarting" and state.restart_at is not None:
        shown = f"restarting at {_time(state.restart_at)}"
    return {
        "Process": state.name,
        "PID": state.pid or "",
        "State": shown,
        "Started": _time(state.started_at),
        "Restarts": state.restarts,
        "Restart delay": f"{state.delay:g}s",
        "Last exit": state.last_exit or "",
        "Exited at": _time(state.last_exit_at),
    }


@click.command()
@format_options
@pass_context
def status(obj: CliContext, fmt: str, columns: tuple[str, ...]) -> None:
    """Each process of the stack on this data dir: pid, state, restarts, last exit."""
    settings = obj.settings
    pid = stacks.running_pid(settings)
    if pid is None:
        left = stacks.stack_processes(settings)
        if left:
            raise CliError(
                f"no stack is running on {settings.data_dir}, but its processes are: "
                f"{stacks.describe(left)}; `bootflow down` stops them"
            )
        click.echo(f"no stack is running on {settings.data_dir}")
        return
    starting = not stacks.ready_path(settings).exists()
    supervisor = {
        "Process": "supervisor",
        "PID": pid,
        "State": "starting" if starting else "running",
        "Started": _time(stacks.started_at(pid)),
        "Restarts": 0,
        "Restart delay": "",
        "Last exit": "",
        "Exited at": "",
    }
    rows = [supervisor, *(_status_row(s) for s in stacks.read_status(settings))]
    listing(rows, STATUS_COLUMNS, fmt, columns)


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@pass_context
def db_upgrade(obj: CliContext) -> None:
    """Migrate the database to the latest schema (Alembic)."""
    from db.migrate import current, upgrade

    upgrade(obj.settings.db_url)
    click.echo(f"database at revision {current(obj.settings.db_url)}")


@click.group(hidden=True)
def run() -> None:
    """Run one part of the stack in the foreground (bootflow up does this)."""


@run.command("service")
@click.argument("name", type=click.Choice(stacks.SERVICES))
@pass_context
def run_service(obj: CliContext, name: str) -> None:
    from services.runner import serve

    serve(name, obj.settings)


@run.command("codec-server")
@pass_context
def run_codec_server(obj: CliContext) -> None:
    from bootflow.codec_server import serve

    serve(obj.settings)


@run.command("control-worker")
@pass_context
def run_control(obj: CliContext) -> None:
    from workers import control

    control.run(obj.settings)


@run.command("compute-worker")
@click.option(
    "--host",
    "hosts",
    multiple=True,
    help="A compute host's name (its task queue); repeat it for a fleet of simulated hosts.",
)
@click.option(
    "--hosts-file",
    type=click.File(),
    help="A fleet's host names, one a line (`bootflow up --hypervisor fake` writes them).",
)
@pass_context
def run_compute(obj: CliContext, hosts: tuple[str, ...], hosts_file: IO[str] | None) -> None:
    from workers import compute

    names = list(hosts)
    if hosts_file is not None:
        names += [line.strip() for line in hosts_file if line.strip()]
    if not names:
        raise click.UsageError("name the host(s): --host NAME or --hosts-file FILE")
    if len(set(names)) != len(names):
        raise click.UsageError("a host is named twice")
    compute.run(obj.settings, names)
