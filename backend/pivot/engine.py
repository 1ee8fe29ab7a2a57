"""Run a pivot request against the warehouse, and the look-ups the pivot page needs.

Each takes the caller's ``DataScope`` (``backend.access.current.current_scope()`` in a
request): the engine adds it to every query, so answers, value lists and dates
only ever come from the rows the caller may see.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from backend.access.principal import EVERYTHING, DataScope
from backend.access.scope_sql import scope_columns, scope_condition
from backend.pivot.catalog import DIMENSIONS, MAX_LIMIT, MAX_VALUE_CHARS, METRICS
from backend.pivot.request import PivotRequest, PivotRequestError
from backend.pivot.result import PivotResult
from backend.pivot.shape import shape
from backend.pivot.sql import TABLES, Table, build_query, request_columns, smallest_table, table_can_answer
from backend.pivot.where import load_fund_coverage
from backend.warehouse import Warehouse


def choose_table(req: PivotRequest, scope: DataScope = EVERYTHING) -> Table:
    """The smallest table that holds every dimension, column and filter of ``req`` and the columns of ``scope``."""
    return smallest_table(request_columns(req, scope))


def run_pivot(wh: Warehouse, req: PivotRequest, *, table: Table | None = None,
              scope: DataScope = EVERYTHING) -> PivotResult:
    """Answer ``req``: leaf rows, subtotals at every level and totals from one query.

    ``table`` forces the source (``trades_1d`` or one of the rollups); by default the
    smallest rollup that holds every dimension and filter of the request answers.
    Stocks over a date range read the answer's as-of date (``meta["as_of"]``) or, with
    ``"stocks": "average"``, the average over ``meta["stock_days"]`` dates. Only rows
    ``scope`` allows count: rows, subtotals and totals are over those.
    """
    if not isinstance(req, PivotRequest):
        raise PivotRequestError("expected a validated PivotRequest")
    chosen = table or choose_table(req, scope)
    if chosen not in TABLES:
        raise PivotRequestError(f"unknown source table {str(chosen)[:64]!r}")
    if not table_can_answer(chosen, request_columns(req, scope)):
        raise PivotRequestError(f"the {chosen} table does not hold every dimension and filter of this request")
    started = time.perf_counter()
    coverage = load_fund_coverage(wh) if req.exposure == "look_through" else None
    extra = (req.sort.field,) if req.sort and req.sort.field in METRICS else ()
    query = build_query(req, chosen, coverage, extra_metrics=extra, scope=scope)
    table_rows = wh.query_arrow(query.sql, query.parameters)
    shaped = shape(table_rows, req, query.sums, query.plan)
    return PivotResult(
        dimensions=list(req.dimensions),
        columns=list(req.columns),
        metrics=list(req.metrics),
        rows=shaped.rows,
        subtotals=shaped.subtotals,
        totals=shaped.totals,
        column_values=shaped.column_values,
        truncated=shaped.truncated,
        meta={
            "source": chosen,
            "exposure": req.exposure,
            "stocks": req.stocks,
            "as_of": shaped.as_of,
            "stock_days": shaped.stock_days,
            "stock_metrics": [m for m in req.metrics if METRICS[m].reads_stock],
            "stocks_by_date": "trade_date" in req.dimensions or "trade_date" in req.columns,
            "elapsed_ms": round((time.perf_counter() - started) * 1000, 3),
            "data_version": wh.data_version(),
            "groups": shaped.groups,
            "leaf_rows": len(shaped.rows),
            "subtotal_rows": len(shaped.subtotals),
            "folded_rows": shaped.folded,
            "columns_truncated": shaped.columns_truncated,
        },
    )


def distinct_values(wh: Warehouse, dimension: str, *, search: str = "", limit: int = 200,
                    scope: DataScope = EVERYTHING) -> list[str]:
    """Values of ``dimension`` on rows ``scope`` allows (containing ``search``, case-insensitive), sorted,
    at most ``limit``."""
    if dimension not in DIMENSIONS:
        raise PivotRequestError("dimension: unknown dimension")
    if not isinstance(search, str) or len(search) > MAX_VALUE_CHARS:
        raise PivotRequestError(f"search: expected text of at most {MAX_VALUE_CHARS} characters")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise PivotRequestError(f"limit: expected a whole number from 1 to {MAX_LIMIT}")
    source = smallest_table([dimension, *scope_columns(scope)])
    allowed, params = scope_condition(scope)
    rows = wh.query_rows(
        f"SELECT DISTINCT toString(`{dimension}`) AS v FROM {{db}}.{source} "
        f"WHERE positionCaseInsensitiveUTF8(v, {{search:String}}) > 0 AND {allowed} ORDER BY v LIMIT {{limit:UInt32}}",
        {**params, "search": search, "limit": limit},
    )
    return [str(r[0]) for r in rows]


def latest_trade_date(wh: Warehouse, scope: DataScope = EVERYTHING) -> date | None:
    """The most recent trade date of the rows ``scope`` allows, or ``None`` when there are none."""
    allowed, params = scope_condition(scope)
    source = smallest_table(scope_columns(scope))
    rows: list[tuple[Any, ...]] = wh.query_rows(
        f"SELECT max(trade_date), count() FROM {{db}}.{source} WHERE {allowed}", params
    )
    if not rows or not rows[0][1]:
        return None
    return rows[0][0]
