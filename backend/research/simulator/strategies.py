"""Strategies the desk can simulate without writing code, and the signals they give.

- ``sma_cross``: long while the fast simple moving average is above the slow one (enter when
  it crosses above, exit when it crosses below); with ``short`` the position reverses instead.
- ``indicator_rule``: a TA-Lib indicator against levels, e.g. "RSI(14) crosses below 30 →
  enter; crosses above 70 → exit". Conditions: ``crosses_above``, ``crosses_below``, ``above``,
  ``below``. A cross needs both bars' values: the first bar after a gap never crosses.
- ``threshold``: a column of the dataset (a model's predictions, any score) against long and
  short thresholds: long above the long threshold, short below the short one, flat between.

A sweep varies one or two numeric parameters of a strategy (``fast``, ``slow``,
``indicator.timeperiod``, ``entry.value``…) over a grid; every cell's signals come out as one
column of one matrix, so the simulator runs the whole grid in a single call. Indicators are
computed once per distinct parameter set, not once per cell.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Final, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from backend.research.indicators import IndicatorError, IndicatorSpec, catalogue, clean_request

WINDOW_MAX: Final = 10_000
GRID_VALUES_MAX: Final = 50
GRID_CELLS_MAX: Final = 2_500
Op = Literal["crosses_above", "crosses_below", "above", "below"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SmaCross(_Model):
    kind: Literal["sma_cross"]  # no default: stored requests (jobs keep non-defaults only) must keep it
    fast: int = Field(10, ge=1, le=WINDOW_MAX)
    slow: int = Field(50, ge=2, le=WINDOW_MAX)
    short: bool = False

    @model_validator(mode="after")
    def _fast_below_slow(self) -> SmaCross:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be shorter than slow ({self.slow})")
        return self

    def label(self) -> str:
        return f"SMA {self.fast}/{self.slow} cross{' long/short' if self.short else ''}"


class Condition(_Model):
    op: Op
    value: float = Field(allow_inf_nan=False, ge=-1e12, le=1e12)

    def label(self) -> str:
        return f"{self.op.replace('_', ' ')} {self.value:g}"


class Indicator(_Model):
    function: str = Field(min_length=1, max_length=40)
    params: dict[str, float] = Field(default_factory=dict, max_length=10)
    output: str | None = Field(None, max_length=40)

    @model_validator(mode="after")
    def _known(self) -> Indicator:
        spec = self.spec()
        outputs = catalogue()[spec.function]["outputs"]
        if self.output is not None and self.output not in outputs:
            raise ValueError(f"{spec.function} has no output {self.output!r} (it has {', '.join(outputs)})")
        return self

    def spec(self) -> IndicatorSpec:
        try:
            return clean_request([{"function": self.function, "params": dict(self.params)}])[0]
        except IndicatorError as exc:
            raise ValueError(str(exc)) from None

    def label(self) -> str:
        spec = self.spec()
        args = ", ".join(f"{v:g}" for v in spec.params.values())
        return f"{spec.function}({args}){'.' + self.output if self.output else ''}"


class IndicatorRule(_Model):
    kind: Literal["indicator_rule"]
    indicator: Indicator
    entry: Condition
    exit: Condition

    def label(self) -> str:
        name = self.indicator.label()
        return f"{name} {self.entry.label()} → enter; {self.exit.label()} → exit"


class Threshold(_Model):
    kind: Literal["threshold"]
    column: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
    long_threshold: float | None = Field(None, allow_inf_nan=False)
    short_threshold: float | None = Field(None, allow_inf_nan=False)

    @model_validator(mode="after")
    def _some_threshold(self) -> Threshold:
        if self.long_threshold is None and self.short_threshold is None:
            raise ValueError("give a long threshold, a short threshold, or both")
        if (self.long_threshold is not None and self.short_threshold is not None
                and self.short_threshold > self.long_threshold):
            raise ValueError("the short threshold is above the long one")
        return self

    def label(self) -> str:
        parts = []
        if self.long_threshold is not None:
            parts.append(f"long above {self.long_threshold:g}")
        if self.short_threshold is not None:
            parts.append(f"short below {self.short_threshold:g}")
        return f"{self.column}: {', '.join(parts)}"


Strategy = Annotated[SmaCross | IndicatorRule | Threshold, Field(discriminator="kind")]


class Axis(_Model):
    param: str = Field(pattern=r"^[a-z_]{1,20}(\.[a-z_]{1,20})?$")
    values: list[float] = Field(min_length=1, max_length=GRID_VALUES_MAX)

    @field_validator("values")
    @classmethod
    def _finite_distinct(cls, values: list[float]) -> list[float]:
        if not all(math.isfinite(v) for v in values):
            raise ValueError("grid values must be finite numbers")
        if len(set(values)) != len(values):
            raise ValueError("grid values must be distinct")
        return values


class Grid(_Model):
    x: Axis
    y: Axis | None = None

    @model_validator(mode="after")
    def _two_params(self) -> Grid:
        if self.y is not None and self.y.param == self.x.param:
            raise ValueError("the two grid axes vary the same parameter")
        cells = len(self.x.values) * (len(self.y.values) if self.y else 1)
        if cells > GRID_CELLS_MAX:
            raise ValueError(f"{cells:,} cells: at most {GRID_CELLS_MAX:,}")
        return self


Signals = dict[str, np.ndarray]


def _sma(close: np.ndarray, window: int) -> np.ndarray:
    out = np.full(len(close), np.nan)
    if window <= len(close):
        sums = np.cumsum(np.concatenate([[0.0], close]))
        out[window - 1:] = (sums[window:] - sums[:-window]) / window
    return out


def _crossed(a: np.ndarray, b: np.ndarray | float, above: bool) -> np.ndarray:
    """Where ``a`` moves from at or below ``b`` to above it (or the reverse); NaN never crosses."""
    b_before = b if np.isscalar(b) else np.concatenate([[np.nan], np.asarray(b)[:-1]])
    a_before = np.concatenate([[np.nan], a[:-1]])
    with np.errstate(invalid="ignore"):
        if above:
            return (a > b) & (a_before <= b_before)
        return (a < b) & (a_before >= b_before)


def _condition(values: np.ndarray, condition: Condition) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        if condition.op == "crosses_above":
            return _crossed(values, condition.value, True)
        if condition.op == "crosses_below":
            return _crossed(values, condition.value, False)
        if condition.op == "above":
            return values > condition.value
        return values < condition.value


def _indicator_values(indicator: Indicator, columns: Mapping[str, np.ndarray]) -> np.ndarray:
    from backend.research.indicators import _one_series

    spec = indicator.spec()
    outputs = _one_series(dict(columns), spec)
    names = catalogue()[spec.function]["outputs"]
    return outputs[names.index(indicator.output) if indicator.output else 0]


def signals(strategy: SmaCross | IndicatorRule | Threshold, columns: Mapping[str, np.ndarray]) -> Signals:
    """Entry and exit signals (one bool per bar) of ``strategy`` on one asset's columns
    (``close`` at least; open, high, low and volume for indicators that read them)."""
    return _Memo(columns).signals(strategy)


def _threshold_signals(strategy: Threshold, columns: Mapping[str, np.ndarray]) -> Signals:
    if strategy.column not in columns:
        raise ValueError(f"the dataset has no column {strategy.column!r}")
    values = np.asarray(columns[strategy.column], dtype=float)
    target = np.zeros(len(values))
    with np.errstate(invalid="ignore"):
        if strategy.long_threshold is not None:
            target[values > strategy.long_threshold] = 1.0
        if strategy.short_threshold is not None:
            target[values < strategy.short_threshold] = -1.0
    before = np.concatenate([[0.0], target[:-1]])
    changed = target != before
    out = {"entries": changed & (target == 1.0), "exits": changed & (before == 1.0)}
    if strategy.short_threshold is not None:
        out["short_entries"] = changed & (target == -1.0)
        out["short_exits"] = changed & (before == -1.0)
    return out


def _with(strategy: BaseModel, path: str, value: float) -> Any:
    """``strategy`` with the parameter at ``path`` (``fast``, ``entry.value``,
    ``indicator.timeperiod``) set to ``value``; refused when the path names nothing numeric."""
    data = strategy.model_dump()
    head, _, tail = path.partition(".")
    if not tail:
        if head in ("kind", "short", "column") or not isinstance(data.get(head), int | float):
            raise ValueError(f"grid: {strategy.__class__.__name__} has no numeric parameter {path!r}")
        data[head] = int(value) if isinstance(data[head], int) and not isinstance(data[head], bool) else value
    elif head == "indicator":
        params = dict(strategy.indicator.spec().params)  # type: ignore[attr-defined]
        if tail not in params:
            raise ValueError(f"grid: the indicator has no parameter {tail!r}")
        data["indicator"]["params"] = {**params, tail: value}
    elif head in ("entry", "exit") and tail == "value":
        data[head]["value"] = value
    else:
        raise ValueError(f"grid: no parameter {path!r}")
    return type(strategy).model_validate(data)


def grid_cells(grid: Grid) -> list[tuple[float, float | None]]:
    ys: Sequence[float | None] = grid.y.values if grid.y else [None]
    return list(itertools.product(grid.x.values, ys))


def sweep_signals(strategy: SmaCross | IndicatorRule | Threshold, grid: Grid,
                  columns: Mapping[str, np.ndarray]) -> tuple[Signals, list[Any], list[str | None]]:
    """One signal column per grid cell (x-major), the strategy of each cell, and for a cell that
    cannot be (fast not below slow, a period out of range) the reason it was left out — its
    column then never trades and its statistics are reported as missing."""
    cells = grid_cells(grid)
    n = len(columns["close"])
    strategies: list[Any] = []
    reasons: list[str | None] = []
    for x, y in cells:
        try:
            cell = _with(strategy, grid.x.param, x)
            if grid.y is not None and y is not None:
                cell = _with(cell, grid.y.param, y)
            strategies.append(cell)
            reasons.append(None)
        except ValueError as exc:
            if str(exc).startswith("grid:"):
                raise
            strategies.append(None)
            reasons.append(_first_line(exc))
    keys = ["entries", "exits"]
    if isinstance(strategy, SmaCross) and strategy.short or isinstance(strategy, Threshold) \
            and strategy.short_threshold is not None:
        keys += ["short_entries", "short_exits"]
    out = {key: np.zeros((n, len(cells)), dtype=bool, order="F") for key in keys}  # filled a column at a time
    memo = _Memo(columns)
    for k, cell in enumerate(strategies):
        if cell is None:
            continue
        for key, values in memo.signals(cell).items():
            out[key][:, k] = values
    return out, strategies, reasons


class _Memo:
    """Indicator series computed once per distinct parameter set across the cells of a sweep."""

    def __init__(self, columns: Mapping[str, np.ndarray]) -> None:
        self.columns = columns
        self.cache: dict[str, np.ndarray] = {}

    def _get(self, key: str, make: Callable[[], np.ndarray]) -> np.ndarray:
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]

    def signals(self, strategy: Any) -> Signals:
        close = self.columns["close"]
        if isinstance(strategy, SmaCross):
            fast = self._get(f"sma{strategy.fast}", lambda: _sma(close, strategy.fast))
            slow = self._get(f"sma{strategy.slow}", lambda: _sma(close, strategy.slow))
            up, down = _crossed(fast, slow, True), _crossed(fast, slow, False)
            if strategy.short:
                return {"entries": up, "exits": down, "short_entries": down, "short_exits": up}
            return {"entries": up, "exits": down}
        if isinstance(strategy, IndicatorRule):
            key = repr(strategy.indicator.model_dump())
            values = self._get(key, lambda: _indicator_values(strategy.indicator, self.columns))
            return {"entries": _condition(values, strategy.entry), "exits": _condition(values, strategy.exit)}
        return _threshold_signals(strategy, self.columns)


def _first_line(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            first = errors(include_url=False, include_input=False)[0]
            return str(first["msg"]).removeprefix("Value error, ")
        except (IndexError, KeyError, TypeError):
            pass
    return str(exc).splitlines()[0][:200]
