"""The one aggregation query behind a pivot.

Every level of the hierarchy comes back from a single ``GROUP BY ROLLUP``:
rows of dimensions ``d0..d{k-1}`` (and, with a column split, the column
dimensions ``c0..c{m-1}`` *first* in the rollup), a ``grouping()`` bit mask that
says which keys a row fixes, and the base sums. ROLLUP re-aggregates the finest
groups instead of scanning the data once per level, which is what keeps
subtotals cheap; unsplit values under a column split are the sum over the
column combinations, done after the query.

Time: a scalar subquery under the same WHERE finds the answer's as-of date (the
last trade date with data) and the number of dates with data. Flow sums are
``sum(x)`` over the range; stock sums are ``sumIf(x, trade_date = as-of)``, so
every level, Other bucket and total of the answer reads one date. When a request
reads stocks only, the WHERE itself is narrowed to that date. The average mode
reads range sums, divided by the number of dates after the query.

A rollup table is read when it holds every dimension, column and filter of the
request (the smallest such table); its rows are pre-summed, so each base sum is a
``sum()`` of a sum (scaled by the residual factor in the look-through view).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from backend.pivot.catalog import base_of, base_sums_for, is_stock_read, stock_read
from backend.pivot.request import PivotRequest
from backend.pivot.where import FundCoverage, build_where, residual_factor_sql, view_columns
from backend.warehouse.schema import LOOK_THROUGH_COLUMNS, ROLLUP_TABLES

Table = str
RAW_TABLE: Final = "trades_1d"
TABLES: Final[tuple[Table, ...]] = (RAW_TABLE, *(r.name for r in ROLLUP_TABLES))
_HOLDS: Final[dict[str, frozenset[str]]] = {r.name: frozenset(r.dimensions) for r in ROLLUP_TABLES}

# What each base sum adds up over trades_1d; {x} marks a column the look-through view scales.
_RAW_TERMS: Final[dict[str, str]] = {
    "sum_notional": "{notional}",
    "sum_pnl": "{pnl}",
    "sum_quantity": "{quantity}",
    "sum_market_value": "{market_value}",
    "sum_realized_pnl": "{realized_pnl}",
    "sum_unrealized_pnl": "{unrealized_pnl}",
    "sum_fees": "{fees} + {commission}",
    "sum_gross_notional": "abs({notional})",
    "sum_long_notional": "if({notional} > 0, {notional}, 0)",
    "sum_short_notional": "if({notional} < 0, {notional}, 0)",
    "sum_abs_quantity": "abs({quantity})",
    "sum_price_x_abs_quantity": "price * abs({quantity})",
    "sum_delta": "{delta}",
}
_SCALED_COLUMNS: Final = (
    "notional", "pnl", "quantity", "market_value", "realized_pnl",
    "unrealized_pnl", "fees", "commission", "delta",
)

# Rollup sums under a residual factor f: linear sums scale by f, absolute sums by
# |f|, and a negative f swaps what is long and what is short.
_ROLLUP_SCALED: Final[dict[str, str]] = {
    "sum_gross_notional": "sum_gross_notional * abs(_f)",
    "sum_abs_quantity": "sum_abs_quantity * abs(_f)",
    "sum_price_x_abs_quantity": "sum_price_x_abs_quantity * abs(_f)",
    "sum_long_notional": "if(_f >= 0, sum_long_notional, sum_short_notional) * _f",
    "sum_short_notional": "if(_f >= 0, sum_short_notional, sum_long_notional) * _f",
    "sum_trade_count": "sum_trade_count",
}
_AS_OF: Final = "trade_date = _asof"


@dataclass(frozen=True)
class PivotQuery:
    sql: str
    parameters: dict[str, Any]
    table: Table
    dimensions: tuple[str, ...]
    columns: tuple[str, ...]
    sums: tuple[str, ...]  # result columns out_<name>: range sums sum_x, as-of sums st_sum_x
    reads: tuple[str, ...]  # what the metrics read (catalog names)
    as_of_only: bool  # the WHERE is narrowed to the as-of date


def view_needs(exposure: str) -> tuple[str, ...]:
    """Columns the exposure view itself reads (its row condition, the residual factor)."""
    return LOOK_THROUGH_COLUMNS if exposure == "look_through" else ("exposure_type",)


def request_columns(req: PivotRequest) -> list[str]:
    """Every column the pivot of ``req`` reads besides the sums."""
    return [*req.dimensions, *req.columns, *req.active_filters(), *view_needs(req.exposure)]


def table_can_answer(table: Table, names: Iterable[str]) -> bool:
    """Whether ``table`` holds every column in ``names`` (the raw table holds all)."""
    if table == RAW_TABLE:
        return True
    held = _HOLDS.get(table)
    return held is not None and set(names) <= held


def smallest_table(names: Iterable[str]) -> Table:
    """The smallest table holding every column in ``names``."""
    wanted = set(names)
    for rollup in ROLLUP_TABLES:
        if wanted <= _HOLDS[rollup.name]:
            return rollup.name
    return RAW_TABLE


def rollup_can_answer(req: PivotRequest, table: Table = ROLLUP_TABLES[0].name) -> bool:
    """True when every column ``req`` reads is a key of rollup ``table``."""
    return table != RAW_TABLE and table_can_answer(table, request_columns(req))


def _term(name: str, table: Table, look_through: bool) -> str:
    if table == RAW_TABLE:
        scale = {c: (f"({c} * _f)" if look_through else c) for c in _SCALED_COLUMNS}
        return _RAW_TERMS[name].format(**scale)
    if not look_through:
        return name
    return _ROLLUP_SCALED.get(name, f"{name} * _f")


def _aggregate(name: str, table: Table, look_through: bool, condition: str | None) -> str:
    if name == "sum_trade_count" and table == RAW_TABLE:
        return f"toFloat64(countIf({condition}))" if condition else "toFloat64(count())"
    term = _term(name, table, look_through)
    return f"sumIf({term}, {condition})" if condition else f"sum({term})"


def _key_sql(expr: str, name: str) -> str:
    return f"toString({expr})" if name == "trade_date" else expr


def _measures(req: PivotRequest, reads: tuple[str, ...]) -> tuple[list[tuple[str, str | None]], bool]:
    """``(result column, condition)`` per sum, and whether the WHERE narrows to the as-of date."""
    flows = [r for r in reads if not is_stock_read(r)]
    stocks = [base_of(r) for r in reads if is_stock_read(r)]
    by_date = "trade_date" in req.dimensions or "trade_date" in req.columns
    out: list[tuple[str, str | None]] = [(b, None) for b in flows]
    if req.stocks == "average":
        return out + [(b, None) for b in stocks if b not in flows], False
    as_of_only = bool(stocks) and not flows and not by_date
    out += [(stock_read(b), None if as_of_only else _AS_OF) for b in stocks]
    if by_date:
        # A group that fixes a trade date reads its own day's sum.
        out += [(b, None) for b in stocks if b not in flows]
    return out, as_of_only


def build_query(
    req: PivotRequest,
    table: Table,
    coverage: FundCoverage | None,
    extra_metrics: tuple[str, ...] = (),
) -> PivotQuery:
    """The ROLLUP query for ``req`` on ``table`` (names from the whitelist only)."""
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}")
    look_through = req.exposure == "look_through"
    filters = {name: getattr(req.filters, name) for name in req.active_filters()}
    where, params = build_where(filters, req.exposure, coverage)
    exprs = view_columns(req.exposure)
    reads = base_sums_for([*req.metrics, *extra_metrics])
    measures, as_of_only = _measures(req, reads)

    keys = [f"{_key_sql(exprs[d], d)} AS c{i}" for i, d in enumerate(req.columns)]
    keys += [f"{_key_sql(exprs[d], d)} AS d{i}" for i, d in enumerate(req.dimensions)]
    aliases = [f"c{i}" for i in range(len(req.columns))]
    aliases += [f"d{i}" for i in range(len(req.dimensions))]
    # Output names differ from the rollup's columns: ClickHouse would otherwise read an
    # alias where another expression means the stored column.
    selected = [f"{_aggregate(base_of(name) if is_stock_read(name) else name, table, look_through, cond)} AS out_{name}"
                for name, cond in measures]
    # The span is read from the smallest table that holds the filters: the same rows
    # (every rollup is fed from trades_1d), whatever table the pivot itself reads.
    span_table = smallest_table([*filters, *view_needs(req.exposure)])
    span = f"SELECT tuple(max(trade_date), toUInt64(uniqExact(trade_date))) FROM {{db}}.{span_table} WHERE {where}"
    with_parts = [
        f"({span}) AS _span",
        "_span.1 AS _asof",
        "_span.2 AS _ndays",
    ]
    if look_through:
        with_parts.append(f"{residual_factor_sql()} AS _f")
        if coverage is None:
            params |= FundCoverage().params()
    narrowed = f"({where}) AND ({_AS_OF})" if as_of_only else where
    sql = (
        f"WITH {', '.join(with_parts)} "
        f"SELECT {', '.join(keys)}, grouping({', '.join(aliases)}) AS _g, "
        f"{', '.join(selected)}, _asof AS _as_of, _ndays AS _stock_days "
        f"FROM {{db}}.{table} WHERE {narrowed} "
        f"GROUP BY ROLLUP({', '.join(aliases)})"
    )
    return PivotQuery(
        sql=sql,
        parameters=params,
        table=table,
        dimensions=tuple(req.dimensions),
        columns=tuple(req.columns),
        sums=tuple(name for name, _ in measures),
        reads=reads,
        as_of_only=as_of_only,
    )
