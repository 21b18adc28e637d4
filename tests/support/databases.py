"""Fresh databases for tests: a SQLite file, or a new database on the throwaway cluster."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from tests.support.postgres import create_database

BACKENDS = ["sqlite", "postgresql"]
_counter = itertools.count()


def new_database(kind: str, directory: Path, request: pytest.FixtureRequest) -> str:
    """An empty database of ``kind``; for PostgreSQL the session's cluster is started."""
    if kind == "sqlite":
        return f"sqlite:///{directory / f'bootflow-{next(_counter)}.db'}"
    admin = request.getfixturevalue("postgres_admin_url")
    return create_database(admin, f"bootflow_test_{os.getpid()}_{next(_counter)}")
