"""What the simulation pages show, as pure functions of a simulation's frames and records.

Monthly returns, a rolling Sharpe ratio, trade markers, the statistics of several simulations
side by side with the best of each row, a sweep's cells as a matrix, and the new-simulation
form's fields as a request. Nothing here mutates its input or reads a store, so a notebook
gets the same numbers as the page.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

import pandas as pd

from backend.research.simulator.requests import SimulationRequest, SweepRequest
from backend.research.simulator.stats import STAT_KEYS, STAT_LABELS
from backend.research.simulator.strategies import GRID_VALUES_MAX

# Which way is better for each statistic: +1 higher, -1 lower (drawdowns are negative, so the
# largest is the shallowest), 0 neither (a count or a date is not better for being larger).
BETTER: Final[dict[str, int]] = {
    "exposure_pct": 0, "equity_final": 1, "equity_peak": 1, "return_pct": 1, "buy_hold_return_pct": 0,
    "return_ann_pct": 1, "volatility_ann_pct": -1, "cagr_pct": 1, "sharpe": 1, "sortino": 1, "calmar": 1,
    "alpha_pct": 1, "beta": 0, "max_drawdown_pct": 1, "avg_drawdown_pct": 1, "max_drawdown_bars": -1,
    "avg_drawdown_bars": -1, "trades": 0, "open_trades": 0, "win_rate_pct": 1, "best_trade_pct": 1,
    "worst_trade_pct": 1, "avg_trade_pct": 1, "max_trade_bars": 0, "avg_trade_bars": 0, "profit_factor": 1,
    "expectancy_pct": 1, "sqn": 1, "kelly": 1, "psr": 1, "dsr": 1, "trials": 0, "sharpe_bar": 1,
}
ROLLING_BARS: Final = 63  # about a quarter of daily bars
GRID_PARAMS: Final[dict[str, tuple[str, ...]]] = {
    "sma_cross": ("fast", "slow"),
    "indicator_rule": ("indicator.timeperiod", "entry.value", "exit.value"),
    "threshold": ("long_threshold", "short_threshold"),
}


def monthly_returns(equity: pd.DataFrame, *, init_cash: float | None = None, time_zone: str = "UTC") -> pd.DataFrame:
    """Percent return of each calendar month (rows: years, columns: 1–12), month end over the
    previous month end; the first month is measured from ``init_cash`` (else the first bar)."""
    stamps = pd.DatetimeIndex(equity["timestamp"])
    if stamps.tz is not None:
        stamps = stamps.tz_convert(time_zone).tz_localize(None)
    values = pd.Series(equity["equity"].to_numpy(dtype=float), index=stamps)
    if values.empty:
        return pd.DataFrame(columns=range(1, 13), dtype=float)
    ends = values.groupby(values.index.to_period("M")).last()
    start = float(init_cash) if init_cash else float(values.iloc[0])
    before = pd.Series([start, *ends.to_numpy()[:-1]], index=ends.index)
    returns = (ends / before - 1.0) * 100.0
    table = pd.DataFrame({"year": ends.index.year, "month": ends.index.month, "value": returns.to_numpy()})
    out = table.pivot(index="year", columns="month", values="value").reindex(columns=range(1, 13))
    out.index.name, out.columns.name = "year", "month"
    return out


def rolling_sharpe(equity: pd.DataFrame, *, periods_per_year: float, window: int = ROLLING_BARS) -> pd.Series:
    """Annualised Sharpe ratio of the bar returns over the last ``window`` bars (NaN until full)."""
    if window < 2:
        raise ValueError(f"window: at least 2 bars, not {window}")
    returns = pd.Series(equity["equity"].to_numpy(dtype=float)).pct_change()
    mean = returns.rolling(window, min_periods=window).mean()
    std = returns.rolling(window, min_periods=window).std(ddof=1)
    sharpe = (mean / std.where(std > 0)) * math.sqrt(periods_per_year)
    sharpe.index = pd.DatetimeIndex(equity["timestamp"])
    return sharpe.rename("rolling_sharpe")


def trade_markers(trades: pd.DataFrame) -> dict[str, dict[str, list[Any]]]:
    """Entries and exits for a price chart: time, price and a hover text per marker; a trade still
    open has no exit."""
    entries = {"x": list(trades["entry_time"]), "y": [float(v) for v in trades["entry_price"]],
               "text": [f"{d} entry · size {s:g}" for d, s in zip(trades["direction"], trades["size"], strict=True)]}
    closed = trades[~trades["is_open"].astype(bool)]
    exits = {"x": list(closed["exit_time"]), "y": [float(v) for v in closed["exit_price"]],
             "text": [f"{d} exit · {r:+.2f} %" for d, r in zip(closed["direction"], closed["return_pct"], strict=True)]}
    return {"entries": entries, "exits": exits}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def compare_stats(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per statistic: its label, each record's value (in the records' order) and the
    positions of the best value (empty when the statistic has no better side or all are equal)."""
    rows = []
    for key in STAT_KEYS:
        values = [(r.get("stats") or {}).get(key) for r in records]
        numbers = [_number(v) for v in values]
        best: list[int] = []
        side = BETTER.get(key, 0)
        known = [v for v in numbers if v is not None]
        if side and len(known) >= 2 and len(set(known)) > 1:
            top = max(known) if side > 0 else min(known)
            best = [i for i, v in enumerate(numbers) if v == top]
        rows.append({"key": key, "label": STAT_LABELS[key], "values": values, "best": best})
    return rows


