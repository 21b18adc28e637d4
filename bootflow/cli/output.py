"""Output as the openstack CLI prints it: ``-f table|json|value|yaml`` and ``-c COLUMN``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import click
import yaml
from rich.console import Console
from rich.table import Table

from bootflow.cli.context import CliContext, pass_context

FORMATS = ("table", "json", "value", "yaml")
F = TypeVar("F", bound=Callable[..., Any])
# A column's cell: the item's value under this key, or what this function makes of the item.
Cell = str | Callable[[dict[str, Any]], Any]


def format_options(func: F) -> F:
    """Add ``-f/--format`` and ``-c/--column`` to a command."""
    func = click.option(
        "-c",
        "--column",
        "columns",
        multiple=True,
        metavar="COLUMN",
        help="Show only this column (repeatable).",
    )(func)
    return click.option(
        "-f",
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="Output format.",
    )(func)


def _pick(row: dict[str, Any], columns: Sequence[str]) -> dict[str, Any]:
    if not columns:
        return row
    missing = [c for c in columns if c not in row]
    if missing:
        raise click.UsageError(
            f"no column {', '.join(map(repr, missing))}; columns: {', '.join(row)}"
        )
    return {c: row[c] for c in columns}


def _text(value: Any) -> str:
    """A cell as the openstack CLI shows it: ``private=10.0.0.3``, lists comma-separated."""
    if value is None:
        return "None"
    if isinstance(value, dict):
        return "; ".join(f"{k}={_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    return str(value)


def _console() -> Console:
    """Piped output is never cut to 80 columns; a terminal's wraps, never truncates."""
    console = Console(soft_wrap=True)
    if not console.is_terminal:
        console = Console(soft_wrap=True, width=10_000)
    return console


def _table(headers: Sequence[str]) -> Table:
    table = Table()
    for header in headers:
        table.add_column(header, overflow="fold")
    return table


def show(row: dict[str, Any], fmt: str, columns: Sequence[str] = ()) -> None:
    """One record: a Field/Value table, or the record as json/yaml/values."""
    row = _pick(row, columns)
    if fmt == "json":
        click.echo(json.dumps(row, indent=2, default=str))
    elif fmt == "yaml":
        click.echo(yaml.safe_dump(row, sort_keys=False, default_flow_style=False).rstrip())
    elif fmt == "value":
        for value in row.values():
            click.echo(_text(value))
    else:
        table = _table(("Field", "Value"))
        for key, value in row.items():
            table.add_row(key, _text(value))
        _console().print(table)


def listing(
    rows: list[dict[str, Any]], headers: Sequence[str], fmt: str, columns: Sequence[str] = ()
) -> None:
    """Many records, one a row."""
    headers = list(columns) or list(headers)
    picked = [_pick(r, headers) for r in rows]
    if fmt == "json":
        click.echo(json.dumps(picked, indent=2, default=str))
    elif fmt == "yaml":
        click.echo(yaml.safe_dump(picked, sort_keys=False).rstrip())
    elif fmt == "value":
        for row in picked:
            click.echo(" ".join(_text(v) for v in row.values()))
    else:
        table = _table(headers)
        for row in picked:
            table.add_row(*(_text(v) for v in row.values()))
        _console().print(table)


def list_command(
    fetch: Callable[[CliContext], Iterable[dict[str, Any]]],
    cells: Mapping[str, Cell],
    name: str = "list",
    help: str | None = None,
) -> click.Command:
    """A command listing what ``fetch`` returns, one a row, under the headers of ``cells``."""

    @click.command(name, help=help)
    @format_options
    @pass_context
    def command(obj: CliContext, fmt: str, columns: tuple[str, ...]) -> None:
        rows = [{h: _cell(item, cell) for h, cell in cells.items()} for item in fetch(obj)]
        listing(rows, tuple(cells), fmt, columns)

    return command


def _cell(item: dict[str, Any], cell: Cell) -> Any:
    return item.get(cell) if isinstance(cell, str) else cell(item)
