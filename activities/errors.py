"""How activities turn service errors into retry decisions, in one place.

Transient failures (connection refused, HTTP 5xx and 429) propagate as they are and
Temporal retries them with backoff; anything else a service refuses is the request's
fault, so it becomes a non-retryable ApplicationError with a type a caller can read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from bootflow.errors import request_error
from clients.errors import HttpError


@contextmanager
def service_errors(doing: str, error_type: str = "BuildAbortException") -> Iterator[None]:
    """Around a service call: ``doing`` says what, for the message ("create port on x")."""
    try:
        yield
    except HttpError as exc:
        if exc.transient:
            raise
        raise request_error(error_type, f"Could not {doing}: {exc.message}") from exc
