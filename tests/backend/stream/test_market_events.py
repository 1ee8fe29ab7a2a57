"""What the live market puts on the bus, from a simulated session through the real pipeline: every
matched trade once (its volumes add up to the board's day totals), the market channel's changed
rows rebuild the board exactly, and the throttled channels keep their pace."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, datetime

from backend.market.board import BoardState
from backend.market.core import MarketCore
from backend.market.feed.simulated import SimulatorFeed
from backend.market.pipeline import BOARD_FIELDS, FeedPipeline
from backend.market.reference import VN_TZ
from backend.market.service import MarketService, ServiceSettings
from backend.stream.bus import MemoryBus
from backend.stream.market import MarketPublisher

MONDAY = date(2024, 3, 4)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _session(messages: int = 30_000):
    """A pipeline fed a simulated morning by hand: a tick (and 0.25 s) every 250 messages."""
    evening = datetime(2024, 3, 4, 20, 0, tzinfo=VN_TZ)
    feed = SimulatorFeed(rate=2_000, speed=1_000, seed=11, start_time="09:30", now=lambda: evening)
    service = MarketService(settings=ServiceSettings(tick_seconds=0.25), board=BoardState(fields=BOARD_FIELDS))
    # The core's wall clock is that same evening: on the real one the tick would see a later day's
    # pre-open and start the board over (as it must live), whatever hour the suite runs at.
    core = MarketCore(now=evening.timestamp)
    service.attach_core(core)
    pipeline = FeedPipeline(service, core, lambda: feed)
    bus, clock = MemoryBus(), Clock()
    pipeline.publisher = MarketPublisher(bus, clock=clock)
    start = bus.last()
    ticks = 0
    for n, message in enumerate(feed.messages(), 1):
        pipeline._on_message(message)
        if n % 250 == 0:
            clock.now += 0.25
            pipeline.tick()
            ticks += 1
        if n == messages:
            break
    feed.close()
    clock.now += 5  # the last tick sends whatever is still held back
    pipeline.tick()
    events = []
    position = start
    while batch := bus.read(position, {"market", "foreign", "indices", "trades", "alerts"}, limit=10_000).events:
        events.extend(batch)
        position = batch[-1].id
    return service, events, ticks


def test_market_events_rebuild_the_board_and_trades_add_up_to_its_day_totals() -> None:
    service, events, ticks = _session()
    by_channel = defaultdict(list)
    for event in events:
        by_channel[event.channel].append(event.data)

    # Trades: one event per match; per symbol the volumes add up to the day's total the board shows,
    # and the last one is the board's last price.
    trades = by_channel["trades"]
    assert len(trades) > 1_000
    volume: dict[str, int] = defaultdict(int)
    last: dict[str, dict] = {}
    for trade in trades:
        volume[trade["symbol"]] += trade["volume"]
        last[trade["symbol"]] = trade
    board = {row["symbol"]: row for row in service.board.rows()}
    first_total: dict[str, int] = {}
    for trade in trades:
        first_total.setdefault(trade["symbol"], trade["total_volume"] - trade["volume"])
    for symbol, trade in last.items():
        row = board[symbol]
        assert trade["total_volume"] == row["total_vol"], symbol
        assert volume[symbol] + first_total[symbol] == row["total_vol"], symbol
        assert trade["price"] == row["last"], symbol
    totals = [t["total_volume"] for t in trades if t["symbol"] == trades[0]["symbol"]]
    assert totals == sorted(set(totals))  # no match twice

    # Market: applying the changed rows in order gives the board as it is, field for field.
    rebuilt: dict[str, dict] = {}
    for change in by_channel["market"]:
        if change["full"]:
            rebuilt = {}
        for row in change["rows"]:
            rebuilt[row["symbol"]] = row
        for symbol in change["removed"]:
            rebuilt.pop(symbol, None)
    assert rebuilt == {symbol: dict(row) for symbol, row in board.items()}
    assert by_channel["market"][0]["full"] and not by_channel["market"][-1]["full"]

    # Throttled: at most one market event per second of ticks (0.25 s each), one per 2 s of foreign.
    seconds = ticks * 0.25 + 5
    assert 2 <= len(by_channel["market"]) <= math.ceil(seconds / 1.0) + 1
    assert 1 <= len(by_channel["foreign"]) <= math.ceil(seconds / 2.0) + 1
    assert 1 <= len(by_channel["indices"]) <= math.ceil(seconds / 1.0) + 1
    latest = by_channel["indices"][-1]["indices"]
    assert latest and all(v["value"] for v in latest.values())
    assert by_channel["foreign"][-1]["net_val"] == by_channel["foreign"][-1]["buy_val"] - by_channel["foreign"][-1]["sell_val"]


def test_a_bus_that_fails_never_stops_the_feed() -> None:
    class Broken(MemoryBus):
        def publish(self, channel, data, *, owner=None):  # a Redis that went away
            raise ConnectionError("Redis did not answer")

    publisher = MarketPublisher(Broken())
    for _ in range(3):
        publisher.trade("FPT", 0.0, 120_000, 100, 1, 100)
    assert publisher.errors == 3
