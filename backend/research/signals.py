"""Does an indicator say anything about what comes next? Information coefficients, computed here.

For one instrument: the IC at each horizon *h* is Spearman's rank correlation between the
indicator at a bar and the return over the next *h* bars, on **non-overlapping** samples (every
*h*-th bar), so neighbouring samples do not share returns and the t-statistic means what it
says; the rolling IC is the same correlation over the last ``window`` bars (overlapping within
the window, as its name says), at up to ``points`` window ends. For a panel: the cross-sectional
IC of each date (across symbols), its mean and t-statistic, and the mean forward return of each
indicator quintile — the alphalens-style view.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

DEFAULT_HORIZONS: Final = (1, 5, 20)
DEFAULT_WINDOW: Final = 250
MIN_SAMPLES: Final = 10


class SignalError(ValueError):
    """An analysis that cannot be made; the message can be shown."""


def _ranks(values: np.ndarray) -> np.ndarray:
    return pd.Series(values).rank(method="average").to_numpy()


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation of the pairs where both are known (NaN with fewer than 3)."""
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 3:
        return float("nan")
    rx, ry = _ranks(x[keep]), _ranks(y[keep])
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def t_stat(ic: float, n: int) -> float:
    """The t-statistic of a correlation over ``n`` independent samples."""
    if not math.isfinite(ic) or n < 3 or abs(ic) >= 1:
        return float("nan")
    return ic * math.sqrt((n - 2) / (1 - ic * ic))


def forward_returns(close: np.ndarray, h: int) -> np.ndarray:
    out = np.full(len(close), np.nan)
    if len(close) > h:
        out[:-h] = close[h:] / close[:-h] - 1
    return out


@dataclass(frozen=True)
class HorizonIC:
    horizon: int
    ic: float
    t_stat: float
    samples: int
    rolling_end: list[pd.Timestamp]
    rolling_ic: list[float]


def _clean_horizons(horizons: Sequence[int]) -> list[int]:
    out = []
    for h in horizons:
        if isinstance(h, bool) or not isinstance(h, int) or not 1 <= h <= 10_000:
            raise SignalError(f"horizon: a whole number of bars from 1 to 10,000, got {str(h)[:20]!r}")
        out.append(h)
    if not out or len(out) > 10:
        raise SignalError("horizons: one to ten")
    return sorted(set(out))


def instrument_ic(timestamps: pd.Series, indicator: np.ndarray, close: np.ndarray,
                  horizons: Sequence[int] = DEFAULT_HORIZONS, window: int = DEFAULT_WINDOW,
                  points: int = 500) -> list[HorizonIC]:
    """The IC of ``indicator`` against forward returns at each horizon, and its rolling IC."""
    if not 20 <= window <= 100_000:
        raise SignalError("window: from 20 to 100,000 bars")
    indicator, close = np.asarray(indicator, float), np.asarray(close, float)
    out = []
    for h in _clean_horizons(horizons):
        fwd = forward_returns(close, h)
        sampled = np.arange(0, len(close), h)  # non-overlapping: each return used once
        x, y = indicator[sampled], fwd[sampled]
        known = int((np.isfinite(x) & np.isfinite(y)).sum())
        ic = spearman(x, y) if known >= MIN_SAMPLES else float("nan")
        ends = np.unique(np.linspace(window, len(close), num=min(points, max(len(close) - window + 1, 0)),
                                     dtype=int)) if len(close) >= window else np.array([], dtype=int)
        rolling = [spearman(indicator[e - window:e], fwd[e - window:e]) for e in ends]
        out.append(HorizonIC(h, ic, t_stat(ic, known), known, [timestamps.iloc[e - 1] for e in ends], rolling))
    return out


@dataclass(frozen=True)
class PanelIC:
    horizon: int
    dates: list[pd.Timestamp]
    ic: list[float]
    mean_ic: float
    t_stat: float
    quantile_returns: dict[int, float]  # quintile (1 = lowest indicator) → mean forward return


def panel_ic(frame: pd.DataFrame, indicator: str, horizons: Sequence[int] = DEFAULT_HORIZONS,
             quantiles: int = 5) -> list[PanelIC]:
    """Cross-sectional ICs of a panel (``timestamp``, ``symbol``, ``close``, ``indicator``)."""
    for column in ("timestamp", "symbol", "close", indicator):
        if column not in frame.columns:
            raise SignalError(f"the panel has no {column!r} column")
    if frame["symbol"].nunique() < 3:
        raise SignalError("a cross-section needs three symbols or more")
    data = frame[["timestamp", "symbol", "close", indicator]].copy()
    out = []
    for h in _clean_horizons(horizons):
        data["fwd"] = data.groupby("symbol", sort=False)["close"].transform(
            lambda c, h=h: pd.Series(forward_returns(c.to_numpy(float), h), index=c.index))
        known = data[np.isfinite(data[indicator]) & np.isfinite(data["fwd"])]
        dates, ics, buckets = [], [], []
        for stamp, day in known.groupby("timestamp", sort=True):
            if len(day) < 3:
                continue
            dates.append(pd.Timestamp(stamp))
            ics.append(spearman(day[indicator].to_numpy(float), day["fwd"].to_numpy(float)))
            groups = min(quantiles, len(day))
            # quintile by rank within the date (ties share the average rank): 1 is the lowest indicator
            rank = day[indicator].rank(method="first").to_numpy()
            bucket = np.ceil(rank * groups / len(day)).astype(int)
            buckets.append(pd.DataFrame({"q": bucket, "fwd": day["fwd"].to_numpy(float)}))
        series = np.array(ics, dtype=float)
        finite = series[np.isfinite(series)]
        mean = float(finite.mean()) if finite.size else float("nan")
        sd = float(finite.std(ddof=1)) if finite.size > 1 else float("nan")
        t = mean / sd * math.sqrt(finite.size) if finite.size > 1 and sd > 0 else float("nan")
        by_q: dict[int, float] = {}
        if buckets:
            every = pd.concat(buckets)
            by_q = {int(q): float(v) for q, v in every.groupby("q")["fwd"].mean().items()}
        out.append(PanelIC(h, dates, ics, mean, t, by_q))
    return out


def as_public(items: Sequence[Any]) -> list[dict[str, Any]]:
    """Results as JSON-ready dictionaries (NaN as None, times as ISO)."""
    def clean(value: Any) -> Any:
        if isinstance(value, float):
            return None if not math.isfinite(value) else value
        if isinstance(value, pd.Timestamp):
            return value.isoformat()
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, dict):
            return {str(k): clean(v) for k, v in value.items()}
        return value

    return [{k: clean(v) for k, v in item.__dict__.items()} for item in items]
