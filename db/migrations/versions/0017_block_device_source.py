"""block device mappings: source_type and boot_index (boot from a volume)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("block_device_mappings") as batch:
        batch.add_column(
            sa.Column("source_type", sa.String(length=16), server_default="blank", nullable=False)
        )
        batch.add_column(sa.Column("boot_index", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("block_device_mappings") as batch:
        batch.drop_column("boot_index")
        batch.drop_column("source_type")
