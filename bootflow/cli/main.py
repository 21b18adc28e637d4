"""``bootflow``: start the stack, boot and inspect servers.

Exit codes: 0 done, 1 failed (one line on stderr says why), 2 wrong usage.
``--debug`` shows the traceback behind a failure; like the openstack CLI's, it goes before
or after the subcommand (``bootflow server list --debug``), and so does ``--data-dir``
(``bootflow up --data-dir X``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bootflow.cli import console, hosts, init, replay, resources, server_actions, servers, stack
from bootflow.cli.context import CliContext, CliError
from bootflow.cli.options import data_dir_option
from bootflow.stack import StackError
from clients.compute import AmbiguousName
from clients.errors import ClientError, ConnectionFailed, HttpError


@click.group(
    context_settings={"help_option_names": ["-h", "--help"]}, params=[data_dir_option(top=True)]
)
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.option("--os-auth-url", envvar="OS_AUTH_URL", help="Identity endpoint (OS_AUTH_URL).")
@click.option("--os-username", envvar="OS_USERNAME", help="(OS_USERNAME)")
@click.option("--os-password", envvar="OS_PASSWORD", help="(OS_PASSWORD)")
@click.option("--os-project-name", envvar="OS_PROJECT_NAME", help="(OS_PROJECT_NAME)")
@click.option("--os-user-domain-name", envvar="OS_USER_DOMAIN_NAME", help="(OS_USER_DOMAIN_NAME)")
@click.option(
    "--os-project-domain-name", envvar="OS_PROJECT_DOMAIN_NAME", help="(OS_PROJECT_DOMAIN_NAME)"
)
@click.option("--os-region-name", envvar="OS_REGION_NAME", help="(OS_REGION_NAME)")
@click.pass_context
def cli(
    ctx: click.Context, /, data_dir: Path | None, debug: bool, **os_options: str | None
) -> None:
    """Boot servers the way Nova does, as durable Temporal workflows."""
    ctx.obj = CliContext(
        data_dir=data_dir,
        debug=debug,
        os_options={k.removeprefix("os_"): v for k, v in os_options.items()},
    )


cli.add_command(stack.up)
cli.add_command(stack.down)
cli.add_command(stack.status)
cli.add_command(stack.run)
cli.add_command(stack.db)
cli.add_command(init.init)
cli.add_command(hosts.host)
cli.add_command(servers.server)
for _command in server_actions.COMMANDS:
    servers.server.add_command(_command)
cli.add_command(resources.flavor)
cli.add_command(resources.image)
cli.add_command(resources.network)
cli.add_command(resources.volume)
cli.add_command(resources.leftovers)
cli.add_command(replay.history)
cli.add_command(replay.replay)
cli.add_command(console.console)


def _set_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    found = ctx.find_object(CliContext)
    if value and found is not None:
        found.debug = True


def _accept_everywhere(command: click.Command) -> None:
    """``--debug`` and ``--data-dir`` on ``command`` and every subcommand of it, as on
    ``bootflow`` itself: users type them after the command (``bootflow up --data-dir X``)."""
    command.params.append(data_dir_option())
    command.params.append(
        click.Option(
            ["--debug"],
            is_flag=True,
            expose_value=False,
            callback=_set_debug,
            help="Show tracebacks.",
        )
    )
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _accept_everywhere(sub)


for _command in cli.commands.values():
    _accept_everywhere(_command)


def _message(exc: BaseException) -> str:
    if isinstance(exc, ConnectionFailed):
        return f"{exc} (is the stack up? `bootflow up`)"
    if isinstance(exc, HttpError):
        return exc.message
    return str(exc)


def main() -> None:
    debug = "--debug" in sys.argv
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except (ClientError, StackError, AmbiguousName, CliError, LookupError) as exc:
        if debug:
            raise
        click.echo(f"Error: {_message(exc)}", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if debug:
            raise
        click.echo(
            f"Error: {exc.__class__.__name__}: {exc} (run with --debug for details)", err=True
        )
        sys.exit(1)
