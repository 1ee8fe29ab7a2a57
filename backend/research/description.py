"""What a dataset holds, computed from its bars: rows, time range, bar frequency, symbols, columns,
gaps and missing values. Pure computation over an Arrow table (no store), so pages and charts can
name the type without reaching the stores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from backend.measurements.frames import TIMESTAMP
from backend.research.datasets import SYMBOL


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    rows: int
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    frequency: str
    symbols: tuple[str, ...]
    columns: tuple[str, ...]
    time_zone: str
    gaps: int
    missing: dict[str, int]
    source: str

    @classmethod
    def from_public(cls, data: dict[str, Any]) -> DatasetInfo:
        def stamp(value: Any) -> pd.Timestamp | None:
            return None if value is None else pd.Timestamp(value)

        return cls(name=data["name"], rows=int(data["rows"]), start=stamp(data["start"]), end=stamp(data["end"]),
                   frequency=data["frequency"], symbols=tuple(data["symbols"]), columns=tuple(data["columns"]),
                   time_zone=data["time_zone"], gaps=int(data["gaps"]), missing=dict(data["missing"]),
                   source=data["source"])

    def public(self) -> dict[str, Any]:
        def iso(t: pd.Timestamp | None) -> str | None:
            return None if t is None else t.isoformat()

        return {"name": self.name, "rows": self.rows, "start": iso(self.start), "end": iso(self.end),
                "frequency": self.frequency, "symbols": list(self.symbols), "columns": list(self.columns),
                "time_zone": self.time_zone, "gaps": self.gaps, "missing": self.missing, "source": self.source}


_UNITS = ((86_400, "D"), (3_600, "h"), (60, "min"), (1, "s"))


def frequency_label(seconds: float | None) -> str:
    """The bar spacing in words a researcher uses: "1D", "5min", "1h"; "irregular" when unknown."""
    if seconds is None or not np.isfinite(seconds) or seconds <= 0:
        return "irregular"
    for size, unit in _UNITS:
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _series(table: pa.Table) -> tuple[tuple[str, ...], list[np.ndarray]]:
    """The symbols, and each one's timestamps in nanoseconds (one series without a symbol column)."""
    nanos = table.column(TIMESTAMP).cast(pa.int64()).to_numpy()
    if SYMBOL not in table.column_names:
        return (), [nanos]
    keys = np.asarray(table.column(SYMBOL).to_pylist(), dtype=object)
    symbols = tuple(sorted({str(k) for k in keys}))
    return symbols, [nanos[keys == symbol] for symbol in symbols]


def _gaps(series: list[np.ndarray], typical_ns: float, time_zone: str) -> int:
    """Steps longer than the bars' own: over four calendar days for daily bars (weekends and
    holidays are not gaps), over 1.5 bars within one local day for intraday bars (nights are not)."""
    gaps = 0
    for nanos in series:
        steps = np.diff(nanos)
        if typical_ns >= 86_400e9:
            gaps += int((steps > 4 * 86_400e9).sum())
            continue
        days = pd.to_datetime(nanos, utc=True).tz_convert(time_zone).normalize().asi8
        gaps += int(((steps > 1.5 * typical_ns) & (np.diff(days) == 0)).sum())
    return gaps


def _missing(table: pa.Table) -> dict[str, int]:
    out = {}
    for name in table.column_names:
        column = table.column(name)
        count = column.null_count
        if pa.types.is_floating(column.type):
            count += int(pc.sum(pc.is_nan(column)).as_py() or 0)
        if count:
            out[name] = count
    return out


def describe(name: str, table: pa.Table, time_zone: str, source: str = "") -> DatasetInfo:
    """What a dataset holds, computed from its bars."""
    symbols, series = _series(table)
    steps = np.concatenate([np.diff(s) for s in series]) if series else np.array([], dtype=np.int64)
    steps = steps[steps > 0]
    typical = float(np.median(steps)) if steps.size else None
    stamps = table.column(TIMESTAMP)
    rows = table.num_rows
    return DatasetInfo(
        name=name, rows=rows,
        start=pd.Timestamp(pc.min(stamps).as_py()) if rows else None,
        end=pd.Timestamp(pc.max(stamps).as_py()) if rows else None,
        frequency=frequency_label(None if typical is None else typical / 1e9), symbols=symbols,
        columns=tuple(table.column_names), time_zone=time_zone,
        gaps=_gaps(series, typical, time_zone) if typical else 0, missing=_missing(table), source=source)
