"""Research measurements: datasets and the series numbered per dataset (indicator versions,
walk-forward runs, simulations), each with the store that keeps its rows.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "measurements",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("base", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("number", sa.Integer(), nullable=True),
        sa.Column("store", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('dataset', 'indicators', 'run', 'sim')", name=op.f("ck_measurements_kind")),
        sa.CheckConstraint("(kind = 'dataset') = (number IS NULL)", name=op.f("ck_measurements_number")),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_measurements")),
        sa.UniqueConstraint("base", "kind", "number", name=op.f("uq_measurements_base_kind_number")),
    )
    op.create_index(op.f("ix_measurements_base"), "measurements", ["base"])


def downgrade() -> None:
    op.drop_index(op.f("ix_measurements_base"), table_name="measurements")
    op.drop_table("measurements")
