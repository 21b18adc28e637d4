"""Options several commands take alike."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from bootflow.cli.context import CliContext

F = TypeVar("F", bound=Callable[..., Any])


def seconds_option(name: str, default: float, help: str) -> Callable[[F], F]:
    """A duration in seconds, never negative, its default shown in ``--help``."""
    return click.option(
        name, type=click.FloatRange(0), default=default, show_default=True, help=help
    )


DATA_DIR_HELP = "The stack's data dir (default ./.bootflow, or BOOTFLOW_DATA_DIR)."


def _set_data_dir(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    found = ctx.find_object(CliContext)
    if value is not None and found is not None:
        found.use_data_dir(value)


def data_dir_option(*, top: bool = False) -> click.Option:
    """``--data-dir``, one definition wherever a user types it: on ``bootflow`` itself (which
    reads ``BOOTFLOW_DATA_DIR`` too) and after any subcommand (``bootflow up --data-dir X``),
    where it overrides what came before."""
    return click.Option(
        ["--data-dir"],
        type=click.Path(path_type=Path),
        envvar="BOOTFLOW_DATA_DIR" if top else None,
        expose_value=top,
        callback=None if top else _set_data_dir,
        help=DATA_DIR_HELP,
    )
