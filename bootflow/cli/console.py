"""``bootflow console log SERVER``: a guest's serial console, as ``openstack console log show``.

Through the compute API's os-getConsoleOutput server action, so it works from wherever the
API answers; the host that runs the guest reads its console log.
"""

from __future__ import annotations

import click

from bootflow.cli.context import CliContext, pass_context


@click.group()
def console() -> None:
    """A server's console."""


@console.command("log")
@click.argument("server")
@click.option("--lines", type=click.IntRange(min=0), help="Only the last N lines (default: all).")
@pass_context
def log(obj: CliContext, server: str, lines: int | None) -> None:
    """Print the server's serial console output."""
    found = obj.compute.find_server(server)
    response = obj.session.request(
        "compute",
        "POST",
        f"servers/{found['id']}/action",
        json={"os-getConsoleOutput": {"length": lines}},
    )
    output = str(response.json()["output"])
    click.echo(output, nl=not output.endswith("\n") and output != "")
