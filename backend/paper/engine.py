"""Strategies switched on per portfolio, fed by the board, and every signal they give kept.

``StrategyBook`` keeps the records: a strategy on a portfolio (kind, parameters, the symbols it
watches — none: every stock —, on or off, whether it trades by itself and how many lots), and
its signals. ``StrategyEngine`` runs the active ones: each board update of a stock becomes
``metrics_of(row)`` and goes to every strategy watching it; a signal is kept, and, for a strategy
set to trade by itself *and* an owner the ``paper_auto`` flag is on for, it becomes a market order
of its lots on the portfolio, with the signal's id as the order's idempotency key — the signal
keeps the order it placed, or why none was (signal → order → fill, each pointing at the one
before).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

from sqlalchemy import Table, insert, select, update

from backend.meta.models import PaperSignal, PaperStrategy
from backend.meta.store import MetaStore
from backend.paper.ledger import PORTFOLIOS, Ledger, PortfolioNotFound, _iso, _now
from backend.paper.orders import SYMBOL_PATTERN, OrderError
from backend.paper.quotes import Quote
from backend.paper.strategies import Signal, Strategy, make_strategy, metrics_of
from backend.stream.bus import EventBus, publish_quietly

log = logging.getLogger(__name__)
STRATEGIES: Table = PaperStrategy.__table__  # type: ignore[assignment]
SIGNALS: Table = PaperSignal.__table__  # type: ignore[assignment]
# Built once, so each signal's insert reuses its compiled form instead of building a new statement.
SIGNAL_INSERT: Final = insert(SIGNALS)
SYMBOLS_MAX: Final = 500
LOTS_MAX: Final = 5_000
SIGNALS_PAGE_MAX: Final = 1_000
REFRESH_SECONDS: Final = 2.0


def _symbols(value: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list | tuple) or len(value) > SYMBOLS_MAX:
        raise ValueError(f"symbols: a list of at most {SYMBOLS_MAX} symbols")
    for symbol in value:
        if not isinstance(symbol, str) or not re.fullmatch(SYMBOL_PATTERN, symbol):
            raise ValueError("symbols: each 3 to 10 capital letters and digits")
    return sorted(set(value))


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name}: true or false, got {str(value)[:20]!r}")  # noqa: TRY004 (bad input is a ValueError)
    return value


def _lots(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= LOTS_MAX:
        raise ValueError(f"lots: a whole number from 1 to {LOTS_MAX:,}, got {str(value)[:20]!r}")
    return value


class StrategyBook:
    def __init__(self, meta: MetaStore) -> None:
        self.meta = meta

    def _own(self, conn: Any, pid: int, owner: str) -> None:
        row = conn.execute(select(PORTFOLIOS.c.id).where(PORTFOLIOS.c.id == pid, PORTFOLIOS.c.owner == owner)).first()
        if row is None:
            raise PortfolioNotFound(f"there is no portfolio {pid}")

    def _strategy(self, conn: Any, sid: int, owner: str) -> dict[str, Any]:
        row = conn.execute(select(STRATEGIES, PORTFOLIOS.c.owner).join(
            PORTFOLIOS, PORTFOLIOS.c.id == STRATEGIES.c.portfolio_id).where(STRATEGIES.c.id == sid)).first()
        if row is None or row.owner != owner:
            raise PortfolioNotFound(f"there is no strategy {sid}")
        return dict(row._mapping)

    def add(self, pid: int, owner: str, kind: str, parameters: Mapping[str, Any] | None = None, *,
            symbols: list[str] | None = None, auto_execute: bool = False, lots: int = 1) -> dict[str, Any]:
        """Switch a strategy on for a portfolio (a ``ValueError`` naming a bad argument)."""
        make_strategy(kind, parameters)  # checks the kind and every parameter
        values = {"portfolio_id": pid, "kind": kind, "parameters": dict(parameters or {}),
                  "symbols": _symbols(symbols), "active": True, "auto_execute": _flag("auto_execute", auto_execute),
                  "lots": _lots(lots), "version": 1, "created_at": _now()}
        with self.meta.write() as conn:
            self._own(conn, pid, owner)
            sid = conn.execute(insert(STRATEGIES).values(**values)).inserted_primary_key[0]
            return self._public(self._strategy(conn, sid, owner))

    def change(self, sid: int, owner: str, **changes: Any) -> dict[str, Any]:
        """Turn on or off, set parameters, symbols, self-trading or lots."""
        allowed = {"active", "parameters", "symbols", "auto_execute", "lots"}
        unknown = sorted(set(changes) - allowed)
        if unknown:
            raise ValueError(f"{unknown[0][:30]}: not something a strategy has ({', '.join(sorted(allowed))})")
        with self.meta.write() as conn:
            row = self._strategy(conn, sid, owner)
            values: dict[str, Any] = {}
            if "active" in changes:
                values["active"] = _flag("active", changes["active"])
            if "auto_execute" in changes:
                values["auto_execute"] = _flag("auto_execute", changes["auto_execute"])
            if "lots" in changes:
                values["lots"] = _lots(changes["lots"])
            if "symbols" in changes:
                values["symbols"] = _symbols(changes["symbols"])
            if "parameters" in changes:
                make_strategy(row["kind"], changes["parameters"])
                values["parameters"] = dict(changes["parameters"] or {})
            conn.execute(update(STRATEGIES).where(STRATEGIES.c.id == sid).values(version=row["version"] + 1,
                                                                                  **values))
            return self._public(self._strategy(conn, sid, owner))

    def strategies(self, owner: str, pid: int | None = None) -> list[dict[str, Any]]:
        with self.meta.read() as conn:
            query = select(STRATEGIES, PORTFOLIOS.c.owner).join(
                PORTFOLIOS, PORTFOLIOS.c.id == STRATEGIES.c.portfolio_id).where(PORTFOLIOS.c.owner == owner)
            if pid is not None:
                query = query.where(STRATEGIES.c.portfolio_id == pid)
            return [self._public(dict(r._mapping)) for r in conn.execute(query.order_by(STRATEGIES.c.id))]

    def signals(self, sid: int, owner: str, limit: int = 200) -> list[dict[str, Any]]:
        """The strategy's signals, newest first."""
        with self.meta.read() as conn:
            self._strategy(conn, sid, owner)
            rows = conn.execute(select(SIGNALS).where(SIGNALS.c.strategy_id == sid).order_by(SIGNALS.c.id.desc())
                                .limit(max(1, min(limit, SIGNALS_PAGE_MAX))))
            return [self._signal(dict(r._mapping)) for r in rows]

    def portfolio_signals(self, pid: int, owner: str, limit: int = 200) -> list[dict[str, Any]]:
        """The signals of every strategy of the portfolio, newest first."""
        with self.meta.read() as conn:
            self._own(conn, pid, owner)
            rows = conn.execute(select(SIGNALS).where(SIGNALS.c.portfolio_id == pid).order_by(SIGNALS.c.id.desc())
                                .limit(max(1, min(limit, SIGNALS_PAGE_MAX))))
            return [self._signal(dict(r._mapping)) for r in rows]

    @staticmethod
    def _public(row: dict[str, Any]) -> dict[str, Any]:
        return {"id": row["id"], "portfolio_id": row["portfolio_id"], "kind": row["kind"],
                "parameters": row["parameters"], "symbols": row["symbols"], "active": row["active"],
                "auto_execute": row["auto_execute"], "lots": row["lots"], "version": row["version"],
                "created_at": _iso(row["created_at"])}

    @staticmethod
    def _signal(row: dict[str, Any]) -> dict[str, Any]:
        return {"id": row["id"], "strategy_id": row["strategy_id"], "portfolio_id": row["portfolio_id"],
                "symbol": row["symbol"], "side": row["side"], "price": row["price"], "reason": row["reason"],
                "at": _iso(row["at"]), "order_id": row["order_id"], "outcome": row["outcome"]}