def sweep_matrix(cells: Sequence[Mapping[str, Any]], stat: str) -> dict[str, Any]:
    """A sweep's cells as a heatmap: the x and y values, ``z[y][x]`` the statistic (None where the
    cell was not simulated or the figure is missing) and ``index[y][x]`` each cell's index."""
    xs = sorted({c["x"] for c in cells})
    ys = sorted({c["y"] for c in cells if c.get("y") is not None}) or [None]
    z: list[list[float | None]] = [[None] * len(xs) for _ in ys]
    index: list[list[int | None]] = [[None] * len(xs) for _ in ys]
    for cell in cells:
        i, j = ys.index(cell.get("y")), xs.index(cell["x"])
        z[i][j] = _number((cell.get("stats") or {}).get(stat))
        index[i][j] = int(cell["index"])
    return {"x": xs, "y": ys, "z": z, "index": index}


COUNT_STATS: Final = ("bars", "trades", "open_trades", "trials", "max_drawdown_bars", "max_trade_bars")
PRECISE_STATS: Final = ("psr", "dsr", "kelly", "beta")  # fractions read to three places


def format_stat(key: str, value: Any) -> str:
    """A statistic as people read it: thousands separated, two decimals, dates as dates."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, str):
        return value[:10] if key in ("start", "end") else value
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if key in COUNT_STATS or (
            key.endswith(("_bars", "_days")) and float(value).is_integer()):
        return f"{value:,.0f}"
    if key in PRECISE_STATS:
        return f"{value:.3f}"
    if key in ("equity_final", "equity_peak"):
        return f"{value:,.2f}"
    return f"{value:,.2f}"


# -- the new-simulation form -------------------------------------------------------------------

class FormError(ValueError):
    """A form field that cannot be read; the message names it."""


def _float(fields: Mapping[str, Any], key: str, label: str, *, required: bool = True) -> float | None:
    value = fields.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise FormError(f"{label}: give a number")
        return None
    if isinstance(value, bool):
        raise FormError(f"{label}: not a number")
    try:
        number = float(str(value).replace(",", "").strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise FormError(f"{label}: {str(value)[:20]!r} is not a number") from None
    if not math.isfinite(number):
        raise FormError(f"{label}: not a finite number")
    return number


def _int(fields: Mapping[str, Any], key: str, label: str) -> int:
    number = _float(fields, key, label)
    assert number is not None
    if not number.is_integer():
        raise FormError(f"{label}: a whole number, not {number:g}")
    return int(number)


def grid_values(start: float, stop: float, step: float, *, label: str) -> list[float]:
    """``start`` to ``stop`` (included) by ``step``: a sweep axis."""
    if step <= 0:
        raise FormError(f"{label}: the step must be above 0")
    if stop < start:
        raise FormError(f"{label}: 'to' is below 'from'")
    count = math.floor((stop - start) / step + 1e-9) + 1
    if count > GRID_VALUES_MAX:
        raise FormError(f"{label}: {count:,} values, at most {GRID_VALUES_MAX}")
    return [round(start + k * step, 10) for k in range(count)]


def _strategy(fields: Mapping[str, Any]) -> dict[str, Any]:
    kind = fields.get("kind") or "sma_cross"
    if kind == "sma_cross":
        return {"kind": kind, "fast": _int(fields, "fast", "Fast SMA"), "slow": _int(fields, "slow", "Slow SMA"),
                "short": bool(fields.get("short"))}
    if kind == "indicator_rule":
        function = str(fields.get("function") or "").strip()
        if not function:
            raise FormError("Indicator: choose a function")
        params = {}
        period = _float(fields, "period", "Indicator period", required=False)
        if period is not None:
            params["timeperiod"] = period
        return {"kind": kind, "indicator": {"function": function, "params": params},
                "entry": {"op": fields.get("entry_op") or "crosses_below",
                          "value": _float(fields, "entry_value", "Entry level")},
                "exit": {"op": fields.get("exit_op") or "crosses_above",
                         "value": _float(fields, "exit_value", "Exit level")}}
    if kind == "threshold":
        column = str(fields.get("column") or "").strip()
        if not column:
            raise FormError("Column: choose a column of the dataset")
        return {"kind": kind, "column": column,
                "long_threshold": _float(fields, "long_threshold", "Long above", required=False),
                "short_threshold": _float(fields, "short_threshold", "Short below", required=False)}
    raise FormError("Strategy: choose one of SMA crossover, indicator rule, threshold")


def _costs(fields: Mapping[str, Any]) -> dict[str, Any]:
    costs: dict[str, Any] = {"fill": fields.get("fill") or "next_open", "sizing": fields.get("sizing") or "all_in",
                             "fractional": bool(fields.get("fractional"))}
    for key, label in (("fees", "Fees"), ("fixed_fee", "Fixed fee"), ("slippage_bps", "Slippage (bps)"),
                       ("init_cash", "Cash"), ("size", "Size")):
        costs[key] = _float(fields, key, label)
    costs["lot"] = _int(fields, "lot", "Lot")
    for key, label in (("stop_loss", "Stop-loss %"), ("take_profit", "Take-profit %")):
        percent = _float(fields, key, label, required=False)
        costs[key] = None if percent is None else percent / 100.0  # the form asks in percent
    return costs


def request_from_form(fields: Mapping[str, Any]) -> tuple[type[SimulationRequest], dict[str, Any]]:
    """The form's values as a raw request and the model that checks it (a sweep when the grid is
    on); a field that is not a number raises ``FormError`` naming it."""
    dataset = str(fields.get("dataset") or "").strip()
    if not dataset:
        raise FormError("Dataset: choose one")
    raw: dict[str, Any] = {"dataset": dataset, "symbol": fields.get("symbol") or None,
                           "strategy": _strategy(fields), "costs": _costs(fields)}
    if not fields.get("sweep"):
        return SimulationRequest, raw
    axes = {}
    for axis in ("x", "y"):
        param = fields.get(f"{axis}_param")
        if not param:
            if axis == "x":
                raise FormError("Sweep: choose the parameter to vary")
            continue
        label = f"Sweep {param}"
        values = grid_values(*(_float(fields, f"{axis}_{part}", f"{label} {part}") for part in ("from", "to", "step")),
                             label=label)  # type: ignore[arg-type]
        axes[axis] = {"param": param, "values": values}
    raw["grid"] = axes
    return SweepRequest, raw


def form_error_text(message: str) -> list[str]:
    """A request's validation message as one line per problem, the field named as the form names
    it (``strategy.sma_cross.fast`` → ``Fast SMA``)."""
    names = {"strategy.sma_cross": "Strategy", "strategy.indicator_rule": "Indicator rule",
             "strategy.threshold": "Threshold", "costs.fees": "Fees", "costs.fixed_fee": "Fixed fee",
             "costs.slippage_bps": "Slippage (bps)", "costs.init_cash": "Cash", "costs.size": "Size",
             "costs.lot": "Lot", "costs.stop_loss": "Stop-loss (as a fraction)",
             "costs.take_profit": "Take-profit (as a fraction)", "strategy.sma_cross.fast": "Fast SMA",
             "strategy.sma_cross.slow": "Slow SMA", "costs": "Costs", "dataset": "Dataset", "symbol": "Symbol",
             "grid": "Sweep"}
    lines = []
    for part in message.split("; "):
        where, sep, text = part.partition(": ")
        lines.append(f"{names.get(where, where)}: {text}" if sep else part)
    return lines
