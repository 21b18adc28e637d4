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
from bootflow.cli.output import format_options, list_command, show
from clients.volume import VolumeClient

flavor = click.Group("flavor", help="Flavors.")
flavor.add_command(
    list_command(
        lambda obj: obj.compute.list_flavors(),
        {
            "ID": "id",
            "Name": "name",
            "RAM": "ram",
            "Disk": "disk",
            "VCPUs": "vcpus",
            "Is Public": "os-flavor-access:is_public",
        },
    )
)

image = click.Group("image", help="Images.")
image.add_command(
    list_command(
        lambda obj: obj.images.list_images(), {"ID": "id", "Name": "name", "Status": "status"}
    )
)


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


volume = click.Group("volume", help="Volumes.")
volume.add_command(
    list_command(
        lambda obj: VolumeClient(obj.session).list_volumes(),
        {
            "ID": "id",
            "Name": "name",
            "Status": "status",
            "Size": "size",
            "Attached to": lambda v: [a["server_id"] for a in v.get("attachments", [])],
        },
    )
)

network = click.Group("network", help="Networks.")
network.add_command(
    list_command(
        lambda obj: obj.networks.list_networks(),
        {"ID": "id", "Name": "name", "Subnets": lambda n: ", ".join(n.get("subnets", []))},
    )
)

leftovers = list_command(
    lambda obj: obj.compute.list_leftovers(),
    {
        "Server ID": "instance_uuid",
        "Step": "step",
        "Host": "host",
        "Error": "error",
        "Since": "created_at",
    },
    name="leftovers",
    help="What failed undo steps left behind (every project's, for an admin).",
)
