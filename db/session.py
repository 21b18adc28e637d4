"""Engines and sessions for SQLite (embedded default) and PostgreSQL (psycopg 3).

SQLite is shared by several processes (services, control worker, one worker per host), so
every connection uses WAL and a busy timeout, and every transaction starts with
``BEGIN IMMEDIATE``: a transaction that reads then writes would otherwise fail at once with
"database is locked" when another process wrote in between, instead of waiting its turn.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and use psycopg 3 for them."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, pool_size: int = 10, **kwargs: Any) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            pool_size=pool_size,
            max_overflow=2 * pool_size,
            **kwargs,
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(
        url, pool_size=pool_size, max_overflow=2 * pool_size, pool_pre_ping=True, **kwargs
    )


# PostgreSQL's SQLSTATEs for a server shutting down, crashed, or not yet taking connections.
_SERVER_GOING_OR_COMING = frozenset({"57P01", "57P02", "57P03"})


def connection_lost(exc: DBAPIError) -> bool:
    """Whether ``exc`` means the database server went away or is not answering yet (a lost
    connection, or a new one refused), or, on SQLite, another process held the write lock
    past the busy timeout (one stalled mid-transaction), rather than a statement that
    failed: the same work may succeed in a moment."""
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    if isinstance(orig, sqlite3.OperationalError):
        return getattr(orig, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY
    if not isinstance(orig, psycopg.OperationalError):
        return False
    # No SQLSTATE: the client's own failure to connect or to reach the server.
    state = orig.sqlstate
    return state is None or state.startswith("08") or state in _SERVER_GOING_OR_COMING


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to the "begin" hook below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


SessionFactory = sessionmaker[Session]


def make_session_factory(engine: Engine) -> SessionFactory:
    return sessionmaker(engine, expire_on_commit=False)


def engine_of(sessions: SessionFactory) -> Engine:
    """The engine behind ``sessions``, for the few writes every step makes: a statement built
    once and run on a plain connection costs a third of one built and run through an ORM
    session each time (docs/performance.md)."""
    bind = sessions.kw["bind"]
    assert isinstance(bind, Engine)
    return bind


@contextmanager
def transaction(sessions: SessionFactory) -> Iterator[Session]:
    """One unit of work: commits on success, rolls back on any error."""
    with sessions.begin() as session:
        yield session
