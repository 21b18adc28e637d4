"""``bootflow up``/``down``, ``db upgrade``, and ``run`` (the processes ``up`` starts)."""

from __future__ import annotations

import click

from bootflow import stack as stacks
from bootflow.cli.context import CliContext, CliError, pass_context


@click.command()
@click.option(
    "--hosts",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Compute hosts to start (node1..nodeN), each its own worker.",
)
@click.option("--detach", is_flag=True, help="Run in the background; `bootflow down` stops it.")
@click.option(
    "--hypervisor",
    type=click.Choice(sorted(stacks.HYPERVISORS)),
    help="qemu: real guests under libvirtd (qemu:///system); test: libvirt's test driver. "
    "Default: the data dir's earlier choice, else qemu when libvirtd answers.",
)
@click.option("--libvirt-uri", help="Any libvirt URI for the hosts (overrides --hypervisor).")
@pass_context
def up(
    obj: CliContext, hosts: int, detach: bool, hypervisor: str | None, libvirt_uri: str | None
) -> None:
    """Start the embedded stack: Temporal, the services and the workers."""
    try:
        settings = stacks.choose_hypervisor(obj.settings, hypervisor, libvirt_uri)
    except stacks.StackError as exc:
        raise CliError(str(exc)) from exc
    if detach:
        pid = stacks.running_pid(settings)
        if pid is not None:
            click.echo(f"bootflow is already running on {settings.data_dir} (pid {pid})")
            return
        pid, log_text = stacks.run_detached(settings, hosts)
        summary = (
            log_text[log_text.rfind("bootflow is up") :] if "bootflow is up" in log_text else ""
        )
        click.echo(summary.rstrip() or "bootflow is up")
        click.echo(
            f"  supervisor    pid {pid}; logs in {settings.logs_dir}; `bootflow down` stops it"
        )
        return
    try:
        stacks.run_foreground(settings, hosts, on_ready=lambda text: click.echo(text, nl=True))
    except stacks.StackError as exc:
        raise CliError(str(exc)) from exc


@click.command()
@pass_context
def down(obj: CliContext) -> None:
    """Stop the stack running on this data dir."""
    pid = stacks.stop_running(obj.settings)
    if pid is None:
        click.echo(f"no stack is running on {obj.settings.data_dir}")
    else:
        click.echo(f"stopped the stack (pid {pid})")


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
@click.option("--host", required=True, help="This compute host's name (its task queue).")
@pass_context
def run_compute(obj: CliContext, host: str) -> None:
    from workers import compute

    compute.run(obj.settings, host)
