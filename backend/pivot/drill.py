"""The trades behind one pivot cell, a page at a time (drill-through).

A drill scope is the pivot request's filters narrowed to one row's path (and,
for a split column, that column's values). ``fetch_page`` serves AG Grid's
infinite row model: a window ``[offset, offset + limit)`` in a stable order
(the chosen column, then the table's own key), so paging through millions of
rows never repeats or skips one. Column names come only from ``DRILL_COLUMNS``;
every value is a bound parameter.

Over several dates a stock measure (exposure, market value, …) is a level read
as of the answer's last date with data (``meta["as_of"]``), so the trades that
made a stock cell are that date's only: ``stock_as_of`` says when a cell is read
so, and ``drill_scope(..., as_of=day)`` narrows the scope to it. Flows keep every
date of the request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa
from pydantic import ValidationError

from backend.access.principal import EVERYTHING, DataScope
from backend.pivot.catalog import DIMENSIONS, METRICS
from backend.pivot.formula import neutralise_sql
from backend.pivot.request import DateRange, PivotRequest, PivotRequestError
from backend.pivot.where import build_where, load_fund_coverage, residual_factor_sql, view_columns
from backend.warehouse import Warehouse
from backend.warehouse.schema import TRADES_COLUMN_NAMES, TRADES_COLUMNS

# What a trader checks on a trade, in reading order: what was done, at what price,
# for what result; then what it was, when, and who did it.
DRILL_COLUMNS: Final[tuple[str, ...]] = (
    "side", "quantity", "price", "pnl", "symbol", "trade_time", "trade_date", "notional",
    "market_value", "realized_pnl", "unrealized_pnl", "fees", "commission", "instrument_name",
    "asset_class", "exposure_type", "parent_symbol", "constituent_weight", "portfolio_manager_id", "portfolio_manager_name",
    "desk", "book", "strategy", "trader", "sector", "region", "currency", "counterparty", "broker",
    "venue", "account", "trade_id", "position_id",
)
assert set(DRILL_COLUMNS) <= set(TRADES_COLUMN_NAMES)
# Added in the look-through view: the share of a fund row that counts (its residual).
LOOK_THROUGH_FACTOR: Final = "look_through_factor"
# Column headers: the catalogue's labels where it has them, else these.
_OWN_LABELS: Final[dict[str, str]] = {
    "trade_id": "Trade ID", "position_id": "Position ID", "trade_time": "Time", "price": "Price",
    "constituent_weight": "Weight in fund", "fees": "Fees", "commission": "Commission",
    "notional": "Notional", "quantity": "Quantity", "pnl": "P&L", LOOK_THROUGH_FACTOR: "Look-through factor",
}
DRILL_LABELS: Final[dict[str, str]] = {
    name: _OWN_LABELS.get(name) or (DIMENSIONS[name].label if name in DIMENSIONS else None)
    or (METRICS[name].label if name in METRICS else name.replace("_", " ").capitalize())
    for name in (*DRILL_COLUMNS, LOOK_THROUGH_FACTOR)
}
# How the page formats each number column (the catalogue's formats: money, qty, price, ...).
DRILL_FORMATS: Final[dict[str, str]] = {
    "quantity": "qty", "price": "price", "pnl": "money", "notional": "money", "market_value": "money",
    "realized_pnl": "money", "unrealized_pnl": "money", "fees": "money", "commission": "money",
    "constituent_weight": "weight", LOOK_THROUGH_FACTOR: "weight",
}
_TYPES: Final[dict[str, str]] = dict(TRADES_COLUMNS)
# Ties in the chosen order are broken by the table's key so pages are stable.
_TIEBREAK: Final = ("trade_date", "trade_id", "exposure_type", "symbol")
MAX_PAGE: Final = 5_000
MAX_OFFSET: Final = 1_000_000_000


class DrillError(ValueError):
    """A drill-through the page or API must refuse; the message is for the user."""


@dataclass(frozen=True)
class DrillScope:
    """The filters and view that select a cell's trades, within the caller's data scope."""

    filters: Mapping[str, Any]
    exposure: str
    data: DataScope = EVERYTHING

    def where(self, wh: Warehouse) -> tuple[str, dict[str, Any]]:
        coverage = load_fund_coverage(wh) if self.exposure == "look_through" else None
        return build_where(self.filters, self.exposure, coverage, scope=self.data)

    def select_list(self, names: Sequence[str] = DRILL_COLUMNS, *, for_csv: bool = False) -> str:
        """Trade columns as the view defines them (look-through relabels fund rows).

        ``for_csv`` writes text columns so a spreadsheet never runs them (``neutralise_sql``).
        """
        columns = view_columns(self.exposure)
        parts = []
        for name in names:
            if name not in TRADES_COLUMN_NAMES:
                continue
            expr = columns[name] if name in DIMENSIONS else f"`{name}`"
            if for_csv and "String" in _TYPES[name]:
                expr = neutralise_sql(expr)
            parts.append(expr if expr == f"`{name}`" else f"{expr} AS `{name}`")
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


def _request(body: Mapping[str, Any]) -> PivotRequest:
    try:
        return PivotRequest.model_validate(dict(body))
    except ValidationError as exc:
        raise DrillError(PivotRequestError.from_validation(exc)) from None


def _as_of_day(value: Any) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise DrillError("the as-of date is not a date")


def _fixes_date(req: PivotRequest, path: Sequence[Any], column_path: Sequence[Any]) -> bool:
    """Whether the cell's own row or column names its trade date (it then shows that day's value)."""
    return "trade_date" in (*req.dimensions[: len(path)], *req.columns[: len(column_path)])


def _in_dates(day: date, dates: date | DateRange | None) -> bool:
    if dates is None:
        return True
    if isinstance(dates, date):
        return day == dates
    return (dates.start is None or dates.start <= day) and (dates.end is None or day <= dates.end)


def stock_as_of(
    body: Mapping[str, Any],
    metric: str,
    path: Sequence[Any],
    column_path: Sequence[Any],
    as_of: Any,
) -> date | None:
    """The one date whose trades made a cell of ``metric``, or None when every date of the request did.

    That is ``as_of`` (the answer's ``meta["as_of"]``) for a stock read as of the
    last date (the default) over a request of several dates, in a cell whose row
    and column do not name a trade date of their own. A flow, an averaged stock,
    one date, or a blank ``as_of`` (no data) keep the request's dates.
    """
    spec = METRICS.get(metric)
    if spec is None or spec.kind != "stock" or as_of is None:
        return None
    req = _request(body)
    dates = req.filters.trade_date
    one_day = isinstance(dates, date) or (isinstance(dates, DateRange) and dates.start == dates.end is not None)
    if req.stocks != "last" or one_day or _fixes_date(req, path, column_path):
        return None
    day = _as_of_day(as_of)
    if not _in_dates(day, dates):
        raise DrillError(f"the as-of date {day} is not a date of this pivot")
    return day


def drill_scope(
    body: Mapping[str, Any],
    path: Sequence[Any],
    column_path: Sequence[Any] = (),
    *,
    as_of: Any = None,
    scope: DataScope = EVERYTHING,
) -> DrillScope:
    """The scope of the row at ``path`` (and split column at ``column_path``) of request ``body``.

    ``as_of`` (a date or ``YYYY-MM-DD``, from ``stock_as_of``) narrows the scope to
    that one trade date of the request: the trades behind a stock cell. ``scope`` is
    the caller's data scope: only the trades it allows are counted, paged or exported.
    """
    req = _request(body)
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
    if as_of is not None:
        day = _as_of_day(as_of)
        if _fixes_date(req, path, column_path) or not _in_dates(day, req.filters.trade_date):
            raise DrillError(f"the as-of date {day} is not a date of this cell")
        filters["trade_date"] = day
    return DrillScope(filters=filters, exposure=req.exposure, data=scope)


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
    zone: str = "UTC",
) -> TradePage:
    """Rows ``offset .. offset + limit`` of the scope in a stable order, and the scope's size;
    times on the wall clock of ``zone`` (an IANA name: the reader's own time zone)."""
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
    rows = _json_rows(_readable_times(table).to_pylist(), _zone(zone))
    if total is None:
        total = offset + len(rows) if len(rows) < limit else count_trades(wh, scope)
    return TradePage(rows=rows, total=total)


def _readable_times(table: pa.Table) -> pa.Table:
    """DateTime columns as timestamps: some clients hand them over as epoch seconds."""
    for i, name in enumerate(table.column_names):
        column = table.column(i)
        if _TYPES.get(name) == "DateTime" and pa.types.is_integer(column.type):
            table = table.set_column(i, name, column.cast(pa.int64()).cast(pa.timestamp("s", tz="UTC")))
    return table


def _zone(name: str) -> ZoneInfo:
    try:
        if not isinstance(name, str) or not 0 < len(name) <= 64:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise DrillError(f"unknown time zone {str(name)[:64]!r}") from None


def _json_rows(rows: list[dict[str, Any]], zone: ZoneInfo) -> list[dict[str, Any]]:
    """Dates as ``YYYY-MM-DD`` and times as ``YYYY-MM-DD HH:MM:SS`` on the wall clock of ``zone``
    (the warehouse keeps UTC; a naive value is UTC)."""
    for row in rows:
        for key, value in row.items():
            if isinstance(value, datetime):
                moment = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(zone)
                row[key] = moment.strftime("%Y-%m-%d %H:%M:%S")
            elif isinstance(value, date):
                row[key] = value.isoformat()
    return rows
