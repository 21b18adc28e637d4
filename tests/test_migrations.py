from __future__ import annotations

from sqlalchemy import create_engine, inspect

import db.all_models  # noqa: F401
from db.base import Base
from db.migrate import current
from db.session import normalize_url


def test_migrations_create_every_table_at_head(database_url: str) -> None:
    engine = create_engine(normalize_url(database_url))
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert set(Base.metadata.tables) <= tables
    assert current(database_url) is not None


def test_models_match_the_migrations(database_url: str) -> None:
    """A model change without its migration fails here (autogenerate finds a difference)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = create_engine(normalize_url(database_url))
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert diffs == []
