"""What a measurement holds, whatever keeps it: a time-series frame as an Arrow table.

Every frame has a ``timestamp`` column (UTC instants; naive values are read as UTC) and any
number of other columns of the types every store keeps exactly: 64-bit floats (NaN kept as
NaN), 64-bit integers, booleans and text, each of them possibly missing. Frames come in as
Arrow tables or pandas frames; rows keep the order they were written in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC
from typing import Any, Final, Protocol

import pandas as pd
import pyarrow as pa

TIMESTAMP: Final = "timestamp"
TIME_TYPE: Final = pa.timestamp("ns", tz="UTC")
COLUMN_PATTERN: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")  # whole names only: fullmatch
COLUMNS_MAX: Final = 500
# Arrow types a column may have, and what each is stored as (narrower ints widen; floats widen).
_WIDER: Final[dict[str, pa.DataType]] = {"float": pa.float64(), "int": pa.int64(), "bool": pa.bool_(),
                                          "string": pa.string()}


class FrameError(ValueError):
    """A frame a measurement cannot hold; the message names the column and can be shown."""


class MeasurementNotFound(KeyError):
    def __str__(self) -> str:
        return f"no measurement {self.args[0]!r}"


def _kind(column: str, dtype: pa.DataType) -> str:
    if pa.types.is_floating(dtype):
        return "float"
    if pa.types.is_integer(dtype):
        return "int"
    if pa.types.is_boolean(dtype):
        return "bool"
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or pa.types.is_dictionary(dtype):
        return "string"
    raise FrameError(f"column {column!r}: type {dtype} is not one a measurement keeps (float, int, bool, text)")


def as_table(frame: pa.Table | pd.DataFrame) -> pa.Table:
    """``frame`` as the Arrow table a store writes: the timestamp first as UTC nanoseconds, the
    other columns widened to float64, int64, bool or string. Refused whole when anything is off."""
    if isinstance(frame, pd.DataFrame):
        if not isinstance(frame.index, pd.RangeIndex):
            frame = frame.reset_index()
        table = pa.Table.from_pandas(frame, preserve_index=False)
    elif isinstance(frame, pa.Table):
        table = frame
    else:
        raise FrameError(f"a frame is an Arrow table or a pandas DataFrame, got {type(frame).__name__}")
    names = table.column_names
    if TIMESTAMP not in names:
        raise FrameError(f"a frame needs a {TIMESTAMP!r} column")
    if len(names) > COLUMNS_MAX:
        raise FrameError(f"at most {COLUMNS_MAX} columns, got {len(names)}")
    seen: set[str] = set()
    for name in names:
        if not isinstance(name, str) or not COLUMN_PATTERN.fullmatch(name):
            raise FrameError(f"column {str(name)[:70]!r}: names are letters, digits and underscores, "
                             "starting with a letter or underscore, 63 characters at most")
        if name.lower() in seen:
            raise FrameError(f"column {name!r} appears twice")
        seen.add(name.lower())
    columns: list[pa.Array | pa.ChunkedArray] = []
    fields: list[pa.Field] = []
    for name in [TIMESTAMP, *(n for n in names if n != TIMESTAMP)]:
        column = table.column(name)
        if name == TIMESTAMP:
            column = _timestamps(column)
        else:
            wanted = _WIDER[_kind(name, column.type)]
            if pa.types.is_dictionary(column.type):
                column = column.cast(column.type.value_type)
            column = column.cast(wanted)
        columns.append(column)
        fields.append(pa.field(name, column.type, nullable=name != TIMESTAMP))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields)).combine_chunks()


def _timestamps(column: pa.ChunkedArray) -> pa.ChunkedArray:
    dtype = column.type
    if not pa.types.is_timestamp(dtype):
        raise FrameError(f"column {TIMESTAMP!r}: expected timestamps, got {dtype}")
    if column.null_count:
        raise FrameError(f"column {TIMESTAMP!r}: {column.null_count:,} rows have no timestamp")
    if dtype.tz is None:
        column = column.cast(pa.timestamp(dtype.unit, tz="UTC"))  # naive: read as UTC
    return column.cast(TIME_TYPE)


def same_columns(stored: pa.Schema, table: pa.Table, name: str) -> None:
    """Appending ``table`` to measurement ``name`` needs exactly its columns and types."""
    if table.schema.remove_metadata() != stored.remove_metadata():
        have = ", ".join(f"{f.name} {f.type}" for f in stored)
        got = ", ".join(f"{f.name} {f.type}" for f in table.schema)
        raise FrameError(f"{name}: appended columns differ from the stored ones (stored: {have}; given: {got})")


def pick_columns(schema: pa.Schema, columns: Sequence[str] | None, name: str) -> list[str]:
    """The columns to read, timestamp first; unknown names refused."""
    if columns is None:
        return list(schema.names)
    unknown = [c for c in columns if c not in schema.names]
    if unknown:
        raise FrameError(f"{name} has no column {str(unknown[0])[:70]!r}")
    return [TIMESTAMP, *dict.fromkeys(c for c in columns if c != TIMESTAMP)]


def as_instant(value: Any, what: str) -> pd.Timestamp | None:
    """A read bound as a UTC instant (naive values are UTC); None: unbounded."""
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise FrameError(f"{what}: {str(value)[:40]!r} is not a time") from None
    if stamp is pd.NaT:
        raise FrameError(f"{what}: not a time")
    return stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)


class Measurements(Protocol):
    """Named time-series frames, kept by one store (Parquet files, ClickHouse tables, QuestDB)."""

    def write(self, name: str, frame: pa.Table | pd.DataFrame) -> int: ...
    def append(self, name: str, frame: pa.Table | pd.DataFrame) -> int: ...
    def read(self, name: str, columns: Sequence[str] | None = None, start: Any = None,
             end: Any = None) -> pa.Table: ...
    def schema(self, name: str) -> pa.Schema: ...
    def list(self) -> list[str]: ...
    def delete(self, name: str) -> bool: ...


def to_pandas(table: pa.Table) -> pd.DataFrame:
    """A read as pandas: the timestamp tz-aware UTC, NaN as NaN, missing ints as <NA>."""
    return table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}.get)
