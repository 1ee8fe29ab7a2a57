"""The one aggregation query behind a pivot.

Every level of the hierarchy comes back from a single ``GROUP BY ROLLUP``:
rows of dimensions ``d0..d{k-1}`` (and, with a column split, the column
dimensions ``c0..c{m-1}`` *first* in the rollup), a ``grouping()`` bit mask that
says which keys a row fixes, and the base sums. ROLLUP re-aggregates the finest
groups instead of scanning the data once per level, which is what keeps
subtotals cheap; unsplit values under a column split are the sum over the
column combinations, done after the query.

Time: flow sums are ``sum(x)`` over the range. A stock sum is
``sumArgMax(x, trade_date)`` — the sum over the group's own last trade date — beside
``max(trade_date)``; the grand total's last date is the answer's as-of date (the
last date with data under the filters), and a group whose last date is earlier
holds nothing on it, so ``shape`` keeps its stock at zero. Every level, Other
bucket and total of the answer thus reads one date, in the same scan as the flows.
When a request reads stocks only, a scalar subquery under the same WHERE finds the
as-of date first and the WHERE keeps that date alone. The average mode reads range
sums and divides them by the number of dates with data (``uniqExact``).

A rollup table is read when it holds every dimension, column and filter of the
request and every column the caller's data scope filters on (the smallest such
table: the first rollup holds manager and desk, the book rollup book); its rows
are pre-summed, so each base sum is a
``sum()`` of a sum (scaled by the residual factor in the look-through view).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal

from backend.access.principal import EVERYTHING, DataScope
from backend.access.scope_sql import scope_columns
from backend.pivot.catalog import base_of, base_sums_for, is_stock_read, stock_read
from backend.pivot.request import PivotRequest
from backend.pivot.where import FundCoverage, build_where, residual_factor_sql, view_columns
from backend.warehouse.schema import LOOK_THROUGH_COLUMNS, ROLLUP_TABLES

Table = str
# How a query reads stocks: "at_last" — each group's sum over its own last trade date
# (sumArgMax), kept only where that date is the answer's as-of date (the grand total's
# last date); "narrowed" — the answer reads stocks only, so the WHERE keeps the as-of
# date alone (found by a scalar subquery); "average" — range sums, divided afterwards.
StockPlan = Literal["at_last", "narrowed", "average"]
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


@dataclass(frozen=True)
class PivotQuery:
    sql: str
    parameters: dict[str, Any]
    table: Table
    dimensions: tuple[str, ...]
    columns: tuple[str, ...]
    sums: tuple[str, ...]  # result columns out_<name>: range sums sum_x, stock sums st_sum_x
    reads: tuple[str, ...]  # what the metrics read (catalog names)
    plan: StockPlan


def view_needs(exposure: str) -> tuple[str, ...]:
    """Columns the exposure view itself reads (its row condition, the residual factor)."""
    return LOOK_THROUGH_COLUMNS if exposure == "look_through" else ("exposure_type",)


def request_columns(req: PivotRequest, scope: DataScope = EVERYTHING) -> list[str]:
    """Every column the pivot of ``req`` reads besides the sums (with the columns ``scope`` filters on)."""
    return [*req.dimensions, *req.columns, *req.active_filters(), *view_needs(req.exposure), *scope_columns(scope)]


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


def rollup_can_answer(req: PivotRequest, table: Table = ROLLUP_TABLES[0].name, scope: DataScope = EVERYTHING) -> bool:
    """True when every column ``req`` (within ``scope``) reads is a key of rollup ``table``."""
    return table != RAW_TABLE and table_can_answer(table, request_columns(req, scope))


def _term(name: str, table: Table, look_through: bool) -> str:
    if table == RAW_TABLE:
        scale = {c: (f"({c} * _f)" if look_through else c) for c in _SCALED_COLUMNS}
        return _RAW_TERMS[name].format(**scale)
    if not look_through:
        return name
    return _ROLLUP_SCALED.get(name, f"{name} * _f")


def _aggregate(name: str, table: Table, look_through: bool, how: str) -> str:
    """``how``: ``sum`` over the rows, or ``at_last``: the sum over the group's last trade date."""
    if name == "sum_trade_count" and table == RAW_TABLE:
        return "toFloat64(count())"  # a flow: never read as a stock
    term = _term(name, table, look_through)
    return f"sumArgMax({term}, trade_date)" if how == "at_last" else f"sum({term})"


def _key_sql(expr: str, name: str) -> str:
    return f"toString({expr})" if name == "trade_date" else expr


