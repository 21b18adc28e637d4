"""Database access for request handlers: one transaction per request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from db.session import SessionFactory


def _session(request: Request) -> Iterator[Session]:
    sessions: SessionFactory = request.app.state.sessions
    with sessions.begin() as session:
        yield session


# "function" scope: commit before the response goes out, so a client that reads right after
# a write sees it, and a failed commit is the client's error, not a log line.
DbSession = Annotated[Session, Depends(_session, scope="function")]
