"""``bootflow server create|list|show|delete``."""

from __future__ import annotations

import time
from typing import Any

import click

from bootflow.cli.context import CliContext, CliError, pass_context
from bootflow.cli.options import seconds_option
from bootflow.cli.output import format_options, listing, show
from bootflow.cli.progress import ProgressSource, watch
from clients.errors import NotFound
from core.validation import is_uuid

WAIT_POLL_SECONDS = 0.5
SERVER_COLUMNS = ("ID", "Name", "Status", "Networks", "Image", "Flavor")


def _addresses(server: dict[str, Any]) -> dict[str, list[str]]:
    return {
        net: [a["addr"] for a in addrs] for net, addrs in (server.get("addresses") or {}).items()
    }


def server_row(
    server: dict[str, Any], names: dict[str, str], leftovers: list[dict[str, Any]]
) -> dict[str, Any]:
    """The fields `server show` prints, named as the openstack CLI names them, and what
    undo steps left behind (bootflow's ``os-leftovers``; Nova's show has no place for it)."""
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
    if leftovers:
        row["leftovers"] = [f"{x['step']}: {x['error']}" for x in leftovers]
    return row


def _shown(obj: CliContext, server: dict[str, Any]) -> dict[str, Any]:
    return server_row(server, _names(obj), obj.compute.list_leftovers(server_id=server["id"]))


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
@click.option(
    "--hint",
    "hints",
    multiple=True,
    metavar="KEY=VALUE",
    help="Scheduler hint: group=<server group id>, same_host=<id>, different_host=<id>.",
)
@click.option(
    "--count",
    type=click.IntRange(1, 100),
    default=1,
    show_default=True,
    help="How many servers (named NAME-1..NAME-N when more than one).",
)
@click.option(
    "--min-count",
    type=click.IntRange(1, 100),
    help="Accept the request only if at least this many fit (default: --count).",
)
@click.option("--wait", is_flag=True, help="Wait until the server is ACTIVE or ERROR.")
@seconds_option("--timeout", 600.0, "With --wait: give up waiting after this many seconds.")
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
    hints: tuple[str, ...],
    count: int,
    min_count: int | None,
    wait: bool,
    timeout: float,
    fmt: str,
    columns: tuple[str, ...],
) -> None:
    """Boot a server (or --count of them)."""
    flavor_ref = obj.compute.find_flavor(flavor)
    image_ref = obj.images.find_image(image)
    network_ids = [obj.networks.find_network(n)["id"] for n in networks]
    options: dict[str, Any] = {
        "volume_size_gb": volume_size,
        "availability_zone": availability_zone,
        "scheduler_hints": _hints(hints),
    }
    if count > 1 or (min_count or 1) > 1:
        if min_count and min_count > count:
            raise click.BadParameter("must not be more than --count", param_hint="--min-count")
        ids = obj.compute.create_servers(
            name,
            flavor_ref["id"],
            image_ref["id"],
            network_ids,
            min_count=min_count or count,
            max_count=count,
            **options,
        )
        _show_many(obj, ids, wait, timeout, fmt, columns)
        return
    created = obj.compute.create_server(
        name, flavor_ref["id"], image_ref["id"], network_ids, **options
    )
    current = obj.compute.get_server(created["id"])
    if wait:
        current = _wait_for_boot(obj, current, timeout)
    show(_shown(obj, current), fmt, columns)
    if current["status"] == "ERROR":
        raise CliError(f"server {name} failed to boot: {current.get('fault', {}).get('message')}")


def _hints(given: tuple[str, ...]) -> dict[str, Any]:
    """``--hint k=v`` flags as Nova's os:scheduler_hints (a list where a key repeats)."""
    hints: dict[str, list[str]] = {}
    for hint in given:
        key, sep, value = hint.partition("=")
        if not sep or not key or not value:
            raise click.BadParameter(f"{hint!r} is not KEY=VALUE", param_hint="--hint")
        hints.setdefault(key, []).append(value)
    return {k: v[0] if len(v) == 1 else v for k, v in hints.items()}


