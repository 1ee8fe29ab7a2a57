"""Indicators computed with TA-Lib, and returns as research targets.

The catalogue is TA-Lib's own: every function of its abstract API with its group, inputs,
parameters and their defaults, outputs and lookback, read from the library's metadata (no
list kept by hand). Two targets are added beside it: ``RETURNS`` (the return over the last
*h* bars) and ``FORWARD_RETURNS`` (over the next *h* bars, the usual thing to predict).

``compute`` adds the requested columns to a dataset's bars — per symbol for a panel, so no
indicator ever reads across two instruments — and describes each column: function,
parameters, lookback, leading NaNs and value range.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pyarrow as pa

from backend.research.datasets import SYMBOL

TARGETS: Final = ("RETURNS", "FORWARD_RETURNS")
PERIOD_MAX: Final = 100_000
REQUEST_MAX: Final = 50
_PRICE_INPUTS: Final = ("open", "high", "low", "close", "volume")


class IndicatorError(ValueError):
    """A request the catalogue cannot answer; the message names the item and can be shown."""


@dataclass(frozen=True)
class IndicatorSpec:
    function: str
    params: Mapping[str, float] = field(default_factory=dict)

    def key(self) -> dict[str, Any]:
        return {"function": self.function, "params": dict(sorted(self.params.items()))}


def _abstract() -> Any:
    from talib import abstract

    return abstract


@functools.cache
def catalogue() -> dict[str, dict[str, Any]]:
    """Every TA-Lib function (and the two targets) by name: group, inputs, parameters, outputs, lookback."""
    import talib

    out: dict[str, dict[str, Any]] = {}
    for group, names in talib.get_function_groups().items():
        for name in names:
            fn = _abstract().Function(name)
            info = fn.info
            inputs = [v for value in info["input_names"].values()
                      for v in (value if isinstance(value, list) else [value])]
            if not set(inputs) <= set(_PRICE_INPUTS):
                continue  # needs a series bars do not have (MAVP's periods)
            out[name] = {
                "name": name, "group": group, "display_name": info["display_name"], "inputs": inputs,
                "parameters": dict(info["parameters"]), "outputs": list(info["output_names"]),
                "lookback": int(fn.lookback),
                # drawn on the price panel when its values are prices; otherwise in a panel of its own
                "overlay": "Output scale same as input" in (info.get("function_flags") or []),
            }
    for name, words in (("RETURNS", "Return over the last h bars"), ("FORWARD_RETURNS", "Return over the next h bars")):
        out[name] = {"name": name, "group": "Targets", "display_name": words, "inputs": ["close"],
                     "parameters": {"horizon": 1}, "outputs": ["real"], "lookback": 1, "overlay": False}
    return out


def _number(function: str, name: str, value: Any, default: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise IndicatorError(f"{function}.{name}: expected a number, got {str(value)[:30]!r}")
    if isinstance(default, int) and not isinstance(default, bool):
        if float(value) != int(value):
            raise IndicatorError(f"{function}.{name}: expected a whole number")
        value = int(value)
        if name in ("timeperiod", "fastperiod", "slowperiod", "signalperiod", "horizon") or name.endswith("period"):
            low = 1
            if not low <= value <= PERIOD_MAX:
                raise IndicatorError(f"{function}.{name}: expected {low} to {PERIOD_MAX:,}")
    else:
        if abs(value) > 1e9:
            raise IndicatorError(f"{function}.{name}: out of range")
        value = float(value)  # TA-Lib wants a float where its default is one
    return value


def clean_request(items: object) -> list[IndicatorSpec]:
    """The requested indicators, checked against the catalogue: known functions, known parameters,
    numbers in range; parameters left out take TA-Lib's defaults."""
    if not isinstance(items, (list, tuple)) or not items:
        raise IndicatorError("indicators: expected a list of {function, params}")
    if len(items) > REQUEST_MAX:
        raise IndicatorError(f"indicators: at most {REQUEST_MAX} at once")
    known = catalogue()
    specs = []
    for item in items:
        if not isinstance(item, Mapping) or set(item) - {"function", "params"}:
            raise IndicatorError("indicators: each is {function, params}")
        function = item.get("function")
        if not isinstance(function, str) or function.upper() not in known:
            raise IndicatorError(f"function: {str(function)[:40]!r} is not a TA-Lib function or a target")
        function = function.upper()
        params = item.get("params") or {}
        if not isinstance(params, Mapping):
            raise IndicatorError(f"{function}.params: expected an object")
        defaults = known[function]["parameters"]
        unknown = sorted(set(params) - set(defaults))
        if unknown:
            raise IndicatorError(f"{function}: no parameter {str(unknown[0])[:30]!r} (it has {', '.join(defaults)})")
        merged = {name: _number(function, name, params.get(name, default), default) for name, default in defaults.items()}
        specs.append(IndicatorSpec(function, merged))
    return specs


