"""``bootflow server create|list|show|delete``."""

from __future__ import annotations

import time
from typing import Any

import click

from bootflow.cli.context import CliContext, CliError, pass_context
from bootflow.cli.output import format_options, listing, show
from bootflow.cli.progress import ProgressSource, watch
from bootflow.validation import is_uuid
from clients.errors import NotFound

WAIT_POLL_SECONDS = 0.5
SERVER_COLUMNS = ("ID", "Name", "Status", "Networks", "Image", "Flavor")


def _addresses(server: dict[str, Any]) -> dict[str, list[str]]:
    return {
        net: [a["addr"] for a in addrs] for net, addrs in (server.get("addresses") or {}).items()
    }


def server_row(server: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """The fields `server show` prints, named as the openstack CLI names them."""
    flavor_id = server["flavor"].get("id", "")
    image_id = server["image"].get("id", "") if isinstance(server.get("image"), dict) else ""
    row: dict[str, Any] = {
        "id": server["id"],
        "name": server["name"],
        "status": server["status"],
        "OS-EXT-STS:vm_state": server.get("OS-EXT-STS:vm_state"),
        "OS-EXT-STS:task_state": server.get("OS-EXT-STS:task_state"),
        "OS-EXT-STS:power_state": server.get("OS-EXT-STS:power_state"),
    }
    if "OS-EXT-SRV-ATTR:host" in server:
        row["OS-EXT-SRV-ATTR:host"] = server["OS-EXT-SRV-ATTR:host"]
    row |= {
        "addresses": _addresses(server),
        "flavor": f"{names.get(flavor_id, flavor_id)} ({flavor_id})",
        "image": f"{names.get(image_id, image_id)} ({image_id})",
        "volumes_attached": [
            v["id"] for v in server.get("os-extended-volumes:volumes_attached", [])
        ],
        "created": server.get("created"),
        "updated": server.get("updated"),
        "OS-SRV-USG:launched_at": server.get("OS-SRV-USG:launched_at"),
        "project_id": server.get("tenant_id"),
        "user_id": server.get("user_id"),
    }
    if "fault" in server:
        row["fault"] = server["fault"]
    if server.get("bootflow:leftovers"):
        row["leftovers"] = [f"{x['step']}: {x['error']}" for x in server["bootflow:leftovers"]]
    return row


def _names(obj: CliContext) -> dict[str, str]:
    """Flavor and image names by id, to print names where the API gives ids."""
    names = {f["id"]: f["name"] for f in obj.compute.list_flavors()}
    names |= {i["id"]: i.get("name") or i["id"] for i in obj.images.list_images()}
    return names


@click.group()
def server() -> None:
    """Servers (instances)."""


@server.command("create")
@click.argument("name")
@click.option("--flavor", required=True, help="Flavor name or ID.")
@click.option("--image", required=True, help="Image name or ID.")
@click.option(
    "--network",
    "networks",
    multiple=True,
    required=True,
    help="Network name or ID (repeat for several NICs).",
)
@click.option(
    "--volume-size",
    type=click.IntRange(1),
    metavar="GB",
    help="Create a blank volume of this size and attach it.",
)
@click.option("--availability-zone", help="Availability zone to boot in.")
@click.option("--wait", is_flag=True, help="Wait until the server is ACTIVE or ERROR.")
@click.option(
    "--timeout",
    type=float,
    default=600.0,
    show_default=True,
    help="With --wait: give up waiting after this many seconds.",
)
@format_options
@pass_context
def create(
    obj: CliContext,
    name: str,
    flavor: str,
    image: str,
    networks: tuple[str, ...],
    volume_size: int | None,
    availability_zone: str | None,
    wait: bool,
    timeout: float,
    fmt: str,
    columns: tuple[str, ...],
) -> None:
    """Boot a server."""
    flavor_ref = obj.compute.find_flavor(flavor)
    image_ref = obj.images.find_image(image)
    network_ids = [obj.networks.find_network(n)["id"] for n in networks]
    created = obj.compute.create_server(
        name,
        flavor_ref["id"],
        image_ref["id"],
        network_ids,
        volume_size_gb=volume_size,
        availability_zone=availability_zone,
    )
    current = obj.compute.get_server(created["id"])
    if wait:
        current = _wait_for_boot(obj, current, timeout)
    show(server_row(current, _names(obj)), fmt, columns)
    if current["status"] == "ERROR":
        raise CliError(f"server {name} failed to boot: {current.get('fault', {}).get('message')}")


def _wait_for_boot(obj: CliContext, current: dict[str, Any], timeout: float) -> dict[str, Any]:
    name = current["name"]
    source = ProgressSource(obj.settings, obj.compute, current["id"])
    try:
        settled = watch(source, name, timeout)
    except KeyboardInterrupt:
        raise CliError(
            f"stopped waiting; {name} goes on building in the background "
            f"(bootflow server show {name})"
        ) from None
    finally:
        source.close()
    if not settled:
        raise CliError(
            f"{name} is still building after {timeout:.0f}s; it goes on in the background "
            f"(bootflow server show {name})"
        )
    return obj.compute.get_server(current["id"])


@server.command("list")
@click.option("--all-projects", is_flag=True, help="Servers of every project (admin).")
@click.option("--name", help="Only servers with this name.")
@format_options
@pass_context
def list_servers(
    obj: CliContext, all_projects: bool, name: str | None, fmt: str, columns: tuple[str, ...]
) -> None:
    """List servers."""
    filters = {"name": name} if name else {}
    found = obj.compute.list_servers(all_projects=all_projects, **filters)
    names = _names(obj) if found else {}
    rows = [
        {
            "ID": s["id"],
            "Name": s["name"],
            "Status": s["status"],
            "Networks": _addresses(s),
            "Image": names.get(s["image"].get("id", ""), s["image"].get("id", "")),
            "Flavor": names.get(s["flavor"].get("id", ""), s["flavor"].get("id", "")),
        }
        for s in found
    ]
    listing(rows, SERVER_COLUMNS, fmt, columns)


@server.command("show")
@click.argument("server_ref", metavar="SERVER")
@format_options
@pass_context
def show_server(obj: CliContext, server_ref: str, fmt: str, columns: tuple[str, ...]) -> None:
    """Show a server (by name or ID)."""
    show(server_row(obj.compute.find_server(server_ref), _names(obj)), fmt, columns)


@server.command("delete")
@click.argument("server_refs", metavar="SERVER", nargs=-1, required=True)
@click.option("--wait", is_flag=True, help="Wait until the servers are gone.")
@click.option("--timeout", type=float, default=300.0, show_default=True)
@pass_context
def delete(obj: CliContext, server_refs: tuple[str, ...], wait: bool, timeout: float) -> None:
    """Delete servers (by name or ID)."""
    targets = [obj.compute.find_server(ref) for ref in server_refs]
    for target in targets:
        obj.compute.delete_server(target["id"])
    if not wait:
        return
    deadline = time.monotonic() + timeout
    for target in targets:
        while True:
            try:
                current = obj.compute.get_server(target["id"])
            except NotFound:
                break
            if current["status"] == "ERROR" and not current.get("OS-EXT-STS:task_state"):
                raise CliError(
                    f"deleting {target['name']} failed: {current.get('fault', {}).get('message')}"
                )
            if time.monotonic() > deadline:
                raise CliError(f"{target['name']} is not gone after {timeout:.0f}s")
            time.sleep(WAIT_POLL_SECONDS)


def _server_id(obj: CliContext, ref: str) -> str:
    """An id as given (the server may be deleted: its actions outlive it), else by name."""
    return ref if is_uuid(ref) else str(obj.compute.find_server(ref)["id"])


@server.group("event")
def event() -> None:
    """The actions on a server and their events (Nova's instance actions)."""


@event.command("list")
@click.argument("server_ref", metavar="SERVER")
@format_options
@pass_context
def list_events(obj: CliContext, server_ref: str, fmt: str, columns: tuple[str, ...]) -> None:
    """List the actions on a server, newest first."""
    server_id = _server_id(obj, server_ref)
    rows = [
        {
            "Request ID": a["request_id"],
            "Server ID": a["instance_uuid"],
            "Action": a["action"],
            "Start Time": a["start_time"],
            "Message": a["message"],
        }
        for a in obj.compute.list_actions(server_id)
    ]
    listing(rows, ("Request ID", "Server ID", "Action", "Start Time", "Message"), fmt, columns)


@event.command("show")
@click.argument("server_ref", metavar="SERVER")
@click.argument("request_id")
@format_options
@pass_context
def show_event(
    obj: CliContext, server_ref: str, request_id: str, fmt: str, columns: tuple[str, ...]
) -> None:
    """Show one action with its events (each stage: host, start, finish, result)."""
    action = obj.compute.get_action(_server_id(obj, server_ref), request_id)
    events = [
        f"{e['event']} on {e.get('host') or 'control'}: {e['result'] or 'running'} "
        f"({e['start_time']} - {e['finish_time'] or '...'})"
        + (f" {e['traceback']}" if e.get("traceback") else "")
        for e in action.get("events", [])
    ]
    show({**{k: v for k, v in action.items() if k != "events"}, "events": events}, fmt, columns)
