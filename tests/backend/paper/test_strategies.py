"""The built-in strategies on a recorded session of updates, against signals computed here with
pandas (rolling means, VWAP bands, volume against its trailing mean), and bad parameters refused
by name."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backend.paper.strategies import make_strategy, metrics_of


def session(n: int = 600, seed: int = 3) -> pd.DataFrame:
    """A session's updates for two symbols: a random walk on the tick grid, cumulative volume and
    value as the board keeps them (a spike now and then)."""
    rng = np.random.default_rng(seed)
    frames = []
    for symbol, start in (("FPT", 120_000), ("HPG", 25_000)):
        tick = 100 if start >= 50_000 else 50
        price = start + tick * np.cumsum(rng.integers(-2, 3, n))
        traded = rng.integers(100, 2_000, n) * 100
        traded[rng.choice(n, 12, replace=False)] *= 10
        frames.append(pd.DataFrame({"symbol": symbol, "seq": np.arange(n), "last": price.astype(float),
                                    "total_vol": np.cumsum(traded), "total_val": np.cumsum(traded * price),
                                    "ts": 1_772_420_400.0 + np.arange(n)}))
    # updates of the two symbols interleaved, as the board publishes them
    return pd.concat(frames).sort_values(["seq", "symbol"]).reset_index(drop=True)


def replay(kind: str, parameters: dict, updates: pd.DataFrame) -> list[tuple[str, int, str]]:
    strategy = make_strategy(kind, parameters)
    out = []
    for row in updates.to_dict("records"):
        signal = strategy.on_metric(row["symbol"], metrics_of(row))
        if signal is not None:
            out.append((signal.symbol, row["seq"], signal.side))
    return sorted(out)


def changes(symbol: str, seq: pd.Series, state: pd.Series, sides: dict[int, str]) -> list[tuple[str, int, str]]:
    """A signal where ``state`` takes a value in ``sides`` different from the one before it."""
    out = []
    before = None
    for s, value in zip(seq, state, strict=True):
        if pd.isna(value):
            continue
        if value in sides and before is not None and value != before:
            out.append((symbol, int(s), sides[value]))
        before = value
    return out


def test_moving_average_cross_matches_rolling_means():
    updates = session()
    want = []
    for symbol, one in updates.groupby("symbol"):
        fast, slow = one["last"].rolling(5).mean(), one["last"].rolling(20).mean()
        state = pd.Series(np.where(fast > slow, 1.0, np.where(fast < slow, -1.0, np.nan)), index=one.index)
        state[slow.isna()] = np.nan
        # a cross needs a state on both sides: equal means leave the state as it was
        want += changes(symbol, one["seq"], state.ffill().where(slow.notna()), {1.0: "buy", -1.0: "sell"})
    got = replay("ma_cross", {"fast": 5, "slow": 20}, updates)
    assert got == sorted(want) and len(got) > 10


def test_vwap_deviation_signals_each_time_the_price_leaves_the_band():
    updates = session()
    want = []
    for symbol, one in updates.groupby("symbol"):
        gap = (one["last"] / (one["total_val"] / one["total_vol"]) - 1) * 100
        state = pd.Series(np.where(gap <= -0.5, -1, np.where(gap >= 0.5, 1, 0)), index=one.index)
        prev = state.shift(fill_value=0)
        hits = one[(state != 0) & (state != prev)]
        want += [(symbol, int(s), "buy" if state[i] < 0 else "sell") for i, s in zip(hits.index, hits["seq"],
                                                                                       strict=True)]
    got = replay("vwap_deviation", {"threshold_pct": 0.5}, updates)
    assert got == sorted(want) and len(got) > 4


def test_volume_spike_against_the_trailing_mean():
    updates = session()
    want = []
    for symbol, one in updates.groupby("symbol"):
        traded = one["total_vol"].diff()
        mean = traded.shift().rolling(10).mean()
        moved = one["last"].diff()
        hit = (traded >= 3 * mean) & mean.notna() & (moved != 0)
        want += [(symbol, int(s), "buy" if m > 0 else "sell") for s, m in zip(one["seq"][hit], moved[hit],
                                                                             strict=True)]
    got = replay("volume_spike", {"window": 10, "multiple": 3.0}, updates)
    assert got == sorted(want) and len(got) >= 3


@pytest.mark.parametrize(("kind", "parameters", "said"), [
    ("ma_cross", {"fast": 20, "slow": 5}, "fast: 20 must be below slow"),
    ("ma_cross", {"fast": 0}, "fast: a whole number"),
    ("ma_cross", {"fast": 2.5}, "fast: a whole number"),
    ("ma_cross", {"slow": True}, "slow: a whole number"),
    ("ma_cross", {"speed": 3}, "speed: not a parameter of ma_cross"),
    ("vwap_deviation", {"threshold_pct": -1}, "threshold_pct: a number above 0"),
    ("vwap_deviation", {"threshold_pct": float("nan")}, "threshold_pct"),
    ("volume_spike", {"multiple": "3"}, "multiple: a number"),
    ("volume_spike", {"window": 10**9}, "window: a whole number"),
    ("momentum", {}, "kind: one of ma_cross"),
    ("<script>", {}, "kind: one of"),
])
def test_bad_parameters_are_refused_by_name(kind, parameters, said):
    with pytest.raises(ValueError, match=said):
        make_strategy(kind, parameters)


def test_updates_without_a_price_or_volume_say_nothing():
    for kind in ("ma_cross", "vwap_deviation", "volume_spike"):
        strategy = make_strategy(kind, {})
        for metrics in ({}, {"last": None}, {"last": -5}, {"last": "x", "vwap": 1}, {"last": 10, "vwap": 0}):
            assert strategy.on_metric("FPT", metrics) is None
