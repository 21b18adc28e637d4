"""``bootflow flavor list``, ``image list``, ``network list``."""

from __future__ import annotations

import click

from bootflow.cli.context import CliContext, pass_context
from bootflow.cli.output import format_options, listing


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
