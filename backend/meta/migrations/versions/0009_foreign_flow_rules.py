"""Alert rules of two kinds: a price level (above / below a price) and a symbol's foreign flow
accelerating (buy / sell, no price). Every rule stored before is a price rule.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SHAPE = ("(kind = 'price' AND op IN ('above', 'below') AND price IS NOT NULL AND price > 0) OR "
         "(kind = 'foreign' AND op IN ('buy', 'sell') AND price IS NULL)")


def upgrade() -> None:
    with op.batch_alter_table("price_rules") as batch:
        batch.drop_constraint(op.f("ck_price_rules_op"), type_="check")
        batch.drop_constraint(op.f("ck_price_rules_price"), type_="check")
        batch.add_column(sa.Column("kind", sa.String(16), server_default="price", nullable=False))
        batch.alter_column("price", existing_type=sa.Float(), nullable=True)
        batch.create_check_constraint(op.f("ck_price_rules_op"), "op IN ('above', 'below', 'buy', 'sell')")
        batch.create_check_constraint(op.f("ck_price_rules_kind"), "kind IN ('price', 'foreign')")
        batch.create_check_constraint(op.f("ck_price_rules_shape"), SHAPE)


def downgrade() -> None:
    # The older schema holds price rules only: foreign-flow rules cannot go back with it.
    op.execute(sa.text("DELETE FROM price_rules WHERE kind <> 'price'"))
    with op.batch_alter_table("price_rules") as batch:
        batch.drop_constraint(op.f("ck_price_rules_shape"), type_="check")
        batch.drop_constraint(op.f("ck_price_rules_kind"), type_="check")
        batch.drop_constraint(op.f("ck_price_rules_op"), type_="check")
        batch.drop_column("kind")
        batch.alter_column("price", existing_type=sa.Float(), nullable=False)
        batch.create_check_constraint(op.f("ck_price_rules_op"), "op IN ('above', 'below')")
        batch.create_check_constraint(op.f("ck_price_rules_price"), "price > 0")
