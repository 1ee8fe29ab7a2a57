"""The paper ledger: portfolios, their cash, orders, fills and FIFO lots, in the records store.

Every change to a portfolio happens in one write transaction that first locks the portfolio's
row (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's write transactions begin ``IMMEDIATE`` and so
queue one behind another), so two orders placed at once can never spend the same cash or sell
the same shares: the second reads what the first left.

Amounts are whole đồng. A buy fill moves ``−(gross + fee)`` to cash and opens a lot sellable from
T+2; a sell fill closes lots oldest first (FIFO), realises ``Σ (price − lot price) × shares`` and
moves ``gross − fee − tax`` to cash. So after every fill, exactly:

    cash + Σ market value = equity
    equity = net deposits + realised P&L + unrealised P&L − fees − taxes

(unrealised P&L being ``Σ (market price − lot price) × remaining`` over the open lots).

Cash for what a working buy order may still spend is held (``reserved_cash``), and shares a
working sell order may still sell are counted against what is sellable, so an order is refused
when it would need what another already holds. An order sent again with the same idempotency
key returns the first one and trades nothing.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import Connection, Table, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from backend.market.events import Phase
from backend.market.reference import vn_day
from backend.meta.models import PaperCashMove, PaperFill, PaperLot, PaperOrder, PaperPortfolio, PaperSnapshot
from backend.meta.store import MetaStore
from backend.paper.calendar import TradingCalendar
from backend.paper.matching import crosses, joins_auction, triggered, walk
from backend.paper.money import DEFAULT_COMMISSION, DEFAULT_SALES_TAX, Charges, rate
from backend.paper.orders import OrderError, OrderRequest, check_prices, parse_order
from backend.paper.performance import performance
from backend.paper.quotes import Level, Quote

DEFAULT_CASH: Final = 1_000_000_000  # 1 billion đồng
CASH_MAX: Final = 10**15
NAME_MAX: Final = 80
NAME_PATTERN: Final = r"^[\w][\w .,()&-]*$"  # a label: letters (Vietnamese too), digits and a little punctuation
WORKING: Final = ("pending", "open", "partially_filled")
PORTFOLIOS: Table = PaperPortfolio.__table__  # type: ignore[assignment]
MOVES: Table = PaperCashMove.__table__  # type: ignore[assignment]
ORDERS: Table = PaperOrder.__table__  # type: ignore[assignment]
FILLS: Table = PaperFill.__table__  # type: ignore[assignment]
LOTS: Table = PaperLot.__table__  # type: ignore[assignment]
SNAPSHOTS: Table = PaperSnapshot.__table__  # type: ignore[assignment]
AUCTIONS: Final = {Phase.ATO: "ato", Phase.ATC: "atc"}
OUT_OF_HOURS: Final = {Phase.PRE_OPEN: "before the open", Phase.LUNCH: "at its lunch break",
                       Phase.PUT_THROUGH: "closed to new orders (put-through only)",
                       Phase.CLOSED: "closed"}


class PortfolioNotFound(LookupError):
    """No such portfolio for this owner (another user's portfolio is not found either)."""


@dataclass(frozen=True)
class Placed:
    order: dict[str, Any]
    fills: list[dict[str, Any]]
    repeated: bool = False  # the idempotency key had been used: this is the first order, unchanged


def _whole(name: str, value: object, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise OrderError(f"{name}: a whole number of đồng, got {str(value)[:40]!r}")
    if not low <= value <= high:
        raise OrderError(f"{name}: from {low:,} to {high:,}, got {value:,}")
    return value


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    """A stored time as ISO text in UTC (SQLite gives it back without its zone)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


class Ledger:
    def __init__(self, meta: MetaStore, *, calendar: TradingCalendar | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.meta = meta
        self.calendar = calendar or TradingCalendar()
        self.clock = clock

    # -- portfolios ------------------------------------------------------------------------------

    def create(self, owner: str, name: str, cash: int = DEFAULT_CASH, *, commission: object = DEFAULT_COMMISSION,
               sales_tax: object = DEFAULT_SALES_TAX) -> dict[str, Any]:
        name = name.strip() if isinstance(name, str) else name
        if not isinstance(name, str) or not 1 <= len(name) <= NAME_MAX or not re.fullmatch(NAME_PATTERN, name):
            raise OrderError(f"name: 1 to {NAME_MAX} letters, digits, spaces and . , - _ ( ) &")
        cash = _whole("cash", cash, low=0, high=CASH_MAX)
        try:
            commission, sales_tax = rate(commission, "commission"), rate(sales_tax, "sales_tax")
        except ValueError as exc:
            raise OrderError(str(exc)) from None
        try:
            with self.meta.write() as conn:
                pid = conn.execute(insert(PORTFOLIOS).values(
                    owner=owner, name=name, cash=cash, net_deposits=cash, realized_pnl=0, fees=0, taxes=0,
                    commission=str(commission), sales_tax=str(sales_tax), created_at=_now())).inserted_primary_key[0]
                conn.execute(insert(MOVES).values(portfolio_id=pid, kind="open", amount=cash, at=_now()))
        except IntegrityError:
            raise OrderError(f"name: you already have a portfolio called {name!r}") from None
        return self.portfolio(pid, owner)

    def portfolios(self, owner: str) -> list[dict[str, Any]]:
        with self.meta.read() as conn:
            rows = conn.execute(select(PORTFOLIOS).where(PORTFOLIOS.c.owner == owner).order_by(PORTFOLIOS.c.id))
            return [self._public(r._mapping) for r in rows]

    def portfolio(self, pid: int, owner: str) -> dict[str, Any]:
        with self.meta.read() as conn:
            return self._public(self._find(conn, pid, owner))

    def charges(self, pid: int, owner: str) -> Charges:
        with self.meta.read() as conn:
            self._find(conn, pid, owner)
            return self._charges(conn, pid)

    def move_cash(self, pid: int, owner: str, amount: object, kind: str) -> dict[str, Any]:
        """A deposit (``amount`` > 0) or a withdrawal of what is free (not held by working buys)."""
        amount = _whole("amount", amount, low=1, high=CASH_MAX)
        signed = amount if kind == "deposit" else -amount
        with self.meta.write() as conn:
            row = self._lock(conn, pid, owner)
            free = row["cash"] - self._reserved(conn, pid)
            if signed < 0 and amount > free:
                raise OrderError(f"amount: {amount:,} đồng is more than the {free:,} free to withdraw")
            conn.execute(update(PORTFOLIOS).where(PORTFOLIOS.c.id == pid).values(
                cash=row["cash"] + signed, net_deposits=row["net_deposits"] + signed))
            conn.execute(insert(MOVES).values(portfolio_id=pid, kind=kind, amount=signed, at=_now()))
        return self.portfolio(pid, owner)

    def reset(self, pid: int, owner: str, cash: int | None = None) -> dict[str, Any]:
        """Start again: orders, fills and lots gone, cash back to ``cash`` (the opening amount)."""
        with self.meta.write() as conn:
            row = self._lock(conn, pid, owner)
            opening = conn.execute(select(MOVES.c.amount).where(MOVES.c.portfolio_id == pid, MOVES.c.kind == "open")
                                   ).scalar_one()
            cash = opening if cash is None else _whole("cash", cash, low=0, high=CASH_MAX)
            for table in (SNAPSHOTS, LOTS, FILLS, ORDERS, MOVES):
                conn.execute(table.delete().where(table.c.portfolio_id == pid))
            conn.execute(update(PORTFOLIOS).where(PORTFOLIOS.c.id == row["id"]).values(
                cash=cash, net_deposits=cash, realized_pnl=0, fees=0, taxes=0, reset_at=_now()))
            conn.execute(insert(MOVES).values(portfolio_id=pid, kind="open", amount=cash, at=_now()))
        return self.portfolio(pid, owner)

    # -- positions --------------------------------------------------------------------------------

    def positions(self, pid: int, owner: str, prices: Callable[[str], int | None], today: date | None = None
                  ) -> dict[str, Any]:
        """The portfolio with its positions marked at ``prices(symbol)`` (the last matched price;
        a symbol with none is marked at its average cost) and both identities' terms."""
        today = today or self._today()
        with self.meta.read() as conn:
            row = self._find(conn, pid, owner)
            lots = conn.execute(select(LOTS).where(LOTS.c.portfolio_id == pid, LOTS.c.remaining > 0)
                                .order_by(LOTS.c.id)).all()
            realised = dict(conn.execute(select(FILLS.c.symbol, func.sum(FILLS.c.realized_pnl))
                                         .where(FILLS.c.portfolio_id == pid).group_by(FILLS.c.symbol)).all())
        by_symbol: dict[str, list[Any]] = {}
        for lot in lots:
            by_symbol.setdefault(lot.symbol, []).append(lot)
        positions = []
        for symbol in sorted(set(by_symbol) | {s for s, v in realised.items() if v}):
            held = by_symbol.get(symbol, [])
            quantity = sum(lot.remaining for lot in held)
            cost = sum(lot.remaining * lot.price for lot in held)
            market = prices(symbol) if held else None
            mark = market if market is not None else (cost // quantity if quantity else 0)
            positions.append({
                "symbol": symbol, "quantity": quantity,
                "sellable_quantity": sum(lot.remaining for lot in held if lot.sellable_from <= today),
                "avg_price": round(cost / quantity, 2) if quantity else None, "market_price": market,
                "market_value": quantity * mark if market is not None else cost,
                "cost": cost, "unrealized_pnl": (quantity * mark - cost) if market is not None else 0,
                "realized_pnl": int(realised.get(symbol) or 0)})
        out = self._public(row)
        market_value = sum(p["market_value"] for p in positions)
        unrealised = sum(p["unrealized_pnl"] for p in positions)
        out.update(positions=positions, market_value=market_value, unrealized_pnl=unrealised,
                   equity=row["cash"] + market_value)
        return out

    # -- value over time ----------------------------------------------------------------------------

    def snapshot_all(self, prices: Callable[[str], int | None], today: date | None = None) -> int:
        """Keep every portfolio's value now (the matcher does it every 60 s); how many were kept."""
        today = today or self._today()
        with self.meta.read() as conn:
            owners = conn.execute(select(PORTFOLIOS.c.id, PORTFOLIOS.c.owner)).all()
        at = _now()
        rows = []
        for pid, owner in owners:
            book = self.positions(pid, owner, prices, today)
            rows.append({"portfolio_id": pid, "at": at, "trading_day": today, "cash": book["cash"],
                         "market_value": book["market_value"], "equity": book["equity"],
                         "net_deposits": book["net_deposits"]})
        if rows:
            with self.meta.write() as conn:
                conn.execute(insert(SNAPSHOTS), rows)
        return len(rows)

    def performance(self, pid: int, owner: str, prices: Callable[[str], int | None],
                    today: date | None = None) -> dict[str, Any]:
        """``backend.paper.performance`` over the snapshots and the value now as today's point."""
        today = today or self._today()
        book = self.positions(pid, owner, prices, today)
        with self.meta.read() as conn:
            snaps = conn.execute(select(SNAPSHOTS.c.trading_day, SNAPSHOTS.c.equity, SNAPSHOTS.c.net_deposits)
                                 .where(SNAPSHOTS.c.portfolio_id == pid).order_by(SNAPSHOTS.c.id)).all()
            sells = [dict(r._mapping) for r in conn.execute(select(FILLS.c.realized_pnl, FILLS.c.gross).where(
                FILLS.c.portfolio_id == pid, FILLS.c.side == "sell").order_by(FILLS.c.id))]
        points = [(d, int(e), int(n)) for d, e, n in snaps] + [(today, book["equity"], book["net_deposits"])]
        return {"id": pid, "equity": book["equity"], **performance(points, sells)}

    # -- orders -----------------------------------------------------------------------------------

    def place(self, pid: int, owner: str, raw: Any, quote: Quote | None) -> Placed:
        """Place an order at the board's prices (``quote``: the symbol's, now). An ``OrderError``
        says why an order is refused, and then nothing is changed."""
        order = parse_order(raw)
        if quote is None or quote.symbol != order.symbol:
            raise OrderError(f"symbol: {order.symbol} is not on the board")
        check_prices(order, quote)
        with self.meta.write() as conn:
            self._lock(conn, pid, owner)
            if order.idempotency_key is not None:
                seen = conn.execute(select(ORDERS).where(ORDERS.c.portfolio_id == pid,
                                                         ORDERS.c.idempotency_key == order.idempotency_key)).first()
                if seen is not None:
                    return Placed(self._order(seen._mapping), self._fills_of(conn, seen.id), repeated=True)
            session = self._session(order, quote)
            fills: list[Level] = []
            rest_price = order.limit_price
            if session == "continuous" and order.type in ("market", "limit"):
                fills = walk(order.side, order.quantity, order.limit_price, quote)
                if order.type == "market":
                    if not fills:
                        side = "offers" if order.side == "buy" else "bids"
                        raise OrderError(f"type: there are no {side} for {order.symbol} on the board "
                                         "to fill a market order; place a limit order")
                    rest_price = fills[-1][0]  # the remainder rests at the last price filled (market-to-limit)
            self._affordable(conn, pid, order, quote, fills, rest_price)
            left = order.quantity - sum(q for _, q in fills)
            status = "filled" if left == 0 else (
                "pending" if session != "continuous" or order.type in ("stop", "stop_limit") else
                "partially_filled" if fills else "open")
            oid = conn.execute(insert(ORDERS).values(
                portfolio_id=pid, idempotency_key=order.idempotency_key, symbol=order.symbol, side=order.side,
                type=order.type, quantity=order.quantity, filled_quantity=0, limit_price=rest_price,
                stop_price=order.stop_price, time_in_force=order.time_in_force, session=session, status=status,
                reason=(f"the rest waits at {rest_price:,} (market to limit)"
                        if session == "continuous" and order.type == "market" and left else ""),
                reserved_cash=0, trading_day=quote.day, created_at=_now(), updated_at=_now()
            )).inserted_primary_key[0]
            made = [self._fill(conn, pid, oid, order.symbol, order.side, price, shares, quote.day)
                    for price, shares in fills]
            self._settle_order(conn, oid, quote.ceiling)
            return Placed(self._order(self._order_row(conn, oid)), made)

    def cancel(self, pid: int, owner: str, oid: int) -> dict[str, Any]:
        with self.meta.write() as conn:
            self._lock(conn, pid, owner)
            row = conn.execute(select(ORDERS).where(ORDERS.c.id == oid, ORDERS.c.portfolio_id == pid)).first()
            if row is None:
                raise PortfolioNotFound(f"order {oid} is not in portfolio {pid}")
            if row.status not in WORKING:
                raise OrderError(f"order {oid} is {row.status.replace('_', ' ')}: there is nothing left to cancel")
            self._end(conn, oid, "cancelled", "cancelled by the trader")
            return self._order(self._order_row(conn, oid))

    def orders(self, pid: int, owner: str, *, working: bool | None = None) -> list[dict[str, Any]]:
        with self.meta.read() as conn:
            self._find(conn, pid, owner)
            query = select(ORDERS).where(ORDERS.c.portfolio_id == pid).order_by(ORDERS.c.id.desc())
            if working is not None:
                query = query.where(ORDERS.c.status.in_(WORKING) if working else ORDERS.c.status.not_in(WORKING))
            return [self._order(r._mapping) for r in conn.execute(query)]

    def history(self, pid: int, owner: str) -> list[dict[str, Any]]:
        """Every fill, oldest first, with its cash, fee, tax and the P&L it realised."""
        with self.meta.read() as conn:
            self._find(conn, pid, owner)
            rows = conn.execute(select(FILLS).where(FILLS.c.portfolio_id == pid).order_by(FILLS.c.id))
            return [self._fill_public(r._mapping) for r in rows]

    # -- the board moves ---------------------------------------------------------------------------

    def on_quote(self, quote: Quote) -> list[dict[str, Any]]:
        """Work every working order on ``quote``'s symbol against it: fills, triggered stops,
        auctions, day orders expired. The fills made, in order."""
        with self.meta.read() as conn:
            ids = conn.execute(select(ORDERS.c.id, ORDERS.c.portfolio_id).where(
                ORDERS.c.symbol == quote.symbol, ORDERS.c.status.in_(WORKING)).order_by(ORDERS.c.id)).all()
        made: list[dict[str, Any]] = []
        for oid, pid in ids:
            with self.meta.write() as conn:
                self._lock(conn, pid, None)
                row = self._order_row(conn, oid)
                if row["status"] in WORKING:
                    made += self._work(conn, row, quote)
        return made

    def expire_day(self, day: date) -> int:
        """End the day orders of trading days before ``day`` (and of ``day`` itself once closed)."""
        with self.meta.write() as conn:
            rows = conn.execute(select(ORDERS.c.id).where(ORDERS.c.status.in_(WORKING),
                                                           ORDERS.c.time_in_force == "day",
                                                           ORDERS.c.trading_day <= day)).all()
            for (oid,) in rows:
                self._end(conn, oid, "expired", "a day order: expired at the close")
        return len(rows)

    def _work(self, conn: Connection, row: dict[str, Any], quote: Quote) -> list[dict[str, Any]]:
        oid, side, left = row["id"], row["side"], row["quantity"] - row["filled_quantity"]
        pid, symbol = row["portfolio_id"], row["symbol"]
        session = row["session"]
        # a day order lives until its session's day closes; one waiting for the next session
        # (sent at lunch, before the open or after the close) has not had its day yet
        closed = quote.phase in (Phase.PUT_THROUGH, Phase.CLOSED)
        if row["time_in_force"] == "day" and session != "queued" and (
                row["trading_day"] < quote.day or (closed and session == "continuous")):
            self._end(conn, oid, "expired", "a day order: expired at the close")
            return []
        fills: list[Level] = []
        if session in ("ato", "atc"):
            price = self._auction_price(session, quote)
            if price is None:
                return []
            if joins_auction(side, row["limit_price"], price):
                fills = [(price, left)]
            elif row["type"] == "market":
                self._end(conn, oid, "cancelled", f"the {session.upper()} auction did not fill it")
                return []
            self._set(conn, oid, session="continuous")
        elif session == "queued":
            if quote.phase in AUCTIONS:
                self._set(conn, oid, session=AUCTIONS[quote.phase], trading_day=quote.day)
                return []
            if quote.phase != Phase.CONTINUOUS:
                return []
            self._set(conn, oid, session="continuous", trading_day=quote.day)
            if row["type"] in ("market", "limit"):
                fills = self._enter(conn, row, quote, left)
        elif quote.phase != Phase.CONTINUOUS:
            return []
        elif row["type"] in ("stop", "stop_limit") and row["status"] == "pending":
            if not triggered(side, row["stop_price"], quote):
                return []
            self._set(conn, oid, type="market" if row["type"] == "stop" else "limit",
                      reason=f"stop {row['stop_price']:,} reached at {quote.last:,}")
            fills = self._enter(conn, {**row, "type": "market" if row["type"] == "stop" else "limit"}, quote, left)
        elif row["limit_price"] is not None and crosses(side, row["limit_price"], quote):
            fills = [(row["limit_price"], left)]
        made = [self._fill(conn, pid, oid, symbol, side, price, shares, quote.day) for price, shares in fills]
        self._settle_order(conn, oid, quote.ceiling)
        return made

    def _enter(self, conn: Connection, row: dict[str, Any], quote: Quote, left: int) -> list[Level]:
        """A working order that reaches the market now: walk the book, rest what is left."""
        limit = row["limit_price"] if row["type"] == "limit" else None
        fills = walk(row["side"], left, limit, quote)
        if row["type"] == "market":
            if not fills:
                self._end(conn, row["id"], "cancelled", "no opposite quotes on the board to fill it")
                return []
            self._set(conn, row["id"], limit_price=fills[-1][0], type="limit")
        # a buy can only spend what it held and what is free: fills beyond that are not made
        if row["side"] == "buy":
            charges = self._charges(conn, row["portfolio_id"])
            budget = self._free_cash(conn, row["portfolio_id"]) + row["reserved_cash"]
            kept = []
            for price, shares in fills:
                cost = price * shares + charges.fee(price * shares)
                if cost > budget:
                    break
                budget -= cost
                kept.append((price, shares))
            fills = kept
        else:
            sellable = self._sellable(conn, row["portfolio_id"], row["symbol"], quote.day, exclude=row["id"])
            kept, room = [], sellable
            for price, shares in fills:
                take = min(shares, room)
                if take:
                    kept.append((price, take))
                room -= take
            fills = kept
        return fills

    # -- bookkeeping -------------------------------------------------------------------------------

    def _session(self, order: OrderRequest, quote: Quote) -> str:
        if quote.phase == Phase.CONTINUOUS:
            return "continuous"
        if quote.phase in AUCTIONS and order.type in ("market", "limit"):
            return AUCTIONS[quote.phase]
        if quote.phase in AUCTIONS:  # a stop order waits for the continuous session
            return "continuous"
        if order.outside_hours == "reject":
            raise OrderError(f"outside_hours: the market is {OUT_OF_HOURS.get(quote.phase, 'closed')}; "
                             "the order was not placed (send it with outside_hours=queue to wait for the "
                             "next session)")
        return "queued"

    def _affordable(self, conn: Connection, pid: int, order: OrderRequest, quote: Quote, fills: list[Level],
                    rest_price: int | None) -> None:
        if order.side == "sell":
            sellable = self._sellable(conn, pid, order.symbol, quote.day)
            if order.quantity > sellable:
                arriving = self._arriving(conn, pid, order.symbol, quote.day)
                later = f"; {arriving[1]:,} more become sellable on {arriving[0]}" if arriving else ""
                raise OrderError(f"quantity: {order.quantity:,} shares of {order.symbol} to sell, "
                                 f"{sellable:,} can be sold now{later}")
            return
        charges = self._charges(conn, pid)
        need = sum(p * q + charges.fee(p * q) for p, q in fills)
        left = order.quantity - sum(q for _, q in fills)
        bound = rest_price if rest_price is not None else quote.ceiling  # a stop buy may pay up to the ceiling
        need += left * bound + charges.fee(left * bound)
        free = self._free_cash(conn, pid)
        if need > free:
            raise OrderError(f"cash: this order needs up to {need:,} đồng with fees, {free:,} is free")

    def _fill(self, conn: Connection, pid: int, oid: int, symbol: str, side: str, price: int, shares: int,
              day: date) -> dict[str, Any]:
        charges = self._charges(conn, pid)
        gross = price * shares
        fee, tax = charges.fee(gross), charges.tax(gross, side)
        realised = 0
        if side == "sell":
            left = shares
            lots = conn.execute(select(LOTS).where(LOTS.c.portfolio_id == pid, LOTS.c.symbol == symbol,
                                                   LOTS.c.remaining > 0, LOTS.c.sellable_from <= day)
                                .order_by(LOTS.c.id)).all()
            for lot in lots:
                take = min(left, lot.remaining)
                realised += (price - lot.price) * take
                conn.execute(update(LOTS).where(LOTS.c.id == lot.id).values(remaining=lot.remaining - take))
                left -= take
                if left == 0:
                    break
            if left:  # checked before: a sell never closes more than the sellable lots hold
                raise OrderError(f"quantity: {left:,} shares of {symbol} are not sellable")
        cash = gross - fee - tax if side == "sell" else -(gross + fee)
        at = _now()
        fid = conn.execute(insert(FILLS).values(
            order_id=oid, portfolio_id=pid, symbol=symbol, side=side, quantity=shares, price=price, gross=gross,
            fee=fee, tax=tax, cash=cash, realized_pnl=realised, trading_day=day, at=at)).inserted_primary_key[0]
        if side == "buy":
            conn.execute(insert(LOTS).values(portfolio_id=pid, fill_id=fid, symbol=symbol, quantity=shares,
                                             remaining=shares, price=price, sellable_from=self.calendar.settles(day)))
        conn.execute(update(PORTFOLIOS).where(PORTFOLIOS.c.id == pid).values(
            cash=PORTFOLIOS.c.cash + cash, realized_pnl=PORTFOLIOS.c.realized_pnl + realised,
            fees=PORTFOLIOS.c.fees + fee, taxes=PORTFOLIOS.c.taxes + tax))
        conn.execute(update(ORDERS).where(ORDERS.c.id == oid).values(
            filled_quantity=ORDERS.c.filled_quantity + shares, updated_at=at))
        return {"id": fid, "order_id": oid, "symbol": symbol, "side": side, "quantity": shares, "price": price,
                "gross": gross, "fee": fee, "tax": tax, "cash": cash, "realized_pnl": realised,
                "trading_day": day.isoformat(), "at": _iso(at)}

    def _settle_order(self, conn: Connection, oid: int, ceiling: int) -> None:
        """The order's status from what is filled and what it waits for, and the cash it holds for
        what is left: at its limit, or — a market or stop buy with no limit — the day's ceiling."""
        row = self._order_row(conn, oid)
        if row["status"] not in WORKING:
            return
        left = row["quantity"] - row["filled_quantity"]
        waiting = row["session"] in ("queued", "ato", "atc") or row["type"] in ("stop", "stop_limit")
        status = ("filled" if left == 0 else "pending" if waiting else
                  "partially_filled" if row["filled_quantity"] else "open")
        reserve = 0
        if row["side"] == "buy" and left:
            charges = self._charges(conn, row["portfolio_id"])
            price = row["limit_price"] if row["limit_price"] is not None else ceiling
            reserve = left * price + charges.fee(left * price)
        self._set(conn, oid, status=status, reserved_cash=reserve)

    def _end(self, conn: Connection, oid: int, status: str, reason: str) -> None:
        self._set(conn, oid, status=status, reason=reason, reserved_cash=0)

    def _set(self, conn: Connection, oid: int, **values: Any) -> None:
        conn.execute(update(ORDERS).where(ORDERS.c.id == oid).values(updated_at=_now(), **values))

    def _auction_price(self, session: str, quote: Quote) -> int | None:
        if session == "ato" and quote.phase not in (Phase.PRE_OPEN, Phase.ATO):
            return quote.open
        if session == "atc" and quote.phase in (Phase.PUT_THROUGH, Phase.CLOSED):
            return quote.last
        return None

    def _reserved(self, conn: Connection, pid: int) -> int:
        return int(conn.execute(select(func.coalesce(func.sum(ORDERS.c.reserved_cash), 0)).where(
            ORDERS.c.portfolio_id == pid, ORDERS.c.status.in_(WORKING))).scalar_one())

    def _free_cash(self, conn: Connection, pid: int) -> int:
        cash = conn.execute(select(PORTFOLIOS.c.cash).where(PORTFOLIOS.c.id == pid)).scalar_one()
        return int(cash) - self._reserved(conn, pid)

    def _sellable(self, conn: Connection, pid: int, symbol: str, day: date, exclude: int | None = None) -> int:
        """Shares settled by ``day`` less what working sell orders (but ``exclude``) may still sell."""
        held = conn.execute(select(func.coalesce(func.sum(LOTS.c.remaining), 0)).where(
            LOTS.c.portfolio_id == pid, LOTS.c.symbol == symbol, LOTS.c.sellable_from <= day)).scalar_one()
        query = select(func.coalesce(func.sum(ORDERS.c.quantity - ORDERS.c.filled_quantity), 0)).where(
            ORDERS.c.portfolio_id == pid, ORDERS.c.symbol == symbol, ORDERS.c.side == "sell",
            ORDERS.c.status.in_(WORKING))
        if exclude is not None:
            query = query.where(ORDERS.c.id != exclude)
        return int(held) - int(conn.execute(query).scalar_one())

    def _arriving(self, conn: Connection, pid: int, symbol: str, day: date) -> tuple[date, int] | None:
        row = conn.execute(select(LOTS.c.sellable_from, func.sum(LOTS.c.remaining)).where(
            LOTS.c.portfolio_id == pid, LOTS.c.symbol == symbol, LOTS.c.sellable_from > day, LOTS.c.remaining > 0)
            .group_by(LOTS.c.sellable_from).order_by(LOTS.c.sellable_from)).first()
        return (row[0], int(row[1])) if row else None

    def _charges(self, conn: Connection, pid: int) -> Charges:
        row = conn.execute(select(PORTFOLIOS.c.commission, PORTFOLIOS.c.sales_tax).where(PORTFOLIOS.c.id == pid)
                           ).one()
        return Charges(Decimal(row.commission), Decimal(row.sales_tax))

    def _lock(self, conn: Connection, pid: int, owner: str | None) -> dict[str, Any]:
        """The portfolio's row, locked for this transaction (and checked to be ``owner``'s)."""
        query = select(PORTFOLIOS).where(PORTFOLIOS.c.id == pid)
        if self.meta.backend == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None or (owner is not None and row.owner != owner):
            raise PortfolioNotFound(f"there is no portfolio {pid}")
        return dict(row._mapping)

    def _find(self, conn: Connection, pid: int, owner: str) -> dict[str, Any]:
        row = conn.execute(select(PORTFOLIOS).where(PORTFOLIOS.c.id == pid, PORTFOLIOS.c.owner == owner)).first()
        if row is None:
            raise PortfolioNotFound(f"there is no portfolio {pid}")
        return dict(row._mapping)

    def _order_row(self, conn: Connection, oid: int) -> dict[str, Any]:
        return dict(conn.execute(select(ORDERS).where(ORDERS.c.id == oid)).one()._mapping)

    def _fills_of(self, conn: Connection, oid: int) -> list[dict[str, Any]]:
        rows = conn.execute(select(FILLS).where(FILLS.c.order_id == oid).order_by(FILLS.c.id))
        return [self._fill_public(r._mapping) for r in rows]

    def _today(self) -> date:
        return date.fromordinal(vn_day(self.clock()))

    @staticmethod
    def _public(row: Any) -> dict[str, Any]:
        return {"id": row["id"], "owner": row["owner"], "name": row["name"], "cash": int(row["cash"]),
                "net_deposits": int(row["net_deposits"]), "realized_pnl": int(row["realized_pnl"]),
                "fees": int(row["fees"]), "taxes": int(row["taxes"]), "commission": row["commission"],
                "sales_tax": row["sales_tax"], "created_at": _iso(row["created_at"])}

    @staticmethod
    def _order(row: Any) -> dict[str, Any]:
        out = {key: row[key] for key in ("id", "portfolio_id", "symbol", "side", "type", "quantity",
                                          "filled_quantity", "limit_price", "stop_price", "time_in_force",
                                          "session", "status", "reason", "idempotency_key", "reserved_cash")}
        out["trading_day"] = row["trading_day"].isoformat()
        out["created_at"] = _iso(row["created_at"])
        return out

    @staticmethod
    def _fill_public(row: Any) -> dict[str, Any]:
        out = {key: row[key] for key in ("id", "order_id", "symbol", "side", "quantity", "price", "gross", "fee",
                                          "tax", "cash", "realized_pnl")}
        out["trading_day"] = row["trading_day"].isoformat()
        out["at"] = _iso(row["at"])
        return out


def identities(portfolio: dict[str, Any]) -> tuple[int, int]:
    """Both sides' differences of the ledger's identities for ``Ledger.positions``' answer — zero
    and zero when the books are right."""
    equity = portfolio["equity"]
    first = portfolio["cash"] + portfolio["market_value"] - equity
    second = (portfolio["net_deposits"] + portfolio["realized_pnl"] + portfolio["unrealized_pnl"]
              - portfolio["fees"] - portfolio["taxes"] - equity)
    return first, second


__all__ = ["CASH_MAX", "DEFAULT_CASH", "NAME_PATTERN", "Ledger", "Placed", "PortfolioNotFound", "identities"]
