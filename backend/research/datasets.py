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
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from backend.measurements.frames import COLUMN_PATTERN, as_table

PRICES: Final = ("open", "high", "low", "close")
REQUIRED: Final = ("timestamp", *PRICES, "volume")
ALIASES: Final = {"date": "timestamp", "datetime": "timestamp", "time": "timestamp", "vol": "volume"}
SYMBOL: Final = "symbol"
EXAMPLES: Final = 5  # rows named per problem
DEFAULT_MAX_BYTES: Final = 100 * 1024 * 1024


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


def _read_text_table(data: bytes, filename: str) -> pd.DataFrame:
    """Every cell as text (so bad cells can be named), from a CSV or a Parquet file."""
    if filename.lower().endswith((".parquet", ".pq")):
        try:
            table = pq.read_table(io.BytesIO(data))
        except (pa.ArrowException, OSError) as exc:
            raise DatasetFileError([f"{filename}: not a readable Parquet file ({str(exc)[:120]})"]) from None
        frame = table.to_pandas()
        return frame
    convert = pacsv.ConvertOptions(strings_can_be_null=False)
    try:
        table = pacsv.read_csv(io.BytesIO(data), convert_options=convert)
    except pa.ArrowInvalid:
        # A column whose types change after the first block (a bad cell far down): read every cell as
        # text, so the cell can be named rather than the file refused as a whole.
        try:
            names = pacsv.open_csv(io.BytesIO(data)).schema.names
            text = pacsv.ConvertOptions(strings_can_be_null=False, column_types={n: pa.string() for n in names})
            table = pacsv.read_csv(io.BytesIO(data), convert_options=text)
        except pa.ArrowInvalid as exc:
            raise DatasetFileError([f"{filename}: not a readable CSV file ({str(exc).splitlines()[0][:160]})"]) from None
    return table.to_pandas()


def read_bars(data: bytes, filename: str, *, time_zone: str = "UTC", max_bytes: int = DEFAULT_MAX_BYTES) -> Bars:
    """The bars of an uploaded file, checked whole; ``DatasetFileError`` naming every problem otherwise."""
    zone = clean_zone(time_zone)
    if len(data) > max_bytes:
        raise DatasetFileError([f"{filename}: {len(data) / 1e6:,.1f} MB is over the {max_bytes / 1e6:,.0f} MB allowed"])
    if not data.strip():
        raise DatasetFileError([f"{filename}: the file is empty"])
    raw = _read_text_table(data, filename)
    if raw.empty:
        raise DatasetFileError([f"{filename}: the file has a header but no rows"])
    frame, problems = _columns(raw)
    if problems:
        raise DatasetFileError(problems)
    first_line = 2  # after the header line
    problems += _text_cells(frame, first_line)
    stamps, more = _timestamps(frame["timestamp"], zone, first_line)
    problems += more
    numbers: dict[str, pd.Series] = {}
    for column in [c for c in frame.columns if c not in ("timestamp", SYMBOL)]:
        parsed, bad = _numbers(frame[column])
        if column in REQUIRED and bad.any():
            problems.append(f"{column}: not a number on {_lines(bad, first_line)}")
        if column in REQUIRED or not bad.any():
            numbers[column] = parsed
    if problems:
        raise DatasetFileError(problems)
    problems += _bar_rules(numbers, first_line)
    symbols = frame[SYMBOL].astype(str) if SYMBOL in frame.columns else None
    problems += _order(stamps, symbols, first_line)
    if problems:
        raise DatasetFileError(problems)
    out = {"timestamp": stamps}
    if symbols is not None:
        out[SYMBOL] = symbols
    for column in frame.columns:
        if column in numbers:
            out[column] = numbers[column]
        elif column not in out:
            out[column] = frame[column].astype(str)  # an extra text column
    table = as_table(pd.DataFrame(out))
    return Bars(table, zone, tuple(sorted(symbols.unique())) if symbols is not None else ())


