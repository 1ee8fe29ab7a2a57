"""Paper orders name the order they replace (an amend cancels one order and places another), and
the reads every paper order makes are indexed: a portfolio's working orders, and its lots of a
symbol.

``replaces`` carries no foreign key: on SQLite adding one rebuilds ``paper_orders``, and dropping
the old table would take its fills with it (they cascade). The ledger writes it inside the
portfolio's own transaction, and a reset deletes the portfolio's orders together.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("paper_orders", sa.Column("replaces", sa.Integer(), nullable=True))
    op.create_index("ix_paper_orders_working", "paper_orders", ["portfolio_id", "status"])
    op.create_index("ix_paper_lots_holding", "paper_lots", ["portfolio_id", "symbol"])


def downgrade() -> None:
    op.drop_index("ix_paper_lots_holding", table_name="paper_lots")
    op.drop_index("ix_paper_orders_working", table_name="paper_orders")
    op.drop_column("paper_orders", "replaces")
