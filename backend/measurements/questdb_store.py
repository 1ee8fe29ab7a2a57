"""Measurements in QuestDB, for desks that keep their series there.

Rows go in with QuestDB's official client over the InfluxDB line protocol (ILP), and come
back by SQL over QuestDB's PostgreSQL wire protocol. Measurement ``name`` is the table
``m_<name>``; the timestamp is the designated timestamp (UTC, nanoseconds on the wire).

How the types travel — ILP carries integers, floats, booleans, strings, symbols and
timestamps:

======================  ===================  ======================  ==========================
frame column            ILP                  QuestDB column          read back as
======================  ===================  ======================  ==========================
``timestamp``           designated, ns       TIMESTAMP               timestamp[ns, UTC]
float64                 float                DOUBLE                  float64 (NaN comes back NULL)
int64                   integer (``i``)      LONG                    int64 (its minimum is QuestDB's NULL)
bool                    ``t`` / ``f``        BOOLEAN                 bool (QuestDB has no missing boolean:
                                                                             a frame with one is refused)
``symbol`` (text)       symbol (tag)         SYMBOL                  string
other text              string               VARCHAR                 string
======================  ===================  ======================  ==========================

A missing value is left out of its row (ILP has no NULL): QuestDB stores NULL. Rows come back
in timestamp order (QuestDB keeps a table sorted by its designated timestamp). A rewrite drops
the table over SQL and sends the rows again, so a reader may see it empty meanwhile. This store
has been checked byte for byte against the protocol on a local socket, and against a live
QuestDB only where ``DESKBOARD_TEST_QUESTDB_URL`` names one: no QuestDB server runs here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
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

SYMBOL_COLUMN: Final = "symbol"
_FROM_QUESTDB: Final[dict[str, pa.DataType]] = {
    "TIMESTAMP": TIME_TYPE, "DOUBLE": pa.float64(), "FLOAT": pa.float64(), "LONG": pa.int64(), "INT": pa.int64(),
    "SHORT": pa.int64(), "BYTE": pa.int64(), "BOOLEAN": pa.bool_(), "VARCHAR": pa.string(), "STRING": pa.string(),
    "SYMBOL": pa.string(),
}
_CONF: Final = re.compile(r"^(tcp|tcps|http|https)::addr=[A-Za-z0-9.\-]+:\d{1,5};")


def _frame(table: pa.Table) -> pd.DataFrame:
    frame = table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}.get)
    if SYMBOL_COLUMN in frame.columns:
        frame[SYMBOL_COLUMN] = frame[SYMBOL_COLUMN].astype("category")  # sent as an ILP symbol
    return frame


class QuestDBMeasurements:
    """The ``Measurements`` interface over a QuestDB server: ILP to write, PostgreSQL wire to read."""

    def __init__(self, ilp_conf: str, sql_connect: Callable[[], Any] | None = None) -> None:
        if not _CONF.match(ilp_conf or ""):
            raise ValueError("the QuestDB ILP address is a client configuration string such as "
                             "'http::addr=127.0.0.1:9000;' or 'tcp::addr=127.0.0.1:9009;'")
        self.ilp_conf = ilp_conf
        self.sql_connect = sql_connect

    # -- SQL over the PostgreSQL wire ----------------------------------------------------------
    def _sql(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self.sql_connect is None:
            raise RuntimeError("reading QuestDB needs its PostgreSQL address (DESKBOARD_RESEARCH_QUESTDB_SQL)")
        with self.sql_connect() as conn, conn.cursor() as cursor:
            cursor.execute(statement, tuple(params))
            return list(cursor.fetchall()) if cursor.description else []

    # -- writing -------------------------------------------------------------------------------
    def _send(self, table: str, data: pa.Table) -> None:
        from questdb import Sender

        if data.num_rows == 0:
            return
        for field in data.schema:
            if pa.types.is_boolean(field.type) and data.column(field.name).null_count:
                # QuestDB's BOOLEAN has no NULL: sending false would change the data, so nothing is sent
                raise FrameError(f"column {field.name!r}: {data.column(field.name).null_count:,} missing values, "
                                 "which a QuestDB boolean cannot hold")
        conf = self.ilp_conf + ("" if "protocol_version" in self.ilp_conf else "protocol_version=1;")
        with Sender.from_conf(conf) as sender:
            sender.dataframe(_frame(data), table_name=table, at=TIMESTAMP)
            sender.flush()

    def write(self, name: str, frame: pa.Table | pd.DataFrame) -> int:
        table, data = table_name(name), as_table(frame)
        if self.sql_connect is not None:
            self._sql(f'DROP TABLE IF EXISTS "{table}"')
        self._send(table, data)
        return data.num_rows

    def append(self, name: str, frame: pa.Table | pd.DataFrame) -> int:
        table, data = table_name(name), as_table(frame)
        if self.sql_connect is not None:
            same_columns(self.schema(name), data, name)
        self._send(table, data)
        return data.num_rows

    # -- reading -------------------------------------------------------------------------------
    def schema(self, name: str) -> pa.Schema:
        table = table_name(name)
        known = table in self._tables()
        rows = self._sql('SELECT "column", "type" FROM table_columns(%s)', (table,)) if known else []
        if not rows:
            raise MeasurementNotFound(name)
        fields = [pa.field(TIMESTAMP, TIME_TYPE, nullable=False)]
        for column, kind in rows:
            if column == TIMESTAMP:
                continue
            if str(kind).upper() not in _FROM_QUESTDB:
                raise FrameError(f"{name}: column {column!r} has QuestDB type {kind}, which no measurement writes")
            fields.append(pa.field(column, _FROM_QUESTDB[str(kind).upper()]))
        return pa.schema(fields)

    def read(self, name: str, columns: Sequence[str] | None = None, start: Any = None,
             end: Any = None) -> pa.Table:
        table, schema = table_name(name), self.schema(name)
        wanted = pick_columns(schema, columns, name)
        lower, upper = as_instant(start, "start"), as_instant(end, "end")
        conditions, params = ["1 = 1"], []
        if lower is not None:
            conditions.append(f'"{TIMESTAMP}" >= %s')
            params.append(lower.to_pydatetime())
        if upper is not None:
            conditions.append(f'"{TIMESTAMP}" < %s')
            params.append(upper.to_pydatetime())
        select = ", ".join(f'"{c}"' for c in wanted)
        rows = self._sql(f'SELECT {select} FROM "{table}" WHERE {" AND ".join(conditions)} ORDER BY "{TIMESTAMP}"',
                         params)
        target = pa.schema([schema.field(c) for c in wanted])
        columns_out = list(zip(*rows, strict=True)) if rows else [() for _ in wanted]
        arrays = []
        for field, values in zip(target, columns_out, strict=True):
            if field.name == TIMESTAMP:
                stamps = pd.to_datetime(list(values), utc=True)
                arrays.append(pa.array(stamps.as_unit("ns"), TIME_TYPE))
            else:
                arrays.append(pa.array(list(values), field.type, from_pandas=True))
        return pa.Table.from_arrays(arrays, schema=target)

    def _tables(self) -> list[str]:
        return [r[0] for r in self._sql("SELECT table_name FROM tables()")]

    def list(self) -> list[str]:
        return sorted(t.removeprefix(TABLE_PREFIX) for t in self._tables() if t.startswith(TABLE_PREFIX))

    def delete(self, name: str) -> bool:
        table = table_name(name)
        if table not in self._tables():
            return False
        self._sql(f'DROP TABLE "{table}"')
        return True
