"""Simulations from files, as the command line runs them: bars in one file, signals in another.

Both files are CSV or Parquet with a ``timestamp`` column (naive times read in the given zone).
The signal file has ``entry`` and ``exit`` columns (and optionally ``short_entry`` and
``short_exit``) of true/false or 1/0, or a ``target`` column of +1, 0 and −1; its rows must be
the bars' timestamps exactly, one for one, or nothing is simulated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from backend.research.datasets import MB, _read_table, _timestamps, clean_zone
from backend.research.simulator.engine import signals_from_targets

SIGNAL_COLUMNS: Final = ("entry", "exit", "short_entry", "short_exit")
SIGNAL_MAX_BYTES: Final = 2_000 * MB
_TRUE: Final = frozenset({"true", "1", "t", "yes", "y"})
_FALSE: Final = frozenset({"false", "0", "f", "no", "n", ""})


class SignalFileError(ValueError):
    """A signal file that cannot drive a simulation; the message says where and why."""


def _flags(column: pa.ChunkedArray, name: str) -> np.ndarray:
    if pa.types.is_boolean(column.type):
        if column.null_count:
            raise SignalFileError(f"{name}: {column.null_count:,} rows are empty (true or false)")
        return column.to_numpy(zero_copy_only=False).astype(bool)
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        values = column.to_numpy(zero_copy_only=False).astype(float)
        bad = ~np.isin(values, (0.0, 1.0))
        if bad.any():
            raise SignalFileError(f"{name}: row {int(np.argmax(bad)) + 2} is {values[bad][0]!r} (true/false or 1/0)")
        return values == 1.0
    text = pc.utf8_lower(pc.utf8_trim_whitespace(column.cast(pa.string()))).to_pylist()
    out = np.zeros(len(text), dtype=bool)
    for row, value in enumerate(text):
        if value in _TRUE:
            out[row] = True
        elif value is not None and value not in _FALSE:
            raise SignalFileError(f"{name}: row {row + 2} is {value[:20]!r} (true/false or 1/0)")
    return out


def read_signals(path: Path, bar_times: np.ndarray, *, time_zone: str = "UTC",
                 max_bytes: int = SIGNAL_MAX_BYTES) -> dict[str, np.ndarray]:
    """The entries and exits of ``path``, checked against the bars' times (UTC nanoseconds)."""
    path = Path(path)
    if path.stat().st_size > max_bytes:
        raise SignalFileError(f"{path.name}: over the {max_bytes / MB:,.0f} MB allowed")
    try:
        table = _read_table(path.read_bytes(), path.name)
    except ValueError as exc:
        raise SignalFileError(str(exc)) from None
    names = {c.strip().lower(): c for c in table.column_names}
    if "timestamp" not in names:
        raise SignalFileError(f"{path.name}: no 'timestamp' column")
    stamps, problems = _timestamps(table.column(names["timestamp"]), clean_zone(time_zone), 2)
    if problems or stamps is None:
        raise SignalFileError(f"{path.name}: {'; '.join(problems[:3])}")
    times = stamps.cast(pa.int64()).to_numpy()
    if len(times) != len(bar_times):
        raise SignalFileError(f"{path.name}: {len(times):,} signal rows for {len(bar_times):,} bars "
                              "(one row per bar, with the bars' timestamps)")
    differ = times != bar_times
    if differ.any():
        row = int(np.argmax(differ))
        raise SignalFileError(f"{path.name}: row {row + 2} has timestamp {np.datetime64(int(times[row]), 'ns')} "
                              f"where bar {row + 1} is at {np.datetime64(int(bar_times[row]), 'ns')} "
                              "(signal rows must match the bars' timestamps exactly)")
    if "target" in names:
        values = table.column(names["target"])
        if not (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)):
            raise SignalFileError("target: numbers +1, 0 or −1")
        try:
            entries, exits, short_entries, short_exits = signals_from_targets(
                values.to_numpy(zero_copy_only=False).astype(float).reshape(-1, 1))
        except ValueError as exc:
            raise SignalFileError(str(exc)) from None
        return {"entries": entries[:, 0], "exits": exits[:, 0], "short_entries": short_entries[:, 0],
                "short_exits": short_exits[:, 0]}
    if "entry" not in names:
        raise SignalFileError(f"{path.name}: needs 'entry' and 'exit' columns, or a 'target' column")
    out = {}
    for column, key in zip(SIGNAL_COLUMNS, ("entries", "exits", "short_entries", "short_exits"), strict=True):
        if column in names:
            out[key] = _flags(table.column(names[column]), column)
    return out
