"""Measurements as ClickHouse tables: the server-mode store (tested through chDB).

Measurement ``name`` is the table ``m_<name>`` in the warehouse database. Every column
but the timestamp is Nullable, so a missing value and a NaN stay apart, and two hidden
columns keep the rows in the order they were written (``_part``: the write's time in
nanoseconds, ``_row``: the row's place in it). A rewrite fills a new table and swaps it in
with ``EXCHANGE TABLES``, so readers see the old rows or the new ones, never a mix.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any, Final

import pandas as pd
import pyarrow as pa

from backend.measurements.frames import (
    TIME_TYPE,
    TIMESTAMP,
    FrameError,
    MeasurementNotFound,
    as_instant,
    as_table,
    pick_columns,
    same_columns,
)
from backend.measurements.names import TABLE_PREFIX, table_name
from backend.warehouse import Warehouse

HIDDEN: Final = ("_part", "_row")
_TO_CLICKHOUSE: Final[dict[pa.DataType, str]] = {
    pa.float64(): "Nullable(Float64)", pa.int64(): "Nullable(Int64)", pa.bool_(): "Nullable(Bool)",
    pa.string(): "Nullable(String)",
}
_FROM_CLICKHOUSE: Final[dict[str, pa.DataType]] = {
    "DateTime64(9, 'UTC')": TIME_TYPE, **{v: k for k, v in _TO_CLICKHOUSE.items()},
}


class ClickHouseMeasurements:
    """The ``Measurements`` interface over tables of the warehouse."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse

    def _exists(self, table: str) -> bool:
        rows = self.warehouse.query_rows(
            "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {t:String}",
            {"db": self.warehouse.database, "t": table})
        return bool(rows and rows[0][0])

    def _create(self, table: str, schema: pa.Schema) -> None:
        columns = [f"`{TIMESTAMP}` DateTime64(9, 'UTC')"]
        columns += [f"`{f.name}` {_TO_CLICKHOUSE[f.type]}" for f in schema if f.name != TIMESTAMP]
        columns += ["`_part` UInt64", "`_row` UInt32"]
        self.warehouse.command(f"CREATE TABLE {{db}}.`{table}` ({', '.join(columns)}) "
                               "ENGINE = MergeTree ORDER BY (_part, _row)")

    def _insert(self, table: str, data: pa.Table) -> None:
        part = pa.array([time.time_ns()] * data.num_rows, pa.uint64())
        rows = pa.array(range(data.num_rows), pa.uint32())
        self.warehouse.insert_arrow(table, data.append_column("_part", part).append_column("_row", rows))

    # -- writing ----------------------------------------------------------------------------
    def write(self, name: str, frame: pa.Table | pd.DataFrame) -> int:
        table, data = table_name(name), as_table(frame)
        fresh = f"{table}__new_{uuid.uuid4().hex[:12]}"
        self._create(fresh, data.schema)
        try:
            if data.num_rows:
                self._insert(fresh, data)
            if self._exists(table):
                self.warehouse.command(f"EXCHANGE TABLES {{db}}.`{fresh}` AND {{db}}.`{table}`")
            else:
                self.warehouse.command(f"RENAME TABLE {{db}}.`{fresh}` TO {{db}}.`{table}`")
        finally:
            self.warehouse.command(f"DROP TABLE IF EXISTS {{db}}.`{fresh}` SYNC")
        return data.num_rows

    def append(self, name: str, frame: pa.Table | pd.DataFrame) -> int:
        table, data = table_name(name), as_table(frame)
        same_columns(self.schema(name), data, name)
        if data.num_rows:
            self._insert(table, data)
        return data.num_rows

    # -- reading ----------------------------------------------------------------------------
    def schema(self, name: str) -> pa.Schema:
        table = table_name(name)
        rows = self.warehouse.query_rows(
            "SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {t:String} "
            "ORDER BY position", {"db": self.warehouse.database, "t": table})
        if not rows:
            raise MeasurementNotFound(name)
        fields = []
        for column, kind in rows:
            if column in HIDDEN:
                continue
            if kind not in _FROM_CLICKHOUSE:
                raise FrameError(f"{name}: column {column!r} has type {kind}, which no measurement writes")
            fields.append(pa.field(column, _FROM_CLICKHOUSE[kind], nullable=column != TIMESTAMP))
        return pa.schema(fields)

    def read(self, name: str, columns: Sequence[str] | None = None, start: Any = None,
             end: Any = None) -> pa.Table:
        """Rows with ``start <= timestamp < end`` (either may be None), in the order written."""
        table, schema = table_name(name), self.schema(name)
        wanted = pick_columns(schema, columns, name)
        lower, upper = as_instant(start, "start"), as_instant(end, "end")
        conditions, params = ["1"], {}
        if lower is not None:
            conditions.append(f"`{TIMESTAMP}` >= fromUnixTimestamp64Nano({{lo:Int64}}, 'UTC')")
            params["lo"] = lower.value
        if upper is not None:
            conditions.append(f"`{TIMESTAMP}` < fromUnixTimestamp64Nano({{hi:Int64}}, 'UTC')")
            params["hi"] = upper.value
        select = ", ".join(f"`{c}`" for c in wanted)
        got = self.warehouse.query_arrow(
            f"SELECT {select} FROM {{db}}.`{table}` WHERE {' AND '.join(conditions)} ORDER BY _part, _row", params)
        target = pa.schema([schema.field(c) for c in wanted])
        # The engine's Arrow output names its own types (binary text, nullable flags): cast to the stored ones.
        return pa.Table.from_arrays([got.column(c).cast(target.field(c).type) for c in wanted], schema=target)

    def list(self) -> list[str]:
        rows = self.warehouse.query_rows(
            "SELECT name FROM system.tables WHERE database = {db:String} AND startsWith(name, {p:String}) "
            "AND position(name, '__new_') = 0 ORDER BY name", {"db": self.warehouse.database, "p": TABLE_PREFIX})
        return [r[0].removeprefix(TABLE_PREFIX) for r in rows]

    def delete(self, name: str) -> bool:
        table = table_name(name)
        if not self._exists(table):
            return False
        self.warehouse.command(f"DROP TABLE IF EXISTS {{db}}.`{table}` SYNC")
        return True
