"""OHLCV datasets: read from a CSV or Parquet file, checked whole, kept as a measurement.

A dataset is bars — ``timestamp, open, high, low, close, volume`` and any extra columns —
for one instrument, or for many with a ``symbol`` column (a panel). A file is refused whole,
with a message that names the rows, when anything in it is wrong: an empty file, missing or
repeated columns, timestamps or numbers that do not parse, timestamps out of order or
repeated (per symbol), a high below the open or close, a low above them, a negative volume,
text starting with ``=`` (a spreadsheet formula), or a file larger than allowed. Nothing is
stored unless the whole file is right.

Naive timestamps are read in the dataset's time zone (UTC unless told) and stored in UTC; a
daily bar without a time is its session's calendar date at midnight in that zone, so shown
in the dataset's zone it reads as that date.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from backend.measurements.frames import COLUMN_PATTERN, as_table

PRICES: Final = ("open", "high", "low", "close")
REQUIRED: Final = ("timestamp", *PRICES, "volume")
ALIASES: Final = {"date": "timestamp", "datetime": "timestamp", "time": "timestamp", "vol": "volume"}
SYMBOL: Final = "symbol"
EXAMPLES: Final = 5  # rows named per problem
MB: Final = 1024 * 1024
DEFAULT_MAX_BYTES: Final = 100 * MB


class DatasetFileError(ValueError):
    """A file that cannot become a dataset: every problem found, each naming its rows."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class Bars:
    """A checked file: the bars as the measurement stores keep them, and the zone they are shown in."""

    table: pa.Table
    time_zone: str
    symbols: tuple[str, ...] = field(default=())


def _lines(mask: np.ndarray, first_line: int) -> str:
    """The file lines of the first rows where ``mask`` holds ("lines 2, 5 and 3 more")."""
    where = np.flatnonzero(mask)
    shown = ", ".join(str(int(i) + first_line) for i in where[:EXAMPLES])
    more = f" and {len(where) - EXAMPLES:,} more" if len(where) > EXAMPLES else ""
    return f"line{'s' if len(where) > 1 else ''} {shown}{more}"


def clean_zone(zone: object) -> str:
    if not isinstance(zone, str) or not 0 < len(zone) <= 64:
        raise DatasetFileError([f"time zone: {str(zone)[:40]!r} is not a time zone name such as UTC or Asia/Ho_Chi_Minh"])
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise DatasetFileError([f"time zone: {zone[:64]!r} is not a known time zone"]) from None
    return zone


def _read_table(data: bytes, filename: str) -> pa.Table:
    """The file's table with the types the reader found (text where a column is not all one type)."""
    if filename.lower().endswith((".parquet", ".pq")):
        try:
            return pq.read_table(io.BytesIO(data))
        except (pa.ArrowException, OSError) as exc:
            raise DatasetFileError([f"{filename}: not a readable Parquet file ({str(exc)[:120]})"]) from None
    convert = pacsv.ConvertOptions(strings_can_be_null=False)
    try:
        return pacsv.read_csv(io.BytesIO(data), convert_options=convert)
    except pa.ArrowInvalid:
        # A column whose types change after the first block (a bad cell far down): read every cell as
        # text, so the cell can be named rather than the file refused as a whole.
        try:
            names = pacsv.open_csv(io.BytesIO(data)).schema.names
            text = pacsv.ConvertOptions(strings_can_be_null=False, column_types={n: pa.string() for n in names})
            return pacsv.read_csv(io.BytesIO(data), convert_options=text)
        except pa.ArrowInvalid as exc:
            raise DatasetFileError([f"{filename}: not a readable CSV file ({str(exc).splitlines()[0][:160]})"]) from None


def _is_text(column: pa.ChunkedArray) -> bool:
    return pa.types.is_string(column.type) or pa.types.is_large_string(column.type) or \
        pa.types.is_dictionary(column.type)


