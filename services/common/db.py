"""Database access for request handlers: one transaction per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import Depends, Request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.session import SessionFactory
from services.common.app import ApiError
from services.common.state import from_state


def _end(session: Session, commit: bool) -> None:
    """Commit (or not), then close: what isn't committed is rolled back."""
    try:
        if commit:
            session.commit()
    finally:
        session.close()


async def _in_thread(session: Session, commit: bool) -> None:
    # Not in the shared thread pool: its threads may all be handlers waiting for the lock
    # this session holds (SQLite's one writer), so the commit would never get a thread. A
    # limiter of its own per call, as FastAPI runs a generator dependency's exit.
    await anyio.to_thread.run_sync(_end, session, commit, limiter=anyio.CapacityLimiter(1))


async def _session(request: Request) -> AsyncIterator[Session]:
    # async: a session connects on its first statement (in the handler's thread), so only
    # the end needs a thread; a plain generator would take two thread hand-offs a request.
    sessions: SessionFactory = request.app.state.sessions
    session = sessions()
    try:
        yield session
    except BaseException:
        await _in_thread(session, False)
        raise
    await _in_thread(session, True)


# "function" scope: commit before the response goes out, so a client that reads right after
# a write sees it, and a failed commit is the client's error, not a log line.
DbSession = Annotated[Session, Depends(_session, scope="function")]

# The service's session factory, for handlers that run their own short transactions
# (streaming image data must not hold one open).
Sessions = Annotated[SessionFactory, from_state("sessions")]


def flush_unique(session: Session, message: str) -> None:
    """Flush; a unique constraint refusing the new row is the client's 409 ``message``."""
    try:
        session.flush()
    except IntegrityError as exc:
        raise ApiError(409, message) from exc
