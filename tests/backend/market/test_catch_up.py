"""The simulated feed is live from its first second: the session so far first (fast), then paced.

Also: where ``auto``, ``now`` and ``HH:MM`` put the start, waiting through lunch when breaks
are kept, and that the coarse catch-up and the fine live stream trade the same market.
"""

from __future__ import annotations

import itertools
from datetime import date, datetime

import orjson
import pandas as pd
import pytest
from pydantic import ValidationError

from backend.config import load_settings
from backend.market.core import MarketCore
from backend.market.feed import open_feed
from backend.market.feed.simulated import SimulatorFeed, live_start
from backend.market.feed.simulator import MarketSimulator, vn_start
from backend.market.reference import VN30_SYMBOLS, VN_TZ, vn_epoch
from backend.market.settings import MarketSettings

MONDAY = date(2024, 3, 4)


def at(day: date, hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=VN_TZ)


@pytest.mark.parametrize(
    ("start_time", "now", "expected"),
    [
        ("auto", at(MONDAY, 10, 37, 12), at(MONDAY, 10, 37, 12)),  # trading: now
        ("auto", at(MONDAY, 14, 44, 59), at(MONDAY, 14, 44, 59)),
        ("auto", at(MONDAY, 9, 0), at(MONDAY, 9, 0)),
        ("auto", at(MONDAY, 12, 0), at(MONDAY, 10, 0)),  # lunch
        ("auto", at(MONDAY, 14, 45), at(MONDAY, 10, 0)),  # closed
        ("auto", at(MONDAY, 6, 30), at(MONDAY, 10, 0)),
        ("auto", at(MONDAY, 22, 15), at(MONDAY, 10, 0)),
        ("auto", at(date(2024, 3, 9), 10, 37), at(date(2024, 3, 9), 10, 0)),  # a Saturday (the session is Monday's)
        ("now", at(MONDAY, 22, 15, 5), at(MONDAY, 22, 15, 5)),
        ("13:20", at(MONDAY, 22, 15, 5), at(MONDAY, 13, 20)),
    ],
)
def test_where_the_live_stream_starts(start_time: str, now: datetime, expected: datetime) -> None:
    assert live_start(start_time, now) == expected


def test_start_time_settings_default_to_auto_and_refuse_anything_else(monkeypatch: pytest.MonkeyPatch) -> None:
    assert MarketSettings().start_time == "auto"
    for good in ("auto", "now", "00:00", "14:44"):
        assert MarketSettings(start_time=good).start_time == good
    for bad in ("", "AUTO", "24:00", "9:15", "09:15:00", "now; rm -rf /", "x" * 10_000):
        with pytest.raises(ValidationError):
            MarketSettings(start_time=bad)
    with pytest.raises(ValueError):
        live_start("25:99", at(MONDAY, 10, 0))
    for bad_feed in ({"start_time": "7pm"}, {"start_time": ""}, {"rate": 0}, {"speed": -1}, {"catch_up_density": 0}):
        with pytest.raises(ValueError):
            SimulatorFeed(**bad_feed)  # type: ignore[arg-type]
    monkeypatch.setenv("DESKBOARD_MARKET_START_TIME", "11:05")
    feed = open_feed(load_settings().market)
    assert isinstance(feed, SimulatorFeed) and feed.start.strftime("%H:%M") == "11:05"
    assert feed.simulated and feed.source == "simulator"


def _parse(raw: str) -> dict:
    outer = orjson.loads(raw)
    return {"channel": outer["DataType"], **orjson.loads(outer["Content"])}


def test_a_start_at_14_44_brings_the_whole_day_so_far_before_going_live() -> None:
    feed = SimulatorFeed(rate=2_000, speed=1_000, seed=7, start_time="14:44", now=lambda: at(MONDAY, 20, 0))
    assert feed.catching_up and feed.status.source == "simulator"
    core = MarketCore()
    flags: list[bool] = []
    caught_up: list[str] = []
    live: list[str] = []
    for message in feed.messages():
        if feed.catching_up:
            caught_up.append(message)
        else:
            live.append(message)
            if len(live) == 2_000:
                break
        flags.append(feed.catching_up)
    feed.close()
    # One switch from catching up to live, and the live part starts where the catch-up ended.
    assert flags[0] and not flags[-1] and sum(a != b for a, b in itertools.pairwise(flags)) == 1
    assert 20_000 < len(caught_up) < 90_000
    before = [_parse(m)["Time"] for m in caught_up]
    after = [_parse(m)["Time"] for m in live]
    assert before[0] == "08:59:00" and "14:43:30" <= before[-1] <= "14:44:01" and after[0] >= "14:44:00"
    assert feed.live_from == vn_epoch(MONDAY) + 14 * 3600 + 44 * 60
    # What the core holds at that moment is a day in progress.
    core.process_many(caught_up)
    assert core.counters["dropped"] == 0
    rows = core.rows
    assert all(rows[s]["total_vol"] > 0 and rows[s]["bid1"] and rows[s]["ask1"] for s in VN30_SYMBOLS)
    series = core.summary()["indices"]["VN30"]["series"]
    assert len(series) > 200 and series[0][0] == vn_epoch(MONDAY) + 9 * 3600
    foreign = core.summary()["foreign"]
    assert foreign["buy_val"] > 0 and foreign["sell_val"] > 0
    assert core.summary()["basis"]["basis"] is not None and core.recent_alerts()


