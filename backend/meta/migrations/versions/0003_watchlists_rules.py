"""The live market's watchlists and price-alert rules.

Until this revision they lived in a SQLite file of their own in the data directory
(``market.sqlite3``); ``backend.meta.legacy_market`` copies that file in at start.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "watchlists",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("symbols", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watchlists")),
    )
    op.create_table(
        "price_rules",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(20), nullable=False),
        sa.Column("op", sa.String(8), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("op IN ('above', 'below')", name=op.f("ck_price_rules_op")),
        sa.CheckConstraint("price > 0", name=op.f("ck_price_rules_price")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_rules")),
    )
    op.create_index(op.f("ix_price_rules_symbol"), "price_rules", ["symbol"])


def downgrade() -> None:
    op.drop_index(op.f("ix_price_rules_symbol"), table_name="price_rules")
    op.drop_table("price_rules")
    op.drop_table("watchlists")
