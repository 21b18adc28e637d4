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
