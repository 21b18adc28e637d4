"""instance metadata (/servers/{id}/metadata, metadata at create)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 06:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "instance_metadata",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("instance_uuid", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_uuid"],
            ["instances.uuid"],
            name=op.f("fk_instance_metadata_instance_uuid_instances"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instance_metadata")),
        sa.UniqueConstraint(
            "instance_uuid", "key", name=op.f("uq_instance_metadata_instance_uuid_key")
        ),
    )
    op.create_index(
        op.f("ix_instance_metadata_instance_uuid"),
        "instance_metadata",
        ["instance_uuid"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_instance_metadata_instance_uuid"), table_name="instance_metadata")
    op.drop_table("instance_metadata")
