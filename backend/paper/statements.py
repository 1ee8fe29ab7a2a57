"""The ledger's SQL for orders and fills, built once with every value a bound parameter.

An order that fills runs these on every call, and building a SQLAlchemy statement costs several
times what running it on SQLite does; built once, a call only binds its values. The reads that
follow the portfolio's lock are few and each gathers what the order is checked against in one
round trip (on PostgreSQL each statement after the lock sees what the transaction before it
committed, which is why the lock is its own statement and comes first).
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import ColumnElement, Table, bindparam, func, insert, literal_column, select, update

from backend.meta.models import PaperFill, PaperLot, PaperOrder, PaperPortfolio

WORKING: Final = ("pending", "open", "partially_filled")
PORTFOLIOS: Table = PaperPortfolio.__table__  # type: ignore[assignment]
ORDERS: Table = PaperOrder.__table__  # type: ignore[assignment]
FILLS: Table = PaperFill.__table__  # type: ignore[assignment]
LOTS: Table = PaperLot.__table__  # type: ignore[assignment]

# the working statuses written into the SQL: a list bound at each call costs more to expand than
# the query takes to run (they are the ledger's own constants, never anything a user sent)
IS_WORKING: ColumnElement[bool] = ORDERS.c.status.in_([literal_column(repr(status)) for status in WORKING])

LOCK = select(PORTFOLIOS).where(PORTFOLIOS.c.id == bindparam("pid"))
LOCK_FOR_UPDATE = LOCK.with_for_update()

RESERVED = select(func.coalesce(func.sum(ORDERS.c.reserved_cash), 0)).where(
    ORDERS.c.portfolio_id == bindparam("pid"), IS_WORKING)
# shares that working sell orders of a symbol may still sell (all but ``skip``: -1 skips none)
COMMITTED = select(func.coalesce(func.sum(ORDERS.c.quantity - ORDERS.c.filled_quantity), 0)).where(
    ORDERS.c.portfolio_id == bindparam("pid"), ORDERS.c.symbol == bindparam("symbol"), ORDERS.c.side == "sell",
    IS_WORKING, ORDERS.c.id != bindparam("skip"))
KEYED = select(ORDERS.c.id).where(ORDERS.c.portfolio_id == bindparam("pid"),
                                  ORDERS.c.idempotency_key == bindparam("key"))
# cash held by working buys, shares held by working sells of the symbol, and the order a key names
BOOK = select(RESERVED.scalar_subquery(), COMMITTED.scalar_subquery(), KEYED.scalar_subquery())
# the portfolio with the same three, in one read: SQLite's write transaction holds the database's
# lock from its BEGIN, so nothing can come between reading the row and reading its orders
LOCKED_BOOK = select(PORTFOLIOS, RESERVED.scalar_subquery().label("held_cash"),
                     COMMITTED.scalar_subquery().label("held_shares"), KEYED.scalar_subquery().label("keyed")
                     ).where(PORTFOLIOS.c.id == bindparam("pid"))

# a portfolio's lots of a symbol that can be sold on ``day``, oldest first (FIFO)
SELLABLE_LOTS = select(LOTS.c.id, LOTS.c.remaining, LOTS.c.price).where(
    LOTS.c.portfolio_id == bindparam("pid"), LOTS.c.symbol == bindparam("symbol"), LOTS.c.remaining > 0,
    LOTS.c.sellable_from <= bindparam("day")).order_by(LOTS.c.id)

ORDER = select(ORDERS).where(ORDERS.c.id == bindparam("oid"))
ORDER_OF = select(ORDERS).where(ORDERS.c.id == bindparam("oid"), ORDERS.c.portfolio_id == bindparam("pid"))
INSERT_ORDER = insert(ORDERS)
# an order's columns set from the keys of the values it runs with (besides ``oid``)
UPDATE_ORDER = update(ORDERS).where(ORDERS.c.id == bindparam("oid"))

INSERT_FILLS = insert(FILLS).returning(FILLS.c.id, sort_by_parameter_order=True)
INSERT_LOTS = insert(LOTS)
UPDATE_LOT = update(LOTS).where(LOTS.c.id == bindparam("lot"))  # with ``remaining``
# what a call's fills did to the portfolio's running totals, added in one statement
ADD_TO_PORTFOLIO = update(PORTFOLIOS).where(PORTFOLIOS.c.id == bindparam("pid")).values(
    cash=PORTFOLIOS.c.cash + bindparam("cash_moved"), realized_pnl=PORTFOLIOS.c.realized_pnl + bindparam("realised"),
    fees=PORTFOLIOS.c.fees + bindparam("fee_paid"), taxes=PORTFOLIOS.c.taxes + bindparam("tax_paid"))

__all__ = ["ADD_TO_PORTFOLIO", "BOOK", "COMMITTED", "FILLS", "INSERT_FILLS", "INSERT_LOTS",
           "INSERT_ORDER", "IS_WORKING", "LOCK", "LOCKED_BOOK", "LOCK_FOR_UPDATE", "LOTS", "ORDER", "ORDERS", "ORDER_OF", "PORTFOLIOS",
           "RESERVED", "SELLABLE_LOTS", "UPDATE_LOT", "UPDATE_ORDER", "WORKING"]
