"""What leaves the pivot grid: the trades behind a cell (drill-through) and the screen as CSV.

The page's callbacks unpack their inputs and hand them here. A double-click on a
cell opens the trades that made its number in a paged grid (AG Grid's infinite
row model), with their count and a link to export them. A flow (P&L, notional,
…) adds up over the view's dates, so its cell opens every one of them; a stock
(exposure, market value, …) over several dates is the level on the last date
with data (``meta["as_of"]``), so its cell opens that date's trades only, and
the title says "as of" that date.

The component never reads the warehouse itself: the page hands it the two reads
it needs, ``count(scope)`` and ``fetch(scope, offset=…, limit=…, sort=…, total=…)``
(``backend.pivot.drill.count_trades`` / ``fetch_page`` bound to the request's warehouse),
and the request's data scope, which every drilled scope carries: a cell never opens
a trade the user may not see. The scope is never kept in the browser's store.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

import dash_ag_grid as dag
import dash_mantine_components as dmc
from dash import dcc, html, no_update

from backend.access.principal import DataScope
from backend.pivot.catalog import METRICS
from backend.pivot.drill import DrillError, DrillScope, TradePage, drill_scope, stock_as_of
from backend.pivot.export import screen_csv
from backend.pivot.result import tree_rows
from backend.pivot.view_state import ViewState, narrowed, to_query
from components import pivot_summary as summary
from components.pivot_grid import metric_fields, split_index

RAW_CSV = "/api/v1/trades.csv"
MAX_ID_CHARS = 200
_UNCHANGED = (no_update, no_update, no_update, no_update)

CountTrades = Callable[[DrillScope], int]
FetchPage = Callable[..., TradePage]  # (scope, *, offset, limit, sort, total)


def grid_id(n: str) -> dict[str, str]:
    """The trades grid's id: one per drilled cell, so a new cell never shows the last one's pages."""
    return {"type": "pivot-drill-grid", "n": n}


def _export_link(state: ViewState, cells: list[tuple[str, Any]]) -> Any:
    view = narrowed(state, cells)
    if isinstance(view, str):
        return dmc.Text(f"CSV export of these trades is not available: {view}.", size="sm", c="dimmed")
    return html.A("Export these trades (CSV)", href=RAW_CSV + to_query(view), download="",
                  className="pivot-drill-export")


def _title(path: list[Any], column_path: list[Any], as_of: date | None) -> str:
    where = " › ".join("—" if v in (None, "") else str(v) for v in [*path, *column_path])
    return f"Trades · {where}" + (f" · as of {as_of.isoformat()}" if as_of else "")


def _as_of_note(state: ViewState, metric: str, as_of: date | None) -> Any:
    if as_of is None:
        return None
    return dmc.Text(
        f"{METRICS[metric].label} is a position: over {summary.date_text(state)} it is the level on {as_of}, "
        "the last date with data, so these are that date's trades. Flows such as P&L add up over every date.",
        size="sm", c="dimmed", mb="xs", className="pivot-drill-note",
    )


def open_drill(count: CountTrades, cell: Mapping[str, Any] | None, body: dict[str, Any],
               colvals: Mapping[str, Any] | None, state_json: dict[str, Any],
               answer_meta: Mapping[str, Any] | None, *, data_scope: DataScope,
               zone: str = "UTC") -> tuple[Any, Any, Any, Any]:
    """``(opened, title, children, scope)`` of the drill-through modal for a double-clicked cell."""
    try:
        path = json.loads((cell or {}).get("rowId") or "null")
    except ValueError:
        return _UNCHANGED
    if not isinstance(path, list) or not path or path[-1] is None:
        return _UNCHANGED  # total and "Other" rows hold no single set of trades
    metric, index = split_index(str((cell or {}).get("colId") or ""))
    values = (colvals or {}).get("values") or []
    column_path = list(values[index]) if index is not None and 0 <= index < len(values) else []
    state = ViewState.model_validate(state_json)
    try:
        as_of = stock_as_of(body, metric, path, column_path, (answer_meta or {}).get("as_of"))
        scope = drill_scope(body, path, column_path, as_of=as_of, scope=data_scope)
        total = count(scope)
    except DrillError as exc:
        return True, "Trades", dmc.Alert(str(exc), color="red"), None
    cells = [*zip(state.rows, path, strict=False), *zip(state.cols, column_path, strict=False)]
    if as_of is not None:
        cells.append(("trade_date", as_of.isoformat()))
    day = as_of.isoformat() if as_of else None
    grid = dag.AgGrid(
        id=grid_id(json.dumps([path, column_path, day])[:MAX_ID_CHARS]),
        rowModelType="infinite",
        columnDefs=summary.drill_columns(scope.exposure, zone),
        defaultColDef={"resizable": True},
        dashGridOptions={"cacheBlockSize": 200, "maxBlocksInCache": 20, "rowBuffer": 20, "rowHeight": 30,
                         "localeText": {"noRowsToShow": "No trades."}},
        style={"height": "60vh"},
        className="pivot-drill-grid",
    )
    head = dmc.Group([dmc.Text(f"{total:,} trade{'' if total == 1 else 's'}", fw=600, className="pivot-drill-count"),
                      _export_link(state, cells)], justify="space-between", mb="xs")
    scope_data = {"request": body, "path": path, "column_path": column_path, "total": total, "as_of": day}
    return True, _title(path, column_path, as_of), [head, _as_of_note(state, metric, as_of), grid], scope_data


def drill_rows(fetch: FetchPage, req: Mapping[str, Any] | None, scope: Mapping[str, Any] | None, *,
               data_scope: DataScope) -> Any:
    """One page of the drilled trades for the grid's ``getRowsRequest``."""
    if not req or not scope:
        return no_update
    total = scope.get("total") if isinstance(scope.get("total"), int) else None
    start = 0
    try:
        start, end = int(req.get("startRow", 0)), int(req.get("endRow", 100))
        where = drill_scope(scope["request"], scope["path"], scope["column_path"], as_of=scope.get("as_of"),
                            scope=data_scope)
        page = fetch(where, offset=start, limit=max(1, min(end - start, 5000)),
                     sort=req.get("sortModel") or [], total=total)
    except (DrillError, KeyError, TypeError, ValueError):
        return {"rowData": [], "rowCount": max(0, start)}  # the trades end where they could not be read
    return {"rowData": page.rows, "rowCount": page.total}


def screen_export(answer: Callable[[dict[str, Any]], dict[str, Any]], body: dict[str, Any],
                  state_json: dict[str, Any]) -> tuple[Any, Any]:
    """``(download, error)``: the grid as shown, as CSV; stock headers say the date they are as of."""
    state = ViewState.model_validate(state_json)
    try:
        payload = answer(body)
    except Exception as exc:  # noqa: BLE001 - told to the user
        return no_update, dmc.Alert(summary.error_text(exc), title="Export failed", color="red")
    fields = metric_fields(payload["metrics"], payload["columns"], payload["column_values"])
    text = screen_csv(tree_rows(payload), payload["totals"], state.expansion, payload["dimensions"], fields,
                      meta=payload.get("meta"))
    return dcc.send_string(text, f"pivot-{state.date_from or 'latest'}.csv"), no_update
