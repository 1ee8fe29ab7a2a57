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
key returns the first one and trades nothing. An amend cancels a working order and places its
replacement in the same transaction: both happen, or — the replacement refused — neither.
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
from backend.market.reference import LOT_SIZE, vn_day
from backend.meta.models import PaperCashMove, PaperSnapshot
from backend.meta.store import MetaStore
from backend.paper.calendar import TradingCalendar
from backend.paper.matching import crosses, joins_auction, triggered, walk
from backend.paper.money import DEFAULT_COMMISSION, DEFAULT_SALES_TAX, Charges, rate
from backend.paper.orders import (
    AmendRequest,
    OrderError,
    OrderNotWorking,
    OrderRequest,
    check_prices,
    parse_amend,
    parse_order,
)
from backend.paper.performance import performance
from backend.paper.quotes import Level, Quote
from backend.paper.statements import (
    ADD_TO_PORTFOLIO,
    BOOK,
    FILLS,
    INSERT_FILLS,
    INSERT_LOTS,
    INSERT_ORDER,
    LOCK,
    LOCK_FOR_UPDATE,
    LOCKED_BOOK,
    LOTS,
    ORDER,
    ORDER_OF,
    ORDERS,
    PORTFOLIOS,
    RESERVED,
    SELLABLE_LOTS,
    UPDATE_LOT,
    UPDATE_ORDER,
    WORKING,
)
from backend.stream.bus import EventBus, publish_quietly

DEFAULT_CASH: Final = 1_000_000_000  # 1 billion đồng
CASH_MAX: Final = 10**15
NAME_MAX: Final = 80
ID_MAX: Final = 2**31  # record ids are 32-bit integers: a larger one names nothing
NAME_PATTERN: Final = r"^[\w][\w .,()&-]*$"  # a label: letters (Vietnamese too), digits and a little punctuation
MOVES: Table = PaperCashMove.__table__  # type: ignore[assignment]
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
    replaced: dict[str, Any] | None = None  # an amend's: the order it cancelled


@dataclass
class _Book:
    """A locked portfolio as one transaction sees it: its cash and charges, the cash its working
    buys hold, the shares of one symbol its working sells may still sell, and the order an
    idempotency key names (if any)."""

    pid: int
    cash: int
    charges: Charges
    reserved: int = 0
    committed: int = 0
    seen: int | None = None

    @classmethod
    def of(cls, row: dict[str, Any]) -> _Book:
        return cls(row["id"], int(row["cash"]), Charges(Decimal(row["commission"]), Decimal(row["sales_tax"])))

    @property
    def free(self) -> int:
        return self.cash - self.reserved


