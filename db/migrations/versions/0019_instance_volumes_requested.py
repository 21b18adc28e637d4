"""instance volumes_requested (a delete skips the volume steps of a server without any)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Servers made before this revision may have volumes: true keeps their delete's steps.
    with op.batch_alter_table("instances") as batch:
        batch.add_column(
            sa.Column("volumes_requested", sa.Boolean(), server_default=sa.true(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.drop_column("volumes_requested")
