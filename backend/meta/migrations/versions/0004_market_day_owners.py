"""Which feed session holds each trading day's market history.

Until this revision every host kept it in a SQLite file of its own in the data directory
(``market_history.sqlite3``), so two hosts could disagree about a day;
``backend.meta.legacy_market`` copies that file in at start.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "market_day_owners",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("simulated", sa.Boolean(), nullable=False),
        sa.Column("session", sa.String(64), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_market_day_owners")),
    )


def downgrade() -> None:
    op.drop_table("market_day_owners")
