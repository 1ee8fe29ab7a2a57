"""Bars and lines thinned to what a chart can show: one bucket per pixel column.

Candles keep their meaning when merged: a bucket of consecutive bars is one candle with the
first open, the highest high, the lowest low, the last close and the summed volume, dated at
its first bar. A line keeps its extremes: each bucket gives its minimum and its maximum, in
the order they occurred, so no spike disappears. Buckets are runs of consecutive bars (not
of clock time), so nights, weekends and missing days take no room.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

BUCKETS_MAX: Final = 4_000


@dataclass(frozen=True)
class Candles:
    index: np.ndarray  # row of each candle's first bar
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray


def _starts(rows: int, buckets: int) -> np.ndarray:
    buckets = max(1, min(buckets, BUCKETS_MAX, rows))
    return np.unique(np.linspace(0, rows, num=buckets, endpoint=False).astype(np.int64))


def candles(open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray,
            buckets: int) -> Candles:
    """OHLCV merged into at most ``buckets`` candles of consecutive bars (all of them when fewer)."""
    rows = len(close)
    if rows == 0:
        empty = np.array([], dtype=float)
        return Candles(np.array([], dtype=np.int64), empty, empty, empty, empty, empty)
    if rows <= buckets:
        return Candles(np.arange(rows), open_, high, low, close, volume)
    starts = _starts(rows, buckets)
    ends = np.append(starts[1:], rows) - 1
    with np.errstate(invalid="ignore"):
        return Candles(
            index=starts, open=open_[starts], close=close[ends],
            high=np.fmax.reduceat(high, starts), low=np.fmin.reduceat(low, starts),
            volume=np.add.reduceat(np.nan_to_num(volume) if np.isnan(volume).any() else volume, starts),
        )


def extremes(values: np.ndarray, buckets: int) -> np.ndarray:
    """Rows to draw a line through: each bucket's minimum and maximum, in time order (NaN-only
    buckets give their first row, so a gap stays a gap). Vectorised: one pass per reduction,
    whatever the number of buckets."""
    rows = len(values)
    if rows <= 2 * buckets:
        return np.arange(rows)
    starts = _starts(rows, buckets)
    bucket = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, rows)))
    # fmin/fmax skip NaN; a bucket of NaN only reduces to NaN
    lows, highs = np.fmin.reduceat(values, starts), np.fmax.reduceat(values, starts)
    first_low = _first_per_bucket(bucket, values == lows[bucket], len(starts))
    first_high = _first_per_bucket(bucket, values == highs[bucket], len(starts))
    empty = np.isnan(lows)
    first_low[empty] = starts[empty]
    first_high[empty] = starts[empty]
    return np.unique(np.concatenate([first_low, first_high]))


def _first_per_bucket(bucket: np.ndarray, hit: np.ndarray, buckets: int) -> np.ndarray:
    """The first row of each bucket where ``hit`` holds (-1 where it never does)."""
    rows = np.flatnonzero(hit)
    out = np.full(buckets, -1, dtype=np.int64)
    seen, first = np.unique(bucket[rows], return_index=True)
    out[seen] = rows[first]
    return out
