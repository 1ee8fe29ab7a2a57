"""Tracker figures on a recorded session, checked against pandas computed from the raw messages."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone

import orjson
import pandas as pd
import pytest

from backend.market.core import MarketCore

VN = timezone(timedelta(hours=7))


def _frame(messages: list[str]) -> pd.DataFrame:
    rows = []
    for raw in messages:
        outer = json.loads(raw)
        content = json.loads(outer["Content"])
        when = datetime.strptime(f"{content['TradingDate']} {content['Time']}", "%d/%m/%Y %H:%M:%S")
        rows.append({"channel": outer["DataType"], "ts": when.replace(tzinfo=VN).timestamp(), **content})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def raw(session_messages: list[str]) -> pd.DataFrame:
    return _frame(session_messages)


def test_recording_is_a_clean_full_day(session_core: MarketCore, raw: pd.DataFrame) -> None:
    assert session_core.counters["dropped"] == 0
    assert session_core.counters["applied"] == len(raw)
    assert set(raw["channel"]) == {"F", "X-QUOTE", "X-TRADE", "R", "MI"}
    assert set(raw["TradingSession"].dropna()) >= {"ATO", "LO", "ATC"}


def test_active_buy_sell_neutral_volumes_match_pandas(session_core: MarketCore, raw: pd.DataFrame) -> None:
    trades = raw[raw["channel"] == "X-TRADE"]
    continuous = trades[trades["TradingSession"] == "LO"]
    buy = continuous[continuous["Side"] == "BU"].groupby("Symbol")["LastVol"].sum()
    sell = continuous[continuous["Side"] == "SD"].groupby("Symbol")["LastVol"].sum()
    total = trades.groupby("Symbol")["TotalVol"].max()
    buy_val = (continuous["LastPrice"] * continuous["LastVol"])[continuous["Side"] == "BU"].groupby(continuous["Symbol"]).sum()
    assert len(total) == 8  # six stocks and two futures contracts
    for symbol in total.index:
        flow = session_core.flows.get(symbol)
        assert flow is not None
        assert flow.buy_vol == buy.get(symbol, 0)
        assert flow.sell_vol == sell.get(symbol, 0)
        assert flow.neutral_vol == total[symbol] - buy.get(symbol, 0) - sell.get(symbol, 0)
        assert flow.buy_val == pytest.approx(buy_val.get(symbol, 0.0))
        assert session_core.rows[symbol]["total_vol"] == total[symbol]


def test_foreign_totals_speed_and_acceleration_match_pandas(session_core: MarketCore, raw: pd.DataFrame) -> None:
    r = raw[raw["channel"] == "R"].sort_values("ts", kind="stable").copy()
    r["d_buy_val"] = r.groupby("Symbol")["FBuyVal"].diff().fillna(r["FBuyVal"])
    r["d_sell_val"] = r.groupby("Symbol")["FSellVal"].diff().fillna(r["FSellVal"])
    for symbol, g in r.groupby("Symbol"):
        row = session_core.rows[symbol]
        last = g.iloc[-1]
        assert row["f_buy_vol"] == last["FBuyVol"] and row["f_sell_vol"] == last["FSellVol"]
        assert row["f_room"] == last["CurrentRoom"]
        assert row["f_room_usage"] == pytest.approx(1 - last["CurrentRoom"] / last["TotalRoom"])
        # 5-minute speed (per minute) after each update, then its change over the last minute.
        net = (g["d_buy_val"] - g["d_sell_val"]).to_numpy()
        ts = g["ts"].to_numpy()
        speed = [net[(ts > t - 300) & (ts <= t)].sum() / 5 for t in ts]
        assert row["f_speed_val"] == pytest.approx(speed[-1], abs=1e-3)
        earlier = [i for i, t in enumerate(ts) if t <= ts[-1] - 60]
        expected_accel = speed[-1] - speed[earlier[-1]] if earlier else 0.0
        assert row["f_accel_val"] == pytest.approx(expected_accel, abs=1e-3)
    market = session_core.foreign.market
    buy, sell = _market_speed(raw)
    assert (market.speed_buy_val, market.speed_sell_val) == (pytest.approx(buy), pytest.approx(sell))
    assert market.buy_val == pytest.approx(r.groupby("Symbol")["FBuyVal"].max().sum())


def _market_speed(raw: pd.DataFrame) -> tuple[float, float]:
    """The market's foreign buy and sell speed (VND per minute over 5 minutes) after ``raw``.

    The window ends at the later of the last foreign update and the first message of the
    latest minute of event time (the core rolls the window as each new minute begins).
    """
    r = raw[raw["channel"] == "R"].sort_values("ts", kind="stable")
    d_buy = r.groupby("Symbol")["FBuyVal"].diff().fillna(r["FBuyVal"])
    d_sell = r.groupby("Symbol")["FSellVal"].diff().fillna(r["FSellVal"])
    latest_minute = raw["ts"].max() // 60
    end = max(r["ts"].max(), raw.loc[raw["ts"] // 60 == latest_minute, "ts"].min())
    inside = r["ts"] > end - 300
    return d_buy[inside].sum() / 5, d_sell[inside].sum() / 5


def test_market_foreign_speed_mid_session_matches_pandas(session_messages: list[str], raw: pd.DataFrame) -> None:
    # Foreign investors stay out of the closing auction, so check the speed while they trade too.
    cut = int((raw["ts"] >= raw["ts"].min() + 5 * 3600 + 10 * 60).idxmax())  # 14:09
    core = MarketCore()
    core.process_many(session_messages[:cut])
    buy, sell = _market_speed(raw.iloc[:cut])
    assert buy > 0 and sell > 0
    assert core.foreign.market.speed_buy_val == pytest.approx(buy)
    assert core.foreign.market.speed_sell_val == pytest.approx(sell)


def test_index_series_has_one_point_a_minute_matching_pandas(session_core: MarketCore, raw: pd.DataFrame) -> None:
    mi = raw[raw["channel"] == "MI"].copy()
    mi["minute"] = mi["ts"] - mi["ts"] % 60
    summary = session_core.summary()
    for index_id, g in mi.groupby("IndexId"):
        expected = g.groupby("minute")["IndexValue"].last()
        series = summary["indices"][index_id]["series"]
        assert [p[0] for p in series] == list(expected.index)
        assert [p[1] for p in series] == list(expected.to_numpy())
        last = g.iloc[-1]
        state = summary["indices"][index_id]
        assert state["value"] == last["IndexValue"]
        assert state["change"] == pytest.approx(last["IndexValue"] - last["PriorIndexValue"])
        assert (state["advances"], state["declines"]) == (last["Advances"], last["Declines"])
        assert state["high"] == g["IndexValue"].max() and state["low"] == g["IndexValue"].min()


def test_basis_uses_the_most_traded_contract(session_core: MarketCore, raw: pd.DataFrame) -> None:
    futures = raw[(raw["channel"] == "X-TRADE") & raw["Symbol"].str.startswith("VN30F")]
    active = futures.groupby("Symbol")["TotalVol"].max().idxmax()
    last_future = futures[futures["Symbol"] == active].iloc[-1]["LastPrice"]
    vn30 = raw[(raw["channel"] == "MI") & (raw["IndexId"] == "VN30")].iloc[-1]["IndexValue"]
    basis = session_core.summary()["basis"]
    assert basis["active"] == active
    assert basis["basis"] == pytest.approx(last_future - vn30)
    assert basis["basis_pct"] == pytest.approx((last_future - vn30) / vn30 * 100)
    assert basis["stance"] == ("premium" if last_future > vn30 else "discount")


def test_constituent_breadth_matches_last_prices(session_core: MarketCore, raw: pd.DataFrame) -> None:
    trades = raw[(raw["channel"] == "X-TRADE") & ~raw["Symbol"].str.startswith("VN30F")]
    last = trades.groupby("Symbol").last()
    breadth = session_core.summary()["vn30_breadth"]
    assert breadth["advances"] == int((last["LastPrice"] > last["RefPrice"]).sum())
    assert breadth["declines"] == int((last["LastPrice"] < last["RefPrice"]).sum())
    assert breadth["unchanged"] == int((last["LastPrice"] == last["RefPrice"]).sum())


def _figures(core: MarketCore) -> dict[str, object]:
    summary = core.summary()
    rows = {s: {k: v for k, v in r.items() if k not in ("v", "ts")} for s, r in core.rows.items()}
    return {"rows": rows, "indices": summary["indices"], "basis": summary["basis"], "foreign": summary["foreign"]}


def test_duplicated_and_stale_messages_change_nothing(session_core: MarketCore, session_messages: list[str]) -> None:
    rng = random.Random(5)
    # Times have a resolution of one second: a message is stale when its symbol has already
    # had a message in a later second (a quote re-sent within its own second cannot be told
    # from a new one, by anyone).
    contents = [orjson.loads(orjson.loads(m)["Content"]) for m in session_messages]
    keys = [(c.get("Symbol") or c.get("IndexId"), c["RType"]) for c in contents]
    latest: dict[tuple[str, str], str] = {}
    noisy: list[str] = []
    stale = 0
    for i, message in enumerate(session_messages):
        noisy.append(message)
        latest[keys[i]] = contents[i]["Time"]
        if rng.random() < 0.15:
            noisy.append(message)  # an immediate duplicate
        if i > 50 and rng.random() < 0.05:
            j = i - rng.randint(10, 50)
            if contents[j]["Time"] < latest[keys[j]]:
                noisy.append(session_messages[j])  # a stale message arriving late
                stale += 1
    core = MarketCore()
    core.process_many(noisy)
    assert stale > 50
    assert _figures(core) == _figures(session_core)
    assert core.dropped.get("duplicate", 0) + core.dropped.get("out_of_order", 0) > 0