def read_bars(data: bytes, filename: str, *, time_zone: str = "UTC", max_bytes: int = DEFAULT_MAX_BYTES) -> Bars:
    """The bars of an uploaded file, checked whole; ``DatasetFileError`` naming every problem otherwise."""
    zone = clean_zone(time_zone)
    if len(data) > max_bytes:
        raise DatasetFileError([f"{filename}: {len(data) / MB:,.1f} MB is over the {max_bytes / MB:,.0f} MB allowed"])
    if not data or data.isspace():  # (isspace stops at the first character that is not: no copy)
        raise DatasetFileError([f"{filename}: the file is empty"])
    raw = _read_table(data, filename)
    if raw.num_rows == 0:
        raise DatasetFileError([f"{filename}: the file has a header but no rows"])
    table, problems = _columns(raw)
    if problems:
        raise DatasetFileError(problems)
    first_line = 2  # after the header line
    problems += _text_cells(table, first_line)
    stamps, more = _timestamps(table.column("timestamp"), zone, first_line)
    problems += more
    numbers: dict[str, np.ndarray] = {}
    for column in [c for c in table.column_names if c not in ("timestamp", SYMBOL)]:
        parsed, bad = _numbers(table.column(column))
        if column in REQUIRED and bad.any():
            problems.append(f"{column}: not a number on {_lines(bad, first_line)}")
        if column in REQUIRED or not bad.any():
            numbers[column] = parsed
    if problems:
        raise DatasetFileError(problems)
    problems += _bar_rules(numbers, first_line)
    symbols = table.column(SYMBOL).cast(pa.string()) if SYMBOL in table.column_names else None
    assert stamps is not None
    problems += _order(stamps, symbols, first_line)
    if problems:
        raise DatasetFileError(problems)
    out: dict[str, Any] = {"timestamp": stamps}
    if symbols is not None:
        out[SYMBOL] = symbols
    for column in table.column_names:
        if column in numbers:
            out[column] = pa.array(numbers[column], pa.float64())
        elif column not in out:
            out[column] = table.column(column).cast(pa.string())  # an extra text column
    bars = as_table(pa.table(out))
    names = tuple(sorted(pc.unique(symbols).to_pylist())) if symbols is not None else ()
    return Bars(bars, zone, names)


def _columns(raw: pa.Table) -> tuple[pa.Table, list[str]]:
    problems: list[str] = []
    renamed: list[str] = []
    seen: dict[str, str] = {}
    for column in raw.column_names:
        name = str(column).strip().lower().replace(" ", "_")
        name = ALIASES.get(name, name)
        if not COLUMN_PATTERN.fullmatch(name):
            problems.append(f"column {str(column)[:40]!r}: names are letters, digits and underscores")
            name = f"_bad_{len(renamed)}"
        elif name in seen:
            problems.append(f"columns {seen[name][:40]!r} and {str(column)[:40]!r} are the same column")
            name = f"_same_{len(renamed)}"
        seen.setdefault(name, str(column))
        renamed.append(name)
    missing = [c for c in REQUIRED if c not in seen]
    if missing:
        problems.append(f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                        f"(a dataset has {', '.join(REQUIRED)}; {SYMBOL} for many instruments)")
    return raw.rename_columns(renamed), problems


def _text_cells(table: pa.Table, first_line: int) -> list[str]:
    problems = []
    for name in table.column_names:
        column = table.column(name)
        if not _is_text(column):
            continue
        trimmed = pc.utf8_ltrim_whitespace(column.cast(pa.string()))
        formula = pc.or_(pc.starts_with(trimmed, "="), pc.starts_with(trimmed, "@"))
        formula = pc.or_(formula, pc.or_(pc.starts_with(trimmed, "+="), pc.starts_with(trimmed, "-=")))
        mask = formula.to_numpy(zero_copy_only=False)
        mask = np.asarray(mask, dtype=bool) if mask.dtype != bool else mask
        if mask.any():
            problems.append(f"{name}: text starting with '=' (a spreadsheet formula) on {_lines(mask, first_line)}")
    return problems


