"""Options several commands take alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def seconds_option(name: str, default: float, help: str) -> Callable[[F], F]:
    """A duration in seconds, never negative, its default shown in ``--help``."""
    return click.option(
        name, type=click.FloatRange(0), default=default, show_default=True, help=help
    )
