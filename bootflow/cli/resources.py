"""``bootflow flavor list``, ``image list|create``, ``network list``, ``volume list``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from bootflow.cli.context import CliContext, pass_context
from bootflow.cli.output import format_options, listing, show
from clients.volume import VolumeClient


@click.group()
def flavor() -> None:
    """Flavors."""


@flavor.command("list")
@format_options
@pass_context
def list_flavors(obj: CliContext, fmt: str, columns: tuple[str, ...]) -> None:
    rows = [
        {
            "ID": f["id"],
            "Name": f["name"],
            "RAM": f["ram"],
            "Disk": f["disk"],
            "VCPUs": f["vcpus"],
            "Is Public": f["os-flavor-access:is_public"],
        }
        for f in obj.compute.list_flavors()
    ]
    listing(rows, ("ID", "Name", "RAM", "Disk", "VCPUs", "Is Public"), fmt, columns)


@click.group()
def image() -> None:
    """Images."""


@image.command("list")
@format_options
@pass_context
def list_images(obj: CliContext, fmt: str, columns: tuple[str, ...]) -> None:
    rows = [
        {"ID": i["id"], "Name": i.get("name"), "Status": i["status"]}
        for i in obj.images.list_images()
    ]
    listing(rows, ("ID", "Name", "Status"), fmt, columns)


def image_row(image: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "id",
        "name",
        "status",
        "visibility",
        "disk_format",
        "container_format",
        "size",
        "checksum",
        "os_hash_algo",
        "min_disk",
        "min_ram",
        "owner",
        "created_at",
    )
    return {k: image.get(k) for k in keys}


@image.command("create")
@click.argument("name")
@click.option(
    "--file",
    "path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The image's data.",
)
@click.option(
    "--disk-format",
    type=click.Choice(["qcow2", "raw", "aki", "ari", "iso"]),
    default="qcow2",
    show_default=True,
)
@click.option("--container-format", default="bare", show_default=True)
@click.option("--public", "visibility", flag_value="public", help="Visible to every project.")
@click.option(
    "--private",
    "visibility",
    flag_value="private",
    default=True,
    help="Visible to this project only (the default).",
)
@click.option(
    "--property",
    "properties",
    multiple=True,
    metavar="KEY=VALUE",
    help="An additional property, e.g. hw_architecture=x86_64 (repeatable).",
)
@format_options
@pass_context
def create_image(
    obj: CliContext,
    name: str,
    path: Path,
    disk_format: str,
    container_format: str,
    visibility: str,
    properties: tuple[str, ...],
    fmt: str,
    columns: tuple[str, ...],
) -> None:
    """Create an image and upload its data, showing the upload's progress."""
    extra = {}
    for prop in properties:
        key, sep, value = prop.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{prop!r} is not KEY=VALUE", param_hint="--property")
        extra[key] = value
    created = obj.images.create_image(
        name=name,
        disk_format=disk_format,
        container_format=container_format,
        visibility=visibility,
        **extra,
    )
    size = path.stat().st_size
    console = Console(stderr=True)
    with Progress(
        TextColumn("uploading {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task(name, total=size)
        try:
            obj.images.upload(
                created["id"], path, progress=lambda done: bar.update(task, completed=done)
            )
        except BaseException:
            obj.images.delete_image(created["id"])  # no half-made image left behind
            raise
    show(image_row(obj.images.get_image(created["id"])), fmt, columns)


@click.group()
def volume() -> None:
    """Volumes."""


@volume.command("list")
@format_options
@pass_context
def list_volumes(obj: CliContext, fmt: str, columns: tuple[str, ...]) -> None:
    client = VolumeClient(obj.session)
    rows = [
        {
            "ID": v["id"],
            "Name": v.get("name"),
            "Status": v["status"],
            "Size": v["size"],
            "Attached to": [a["server_id"] for a in v.get("attachments", [])],
        }
        for v in client.list_volumes()
    ]
    listing(rows, ("ID", "Name", "Status", "Size", "Attached to"), fmt, columns)


@click.group()
def network() -> None:
    """Networks."""


@network.command("list")
@format_options
@pass_context
def list_networks(obj: CliContext, fmt: str, columns: tuple[str, ...]) -> None:
    rows = [
        {"ID": n["id"], "Name": n["name"], "Subnets": ", ".join(n.get("subnets", []))}
        for n in obj.networks.list_networks()
    ]
    listing(rows, ("ID", "Name", "Subnets"), fmt, columns)


@click.command()
@format_options
@pass_context
def leftovers(obj: CliContext, fmt: str, columns: tuple[str, ...]) -> None:
    """What failed undo steps left behind (every project's, for an admin)."""
    rows = [
        {
            "Server ID": x["instance_uuid"],
            "Step": x["step"],
            "Host": x["host"],
            "Error": x["error"],
            "Since": x["created_at"],
        }
        for x in obj.compute.list_leftovers()
    ]
    listing(rows, ("Server ID", "Step", "Host", "Error", "Since"), fmt, columns)
