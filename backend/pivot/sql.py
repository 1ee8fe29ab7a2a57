"""The one aggregation query behind a pivot.

Every level of the hierarchy comes back from a single ``GROUP BY ROLLUP``:
rows of dimensions ``d0..d{k-1}`` (and, with a column split, the column
dimensions ``c0..c{m-1}`` *first* in the rollup), a ``grouping()`` bit mask that
says which keys a row fixes, and the base sums. ROLLUP re-aggregates the finest
groups instead of scanning the data once per level, which is what keeps
subtotals cheap; unsplit values under a column split are the sum over the
column combinations, done after the query.

The rollup table is read when every dimension and filter of the request is one
of its keys; its rows are pre-summed, so each base sum is a ``sum()`` of a sum
(scaled by the residual factor in the look-through view).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

from backend.pivot.catalog import DIMENSIONS, base_sums_for
from backend.pivot.request import PivotRequest
from backend.pivot.where import FundCoverage, build_where, residual_factor_sql, view_columns

Table = Literal["trades_1d", "trades_1d_rollup"]
TABLES: Final[tuple[Table, ...]] = ("trades_1d", "trades_1d_rollup")

# Base sums over trades_1d; {x} marks a column that the look-through view scales.
_RAW_SUMS: Final[dict[str, str]] = {
    "sum_notional": "sum({notional})",
    "sum_pnl": "sum({pnl})",
    "sum_quantity": "sum({quantity})",
    "sum_market_value": "sum({market_value})",
    "sum_realized_pnl": "sum({realized_pnl})",
    "sum_unrealized_pnl": "sum({unrealized_pnl})",
    "sum_fees": "sum({fees} + {commission})",
    "sum_gross_notional": "sum(abs({notional}))",
    "sum_long_notional": "sum(if({notional} > 0, {notional}, 0))",
    "sum_short_notional": "sum(if({notional} < 0, {notional}, 0))",
    "sum_abs_quantity": "sum(abs({quantity}))",
    "sum_price_x_abs_quantity": "sum(price * abs({quantity}))",
    "sum_trade_count": "toFloat64(count())",
    "sum_delta": "sum({delta})",
}
_SCALED_COLUMNS: Final = (
    "notional", "pnl", "quantity", "market_value", "realized_pnl",
    "unrealized_pnl", "fees", "commission", "delta",
)

# Rollup sums under a residual factor f: linear sums scale by f, absolute sums by
# |f|, and a negative f swaps what is long and what is short.
_ROLLUP_SCALED: Final[dict[str, str]] = {
    "sum_gross_notional": "sum(sum_gross_notional * abs(_f))",
    "sum_abs_quantity": "sum(sum_abs_quantity * abs(_f))",
    "sum_price_x_abs_quantity": "sum(sum_price_x_abs_quantity * abs(_f))",
    "sum_long_notional": "sum(if(_f >= 0, sum_long_notional, sum_short_notional) * _f)",
    "sum_short_notional": "sum(if(_f >= 0, sum_short_notional, sum_long_notional) * _f)",
    "sum_trade_count": "sum(sum_trade_count)",
}


@dataclass(frozen=True)
class PivotQuery:
    sql: str
    parameters: dict[str, Any]
    table: Table
    dimensions: tuple[str, ...]
    columns: tuple[str, ...]
    sums: tuple[str, ...]


def rollup_can_answer(req: PivotRequest) -> bool:
    """True when every dimension, column and filter of ``req`` is a rollup key."""
    names = [*req.dimensions, *req.columns, *req.active_filters()]
    return all(DIMENSIONS[n].in_rollup for n in names)


def _sum_sql(name: str, table: Table, look_through: bool) -> str:
    if table == "trades_1d":
        scale = {c: (f"({c} * _f)" if look_through else c) for c in _SCALED_COLUMNS}
        return _RAW_SUMS[name].format(**scale)
    if not look_through:
        return f"sum({name})"
    return _ROLLUP_SCALED.get(name, f"sum({name} * _f)")


def _key_sql(expr: str, name: str) -> str:
    return f"toString({expr})" if name == "trade_date" else expr


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
    sums = base_sums_for([*req.metrics, *extra_metrics])

    keys = [f"{_key_sql(exprs[d], d)} AS c{i}" for i, d in enumerate(req.columns)]
    keys += [f"{_key_sql(exprs[d], d)} AS d{i}" for i, d in enumerate(req.dimensions)]
    aliases = [f"c{i}" for i in range(len(req.columns))]
    aliases += [f"d{i}" for i in range(len(req.dimensions))]
    # Output names differ from the rollup's columns: ClickHouse would otherwise read an
    # alias where another expression means the stored column.
    measures = [f"{_sum_sql(s, table, look_through)} AS out_{s}" for s in sums]
    with_f = f"WITH {residual_factor_sql()} AS _f " if look_through else ""
    if look_through and coverage is None:
        params |= FundCoverage().params()
    sql = (
        f"{with_f}SELECT {', '.join(keys)}, grouping({', '.join(aliases)}) AS _g, "
        f"{', '.join(measures)} "
        f"FROM {{db}}.{table} WHERE {where} "
        f"GROUP BY ROLLUP({', '.join(aliases)})"
    )
    return PivotQuery(
        sql=sql,
        parameters=params,
        table=table,
        dimensions=tuple(req.dimensions),
        columns=tuple(req.columns),
        sums=sums,
    )
