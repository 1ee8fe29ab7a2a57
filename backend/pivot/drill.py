"""The trades behind one pivot cell, a page at a time (drill-through).

A drill scope is the pivot request's filters narrowed to one row's path (and,
for a split column, that column's values). ``fetch_page`` serves AG Grid's
infinite row model: a window ``[offset, offset + limit)`` in a stable order
(the chosen column, then the table's own key), so paging through millions of
rows never repeats or skips one. Column names come only from ``DRILL_COLUMNS``;
every value is a bound parameter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from pydantic import ValidationError

from backend.pivot.catalog import DIMENSIONS
from backend.pivot.request import PivotRequest, PivotRequestError
from backend.pivot.where import build_where, load_fund_coverage, residual_factor_sql, view_columns
from backend.warehouse import Warehouse
from backend.warehouse.schema import TRADES_COLUMN_NAMES

# What an analyst checks on a trade, in reading order.
DRILL_COLUMNS: Final[tuple[str, ...]] = (
    "trade_id", "trade_date", "trade_time", "portfolio_manager_id", "desk", "book", "strategy",
    "trader", "symbol", "instrument_name", "asset_class", "sector", "region", "currency",
    "exposure_type", "parent_symbol", "constituent_weight", "side", "quantity", "price",
    "notional", "market_value", "realized_pnl", "unrealized_pnl", "fees", "commission", "pnl",
    "counterparty", "broker", "venue", "account", "position_id",
)
assert set(DRILL_COLUMNS) <= set(TRADES_COLUMN_NAMES)
# Ties in the chosen order are broken by the table's key so pages are stable.
_TIEBREAK: Final = ("trade_date", "trade_id", "exposure_type", "symbol")
MAX_PAGE: Final = 5_000
MAX_OFFSET: Final = 1_000_000_000
LOOK_THROUGH_FACTOR: Final = "look_through_factor"


class DrillError(ValueError):
    """A drill-through the page or API must refuse; the message is for the user."""


@dataclass(frozen=True)
class DrillScope:
    """The filters and view that select a cell's trades."""

    filters: Mapping[str, Any]
    exposure: str

    def where(self, wh: Warehouse) -> tuple[str, dict[str, Any]]:
        coverage = load_fund_coverage(wh) if self.exposure == "look_through" else None
        return build_where(self.filters, self.exposure, coverage)

    def select_list(self, names: Sequence[str] = DRILL_COLUMNS) -> str:
        """Trade columns as the view defines them (look-through relabels fund rows)."""
        columns = view_columns(self.exposure)
        parts = [
            f"{columns[name]} AS `{name}`" if name in DIMENSIONS and columns[name] != f"`{name}`" else f"`{name}`"
            for name in names
            if name in TRADES_COLUMN_NAMES
        ]
        if self.exposure == "look_through":
            # In look-through a fund row stands for its unexplained remainder only.
            parts.append(f"{residual_factor_sql()} AS `{LOOK_THROUGH_FACTOR}`")
        return ", ".join(parts)

    def column_names(self, names: Sequence[str] = DRILL_COLUMNS) -> tuple[str, ...]:
        kept = tuple(n for n in names if n in TRADES_COLUMN_NAMES)
        return kept + ((LOOK_THROUGH_FACTOR,) if self.exposure == "look_through" else ())


@dataclass(frozen=True)
class TradePage:
    rows: list[dict[str, Any]]
    total: int


def _path_value(dim: str, value: Any) -> Any:
    if dim == "trade_date":
        try:
            return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
        except ValueError:
            raise DrillError("the row's trade date is not a date") from None
    if value is None or isinstance(value, (dict, list)):
        raise DrillError(f"the row's {DIMENSIONS[dim].label} is not a single value")
    return str(value)


def drill_scope(
    body: Mapping[str, Any],
    path: Sequence[Any],
    column_path: Sequence[Any] = (),
) -> DrillScope:
    """The scope of the row at ``path`` (and split column at ``column_path``) of request ``body``."""
    try:
        req = PivotRequest.model_validate(dict(body))
    except ValidationError as exc:
        raise DrillError(PivotRequestError.from_validation(exc)) from None
    if len(path) > len(req.dimensions) or len(column_path) > len(req.columns):
        raise DrillError("the row does not belong to this pivot")
    filters: dict[str, Any] = {
        name: getattr(req.filters, name) for name in DIMENSIONS if getattr(req.filters, name) is not None
    }
    for dim, value in [*zip(req.dimensions, path, strict=False), *zip(req.columns, column_path, strict=False)]:
        narrowed = _path_value(dim, value)
        current = filters.get(dim)
        allowed = [current] if isinstance(current, str) else current
        if isinstance(allowed, (list, tuple)) and narrowed not in allowed:
            raise DrillError(f"{DIMENSIONS[dim].label} {narrowed!r} is outside the current filter")
        filters[dim] = narrowed
    return DrillScope(filters=filters, exposure=req.exposure)


def _order_by(sort: Sequence[Mapping[str, Any]]) -> str:
    keys: list[str] = []
    for item in list(sort)[:3]:
        col = item.get("colId") or item.get("field")
        direction = str(item.get("sort") or item.get("direction") or "asc").lower()
        if col not in DRILL_COLUMNS and col != LOOK_THROUGH_FACTOR:
            raise DrillError("sort: unknown column")
        if direction not in ("asc", "desc"):
            raise DrillError("sort: direction must be asc or desc")
        keys.append(f"`{col}` {direction.upper()}")
    keys += [f"`{c}` ASC" for c in _TIEBREAK if not any(k.startswith(f"`{c}` ") for k in keys)]
    return ", ".join(keys)


def count_trades(wh: Warehouse, scope: DrillScope) -> int:
    cond, params = scope.where(wh)
    return int(wh.query_rows(f"SELECT count() FROM {{db}}.trades_1d WHERE {cond}", params)[0][0])


def fetch_page(
    wh: Warehouse,
    scope: DrillScope,
    *,
    offset: int,
    limit: int,
    sort: Sequence[Mapping[str, Any]] = (),
    total: int | None = None,
) -> TradePage:
    """Rows ``offset .. offset + limit`` of the scope in a stable order, and the scope's size."""
    if not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
        raise DrillError(f"offset must be between 0 and {MAX_OFFSET:,}")
    if not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise DrillError(f"page size must be between 1 and {MAX_PAGE:,}")
    order = _order_by(sort)
    cond, params = scope.where(wh)
    params = {**params, "drill_limit": limit, "drill_offset": offset}
    table = wh.query_arrow(
        f"SELECT {scope.select_list()} FROM {{db}}.trades_1d WHERE {cond} ORDER BY {order} "
        "LIMIT {drill_limit:UInt32} OFFSET {drill_offset:UInt64}",
        params,
    )
    rows = _json_rows(table.to_pylist())
    if total is None:
        total = offset + len(rows) if len(rows) < limit else count_trades(wh, scope)
    return TradePage(rows=rows, total=total)


def _json_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Dates and times as ISO text so the rows travel as JSON unchanged."""
    for row in rows:
        for key, value in row.items():
            if isinstance(value, date):
                row[key] = value.isoformat()
    return rows
