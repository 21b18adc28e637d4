"""Fresh databases for tests: a SQLite file, or a new database on the throwaway cluster;
and two transactions made to overlap."""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from db.session import SessionFactory
from tests.support.postgres import create_database

T = TypeVar("T")

BACKENDS = ["sqlite", "postgresql"]
_counter = itertools.count()


def new_database(kind: str, directory: Path, request: pytest.FixtureRequest) -> str:
    """An empty database of ``kind``; for PostgreSQL the session's cluster is started."""
    if kind == "sqlite":
        return f"sqlite:///{directory / f'bootflow-{next(_counter)}.db'}"
    admin = request.getfixturevalue("postgres_admin_url")
    return create_database(admin, f"bootflow_test_{os.getpid()}_{next(_counter)}")


def overlapping(sessions: SessionFactory, work: Callable[[Session], T]) -> tuple[T, T]:
    """``work`` in two transactions, the second begun while the first is still open: it runs
    up to where it waits for the first's locks (seen in pg_stat_activity on PostgreSQL; on
    SQLite the second waits at BEGIN IMMEDIATE), then the first commits. Both results."""
    engine = sessions.kw["bind"]
    results: dict[str, T] = {}
    with sessions.begin() as first:
        results["first"] = work(first)
        second = threading.Thread(target=lambda: results.setdefault("second", _in(sessions, work)))
        second.start()
        if engine.dialect.name == "postgresql":
            _wait_for_a_lock_wait(engine)
        else:
            second.join(0.5)
    second.join(30)
    assert not second.is_alive(), "the second transaction never finished"
    return results["first"], results["second"]


def _in(sessions: SessionFactory, work: Callable[[Session], T]) -> T:
    with sessions.begin() as session:
        return work(session)


def _wait_for_a_lock_wait(engine: Engine) -> None:
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 30
    with engine.connect() as conn:
        while not conn.execute(query).scalar():
            assert time.monotonic() < deadline, "the second transaction never waited on a lock"
            time.sleep(0.05)
            conn.rollback()
