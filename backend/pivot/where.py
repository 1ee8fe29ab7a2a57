"""Exposure views and WHERE clauses over ``trades_1d`` (and its rollup).

A view decides which rows count and what some columns mean:

* ``as_held``: Direct, ETF and ETC rows as booked.
* ``look_through``: Direct and Constituent rows, plus each ETF/ETC row scaled by
  the fund's unexplained remainder ``1 - coverage`` (coverage = Σ constituent
  weights of the fund's latest constituent list). Those remainder rows show
  ``exposure_type = 'Residual'`` and ``parent_symbol`` = the fund itself, so a fund's
  constituents and its residual group together and add up to the fund as held.
  Funds whose constituents explain them fully (|1 - coverage| ≤ 1e-9) leave no
  residual row.

The caller's data scope is part of every clause (``build_where(..., scope=...)``).
Both tables share the column names this module uses, so one clause serves
either. Every value is a bound parameter; identifiers come from the catalogue.
Drill-through and export reuse ``build_where`` and ``view_columns`` so that a
drilled cell selects exactly the rows that made it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from backend.access.principal import EVERYTHING, DataScope
from backend.access.scope_sql import scope_conditions
from backend.pivot.catalog import DIMENSIONS, FUND_TYPES, RESIDUAL
from backend.pivot.request import DateRange, check_exposure_filter, check_trade_date
from backend.warehouse import Warehouse

# Below this a fund's remainder is rounding in the weights, not exposure.
RESIDUAL_EPSILON = 1e-9

_IS_FUND = "exposure_type IN ('ETF', 'ETC')"
_RAW_TYPES = {"Direct": ("Direct",), "Constituent": ("Constituent",), RESIDUAL: FUND_TYPES}


@dataclass(frozen=True)
class FundCoverage:
    """Residual factor (1 - coverage) per fund that has constituents; others are 1."""

    factors: Mapping[str, float] = field(default_factory=dict)

    @property
    def fully_covered(self) -> tuple[str, ...]:
        return tuple(sorted(s for s, f in self.factors.items() if abs(f) <= RESIDUAL_EPSILON))

    def params(self) -> dict[str, Any]:
        funds = sorted(self.factors)
        return {
            "lt_funds": funds,
            "lt_factors": [float(self.factors[s]) for s in funds],
            "lt_full": list(self.fully_covered),
        }


def load_fund_coverage(wh: Warehouse) -> FundCoverage:
    """Each fund's residual factor from its latest constituent list."""
    rows = wh.query_rows(
        "SELECT parent_symbol, 1 - sum(weight) FROM {db}.constituents AS c FINAL "
        "WHERE (parent_symbol, as_of) IN "
        "(SELECT parent_symbol, max(as_of) FROM {db}.constituents FINAL GROUP BY parent_symbol) "
        "GROUP BY parent_symbol"
    )
    return FundCoverage({str(symbol): float(factor) for symbol, factor in rows})


def residual_factor_sql() -> str:
    """Per-row scale factor in the look-through view (1 except on a fund's residual)."""
    return (
        f"if({_IS_FUND}, transform(toString(symbol), {{lt_funds:Array(String)}}, "
        "{lt_factors:Array(Float64)}, toFloat64(1)), toFloat64(1))"
    )


def view_columns(exposure: str) -> dict[str, str]:
    """SQL expression of every dimension in the view (plain columns unless redefined)."""
    columns = {name: f"`{name}`" for name in DIMENSIONS}
    if exposure == "look_through":
        columns["exposure_type"] = f"if({_IS_FUND}, '{RESIDUAL}', toString(exposure_type))"
        columns["parent_symbol"] = f"if({_IS_FUND}, toString(symbol), toString(parent_symbol))"
    return columns


def _view_condition(exposure: str, coverage: FundCoverage | None) -> list[str]:
    if exposure == "as_held":
        return ["exposure_type IN ('Direct', 'ETF', 'ETC')"]
    conds = ["exposure_type IN ('Direct', 'Constituent', 'ETF', 'ETC')"]
    if coverage is not None and coverage.fully_covered:
        conds.append(f"NOT ({_IS_FUND} AND has({{lt_full:Array(String)}}, toString(symbol)))")
    return conds


def _date_condition(value: date | DateRange, params: dict[str, Any]) -> list[str]:
    if isinstance(value, date):
        params["td"] = value
        return ["trade_date = {td:Date}"]
    conds = []
    if value.start is not None:
        params["td_from"] = value.start
        conds.append("trade_date >= {td_from:Date}")
    if value.end is not None:
        params["td_to"] = value.end
        conds.append("trade_date <= {td_to:Date}")
    return conds


def build_where(
    filters: Mapping[str, Any],
    exposure: str,
    coverage: FundCoverage | None = None,
    *,
    scope: DataScope = EVERYTHING,
) -> tuple[str, dict[str, Any]]:
    """``(condition, parameters)`` for the rows of ``exposure`` that match ``filters`` within ``scope``.

    ``filters`` maps a dimension to a value or a list of values (``trade_date`` to a
    date or a ``DateRange``), as in ``PivotRequest.filters``. In the look-through
    view pass ``load_fund_coverage(wh)`` so fully explained funds leave no residual
    row. ``scope`` (the caller's data scope) narrows the rows before anything is
    added up. The condition never contains a filter value: all are parameters.
    """
    if exposure not in ("as_held", "look_through"):
        raise ValueError("exposure: expected as_held or look_through")
    columns = view_columns(exposure)
    params: dict[str, Any] = {}
    conds = _view_condition(exposure, coverage)
    for i, name in enumerate(sorted(filters)):
        value = filters[name]
        if value is None:
            continue
        if name not in DIMENSIONS:
            raise ValueError(f"filters.{name[:64]}: unknown dimension")
        if name == "trade_date":
            conds += _date_condition(check_trade_date(value), params)
            continue
        values = [value] if isinstance(value, str) else list(value)
        if name == "exposure_type":
            check_exposure_filter(exposure, tuple(values))
            if exposure == "look_through":
                values = sorted({raw for v in values for raw in _RAW_TYPES[v]})
            conds.append(f"exposure_type IN {{f{i}:Array(String)}}")
        else:
            conds.append(f"{columns[name]} IN {{f{i}:Array(String)}}")
        params[f"f{i}"] = values
    if exposure == "look_through" and coverage is not None:
        params.update(coverage.params())
    scoped, scope_params = scope_conditions(scope)
    conds += scoped
    params.update(scope_params)
    return " AND ".join(f"({c})" for c in conds), params
