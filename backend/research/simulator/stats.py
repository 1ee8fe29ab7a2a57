"""Performance statistics of one simulated account: returns, risk, drawdowns, trades, and how far
its Sharpe ratio can be trusted.

``compute_stats(trades, equity, periods_per_year=..., trials=..., init_cash=...)`` reads the
simulator's two frames for one column and returns a flat dict in the order of ``STAT_KEYS``
(``STAT_LABELS`` names each figure for people); ``stats_json`` turns that dict into plain JSON
values. Nothing is mutated and every figure comes from whole-array NumPy work, so a million bars
cost a few tens of milliseconds.

Conventions
-----------
Bars and returns
    ``n`` bars. The *initial* equity is ``init_cash`` when given, else the first bar's equity.
    Bar returns ``r`` are the equity's simple returns from one close to the next; when
    ``init_cash`` is given the first bar gets a return too, measured against the cash
    (``r[0] = equity[0] / init_cash − 1``), so ``r`` has ``n`` values, otherwise ``n − 1``.
    ``T = len(r)`` everywhere below. The buy-and-hold bar returns ``b`` are the close's returns
    aligned the same way; the first of them is 0 when ``init_cash`` is given, because the account
    holds cash, not the asset, before the first bar. The risk-free rate is 0 throughout.

Span
    ``start`` and ``end`` are the first and last timestamps, ``bars`` is n and ``duration_days``
    the time between them in days. ``exposure_pct`` is the share of bars closing with a position
    (``position`` ≠ 0) × 100. ``equity_final`` is the last bar's equity and ``equity_peak`` the
    highest bar's (the cash itself is not a bar).

Return and risk
    ``return_pct`` = (final / initial − 1) × 100; ``buy_hold_return_pct`` = (last close / first
    close − 1) × 100. ``return_ann_pct`` compounds the total return over ``T`` bars to ``P`` =
    ``periods_per_year`` bars: ((final / initial)^(P / T) − 1) × 100. ``volatility_ann_pct`` =
    std(r, ddof=1) × √P × 100. ``cagr_pct`` uses calendar time instead: ((final / initial)^(365.25 /
    duration_days) − 1) × 100, NaN for a zero duration. ``sharpe`` = mean(r) / std(r, ddof=1) × √P
    and ``sharpe_bar`` the same without √P; volatility and Sharpe need two returns that differ, or
    are NaN. ``sortino`` = mean(r) / √mean(min(r, 0)²) × √P, the
    downside deviation taken over all bars (+inf when no bar lost and the mean is positive).
    ``calmar`` = CAGR / |max drawdown| as fractions (+inf with a positive CAGR and no drawdown).
    ``beta`` and ``alpha_pct`` come from the least-squares line r = α + β·b; alpha is annualised as
    α × P × 100. Both are NaN when ``b`` does not vary.

Drawdowns
    d_t = equity_t / peak_t − 1, where peak_t is the running maximum of the equity, starting from
    ``init_cash`` when given (so a first bar below the cash is already in drawdown).
    ``max_drawdown_pct`` = min(d) × 100, zero or negative. An episode is a maximal run of bars
    with d < 0; ``avg_drawdown_pct`` is the mean over episodes of each one's deepest d × 100 (0
    when there is none). An episode lasts from its peak bar — the bar just before it, or bar −1
    (the cash) when it starts at the first bar — to its recovery bar, the first bar back at d = 0;
    one still open at the end runs to the last bar. ``max_drawdown_bars`` and
    ``avg_drawdown_bars`` are the longest and the mean of those lengths (0 when there is none).

Trades
    Only closed trades enter trade statistics; trades still open at the last bar count in the
    equity and in ``open_trades`` but nowhere else. With N closed trades: ``win_rate_pct`` is
    the share with pnl > 0 (a zero pnl is not a win); ``best_trade_pct``, ``worst_trade_pct`` and
    ``expectancy_pct`` are the max, min and arithmetic mean of ``return_pct``; ``avg_trade_pct`` is
    their geometric mean ((Π(1 + ret/100))^(1/N) − 1) × 100, NaN when a trade lost 100 % or more;
    ``max_trade_bars`` and ``avg_trade_bars`` describe ``duration_bars``. ``profit_factor`` =
    Σ winning pnl / |Σ losing pnl| (+inf with wins and no loss, NaN with neither). ``sqn`` =
    √N × mean(return_pct) / std(return_pct, ddof=1), uncapped. ``kelly`` = W − (1 − W) / R with W
    the win fraction and R the mean winning pnl over the mean losing |pnl| (NaN without a win or
    without a loss). A statistic that needs trades is NaN when N = 0.

Trusting the Sharpe ratio
    ``psr`` is the probabilistic Sharpe ratio (Bailey & López de Prado, 2012), the probability
    that the true per-bar Sharpe exceeds SR* = 0: Φ((SR − SR*) √(T − 1) / √(1 − γ3·SR + (γ4 − 1)/4 ·
    SR²)) with SR = ``sharpe_bar`` and γ3, γ4 the population skewness and (non-excess) kurtosis of
    ``r`` (NaN where ``sharpe_bar`` is). ``dsr``, the deflated Sharpe ratio (Bailey & López de Prado, 2014), is the same with
    SR* = √V × ((1 − γ) Φ⁻¹(1 − 1/N) + γ Φ⁻¹(1 − 1/(N e))), the Sharpe ratio the best of N
    unskilled trials would be expected to reach: N and V (the variance of the trials' per-bar
    Sharpe ratios) come from ``trials``, γ is the Euler–Mascheroni constant. One trial (or no
    ``trials``) makes ``dsr`` equal ``psr``; ``trials`` reports the N used.

Equity that reaches zero has no bar returns after it; the figures built on them come out NaN.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

EQUITY_COLUMNS: Final = ("timestamp", "equity", "close", "position")
TRADE_COLUMNS: Final = ("pnl", "return_pct", "duration_bars", "is_open")  # the ones read here

STAT_LABELS: Final[dict[str, str]] = {
    "start": "Start",
    "end": "End",
    "bars": "Bars",
    "duration_days": "Duration (days)",
    "exposure_pct": "Exposure time %",
    "equity_final": "Final equity",
    "equity_peak": "Peak equity",
    "return_pct": "Return %",
    "buy_hold_return_pct": "Buy & hold return %",
    "return_ann_pct": "Annualised return %",
    "volatility_ann_pct": "Annualised volatility %",
    "cagr_pct": "CAGR %",
    "sharpe": "Sharpe ratio",
    "sortino": "Sortino ratio",
    "calmar": "Calmar ratio",
    "alpha_pct": "Alpha % (annualised)",
    "beta": "Beta",
    "max_drawdown_pct": "Max. drawdown %",
    "avg_drawdown_pct": "Avg. drawdown %",
    "max_drawdown_bars": "Max. drawdown duration (bars)",
    "avg_drawdown_bars": "Avg. drawdown duration (bars)",
    "trades": "Trades",
    "open_trades": "Open trades",
    "win_rate_pct": "Win rate %",
    "best_trade_pct": "Best trade %",
    "worst_trade_pct": "Worst trade %",
    "avg_trade_pct": "Avg. trade % (geometric)",
    "max_trade_bars": "Max. trade duration (bars)",
    "avg_trade_bars": "Avg. trade duration (bars)",
    "profit_factor": "Profit factor",
    "expectancy_pct": "Expectancy %",
    "sqn": "SQN",
    "kelly": "Kelly criterion",
    "psr": "Probabilistic Sharpe ratio",
    "dsr": "Deflated Sharpe ratio",
    "trials": "Trials",
    "sharpe_bar": "Sharpe ratio per bar",
}
STAT_KEYS: Final[tuple[str, ...]] = tuple(STAT_LABELS)

_NAN: Final = math.nan


@dataclass(frozen=True)
class Trials:
    """How many strategy variants were tried on the dataset (this one included) and the variance of
    their per-bar Sharpe ratios — what the deflated Sharpe ratio discounts for."""

    count: int
    sharpe_variance: float

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, numbers.Integral) or self.count < 1:
            raise ValueError(f"trials count must be a whole number of at least 1, got {self.count!r}")
        variance = self.sharpe_variance
        # a single trial has no spread to measure, so NaN is accepted there (and ignored)
        usable = not isinstance(variance, bool) and isinstance(variance, numbers.Real) and (
            (math.isfinite(variance) and variance >= 0) or (self.count == 1 and math.isnan(variance)))
        if not usable:
            raise ValueError(f"trials sharpe_variance must be a finite number of at least 0, got {variance!r}")


def compute_stats(trades: pd.DataFrame, equity: pd.DataFrame, *, periods_per_year: float,
                  trials: Trials | None = None, init_cash: float | None = None) -> dict[str, Any]:
    """The statistics of one simulated account, keyed and ordered as ``STAT_KEYS``.

    ``equity`` has one row per bar (``timestamp`` increasing, ``equity``, ``close``, ``position``);
    ``trades`` one row per trade (``pnl``, ``return_pct``, ``duration_bars``, ``is_open`` are read).
    The conventions are in the module's docstring. Raises ``ValueError`` naming the argument,
    column or value that cannot be used.
    """
    periods = _positive("periods_per_year", periods_per_year)
    cash = None if init_cash is None else _positive("init_cash", init_cash)
    trials = Trials(1, 0.0) if trials is None else trials
    if not isinstance(trials, Trials):
        raise TypeError(f"trials must be a Trials or None, got {trials!r}")
    stamps, eq, close, position = _equity_arrays(equity)
    pnl, ret, held, open_trades = _closed_trades(trades)
    initial = float(eq[0]) if cash is None else cash
    if initial <= 0:
        raise ValueError(f"the first equity value must be above 0 when init_cash is not given, got {initial!r}")

    r, b = _bar_returns(eq, close, cash)
    growth = float(eq[-1]) / initial
    duration_days = float((stamps.iloc[-1] - stamps.iloc[0]) / pd.Timedelta(days=1))
    drawdown = _drawdowns(eq, cash)
    moments = _moments(r)
    sharpe_bar = moments.sharpe_bar
    psr = _psr(sharpe_bar, 0.0, moments)
    alpha, beta = _alpha_beta(b, moments)
    cagr = _power(growth, 365.25 / duration_days) - 1 if duration_days > 0 else _NAN
    return {
        "start": stamps.iloc[0],
        "end": stamps.iloc[-1],
        "bars": len(eq),
        "duration_days": duration_days,
        "exposure_pct": np.count_nonzero(position) / len(eq) * 100,
        "equity_final": float(eq[-1]),
        "equity_peak": float(eq.max()),
        "return_pct": (growth - 1) * 100,
        "buy_hold_return_pct": (float(close[-1]) / float(close[0]) - 1) * 100,
        "return_ann_pct": (_power(growth, periods / len(r)) - 1) * 100 if len(r) else _NAN,
        "volatility_ann_pct": moments.std * math.sqrt(periods) * 100,
        "cagr_pct": cagr * 100,
        "sharpe": sharpe_bar * math.sqrt(periods),
        "sortino": moments.sortino_bar * math.sqrt(periods),
        "calmar": _ratio(cagr, abs(drawdown.deepest)),
        "alpha_pct": alpha * periods * 100,
        "beta": beta,
        "max_drawdown_pct": drawdown.deepest * 100,
        "avg_drawdown_pct": drawdown.mean_depth * 100,
        "max_drawdown_bars": drawdown.longest,
        "avg_drawdown_bars": drawdown.mean_length,
        **_trade_stats(pnl, ret, held, open_trades),
        "psr": psr,
        "dsr": psr if trials.count == 1 else _psr(sharpe_bar, _expected_max_sharpe(trials), moments),
        "trials": int(trials.count),
        "sharpe_bar": sharpe_bar,
    }


def sharpe_per_bar(equity_values: np.ndarray, *, init_cash: float | None = None) -> float:
    """mean / std (ddof=1) of the bar returns of an equity curve — ``compute_stats``' ``sharpe_bar``
    for the same curve and ``init_cash`` — or NaN with fewer than two returns or no spread."""
    values = np.asarray(equity_values, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"equity_values must be one-dimensional, got shape {values.shape}")
    cash = None if init_cash is None else _positive("init_cash", init_cash)
    if len(values) == 0:
        return _NAN
    return _moments(_bar_returns(values, values, cash)[0]).sharpe_bar


def stats_json(stats: Mapping[str, Any]) -> dict[str, Any]:
    """The statistics as JSON values: NaN and ±inf become None, NumPy scalars Python numbers,
    timestamps ISO 8601 strings; the key order is kept."""
    return {key: _json_value(key, value) for key, value in stats.items()}


# -- inputs -------------------------------------------------------------------------------------
def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number above 0, got {value!r}")
    return float(value)


def _numbers(frame: pd.DataFrame, name: str, column: str, rows: np.ndarray | None = None) -> np.ndarray:
    """A column as finite floats, only at ``rows`` (positions) when given."""
    try:
        values = frame[column].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} column {column!r} must be numeric ({exc})") from None
    if rows is not None:
        values = values[rows]
    bad = ~np.isfinite(values)
    if bad.any():
        first = int(bad.argmax() if rows is None else rows[bad.argmax()])
        raise ValueError(f"{name} column {column!r} has {int(bad.sum())} missing or infinite value(s), "
                         f"the first at row {first}")
    return values


def _require(frame: object, name: str, columns: tuple[str, ...]) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{name} has no {', '.join(map(repr, missing))} column")
    return frame


def _equity_arrays(equity: pd.DataFrame) -> tuple[pd.Series, np.ndarray, np.ndarray, np.ndarray]:
    frame = _require(equity, "equity", EQUITY_COLUMNS)
    if len(frame) == 0:
        raise ValueError("equity has no rows: statistics need at least one bar")
    stamps = frame["timestamp"]
    if not pd.api.types.is_datetime64_any_dtype(stamps):
        raise ValueError(f"equity column 'timestamp' must hold timestamps, got {stamps.dtype}")
    # .values is datetime64 even when tz-aware (UTC), which keeps this check off Python objects
    ticks = stamps.values
    if np.isnat(ticks).any():
        raise ValueError("equity column 'timestamp' has missing values")
    if (ticks[1:] <= ticks[:-1]).any():
        raise ValueError("equity column 'timestamp' must be strictly increasing")
    return stamps, _numbers(frame, "equity", "equity"), _numbers(frame, "equity", "close"), \
        _numbers(frame, "equity", "position")


def _closed_trades(trades: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    frame = _require(trades, "trades", TRADE_COLUMNS)
    if frame["is_open"].isna().any():
        raise ValueError("trades column 'is_open' has missing values")
    is_open = frame["is_open"].to_numpy(dtype=bool)
    closed = np.flatnonzero(~is_open)
    return (_numbers(frame, "trades", "pnl", closed), _numbers(frame, "trades", "return_pct", closed),
            _numbers(frame, "trades", "duration_bars", closed), int(is_open.sum()))


# -- bar statistics -----------------------------------------------------------------------------
def _bar_returns(eq: np.ndarray, close: np.ndarray, cash: float | None) -> tuple[np.ndarray, np.ndarray]:
    first = 0 if cash is None else 1  # with cash, slot 0 holds the first bar's return against it
    r = np.empty(len(eq) - 1 + first)
    b = np.empty(len(eq) - 1 + first)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(eq[1:], eq[:-1], out=r[first:])
        np.divide(close[1:], close[:-1], out=b[first:])
        if cash is not None:
            r[0] = eq[0] / cash
            b[0] = 1.0
    r -= 1.0
    b -= 1.0
    return r, b


@dataclass(frozen=True)
class _Moments:
    count: int
    mean: float
    std: float  # ddof=1
    sharpe_bar: float
    sortino_bar: float
    skew: float  # population
    kurtosis: float  # population, not excess
    centred: np.ndarray


def _moments(r: np.ndarray) -> _Moments:
    count = len(r)
    if count == 0:
        return _Moments(0, _NAN, _NAN, _NAN, _NAN, _NAN, _NAN, r)
    with np.errstate(invalid="ignore", over="ignore"):
        mean = float(r.mean())
        centred = r - mean
        squares = centred * centred
        m2 = float(squares.sum()) / count
        std = math.sqrt(m2 * count / (count - 1)) if count > 1 else _NAN
        spread = m2 > 0
        skew = _dot(squares, centred) / count / m2**1.5 if spread else _NAN
        kurtosis = _dot(squares, squares) / count / m2**2 if spread else _NAN
        losses = np.minimum(r, 0.0)
        downside = math.sqrt(_dot(losses, losses) / count)
    return _Moments(count, mean, std, mean / std if std > 0 else _NAN, _ratio(mean, downside),
                    skew, kurtosis, centred)


def _alpha_beta(b: np.ndarray, moments: _Moments) -> tuple[float, float]:
    """Intercept and slope of the least-squares line through (b, r), r being the returns behind ``moments``."""
    if len(b) < 2:
        return _NAN, _NAN
    b_mean = float(b.mean())
    b_centred = b - b_mean
    b_squares = _dot(b_centred, b_centred)
    if not b_squares > 0:
        return _NAN, _NAN
    beta = _dot(b_centred, moments.centred) / b_squares
    return moments.mean - beta * b_mean, beta


@dataclass(frozen=True)
class _Drawdowns:
    deepest: float  # fraction, ≤ 0
    mean_depth: float
    longest: int  # bars
    mean_length: float


def _drawdowns(eq: np.ndarray, cash: float | None) -> _Drawdowns:
    peak = np.maximum.accumulate(eq)
    if cash is not None:
        np.maximum(peak, cash, out=peak)
    depth = eq / peak - 1.0
    below = (depth < 0).view(np.int8)
    edges = np.diff(below, prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edges == 1)
    if len(starts) == 0:
        return _Drawdowns(0.0, 0.0, 0, 0.0)
    ends = np.flatnonzero(edges == -1)  # the bar after each episode (n for one still open)
    # peak bar = start − 1 (−1 is the cash); recovery bar = end, or the last bar when never recovered
    lengths = np.minimum(ends, len(eq) - 1) - starts + 1
    # each slice runs from an episode's start to the next one's, so its minimum is the episode's
    depths = np.minimum.reduceat(depth, starts)
    return _Drawdowns(float(depth.min()), float(depths.mean()), int(lengths.max()), float(lengths.mean()))


# -- trades -------------------------------------------------------------------------------------
def _trade_stats(pnl: np.ndarray, ret: np.ndarray, held: np.ndarray, open_trades: int) -> dict[str, Any]:
    count = len(pnl)
    if count == 0:
        return {"trades": 0, "open_trades": open_trades, "win_rate_pct": _NAN, "best_trade_pct": _NAN, "worst_trade_pct": _NAN,
                "avg_trade_pct": _NAN, "max_trade_bars": _NAN, "avg_trade_bars": _NAN, "profit_factor": _NAN,
                "expectancy_pct": _NAN, "sqn": _NAN, "kelly": _NAN}
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    win_fraction = len(wins) / count
    growth = 1.0 + ret / 100.0
    geometric = math.expm1(float(np.log(growth).mean())) if (growth > 0).all() else _NAN
    mean = float(ret.mean())
    std = float(ret.std(ddof=1)) if count > 1 else _NAN
    payoff = float(wins.mean()) / -float(losses.mean()) if len(wins) and len(losses) else _NAN
    return {
        "trades": count,
        "open_trades": open_trades,
        "win_rate_pct": win_fraction * 100,
        "best_trade_pct": float(ret.max()),
        "worst_trade_pct": float(ret.min()),
        "avg_trade_pct": geometric * 100,
        "max_trade_bars": int(held.max()),
        "avg_trade_bars": float(held.mean()),
        "profit_factor": _ratio(float(wins.sum()), -float(losses.sum())),
        "expectancy_pct": mean,
        "sqn": math.sqrt(count) * mean / std if std > 0 else _NAN,
        "kelly": win_fraction - (1 - win_fraction) / payoff,
    }


# -- the Sharpe ratio's reliability -------------------------------------------------------------
def _psr(sharpe_bar: float, benchmark: float, moments: _Moments) -> float:
    if not (math.isfinite(sharpe_bar) and math.isfinite(benchmark)) or moments.count < 2:
        return _NAN
    variance = 1 - moments.skew * sharpe_bar + (moments.kurtosis - 1) / 4 * sharpe_bar**2
    if not variance > 0:  # only a two-valued return series gets here; its PSR is undefined
        return _NAN
    return float(ndtr((sharpe_bar - benchmark) * math.sqrt(moments.count - 1) / math.sqrt(variance)))


def _expected_max_sharpe(trials: Trials) -> float:
    n = trials.count
    gamma = np.euler_gamma
    return math.sqrt(trials.sharpe_variance) * float(
        (1 - gamma) * ndtri(1 - 1 / n) + gamma * ndtri(1 - 1 / (n * math.e)))


# -- small numbers ------------------------------------------------------------------------------
def _ratio(top: float, bottom: float) -> float:
    """top / bottom for a bottom ≥ 0: +inf for a positive top over 0, NaN for 0 / 0."""
    if bottom > 0:
        return top / bottom
    if bottom == 0 and top > 0:
        return math.inf
    return _NAN


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    # einsum's own loop, not BLAS: OpenBLAS spreads a long dot product over threads, which
    # stall (ten times slower here) as soon as the other cores are busy, as a server's are
    return float(np.einsum("i,i->", a, b))


def _power(base: float, exponent: float) -> float:
    # NumPy's power returns inf on overflow where Python's raises (a few minute bars
    # annualised to half a million periods overflow easily)
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.power(np.float64(base), exponent))


def _json_value(key: str, value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return number if math.isfinite(number) else None
    if value is pd.NaT:
        return None
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise ValueError(f"statistic {key!r} has no JSON form: {value!r}")
