"""Trade classification: who was the aggressor, and which volume is a new trade at all.

Rules, in order:
- a trade in an auction (ATO/ATC) stays unclassified (neutral): nobody crossed a spread;
- the feed's own side is used when it sends one;
- otherwise the price is compared with the quote *before* the trade: at or above the
  best ask is a buy, at or below the best bid a sell, inside the spread the side of the
  mid-point, exactly at the mid neutral;
- the day's cumulative volume decides whether a message is a new trade: a message whose
  total does not rise is a duplicate, one whose total falls is out of order. On the X
  channel (a snapshot re-sent on every quote change) a trade counts only when the total
  rises by exactly the last volume; any other rise is volume from trades we did not see,
  kept as neutral so that the day's totals still reconcile with the exchange's.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from backend.market.events import Quote, Side, Trade
from backend.market.reference import ATC_END, ATC_START, ATO_START, CONT_START, vn_seconds_of_day


class Drop(StrEnum):
    DUPLICATE = "duplicate"
    OUT_OF_ORDER = "out_of_order"


@dataclass(slots=True)
class ClassifiedTrade:
    symbol: str
    ts: float
    price: float
    volume: int  # volume of the classified trade (0 when only a gap was seen)
    value: float
    side: Side
    auction: bool
    gap_volume: int  # volume added to the day's total by trades not seen one by one
    gap_value: float


def is_auction(trade: Trade) -> bool:
    if trade.session:
        return trade.session in ("ATO", "ATC")
    # No session code: fall back to the clock (auction matches print at the end of the window).
    s = vn_seconds_of_day(trade.ts)
    return ATO_START <= s <= CONT_START or ATC_START <= s <= ATC_END


def side_from_quote(price: float, quote: Quote | None) -> Side:
    """Aggressor side implied by a trade price against the prevailing quote."""
    if quote is None:
        return Side.NEUTRAL
    bid, ask = quote.bid_prices[0], quote.ask_prices[0]
    if ask > 0 and price >= ask:
        return Side.BUY
    if bid > 0 and price <= bid:
        return Side.SELL
    if bid > 0 and ask > 0:
        mid = (bid + ask) / 2
        if price > mid:
            return Side.BUY
        if price < mid:
            return Side.SELL
    return Side.NEUTRAL


class TradeClassifier:
    def __init__(self) -> None:
        self._totals: dict[str, int] = {}
        self._values: dict[str, float] = {}

    def apply(self, trade: Trade, prior_quote: Quote | None, *, snapshot: bool = False) -> ClassifiedTrade | Drop:
        symbol = trade.symbol
        previous = self._totals.get(symbol, 0)
        rise = trade.total_volume - previous
        if rise < 0:
            return Drop.OUT_OF_ORDER
        if rise == 0:
            return Drop.DUPLICATE
        self._totals[symbol] = trade.total_volume
        value_rise = trade.total_value - self._values.get(symbol, 0.0) if trade.total_value else trade.price * rise
        if trade.total_value:
            self._values[symbol] = trade.total_value

        if snapshot:
            volume = trade.volume if rise == trade.volume else 0
        else:
            volume = min(trade.volume, rise)
        auction = is_auction(trade)
        if volume == 0 or auction:
            side = Side.NEUTRAL
        elif trade.side is not None:
            side = trade.side
        else:
            side = side_from_quote(trade.price, prior_quote)
        value = trade.price * volume
        return ClassifiedTrade(
            symbol=symbol, ts=trade.ts, price=trade.price, volume=volume, value=value, side=side,
            auction=auction, gap_volume=rise - volume, gap_value=max(value_rise - value, 0.0),
        )  # fmt: skip

    def total_volume(self, symbol: str) -> int:
        return self._totals.get(symbol, 0)

    def reset(self) -> None:
        self._totals.clear()
        self._values.clear()
