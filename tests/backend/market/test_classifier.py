"""Classifier truth tables: feed side, quote before the trade, X-channel duplicates, auctions."""

from __future__ import annotations

import json

import pytest

from backend.market.core import MarketCore
from backend.market.events import Quote, Side, Trade
from backend.market.processors import Drop, TradeClassifier
from backend.market.processors.classifier import side_from_quote

DAY = "04/03/2024"


def quote(bid: float, ask: float) -> Quote:
    return Quote("ACB", 0.0, 0, (bid, 0.0, 0.0), (100, 0, 0), (ask, 0.0, 0.0), (100, 0, 0))


def trade(price: float, vol: int, total: int, side: Side | None = None, session: str = "LO") -> Trade:
    return Trade("ACB", 1709528400.0 + 3600, 0, price, vol, total, price * total, side, session)


@pytest.mark.parametrize(
    ("price", "bid", "ask", "expected"),
    [
        (24_550, 24_500, 24_550, Side.BUY),  # at the ask
        (24_600, 24_500, 24_550, Side.BUY),  # through the ask
        (24_500, 24_500, 24_550, Side.SELL),  # at the bid
        (24_450, 24_500, 24_550, Side.SELL),  # through the bid
        (24_550, 24_500, 24_600, Side.NEUTRAL),  # exactly at the mid
        (24_500, 24_400, 24_550, Side.BUY),  # inside, above the mid
        (24_450, 24_400, 24_550, Side.SELL),  # inside, below the mid
        (24_550, 0, 24_550, Side.BUY),  # no bid
        (24_500, 24_500, 0, Side.SELL),  # no ask (stock at ceiling)
        (24_500, 0, 0, Side.NEUTRAL),  # empty book
    ],
)
def test_side_from_the_prevailing_quote(price: float, bid: float, ask: float, expected: Side) -> None:
    assert side_from_quote(price, quote(bid, ask)) is expected


def test_no_quote_is_neutral() -> None:
    assert side_from_quote(24_500, None) is Side.NEUTRAL


@pytest.mark.parametrize(
    ("feed_side", "price", "expected"),
    [(Side.BUY, 24_500, Side.BUY), (Side.SELL, 24_550, Side.SELL), (None, 24_550, Side.BUY), (None, 24_500, Side.SELL)],
)
def test_feed_side_wins_over_the_quote(feed_side: Side | None, price: float, expected: Side) -> None:
    result = TradeClassifier().apply(trade(price, 100, 100, feed_side), quote(24_500, 24_550))
    assert not isinstance(result, Drop) and result.side is expected


@pytest.mark.parametrize("session", ["ATO", "ATC"])
def test_auction_trades_stay_unclassified_even_with_a_side(session: str) -> None:
    result = TradeClassifier().apply(trade(24_550, 5_000, 5_000, Side.BUY, session), quote(24_500, 24_550))
    assert not isinstance(result, Drop)
    assert result.side is Side.NEUTRAL and result.auction and result.volume == 5_000


def test_x_channel_counts_a_trade_only_when_the_total_rises_by_the_last_volume() -> None:
    c = TradeClassifier()
    q = quote(24_500, 24_550)
    first = c.apply(trade(24_550, 100, 100), q, snapshot=True)
    assert not isinstance(first, Drop) and (first.volume, first.side) == (100, Side.BUY)
    # The same snapshot re-sent on a quote change: total unchanged → no trade.
    assert c.apply(trade(24_550, 100, 100), q, snapshot=True) is Drop.DUPLICATE
    # Total rose by 300 but the last volume says 200: trades we did not see → neutral gap only.
    gap = c.apply(trade(24_500, 200, 400), q, snapshot=True)
    assert not isinstance(gap, Drop) and (gap.volume, gap.gap_volume, gap.side) == (0, 300, Side.NEUTRAL)
    # A lower total is an older message.
    assert c.apply(trade(24_500, 100, 300), q, snapshot=True) is Drop.OUT_OF_ORDER


def test_x_trade_gap_is_neutral_and_the_trade_keeps_its_side() -> None:
    c = TradeClassifier()
    c.apply(trade(24_550, 100, 100, Side.BUY), None)
    result = c.apply(trade(24_500, 200, 1_000, Side.SELL), None)
    assert not isinstance(result, Drop) and (result.volume, result.gap_volume, result.side) == (200, 700, Side.SELL)


def _x(time: str, **content: object) -> str:
    body = {"RType": "X", "TradingDate": DAY, "Time": time, "Symbol": "ACB", "TradingSession": "LO", **content}
    return json.dumps({"DataType": "X", "Content": json.dumps(body)})


def test_snapshot_trade_is_compared_with_the_quote_before_the_message() -> None:
    core = MarketCore()
    core.process(_x("10:00:00", BidPrice1=24_500, AskPrice1=24_550, BidVol1=100, AskVol1=100))
    # This snapshot's own book has moved up (bid 24,550): against it the trade would be a sell;
    # against the quote before it the trade lifted the ask, so it is a buy.
    core.process(_x("10:00:01", BidPrice1=24_550, AskPrice1=24_600, LastPrice=24_550, LastVol=100, TotalVol=100))
    flow = core.flows.get("ACB")
    assert flow is not None and (flow.buy_vol, flow.sell_vol) == (100, 0)
    # Re-sent snapshot (quote change only) is not a trade and not an error.
    core.process(_x("10:00:02", BidPrice1=24_500, AskPrice1=24_600, LastPrice=24_550, LastVol=100, TotalVol=100))
    assert (flow.buy_vol, flow.sell_vol, flow.trades) == (100, 0, 1)
    assert core.counters["dropped"] == 0
    assert core.rows["ACB"]["bid1"] == 24_500
