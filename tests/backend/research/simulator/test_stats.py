"""Simulation statistics against formulas written here with plain Python loops (returns, drawdown
episodes walked bar by bar, trades row by row; OLS by numpy.linalg.lstsq, moments and the normal
distribution from scipy), a six-bar curve worked by hand, the deflated Sharpe ratio's behaviour
in the number of trials, quantstats and backtesting.py where their conventions agree, hostile
arguments refused, inputs left untouched, and JSON output."""

from __future__ import annotations

import itertools
import json
import math
import re
import statistics
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from backend.research.simulator.stats import (
    EQUITY_COLUMNS,
    STAT_KEYS,
    STAT_LABELS,
    TRADE_COLUMNS,
    Trials,
    compute_stats,
    sharpe_per_bar,
    stats_json,
)

EULER_GAMMA = 0.5772156649015329
TRADE_FRAME_COLUMNS = ("direction", "entry_bar", "exit_bar", "entry_time", "exit_time", "entry_price", "exit_price",
                       "size", "fees", "pnl", "return_pct", "duration_bars", "mae_pct", "mfe_pct", "is_open")


# -- inputs ---------------------------------------------------------------------------------------
def bars(values: list[float] | np.ndarray, *, close: list[float] | np.ndarray | None = None,
         position: list[float] | np.ndarray | None = None, freq: str = "D", start: str = "2021-01-01") -> pd.DataFrame:
    n = len(values)
    return pd.DataFrame({
        "timestamp": pd.date_range(start, periods=n, freq=freq, tz="UTC"),
        "equity": np.asarray(values, dtype=float),
        "close": np.asarray(close if close is not None else np.linspace(100, 110, n), dtype=float),
        "position": np.asarray(position if position is not None else np.ones(n), dtype=float),
    })


def trade_frame(rows: list[tuple[float, float, int, bool]]) -> pd.DataFrame:
    """Trades from (pnl, notional, duration_bars, is_open): return_pct = pnl / notional × 100."""
    entry_time = pd.Timestamp("2021-01-01", tz="UTC")
    frame = pd.DataFrame({
        "direction": ["long" if i % 2 == 0 else "short" for i in range(len(rows))],
        "entry_bar": [i for i in range(len(rows))],
        "exit_bar": [i + held for i, (_, _, held, _) in enumerate(rows)],
        "entry_time": [entry_time + pd.Timedelta(days=i) for i in range(len(rows))],
        "exit_time": [entry_time + pd.Timedelta(days=i + held) for i, (_, _, held, _) in enumerate(rows)],
        "entry_price": 100.0,
        "exit_price": [100.0 + pnl / (notional / 100.0) for pnl, notional, _, _ in rows],
        "size": [notional / 100.0 for _, notional, _, _ in rows],
        "fees": 0.5,
        "pnl": [float(pnl) for pnl, _, _, _ in rows],
        "return_pct": [pnl / notional * 100 for pnl, notional, _, _ in rows],
        "duration_bars": [int(held) for _, _, held, _ in rows],
        "mae_pct": -1.0,
        "mfe_pct": 1.0,
        "is_open": [bool(is_open) for _, _, _, is_open in rows],
    }, columns=list(TRADE_FRAME_COLUMNS))
    return frame.astype({"entry_bar": "int64", "exit_bar": "int64", "duration_bars": "int64", "is_open": "bool",
                         "pnl": "float64", "return_pct": "float64"})


NO_TRADES = trade_frame([])


