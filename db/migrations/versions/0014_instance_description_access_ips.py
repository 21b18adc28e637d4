"""instance description, hostname and access IPs (PUT /servers/{id})

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 05:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.add_column(sa.Column("description", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("hostname", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("access_ip_v4", sa.String(length=39), nullable=True))
        batch_op.add_column(sa.Column("access_ip_v6", sa.String(length=39), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("instances", schema=None) as batch_op:
        for column in ("access_ip_v6", "access_ip_v4", "hostname", "description"):
            batch_op.drop_column(column)
