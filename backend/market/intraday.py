"""A symbol's trades over the last stretch of its trading day, as OHLCV bars with their VWAP.

The window ends at the latest trade the history store holds for the day (of any symbol): the
market's own clock, so a replayed or simulated day reads the same as a live one. It reaches back
``window`` from there and holds the trades after its start up to and including its end. Bars are
``interval`` long and aligned to the clock (five-minute bars start at 10:00, 10:05, ...); a bar
without trades is left out. The day is the market clock's trading day, or without a clock the
newest day the store has trades of.

Each bar is aggregated in the warehouse: open and close are the first and last trade by time,
ties broken by the day's running volume; VWAP is Σ price × shares / Σ shares, per bar and for
the whole window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

from backend.market.reference import vn_day
from backend.market.store import TABLES, MarketStore, StoreError

WINDOWS: Final[dict[str, int]] = {"5m": 300, "15m": 900, "30m": 1_800, "1h": 3_600, "2h": 7_200, "4h": 14_400,
                                  "1d": 86_400}
INTERVALS: Final[dict[str, int]] = {"1m": 60, "5m": 300, "15m": 900, "30m": 1_800, "1h": 3_600}
# At most a hundred and twenty bars unless asked for finer ones.
DEFAULT_INTERVAL: Final[dict[str, str]] = {"5m": "1m", "15m": "1m", "30m": "1m", "1h": "1m", "2h": "1m",
                                           "4h": "5m", "1d": "5m"}


@dataclass(frozen=True)
class IntradayBar:
    start: float  # epoch seconds
    open: float
    high: float
    low: float
    close: float
    volume: int
    vwap: float | None
    trades: int


@dataclass(frozen=True)
class IntradayWindow:
    symbol: str
    day: date | None
    window: str
    interval: str
    start: float | None  # epoch seconds; trades after it ...
    end: float | None  # ... up to and including this one
    bars: tuple[IntradayBar, ...]
    notional: float  # Σ price × shares over the window

    @property
    def volume(self) -> int:
        return sum(b.volume for b in self.bars)

    @property
    def trades(self) -> int:
        return sum(b.trades for b in self.bars)

    @property
    def vwap(self) -> float | None:
        volume = self.volume
        return self.notional / volume if volume else None


def resolve_interval(window: str, interval: str | None) -> str:
    """The bar length for ``window``: the one asked for, or the window's default (a ``StoreError``
    naming a window or interval that is unknown, or an interval longer than the window)."""
    if window not in WINDOWS:
        raise StoreError(f"window: one of {', '.join(WINDOWS)}")
    if interval is None:
        return DEFAULT_INTERVAL[window]
    if interval not in INTERVALS:
        raise StoreError(f"interval: one of {', '.join(INTERVALS)}")
    if INTERVALS[interval] > WINDOWS[window]:
        raise StoreError(f"interval: {interval} is longer than the {window} window")
    return interval


def trading_day(store: MarketStore, clock: float | None) -> date | None:
    """The market clock's trading day; without a clock the newest day with stored trades."""
    if clock:
        return date.fromordinal(vn_day(clock))
    days = store.days("trades")
    return days[0] if days else None


def intraday_window(store: MarketStore, symbol: str, window: str, interval: str | None = None, *,
                    clock: float | None = None) -> IntradayWindow:
    """``symbol``'s trades over the last ``window`` of the day as bars (see the module doc)."""
    interval = resolve_interval(window, interval)
    if not isinstance(symbol, str) or not symbol:
        raise StoreError("symbol must be a non-empty text")
    day = trading_day(store, clock)
    empty = IntradayWindow(symbol, day, window, interval, None, None, (), 0.0)
    if day is None:
        return empty
    table = TABLES["trades"].table
    [(latest,)] = store.warehouse.query_rows(
        f"SELECT toUnixTimestamp64Milli(maxOrNull(ts)) FROM {{db}}.{table} WHERE day = {{day:Date}}", {"day": day})
    if latest is None:
        if not clock:
            return empty
        end_ms = round(clock * 1000)
        return IntradayWindow(symbol, day, window, interval, (end_ms - WINDOWS[window] * 1000) / 1000,
                              end_ms / 1000, (), 0.0)
    end_ms = int(latest)
    start_ms = end_ms - WINDOWS[window] * 1000
    step_ms = INTERVALS[interval] * 1000
    rows = store.warehouse.query_rows(
        "SELECT intDiv(toUnixTimestamp64Milli(ts), {step:Int64}) * {step:Int64} AS b, "
        "argMin(price, (ts, total_volume)), max(price), min(price), argMax(price, (ts, total_volume)), "
        "sum(volume), sum(price * volume), count() "
        f"FROM {{db}}.{table} WHERE day = {{day:Date}} AND symbol = {{symbol:String}} "
        "AND toUnixTimestamp64Milli(ts) > {start:Int64} AND toUnixTimestamp64Milli(ts) <= {end:Int64} "
        "GROUP BY b ORDER BY b",
        {"day": day, "symbol": symbol, "start": start_ms, "end": end_ms, "step": step_ms},
    )
    bars = tuple(
        IntradayBar(start=b / 1000, open=float(o), high=float(h), low=float(lo), close=float(c), volume=int(v),
                    vwap=float(pv) / int(v) if v else None, trades=int(k))
        for b, o, h, lo, c, v, pv, k in rows
    )
    notional = sum(float(row[6]) for row in rows)
    return IntradayWindow(symbol, day, window, interval, start_ms / 1000, end_ms / 1000, bars, notional)


__all__ = ["DEFAULT_INTERVAL", "INTERVALS", "WINDOWS", "IntradayBar", "IntradayWindow", "intraday_window",
           "resolve_interval", "trading_day"]
