"""What the indicator explorer draws for one window of a dataset, thinned to the screen.

``explorer_window`` reads the window (one symbol of a panel), merges candles and thins lines to
about one bucket per pixel column (``backend.research.downsample``), and says what it cannot
draw — an empty window, an all-missing column, gaps — as notices rather than leaving a blank
chart. Times are the dataset's wall clock (its time zone), as the page shows them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from backend.measurements.frames import TIMESTAMP
from backend.research.chart_data import ExplorerWindow, Series
from backend.research.dataset_service import Datasets
from backend.research.datasets import PRICES, SYMBOL
from backend.research.description import DatasetInfo
from backend.research.downsample import candles, extremes
from backend.research.indicators import catalogue

WIDTH_MIN: Final = 100
WIDTH_MAX: Final = 4_000
BASE_COLUMNS: Final = frozenset({TIMESTAMP, SYMBOL, *PRICES, "volume"})


def indicator_columns(info: DatasetInfo) -> list[str]:
    """The numeric columns beyond the bars themselves (indicators, targets, extra series)."""
    return [c for c in info.columns if c not in BASE_COLUMNS]


def is_overlay(column: str, described: dict[str, Any]) -> bool:
    """Drawn over the prices when its values are prices (TA-Lib says so), else in a panel of its own."""
    meta = described.get(column) or {}
    function = meta.get("function")
    if function:
        return bool(catalogue().get(function, {}).get("overlay"))
    return column.startswith(("adj_", "vwap"))


def _clean(values: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else float(v) for v in values]


def _wall_clock(nanos: np.ndarray, zone: str) -> list[str]:
    stamps = pd.to_datetime(nanos, utc=True).tz_convert(zone).tz_localize(None)
    return [t.isoformat(sep=" ") for t in stamps]


def explorer_window(datasets: Datasets, name: str, *, start: Any = None, end: Any = None, symbol: str | None = None,
                    columns: Sequence[str] = (), width: int = 1200) -> ExplorerWindow:
    info = datasets.info(name)
    width = max(WIDTH_MIN, min(int(width), WIDTH_MAX))
    record = datasets.records.get(info.name)
    described = dict((record.inputs.get("columns") if record else None) or {})
    wanted = [c for c in dict.fromkeys(columns) if c in info.columns and c not in BASE_COLUMNS]
    read = [c for c in info.columns if c in BASE_COLUMNS and c != TIMESTAMP] + wanted
    table = datasets.measurements.read(info.name, columns=read, start=start, end=end)
    notices: list[str] = []
    if info.symbols:
        chosen = symbol if symbol in info.symbols else info.symbols[0]
        if symbol and symbol not in info.symbols:
            notices.append(f"There is no symbol {symbol[:20]!r} in {info.name}; showing {chosen}.")
        table = table.filter(pc.equal(table.column(SYMBOL), chosen))
        symbol = chosen
    else:
        symbol = None
    rows = table.num_rows
    if rows == 0:
        notices.append("No bars in this window: zoom out or choose another range.")
        return ExplorerWindow(info, symbol, 0, notices=notices)
    nanos = table.column(TIMESTAMP).cast("int64").to_numpy()
    # (as they are: no copy of millions of floats just to change nothing)
    arrays = {c: np.asarray(table.column(c).to_numpy(zero_copy_only=False), dtype=float) for c in (*PRICES, "volume")}
    merged = candles(arrays["open"], arrays["high"], arrays["low"], arrays["close"], arrays["volume"], width)
    per_candle = int(np.ceil(rows / len(merged.index))) if len(merged.index) else 1
    lines = []
    for column in wanted:
        values = np.asarray(table.column(column).to_numpy(zero_copy_only=False), dtype=float)
        if np.isnan(values).all():
            notices.append(f"{column} has no values in this window (its warm-up, or missing data).")
            continue
        keep = extremes(values, width)
        lines.append(Series(column, is_overlay(column, described), _wall_clock(nanos[keep], info.time_zone),
                            _clean(values[keep])))
    if info.gaps:
        notices.append(f"{info.gaps:,} gap{'s' if info.gaps > 1 else ''} in the bars (steps longer than "
                       f"{info.frequency} outside nights and weekends).")
    return ExplorerWindow(
        info, symbol, rows, x=_wall_clock(nanos[merged.index], info.time_zone), open=_clean(merged.open),
        high=_clean(merged.high), low=_clean(merged.low), close=_clean(merged.close), volume=_clean(merged.volume),
        lines=lines, notices=notices, merged=per_candle)
