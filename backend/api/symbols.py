"""A symbol's latest price and the day's figures from the live board.

    GET /api/v1/symbols/<symbol>/price   last, reference, ceiling, floor, open, high, low, volume,
                                         value, VWAP (value / volume), change, best bid and ask

Prices are đồng for stocks and index points for futures.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel, ConfigDict, Field
from spectree import Response as Responses
from spectree.models import Tag

from backend.api.errors import ApiError, install
from backend.api.market import current_market
from backend.api.spec import ErrorBody, Query, spec
from backend.paper.orders import SYMBOL_PATTERN

symbols_api = Blueprint("symbols_api", __name__, url_prefix="/api/v1/symbols")
install(symbols_api)

TAG = Tag(name="symbols", description="One symbol's latest price and figures from the live board")
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


@symbols_api.get("/<symbol>/price")
@spec.validate(query=NoQuery, resp=Responses(HTTP_200=SymbolPrice, HTTP_400=ErrorBody,
                                             HTTP_404=(ErrorBody, "not on the board"),
                                             HTTP_503=(ErrorBody, "the live market is not running here")), tags=[TAG])
def symbol_price(symbol: str) -> Response:
    """The symbol's latest price, the day's range, volume, value and VWAP."""
    if not re.fullmatch(SYMBOL_PATTERN, symbol):
        raise ApiError("symbol: 3 to 10 capital letters and digits")
    row = current_market().board.row(symbol)
    if row is None:
        raise ApiError(f"symbol: {symbol} is not on the board", 404)
    volume, value = row.get("total_vol"), row.get("total_val")
    out: dict[str, Any] = {"symbol": symbol, **{key: row.get(key) for key in FIELDS}, "volume": volume,
                           "value": value, "vwap": (value / volume) if volume and value else None}
    return jsonify(out)


__all__ = ["symbols_api"]
