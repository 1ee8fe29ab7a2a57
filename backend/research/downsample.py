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
    buckets give their first row, so a gap stays a gap)."""
    rows = len(values)
    if rows <= 2 * buckets:
        return np.arange(rows)
    starts = _starts(rows, buckets)
    ends = np.append(starts[1:], rows)
    keep: list[int] = []
    for start, end in zip(starts, ends, strict=True):
        chunk = values[start:end]
        if np.isnan(chunk).all():
            keep.append(int(start))
            continue
        low, high = int(np.nanargmin(chunk)) + start, int(np.nanargmax(chunk)) + start
        keep.extend(sorted({low, high}))
    return np.asarray(keep, dtype=np.int64)
