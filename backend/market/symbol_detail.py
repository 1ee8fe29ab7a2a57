"""One symbol's detail for the board: intraday minute bars, the book, recent trades, foreign flow.

The book and foreign flow come from the symbol's board row (the live state); the
intraday bars and recent trades come from the market history store (``minute_bars``,
``recent``): aggregated or cut in the warehouse, so a busy symbol costs one small
answer, not a day of rows. Bars are minutes on the VN clock; the chart series puts a gap
where trading paused (the lunch break) instead of drawing a line across it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final

from backend.market.reference import LUNCH_END, LUNCH_START, VN_TZ, vn_seconds_of_day
from backend.market.store import MarketStore
from backend.warehouse import WarehouseError

log = logging.getLogger(__name__)

Row = Mapping[str, Any]

RECENT_TRADES: Final[int] = 20
MAX_RECENT_TRADES: Final[int] = 500


@dataclass(frozen=True)
class MinuteBar:
    minute: float  # epoch seconds of the minute's start
    open: float
    high: float
    low: float
    close: float
    volume: int
    trades: int


@dataclass(frozen=True)
class TradePrint:
    ts: float  # epoch seconds
    price: float
    volume: int
    side: int  # 1 active buy, -1 active sell, 0 neutral / auction


@dataclass(frozen=True)
class BookLevel:
    level: int
    bid: float | None
    bid_vol: int | None
    ask: float | None
    ask_vol: int | None


@dataclass(frozen=True)
class ForeignFlow:
    buy_val: float
    sell_val: float
    net_val: float
    buy_vol: int
    sell_vol: int
    room: int | None  # shares foreign investors may still buy
    room_usage: float | None  # fraction of the foreign limit in use


@dataclass(frozen=True)
class SymbolDetail:
    symbol: str
    day: date
    row: Row | None
    bars: list[MinuteBar] = field(default_factory=list)
    trades: list[TradePrint] = field(default_factory=list)  # newest first
    book: list[BookLevel] = field(default_factory=list)
    foreign: ForeignFlow | None = None
    history: bool = True  # False when this server keeps no market history
    unavailable: str | None = None  # why the stored history could not be read just now


def minute_bars(store: MarketStore, day: date, symbol: str) -> list[MinuteBar]:
    """The day's trades of ``symbol`` as one-minute OHLCV bars, oldest first (from the store)."""
    return [MinuteBar(*bar) for bar in store.minute_bars(day, symbol)]


def recent_trades(store: MarketStore, day: date, symbol: str, limit: int = RECENT_TRADES) -> list[TradePrint]:
    """The latest ``limit`` trades of ``symbol`` on ``day``, newest first."""
    if not 1 <= limit <= MAX_RECENT_TRADES:
        raise ValueError(f"limit must be between 1 and {MAX_RECENT_TRADES}, got {limit!r}")
    return [TradePrint(_epoch(r["ts"]), float(r["price"]), int(r["volume"]), int(r["side"]))
            for r in store.recent("trades", day, symbol, limit)]


def _epoch(ts: datetime | float) -> float:
    return ts.timestamp() if isinstance(ts, datetime) else float(ts)


def book_levels(row: Row | None) -> list[BookLevel]:
    """The three best bid and ask levels of the board row (empty levels as None)."""
    if not row:
        return []
    return [
        BookLevel(i, row.get(f"bid{i}") or None, row.get(f"bid{i}_vol") or None,
                  row.get(f"ask{i}") or None, row.get(f"ask{i}_vol") or None)
        for i in (1, 2, 3)
    ]


def foreign_flow(row: Row | None) -> ForeignFlow | None:
    """Foreign investors' buy, sell and net value today and the room left; None before any is reported."""
    if not row or (row.get("f_buy_val") is None and row.get("f_sell_val") is None and row.get("f_room") is None):
        return None
    buy, sell = float(row.get("f_buy_val") or 0.0), float(row.get("f_sell_val") or 0.0)
    return ForeignFlow(buy_val=buy, sell_val=sell, net_val=buy - sell, buy_vol=int(row.get("f_buy_vol") or 0),
                       sell_vol=int(row.get("f_sell_vol") or 0), room=row.get("f_room"),
                       room_usage=row.get("f_room_usage"))


def detail_day(row: Row | None, summary: Mapping[str, Any], now: float) -> date:
    """The VN trading day the symbol's row belongs to (the feed's clock, then the wall clock)."""
    ts = (row or {}).get("ts") or summary.get("clock") or now
    return datetime.fromtimestamp(float(ts), VN_TZ).date()


def symbol_detail(symbol: str, row: Row | None, store: MarketStore | None, day: date,
                  *, trades: int = RECENT_TRADES) -> SymbolDetail:
    """Everything the detail panel shows for ``symbol`` on ``day``."""
    if store is None:
        return SymbolDetail(symbol, day, row, book=book_levels(row), foreign=foreign_flow(row), history=False)
    try:
        bars, recent = minute_bars(store, day, symbol), recent_trades(store, day, symbol, trades)
    except WarehouseError as exc:
        # The live row, book and flow still show; only the stored history is out of reach for now.
        log.warning("market history of %s unavailable: %s", symbol, exc)
        return SymbolDetail(symbol, day, row, book=book_levels(row), foreign=foreign_flow(row), history=False,
                            unavailable=getattr(exc, "user_message", None) or "The market history store did not answer")
    return SymbolDetail(symbol, day, row, bars=bars, trades=recent, book=book_levels(row), foreign=foreign_flow(row))


def price_series(bars: list[MinuteBar]) -> dict[str, list[Any]]:
    """Minute closes and volumes for a line chart, with a None point across the lunch break.

    ``times`` are epoch seconds of each minute (None at a gap), so the line stops at
    the last morning minute and starts again at the first afternoon one.
    """
    times: list[float | None] = []
    close: list[float | None] = []
    volume: list[int | None] = []
    previous: float | None = None
    for bar in bars:
        if previous is not None and _across_lunch(previous, bar.minute):
            times.append(None)
            close.append(None)
            volume.append(None)
        times.append(bar.minute)
        close.append(bar.close)
        volume.append(bar.volume)
        previous = bar.minute
    return {"times": times, "close": close, "volume": volume}


def _across_lunch(before: float, after: float) -> bool:
    crossed = vn_seconds_of_day(before) < LUNCH_START and vn_seconds_of_day(after) >= LUNCH_END
    return crossed or after - before > 3_600