class StrategyEngine:
    """The active strategies of every portfolio, run on board updates."""

    def __init__(self, meta: MetaStore, ledger: Ledger, *, auto_allowed: Callable[[str], bool] = lambda owner: False,
                 clock: Callable[[], float] = time.time, events: EventBus | None = None) -> None:
        self.meta = meta
        self.ledger = ledger
        self.auto_allowed = auto_allowed
        self.clock = clock
        self.events = events  # each kept signal goes out on the stream's signals channel, to its owner
        self._running: dict[int, tuple[int, Strategy, dict[str, Any]]] = {}  # id -> (version, instance, record)
        # What each board update goes through: (id, instance, record, the symbols it watches — empty:
        # every stock), replaced whole on refresh so a round never sees it half made.
        self._order: tuple[tuple[int, Strategy, dict[str, Any], frozenset[str]], ...] = ()
        self._loaded_at = -1e18

    def refresh(self, force: bool = False) -> int:
        """Read the active strategies again (every ``REFRESH_SECONDS``); a changed one starts afresh."""
        now = self.clock()
        if not force and now - self._loaded_at < REFRESH_SECONDS:
            return len(self._running)
        self._loaded_at = now
        with self.meta.read() as conn:
            rows = [dict(r._mapping) for r in conn.execute(
                select(STRATEGIES, PORTFOLIOS.c.owner).join(PORTFOLIOS, PORTFOLIOS.c.id == STRATEGIES.c.portfolio_id)
                .where(STRATEGIES.c.active.is_(True)))]
        running: dict[int, tuple[int, Strategy, dict[str, Any]]] = {}
        for row in rows:
            kept = self._running.get(row["id"])
            if kept is not None and kept[0] == row["version"]:
                running[row["id"]] = (kept[0], kept[1], row)
                continue
            try:
                running[row["id"]] = (row["version"], make_strategy(row["kind"], row["parameters"]), row)
            except ValueError:
                log.warning("paper strategy %s has parameters that no longer hold; left off", row["id"])
        self._running = running
        self._order = tuple((sid, strategy, record, frozenset(record["symbols"] or ()))
                            for sid, (_version, strategy, record) in running.items())
        return len(running)

    @property
    def active(self) -> bool:
        return bool(self._running)

    def on_row(self, row: Mapping[str, Any], quote: Quote | None) -> list[dict[str, Any]]:
        """Every strategy watching the row's stock given its update; the signals kept."""
        symbol = row.get("symbol")
        if row.get("kind", "stock") != "stock" or not isinstance(symbol, str):
            return []
        metrics = metrics_of(row)
        kept = []
        for sid, strategy, record, watched in self._order:
            if watched and symbol not in watched:
                continue
            signal = strategy.on_metric(symbol, metrics)
            if signal is not None:
                kept.append(self._keep(sid, record, signal, quote))
                if self.events is not None:
                    publish_quietly(self.events, "signals", {**kept[-1], "portfolio_id": record["portfolio_id"]},
                                    owner=record["owner"])
        return kept

    def _keep(self, sid: int, record: dict[str, Any], signal: Signal, quote: Quote | None) -> dict[str, Any]:
        with self.meta.write() as conn:
            signal_id = conn.execute(SIGNAL_INSERT, {
                "strategy_id": sid, "portfolio_id": record["portfolio_id"], "symbol": signal.symbol,
                "side": signal.side, "price": signal.price, "reason": signal.reason[:300], "at": _now(),
                "order_id": None, "outcome": ""}).inserted_primary_key[0]
        outcome, order_id = "", None
        if record["auto_execute"]:
            if not self.auto_allowed(record["owner"]):
                outcome = "not traded: automatic orders are off (the paper_auto flag)"
            else:
                order = {"symbol": signal.symbol, "side": signal.side, "quantity": record["lots"] * 100,
                         "type": "market", "idempotency_key": f"signal-{signal_id}", "outside_hours": "reject"}
                try:
                    placed = self.ledger.place(record["portfolio_id"], record["owner"], order, quote)
                    order_id = placed.order["id"]
                    filled = sum(f["quantity"] for f in placed.fills)
                    outcome = f"order {order_id}: {placed.order['status'].replace('_', ' ')}, {filled:,} filled"
                except (OrderError, PortfolioNotFound) as exc:
                    outcome = f"not traded: {exc}"[:300]
            with self.meta.write() as conn:
                conn.execute(update(SIGNALS).where(SIGNALS.c.id == signal_id).values(order_id=order_id,
                                                                                      outcome=outcome))
        return {"id": signal_id, "strategy_id": sid, "symbol": signal.symbol, "side": signal.side,
                "price": signal.price, "reason": signal.reason, "order_id": order_id, "outcome": outcome}


__all__ = ["StrategyBook", "StrategyEngine"]
