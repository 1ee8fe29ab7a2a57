"""CSV exports of the pivot: what is on screen, and the raw trades behind it.

``screen_csv`` writes the rows the grid shows under the current expansion —
groups (subtotals), leaves, "Other" buckets and the grand total — as plain
numbers without separators or colours; text that a spreadsheet would run as a formula
gets a leading ``'`` (``backend.pivot.formula``), in both exports. Given the answer's ``meta``, the header
of every stock column says which date it is as of (``stock_note``). ``stream_trades_csv``
writes every trade of a drill scope with no row cap. It runs as a series of bounded
queries (whole trade days, or hash buckets of one large day) so the embedded engine,
which serves one query at a time, is never held for the whole download, and memory
stays bounded by one chunk. Its last column, ``is_as_of_date``, is 1 on the rows of
the scope's last trade date: a position's exposure, market value, unrealised P&L
and delta over the export's range are the sums over those rows only.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from typing import Any, Final

from backend.pivot.catalog import DIMENSIONS, METRICS
from backend.pivot.drill import DrillScope
from backend.pivot.formula import neutralise
from backend.pivot.view_state import Expansion, visible_rows
from backend.warehouse import Warehouse
from backend.warehouse.schema import TRADES_COLUMN_NAMES

CHUNK_ROWS: Final = 250_000
ROW_TYPE: Final = {"group": "Subtotal", "leaf": "Detail", "other": "Other", "total": "Total"}
AS_OF_COLUMN: Final = "is_as_of_date"


def stock_note(meta: Mapping[str, Any] | None) -> str | None:
    """How the answer reads stocks, for a column header: ``as of 2024-02-29`` (None: no data)."""
    if not meta or not meta.get("as_of"):
        return None
    as_of = str(meta["as_of"])[:10]
    if meta.get("stocks") == "average":
        days = int(meta.get("stock_days") or 0)
        note = f"daily average over {days} date{'s' if days != 1 else ''} to {as_of}"
    else:
        note = f"as of {as_of}"
    if meta.get("stocks_by_date"):
        note += "; a dated row shows its own day"
    return note


def _header(field: str, header: str, note: str | None) -> str:
    spec = METRICS.get(field.split("__c", 1)[0])
    if note is None or spec is None or not spec.reads_stock:
        return header
    return f"{header} ({note})" if spec.kind == "stock" else f"{header} (gross {note})"


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, float):
        return repr(value)
    return neutralise(value)


def screen_csv(
    tree: Sequence[Mapping[str, Any]],
    totals: Mapping[str, Any] | None,
    expansion: Expansion,
    dimensions: Sequence[str],
    fields: Sequence[tuple[str, str]],
    meta: Mapping[str, Any] | None = None,
) -> str:
    """The grid as shown: one column per row dimension, then one per ``(field, header)``.

    ``meta`` (the answer's) adds to each stock column's header the date it is as of.
    """
    out = io.StringIO()
    # CRLF line ends (RFC 4180): the writer then quotes any text holding a bare CR or LF,
    # which with "\n" alone it would leave unquoted and break the line.
    writer = csv.writer(out, lineterminator="\r\n")
    note = stock_note(meta)
    headers = [_header(f, h, note) for f, h in fields]
    writer.writerow(["Row type", *(DIMENSIONS[d].label for d in dimensions), *headers])
    for row in visible_rows(tree, expansion):
        path = list(row.get("_path") or [])
        labels = [neutralise(str(path[i])) if i < len(path) else "" for i in range(len(dimensions))]
        kind = ROW_TYPE.get(str(row.get("_kind")), "Detail")
        writer.writerow([kind, *labels, *(_plain(row.get(f)) for f, _ in fields)])
    if totals is not None:
        writer.writerow(["Total", *([""] * len(dimensions)), *(_plain(totals.get(f)) for f, _ in fields)])
    return out.getvalue()


def export_chunks(wh: Warehouse, scope: DrillScope, chunk_rows: int = CHUNK_ROWS) -> list[dict[str, Any]]:
    """Bounded pieces covering the scope exactly once: date spans, or hash buckets of a big day."""
    cond, params = scope.where(wh)
    days = wh.query_rows(
        f"SELECT trade_date, count() FROM {{db}}.trades_1d WHERE {cond} GROUP BY trade_date ORDER BY trade_date",
        params,
    )
    chunks: list[dict[str, Any]] = []
    span: list[Any] = []
    size = 0

    def close_span() -> None:
        nonlocal span, size
        if span:
            chunks.append({"x_lo": span[0], "x_hi": span[-1], "x_k": 1, "x_i": 0})
        span, size = [], 0

    for day, count in days:
        count = int(count)
        if count > chunk_rows:
            close_span()
            parts = math.ceil(count / chunk_rows)
            chunks += [{"x_lo": day, "x_hi": day, "x_k": parts, "x_i": i} for i in range(parts)]
            continue
        if size + count > chunk_rows:
            close_span()
        span.append(day)
        size += count
    close_span()
    return chunks


def _raw_csv(wh: Warehouse, sql: str, params: Mapping[str, Any]) -> bytes:
    return wh.raw_query(sql, params, fmt="CSV")


def stream_trades_csv(wh: Warehouse, scope: DrillScope, chunk_rows: int = CHUNK_ROWS) -> Iterator[bytes]:
    """Every trade of ``scope`` as CSV with a header line, chunk by chunk, no row cap.

    The last column (``is_as_of_date``) marks the rows of the scope's last trade date.
    """
    names = (*scope.column_names(TRADES_COLUMN_NAMES), AS_OF_COLUMN)
    yield (",".join(names) + "\n").encode()
    cond, params = scope.where(wh)
    sql = (
        f"SELECT {scope.select_list(TRADES_COLUMN_NAMES, for_csv=True)}, toUInt8(trade_date = {{x_as_of:Date}}) "
        f"FROM {{db}}.trades_1d WHERE {cond} "
        "AND trade_date BETWEEN {x_lo:Date} AND {x_hi:Date} "
        "AND cityHash64(trade_id, symbol, exposure_type) % {x_k:UInt32} = {x_i:UInt32} "
        "ORDER BY trade_date, trade_id"
    )
    chunks = export_chunks(wh, scope, chunk_rows)
    if not chunks:
        return
    as_of = chunks[-1]["x_hi"]  # chunks run in date order: the last covers the last date with data
    for chunk in chunks:
        yield _raw_csv(wh, sql, {**params, **chunk, "x_as_of": as_of})


def export_as_of(wh: Warehouse, scope: DrillScope) -> date | None:
    """The scope's last trade date with data (the date its stocks are as of), or None."""
    cond, params = scope.where(wh)
    rows = wh.query_rows(f"SELECT max(trade_date), count() FROM {{db}}.trades_1d WHERE {cond}", params)
    return rows[0][0] if rows and rows[0][1] else None
