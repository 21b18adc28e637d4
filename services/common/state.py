"""App-wide objects handed to handlers as FastAPI dependencies.

A service's ``app.py`` builds its long-lived objects (a manager, a store, settings) once and
puts them on ``app.state``; handlers name them through ``from_state`` in an ``Annotated``
type, so no handler closes over a factory function's locals.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request


def from_state(name: str) -> Any:
    """A ``Depends`` giving ``request.app.state.<name>`` (set by the service's ``app.py``)."""

    # async: a plain function would be run in a worker thread, a hand-off for a lookup.
    async def get(request: Request) -> Any:
        return getattr(request.app.state, name)

    get.__name__ = f"state_{name}"
    return Depends(get)
