"""The simulated market looks like a HOSE day to a trader: figures computed with pandas from its messages.

One full day of the default seed at a coarse grain (three events a simulated second: the
model is defined in continuous time, so the grain changes how often the market is looked
at, not how it moves — test_catch_up.py checks that), plus closes and alert counts over
several seeds.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

import numpy as np
import orjson
import pandas as pd
import pytest

from backend.market.core import MarketCore
from backend.market.feed.simulator import MarketSimulator, vn_start
from backend.market.reference import VN30, VN30_SYMBOLS

DAY = date(2024, 3, 4)
CONTINUOUS_MINUTES = 225  # 09:15–11:30 and 13:00–14:30
BASIS_KINDS = ("basis_premium", "basis_discount")


def simulate(seed: int, density: float) -> list[str]:
    return [m for _, m in MarketSimulator(seed=seed, start=vn_start(DAY), density=density, days=1).stream()]


def frame(messages: list[str]) -> pd.DataFrame:
    rows = []
    for raw in messages:
        outer = orjson.loads(raw)
        rows.append({"channel": outer["DataType"], **orjson.loads(outer["Content"])})
    df = pd.DataFrame(rows)
    hms = df["Time"].str.split(":", expand=True).astype(int)
    df["sod"] = hms[0] * 3600 + hms[1] * 60 + hms[2]
    return df


def grid_index(price: pd.Series) -> pd.Series:
    """Position of a price on the HOSE grid (10 below 10,000, 50 below 50,000, 100 above)."""
    p = price.astype("int64")
    return np.where(p < 10_000, p // 10, np.where(p < 50_000, 1_000 + (p - 10_000) // 50, 1_800 + (p - 50_000) // 100))


@pytest.fixture(scope="module")
def day_messages() -> list[str]:
    return simulate(7, 3.0)


@pytest.fixture(scope="module")
def day(day_messages: list[str]) -> pd.DataFrame:
    return frame(day_messages)


@pytest.fixture(scope="module")
def core(day_messages: list[str]) -> MarketCore:
    core = MarketCore()
    core.process_many(day_messages)
    assert core.counters["dropped"] == 0
    return core


def _vn30_quotes(day: pd.DataFrame) -> pd.DataFrame:
    return day[(day["channel"] == "X-QUOTE") & day["Symbol"].isin(VN30_SYMBOLS)]


def test_vn30_quotes_are_one_or_two_ticks_wide_in_continuous_trading(day: pd.DataFrame) -> None:
    q = _vn30_quotes(day)
    q = q[(q["TradingSession"] == "LO") & (q["BidPrice1"] > 0) & (q["AskPrice1"] > 0)]
    ticks = pd.Series(grid_index(q["AskPrice1"]) - grid_index(q["BidPrice1"]), index=q.index)
    per_name = ticks.groupby(q["Symbol"]).median()
    assert len(per_name) == 30
    assert per_name.max() <= 2 and ticks.median() == 1
    assert (ticks == 1).mean() > 0.7 and (ticks == 2).mean() > 0.02  # mostly one tick, sometimes two


def test_no_book_is_ever_crossed_or_locked(day: pd.DataFrame) -> None:
    q = day[day["channel"] == "X-QUOTE"]
    both = q[(q["BidPrice1"] > 0) & (q["AskPrice1"] > 0)]
    assert len(both) > 0.9 * len(q)
    assert (both["BidPrice1"] < both["AskPrice1"]).all()
    for side, sign in (("Bid", -1), ("Ask", 1)):  # levels go away from the touch
        deeper = both[both[f"{side}Price2"] > 0]
        assert ((deeper[f"{side}Price2"] - deeper[f"{side}Price1"]) * sign > 0).all()


def test_continuous_trades_print_inside_the_quote_just_before_them(day: pd.DataFrame) -> None:
    rows = day[day["channel"].isin(["X-QUOTE", "X-TRADE"])]
    prior = rows.groupby("Symbol")[["BidPrice1", "AskPrice1"]].ffill()  # trades carry no quote fields
    trades = rows["channel"] == "X-TRADE"
    lo = trades & (rows["TradingSession"] == "LO")
    assert lo.sum() > 10_000
    bid, ask, price = prior.loc[lo, "BidPrice1"], prior.loc[lo, "AskPrice1"], rows.loc[lo, "LastPrice"]
    assert bid.notna().all() and ask.notna().all()
    assert ((bid == 0) | (price >= bid)).all()
    assert ((ask == 0) | (price <= ask)).all()
    assert ((price == bid) | (price == ask)).mean() == 1.0  # aggressors trade at the touch


def test_high_and_low_follow_the_prints(day: pd.DataFrame) -> None:
    t = day[day["channel"] == "X-TRADE"]
    by = t.groupby("Symbol")["LastPrice"]
    assert (t["Highest"] == by.cummax()).all()
    assert (t["Lowest"] == by.cummin()).all()
    assert (t.groupby("Symbol")["TotalVol"].diff().dropna() == t["LastVol"][t.duplicated("Symbol")]).all()


def test_closes_stay_near_the_reference_and_rarely_touch_the_limits(day: pd.DataFrame) -> None:
    t = day[(day["channel"] == "X-TRADE") & day["Symbol"].isin(VN30_SYMBOLS)]
    close = t.groupby("Symbol").last()
    assert (close["TradingSession"] == "ATC").all()
    change = close["LastPrice"] / close["RefPrice"] - 1
    assert (change.abs() <= 0.03).mean() >= 0.8
    touched = (t["LastPrice"] >= t["Ceiling"]) | (t["LastPrice"] <= t["Floor"])
    assert touched.groupby(t["Symbol"]).any().sum() <= 2


def daily_volatility(day: pd.DataFrame) -> pd.Series:
    """Per VN30 name: std of 1-minute log returns of the mid-quote × sqrt(225 continuous minutes).

    The mid is the last two-sided quote at or before each minute's end; returns never span
    the lunch break. The mid rather than the last print: prints alternate between bid and
    ask, a bounce of up to a tick that would add noise unrelated to how the price moves.
    """
    q = _vn30_quotes(day)
    q = q[(q["BidPrice1"] > 0) & (q["AskPrice1"] > 0)]
    q = q.assign(mid=(q["BidPrice1"] + q["AskPrice1"]) / 2, minute=q["sod"] // 60)
    mids = q.groupby(["Symbol", "minute"])["mid"].last().unstack(0)
    out = {}
    for start, end in ((9 * 60 + 15, 11 * 60 + 30), (13 * 60, 14 * 60 + 30)):
        # Minute marks from the session's open to its end; a mark carries the mid standing then.
        marks = mids.reindex(range(mids.index.min(), end)).ffill().loc[start - 1 : end - 1]
        out[start] = np.log(marks).diff().iloc[1:]
    returns = pd.concat(out.values())
    assert len(returns) == CONTINUOUS_MINUTES
    return returns.std() * np.sqrt(CONTINUOUS_MINUTES)


def test_one_minute_returns_scale_to_a_daily_volatility_of_1_5_to_2_5_percent(day: pd.DataFrame) -> None:
    vol = daily_volatility(day)
    assert len(vol) == 30
    assert 0.015 <= vol.median() <= 0.025
    assert vol.min() > 0.008 and vol.max() < 0.04


def test_indices_start_at_today_levels_and_vn30_follows_the_basket(day: pd.DataFrame) -> None:
    mi = day[day["channel"] == "MI"]
    first = mi.groupby("IndexId").first()
    assert first.loc["VN30", "PriorIndexValue"] == pytest.approx(2_080, rel=0.02)
    assert first.loc["VNINDEX", "PriorIndexValue"] == pytest.approx(1_880, rel=0.02)
    # Every VN30 value from the last prints of the basket at that moment (reference before the first).
    weights = pd.Series({c.symbol: c.shares_m * c.free_float for c in VN30})
    refs = pd.Series({c.symbol: float(c.ref_price) for c in VN30})
    rows = day[((day["channel"] == "X-TRADE") & day["Symbol"].isin(VN30_SYMBOLS)) | (day["channel"] == "MI")]
    prices = rows.pivot(columns="Symbol", values="LastPrice")[list(refs.index)].ffill().fillna(refs)
    vn30 = rows["IndexId"] == "VN30"
    expected = first.loc["VN30", "PriorIndexValue"] * (prices[vn30] * weights).sum(axis=1) / (refs * weights).sum()
    assert np.abs(expected - rows.loc[vn30, "IndexValue"]).max() <= 0.006
    assert len(expected) > 2_500  # every 5 s
    assert mi[mi["IndexId"] == "VN30"]["IndexValue"].between(2_080 * 0.95, 2_080 * 1.05).all()


def test_futures_basis_wanders_within_a_few_dozen_points(day: pd.DataFrame, core: MarketCore) -> None:
    # Per minute: the front month's last print against the last VN30 value (pandas, from the messages).
    front = min(s for s in day["Symbol"].dropna().unique() if s.startswith("VN30F"))
    fut = day[(day["channel"] == "X-TRADE") & (day["Symbol"] == front)].groupby(day["sod"] // 60)["LastPrice"].last()
    idx = day[(day["channel"] == "MI") & (day["IndexId"] == "VN30")].groupby(day["sod"] // 60)["IndexValue"].last()
    basis = (fut - idx).dropna()
    assert len(basis) > 200
    assert basis.abs().max() <= 60 and basis.max() - basis.min() >= 10
    series = pd.Series([p[1] for p in core.summary()["basis"]["series"]])
    assert series.abs().max() <= 60


def test_basis_alerts_come_a_few_times_a_day(core: MarketCore) -> None:
    kinds = Counter(a.kind.value for a in core.recent_alerts())
    assert 1 <= sum(kinds[k] for k in BASIS_KINDS) <= 10


@pytest.fixture(scope="module")
def seeds() -> dict[int, list[str]]:
    return {seed: simulate(seed, 0.5) for seed in range(1, 6)}


def test_over_several_days_closes_stay_near_and_limits_are_rare(seeds: dict[int, list[str]]) -> None:
    touches, within = [], []
    for messages in seeds.values():
        t = frame([m for m in messages if m.startswith('{"DataType":"X-TRADE"')])
        t = t[t["Symbol"].isin(VN30_SYMBOLS)]
        close = t.groupby("Symbol").last()
        within.append(((close["LastPrice"] / close["RefPrice"] - 1).abs() <= 0.03).mean())
        hit = (t["LastPrice"] >= t["Ceiling"]) | (t["LastPrice"] <= t["Floor"])
        touches.append(hit.groupby(t["Symbol"]).any().sum())
    assert min(within) >= 0.8
    assert np.mean(touches) <= 1.0


def test_over_several_days_basis_alerts_average_a_few(seeds: dict[int, list[str]]) -> None:
    counts = []
    for messages in seeds.values():
        core = MarketCore()
        core.process_many(messages)
        kinds = Counter(a.kind.value for a in core.recent_alerts())
        counts.append(sum(kinds[k] for k in BASIS_KINDS))
    assert 1.0 <= np.mean(counts) <= 8.0 and max(counts) <= 15
