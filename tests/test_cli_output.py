"""The CLI's -f/-c output, as the openstack CLI prints it."""

from __future__ import annotations

import json

import click
import pytest

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
