"""Information coefficients against scipy's Spearman on the same samples: non-overlapping samples per
horizon, the rolling IC, the t-statistic; for a panel the cross-sectional IC per date, its mean and
t-statistic, and quintile returns computed by hand with pandas."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from backend.research.signals import SignalError, forward_returns, instrument_ic, panel_ic, spearman


def series(n: int = 1200, seed: int = 3) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    returns = rng.normal(0, 0.01, n)
    close = 100 * np.exp(np.cumsum(returns))
    # an indicator that knows a little of the next return, plus noise
    signal = np.roll(returns, -1) * 0.3 + rng.normal(0, 0.01, n)
    signal[:15] = np.nan
    stamps = pd.Series(pd.date_range("2018-01-01", periods=n, freq="D", tz="UTC"))
    return stamps, signal, close


def test_spearman_matches_scipy_and_ignores_missing_pairs() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=300), rng.normal(size=300)
    x[::7] = np.nan
    keep = np.isfinite(x)
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x[keep], y[keep]).statistic, abs=1e-12)
    assert math.isnan(spearman(np.array([1.0, np.nan]), np.array([1.0, 2.0])))


def test_instrument_ic_uses_non_overlapping_samples_and_matches_scipy() -> None:
    stamps, signal, close = series()
    results = instrument_ic(stamps, signal, close, horizons=(1, 5, 20), window=250, points=50)
    assert [r.horizon for r in results] == [1, 5, 20]
    for r in results:
        fwd = close[r.horizon:] / close[:-r.horizon] - 1
        fwd = np.concatenate([fwd, np.full(r.horizon, np.nan)])
        idx = np.arange(0, len(close), r.horizon)
        x, y = signal[idx], fwd[idx]
        keep = np.isfinite(x) & np.isfinite(y)
        want = stats.spearmanr(x[keep], y[keep])
        assert r.samples == keep.sum()
        assert r.ic == pytest.approx(want.statistic, abs=1e-12)
        n = keep.sum()
        assert r.t_stat == pytest.approx(want.statistic * math.sqrt((n - 2) / (1 - want.statistic ** 2)), rel=1e-9)
        assert 1 <= len(r.rolling_ic) <= 50
        end = stamps.tolist().index(r.rolling_end[-1]) + 1
        window_x, window_y = signal[end - 250:end], fwd[end - 250:end]
        keep = np.isfinite(window_x) & np.isfinite(window_y)
        assert r.rolling_ic[-1] == pytest.approx(stats.spearmanr(window_x[keep], window_y[keep]).statistic, abs=1e-12)
    assert results[0].ic > 0.1 and results[0].t_stat > 3  # the signal was built to know the next bar


def test_panel_ic_per_date_and_quintiles_by_hand() -> None:
    rng = np.random.default_rng(7)
    symbols = [f"S{i:02d}" for i in range(12)]
    dates = pd.date_range("2020-01-01", periods=60, freq="D", tz="UTC")
    rows = []
    for symbol in symbols:
        close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, len(dates))))
        fwd = forward_returns(close, 1)
        signal = np.nan_to_num(fwd, nan=0.0) * 0.5 + rng.normal(0, 0.02, len(dates))
        rows.append(pd.DataFrame({"timestamp": dates, "symbol": symbol, "close": close, "sig": signal}))
    panel = pd.concat(rows).sort_values(["timestamp", "symbol"]).reset_index(drop=True)
    (result,) = panel_ic(panel, "sig", horizons=(1,))
    panel["fwd"] = panel.groupby("symbol")["close"].transform(lambda c: c.shift(-1) / c - 1)
    want = []
    for _, day in panel.dropna(subset=["fwd"]).groupby("timestamp"):
        want.append(stats.spearmanr(day["sig"], day["fwd"]).statistic)
    np.testing.assert_allclose(result.ic, want, atol=1e-12)
    assert result.mean_ic == pytest.approx(np.mean(want))
    assert result.t_stat == pytest.approx(np.mean(want) / np.std(want, ddof=1) * math.sqrt(len(want)))
    known = panel.dropna(subset=["fwd"]).copy()
    known["q"] = known.groupby("timestamp")["sig"].transform(lambda s: np.ceil(s.rank(method="first") * 5 / len(s)))
    by_hand = known.groupby("q")["fwd"].mean()
    assert result.quantile_returns == pytest.approx({int(q): v for q, v in by_hand.items()})
    assert result.quantile_returns[5] > result.quantile_returns[1]


def test_bad_requests_are_refused() -> None:
    stamps, signal, close = series(100)
    for horizons in ((0,), (True,), ("5",), (), tuple(range(1, 12))):
        with pytest.raises(SignalError):
            instrument_ic(stamps, signal, close, horizons=horizons)
    with pytest.raises(SignalError, match="window"):
        instrument_ic(stamps, signal, close, window=5)
    two = pd.DataFrame({"timestamp": stamps[:4].tolist() * 2, "symbol": ["A"] * 4 + ["B"] * 4, "close": 1.0, "sig": 1.0})
    with pytest.raises(SignalError, match="three symbols"):
        panel_ic(two, "sig")
    with pytest.raises(SignalError, match="no 'nope'"):
        panel_ic(two, "nope")
    short = instrument_ic(stamps[:30], signal[:30], close[:30], horizons=(20,), window=25)
    assert math.isnan(short[0].ic)  # too few samples for an IC: said as NaN, not a number
