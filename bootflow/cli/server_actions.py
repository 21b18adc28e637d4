"""``bootflow server stop|start|reboot|rebuild|lock|unlock``, as ``openstack server ...``: each
long action is a workflow on the server's host; ``--wait`` follows it to its end."""

from __future__ import annotations

import time
from typing import Any

import click

from bootflow.cli.context import CliContext, CliError, pass_context

WAIT_POLL_SECONDS = 0.5
_wait = click.option("--wait", is_flag=True, help="Wait until the action is over.")
_timeout = click.option("--timeout", type=float, default=300.0, show_default=True)


def _act(
    obj: CliContext, server_ref: str, action: str, args: Any, wait: bool, timeout: float
) -> None:
    target = obj.compute.find_server(server_ref)
    obj.compute.server_action(target["id"], action, args)
    if wait:
        click.echo(f"{target['name']}: {_settled(obj, target, timeout)}")


def _settled(obj: CliContext, target: dict[str, Any], timeout: float) -> str:
    """The server's status once no task runs on it; an error names its fault."""
    deadline = time.monotonic() + timeout
    while True:
        current = obj.compute.get_server(target["id"])
        if not current.get("OS-EXT-STS:task_state"):
            if current["status"] == "ERROR":
                fault = current.get("fault", {}).get("message", "no fault recorded")
                raise CliError(f"{target['name']} is in error: {fault}")
            return str(current["status"])
        if time.monotonic() > deadline:
            raise CliError(f"{target['name']} is still busy after {timeout:.0f}s")
        time.sleep(WAIT_POLL_SECONDS)


def _power_command(name: str, action: str, summary: str) -> click.Command:
    """``bootflow server stop|start``: the action with no arguments."""

    @click.command(name, help=summary)
    @click.argument("server_ref", metavar="SERVER")
    @_wait
    @_timeout
    @pass_context
    def command(obj: CliContext, server_ref: str, wait: bool, timeout: float) -> None:
        _act(obj, server_ref, action, None, wait, timeout)

    return command


stop = _power_command("stop", "os-stop", "Stop a server (a clean shutdown, then by force).")
start = _power_command("start", "os-start", "Start a stopped server.")


@click.command("reboot")
@click.argument("server_ref", metavar="SERVER")
@click.option("--hard", is_flag=True, help="Power-cycle it instead of a clean reboot.")
@_wait
@_timeout
@pass_context
def reboot(obj: CliContext, server_ref: str, hard: bool, wait: bool, timeout: float) -> None:
    """Reboot a server."""
    _act(obj, server_ref, "reboot", {"type": "HARD" if hard else "SOFT"}, wait, timeout)


@click.command("rebuild")
@click.argument("server_ref", metavar="SERVER")
@click.option("--image", required=True, help="Image name or ID to rebuild it from.")
@click.option("--name", help="A new name.")
@click.option("--property", "properties", multiple=True, help="Metadata KEY=VALUE (replaces all).")
@click.option("--hostname", help="The guest's hostname (an FQDN allowed).")
@click.option("--key-name", help="The key pair to put in the guest instead.")
@_wait
@_timeout
@pass_context
def rebuild(
    obj: CliContext,
    server_ref: str,
    image: str,
    name: str | None,
    properties: tuple[str, ...],
    hostname: str | None,
    key_name: str | None,
    wait: bool,
    timeout: float,
) -> None:
    """Rebuild a server: its guest made again from the image, on the same host, with its
    addresses and volumes kept."""
    target = obj.compute.find_server(server_ref)
    body: dict[str, Any] = {"imageRef": obj.images.find_image(image)["id"]}
    options = {"name": name, "hostname": hostname, "key_name": key_name}
    body |= {k: v for k, v in options.items() if v is not None}
    if properties:
        body["metadata"] = dict(_pair(p) for p in properties)
    obj.compute.rebuild_server(target["id"], body)
    if wait:
        click.echo(f"{target['name']}: {_settled(obj, target, timeout)}")
    else:
        click.echo(f"{target['name']}: rebuilding")


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise click.BadParameter(f"{text!r} is not KEY=VALUE", param_hint="--property")
    return key, value


@click.command("lock")
@click.argument("server_ref", metavar="SERVER")
@click.option("--reason", help="Why (shown as locked_reason).")
@pass_context
def lock(obj: CliContext, server_ref: str, reason: str | None) -> None:
    """Lock a server: its owner's actions are refused until it is unlocked."""
    _act(obj, server_ref, "lock", {"locked_reason": reason} if reason else None, False, 0)


@click.command("unlock")
@click.argument("server_ref", metavar="SERVER")
@pass_context
def unlock(obj: CliContext, server_ref: str) -> None:
    """Unlock a server."""
    _act(obj, server_ref, "unlock", None, False, 0)


COMMANDS = (stop, start, reboot, rebuild, lock, unlock)
