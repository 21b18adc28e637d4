"""Fixtures shared by the whole suite.

Database-facing tests take ``database_url`` and so run twice: on a SQLite file and on
PostgreSQL. The PostgreSQL side is a throwaway cluster this session starts, unless
``BOOTFLOW_DATABASE_URL`` (or ``BOOTFLOW_TEST_POSTGRES_URL``) names a server to create test
databases on. That variable is taken out of the environment at start: every stack, service
and worker a test starts gets its own database, never the one named there.

SIGTERM and SIGHUP stop the session as Ctrl-C does, so its fixtures' finalizers stop what they
started (pytest's default for them ends the process on the spot). Against SIGKILL, every
process the suite starts dies with it (bootflow.lifetime).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from db.migrate import upgrade
from tests.support.databases import BACKENDS, new_database
from tests.support.postgres import throwaway_cluster
from tests.support.started import started  # noqa: F401 - the fixture, for every test file

# Popped at import, before any test builds Settings or starts a child process (both would
# otherwise read it, and point at that database instead of the test's own).
_given = [os.environ.pop(v, "") for v in ("BOOTFLOW_DATABASE_URL", "BOOTFLOW_TEST_POSTGRES_URL")]
GIVEN_POSTGRES_URL = next((url for url in _given if url), "")


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")


def pytest_configure(config: pytest.Config) -> None:
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    given = GIVEN_POSTGRES_URL
    if given:
        yield given
        return
    with throwaway_cluster() as url:
        yield url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated database; the test runs once per backend."""
    url = new_database(request.param, tmp_path, request)
    upgrade(url)
    return url
