"""A symbol's detail (bars, recent trades, book, foreign flow) against the store's own rows, recomputed with pandas."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

import pandas as pd
import pytest

from backend.market.reference import VN_TZ, vn_epoch
from backend.market.store import MarketStore
from backend.market.symbol_detail import (
    MinuteBar,
    book_levels,
    detail_day,
    foreign_flow,
    minute_bars,
    price_series,
    recent_trades,
    symbol_detail,
)
from backend.warehouse import Warehouse

# Recent days: the store's tables drop rows older than the retention period.
DAY = datetime.now(VN_TZ).date()
OTHER_DAY = DAY - timedelta(days=1)


def _trades(rng: random.Random, day: date, symbol: str, count: int) -> list[dict]:
    """Trades spread over the morning and afternoon sessions, with the day's running totals."""
    morning = vn_epoch(day, time(9, 15))
    afternoon = vn_epoch(day, time(13, 0))
    stamps = sorted({round(rng.uniform(morning, morning + 8_000), 3) for _ in range(count // 2)}
                    | {round(rng.uniform(afternoon, afternoon + 5_000), 3) for _ in range(count // 2)})
    rows, total, value = [], 0, 0.0
    for ts in stamps:
        price = rng.choice([129_000, 129_500, 130_000, 130_500, 131_000])
        volume = rng.choice([100, 200, 500, 1_000])
        total += volume
        value += price * volume
        rows.append({"ts": ts, "day": day.toordinal(), "symbol": symbol, "price": price, "volume": volume,
                     "side": rng.choice([-1, 0, 1]), "total_volume": total, "total_value": value})
    return rows


@pytest.fixture
def store(fresh_warehouse: Warehouse) -> MarketStore:
    rng = random.Random(21)
    store = MarketStore(fresh_warehouse)
    for day in (DAY, OTHER_DAY):
        for symbol in ("FPT", "HPG"):
            store.add("trades", _trades(rng, day, symbol, 600))
    store.flush()
    return store


def _frame(store: MarketStore, symbol: str) -> pd.DataFrame:
    frame = pd.DataFrame(store.history("trades", DAY, symbol, limit=50_000))
    frame["epoch"] = frame["ts"].map(lambda t: t.timestamp())
    return frame


def test_minute_bars_match_pandas_over_the_stores_rows(store: MarketStore) -> None:
    frame = _frame(store, "FPT").sort_values(["epoch", "total_volume"])
    frame["minute"] = (frame["epoch"] // 60) * 60
    grouped = frame.groupby("minute")
    want = pd.DataFrame({
        "open": grouped["price"].first(), "high": grouped["price"].max(), "low": grouped["price"].min(),
        "close": grouped["price"].last(), "volume": grouped["volume"].sum(), "trades": grouped.size(),
    }).reset_index()
    bars = minute_bars(store, DAY, "FPT")
    got = pd.DataFrame([vars(b) for b in bars])
    assert len(got) == len(want) > 50
    assert got["minute"].tolist() == want["minute"].astype(float).tolist()
    for col in ("open", "high", "low", "close", "volume", "trades"):
        assert got[col].tolist() == want[col].tolist(), col
    # Other symbols and other days stay out.
    assert sum(b.trades for b in bars) == len(frame)
    assert minute_bars(store, DAY + timedelta(days=1), "FPT") == []


def test_recent_trades_are_the_latest_newest_first(store: MarketStore) -> None:
    frame = _frame(store, "HPG").sort_values(["epoch", "total_volume"], ascending=False).head(20)
    trades = recent_trades(store, DAY, "HPG")
    assert [t.volume for t in trades] == frame["volume"].tolist()
    assert [t.price for t in trades] == frame["price"].tolist()
    assert [t.side for t in trades] == frame["side"].tolist()
    assert [round(t.ts, 3) for t in trades] == [round(e, 3) for e in frame["epoch"]]
    assert len(recent_trades(store, DAY, "HPG", limit=5)) == 5


@pytest.mark.parametrize("limit", [0, -1, 501, 10**9])
def test_recent_trades_refuses_a_limit_out_of_range(store: MarketStore, limit: int) -> None:
    with pytest.raises(ValueError, match="limit"):
        recent_trades(store, DAY, "HPG", limit=limit)


def test_hostile_symbols_are_bound_values_not_sql(store: MarketStore) -> None:
    assert minute_bars(store, DAY, "FPT' OR 1=1 --") == []
    assert recent_trades(store, DAY, "x\\'; DROP TABLE market_trades; --") == []
    assert minute_bars(store, DAY, "FPT")  # the table is still there


def test_the_price_series_breaks_at_lunch_and_nowhere_else(store: MarketStore) -> None:
    bars = minute_bars(store, DAY, "FPT")
    series = price_series(bars)
    gaps = [i for i, t in enumerate(series["times"]) if t is None]
    assert len(gaps) == 1
    before, after = series["times"][gaps[0] - 1], series["times"][gaps[0] + 1]
    vn = lambda t: datetime.fromtimestamp(t, VN_TZ).time()
    assert vn(before) < time(11, 30) <= time(13, 0) <= vn(after)
    assert [c for c in series["close"] if c is not None] == [b.close for b in bars]
    assert len(series["times"]) == len(series["close"]) == len(series["volume"]) == len(bars) + 1
    assert price_series([]) == {"times": [], "close": [], "volume": []}
    # A gap of more than an hour (a halt) also breaks the line.
    halted = [MinuteBar(vn_epoch(DAY, time(9, 30)), 1, 1, 1, 1, 1, 1), MinuteBar(vn_epoch(DAY, time(10, 45)), 1, 1, 1, 1, 1, 1)]
    assert price_series(halted)["times"][1] is None


def test_book_and_foreign_flow_come_from_the_board_row() -> None:
    row = {"symbol": "FPT", "bid1": 129_900, "bid1_vol": 1_000, "bid2": 129_800, "bid2_vol": 500, "bid3": None,
           "bid3_vol": 0, "ask1": 130_000, "ask1_vol": 300, "ask2": None, "ask2_vol": None, "ask3": None,
           "ask3_vol": None, "f_buy_val": 5.0e9, "f_sell_val": 7.5e9, "f_buy_vol": 40_000, "f_sell_vol": 60_000,
           "f_room": 280_000_000, "f_room_usage": 0.61}
    book = book_levels(row)
    assert [(b.level, b.bid, b.bid_vol, b.ask, b.ask_vol) for b in book] == [
        (1, 129_900, 1_000, 130_000, 300), (2, 129_800, 500, None, None), (3, None, None, None, None)]
    flow = foreign_flow(row)
    assert flow is not None and flow.net_val == -2.5e9 and flow.room == 280_000_000 and flow.room_usage == 0.61
    assert foreign_flow({"symbol": "VN30F2612", "f_buy_val": None, "f_sell_val": None, "f_room": None}) is None
    assert book_levels(None) == [] and foreign_flow(None) is None


def test_symbol_detail_puts_it_together_and_works_without_history(store: MarketStore) -> None:
    row = {"symbol": "FPT", "ts": vn_epoch(DAY, time(14, 0)), "last": 130_000}
    day = detail_day(row, {}, now=0.0)
    assert day == DAY
    detail = symbol_detail("FPT", row, store, day, trades=7)
    assert detail.history and len(detail.trades) == 7 and detail.bars == minute_bars(store, DAY, "FPT")
    bare = symbol_detail("FPT", row, None, day)
    assert not bare.history and bare.bars == [] and bare.trades == [] and len(bare.book) == 3
    assert detail_day(None, {"clock": vn_epoch(OTHER_DAY, time(10))}, now=0.0) == OTHER_DAY


def test_a_busy_symbol_shows_its_latest_trades_beyond_the_history_page(fresh_warehouse: Warehouse) -> None:
    """More trades than one history page (oldest first, 50,000 rows): the detail still shows the
    day's latest trades and bars over every trade."""
    store = MarketStore(fresh_warehouse)
    start = vn_epoch(DAY, time(9, 15))
    n = 50_600
    rows, total = [], 0
    for i in range(n):
        price = 130_000 + 100 * (i % 7)
        total += 100
        rows.append({"ts": start + i * 0.25, "day": DAY.toordinal(), "symbol": "VIC", "price": price,
                     "volume": 100, "side": 1, "total_volume": total, "total_value": float(price) * total})
    store.add("trades", rows)
    store.flush()
    page = store.history("trades", DAY, "VIC", limit=50_000)
    trades = recent_trades(store, DAY, "VIC", limit=20)
    want = sorted(rows, key=lambda r: (r["ts"], r["total_volume"]), reverse=True)[:20]
    assert [round(t.ts, 3) for t in trades] == [round(r["ts"], 3) for r in want]
    assert [t.price for t in trades] == [r["price"] for r in want]
    assert trades[-1].ts > page[-1]["ts"].timestamp()  # none of them is on the oldest-first page
    bars = minute_bars(store, DAY, "VIC")
    assert sum(b.trades for b in bars) == n and bars[-1].close == rows[-1]["price"]


@pytest.mark.parametrize(("kind", "symbol", "n", "match"), [
    ("nope", "FPT", 20, "kind"), ("trades", "", 20, "symbol"), ("trades", None, 20, "symbol"),
    ("trades", "FPT", 0, "n must"), ("trades", "FPT", 5_001, "n must"), ("trades", "FPT", True, "n must"),
    ("trades", "FPT", "20", "n must"),
])
def test_recent_rows_refuse_bad_arguments(store: MarketStore, kind: str, symbol: object, n: object,
                                          match: str) -> None:
    from backend.market.store import StoreError

    with pytest.raises(StoreError, match=match):
        store.recent(kind, DAY, symbol, n)  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="day"):
        store.recent("trades", "2024-03-04", "FPT")  # type: ignore[arg-type]


def test_an_unreachable_history_store_leaves_the_live_detail_and_says_why() -> None:
    from backend.server_mode import ReconnectingWarehouse

    down = ReconnectingWarehouse("http://127.0.0.1:1/", "deskboard", reason="the warehouse at 127.0.0.1:1 is unreachable",
                                 never=True)
    row = {"symbol": "FPT", "bid_1": 100_000.0, "bid_vol_1": 500, "ask_1": 100_100.0, "ask_vol_1": 300}
    detail = symbol_detail("FPT", row, MarketStore(down), date(2024, 6, 3))
    assert detail.history is False and detail.bars == [] and detail.trades == []
    assert detail.book == book_levels(row) and detail.book  # the live part still shows
    assert detail.unavailable is not None and "127.0.0.1:1 is unreachable" in detail.unavailable
