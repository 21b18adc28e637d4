"""volume quota limits an admin sets per project and per quota class

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 05:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "volume_quota_limits",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("resource", sa.String(length=32), nullable=False),
        sa.Column("hard_limit", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volume_quota_limits")),
        sa.UniqueConstraint(
            "project_id", "resource", name=op.f("uq_volume_quota_limits_project_id_resource")
        ),
    )
    op.create_table(
        "volume_quota_class_limits",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("class_name", sa.String(length=255), nullable=False),
        sa.Column("resource", sa.String(length=32), nullable=False),
        sa.Column("hard_limit", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volume_quota_class_limits")),
        sa.UniqueConstraint(
            "class_name",
            "resource",
            name=op.f("uq_volume_quota_class_limits_class_name_resource"),
        ),
    )


def downgrade() -> None:
    op.drop_table("volume_quota_class_limits")
    op.drop_table("volume_quota_limits")
