"""Paper trading: portfolios, their cash moves, orders, fills, FIFO lots and value snapshots.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

STATUSES = "'pending', 'open', 'partially_filled', 'filled', 'cancelled', 'expired'"


def upgrade() -> None:
    op.create_table(
        "paper_portfolios",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("cash", sa.BigInteger(), nullable=False),
        sa.Column("net_deposits", sa.BigInteger(), nullable=False),
        sa.Column("realized_pnl", sa.BigInteger(), nullable=False),
        sa.Column("fees", sa.BigInteger(), nullable=False),
        sa.Column("taxes", sa.BigInteger(), nullable=False),
        sa.Column("commission", sa.String(16), nullable=False),
        sa.Column("sales_tax", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reset_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_portfolios")),
        sa.UniqueConstraint("owner", "name", name=op.f("uq_paper_portfolios_owner_name")),
    )
    op.create_index(op.f("ix_paper_portfolios_owner"), "paper_portfolios", ["owner"])
    op.create_table(
        "paper_cash_moves",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("portfolio_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('open', 'deposit', 'withdrawal', 'reset')", name=op.f("ck_paper_cash_moves_kind")),
        sa.ForeignKeyConstraint(["portfolio_id"], ["paper_portfolios.id"], ondelete="CASCADE",
                                name=op.f("fk_paper_cash_moves_portfolio_id_paper_portfolios")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_cash_moves")),
    )
    op.create_index(op.f("ix_paper_cash_moves_portfolio_id"), "paper_cash_moves", ["portfolio_id"])
    op.create_table(
        "paper_orders",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("portfolio_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=True),
        sa.Column("symbol", sa.String(20), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("filled_quantity", sa.Integer(), nullable=False),
        sa.Column("limit_price", sa.BigInteger(), nullable=True),
        sa.Column("stop_price", sa.BigInteger(), nullable=True),
        sa.Column("time_in_force", sa.String(8), nullable=False),
        sa.Column("session", sa.String(16), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("reserved_cash", sa.BigInteger(), nullable=False),
        sa.Column("trading_day", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"status IN ({STATUSES})", name=op.f("ck_paper_orders_status")),
        sa.CheckConstraint("side IN ('buy', 'sell')", name=op.f("ck_paper_orders_side")),
        sa.CheckConstraint("filled_quantity >= 0 AND filled_quantity <= quantity", name=op.f("ck_paper_orders_filled")),
        sa.ForeignKeyConstraint(["portfolio_id"], ["paper_portfolios.id"], ondelete="CASCADE",
                                name=op.f("fk_paper_orders_portfolio_id_paper_portfolios")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_orders")),
        sa.UniqueConstraint("portfolio_id", "idempotency_key", name=op.f("uq_paper_orders_portfolio_id_idempotency_key")),
    )
    op.create_index(op.f("ix_paper_orders_portfolio_id"), "paper_orders", ["portfolio_id"])
    op.create_index(op.f("ix_paper_orders_symbol"), "paper_orders", ["symbol"])
    op.create_index(op.f("ix_paper_orders_status"), "paper_orders", ["status"])
    op.create_table(
        "paper_fills",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("portfolio_id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(20), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("gross", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("tax", sa.BigInteger(), nullable=False),
        sa.Column("cash", sa.BigInteger(), nullable=False),
        sa.Column("realized_pnl", sa.BigInteger(), nullable=False),
        sa.Column("trading_day", sa.Date(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["paper_orders.id"], ondelete="CASCADE",
                                name=op.f("fk_paper_fills_order_id_paper_orders")),
        sa.ForeignKeyConstraint(["portfolio_id"], ["paper_portfolios.id"], ondelete="CASCADE",
                                name=op.f("fk_paper_fills_portfolio_id_paper_portfolios")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_fills")),
    )
    op.create_index(op.f("ix_paper_fills_order_id"), "paper_fills", ["order_id"])
    op.create_index(op.f("ix_paper_fills_portfolio_id"), "paper_fills", ["portfolio_id"])
    op.create_table(
        "paper_lots",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("portfolio_id", sa.Integer(), nullable=False),
        sa.Column("fill_id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(20), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("sellable_from", sa.Date(), nullable=False),
        sa.CheckConstraint("remaining >= 0 AND remaining <= quantity", name=op.f("ck_paper_lots_remaining")),
        sa.ForeignKeyConstraint(["fill_id"], ["paper_fills.id"], ondelete="CASCADE",
                                name=op.f("fk_paper_lots_fill_id_paper_fills")),
        sa.ForeignKeyConstraint(["portfolio_id"], ["paper_portfolios.id"], ondelete="CASCADE",
                                name=op.f("fk_paper_lots_portfolio_id_paper_portfolios")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_lots")),
    )
    op.create_index(op.f("ix_paper_lots_portfolio_id"), "paper_lots", ["portfolio_id"])
    op.create_table(
        "paper_snapshots",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("portfolio_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trading_day", sa.Date(), nullable=False),
        sa.Column("cash", sa.BigInteger(), nullable=False),
        sa.Column("market_value", sa.BigInteger(), nullable=False),
        sa.Column("equity", sa.BigInteger(), nullable=False),
        sa.Column("net_deposits", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["portfolio_id"], ["paper_portfolios.id"], ondelete="CASCADE",
                                name=op.f("fk_paper_snapshots_portfolio_id_paper_portfolios")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_snapshots")),
    )
    op.create_index(op.f("ix_paper_snapshots_portfolio_id"), "paper_snapshots", ["portfolio_id"])
    op.create_table(
        "paper_strategies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("portfolio_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("symbols", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("auto_execute", sa.Boolean(), nullable=False),
        sa.Column("lots", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["portfolio_id"], ["paper_portfolios.id"], ondelete="CASCADE",
                                name=op.f("fk_paper_strategies_portfolio_id_paper_portfolios")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_strategies")),
    )
    op.create_index(op.f("ix_paper_strategies_portfolio_id"), "paper_strategies", ["portfolio_id"])
    op.create_table(
        "paper_signals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("strategy_id", sa.Integer(), nullable=False),
        sa.Column("portfolio_id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(20), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(300), nullable=False),
        sa.ForeignKeyConstraint(["strategy_id"], ["paper_strategies.id"], ondelete="CASCADE",
                                name=op.f("fk_paper_signals_strategy_id_paper_strategies")),
        sa.ForeignKeyConstraint(["portfolio_id"], ["paper_portfolios.id"], ondelete="CASCADE",
                                name=op.f("fk_paper_signals_portfolio_id_paper_portfolios")),
        sa.ForeignKeyConstraint(["order_id"], ["paper_orders.id"], ondelete="SET NULL",
                                name=op.f("fk_paper_signals_order_id_paper_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_signals")),
    )
    op.create_index(op.f("ix_paper_signals_strategy_id"), "paper_signals", ["strategy_id"])
    op.create_index(op.f("ix_paper_signals_portfolio_id"), "paper_signals", ["portfolio_id"])


def downgrade() -> None:
    for table in ("paper_signals", "paper_strategies", "paper_snapshots", "paper_lots", "paper_fills", "paper_orders", "paper_cash_moves", "paper_portfolios"):
        op.drop_table(table)
