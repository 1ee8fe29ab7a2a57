"""Thinning for the explorer against pandas: merged candles keep first open, highest high, lowest low,
last close and total volume; lines keep every bucket's extremes; short series are left whole."""

from __future__ import annotations

import numpy as np
import pandas as pd

from backend.research.downsample import candles, extremes


def test_candles_merge_like_a_resample_of_consecutive_bars() -> None:
    rng = np.random.default_rng(2)
    n = 10_007
    close = 100 + rng.normal(0, 1, n).cumsum()
    frame = pd.DataFrame({"open": close + rng.normal(0, 0.1, n), "high": close + 1, "low": close - 1, "close": close,
                          "volume": rng.integers(0, 100, n).astype(float)})
    got = candles(*(frame[c].to_numpy() for c in ("open", "high", "low", "close", "volume")), buckets=700)
    assert len(got.index) <= 700 and got.index[0] == 0
    bucket = np.searchsorted(got.index, np.arange(n), side="right") - 1
    want = frame.groupby(bucket).agg(open=("open", "first"), high=("high", "max"), low=("low", "min"),
                                     close=("close", "last"), volume=("volume", "sum"))
    for column in ("open", "high", "low", "close", "volume"):
        np.testing.assert_allclose(getattr(got, column), want[column].to_numpy())
    assert got.volume.sum() == frame["volume"].sum()
    whole = candles(*(frame[c].to_numpy()[:50] for c in ("open", "high", "low", "close", "volume")), buckets=700)
    assert len(whole.index) == 50


def test_lines_keep_every_buckets_extremes_and_gaps() -> None:
    values = np.sin(np.linspace(0, 60, 50_000))
    values[25_000] = 9.0  # a spike
    values[30_000:31_000] = np.nan
    rows = extremes(values, 500)
    assert len(rows) <= 1_000 and (np.diff(rows) > 0).all()
    assert 25_000 in rows and np.nanmax(values[rows]) == 9.0 and np.nanmin(values[rows]) == np.nanmin(values)
    assert np.isnan(values[rows]).any()  # the gap is still drawn as a gap
    assert (extremes(values[:100], 500) == np.arange(100)).all()


def test_extremes_keeps_each_buckets_first_minimum_and_maximum_as_a_loop_finds_them():
    from backend.research.downsample import _starts, extremes

    def by_loop(values: np.ndarray, buckets: int) -> list[int]:
        if len(values) <= 2 * buckets:
            return list(range(len(values)))
        starts = _starts(len(values), buckets)
        keep: list[int] = []
        for start, end in zip(starts, [*starts[1:], len(values)], strict=True):
            chunk = values[start:end]
            if np.isnan(chunk).all():
                keep.append(int(start))
            else:
                keep.extend(sorted({int(np.nanargmin(chunk)) + start, int(np.nanargmax(chunk)) + start}))
        return keep

    rng = np.random.default_rng(4)
    for trial in range(60):
        n = int(rng.integers(1, 8000))
        values = rng.normal(size=n).round(1)  # ties: the first of equal extremes is kept
        values[rng.random(n) < 0.2] = np.nan
        if trial % 4 == 0:
            values[50:1500] = np.nan  # whole buckets missing
        buckets = int(rng.integers(1, 900))
        assert extremes(values, buckets).tolist() == by_loop(values, buckets), (n, buckets)