def _fmt(value: float) -> str:
    text = f"{value:g}".replace("-", "m").replace(".", "p").replace("+", "")
    return re.sub(r"[^a-z0-9_]", "", text.lower())


def column_names(spec: IndicatorSpec) -> list[str]:
    """Columns a spec adds: ``sma_20``, ``bbands_20_2_2_0_upperband``, ``fwd_ret_5``."""
    if spec.function == "RETURNS":
        return [f"ret_{spec.params['horizon']}"]
    if spec.function == "FORWARD_RETURNS":
        return [f"fwd_ret_{spec.params['horizon']}"]
    stem = "_".join([spec.function.lower(), *(_fmt(v) for v in spec.params.values())])
    outputs = catalogue()[spec.function]["outputs"]
    return [stem] if len(outputs) == 1 else [f"{stem}_{o}" for o in outputs]


def _one_series(inputs: dict[str, np.ndarray], spec: IndicatorSpec) -> list[np.ndarray]:
    close = inputs["close"]
    if spec.function in TARGETS:
        h = int(spec.params["horizon"])
        out = np.full(len(close), np.nan)
        if spec.function == "RETURNS" and len(close) > h:
            out[h:] = close[h:] / close[:-h] - 1
        elif spec.function == "FORWARD_RETURNS" and len(close) > h:
            out[:-h] = close[h:] / close[:-h] - 1
        return [out]
    # TA-Lib carries a missing value into every later one (its running sums never recover): each run
    # of complete bars is computed on its own, so a missing close costs one warm-up, not the rest.
    fn = _abstract().Function(spec.function)
    fn.set_parameters(dict(spec.params))
    needed = [c for c in catalogue()[spec.function]["inputs"] if c in inputs] or ["close"]
    complete = np.logical_and.reduce([np.isfinite(inputs[c]) for c in needed])
    outputs = [np.full(len(close), np.nan) for _ in catalogue()[spec.function]["outputs"]]
    edges = np.flatnonzero(np.diff(np.concatenate([[0], complete.astype(np.int8), [0]])))
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        result = fn({c: v[start:stop] for c, v in inputs.items()})
        for out, values in zip(outputs, result if isinstance(result, list) else [result], strict=True):
            out[start:stop] = np.asarray(values, dtype=float)
    return outputs


def lookback(spec: IndicatorSpec) -> int:
    if spec.function in TARGETS:
        return int(spec.params["horizon"])
    fn = _abstract().Function(spec.function)
    fn.set_parameters(dict(spec.params))
    return int(fn.lookback)


def compute(table: pa.Table, specs: Sequence[IndicatorSpec]) -> tuple[pa.Table, dict[str, dict[str, Any]]]:
    """``table`` with the columns of ``specs`` added (per symbol for a panel), and each new column's
    description: function, parameters, lookback, leading NaNs, value range."""
    missing = [c for c in _PRICE_INPUTS if c not in table.column_names]
    if missing:
        raise IndicatorError(f"the dataset has no {', '.join(missing)} column")
    prices = {c: table.column(c).to_numpy(zero_copy_only=False).astype(float) for c in _PRICE_INPUTS}
    groups: list[np.ndarray]
    if SYMBOL in table.column_names:
        keys = np.asarray(table.column(SYMBOL).to_pylist(), dtype=object)
        groups = [np.flatnonzero(keys == s) for s in dict.fromkeys(keys.tolist())]
    else:
        groups = [np.arange(table.num_rows)]
    out = table
    described: dict[str, dict[str, Any]] = {}
    taken = set(table.column_names)
    for spec in specs:
        names = column_names(spec)
        clash = [n for n in names if n in taken]
        if clash:
            raise IndicatorError(f"{spec.function}: column {clash[0]!r} is already in the dataset")
        columns = [np.full(table.num_rows, np.nan) for _ in names]
        leading = [0] * len(names)
        for rows in groups:
            values = _one_series({c: prices[c][rows] for c in _PRICE_INPUTS}, spec)
            for i, array in enumerate(values):
                columns[i][rows] = array
                finite = np.flatnonzero(~np.isnan(array))
                leading[i] = max(leading[i], int(finite[0]) if finite.size else len(array))
        for i, name in enumerate(names):
            values = columns[i]
            finite = values[~np.isnan(values)]
            described[name] = {
                "function": spec.function, "parameters": dict(spec.params), "lookback": lookback(spec),
                "leading_nans": leading[i], "missing": int(np.isnan(values).sum()),
                "output": catalogue()[spec.function]["outputs"][i],
                "min": float(finite.min()) if finite.size else None, "max": float(finite.max()) if finite.size else None,
            }
            out = out.append_column(pa.field(name, pa.float64()), pa.array(values, pa.float64()))
            taken.add(name)
    return out, described