def _columns(raw: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    problems: list[str] = []
    renamed: dict[str, str] = {}
    seen: dict[str, str] = {}
    for column in raw.columns:
        name = str(column).strip().lower().replace(" ", "_")
        name = ALIASES.get(name, name)
        if not COLUMN_PATTERN.fullmatch(name):
            problems.append(f"column {str(column)[:40]!r}: names are letters, digits and underscores")
            continue
        if name in seen:
            problems.append(f"columns {seen[name][:40]!r} and {str(column)[:40]!r} are the same column")
        seen[name] = str(column)
        renamed[column] = name
    missing = [c for c in REQUIRED if c not in seen]
    if missing:
        problems.append(f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                        f"(a dataset has {', '.join(REQUIRED)}; {SYMBOL} for many instruments)")
    return raw.rename(columns=renamed), problems


def _text_cells(frame: pd.DataFrame, first_line: int) -> list[str]:
    problems = []
    for column in frame.columns:
        values = frame[column]
        if values.dtype == object or pd.api.types.is_string_dtype(values):
            formula = values.astype(str).str.lstrip().str.startswith(("=", "+=", "-=", "@")).to_numpy()
            # "+1.5" and "-2" are numbers; "=..." (and "@...") are spreadsheet formulas
            if formula.any():
                problems.append(f"{column}: text starting with '=' (a spreadsheet formula) on {_lines(formula, first_line)}")
    return problems


def _timestamps(values: pd.Series, zone: str, first_line: int) -> tuple[pd.Series, list[str]]:
    text = values.astype(str).str.strip()
    stamps = pd.to_datetime(text, errors="coerce", utc=False, format="mixed")
    bad = (stamps.isna() | (text == "")).to_numpy()
    if bad.any():
        return stamps, [f"timestamp: not a date or time on {_lines(bad, first_line)}"]
    try:
        if getattr(stamps.dt, "tz", None) is None:
            stamps = stamps.dt.tz_localize(zone, ambiguous="raise", nonexistent="raise")
        stamps = stamps.dt.tz_convert("UTC")
    except (TypeError, ValueError) as exc:  # mixed zones, or a local time that does not exist in the zone
        return stamps, [f"timestamp: {str(exc)[:160]}"]
    return stamps.astype("datetime64[ns, UTC]"), []


def _numbers(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.astype(float), np.zeros(len(values), dtype=bool)
    text = values.astype(str).str.strip().str.replace(",", "", regex=False)
    parsed = pd.to_numeric(text, errors="coerce")
    empty = text.isin(["", "nan", "NaN", "null", "NULL", "NA"]).to_numpy()
    bad = parsed.isna().to_numpy() & ~empty
    return parsed.astype(float), bad


def _bar_rules(numbers: dict[str, pd.Series], first_line: int) -> list[str]:
    o, h, low, c, v = (numbers[k].to_numpy() for k in ("open", "high", "low", "close", "volume"))
    problems = []
    with np.errstate(invalid="ignore"):
        for mask, text in (
            ((h < o) | (h < c), "high below the open or close"),
            ((low > o) | (low > c), "low above the open or close"),
            (h < low, "high below the low"),
            (v < 0, "negative volume"),
            (~np.isfinite(np.where(np.isnan(o), 0, o)) | ~np.isfinite(np.where(np.isnan(c), 0, c)), "infinite price"),
        ):
            if mask.any():
                problems.append(f"{text} on {_lines(mask, first_line)}")
    return problems


def _order(stamps: pd.Series, symbols: pd.Series | None, first_line: int) -> list[str]:
    keys = pd.DataFrame({"t": stamps.to_numpy(), "s": symbols.to_numpy() if symbols is not None else ""})
    previous = keys.groupby("s", sort=False)["t"].shift()
    problems = []
    repeated = (keys["t"] == previous).to_numpy()
    backwards = (keys["t"] < previous).to_numpy()
    per = " for its symbol" if symbols is not None else ""
    if repeated.any():
        problems.append(f"timestamp repeated{per} on {_lines(repeated, first_line)}")
    if backwards.any():
        problems.append(f"timestamp earlier than the row before it{per} on {_lines(backwards, first_line)}")
    return problems


def read_file(path: Path, *, time_zone: str = "UTC", max_bytes: int = DEFAULT_MAX_BYTES) -> Bars:
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise DatasetFileError([f"{path.name}: {size / 1e6:,.1f} MB is over the {max_bytes / 1e6:,.0f} MB allowed"])
    return read_bars(path.read_bytes(), path.name, time_zone=time_zone, max_bytes=max_bytes)
