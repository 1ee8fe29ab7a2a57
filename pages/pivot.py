"""Pivot explorer: P&L and exposure by any hierarchy, as held or looked through.

The whole view lives in the URL (backend.pivot.view_state). Control changes go
through one reducer callback that re-validates the view exactly as a link would
be; expanding and collapsing groups happens in the browser (assets/pivot_grid.js).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import dash
import dash_ag_grid as dag
import dash_mantine_components as dmc
from dash import ALL, MATCH, Input, Output, Patch, State, callback, clientside_callback, ctx, dcc, html, no_update
from dash.dependencies import ClientsideFunction
from pydantic import ValidationError

from backend.api.errors import describe_validation
from backend.pivot.catalog import DIMENSIONS
from backend.pivot.drill import DRILL_COLUMNS, DrillError, drill_scope, fetch_page
from backend.pivot.engine import distinct_values, latest_trade_date
from backend.pivot.export import screen_csv
from backend.pivot.request import PivotRequestError
from backend.pivot.result import tree_rows
from backend.pivot.service import pivot_answer as answer
from backend.pivot.view_state import FILTERABLE, ViewState, exposure_conflict, parse_view, revise, to_query, types_for
from backend.stores import current_stores
from components import pivot_charts as charts
from components.pivot_controls import active_filters, controls_panel, row_list
from components.pivot_controls import ids as cids
from components.pivot_grid import column_defs, metric_fields, pivot_grid, total_row
from components.saved_views import saved_views

dash.register_page(__name__, path="/pivot", title="Pivot", name="Pivot", order=1)


class ids:
    STATE = "pivot-state"
    REQUEST = "pivot-request"
    QUERY = "pivot-query"
    RESULT = "pivot-result"
    COLVALS = "pivot-colvals"
    URL_SHOWN = "pivot-url-shown"
    POPSTATE = "pivot-popstate"
    ROOT = "pivot-root"
    PANEL_TOGGLE = "pivot-panel-toggle"
    NOTICES = "pivot-notices"
    ERROR = "pivot-error"
    TRUNCATED = "pivot-truncated"
    FRESHNESS = "pivot-freshness"
    LOADING = "pivot-loading"
    GRID = "pivot-grid"
    TABLE_BOX = "pivot-table-box"
    CHART_BOX = "pivot-chart-box"
    VIEW = "pivot-view"
    EXPAND_ALL = "pivot-expand-all"
    COLLAPSE_ALL = "pivot-collapse-all"
    EXPORT = "pivot-export"
    DOWNLOAD = "pivot-download"
    RAW_EXPORT = "pivot-raw-export"
    HELP = "pivot-help"
    HELP_MODAL = "pivot-help-modal"
    CHART_BY = "pivot-chart-by"
    PNL_CHART = "pivot-pnl-chart"
    PIE_CHART = "pivot-pie-chart"
    GROSS_CHART = "pivot-gross-chart"
    DRILL_MODAL = "pivot-drill-modal"
    DRILL_BODY = "pivot-drill-body"
    DRILL_SCOPE = "pivot-drill-scope"
    KIOSK_TICK = "pivot-kiosk-tick"

    @staticmethod
    def drill_grid(n: int | str) -> dict[str, Any]:
        return {"type": "pivot-drill-grid", "n": n}


SHORTCUTS = [("/", "Focus the filter search"), ("e", "Expand all"), ("c", "Collapse all"),
             ("t", "Switch between table and chart"), ("x", "Export what is on screen as CSV"),
             ("?", "Show this help")]


def _query_of(kwargs: dict[str, Any]) -> str:
    return urlencode([(k, v) for k, vs in kwargs.items() for v in (vs if isinstance(vs, list) else [vs])])


def _notice_list(notices: list[str]) -> Any:
    if not notices:
        return None
    return dmc.Alert([html.Div(n) for n in notices], title="Parts of the link were not understood",
                     color="yellow", withCloseButton=True, className="pivot-notice")


def _outputs(state: ViewState, notices: list[str]) -> tuple[Any, ...]:
    query = to_query(state)
    chart_by = state.chart_by
    return (
        state.model_dump(mode="json"), state.to_request(), query, _notice_list(notices),
        list(state.rows), row_list(state.rows), list(state.cols), list(state.metrics), state.exposure,
        list(types_for(state)), [d.isoformat() for d in (state.date_from, state.date_to) if d],
        active_filters(state), state.view, chart_by, "/api/v1/trades.csv" + query,
        {"display": "none"} if state.view == "chart" else {}, {} if state.view == "chart" else {"display": "none"},
        "pivot-page" + (" pivot-embed" if state.embed else "") + (" pivot-kiosk" if state.kiosk else ""),
        not state.kiosk,
    )


def layout(**kwargs: Any) -> html.Div:
    latest = latest_trade_date(current_stores().warehouse)
    parsed = parse_view(_query_of(kwargs), latest_date=latest)
    state = parsed.state
    out = _outputs(state, parsed.notices)
    toolbar = dmc.Group(
        [
            dmc.Button("☰ Controls", id=ids.PANEL_TOGGLE, variant="subtle", size="compact-sm"),
            dmc.SegmentedControl(id=ids.VIEW, value=state.view, size="xs",
                                 data=[{"value": "table", "label": "Table"}, {"value": "chart", "label": "Chart"}]),
            dmc.Button("Expand all", id=ids.EXPAND_ALL, variant="light", size="compact-sm"),
            dmc.Button("Collapse all", id=ids.COLLAPSE_ALL, variant="light", size="compact-sm"),
            dmc.Button("Export CSV", id=ids.EXPORT, variant="light", size="compact-sm"),
            html.A("Raw trades CSV", id=ids.RAW_EXPORT, href=out[14], className="pivot-raw-link", download=""),
            dmc.Button("?", id=ids.HELP, variant="subtle", size="compact-sm"),
            dmc.Loader(id=ids.LOADING, size="xs", style={"visibility": "hidden"}),
        ],
        gap="xs", className="pivot-toolbar db-kiosk-hide",
    )
    charts_box = html.Div(
        [
            dmc.Select(id=ids.CHART_BY, label="Exposure by", data=[{"value": d, "label": DIMENSIONS[d].label}
                       for d in FILTERABLE], value=state.chart_by, size="xs", w=220, className="db-kiosk-hide"),
            dmc.SimpleGrid([dcc.Graph(id=ids.PNL_CHART, config={"displaylogo": False}),
                            dcc.Graph(id=ids.PIE_CHART, config={"displaylogo": False})],
                           cols={"base": 1, "md": 2}),
            dcc.Graph(id=ids.GROSS_CHART, config={"displaylogo": False}),
        ],
        id=ids.CHART_BOX, style=out[16], className="pivot-chart-box",
    )
    return html.Div(
        [
            dcc.Store(id=ids.STATE, data=out[0]),
            dcc.Store(id=ids.REQUEST, data=out[1]),
            dcc.Store(id=ids.QUERY, data=out[2]),
            dcc.Store(id=ids.RESULT),
            dcc.Store(id=ids.COLVALS),
            dcc.Store(id=ids.URL_SHOWN),
            dcc.Store(id=ids.POPSTATE),
            dcc.Store(id=ids.DRILL_SCOPE),
            dcc.Download(id=ids.DOWNLOAD),
            dcc.Interval(id=ids.KIOSK_TICK, interval=60_000, disabled=out[18]),
            html.Aside(controls_panel(state), className="pivot-panel db-embed-hide db-kiosk-hide"),
            html.Main(
                [
                    toolbar,
                    html.Div(saved_views("pivot"), className="db-embed-hide"),
                    html.Div(out[3], id=ids.NOTICES, className="db-embed-hide"),
                    html.Div(id=ids.ERROR, role="alert"),
                    html.Div(id=ids.TRUNCATED),
                    html.Div(pivot_grid(ids.GRID), id=ids.TABLE_BOX, style=out[15], className="pivot-table-box"),
                    charts_box,
                    html.Div(id=ids.FRESHNESS, className="pivot-freshness"),
                ],
                className="pivot-main",
            ),
            dmc.Modal(id=ids.DRILL_MODAL, title="Trades", size="90%", children=html.Div(id=ids.DRILL_BODY)),
            dmc.Modal(id=ids.HELP_MODAL, title="Keyboard shortcuts", children=dmc.Table(
                data={"head": ["Key", "Action"], "body": [[html.Kbd(k), a] for k, a in SHORTCUTS]})),
        ],
        id=ids.ROOT, className=out[17],
    )


# -- the reducer: every control change becomes a new, re-validated view ------------
_VIEW_OUTPUTS = [
    Output(ids.STATE, "data"), Output(ids.REQUEST, "data"), Output(ids.QUERY, "data"), Output(ids.NOTICES, "children"),
    Output(cids.ROWS, "value"), Output(cids.ROW_LIST, "children"), Output(cids.COLS, "value"),
    Output(cids.METRICS, "value"), Output(cids.EXPOSURE, "value"), Output(cids.TYPES, "value"),
    Output(cids.DATES, "value"), Output(cids.ACTIVE_FILTERS, "children"), Output(ids.VIEW, "value"),
    Output(ids.CHART_BY, "value"), Output(ids.RAW_EXPORT, "href"), Output(ids.TABLE_BOX, "style"),
    Output(ids.CHART_BOX, "style"), Output(ids.ROOT, "className"), Output(ids.KIOSK_TICK, "disabled"),
]


def _moved(rows: tuple[str, ...], dim: str, step: str) -> tuple[str, ...]:
    out = list(rows)
    i = out.index(dim) if dim in out else -1
    if i < 0:
        return rows
    if step == "remove" and len(out) > 1:
        out.pop(i)
    elif step in ("up", "down"):
        j = i - 1 if step == "up" else i + 1
        if 0 <= j < len(out):
            out[i], out[j] = out[j], out[i]
    return tuple(out)


def _drill_chart(state: ViewState, dim: str, value: str | None, deeper: bool) -> dict[str, Any]:
    if value is None:
        return {}
    changes: dict[str, Any] = {"filters": {**state.filters, dim: (value,)}}
    if deeper and len(state.rows) > 1 and state.rows[0] == dim:
        changes["rows"] = state.rows[1:]
    return changes


def _changes(trigger: Any, state: ViewState, values: dict[str, Any]) -> dict[str, Any] | str:
    """What the triggering control asks for, or a refusal message for the exposure types."""
    if isinstance(trigger, dict):
        if trigger.get("type") == "pivot-row-move":
            return {"rows": _moved(state.rows, trigger["dim"], trigger["step"])}
        if trigger.get("type") == "pivot-filter-clear":
            return {"filters": {k: v for k, v in state.filters.items() if k != trigger["dim"]}}
        return {}
    simple = {cids.ROWS: "rows", cids.COLS: "cols", cids.METRICS: "metrics", ids.VIEW: "view", ids.CHART_BY: "chart_by"}
    if trigger in simple:
        return {simple[trigger]: values[trigger] or getattr(state, simple[trigger])}
    if trigger == cids.EXPOSURE:
        mode = values[trigger]
        return {"exposure": mode, "types": tuple(types_for(state)) if mode == "custom" else ()}
    if trigger == cids.TYPES:
        problem = exposure_conflict(values[trigger] or [])
        return problem if problem else {"exposure": "custom", "types": tuple(values[trigger])}
    if trigger == cids.DATES:
        dates = [d for d in (values[trigger] or []) if d]
        return {"date_from": dates[0][:10], "date_to": dates[-1][:10]} if len(dates) == 2 else {}
    if trigger == cids.FILTER_VALUES:
        dim = values["filter_dim"]
        chosen = tuple(values[trigger] or ())
        rest = {k: v for k, v in state.filters.items() if k != dim}
        return {"filters": {**rest, dim: chosen} if chosen else rest}
    if trigger == ids.GRID:
        sort = (values[trigger] or {}).get("data") or {}
        return {"sort_field": sort.get("colId"), "sort_desc": sort.get("sort") != "asc"} if sort else {}
    if trigger == ids.PNL_CHART or trigger == ids.GROSS_CHART:
        return _drill_chart(state, state.rows[0], charts.clicked_value(values[trigger]), deeper=True)
    if trigger == ids.PIE_CHART:
        return _drill_chart(state, state.chart_by, charts.clicked_value(values[trigger]), deeper=False)
    return {}


@callback(
    *_VIEW_OUTPUTS,
    Output(cids.TYPES_REFUSED, "children"),
    Input(cids.ROWS, "value"), Input({"type": "pivot-row-move", "dim": ALL, "step": ALL}, "n_clicks"),
    Input(cids.COLS, "value"), Input(cids.METRICS, "value"), Input(cids.EXPOSURE, "value"),
    Input(cids.TYPES, "value"), Input(cids.DATES, "value"), Input(cids.FILTER_VALUES, "value"),
    Input({"type": "pivot-filter-clear", "dim": ALL}, "n_clicks"), Input(ids.GRID, "eventData"),
    Input(ids.VIEW, "value"), Input(ids.CHART_BY, "value"), Input(ids.PNL_CHART, "clickData"),
    Input(ids.PIE_CHART, "clickData"), Input(ids.GROSS_CHART, "clickData"), Input(ids.POPSTATE, "data"),
    State(ids.STATE, "data"), State(cids.FILTER_DIM, "value"),
    prevent_initial_call=True,
)
def update_view(*args: Any) -> tuple[Any, ...]:
    trigger = ctx.triggered_id
    state = ViewState.model_validate(args[-2])
    if trigger == ids.POPSTATE:
        parsed = parse_view((args[-3] or {}).get("search", ""), latest_date=state.date_from)
        return (*_outputs(parsed.state, parsed.notices), None)
    if isinstance(trigger, dict) and not ctx.triggered[0].get("value"):
        return tuple(no_update for _ in range(len(_VIEW_OUTPUTS) + 1))  # a button re-rendered, not clicked
    values = {t["id"]: t.get("value") for t in ctx.inputs_list if isinstance(t, dict) and isinstance(t["id"], str)}
    values["filter_dim"] = args[-1]
    changes = _changes(trigger, state, values)
    if isinstance(changes, str):
        refused = dmc.Alert(changes, title="Not allowed: double counting", color="red", className="pivot-refused")
        return _refuse(state, refused)
    parsed = revise(state, **changes)
    if parsed.state == state and not parsed.notices:
        # Controls echoing the view back (after a re-render) must not re-run the query.
        return (*(no_update for _ in _VIEW_OUTPUTS), None)
    return (*_outputs(parsed.state, parsed.notices), None)


def _refuse(state: ViewState, refused: Any) -> tuple[Any, ...]:
    out = [no_update] * len(_VIEW_OUTPUTS)
    out[9] = list(types_for(state))  # put the chips back as they were
    return (*out, refused)


# -- running the query ----------------------------------------------------------------
def pivot_answer(body: dict[str, Any]) -> dict[str, Any]:
    return answer(current_stores(), body)


def _error_text(exc: Exception) -> str:
    if isinstance(exc, PivotRequestError):
        return str(exc)
    if isinstance(exc, ValidationError):
        return describe_validation(exc)
    return "The query failed on the server; your selections are kept. Try again or change the view."


@callback(
    Output(ids.RESULT, "data"), Output(ids.COLVALS, "data"), Output(ids.GRID, "columnDefs"),
    Output(ids.GRID, "dashGridOptions"), Output(ids.FRESHNESS, "children"), Output(ids.TRUNCATED, "children"),
    Output(ids.ERROR, "children"),
    Input(ids.REQUEST, "data"), Input(ids.KIOSK_TICK, "n_intervals"), State(ids.STATE, "data"),
    running=[(Output(ids.LOADING, "style"), {"visibility": "visible"}, {"visibility": "hidden"})],
)
def run_query(body: dict[str, Any], _tick: int | None, state_json: dict[str, Any]) -> tuple[Any, ...]:
    state = ViewState.model_validate(state_json)
    try:
        payload = pivot_answer(body)
    except Exception as exc:  # noqa: BLE001 - shown to the user; the previous result stays
        banner = dmc.Alert(_error_text(exc), title="The pivot could not be computed", color="red")
        return no_update, no_update, no_update, no_update, no_update, no_update, banner
    tree = tree_rows(payload)
    defs = column_defs(payload["dimensions"], payload["columns"], payload["metrics"], payload["column_values"],
                       tree, state.sort_field, state.sort_desc)
    options = Patch()
    options["pinnedBottomRowData"] = [total_row(payload["totals"])]
    meta = payload.get("meta") or {}
    fresh = (f"Data version {str(meta.get('data_version', '?'))[:8]} · "
             f"{'cached' if meta.get('cached') else 'computed'} in {meta.get('response_ms', 0):,.0f} ms · "
             f"{meta.get('leaf_rows', 0):,} rows from {meta.get('source', '?')}")
    truncated = dmc.Alert("Some groups were cut to the top rows; the rest are folded into \"Other\" rows.",
                          color="blue", className="pivot-truncated") if payload.get("truncated") else None
    result = {"tree": tree, "totals": payload["totals"], "dimensions": payload["dimensions"]}
    return result, {"columns": payload["columns"], "values": payload["column_values"]}, defs, options, fresh, \
        truncated, None


clientside_callback(ClientsideFunction("pivot", "visibleRows"), Output(ids.GRID, "rowData"),
                    Input(ids.RESULT, "data"), Input(ids.STATE, "data"))
clientside_callback(ClientsideFunction("pivot", "expand"), Output(ids.STATE, "data", allow_duplicate=True),
                    Input(ids.GRID, "cellRendererData"), Input(ids.EXPAND_ALL, "n_clicks"),
                    Input(ids.COLLAPSE_ALL, "n_clicks"), State(ids.STATE, "data"), prevent_initial_call=True)
clientside_callback(ClientsideFunction("pivot", "writeUrl"), Output(ids.URL_SHOWN, "data"),
                    Input(ids.STATE, "data"), Input(ids.QUERY, "data"))
clientside_callback(
    "function(n, cls) { return (cls || '').indexOf('pivot-panel-closed') >= 0 ?"
    " cls.replace(' pivot-panel-closed', '') : (cls || '') + ' pivot-panel-closed'; }",
    Output(ids.ROOT, "className", allow_duplicate=True), Input(ids.PANEL_TOGGLE, "n_clicks"),
    State(ids.ROOT, "className"), prevent_initial_call=True,
)
clientside_callback("function(n, open) { return !open; }", Output(ids.HELP_MODAL, "opened"),
                    Input(ids.HELP, "n_clicks"), State(ids.HELP_MODAL, "opened"), prevent_initial_call=True)


# -- filters ------------------------------------------------------------------------
@callback(
    Output(cids.FILTER_VALUES, "data"), Output(cids.FILTER_VALUES, "value"),
    Input(cids.FILTER_DIM, "value"), Input(cids.FILTER_VALUES, "searchValue"),
    State(cids.FILTER_VALUES, "value"), State(ids.STATE, "data"),
)
def filter_options(dim: str, search: str | None, chosen: list[str] | None, state_json: dict) -> tuple[Any, Any]:
    if dim not in FILTERABLE:
        return [], []
    current = list(ViewState.model_validate(state_json).filters.get(dim, ()))
    values = distinct_values(current_stores().warehouse, dim, search=(search or "")[:200], limit=200)
    keep = current if ctx.triggered_id in (cids.FILTER_DIM, None) else (chosen or [])
    return sorted(set(values) | set(keep)), keep if ctx.triggered_id in (cids.FILTER_DIM, None) else no_update


# -- charts -------------------------------------------------------------------------
@callback(
    Output(ids.PNL_CHART, "figure"), Output(ids.PIE_CHART, "figure"), Output(ids.GROSS_CHART, "figure"),
    Input(ids.REQUEST, "data"), Input(ids.VIEW, "value"), Input(ids.CHART_BY, "value"),
    State(ids.STATE, "data"), State("shell-theme", "data"),
)
def draw_charts(body: dict[str, Any], view: str, chart_by: str, state_json: dict, theme: str | None) -> tuple:
    if view != "chart":
        return no_update, no_update, no_update
    state = ViewState.model_validate(state_json)
    dark = theme == "dark" or state.kiosk
    first = state.rows[0]
    base = {**body, "columns": [], "limit": state.top}
    try:
        pnl = pivot_answer({**base, "dimensions": [first], "metrics": ["pnl"], "sort": {"field": "pnl", "direction": "desc"}})
        pie = pivot_answer({**base, "dimensions": [chart_by], "metrics": ["gross_exposure"],
                            "sort": {"field": "gross_exposure", "direction": "desc"}})
        gross = pivot_answer({**base, "dimensions": [first], "sort": {"field": "gross_exposure", "direction": "desc"},
                              "metrics": ["gross_exposure", "net_exposure", "long_exposure", "short_exposure"]})
    except Exception:  # noqa: BLE001 - the grid's banner already explains failures of this view
        return no_update, no_update, no_update
    return (charts.pnl_bar(pnl, first, dark), charts.exposure_pie(pie, chart_by, dark),
            charts.exposure_bars(gross, first, dark))


# -- drill-through ------------------------------------------------------------------
@callback(
    Output(ids.DRILL_MODAL, "opened"), Output(ids.DRILL_MODAL, "title"), Output(ids.DRILL_BODY, "children"),
    Output(ids.DRILL_SCOPE, "data"),
    Input(ids.GRID, "cellDoubleClicked"), State(ids.REQUEST, "data"), State(ids.COLVALS, "data"),
    prevent_initial_call=True,
)
def open_drill(cell: dict[str, Any] | None, body: dict[str, Any], colvals: dict[str, Any] | None) -> tuple:
    import json

    try:
        path = json.loads((cell or {}).get("rowId") or "null")
    except ValueError:
        return no_update, no_update, no_update, no_update
    if not isinstance(path, list) or not path or path[-1] is None:
        return no_update, no_update, no_update, no_update  # total and "Other" rows hold no single set of trades
    col = str((cell or {}).get("colId") or "")
    column_path: list[Any] = []
    if "__c" in col and colvals:
        index = int(col.rsplit("__c", 1)[1]) if col.rsplit("__c", 1)[1].isdigit() else -1
        values = colvals.get("values") or []
        column_path = list(values[index]) if 0 <= index < len(values) else []
    try:
        drill_scope(body, path, column_path)
    except DrillError as exc:
        return True, "Trades", dmc.Alert(str(exc), color="red"), None
    title = "Trades · " + " › ".join("—" if v in (None, "") else str(v) for v in [*path, *column_path])
    grid = dag.AgGrid(
        id=ids.drill_grid(json.dumps([path, column_path])[:200]),
        rowModelType="infinite",
        columnDefs=[{"field": c, "sortable": True, "minWidth": 100} for c in DRILL_COLUMNS],
        defaultColDef={"resizable": True},
        dashGridOptions={"cacheBlockSize": 200, "maxBlocksInCache": 20, "rowBuffer": 20},
        style={"height": "60vh"},
        className="pivot-drill-grid",
    )
    return True, title, grid, {"request": body, "path": path, "column_path": column_path}


@callback(
    Output(ids.drill_grid(MATCH), "getRowsResponse"), Input(ids.drill_grid(MATCH), "getRowsRequest"),
    State(ids.DRILL_SCOPE, "data"), prevent_initial_call=True,
)
def drill_rows(req: dict[str, Any] | None, scope: dict[str, Any] | None) -> Any:
    if not req or not scope:
        return no_update
    start, end = int(req.get("startRow", 0)), int(req.get("endRow", 100))
    try:
        page = fetch_page(current_stores().warehouse, drill_scope(scope["request"], scope["path"], scope["column_path"]),
                          offset=start, limit=max(1, min(end - start, 5000)), sort=req.get("sortModel") or [])
    except DrillError:
        return {"rowData": [], "rowCount": start}
    return {"rowData": page.rows, "rowCount": page.total}


# -- export of the screen -----------------------------------------------------------
@callback(Output(ids.DOWNLOAD, "data"), Output(ids.ERROR, "children", allow_duplicate=True),
          Input(ids.EXPORT, "n_clicks"), State(ids.REQUEST, "data"), State(ids.STATE, "data"),
          prevent_initial_call=True)
def export_screen(_n: int, body: dict[str, Any], state_json: dict[str, Any]) -> tuple[Any, Any]:
    state = ViewState.model_validate(state_json)
    try:
        payload = pivot_answer(body)
    except Exception as exc:  # noqa: BLE001 - told to the user
        return no_update, dmc.Alert(_error_text(exc), title="Export failed", color="red")
    fields = metric_fields(payload["metrics"], payload["columns"], payload["column_values"])
    text = screen_csv(tree_rows(payload), payload["totals"], state.expansion, payload["dimensions"], fields)
    name = f"pivot-{state.date_from or 'latest'}.csv"
    return dcc.send_string(text, name), no_update