def _hold(side: str, left: int, price: int | None, ceiling: int, charges: Charges) -> int:
    """The cash a buy holds for the ``left`` shares it may still buy: at its limit, or — a market
    or stop buy with no limit — the day's ceiling, with the fee."""
    if side != "buy" or not left:
        return 0
    bound = price if price is not None else ceiling
    return left * bound + charges.fee(left * bound)


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
                 clock: Callable[[], float] = time.time, events: EventBus | None = None) -> None:
        self.meta = meta
        self.calendar = calendar or TradingCalendar()
        self.clock = clock
        self.events = events  # each fill goes out on the stream's fills channel once it is committed

    def _announce(self, pid: int, owner: str, fills: list[dict[str, Any]]) -> None:
        if self.events is not None:
            for fill in fills:
                publish_quietly(self.events, "fills", {**fill, "portfolio_id": pid}, owner=owner)

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
            book = self._locked_book(conn, pid, owner, order.symbol, order.idempotency_key)
            if book.seen is not None:
                return Placed(self._order(self._order_row(conn, book.seen)), self._fills_of(conn, book.seen),
                              repeated=True)
            placed = self._enter(conn, book, order, quote)
        self._announce(pid, owner, placed.fills)
        return placed

    def cancel(self, pid: int, owner: str, oid: int) -> dict[str, Any]:
        with self.meta.write() as conn:
            self._lock(conn, pid, owner)
            row = conn.execute(ORDER_OF, {"oid": oid, "pid": pid}).first()
            if row is None:
                raise PortfolioNotFound(f"order {oid} is not in portfolio {pid}")
            if row.status not in WORKING:
                raise OrderError(f"order {oid} is {row.status.replace('_', ' ')}: there is nothing left to cancel")
            ended = {"status": "cancelled", "reason": "cancelled by the trader", "reserved_cash": 0}
            self._set(conn, oid, **ended)
            return self._order({**row._mapping, **ended})

    def amend(self, pid: int, owner: str, oid: int, raw: Any, quotes: Callable[[str], Quote | None]) -> Placed:
        """Amend working order ``oid``: cancel it and place its replacement with the changed quantity
        or prices (``AmendRequest``), as one change under the portfolio's lock. The replacement keeps
        the symbol, side, type and time in force, records the order it replaces, and is checked like
        a new order at the board's prices (``quotes(symbol)``) — band, tick, lots, and cash or shares,
        where what the cancelled order held counts as free. A market order whose rest waits as a
        limit (market to limit) is amended as that limit order.

        Of a partly filled order the fills stay with it, and the amend applies to the remaining
        quantity: ``quantity`` is what the replacement trades (by default, all that was left).

        A refused replacement (``OrderError``) changes nothing: the order keeps working. A filled,
        cancelled or expired order cannot be amended (``OrderNotWorking``). An amend sent again with
        its idempotency key returns the replacement it made (``repeated``) and changes nothing."""
        change = parse_amend(raw)
        if not 0 < oid < ID_MAX or not 0 < pid < ID_MAX:
            raise PortfolioNotFound(f"order {oid} is not in portfolio {pid}")
        with self.meta.read() as conn:
            self._find(conn, pid, owner)
            symbol = conn.execute(select(ORDERS.c.symbol).where(ORDERS.c.id == oid, ORDERS.c.portfolio_id == pid)
                                  ).scalar()
        if symbol is None:
            raise PortfolioNotFound(f"order {oid} is not in portfolio {pid}")
        quote = quotes(symbol)  # the board is read before the lock is taken, never while it is held
        with self.meta.write() as conn:
            book = self._locked_book(conn, pid, owner, symbol, change.idempotency_key, skip=oid)
            found = conn.execute(ORDER_OF, {"oid": oid, "pid": pid}).first()
            if found is None:  # the portfolio was reset in between
                raise PortfolioNotFound(f"order {oid} is not in portfolio {pid}")
            original = dict(found._mapping)
            if book.seen is not None:
                seen = self._order_row(conn, book.seen)
                if seen["replaces"] != oid:
                    raise OrderError(f"idempotency_key: already used by order {book.seen}, "
                                     f"which is not a replacement of order {oid}")
                return Placed(self._order(seen), self._fills_of(conn, book.seen), repeated=True,
                              replaced=self._order(original))
            if original["status"] not in WORKING:
                raise OrderNotWorking(f"order {oid} is {original['status'].replace('_', ' ')}: "
                                      "only a working order can be amended")
            order = self._replacement(original, change)
            if quote is None or quote.symbol != symbol:
                raise OrderError(f"symbol: {symbol} is not on the board")
            check_prices(order, quote)
            book.reserved -= original["reserved_cash"]  # its shares are already left out (``skip``)
            placed = self._enter(conn, book, order, quote, replaces=oid)
            ended = {"status": "cancelled", "reserved_cash": 0,
                     "reason": f"amended: replaced by order {placed.order['id']}"}
            self._set(conn, oid, **ended)
        self._announce(pid, owner, placed.fills)
        return Placed(placed.order, placed.fills, replaced=self._order({**original, **ended}))

    @staticmethod
    def _replacement(original: dict[str, Any], change: AmendRequest) -> OrderRequest:
        """The order that replaces ``original`` with ``change``: a field the type does not take is
        refused by name, as on a new order."""
        kind = original["type"]
        if kind == "market" and original["limit_price"] is not None:
            kind = "limit"  # its rest waits at the last price it filled (market to limit)
        left = original["quantity"] - original["filled_quantity"]
        if change.quantity is None and left % LOT_SIZE:
            raise OrderError(f"quantity: {left:,} shares are left of order {original['id']}, not whole lots of "
                             f"{LOT_SIZE}: say how many the replacement trades")
        fields: dict[str, Any] = {
            "symbol": original["symbol"], "side": original["side"], "type": kind,
            "quantity": change.quantity if change.quantity is not None else left,
            "time_in_force": original["time_in_force"], "idempotency_key": change.idempotency_key}
        for name, kinds in (("limit_price", ("limit", "stop_limit")), ("stop_price", ("stop", "stop_limit"))):
            new = getattr(change, name)
            if new is not None or kind in kinds:
                fields[name] = new if new is not None else original[name]
        return parse_order(fields)

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

    def _enter(self, conn: Connection, book: _Book, order: OrderRequest, quote: Quote,
               replaces: int | None = None) -> Placed:
        """A new order, checked against ``book`` and written with what it filled on the board now,
        its status and the cash it holds for the rest — each in one statement."""
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
        lots = self._lots(conn, book.pid, order.symbol, quote.day) if order.side == "sell" else []
        self._affordable(conn, book, order, quote, fills, rest_price, lots)
        filled = sum(q for _, q in fills)
        left = order.quantity - filled
        status = "filled" if left == 0 else (
            "pending" if session != "continuous" or order.type in ("stop", "stop_limit") else
            "partially_filled" if filled else "open")
        at = _now()
        values = {
            "portfolio_id": book.pid, "idempotency_key": order.idempotency_key, "symbol": order.symbol,
            "side": order.side, "type": order.type, "quantity": order.quantity, "filled_quantity": filled,
            "limit_price": rest_price, "stop_price": order.stop_price, "time_in_force": order.time_in_force,
            "session": session, "status": status,
            "reason": (f"the rest waits at {rest_price:,} (market to limit)"
                       if session == "continuous" and order.type == "market" and left else ""),
            "reserved_cash": _hold(order.side, left, rest_price, quote.ceiling, book.charges),
            "trading_day": quote.day, "created_at": at, "updated_at": at, "replaces": replaces}
        oid = conn.execute(INSERT_ORDER, values).inserted_primary_key[0]
        made = self._record(conn, book, oid, order.symbol, order.side, fills, quote.day, lots)
        return Placed(self._order({**values, "id": oid}), made)

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
                locked = self._lock(conn, pid, None)
                book = _Book.of(locked)
                row = self._order_row(conn, oid)
                fills = self._work(conn, book, row, quote) if row["status"] in WORKING else []
            self._announce(pid, locked["owner"], fills)
            made += fills
        return made

    def expire_day(self, day: date) -> int:
        """End the day orders of trading days before ``day`` (and of ``day`` itself once closed)."""
        with self.meta.write() as conn:
            rows = conn.execute(select(ORDERS.c.id).where(ORDERS.c.status.in_(WORKING),
                                                           ORDERS.c.time_in_force == "day",
                                                           ORDERS.c.trading_day <= day)).all()
            for (oid,) in rows:
                self._set(conn, oid, status="expired", reason="a day order: expired at the close", reserved_cash=0)
        return len(rows)

    def _work(self, conn: Connection, book: _Book, row: dict[str, Any], quote: Quote) -> list[dict[str, Any]]:
        """One working order against ``quote``; what changes about it is written once, at the end."""
        oid, side, left = row["id"], row["side"], row["quantity"] - row["filled_quantity"]
        session = row["session"]
        # a day order lives until its session's day closes; one waiting for the next session
        # (sent at lunch, before the open or after the close) has not had its day yet
        closed = quote.phase in (Phase.PUT_THROUGH, Phase.CLOSED)
        if row["time_in_force"] == "day" and session != "queued" and (
                row["trading_day"] < quote.day or (closed and session == "continuous")):
            self._set(conn, oid, status="expired", reason="a day order: expired at the close", reserved_cash=0)
            return []
        changes: dict[str, Any] = {}
        fills: list[Level] | None = []
        lots: list[list[int]] = []
        if session in ("ato", "atc"):
            price = self._auction_price(session, quote)
            if price is None:
                return []
            if joins_auction(side, row["limit_price"], price):
                fills = [(price, left)]
            elif row["type"] == "market":
                self._set(conn, oid, status="cancelled", reason=f"the {session.upper()} auction did not fill it",
                          reserved_cash=0)
                return []
            changes["session"] = "continuous"
        elif session == "queued":
            if quote.phase in AUCTIONS:
                self._set(conn, oid, session=AUCTIONS[quote.phase], trading_day=quote.day)
                return []
            if quote.phase != Phase.CONTINUOUS:
                return []
            changes.update(session="continuous", trading_day=quote.day)
            if row["type"] in ("market", "limit"):
                fills = self._reach(conn, book, row, quote, left, changes, lots)
        elif quote.phase != Phase.CONTINUOUS:
            return []
        elif row["type"] in ("stop", "stop_limit") and row["status"] == "pending":
            if not triggered(side, row["stop_price"], quote):
                return []
            changes.update(type="market" if row["type"] == "stop" else "limit",
                           reason=f"stop {row['stop_price']:,} reached at {quote.last:,}")
            fills = self._reach(conn, book, row, quote, left, changes, lots)
        elif row["limit_price"] is not None and crosses(side, row["limit_price"], quote):
            fills = [(row["limit_price"], left)]
        else:
            return []  # resting, and the board has not reached it
        if fills is None:
            return []  # it ended without filling
        if fills and side == "sell" and not lots:
            lots = self._lots(conn, book.pid, row["symbol"], quote.day)
        made = self._record(conn, book, oid, row["symbol"], side, fills, quote.day, lots)
        current = {**row, **changes, "filled_quantity": row["filled_quantity"] + sum(q for _, q in fills)}
        left = current["quantity"] - current["filled_quantity"]
        waiting = current["session"] in ("queued", "ato", "atc") or current["type"] in ("stop", "stop_limit")
        status = ("filled" if left == 0 else "pending" if waiting else
                  "partially_filled" if current["filled_quantity"] else "open")
        # what is left holds cash at its limit, or — a market or stop buy with no limit — the day's ceiling
        self._set(conn, oid, **changes, filled_quantity=current["filled_quantity"], status=status,
                  reserved_cash=_hold(side, left, current["limit_price"], quote.ceiling, book.charges))
        return made

    def _reach(self, conn: Connection, book: _Book, row: dict[str, Any], quote: Quote, left: int,
               changes: dict[str, Any], lots: list[list[int]]) -> list[Level] | None:
        """A working order that reaches the market now: walk the book, rest what is left (None:
        a market order found nothing and was cancelled). Sells leave the lots they may sell in ``lots``."""
        kind = changes.get("type", row["type"])
        fills = walk(row["side"], left, row["limit_price"] if kind == "limit" else None, quote)
        if kind == "market":
            if not fills:
                self._set(conn, row["id"], **{**changes, "status": "cancelled", "reserved_cash": 0,
                                               "reason": "no opposite quotes on the board to fill it"})
                return None
            changes.update(limit_price=fills[-1][0], type="limit")
        self._load(conn, book, row["symbol"], None, skip=row["id"])
        # a buy can only spend what it held and what is free: fills beyond that are not made
        if row["side"] == "buy":
            budget = book.free + row["reserved_cash"]
            kept = []
            for price, shares in fills:
                cost = price * shares + book.charges.fee(price * shares)
                if cost > budget:
                    break
                budget -= cost
                kept.append((price, shares))
            return kept
        lots += self._lots(conn, book.pid, row["symbol"], quote.day)
        kept, room = [], sum(lot[1] for lot in lots) - book.committed
        for price, shares in fills:
            take = min(shares, room)
            if take:
                kept.append((price, take))
            room -= take
        return kept

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

    def _affordable(self, conn: Connection, book: _Book, order: OrderRequest, quote: Quote, fills: list[Level],
                    rest_price: int | None, lots: list[list[int]]) -> None:
        if order.side == "sell":
            sellable = sum(lot[1] for lot in lots) - book.committed
            if order.quantity > sellable:
                arriving = self._arriving(conn, book.pid, order.symbol, quote.day)
                later = f"; {arriving[1]:,} more become sellable on {arriving[0]}" if arriving else ""
                raise OrderError(f"quantity: {order.quantity:,} shares of {order.symbol} to sell, "
                                 f"{sellable:,} can be sold now{later}")
            return
        need = sum(p * q + book.charges.fee(p * q) for p, q in fills)
        left = order.quantity - sum(q for _, q in fills)
        bound = rest_price if rest_price is not None else quote.ceiling  # a stop buy may pay up to the ceiling
        need += left * bound + book.charges.fee(left * bound)
        if need > book.free:
            raise OrderError(f"cash: this order needs up to {need:,} đồng with fees, {book.free:,} is free")

    def _record(self, conn: Connection, book: _Book, oid: int, symbol: str, side: str, fills: list[Level],
                day: date, lots: list[list[int]]) -> list[dict[str, Any]]:
        """Write ``fills`` of order ``oid``: the fills in one statement, the lots they open (a buy) or
        close (a sell, FIFO over ``lots``: [id, remaining, price] of the sellable lots, oldest first)
        in one more, and what they did to the portfolio's totals in a third. The order's own
        filled quantity is its caller's to write."""
        if not fills:
            return []
        at = _now()
        rows: list[dict[str, Any]] = []
        closed: dict[int, int] = {}  # lot id → what remains of it
        for price, shares in fills:
            gross = price * shares
            realised = 0
            if side == "sell":
                want = shares
                for lot in lots:
                    take = min(want, lot[1])
                    if take:
                        realised += (price - lot[2]) * take
                        lot[1] -= take
                        closed[lot[0]] = lot[1]
                        want -= take
                    if want == 0:
                        break
                if want:  # checked before: a sell never closes more than the sellable lots hold
                    raise OrderError(f"quantity: {want:,} shares of {symbol} are not sellable")
            fee, tax = book.charges.fee(gross), book.charges.tax(gross, side)
            rows.append({"order_id": oid, "portfolio_id": book.pid, "symbol": symbol, "side": side,
                         "quantity": shares, "price": price, "gross": gross, "fee": fee, "tax": tax,
                         "cash": gross - fee - tax if side == "sell" else -(gross + fee), "realized_pnl": realised,
                         "trading_day": day, "at": at})
        for row, fid in zip(rows, conn.execute(INSERT_FILLS, rows).scalars().all(), strict=True):
            row["id"] = fid
        if side == "buy":
            settles = self.calendar.settles(day)
            conn.execute(INSERT_LOTS, [{"portfolio_id": book.pid, "fill_id": r["id"], "symbol": symbol,
                                        "quantity": r["quantity"], "remaining": r["quantity"], "price": r["price"],
                                        "sellable_from": settles} for r in rows])
        else:
            conn.execute(UPDATE_LOT, [{"lot": lot, "remaining": left} for lot, left in closed.items()])
        moved = sum(r["cash"] for r in rows)
        conn.execute(ADD_TO_PORTFOLIO, {"pid": book.pid, "cash_moved": moved,
                                        "realised": sum(r["realized_pnl"] for r in rows),
                                        "fee_paid": sum(r["fee"] for r in rows), "tax_paid": sum(r["tax"] for r in rows)})
        book.cash += moved
        return [self._fill_public(r) for r in rows]

    def _set(self, conn: Connection, oid: int, **values: Any) -> None:
        conn.execute(UPDATE_ORDER, {"oid": oid, "updated_at": _now(), **values})

    def _auction_price(self, session: str, quote: Quote) -> int | None:
        if session == "ato" and quote.phase not in (Phase.PRE_OPEN, Phase.ATO):
            return quote.open
        if session == "atc" and quote.phase in (Phase.PUT_THROUGH, Phase.CLOSED):
            return quote.last
        return None

    def _reserved(self, conn: Connection, pid: int) -> int:
        return int(conn.execute(RESERVED, {"pid": pid}).scalar_one())

    def _locked_book(self, conn: Connection, pid: int, owner: str, symbol: str, key: str | None,
                     skip: int = -1) -> _Book:
        """The portfolio, locked (and checked to be ``owner``'s), with what its working orders hold
        (but order ``skip``'s shares) and the order ``key`` names. On PostgreSQL the row is locked
        first and its orders read after, each statement seeing what was committed before it."""
        if self.meta.backend == "postgresql":
            return self._load(conn, _Book.of(self._lock(conn, pid, owner)), symbol, key, skip)
        row = conn.execute(LOCKED_BOOK, {"pid": pid, "symbol": symbol, "key": key, "skip": skip}).first()
        if row is None or row.owner != owner:
            raise PortfolioNotFound(f"there is no portfolio {pid}")
        book = _Book.of(dict(row._mapping))
        book.reserved, book.committed, book.seen = int(row.held_cash), int(row.held_shares), row.keyed
        return book

    def _load(self, conn: Connection, book: _Book, symbol: str, key: str | None, skip: int = -1) -> _Book:
        reserved, committed, seen = conn.execute(
            BOOK, {"pid": book.pid, "symbol": symbol, "key": key, "skip": skip}).one()
        book.reserved, book.committed, book.seen = int(reserved), int(committed), seen
        return book

    def _lots(self, conn: Connection, pid: int, symbol: str, day: date) -> list[list[int]]:
        """The lots of ``symbol`` sellable on ``day``, oldest first, as [id, remaining, price]."""
        return [[lot, int(left), int(price)] for lot, left, price in
                conn.execute(SELLABLE_LOTS, {"pid": pid, "symbol": symbol, "day": day})]

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
        query = LOCK_FOR_UPDATE if self.meta.backend == "postgresql" else LOCK
        row = conn.execute(query, {"pid": pid}).first()
        if row is None or (owner is not None and row.owner != owner):
            raise PortfolioNotFound(f"there is no portfolio {pid}")
        return dict(row._mapping)

    def _find(self, conn: Connection, pid: int, owner: str) -> dict[str, Any]:
        row = conn.execute(select(PORTFOLIOS).where(PORTFOLIOS.c.id == pid, PORTFOLIOS.c.owner == owner)).first()
        if row is None:
            raise PortfolioNotFound(f"there is no portfolio {pid}")
        return dict(row._mapping)

    def _order_row(self, conn: Connection, oid: int) -> dict[str, Any]:
        return dict(conn.execute(ORDER, {"oid": oid}).one()._mapping)

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
                                          "session", "status", "reason", "idempotency_key", "reserved_cash",
                                          "replaces")}
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