def random_bars(n: int, seed: int, *, freq: str = "D", drift: float = 4e-4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    market = rng.normal(2e-4, 0.012, n)
    strategy = drift + 0.6 * market + rng.normal(0, 0.008, n)
    return bars(1_000 * np.cumprod(1 + strategy), close=50 * np.cumprod(1 + market),
                position=rng.choice([-2.0, 0.0, 0.0, 3.0], n), freq=freq)


def random_trades(k: int, seed: int, *, open_last: bool = True, notional: float | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [(float(rng.normal(5, 40)), notional or float(rng.uniform(500, 2_000)), int(rng.integers(1, 30)), False)
            for _ in range(k)]
    if open_last:
        rows.append((12.0, 900.0, 4, True))
    return trade_frame(rows)


def sinking(n: int = 60) -> pd.DataFrame:
    """Rises, then falls to its lowest at the end: the last drawdown never recovers."""
    up = [100 * 1.01**i for i in range(n // 2)]
    return bars(up + [up[-1] * 0.995**(i + 1) for i in range(n - n // 2)])


CASES: dict[str, tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]] = {
    "random_daily": (random_trades(40, 2), random_bars(400, 1), {"periods_per_year": 252}),
    "random_init_cash": (random_trades(25, 3), random_bars(300, 4), {"periods_per_year": 365, "init_cash": 990.0}),
    "hourly_with_trials": (random_trades(60, 5), random_bars(500, 6, freq="h", drift=1e-4),
                           {"periods_per_year": 24 * 365, "trials": Trials(50, 0.002)}),
    "no_trades": (NO_TRADES, random_bars(120, 7), {"periods_per_year": 252}),
    "only_winners": (trade_frame([(10, 1_000, 3, False), (2.5, 500, 1, False), (40, 800, 9, False)]),
                     random_bars(80, 8), {"periods_per_year": 252}),
    "only_losers": (trade_frame([(-10, 1_000, 3, False), (-2.5, 500, 1, False), (-1, 800, 2, False),
                                 (7, 700, 2, True)]), random_bars(80, 9, drift=-2e-3), {"periods_per_year": 252}),
    "zero_pnl_trades": (trade_frame([(0, 1_000, 3, False), (5, 500, 1, False), (-5, 500, 2, False), (0, 100, 1, False)]),
                        random_bars(50, 10), {"periods_per_year": 52}),
    "open_trade_only": (trade_frame([(30, 1_000, 12, True)]), random_bars(30, 11), {"periods_per_year": 252}),
    "never_recovered": (NO_TRADES, sinking(), {"periods_per_year": 252}),
    "flat": (NO_TRADES, bars([1_000.0] * 20, close=[40.0] * 20, position=[0.0] * 20), {"periods_per_year": 252}),
    "flat_below_cash": (NO_TRADES, bars([1_000.0] * 5, close=[40.0] * 5), {"periods_per_year": 12, "init_cash": 1_200.0}),
    "starts_below_cash": (NO_TRADES, bars([95.0, 97, 101, 99, 103, 100]), {"periods_per_year": 252, "init_cash": 100.0}),
    "random_below_cash_trials": (random_trades(15, 12), random_bars(200, 13),
                                 {"periods_per_year": 252, "init_cash": 1_100.0, "trials": Trials(8, 1e-4)}),
    "one_bar": (NO_TRADES, bars([1_000.0]), {"periods_per_year": 252}),
    "one_bar_cash": (NO_TRADES, bars([1_010.0]), {"periods_per_year": 252, "init_cash": 1_000.0}),
    "two_bars": (NO_TRADES, bars([1_000.0, 1_020.0], close=[10.0, 10.5]), {"periods_per_year": 252}),
}


# -- the independent computation -----------------------------------------------------------------
def reference_stats(trades: pd.DataFrame, equity: pd.DataFrame, *, periods_per_year: float,
                    trials: Trials | None = None, init_cash: float | None = None) -> dict[str, Any]:
    values = [float(v) for v in equity["equity"]]
    closes = [float(c) for c in equity["close"]]
    stamps = list(equity["timestamp"])
    n, p = len(values), periods_per_year
    initial = values[0] if init_cash is None else init_cash
    if init_cash is None:
        r = [values[i] / values[i - 1] - 1 for i in range(1, n)]
        b = [closes[i] / closes[i - 1] - 1 for i in range(1, n)]
    else:
        r = [values[i] / (values[i - 1] if i else init_cash) - 1 for i in range(n)]
        b = [0.0] + [closes[i] / closes[i - 1] - 1 for i in range(1, n)]
    t = len(r)
    growth = values[-1] / initial
    days = (stamps[-1] - stamps[0]).total_seconds() / 86_400
    mean = statistics.fmean(r) if t else math.nan
    std = statistics.stdev(r) if t >= 2 else math.nan
    sr = mean / std if std > 0 else math.nan
    downside = math.sqrt(sum(min(x, 0.0) ** 2 for x in r) / t) if t else math.nan
    cagr = growth ** (365.25 / days) - 1 if days > 0 else math.nan

    alpha = beta = math.nan
    if t >= 2 and max(b) != min(b):
        (alpha, beta), *_ = np.linalg.lstsq(np.column_stack([np.ones(t), b]), np.array(r), rcond=None)

    # drawdowns, walking the curve: an episode starts when a bar closes below the running peak
    peak, peak_bar = (-math.inf, -1) if init_cash is None else (init_cash, -1)
    depths: list[float] = []
    episodes: list[tuple[float, int]] = []  # (deepest, bars from peak to recovery or the last bar)
    current: list[float] | None = None  # [peak bar, deepest so far]
    for i, value in enumerate(values):
        if value >= peak:
            if current is not None:
                episodes.append((current[1], i - int(current[0])))
                current = None
            peak, peak_bar = value, i
            depths.append(0.0)
        else:
            depth = value / peak - 1
            depths.append(depth)
            current = [peak_bar, depth] if current is None else [current[0], min(current[1], depth)]
    if current is not None:
        episodes.append((current[1], n - 1 - int(current[0])))
    max_dd = min(depths)

    skew = scipy_stats.skew(r, bias=True) if t >= 2 else math.nan
    kurt = scipy_stats.kurtosis(r, fisher=False, bias=True) if t >= 2 else math.nan

    def psr(benchmark: float) -> float:
        if not math.isfinite(sr):
            return math.nan
        return float(scipy_stats.norm.cdf((sr - benchmark) * math.sqrt(t - 1)
                                          / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)))

    count = 1 if trials is None else trials.count
    benchmark = 0.0 if count == 1 else math.sqrt(trials.sharpe_variance) * (
        (1 - EULER_GAMMA) * scipy_stats.norm.ppf(1 - 1 / count)
        + EULER_GAMMA * scipy_stats.norm.ppf(1 - 1 / (count * math.e)))

    def ratio(top: float, bottom: float) -> float:
        return top / bottom if bottom > 0 else (math.inf if bottom == 0 and top > 0 else math.nan)

    return {
        "start": stamps[0], "end": stamps[-1], "bars": n, "duration_days": days,
        "exposure_pct": sum(1 for x in equity["position"] if x != 0) / n * 100,
        "equity_final": values[-1], "equity_peak": max(values),
        "return_pct": (growth - 1) * 100, "buy_hold_return_pct": (closes[-1] / closes[0] - 1) * 100,
        "return_ann_pct": (growth ** (p / t) - 1) * 100 if t else math.nan,
        "volatility_ann_pct": std * math.sqrt(p) * 100, "cagr_pct": cagr * 100,
        "sharpe": sr * math.sqrt(p), "sortino": ratio(mean, downside) * math.sqrt(p),
        "calmar": ratio(cagr, abs(max_dd)), "alpha_pct": alpha * p * 100, "beta": beta,
        "max_drawdown_pct": max_dd * 100,
        "avg_drawdown_pct": statistics.fmean(d for d, _ in episodes) * 100 if episodes else 0.0,
        "max_drawdown_bars": max((length for _, length in episodes), default=0),
        "avg_drawdown_bars": statistics.fmean(length for _, length in episodes) if episodes else 0.0,
        **reference_trade_stats(trades),
        "psr": psr(0.0), "dsr": psr(benchmark), "trials": count, "sharpe_bar": sr,
    }


def reference_trade_stats(trades: pd.DataFrame) -> dict[str, Any]:
    closed = [row for row in trades.itertuples() if not row.is_open]
    pnl = [row.pnl for row in closed]
    ret = [row.return_pct for row in closed]
    held = [row.duration_bars for row in closed]
    count = len(closed)
    out: dict[str, Any] = {"trades": count, "open_trades": len(trades) - count}
    if not count:
        return out | dict.fromkeys(("win_rate_pct", "best_trade_pct", "worst_trade_pct", "avg_trade_pct",
                                    "max_trade_bars", "avg_trade_bars", "profit_factor", "expectancy_pct", "sqn",
                                    "kelly"), math.nan)
    wins = [x for x in pnl if x > 0]
    losses = [x for x in pnl if x < 0]
    product = 1.0
    for x in ret:
        product *= 1 + x / 100
    win_fraction = len(wins) / count
    gains, lost = sum(wins), -sum(losses)
    std = statistics.stdev(ret) if count > 1 else math.nan
    return out | {
        "win_rate_pct": win_fraction * 100, "best_trade_pct": max(ret), "worst_trade_pct": min(ret),
        "avg_trade_pct": (product ** (1 / count) - 1) * 100 if all(x > -100 for x in ret) else math.nan,
        "max_trade_bars": max(held), "avg_trade_bars": statistics.fmean(held),
        "profit_factor": gains / lost if lost else (math.inf if gains else math.nan),
        "expectancy_pct": statistics.fmean(ret), "sqn": math.sqrt(count) * statistics.fmean(ret) / std,
        "kelly": (win_fraction - (1 - win_fraction) / (statistics.fmean(wins) / -statistics.fmean(losses))
                  if wins and losses else math.nan),
    }


def approx(expected: float) -> Any:
    return pytest.approx(expected, rel=1e-9)


def assert_same(actual: Any, expected: Any, key: str) -> None:
    if isinstance(expected, pd.Timestamp):
        assert actual == expected, key
    elif isinstance(expected, float) and math.isnan(expected):
        assert isinstance(actual, float) and math.isnan(actual), f"{key}: {actual!r} is not NaN"
    else:
        assert math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-12), f"{key}: {actual!r} != {expected!r}"


@pytest.mark.parametrize("case", CASES)
def test_every_statistic_matches_the_formulas_computed_here(case: str) -> None:
    trades, equity, options = CASES[case]
    stats = compute_stats(trades, equity, **options)
    assert tuple(stats) == STAT_KEYS
    expected = reference_stats(trades, equity, **options)
    for key in STAT_KEYS:
        assert_same(stats[key], expected[key], key)
    assert stats["sharpe_bar"] == sharpe_per_bar(equity["equity"].to_numpy(), init_cash=options.get("init_cash")) \
        or math.isnan(stats["sharpe_bar"])


def test_six_bars_worked_by_hand() -> None:
    # equity 100 → 110 → 99 → 118.8 → 118.8 → 112.86: r = +10 %, −10 %, +20 %, 0, −5 % (T = 5, no init_cash)
    # close 100 → 105 → 94.5 → 94.5 → 103.95 → 103.95:  b = +5 %, −10 %, 0, +10 %, 0
    equity = bars([100, 110, 99, 118.8, 118.8, 112.86], close=[100, 105, 94.5, 94.5, 103.95, 103.95],
                  position=[0, 1, 1, 0, -1, -1])
    trades = trade_frame([(10, 100, 2, False), (-5, 125, 1, False), (3, 150, 1, True)])  # returns 10 %, −4 %, open
    s = compute_stats(trades, equity, periods_per_year=252)
    assert (s["bars"], s["duration_days"], s["exposure_pct"]) == (6, 5.0, approx(400 / 6))
    assert (s["equity_final"], s["equity_peak"]) == (112.86, 118.8)
    assert s["return_pct"] == approx(12.86) and s["buy_hold_return_pct"] == approx(3.95)
    # mean r = 0.15 / 5 = 0.03; deviations .07 −.13 .17 −.03 −.08, squares sum to .058, var = .058 / 4 = .0145
    assert s["sharpe_bar"] == approx(0.03 / math.sqrt(0.0145))  # 0.249136
    assert s["sharpe"] == approx(0.03 / math.sqrt(0.0145) * math.sqrt(252))  # 3.954918
    assert s["volatility_ann_pct"] == approx(math.sqrt(0.0145) * math.sqrt(252) * 100)  # 191.154
    # downside: (.1² + .05²) / 5 = .0025 → .05; 0.03 / 0.05 = 0.6 per bar
    assert s["sortino"] == approx(0.6 * math.sqrt(252))  # 9.524705
    assert s["return_ann_pct"] == approx((1.1286 ** (252 / 5) - 1) * 100)  # 44,365 %
    assert s["cagr_pct"] == approx((1.1286 ** (365.25 / 5) - 1) * 100)  # 688,632 %
    # b mean .01, deviations .04 −.11 −.01 .09 −.01: Σ(b')² = .022, Σ b'r' = .0135 → β = .0135 / .022 = 0.613636;
    # α = .03 − β × .01 = 0.0238636 per bar
    assert s["beta"] == approx(0.0135 / 0.022)
    assert s["alpha_pct"] == approx((0.03 - 0.0135 / 0.022 * 0.01) * 252 * 100)  # 601.36 %
    # peaks 100 110 110 118.8 118.8 118.8 → d = 0, 0, −10 %, 0, 0, −5 %: an episode at bar 2 (peak bar 1,
    # recovered at bar 3: 2 bars) and one at bar 5 (peak bar 4, never recovered, runs to bar 5: 1 bar)
    assert s["max_drawdown_pct"] == approx(-10.0) and s["avg_drawdown_pct"] == approx(-7.5)
    assert (s["max_drawdown_bars"], s["avg_drawdown_bars"]) == (2, 1.5)
    assert s["calmar"] == approx((1.1286 ** (365.25 / 5) - 1) / 0.10)
    # closed trades +10 % and −4 % (pnl +10, −5); the open one is counted apart
    assert (s["trades"], s["open_trades"], s["win_rate_pct"]) == (2, 1, 50.0)
    assert (s["best_trade_pct"], s["worst_trade_pct"], s["expectancy_pct"]) == (approx(10), approx(-4), approx(3))
    assert s["avg_trade_pct"] == approx((math.sqrt(1.10 * 0.96) - 1) * 100)  # 2.7619 %
    assert (s["max_trade_bars"], s["avg_trade_bars"], s["profit_factor"]) == (2, 1.5, approx(2.0))
    assert s["sqn"] == approx(3 / 7)  # √2 × 3 / (14 / √2)
    assert s["kelly"] == approx(0.25)  # 0.5 − 0.5 / (10 / 5)
    # population skew 0.403407, kurtosis 1.763674; 1 − γ3·SR + (γ4 − 1)/4·SR² = 0.911347; z = SR·√4 / √0.911347
    assert s["psr"] == pytest.approx(0.699146, abs=1e-6) and s["dsr"] == s["psr"] and s["trials"] == 1


def test_a_curve_starting_below_the_cash_is_in_drawdown_from_bar_minus_one() -> None:
    # cash 100; d = −5 %, −3 %, 0, −1.98 %, 0, −2.91 %: episodes bars 0–1 (peak is the cash at bar −1,
    # recovered at bar 2: 3 bars), bar 3 (peak 2 → 4: 2 bars), bar 5 (peak 4, open: 1 bar)
    s = compute_stats(NO_TRADES, bars([95, 97, 101, 99, 103, 100]), periods_per_year=252, init_cash=100)
    assert (s["max_drawdown_bars"], s["avg_drawdown_bars"]) == (3, 2.0)
    assert s["max_drawdown_pct"] == pytest.approx(-5.0)
    assert s["return_pct"] == pytest.approx(0.0, abs=1e-12)
    assert s["equity_peak"] == 103  # the bars' own peak; the cash is not a bar


def test_a_flat_curve_has_no_ratios_and_no_drawdown() -> None:
    s = compute_stats(NO_TRADES, CASES["flat"][1], periods_per_year=252)
    assert (s["return_pct"], s["max_drawdown_pct"], s["avg_drawdown_pct"], s["max_drawdown_bars"]) == (0, 0, 0, 0)
    assert all(math.isnan(s[key]) for key in ("sharpe", "sortino", "calmar", "alpha_pct", "beta", "psr", "dsr",
                                              "win_rate_pct", "profit_factor", "sqn", "kelly"))
    assert s["exposure_pct"] == 0.0 and s["volatility_ann_pct"] == 0.0


def test_only_winners_give_an_infinite_profit_factor_and_no_kelly() -> None:
    s = compute_stats(*CASES["only_winners"][:2], periods_per_year=252)
    assert s["profit_factor"] == math.inf and math.isnan(s["kelly"]) and s["win_rate_pct"] == 100.0


def test_a_wiped_out_account_has_no_ratios_after_it() -> None:
    s = compute_stats(NO_TRADES, bars([100.0, 40.0, 0.0, 0.0]), periods_per_year=252)
    assert (s["return_pct"], s["max_drawdown_pct"], s["max_drawdown_bars"]) == (-100.0, -100.0, 3)
    assert all(math.isnan(s[key]) for key in ("sharpe", "sortino", "psr", "beta"))
    json.dumps(stats_json(s), allow_nan=False)


def test_a_trades_frame_without_dtypes_is_no_trades() -> None:
    s = compute_stats(pd.DataFrame(columns=list(TRADE_FRAME_COLUMNS)), random_bars(10, 1), periods_per_year=252)
    assert (s["trades"], s["open_trades"]) == (0, 0) and math.isnan(s["win_rate_pct"])


def test_a_trade_losing_everything_has_no_geometric_average() -> None:
    s = compute_stats(trade_frame([(-150, 100, 2, False), (10, 100, 1, False)]), random_bars(10, 1),
                      periods_per_year=252)
    assert math.isnan(s["avg_trade_pct"]) and s["expectancy_pct"] == pytest.approx(-70.0)


# -- the deflated Sharpe ratio ---------------------------------------------------------------------
def test_one_trial_leaves_the_sharpe_ratio_undeflated() -> None:
    trades, equity, _ = CASES["random_daily"]
    plain = compute_stats(trades, equity, periods_per_year=252)
    assert plain["dsr"] == plain["psr"] and plain["trials"] == 1
    for trials in (Trials(1, 0.0), Trials(1, math.nan), Trials(1, 0.5)):
        assert compute_stats(trades, equity, periods_per_year=252, trials=trials)["dsr"] == plain["psr"]
    assert compute_stats(trades, equity, periods_per_year=252, trials=Trials(40, 0.0))["dsr"] == \
        pytest.approx(plain["psr"], rel=1e-12)


def test_more_trials_deflate_more() -> None:
    trades, equity, _ = CASES["random_daily"]
    counts = (1, 2, 5, 10, 100, 1_000, 100_000)
    dsr = [compute_stats(trades, equity, periods_per_year=252, trials=Trials(n, 1e-3))["dsr"] for n in counts]
    assert all(later < earlier for earlier, later in itertools.pairwise(dsr)), dsr
    wider = compute_stats(trades, equity, periods_per_year=252, trials=Trials(100, 4e-3))["dsr"]
    assert wider < dsr[counts.index(100)]


def test_deflated_sharpe_ratio_by_its_formula() -> None:
    trades, equity, _ = CASES["random_daily"]
    s = compute_stats(trades, equity, periods_per_year=252, trials=Trials(25, 2e-3))
    r = equity["equity"].pct_change().to_numpy()[1:]
    sr = r.mean() / r.std(ddof=1)
    sr_star = math.sqrt(2e-3) * ((1 - EULER_GAMMA) * scipy_stats.norm.ppf(1 - 1 / 25)
                                 + EULER_GAMMA * scipy_stats.norm.ppf(1 - 1 / (25 * math.e)))
    g3, g4 = scipy_stats.skew(r), scipy_stats.kurtosis(r, fisher=False)
    z = (sr - sr_star) * math.sqrt(len(r) - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
    assert s["dsr"] == pytest.approx(scipy_stats.norm.cdf(z), rel=1e-9)
    assert s["trials"] == 25 and s["sharpe_bar"] == pytest.approx(sr, rel=1e-12)


def test_sharpe_per_bar() -> None:
    values = CASES["random_daily"][1]["equity"].to_numpy()
    r = np.diff(values) / values[:-1]
    assert sharpe_per_bar(values) == pytest.approx(statistics.fmean(r) / statistics.stdev(r), rel=1e-9)
    with_cash = np.r_[values[0] / 900 - 1, r]
    assert sharpe_per_bar(values, init_cash=900) == pytest.approx(statistics.fmean(with_cash)
                                                                  / statistics.stdev(with_cash), rel=1e-9)
    assert all(math.isnan(sharpe_per_bar(np.array(v))) for v in ([], [5.0], [5.0, 6.0], [5.0, 5.0, 5.0]))


# -- reference libraries ---------------------------------------------------------------------------
def test_quantstats_agrees_where_its_conventions_match() -> None:
    """quantstats' sharpe (ddof=1, rf 0), volatility, sortino (downside over all bars, as here),
    max_drawdown (a baseline of 1 before the first return) and greeks (covariance beta, alpha
    annualised by × periods) agree. Its PSR uses pandas' bias-corrected skewness and kurtosis
    where this uses the population moments, so it agrees only through the formula; its CAGR
    counts years as bars / periods, not calendar days (and so does its Calmar); its win rate,
    profit factor and Kelly are of bar returns, not of trades."""
    qs = pytest.importorskip("quantstats")
    for init_cash in (None, 990.0):
        trades, equity, _ = CASES["random_init_cash"]
        s = compute_stats(trades, equity, periods_per_year=365, init_cash=init_cash)
        values, closes = equity["equity"].to_numpy(), equity["close"].to_numpy()
        index = pd.DatetimeIndex(equity["timestamp"]).tz_localize(None)
        if init_cash is None:
            r = pd.Series(values[1:] / values[:-1] - 1, index=index[1:])
            b = pd.Series(closes[1:] / closes[:-1] - 1, index=index[1:])
        else:
            r = pd.Series(values / np.r_[init_cash, values[:-1]] - 1, index=index)
            b = pd.Series(np.r_[0.0, closes[1:] / closes[:-1] - 1], index=index)
        assert s["sharpe"] == pytest.approx(qs.stats.sharpe(r, periods=365), rel=1e-9)
        assert s["volatility_ann_pct"] == pytest.approx(qs.stats.volatility(r, periods=365) * 100, rel=1e-9)
        assert s["sortino"] == pytest.approx(qs.stats.sortino(r, periods=365), rel=1e-9)
        assert s["max_drawdown_pct"] == pytest.approx(qs.stats.max_drawdown(r) * 100, rel=1e-9)
        greeks = qs.stats.greeks(r, b, periods=365)
        assert s["beta"] == pytest.approx(greeks["beta"], rel=1e-9)
        assert s["alpha_pct"] == pytest.approx(greeks["alpha"] * 100, rel=1e-9)
        sr, t = s["sharpe_bar"], len(r)
        g3, g4 = r.skew(), r.kurtosis() + 3  # pandas' sample-adjusted moments, as quantstats takes them
        theirs = scipy_stats.norm.cdf(sr * math.sqrt(t - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2))
        assert qs.stats.probabilistic_sharpe_ratio(r) == pytest.approx(theirs, rel=1e-9)
        assert s["psr"] == pytest.approx(theirs, abs=0.01)


def test_backtesting_py_agrees_where_its_conventions_match() -> None:
    """backtesting.py's compute_stats, fed the same equity, closes and closed trades on daily bars
    with weekends (which it annualises with 365 days), agrees on final and peak equity, return,
    buy & hold, annualised return (its geometric mean of daily returns compounds to the same
    figure), CAGR, max and average drawdown and their durations (days = bars here; it rounds
    averages up to whole days), win rate, best, worst and geometric average trade, expectancy,
    Kelly and the longest trade. Its profit factor sums returns and its SQN uses P&L, the other
    way round from here, so they agree only because every trade below has the same notional.
    It differs on Sharpe, Sortino and volatility (annualised geometric return over a volatility
    compounded from daily variance), Calmar (annualised return, not CAGR), alpha (Jensen's, on
    total returns) and beta (on log returns), exposure (the bars between a trade's entry and exit,
    both included, not the position at each close), and it knows no init_cash; an open drawdown
    of a single final bar is also missed by it, which the curve below avoids."""
    bt_stats = pytest.importorskip("backtesting._stats")
    equity = random_bars(300, 21)
    values = equity["equity"].to_numpy(copy=True)
    values[-2:] = values.max() * np.array([0.97, 0.96])  # end in an open drawdown of two bars
    equity["equity"] = values
    trades = random_trades(30, 22, open_last=False, notional=1_000.0)
    trades["entry_bar"] = np.arange(30) * 9
    trades["exit_bar"] = trades["entry_bar"] + trades["duration_bars"]
    s = compute_stats(trades, equity, periods_per_year=365)
    ohlc = pd.DataFrame({"Close": equity["close"].to_numpy()}, index=pd.DatetimeIndex(equity["timestamp"]))
    theirs = bt_stats.compute_stats(pd.DataFrame({
        "PnL": trades["pnl"], "ReturnPct": trades["return_pct"] / 100, "EntryBar": trades["entry_bar"],
        "ExitBar": trades["exit_bar"], "Duration": pd.to_timedelta(trades["duration_bars"], unit="D"),
    }), values, ohlc, None, 0)
    pairs = {"equity_final": "Equity Final [$]", "equity_peak": "Equity Peak [$]", "return_pct": "Return [%]",
             "buy_hold_return_pct": "Buy & Hold Return [%]", "return_ann_pct": "Return (Ann.) [%]",
             "cagr_pct": "CAGR [%]", "max_drawdown_pct": "Max. Drawdown [%]", "avg_drawdown_pct": "Avg. Drawdown [%]",
             "trades": "# Trades", "win_rate_pct": "Win Rate [%]", "best_trade_pct": "Best Trade [%]",
             "worst_trade_pct": "Worst Trade [%]", "avg_trade_pct": "Avg. Trade [%]",
             "expectancy_pct": "Expectancy [%]", "kelly": "Kelly Criterion", "profit_factor": "Profit Factor",
             "sqn": "SQN"}
    for ours, name in pairs.items():
        assert s[ours] == pytest.approx(float(theirs[name]), rel=1e-9), name
    day = pd.Timedelta(days=1)
    assert theirs["Max. Drawdown Duration"] == s["max_drawdown_bars"] * day
    assert theirs["Avg. Drawdown Duration"] == math.ceil(s["avg_drawdown_bars"]) * day
    assert theirs["Max. Trade Duration"] == s["max_trade_bars"] * day
    assert theirs["Avg. Trade Duration"] == math.ceil(s["avg_trade_bars"]) * day


# -- hostile arguments ------------------------------------------------------------------------------
@pytest.mark.parametrize("periods", [0, -252, math.nan, math.inf, -math.inf, "252", None, True])
def test_periods_per_year_must_be_a_finite_positive_number(periods: Any) -> None:
    trades, equity, _ = CASES["random_daily"]
    with pytest.raises(ValueError, match=f"periods_per_year .*{re.escape(repr(periods))}"):
        compute_stats(trades, equity, periods_per_year=periods)


@pytest.mark.parametrize("cash", [0, -100.0, math.nan, math.inf, "1000"])
def test_init_cash_must_be_a_finite_positive_number(cash: Any) -> None:
    with pytest.raises(ValueError, match="init_cash"):
        compute_stats(NO_TRADES, bars([1.0, 2.0]), periods_per_year=252, init_cash=cash)


def test_empty_equity_is_refused() -> None:
    with pytest.raises(ValueError, match="equity has no rows"):
        compute_stats(NO_TRADES, bars([]), periods_per_year=252)


@pytest.mark.parametrize("column", EQUITY_COLUMNS)
def test_a_missing_equity_column_is_named(column: str) -> None:
    with pytest.raises(ValueError, match=f"equity has no '{column}' column"):
        compute_stats(NO_TRADES, bars([1.0, 2.0]).drop(columns=column), periods_per_year=252)


@pytest.mark.parametrize("column", TRADE_COLUMNS)
def test_a_missing_trade_column_is_named(column: str) -> None:
    with pytest.raises(ValueError, match=f"trades has no '{column}' column"):
        compute_stats(NO_TRADES.drop(columns=column), bars([1.0, 2.0]), periods_per_year=252)


@pytest.mark.parametrize(("column", "bad"), [("equity", math.nan), ("equity", math.inf), ("close", math.nan),
                                             ("position", math.nan)])
def test_missing_numbers_are_named_with_their_row(column: str, bad: float) -> None:
    equity = bars([1.0, 2.0, 3.0, 4.0])
    equity.loc[2, column] = bad
    with pytest.raises(ValueError, match=f"equity column '{column}' has 1 missing or infinite value.*row 2"):
        compute_stats(NO_TRADES, equity, periods_per_year=252)


def test_bad_timestamps_and_trades_are_refused() -> None:
    equity = bars([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="strictly increasing"):
        compute_stats(NO_TRADES, equity.iloc[[0, 2, 1]], periods_per_year=252)
    with pytest.raises(ValueError, match="must hold timestamps"):
        compute_stats(NO_TRADES, equity.assign(timestamp=[1, 2, 3]), periods_per_year=252)
    with pytest.raises(ValueError, match="first equity value must be above 0"):
        compute_stats(NO_TRADES, bars([0.0, 1.0]), periods_per_year=252)
    trades = trade_frame([(1, 10, 1, False), (2, 10, 1, False)])
    trades.loc[1, "pnl"] = math.nan
    with pytest.raises(ValueError, match="trades column 'pnl' has 1 missing.*row 1"):
        compute_stats(trades, equity, periods_per_year=252)
    trades.loc[1, "is_open"] = True  # an open trade's numbers are not read
    assert compute_stats(trades, equity, periods_per_year=252)["trades"] == 1
    with pytest.raises(TypeError, match="DataFrame"):
        compute_stats(NO_TRADES, equity.to_dict(), periods_per_year=252)  # type: ignore[arg-type]


@pytest.mark.parametrize(("count", "variance"), [(0, 0.0), (-1, 0.0), (2.5, 0.0), (True, 0.0), (3, math.nan),
                                                 (3, -0.1), (3, math.inf), (1, -1.0), (3, "0.1")])
def test_trials_are_validated(count: Any, variance: Any) -> None:
    with pytest.raises(ValueError, match="trials"):
        Trials(count, variance)


def test_inputs_are_left_untouched() -> None:
    for trades, equity, options in CASES.values():
        before_trades, before_equity = trades.copy(deep=True), equity.copy(deep=True)
        compute_stats(trades, equity, **options)
        pd.testing.assert_frame_equal(trades, before_trades)
        pd.testing.assert_frame_equal(equity, before_equity)


# -- JSON -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES)
def test_stats_json_is_plain_json(case: str) -> None:
    trades, equity, options = CASES[case]
    stats = compute_stats(trades, equity, **options)
    out = stats_json(stats)
    assert list(out) == list(STAT_KEYS)
    json.dumps(out, allow_nan=False)
    for key, value in stats.items():
        if isinstance(value, float) and not math.isfinite(value):
            assert out[key] is None, key
    assert out["start"] == equity["timestamp"].iloc[0].isoformat() and out["start"].endswith("+00:00")


def test_stats_json_converts_numpy_scalars_and_times() -> None:
    out = stats_json({"a": np.float64(1.5), "b": np.int64(3), "c": np.float32("nan"), "d": -np.inf, "e": np.bool_(True),
                      "f": np.datetime64("2021-01-02T03:04:05"), "g": pd.NaT, "h": None, "i": "text"})
    assert out == {"a": 1.5, "b": 3, "c": None, "d": None, "e": True, "f": "2021-01-02T03:04:05", "g": None,
                   "h": None, "i": "text"}
    assert [type(v) for v in out.values()][:2] == [float, int]
    with pytest.raises(ValueError, match="'z'"):
        stats_json({"z": object()})


def test_every_key_has_a_label() -> None:
    assert tuple(STAT_LABELS) == STAT_KEYS and all(STAT_LABELS.values())
    assert STAT_LABELS["sharpe"] == "Sharpe ratio" and STAT_LABELS["return_pct"] == "Return %"