def test_a_start_before_the_open_has_nothing_to_catch_up() -> None:
    feed = SimulatorFeed(rate=1_000, speed=1_000, start_time="08:30", now=lambda: at(MONDAY, 20, 0))
    assert not feed.catching_up
    first = next(feed.messages())
    feed.close()
    assert _parse(first)["Time"] == "08:59:00" and not feed.catching_up


def test_a_start_after_the_close_replays_the_day_then_goes_live_on_the_next() -> None:
    sim = MarketSimulator(seed=3, start=vn_start(MONDAY, "16:00"), density=0.5, catch_up_density=0.5, days=2)
    assert sim.catching_up
    days: dict[bool, set[str]] = {True: set(), False: set()}
    for _, raw in sim.stream():
        days[sim.catching_up].add(_parse(raw)["TradingDate"])
    assert days == {True: {"04/03/2024"}, False: {"05/03/2024"}}


def test_lunch_is_waited_through_with_heartbeats_when_breaks_are_kept() -> None:
    sim = MarketSimulator(seed=5, start=vn_start(MONDAY, "12:00"), density=5, catch_up_density=0.5,
                          skip_breaks=False, days=1)
    live = []
    for ts, raw in sim.stream():
        if not sim.catching_up:
            live.append((ts, _parse(raw)))
            if live[-1][1]["Time"] >= "13:00:00":
                break
    lunch = [(ts, m) for ts, m in live if m["Time"] < "13:00:00"]
    assert {m["channel"] for _, m in lunch} == {"MI"}  # index heartbeats only
    beats = sorted({ts for ts, m in lunch if m["channel"] == "MI"})
    assert beats[0] == vn_epoch(MONDAY) + 12 * 3600 and len(beats) == 60
    assert max(b - a for a, b in itertools.pairwise(beats)) == 60  # a paced reader never skips the wait
    skipped = MarketSimulator(seed=5, start=vn_start(MONDAY, "12:00"), density=5, catch_up_density=0.5, days=1)
    times = [_parse(raw)["Time"] for _, raw in itertools.islice(skipped.stream(), 20_000) if not skipped.catching_up]
    assert not any("12:00:01" <= t < "13:00:00" for t in times)


def _morning(density: float) -> tuple[pd.DataFrame, MarketSimulator]:
    sim = MarketSimulator(seed=21, start=vn_start(MONDAY), density=density, days=1)
    quotes = []
    for ts, raw in sim.stream():
        if ts >= vn_epoch(MONDAY) + 11.5 * 3600:
            break
        if raw.startswith('{"DataType":"X-QUOTE"'):
            m = _parse(raw)
            if m["Symbol"] in VN30_SYMBOLS and m["BidPrice1"] and m["AskPrice1"]:
                quotes.append((m["Symbol"], ts, (m["BidPrice1"] + m["AskPrice1"]) / 2))
    return pd.DataFrame(quotes, columns=["symbol", "ts", "mid"]), sim


def test_the_coarse_catch_up_and_the_fine_stream_trade_the_same_market() -> None:
    coarse, coarse_sim = _morning(1.5)
    fine, fine_sim = _morning(6.0)
    # Day volumes do not depend on how finely the day is sampled.
    vol_coarse = pd.Series({s.symbol: s.total_val for s in coarse_sim.vn30})
    vol_fine = pd.Series({s.symbol: s.total_val for s in fine_sim.vn30})
    assert 0.85 < vol_coarse.sum() / vol_fine.sum() < 1.15
    assert 0.7 < (vol_coarse / vol_fine).median() < 1.3
    # Nor does volatility: 1-minute mid returns over the continuous morning.
    def vol(q: pd.DataFrame) -> float:
        minute = ((q["ts"] - vn_epoch(MONDAY)) // 60).astype(int)
        mids = q.groupby([q["symbol"], minute])["mid"].last().unstack(0).ffill().loc[9 * 60 + 15 : 11 * 60 + 29]
        return float((mids.pct_change().iloc[1:].std() * (225**0.5)).median())

    assert 0.8 < vol(coarse) / vol(fine) < 1.25
    assert len(fine) > 3 * len(coarse)
