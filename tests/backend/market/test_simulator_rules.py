"""HOSE price rules (property-style over many prices) and the simulator's respect of them."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import date
from fractions import Fraction
from pathlib import Path

import pytest

from backend.market.feed.pacing import paced
from backend.market.feed.replay import ReplayFeed, record
from backend.market.feed.simulator import MarketSimulator, vn_start
from backend.market.reference import (
    VN30,
    ceiling_price,
    floor_price,
    futures_ceiling,
    futures_contracts,
    futures_expiry,
    futures_floor,
    is_on_tick,
    tick_size,
)


def _grid(lo: int, hi: int) -> list[int]:
    """Every valid HOSE price in [lo, hi], built by brute force from the tick table."""
    return [p for p in range(lo - lo % 10, hi + 1, 10) if p >= lo and p % (10 if p < 10_000 else 50 if p < 50_000 else 100) == 0]


@pytest.mark.parametrize("seed", range(4))
def test_band_limits_are_the_extreme_grid_prices_inside_7_percent(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(300):
        ref = rng.choice(_grid(1_000, 200_000))
        grid = _grid(int(ref * 0.9), int(ref * 1.1) + 100)
        high = max(p for p in grid if Fraction(p) <= Fraction(ref) * Fraction(107, 100))
        low = min(p for p in grid if Fraction(p) >= Fraction(ref) * Fraction(93, 100))
        assert ceiling_price(ref) == high, ref
        assert floor_price(ref) == low, ref


def test_tick_table_edges() -> None:
    assert [tick_size(p) for p in (9_990, 10_000, 49_950, 50_000)] == [10, 50, 50, 100]
    assert is_on_tick(10_050) and not is_on_tick(10_060) and is_on_tick(9_990) and not is_on_tick(50_050)


def test_futures_codes_roll_after_the_third_thursday() -> None:
    assert futures_expiry(2024, 3) == date(2024, 3, 21)
    assert futures_contracts(date(2024, 3, 21)) == ["VN30F2403", "VN30F2404"]
    assert futures_contracts(date(2024, 3, 22)) == ["VN30F2404", "VN30F2405"]
    assert futures_contracts(date(2024, 12, 30)) == ["VN30F2501", "VN30F2502"]


@pytest.fixture(scope="module")
def day() -> list[dict[str, object]]:
    sim = MarketSimulator(seed=11, start=vn_start(date(2024, 3, 4)), density=1.5, days=1)
    out = []
    for _, raw in sim.stream():
        outer = json.loads(raw)
        out.append({"channel": outer["DataType"], **json.loads(outer["Content"])})
    return out


def test_simulated_prices_are_on_tick_inside_the_band_in_lots_of_100(day: list[dict[str, object]]) -> None:
    refs = {m["Symbol"]: m["RefPrice"] for m in day if m["channel"] == "F" and m["Exchange"] == "HOSE"}
    assert len(refs) == 30 and set(refs) == {c.symbol for c in VN30}
    checked = 0
    for m in day:
        symbol = m.get("Symbol")
        if symbol not in refs:
            continue
        ref = refs[symbol]
        prices = [m[k] for k in m if k.startswith(("BidPrice", "AskPrice")) and m[k]]
        volumes = [m[k] for k in m if k.startswith(("BidVol", "AskVol")) and m[k]]
        if m["channel"] == "X-TRADE":
            prices.append(m["LastPrice"])
            volumes.append(m["LastVol"])
            assert (m["Ceiling"], m["Floor"]) == (ceiling_price(ref), floor_price(ref))
        for p in prices:
            assert is_on_tick(p) and floor_price(ref) <= p <= ceiling_price(ref), (symbol, p)
            checked += 1
        assert all(v % 100 == 0 and v > 0 for v in volumes)
        if m["channel"] == "X-QUOTE" and m["BidPrice1"] and m["AskPrice1"]:
            assert m["BidPrice1"] < m["AskPrice1"]
    assert checked > 10_000


def test_simulated_futures_stay_on_the_point_grid_inside_their_band(day: list[dict[str, object]]) -> None:
    refs = {m["Symbol"]: m["RefPrice"] for m in day if m["channel"] == "F" and m["Exchange"] == "DER"}
    assert sorted(refs) == futures_contracts(date(2024, 3, 4))
    checked = 0
    for m in day:
        ref = refs.get(m.get("Symbol"))  # type: ignore[arg-type]
        if ref is None:
            continue
        prices = [m[k] for k in m if k.startswith(("BidPrice", "AskPrice")) and m[k]]
        volumes = [m[k] for k in m if k.startswith(("BidVol", "AskVol")) and m[k]]
        if m["channel"] == "X-TRADE":
            prices.append(m["LastPrice"])
            volumes.append(m["LastVol"])
            assert (m["Ceiling"], m["Floor"]) == (futures_ceiling(ref), futures_floor(ref))
        for p in prices:
            assert Fraction(str(p)) * 10 == int(Fraction(str(p)) * 10), p  # a whole number of 0.1 ticks
            assert futures_floor(ref) <= p <= futures_ceiling(ref)
            checked += 1
        assert all(isinstance(v, int) and v >= 1 for v in volumes)
        if m["channel"] == "X-QUOTE" and m["BidPrice1"] and m["AskPrice1"]:
            assert m["BidPrice1"] < m["AskPrice1"]
    assert checked > 1_000


def test_simulated_day_follows_the_session_phases(day: list[dict[str, object]]) -> None:
    times = Counter()
    for m in day:
        hhmm = str(m["Time"])[:5]
        assert "08:59" <= hhmm <= "14:45" and not ("11:30" <= hhmm < "13:00"), m
        if m["channel"] == "X-TRADE" and not str(m["Symbol"]).startswith("VN30F"):
            session = m["TradingSession"]
            times[session] += 1
            if session == "LO":
                assert "09:15" <= hhmm < "14:30" and m["Side"] in ("BU", "SD")
            else:
                assert "Side" not in m and hhmm == {"ATO": "09:15", "ATC": "14:45"}[session]
    assert times["ATO"] == times["ATC"] == 30 and times["LO"] > 1_000
    assert {m["IndexId"] for m in day if m["channel"] == "MI"} == {"VN30", "VNINDEX"}


def test_simulator_is_deterministic_per_seed() -> None:
    def first(seed: int) -> list[str]:
        sim = MarketSimulator(seed=seed, start=vn_start(date(2024, 3, 4)), density=50)
        stream = sim.stream()
        return [next(stream)[1] for _ in range(500)]

    assert first(1) == first(1) and first(1) != first(2)


def test_bad_simulator_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        MarketSimulator(density=0)
    with pytest.raises(ValueError):
        MarketSimulator(universe="nyse")
    with pytest.raises(ValueError):
        MarketSimulator(symbols=("ZZZZ",))


def test_hose_universe_computes_vnindex_over_about_400_symbols() -> None:
    sim = MarketSimulator(seed=1, universe="hose", start=vn_start(date(2024, 3, 4)), density=50)
    assert len(sim.stocks) == 400 and len({s.symbol for s in sim.stocks}) == 400
    assert all(is_on_tick(s.ref) for s in sim.stocks)


def test_replay_round_trip_and_pacing(tmp_path: Path, session_messages: list[str]) -> None:
    path = tmp_path / "rec.jsonl"
    assert record(iter(session_messages[:300]), path) == 300
    with path.open("a") as f:
        f.write("\n" + "x" * 300_000 + "\n")  # an oversized line is skipped, not fatal
    feed = ReplayFeed(path, speed=0)
    assert list(feed.messages()) == session_messages[:300]
    # Paced at 10×: the waits add up to a tenth of the market time spanned.
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    out = list(paced([(1000.0, "a"), (1010.0, "b"), (1030.0, "c")], speed=10, clock=lambda: now[0], sleep=sleep))
    assert out == ["a", "b", "c"] and sum(slept) == pytest.approx(3.0)
