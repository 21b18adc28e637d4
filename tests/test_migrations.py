from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import MetaData, Table, create_engine, inspect, select

import db.all_models  # noqa: F401
from db.base import Base
from db.migrate import current, upgrade
from db.session import normalize_url
from tests.support.databases import BACKENDS, new_database


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


@pytest.mark.parametrize("backend", BACKENDS)
def test_servers_made_before_volumes_requested_keep_their_volume_steps(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A server recorded before 0019 may have volumes: its delete must still look for them."""
    url = new_database(backend, tmp_path, request)
    upgrade(url, "0018")
    engine = create_engine(normalize_url(url))
    now = datetime.now(UTC)
    row = dict(uuid="u1", name="old", project_id="p", user_id="u", request_id="")
    row |= dict(flavor_id="1", flavor_name="m1.tiny", vcpus=1, memory_mb=512, root_gb=1)
    row |= dict(image_ref="i", vm_state="active", power_state=1, addresses={})
    row |= dict(deleted=False, locked=False, created_at=now, updated_at=now)
    try:
        with engine.begin() as conn:
            conn.execute(Table("instances", MetaData(), autoload_with=conn).insert(), [row])
        upgrade(url)
        with engine.connect() as conn:
            instances = Table("instances", MetaData(), autoload_with=conn)
            value = conn.scalar(select(instances.c.volumes_requested))
    finally:
        engine.dispose()
    assert value is True