def stock_plan(req: PivotRequest, reads: tuple[str, ...]) -> StockPlan:
    """How the query reads the stocks of ``req`` (see ``StockPlan``)."""
    if req.stocks == "average":
        return "average"
    by_date = "trade_date" in req.dimensions or "trade_date" in req.columns
    only_stocks = all(is_stock_read(r) for r in reads)
    return "narrowed" if only_stocks and not by_date else "at_last"


def _measures(reads: tuple[str, ...], plan: StockPlan) -> list[tuple[str, str]]:
    """``(result column, how)`` per sum: flows summed; stocks as ``plan`` says."""
    flows = [r for r in reads if not is_stock_read(r)]
    stocks = [base_of(r) for r in reads if is_stock_read(r)]
    out = [(b, "sum") for b in flows]
    if plan == "average":
        return out + [(b, "sum") for b in stocks if b not in flows]
    return out + [(stock_read(b), "sum" if plan == "narrowed" else "at_last") for b in stocks]


def _scoped_settings(table: Table, scope: DataScope) -> str:
    """Engine settings for a scoped read of ``table``.

    The engine would move the scope's narrow ``IN`` onto PREWHERE; on a rollup (short,
    pre-summed rows) that split read costs more than the columns it skips: scoped
    pivots measured 5-18 % slower than unscoped with it, 0-15 % faster without
    (benchmarks/access.py, 200k and 20M trades). The raw table keeps it: there
    PREWHERE skips wide rows the scope excludes.
    """
    return " SETTINGS optimize_move_to_prewhere = 0" if table != RAW_TABLE and scope_columns(scope) else ""


def build_query(
    req: PivotRequest,
    table: Table,
    coverage: FundCoverage | None,
    extra_metrics: tuple[str, ...] = (),
    *,
    scope: DataScope = EVERYTHING,
) -> PivotQuery:
    """The ROLLUP query for ``req`` on ``table`` over the rows ``scope`` allows (names from the whitelist only)."""
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}")
    look_through = req.exposure == "look_through"
    filters = {name: getattr(req.filters, name) for name in req.active_filters()}
    where, params = build_where(filters, req.exposure, coverage, scope=scope)
    exprs = view_columns(req.exposure)
    reads = base_sums_for([*req.metrics, *extra_metrics])
    plan = stock_plan(req, reads)
    measures = _measures(reads, plan)

    keys = [f"{_key_sql(exprs[d], d)} AS c{i}" for i, d in enumerate(req.columns)]
    keys += [f"{_key_sql(exprs[d], d)} AS d{i}" for i, d in enumerate(req.dimensions)]
    aliases = [f"c{i}" for i in range(len(req.columns))]
    aliases += [f"d{i}" for i in range(len(req.dimensions))]
    # Output names differ from the rollup's columns: ClickHouse would otherwise read an
    # alias where another expression means the stored column.
    selected = [f"{_aggregate(base_of(name), table, look_through, how)} AS out_{name}" for name, how in measures]
    with_parts = [f"{residual_factor_sql()} AS _f"] if look_through else []
    if look_through and coverage is None:
        params |= FundCoverage().params()
    if plan == "narrowed":
        # The span comes from the smallest table that holds the filters: the same rows
        # (every rollup is fed from trades_1d), whatever table the pivot itself reads.
        span_table = smallest_table([*filters, *view_needs(req.exposure), *scope_columns(scope)])
        with_parts.append(
            f"(SELECT tuple(max(trade_date), toUInt64(uniqExact(trade_date))) FROM {{db}}.{span_table} "
            f"WHERE {where}) AS _span"
        )
        span = "_span.1 AS _as_of, _span.2 AS _stock_days"
        where = f"({where}) AND (trade_date = _span.1)"
    else:
        # Per group: its last date (the grand total's is the answer's as-of date) and the
        # dates with data (the grand total's is the average's denominator).
        span = "max(trade_date) AS _as_of, toUInt64(uniqExact(trade_date)) AS _stock_days"
    sql = (
        f"{'WITH ' + ', '.join(with_parts) + ' ' if with_parts else ''}"
        f"SELECT {', '.join(keys)}, grouping({', '.join(aliases)}) AS _g, "
        f"{', '.join(selected)}, {span} "
        f"FROM {{db}}.{table} WHERE {where} "
        f"GROUP BY ROLLUP({', '.join(aliases)}){_scoped_settings(table, scope)}"
    )
    return PivotQuery(
        sql=sql,
        parameters=params,
        table=table,
        dimensions=tuple(req.dimensions),
        columns=tuple(req.columns),
        sums=tuple(name for name, _ in measures),
        reads=reads,
        plan=plan,
    )