def _timestamps(column: pa.ChunkedArray, zone: str, first_line: int) -> tuple[pa.ChunkedArray | None, list[str]]:
    """UTC instants; naive values are read in ``zone`` (a date without a time: its midnight there)."""
    kind = column.type
    if pa.types.is_date(kind):
        column = column.cast(pa.timestamp("s"))
    elif _is_text(column) or not pa.types.is_timestamp(kind):
        text = pd.Series(column.cast(pa.string()).to_numpy(zero_copy_only=False), dtype=object).str.strip()
        parsed = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=False)
        if parsed.isna().mean() > 0.5:  # not ISO-8601: let pandas read each value as it can
            parsed = pd.to_datetime(text, errors="coerce", format="mixed", utc=False)
        bad = (parsed.isna() | (text == "")).to_numpy()
        if bad.any():
            return None, [f"timestamp: not a date or time on {_lines(bad, first_line)}"]
        try:
            column = pa.chunked_array([pa.Array.from_pandas(parsed)])
        except (pa.ArrowInvalid, TypeError) as exc:  # times with different offsets in one column
            return None, [f"timestamp: {str(exc)[:160]}"]
    if column.null_count:
        mask = column.is_null().to_numpy(zero_copy_only=False)
        return None, [f"timestamp: not a date or time on {_lines(np.asarray(mask, dtype=bool), first_line)}"]
    try:
        if column.type.tz is None and zone != "UTC":
            column = pc.assume_timezone(column, timezone=zone, ambiguous="raise", nonexistent="raise")
        # (a naive time cast to a UTC type is read as UTC, which it is here)
        return column.cast(pa.timestamp("ns", tz="UTC")), []
    except pa.ArrowInvalid as exc:  # a local time that does not exist, or is ambiguous, in the zone
        return None, [f"timestamp: {str(exc).splitlines()[0][:160]} (in {zone})"]


def _numbers(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """The column as floats (missing: NaN), and where a cell is not a number."""
    if (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)) and not pa.types.is_boolean(column.type):
        values = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
        return np.asarray(values, dtype=float), np.zeros(len(values), dtype=bool)
    if pa.types.is_null(column.type):
        return np.full(len(column), np.nan), np.zeros(len(column), dtype=bool)
    text = pd.Series(column.cast(pa.string()).to_numpy(zero_copy_only=False), dtype=object).str.strip() \
        .str.replace(",", "", regex=False)
    parsed = pd.to_numeric(text, errors="coerce")
    empty = text.isin(["", "nan", "NaN", "null", "NULL", "NA"]).to_numpy() | text.isna().to_numpy()
    bad = parsed.isna().to_numpy() & ~empty
    return parsed.to_numpy(dtype=float, na_value=np.nan), bad


def _bar_rules(numbers: dict[str, np.ndarray], first_line: int) -> list[str]:
    o, h, low, c, v = (numbers[k] for k in ("open", "high", "low", "close", "volume"))
    problems = []
    with np.errstate(invalid="ignore"):
        for mask, text in (
            ((h < o) | (h < c), "high below the open or close"),
            ((low > o) | (low > c), "low above the open or close"),
            (h < low, "high below the low"),
            (v < 0, "negative volume"),
            (np.isinf(o) | np.isinf(h) | np.isinf(low) | np.isinf(c) | np.isinf(v), "infinite value"),
        ):
            if mask.any():
                problems.append(f"{text} on {_lines(mask, first_line)}")
    return problems


def _order(stamps: pa.ChunkedArray, symbols: pa.ChunkedArray | None, first_line: int) -> list[str]:
    nanos = stamps.cast(pa.int64()).to_numpy()
    previous = np.full(len(nanos), np.iinfo(np.int64).min)
    if symbols is None:
        previous[1:] = nanos[:-1]
    else:
        keys = pd.factorize(np.asarray(symbols.to_numpy(zero_copy_only=False), dtype=object))[0]
        order = np.argsort(keys, kind="stable")  # rows of each symbol together, in file order
        same = np.concatenate([[False], keys[order][1:] == keys[order][:-1]])
        shifted = np.full(len(nanos), np.iinfo(np.int64).min)
        shifted[1:] = nanos[order][:-1]
        previous[order] = np.where(same, shifted, np.iinfo(np.int64).min)
    first = previous == np.iinfo(np.int64).min
    repeated = (nanos == previous) & ~first
    backwards = (nanos < previous) & ~first
    per = " for its symbol" if symbols is not None else ""
    problems = []
    if repeated.any():
        problems.append(f"timestamp repeated{per} on {_lines(repeated, first_line)}")
    if backwards.any():
        problems.append(f"timestamp earlier than the row before it{per} on {_lines(backwards, first_line)}")
    return problems


def read_file(path: Path, *, time_zone: str = "UTC", max_bytes: int = DEFAULT_MAX_BYTES) -> Bars:
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise DatasetFileError([f"{path.name}: {size / MB:,.1f} MB is over the {max_bytes / MB:,.0f} MB allowed"])
    return read_bars(path.read_bytes(), path.name, time_zone=time_zone, max_bytes=max_bytes)
