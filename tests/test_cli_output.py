"""The CLI's -f/-c output, as the openstack CLI prints it."""

from __future__ import annotations

import json
from typing import Any

import click
import pytest
from click.testing import CliRunner

from bootflow.cli import resources
from bootflow.cli.context import CliContext
from bootflow.cli.output import listing, show

ROW = {
    "id": "09d5f05d-9b3a-4af4-becd-56649b7f0461",
    "name": "vm1",
    "addresses": {"private": ["10.0.0.2"]},
    "volumes_attached": [],
}


def test_piped_tables_never_cut_values(capsys: pytest.CaptureFixture[str]) -> None:
    listing([ROW], ("id", "name", "addresses"), "table")
    out = capsys.readouterr().out
    assert "09d5f05d-9b3a-4af4-becd-56649b7f0461" in out
    assert "private=10.0.0.2" in out


def test_json_value_yaml_and_columns(capsys: pytest.CaptureFixture[str]) -> None:
    show(ROW, "json", ("id", "addresses"))
    assert json.loads(capsys.readouterr().out) == {
        "id": ROW["id"],
        "addresses": {"private": ["10.0.0.2"]},
    }
    show(ROW, "value", ("name",))
    assert capsys.readouterr().out == "vm1\n"
    show(ROW, "yaml", ("name",))
    assert capsys.readouterr().out == "name: vm1\n"
    listing([ROW, {**ROW, "name": "vm2"}], ("id", "name"), "value", ("name",))
    assert capsys.readouterr().out == "vm1\nvm2\n"


def test_unknown_column_is_a_usage_error_naming_the_columns() -> None:
    with pytest.raises(click.UsageError, match="no column 'nope'; columns: id, name"):
        show(ROW, "table", ("nope",))


class _Cloud:
    """What the list commands ask of the compute and network clients."""

    def list_flavors(self) -> list[dict[str, Any]]:
        return [
            {
                "id": "1",
                "name": "m1.tiny",
                "ram": 512,
                "disk": 1,
                "vcpus": 1,
                "os-flavor-access:is_public": True,
                "swap": "",
            }
        ]

    def list_networks(self) -> list[dict[str, Any]]:
        return [{"id": "n1", "name": "private", "subnets": ["s1", "s2"], "mtu": 1500}]

    def list_leftovers(self) -> list[dict[str, Any]]:
        return [
            {
                "instance_uuid": "u1",
                "project_id": "p1",
                "step": "delete_port",
                "error": "boom",
                "host": "node1",
                "created_at": "2024-01-01T00:00:00Z",
            }
        ]


class _Context(CliContext):
    @property
    def compute(self) -> Any:
        return _Cloud()

    @property
    def networks(self) -> Any:
        return _Cloud()


def _list(command: click.Command, *args: str) -> Any:
    done = CliRunner().invoke(command, list(args), obj=_Context(None, False))
    assert done.exit_code == 0, done.output
    return json.loads(done.output)


def test_resource_lists_show_their_columns_under_the_openstack_cli_headers() -> None:
    assert _list(resources.flavor, "list", "-f", "json") == [
        {"ID": "1", "Name": "m1.tiny", "RAM": 512, "Disk": 1, "VCPUs": 1, "Is Public": True}
    ]
    assert _list(resources.network, "list", "-f", "json") == [
        {"ID": "n1", "Name": "private", "Subnets": "s1, s2"}
    ]
    assert _list(resources.leftovers, "-f", "json", "-c", "Server ID", "-c", "Since") == [
        {"Server ID": "u1", "Since": "2024-01-01T00:00:00Z"}
    ]