def _show_many(
    obj: CliContext, ids: list[str], wait: bool, timeout: float, fmt: str, columns: tuple[str, ...]
) -> None:
    deadline = time.monotonic() + timeout
    servers = [obj.compute.get_server(i) for i in ids]
    while wait and any(s["status"] == "BUILD" for s in servers):
        if time.monotonic() > deadline:
            raise CliError(
                f"servers still building after {timeout:.0f}s; they go on in the "
                "background (bootflow server list)"
            )
        time.sleep(WAIT_POLL_SECONDS)
        servers = [obj.compute.get_server(i) for i in ids]
    names = _names(obj)
    listing([_list_row(s, names) for s in servers], SERVER_COLUMNS, fmt, columns)
    failed = [s["name"] for s in servers if s["status"] == "ERROR"]
    if failed:
        raise CliError(f"{len(failed)} of {len(servers)} failed to boot: {', '.join(failed)}")


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
    listing([_list_row(s, names) for s in found], SERVER_COLUMNS, fmt, columns)


def _list_row(server: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    image = server["image"].get("id", "") if isinstance(server.get("image"), dict) else ""
    flavor = server["flavor"]
    return {
        "ID": server["id"],
        "Name": server["name"],
        "Status": server["status"],
        "Networks": _addresses(server),
        "Image": names.get(image, image),
        "Flavor": flavor.get("original_name") or names.get(flavor.get("id", ""), ""),
    }


@server.command("show")
@click.argument("server_ref", metavar="SERVER")
@click.option(
    "--all-projects",
    is_flag=True,
    help="Find the server by name in every project (admins; by ID an admin finds any).",
)
@format_options
@pass_context
def show_server(
    obj: CliContext, server_ref: str, all_projects: bool, fmt: str, columns: tuple[str, ...]
) -> None:
    """Show a server (by name or ID); an admin sees its host."""
    found = obj.compute.find_server(server_ref, all_projects=all_projects)
    show(_shown(obj, found), fmt, columns)


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


def _event_host(event: dict[str, Any]) -> str:
    """Where an event ran: its host for an admin; for others (Nova shows them only an
    opaque hostId) the start of that, or "control" for the control plane's steps."""
    if event.get("host"):
        return str(event["host"])
    return f"host {str(event['hostId'])[:8]}" if event.get("hostId") else "control"


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
        f"{e['event']} on {_event_host(e)}: {e['result'] or 'running'} "
        f"({e['start_time']} - {e['finish_time'] or '...'})"
        + (f" {e['traceback']}" if e.get("traceback") else "")
        for e in action.get("events", [])
    ]
    show({**{k: v for k, v in action.items() if k != "events"}, "events": events}, fmt, columns)


@server.group("group")
def group() -> None:
    """Server groups: keep servers on one host (affinity) or apart (anti-affinity)."""


def _group_row(found: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": found["id"],
        "name": found["name"],
        "policy": found.get("policy") or ", ".join(found.get("policies", [])),
        "members": found.get("members", []),
    }


@group.command("create")
@click.argument("name")
@click.option(
    "--policy",
    type=click.Choice(["affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"]),
    required=True,
)
@format_options
@pass_context
def create_group(
    obj: CliContext, name: str, policy: str, fmt: str, columns: tuple[str, ...]
) -> None:
    """Create a server group; boot into it with --hint group=<id>."""
    show(_group_row(obj.compute.create_server_group(name, policy)), fmt, columns)


@group.command("list")
@format_options
@pass_context
def list_groups(obj: CliContext, fmt: str, columns: tuple[str, ...]) -> None:
    rows = [_group_row(g) for g in obj.compute.list_server_groups()]
    listing(rows, ("id", "name", "policy", "members"), fmt, columns)


@group.command("show")
@click.argument("group_id")
@format_options
@pass_context
def show_group(obj: CliContext, group_id: str, fmt: str, columns: tuple[str, ...]) -> None:
    show(_group_row(obj.compute.get_server_group(group_id)), fmt, columns)


@group.command("delete")
@click.argument("group_id")
@pass_context
def delete_group(obj: CliContext, group_id: str) -> None:
    obj.compute.delete_server_group(group_id)
