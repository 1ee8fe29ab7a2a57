"""A symbol's latest price and the day's figures from the live board, and its recent trades.

    GET /api/v1/symbols/<symbol>/price     last, reference, ceiling, floor, open, high, low, volume,
                                           value, VWAP (value / volume), change, best bid and ask
    GET /api/v1/symbols/<symbol>/history?window=1h&interval=1m
                                           the trades of the last ``window`` of the trading day as
                                           OHLCV bars with a VWAP per bar and for the window

Prices are đồng for stocks and index points for futures.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, ClassVar, Literal

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from spectree import Response as Responses
from spectree.models import Tag

from backend.api.errors import ApiError, install
from backend.api.market import current_market
from backend.api.spec import ErrorBody, Query, spec
from backend.market.intraday import DEFAULT_INTERVAL, INTERVALS, WINDOWS, IntradayWindow, intraday_window
from backend.market.reference import VN_TZ
from backend.paper.orders import SYMBOL_PATTERN

symbols_api = Blueprint("symbols_api", __name__, url_prefix="/api/v1/symbols")
install(symbols_api)

TAG = Tag(name="symbols", description="One symbol's latest price and figures from the live board, and its "
                                      "recent trades as bars")
FIELDS = ("ref", "ceiling", "floor", "open", "high", "low", "last", "change", "change_pct", "bid1", "ask1", "session")


class SymbolPrice(BaseModel):
    model_config = ConfigDict(extra="allow")

    symbol: str
    last: float | None
    volume: int | None = Field(description="shares matched today")
    value: float | None = Field(description="đồng matched today")
    vwap: float | None = Field(description="value / volume: the day's volume-weighted average price")


class NoQuery(Query):
    """No query parameters."""


def _board_row(symbol: str) -> dict[str, Any]:
    """The symbol's live board row: a 400 for a malformed symbol, 503 without the market, 404 off the board."""
    if not re.fullmatch(SYMBOL_PATTERN, symbol):
        raise ApiError("symbol: 3 to 10 capital letters and digits")
    row = current_market().board.row(symbol)
    if row is None:
        raise ApiError(f"symbol: {symbol} is not on the board", 404)
    return row


@symbols_api.get("/<symbol>/price")
@spec.validate(query=NoQuery, resp=Responses(HTTP_200=SymbolPrice, HTTP_400=ErrorBody,
                                             HTTP_404=(ErrorBody, "not on the board"),
                                             HTTP_503=(ErrorBody, "the live market is not running here")), tags=[TAG])
def symbol_price(symbol: str) -> Response:
    """The symbol's latest price, the day's range, volume, value and VWAP."""
    row = _board_row(symbol)
    volume, value = row.get("total_vol"), row.get("total_val")
    out: dict[str, Any] = {"symbol": symbol, **{key: row.get(key) for key in FIELDS}, "volume": volume,
                           "value": value, "vwap": (value / volume) if volume and value else None}
    return jsonify(out)


class SymbolHistoryQuery(Query):
    echo_unknown: ClassVar[bool] = True

    window: Literal[tuple(WINDOWS)] = Field(  # type: ignore[valid-type]
        "1h", description="how far back from the day's latest trade")
    interval: Literal[tuple(INTERVALS)] | None = Field(  # type: ignore[valid-type]
        None, description="the length of a bar, at most the window; by default "
        + ", ".join(f"{i} for {w}" for w, i in DEFAULT_INTERVAL.items()))

    @field_validator("interval")
    @classmethod
    def _within_window(cls, interval: str | None, info: ValidationInfo) -> str | None:
        window = info.data.get("window")
        if interval is not None and window is not None and INTERVALS[interval] > WINDOWS[window]:
            raise ValueError(f"longer than the {window} window")
        return interval


class HistoryBar(BaseModel):
    start: float = Field(description="the bar's start, epoch seconds (bars are aligned to the clock)")
    time: str = Field(description="the bar's start in Vietnam time, ISO 8601")
    open: float
    high: float
    low: float
    close: float
    volume: int = Field(description="shares (contracts for futures) matched in the bar")
    vwap: float | None = Field(description="Σ price × shares / Σ shares over the bar's trades")
    trades: int


class SymbolHistory(BaseModel):
    symbol: str
    date: str | None = Field(description="the trading day, YYYY-MM-DD; null when no trade is stored yet")
    window: str
    interval: str
    start: float | None = Field(description="the window holds the trades after this time (epoch seconds) ...")
    end: float | None = Field(description="... up to and including this one: the day's latest stored trade")
    volume: int
    vwap: float | None = Field(description="Σ price × shares / Σ shares over the window; null without trades")
    trades: int
    bars: list[HistoryBar] = Field(description="oldest first; a bar without trades is left out")


def _history_body(found: IntradayWindow) -> dict[str, Any]:
    return {
        "symbol": found.symbol, "date": found.day.isoformat() if found.day else None, "window": found.window,
        "interval": found.interval, "start": found.start, "end": found.end, "volume": found.volume,
        "vwap": found.vwap, "trades": found.trades,
        "bars": [{"start": b.start, "time": datetime.fromtimestamp(b.start, VN_TZ).isoformat(), "open": b.open,
                  "high": b.high, "low": b.low, "close": b.close, "volume": b.volume, "vwap": b.vwap,
                  "trades": b.trades} for b in found.bars],
    }


@symbols_api.get("/<symbol>/history")
@spec.validate(resp=Responses(HTTP_200=SymbolHistory, HTTP_400=ErrorBody, HTTP_404=(ErrorBody, "not on the board"),
                              HTTP_503=(ErrorBody, "the live market or its history store is not running here")),
               tags=[TAG])
def symbol_history(symbol: str, query: SymbolHistoryQuery) -> Response:
    """The symbol's trades over the last window of its trading day, as OHLCV bars with VWAP.

    The window ends at the latest trade stored for the day (the market's own clock, so a replayed
    or simulated day works as a live one) and holds the trades after its start up to its end.
    """
    _board_row(symbol)
    service = current_market()
    if service.store is None:
        raise ApiError("market history is not stored on this server", 503)
    found = intraday_window(service.store, symbol, query.window, query.interval,
                            clock=service.status().get("market_ts"))
    return jsonify(_history_body(found))


__all__ = ["symbols_api"]
