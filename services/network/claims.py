"""Claiming a unique row (an IP address, a MAC address) in a SAVEPOINT.

The unique key in the database is the only guard that holds across processes and on both
backends; a lost race undoes only the savepoint, so the caller's transaction carries on and
can try another value.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.base import Base

_PG_UNIQUE_VIOLATION = "23505"
_SQLITE_UNIQUE = frozenset({"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"})


def is_unique_violation(exc: IntegrityError) -> bool:
    """Whether ``exc`` is a duplicate key (not, say, a foreign key to a row now gone)."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate is not None:
        return bool(sqlstate == _PG_UNIQUE_VIOLATION)
    return getattr(exc.orig, "sqlite_errorname", "") in _SQLITE_UNIQUE


def claim(session: Session, row: Base) -> bool:
    """Insert ``row``; False if its unique key is taken. Other integrity errors propagate."""
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
        return False
    return True
