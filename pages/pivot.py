"""Pivot explorer: P&L and exposure by any hierarchy, as held or looked through.

The whole view lives in the URL (backend.pivot.view_state). The page's layout
answers the URL's view itself (through the cached pivot service), so the first
paint already shows numbers; after that, control changes go through one reducer
callback that re-validates the view exactly as a link would be, and one query
callback. Expanding and collapsing groups happens in the browser
(assets/pivot_grid.js).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import dash
import dash_ag_grid as dag
import dash_mantine_components as dmc
from dash import ALL, MATCH, Input, Output, Patch, State, callback, clientside_callback, ctx, dcc, html, no_update
from dash.dependencies import ClientsideFunction
from pydantic import ValidationError

from backend.api.errors import describe_validation
from backend.cache import cached_call, request_key
from backend.pivot.catalog import DIMENSIONS
from backend.pivot.drill import DrillError, count_trades, drill_scope, fetch_page
from backend.pivot.engine import distinct_values, latest_trade_date
from backend.pivot.export import screen_csv
from backend.pivot.request import PivotRequestError
from backend.pivot.result import tree_rows
from backend.pivot.service import pivot_answer as answer
from backend.pivot.view_state import (
    FILTERABLE,
    ViewState,
    exposure_conflict,
    grid_rows,
    narrowed,
    parse_view,
    revise,
    to_query,
    types_for,
)
from backend.stores import current_stores
from components import pivot_charts as charts
from components import pivot_summary as summary
from components.pivot_controls import active_filters, controls_panel, row_list
from components.pivot_controls import ids as cids
from components.pivot_grid import EMPTY_TEXT, column_defs, metric_fields, pivot_grid, split_index, total_row
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
    PHONE = "pivot-phone"
    ROOT = "pivot-root"
    ASIDE = "pivot-aside"
    SAVED_SLOT = "pivot-saved-slot"
    DRAWER = "pivot-drawer"
    PANEL_TOGGLE = "pivot-panel-toggle"
    KIOSK_TITLE = "pivot-kiosk-title"
    NOTICES = "pivot-notices"
    ERROR = "pivot-error"
    TRUNCATED = "pivot-truncated"
    FRESHNESS = "pivot-freshness"
    LOADING = "pivot-loading"
    GRID = "pivot-grid"
    TABLE_BOX = "pivot-table-box"
    CHART_BOX = "pivot-chart-box"
    VIEW = "pivot-view"
    VIEW_TABS = "pivot-view-tabs"
    CHART_KICK = "pivot-chart-kick"
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
TABLE_BOX_CLASS = "pivot-table-box"
RAW_CSV = "/api/v1/trades.csv"


def _query_of(kwargs: dict[str, Any]) -> str:
    return urlencode([(k, v) for k, vs in kwargs.items() for v in (vs if isinstance(vs, list) else [vs])])


def _notice_list(notices: list[str]) -> Any:
    if not notices:
        return None
    return dmc.Alert([html.Div(n) for n in notices], title="Parts of the link were not understood",
                     color="yellow", withCloseButton=True, className="pivot-notice")


def _help_table() -> dmc.Table:
    # Rows built from table parts: a Kbd inside ``Table(data=...)`` is not a React child (error #31).
    rows = [dmc.TableTr([dmc.TableTd(dmc.Kbd(key)), dmc.TableTd(action)]) for key, action in SHORTCUTS]
    head = dmc.TableThead(dmc.TableTr([dmc.TableTh("Key"), dmc.TableTh("Action")]))
    return dmc.Table([head, dmc.TableTbody(rows)], className="pivot-help-table")


def _outputs(state: ViewState, notices: list[str]) -> tuple[Any, ...]:
    """Everything the view decides, in the order of ``_VIEW_OUTPUTS``."""
    query = to_query(state)
    return (
        state.model_dump(mode="json"), state.to_request(), query, _notice_list(notices),
        list(state.rows), row_list(state.rows), list(state.cols), list(state.metrics), state.exposure,
        list(types_for(state)), [d.isoformat() for d in (state.date_from, state.date_to) if d],
        state.stocks, active_filters(state), state.view, state.chart_by, RAW_CSV + query, state.view,
        "pivot-page" + (" pivot-embed" if state.embed else "") + (" pivot-kiosk" if state.kiosk else ""),
        not state.kiosk,
    )


def _sources(state: ViewState) -> tuple[Any, ...]:
    """What each of ``_outputs`` is drawn from; ``None`` for outputs that are always sent."""
    return (
        None, None, None, None, state.rows, state.rows, state.cols, state.metrics, state.exposure,
        types_for(state), (state.date_from, state.date_to), state.stocks, tuple(sorted(state.filters.items())),
        state.view, state.chart_by, None, state.view, (state.embed, state.kiosk), state.kiosk,
    )


def _changed_outputs(old: ViewState, new: ViewState, notices: list[str], keep: frozenset[int]) -> tuple[Any, ...]:
    """``_outputs(new)`` with unchanged controls left alone (re-rendering them costs the browser
    time, and the root's class carries the panel's open/closed state); ``keep`` are always sent."""
    before, after = _sources(old), _sources(new)
    return tuple(v if i in keep or after[i] is None or after[i] != before[i] else no_update
                 for i, v in enumerate(_outputs(new, notices)))


# -- one answer, drawn: shared by the first render and the query callback ----------------
def pivot_answer(body: dict[str, Any]) -> dict[str, Any]:
    return answer(current_stores(), body)


def _latest_date() -> Any:
    """The newest trade date, cached per data version (every page load asks)."""
    stores = current_stores()
    wh = stores.warehouse
    key = request_key("pivot-latest-date", {}, wh.data_version())
    found, _ = cached_call(stores.cache.cache, key, lambda: {"day": latest_trade_date(wh)})
    return found["day"]


def _error_text(exc: Exception) -> str:
    if isinstance(exc, PivotRequestError):
        return str(exc)
    if isinstance(exc, ValidationError):
        return describe_validation(exc)
    return "The query failed on the server; your selections are kept. Try again or change the view."


def _drawn(state: ViewState, payload: dict[str, Any]) -> dict[str, Any]:
    """The grid, stores and text lines for one answer of ``state``'s request."""
    tree = tree_rows(payload)
    meta = payload.get("meta") or {}
    defs = column_defs(payload["dimensions"], payload["columns"], payload["metrics"], payload["column_values"],
                       tree, state.sort_field, state.sort_desc, state.sort_column, summary.as_of(state, meta),
                       tree_width=280 if state.kiosk else 170)
    truncated = dmc.Alert("Some groups were cut to the top rows; the rest are folded into \"Other\" rows.",
                          color="blue", className="pivot-truncated") if payload.get("truncated") else None
    title, subtitle = summary.view_title(state, meta)
    return {
        "result": {"tree": tree, "totals": payload["totals"], "dimensions": payload["dimensions"]},
        "colvals": {"columns": payload["columns"], "values": payload["column_values"]},
        "defs": defs,
        "rows": grid_rows(tree, state.expansion),
        "totals": payload["totals"],
        "freshness": summary.freshness(state, meta),
        "truncated": truncated,
        "title": [html.Div(title, className="pivot-kiosk-heading"), html.Div(subtitle, className="pivot-kiosk-sub")],
    }


def _first_answer(state: ViewState) -> tuple[dict[str, Any] | None, Any]:
    try:
        return _drawn(state, pivot_answer(state.to_request())), None
    except Exception as exc:  # noqa: BLE001 - shown to the user; the page still renders its controls
        return None, dmc.Alert(_error_text(exc), title="The pivot could not be computed", color="red")


def layout(**kwargs: Any) -> html.Div:
    parsed = parse_view(_query_of(kwargs), latest_date=_latest_date())
    state = parsed.state
    out = _outputs(state, parsed.notices)
    drawn, error = _first_answer(state)
    drawn = drawn or {}
    toolbar = dmc.Group(
        [
            dmc.Button("☰ Controls", id=ids.PANEL_TOGGLE, variant="subtle", size="compact-sm"),
            dmc.SegmentedControl(id=ids.VIEW, value=state.view, size="xs",
                                 data=[{"value": "table", "label": "Table"}, {"value": "chart", "label": "Chart"}]),
            dmc.Button("Expand all", id=ids.EXPAND_ALL, variant="light", size="compact-sm"),
            dmc.Button("Collapse all", id=ids.COLLAPSE_ALL, variant="light", size="compact-sm"),
            dmc.Button("Export CSV", id=ids.EXPORT, variant="light", size="compact-sm"),
            html.A("Raw trades CSV", id=ids.RAW_EXPORT, href=out[15], className="pivot-raw-link pivot-phone-hide",
                   download=""),
            dmc.Button("?", id=ids.HELP, variant="subtle", size="compact-sm", className="pivot-phone-hide",
                       attributes={"aria-label": "Keyboard shortcuts", "title": "Keyboard shortcuts (?)"}),
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
        id=ids.CHART_BOX, className="pivot-chart-box",
    )
    grid = pivot_grid(ids.GRID, drawn.get("rows"), drawn.get("defs"), drawn.get("totals"),
                      EMPTY_TEXT if error is None else "The pivot could not be computed; see the message above.")
    return html.Div(
        [
            dcc.Store(id=ids.STATE, data=out[0]),
            dcc.Store(id=ids.REQUEST, data=out[1]),
            dcc.Store(id=ids.QUERY, data=out[2]),
            dcc.Store(id=ids.RESULT, data=drawn.get("result")),
            dcc.Store(id=ids.COLVALS, data=drawn.get("colvals")),
            dcc.Store(id=ids.URL_SHOWN),
            dcc.Store(id=ids.POPSTATE),
            dcc.Store(id=ids.PHONE, data=False),
            dcc.Store(id=ids.DRILL_SCOPE),
            dcc.Download(id=ids.DOWNLOAD),
            dcc.Store(id=ids.CHART_KICK),
            dcc.Interval(id=ids.KIOSK_TICK, interval=60_000, disabled=out[18]),
            html.Aside(controls_panel(state), id=ids.ASIDE, className="pivot-panel db-embed-hide db-kiosk-hide"),
            html.Main(
                [
                    html.Div(drawn.get("title"), id=ids.KIOSK_TITLE, className="pivot-kiosk-title"),
                    toolbar,
                    html.Div(saved_views("pivot"), id=ids.SAVED_SLOT, className="db-embed-hide"),
                    html.Div(out[3], id=ids.NOTICES, className="db-embed-hide"),
                    html.Div(error, id=ids.ERROR, role="alert"),
                    html.Div(drawn.get("truncated"), id=ids.TRUNCATED),
                    # An unmounted panel loads nothing: the table view never loads Plotly.
                    dmc.Tabs([dmc.TabsPanel(html.Div(grid, id=ids.TABLE_BOX, className=TABLE_BOX_CLASS), value="table"),
                              dmc.TabsPanel(charts_box, value="chart")],
                             id=ids.VIEW_TABS, value=state.view, keepMounted=False, className="pivot-view-tabs"),
                    html.Div(drawn.get("freshness"), id=ids.FRESHNESS, className="pivot-freshness"),
                ],
                className="pivot-main",
            ),
            dmc.Drawer(id=ids.DRAWER, title="Pivot controls", children=[], position="left", size="88%",
                       className="pivot-drawer"),
            dmc.Modal(id=ids.DRILL_MODAL, title="Trades", size="90%", children=html.Div(id=ids.DRILL_BODY)),
            dmc.Modal(id=ids.HELP_MODAL, title="Keyboard shortcuts", children=_help_table()),
        ],
        id=ids.ROOT, className=out[17],
    )


# -- the reducer: every control change becomes a new, re-validated view ------------
_VIEW_OUTPUTS = [
    Output(ids.STATE, "data"), Output(ids.REQUEST, "data"), Output(ids.QUERY, "data"), Output(ids.NOTICES, "children"),
    Output(cids.ROWS, "value"), Output(cids.ROW_LIST, "children"), Output(cids.COLS, "value"),
    Output(cids.METRICS, "value"), Output(cids.EXPOSURE, "value"), Output(cids.TYPES, "value"),
    Output(cids.DATES, "value"), Output(cids.STOCKS, "value"), Output(cids.ACTIVE_FILTERS, "children"),
    Output(ids.VIEW, "value"), Output(ids.CHART_BY, "value"), Output(ids.RAW_EXPORT, "href"),
    Output(ids.VIEW_TABS, "value"), Output(ids.ROOT, "className"), Output(ids.KIOSK_TICK, "disabled"),
]
_TYPES_AT = 9  # position of the exposure-type chips in _VIEW_OUTPUTS


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


def _sorted_by(event: dict[str, Any] | None, colvals: dict[str, Any] | None) -> dict[str, Any]:
    """A header click as a sort: ``pnl`` is the total, ``pnl__c3`` the third split column's."""
    sort = (event or {}).get("data") or {}
    if not sort:
        return {}
    col_id = sort.get("colId")
    if not isinstance(col_id, str) or not col_id:
        return {"sort_field": None, "sort_column": ()}
    metric, index = split_index(col_id)
    column: tuple[str, ...] = ()
    if index is not None:
        values = (colvals or {}).get("values") or []
        if not 0 <= index < len(values):
            return {}  # a column of an answer that has since been replaced
        column = tuple("" if v is None else str(v) for v in values[index])
    return {"sort_field": metric, "sort_desc": sort.get("sort") != "asc", "sort_column": column}


def _changes(trigger: Any, state: ViewState, values: dict[str, Any]) -> dict[str, Any] | str:
    """What the triggering control asks for, or a refusal message for the exposure types."""
    if isinstance(trigger, dict):
        if trigger.get("type") == "pivot-row-move":
            return {"rows": _moved(state.rows, trigger["dim"], trigger["step"])}
        if trigger.get("type") == "pivot-filter-clear":
            return {"filters": {k: v for k, v in state.filters.items() if k != trigger["dim"]}}
        return {}
    simple = {cids.ROWS: "rows", cids.COLS: "cols", cids.METRICS: "metrics", ids.VIEW: "view", ids.CHART_BY: "chart_by",
              cids.STOCKS: "stocks"}
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
        return _sorted_by(values[trigger], values["colvals"])
    if trigger == ids.PNL_CHART or trigger == ids.GROSS_CHART:
        return _drill_chart(state, state.rows[0], charts.clicked_value(values[trigger]), deeper=True)
    if trigger == ids.PIE_CHART:
        return _drill_chart(state, state.chart_by, charts.clicked_value(values[trigger]), deeper=False)
    return {}


# What an answer changes on screen; the reducer and the kiosk refresh both draw answers.
_ANSWER_OUTPUTS = [
    Output(ids.RESULT, "data"), Output(ids.COLVALS, "data"), Output(ids.GRID, "columnDefs"),
    Output(ids.GRID, "dashGridOptions"), Output(ids.FRESHNESS, "children"), Output(ids.TRUNCATED, "children"),
    Output(ids.ERROR, "children"), Output(ids.KIOSK_TITLE, "children"),
]
_NO_ANSWER = tuple(no_update for _ in _ANSWER_OUTPUTS)


def _answer_outputs(state: ViewState) -> tuple[Any, ...]:
    """``_ANSWER_OUTPUTS`` for ``state``'s request; on failure a banner, and the rows shown stay."""
    try:
        drawn = _drawn(state, pivot_answer(state.to_request()))
    except Exception as exc:  # noqa: BLE001 - shown to the user; the previous result stays
        banner = dmc.Alert(_error_text(exc), title="The pivot could not be computed", color="red")
        return (*(no_update for _ in range(6)), banner, no_update)
    options = Patch()
    options["pinnedBottomRowData"] = [total_row(drawn["totals"])]
    return (drawn["result"], drawn["colvals"], drawn["defs"], options, drawn["freshness"], drawn["truncated"], None,
            drawn["title"])


def _view_and_answer(old: ViewState, new: ViewState, notices: list[str],
                     keep: frozenset[int] = frozenset()) -> tuple[Any, ...]:
    # One round trip per action: the new view and its answer go back together. A change
    # that asks the engine nothing new (table/chart, chart dimension) costs no query.
    fresh = (new.to_request(), new.sort_column, new.stocks) != (old.to_request(), old.sort_column, old.stocks)
    return (*_changed_outputs(old, new, notices, keep), None, *(_answer_outputs(new) if fresh else _NO_ANSWER))


# Lists a view cannot be without: sent back to the control that changed, so an emptied
# list shows the view's value again. (Not the date picker: half a range is not a refusal.)
_ECHO = {cids.ROWS: (4, 5), "pivot-row-move": (4, 5), cids.METRICS: (7,)}


@callback(
    *_VIEW_OUTPUTS,
    Output(cids.TYPES_REFUSED, "children"),
    *_ANSWER_OUTPUTS,
    Input(cids.ROWS, "value"), Input({"type": "pivot-row-move", "dim": ALL, "step": ALL}, "n_clicks"),
    Input(cids.COLS, "value"), Input(cids.METRICS, "value"), Input(cids.EXPOSURE, "value"),
    Input(cids.TYPES, "value"), Input(cids.DATES, "value"), Input(cids.STOCKS, "value"),
    Input(cids.FILTER_VALUES, "value"),
    Input({"type": "pivot-filter-clear", "dim": ALL}, "n_clicks"), Input(ids.GRID, "eventData"),
    Input(ids.VIEW, "value"), Input(ids.CHART_BY, "value"), Input(ids.PNL_CHART, "clickData"),
    Input(ids.PIE_CHART, "clickData"), Input(ids.GROSS_CHART, "clickData"), Input(ids.POPSTATE, "data"),
    State(ids.COLVALS, "data"), State(ids.STATE, "data"), State(cids.FILTER_DIM, "value"),
    running=[(Output(ids.LOADING, "style"), {"visibility": "visible"}, {"visibility": "hidden"}),
             (Output(ids.TABLE_BOX, "className"), f"{TABLE_BOX_CLASS} pivot-busy", TABLE_BOX_CLASS)],
    prevent_initial_call=True,
)
def update_view(*args: Any) -> tuple[Any, ...]:
    trigger = ctx.triggered_id
    state = ViewState.model_validate(args[-2])
    nothing = tuple(no_update for _ in range(len(_VIEW_OUTPUTS) + 1 + len(_ANSWER_OUTPUTS)))
    if trigger == ids.POPSTATE:
        parsed = parse_view((args[-4] or {}).get("search", ""), latest_date=state.date_from)
        return _view_and_answer(state, parsed.state, parsed.notices, frozenset(range(len(_VIEW_OUTPUTS))))
    if isinstance(trigger, dict) and not ctx.triggered[0].get("value"):
        return nothing  # a button re-rendered, not clicked
    values = {t["id"]: t.get("value") for t in ctx.inputs_list if isinstance(t, dict) and isinstance(t["id"], str)}
    values["filter_dim"], values["colvals"] = args[-1], args[-3]
    changes = _changes(trigger, state, values)
    if isinstance(changes, str):
        refused = dmc.Alert(changes, title="Not allowed: double counting", color="red", className="pivot-refused")
        out = [no_update] * len(_VIEW_OUTPUTS)
        out[_TYPES_AT] = list(types_for(state))  # put the chips back as they were
        return (*out, refused, *_NO_ANSWER)
    parsed = revise(state, **changes)
    echo = frozenset(_ECHO.get(trigger.get("type") if isinstance(trigger, dict) else trigger, ()))
    if parsed.state == state and not parsed.notices:
        # Controls echoing the view back (after a re-render) must not re-run the query; a
        # control left showing what the view refused (an emptied list) gets the view's value.
        view = _outputs(state, [])
        return (*(view[i] if i in echo else no_update for i in range(len(_VIEW_OUTPUTS))), None, *_NO_ANSWER)
    return _view_and_answer(state, parsed.state, parsed.notices, echo)


# -- kiosk refresh ----------------------------------------------------------------------
@callback(
    *(Output(o.component_id, o.component_property, allow_duplicate=True) for o in _ANSWER_OUTPUTS),
    Input(ids.KIOSK_TICK, "n_intervals"), State(ids.STATE, "data"),
    prevent_initial_call=True,  # the layout carries the first answer
)
def refresh(_tick: int | None, state_json: dict[str, Any]) -> tuple[Any, ...]:
    return _answer_outputs(ViewState.model_validate(state_json))


clientside_callback(ClientsideFunction("pivot", "visibleRows"), Output(ids.GRID, "rowData"),
                    Input(ids.RESULT, "data"), Input(ids.STATE, "data"), prevent_initial_call=True)
clientside_callback(ClientsideFunction("pivot", "expand"), Output(ids.STATE, "data", allow_duplicate=True),
                    Input(ids.GRID, "cellRendererData"), Input(ids.EXPAND_ALL, "n_clicks"),
                    Input(ids.COLLAPSE_ALL, "n_clicks"), State(ids.STATE, "data"), prevent_initial_call=True)
clientside_callback(ClientsideFunction("pivot", "writeUrl"), Output(ids.URL_SHOWN, "data"),
                    Input(ids.STATE, "data"), Input(ids.QUERY, "data"))
clientside_callback(ClientsideFunction("pivot", "togglePanel"),
                    Output(ids.ROOT, "className", allow_duplicate=True), Output(ids.DRAWER, "opened"),
                    Input(ids.PANEL_TOGGLE, "n_clicks"), State(ids.ROOT, "className"), State(ids.PHONE, "data"),
                    prevent_initial_call=True)
clientside_callback(ClientsideFunction("pivot", "isPhone"), Output(ids.PHONE, "data"), Input(ids.ROOT, "id"))
clientside_callback(ClientsideFunction("pivot", "chartKick"), Output(ids.CHART_KICK, "data"),
                    Input(ids.VIEW, "value"), Input(ids.REQUEST, "data"), Input(ids.KIOSK_TICK, "n_intervals"),
                    State(ids.CHART_KICK, "data"))
clientside_callback("function(n, open) { return !open; }", Output(ids.HELP_MODAL, "opened"),
                    Input(ids.HELP, "n_clicks"), State(ids.HELP_MODAL, "opened"), prevent_initial_call=True)


@callback(
    Output(ids.ASIDE, "children"), Output(ids.SAVED_SLOT, "children"), Output(ids.DRAWER, "children"),
    Output(ids.DRAWER, "opened", allow_duplicate=True),
    Input(ids.PHONE, "data"), State(ids.STATE, "data"), prevent_initial_call=True,
)
def place_controls(phone: bool, state_json: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    """On a phone the grid comes first and the controls open in a drawer; elsewhere they sit beside it."""
    panel, views = controls_panel(ViewState.model_validate(state_json)), saved_views("pivot")
    return ([], [], [views, panel], no_update) if phone else (panel, views, [], False)


# -- filters ------------------------------------------------------------------------
@callback(
    Output(cids.FILTER_VALUES, "data"), Output(cids.FILTER_VALUES, "value"),
    Input(cids.FILTER_DIM, "value"), Input(cids.FILTER_VALUES, "searchValue"),
    Input(cids.FILTER_VALUES, "dropdownOpened"),
    State(cids.FILTER_VALUES, "value"), State(ids.STATE, "data"),
    prevent_initial_call=True,  # values load when asked for: the page's first queries are its answer
)
def filter_options(dim: str, search: str | None, opened: bool | None, chosen: list[str] | None,
                   state_json: dict) -> tuple[Any, Any]:
    if dim not in FILTERABLE:
        return [], []
    if ctx.triggered_id == cids.FILTER_VALUES and "dropdownOpened" in ctx.triggered[0]["prop_id"] and not opened:
        return no_update, no_update
    current = list(ViewState.model_validate(state_json).filters.get(dim, ()))
    values = distinct_values(current_stores().warehouse, dim, search=(search or "")[:200], limit=200)
    new_dim = ctx.triggered_id == cids.FILTER_DIM
    keep = current if new_dim else (chosen or [])
    return sorted(set(values) | set(keep)), keep if new_dim else no_update


# -- charts -------------------------------------------------------------------------
@callback(
    Output(ids.PNL_CHART, "figure"), Output(ids.PIE_CHART, "figure"), Output(ids.GROSS_CHART, "figure"),
    Input(ids.CHART_KICK, "data"), Input(ids.CHART_BY, "value"), Input("shell-theme", "data"),
    State(ids.REQUEST, "data"), State(ids.VIEW, "value"), State(ids.STATE, "data"),
    # The table view asks for no charts: chartKick (in the browser) starts them in the chart view.
    prevent_initial_call=True,
)
def draw_charts(_kick: Any, chart_by: str, theme: str | None, body: dict[str, Any], view: str,
                state_json: dict) -> tuple:
    if view != "chart":
        return no_update, no_update, no_update
    state = ViewState.model_validate(state_json)
    dark = theme == "dark" or state.kiosk
    first = state.rows[0]
    base = {**body, "columns": [], "limit": state.top}
    base.pop("sort", None)
    pnl_only = {**base, "dimensions": [first], "metrics": ["pnl"]}
    try:
        best = pivot_answer({**pnl_only, "sort": {"field": "pnl", "direction": "desc"}})
        worst = pivot_answer({**pnl_only, "sort": {"field": "pnl", "direction": "asc"}})
        pie = pivot_answer({**base, "dimensions": [chart_by], "metrics": ["gross_exposure"],
                            "sort": {"field": "gross_exposure", "direction": "desc"}})
        gross = pivot_answer({**base, "dimensions": [first], "sort": {"field": "gross_exposure", "direction": "desc"},
                              "metrics": ["gross_exposure", "net_exposure", "long_exposure", "short_exposure"]})
    except Exception:  # noqa: BLE001 - the grid's banner already explains failures of this view
        return no_update, no_update, no_update
    return (charts.pnl_bar(best, worst, first, dark), charts.exposure_pie(pie, chart_by, dark),
            charts.exposure_bars(gross, first, dark))


# -- drill-through ------------------------------------------------------------------
def _drill_export(state: ViewState, cells: list[tuple[str, Any]]) -> Any:
    view = narrowed(state, cells)
    if isinstance(view, str):
        return dmc.Text(f"CSV export of these trades is not available: {view}.", size="sm", c="dimmed")
    return html.A("Export these trades (CSV)", href=RAW_CSV + to_query(view), download="",
                  className="pivot-drill-export")


@callback(
    Output(ids.DRILL_MODAL, "opened"), Output(ids.DRILL_MODAL, "title"), Output(ids.DRILL_BODY, "children"),
    Output(ids.DRILL_SCOPE, "data"),
    Input(ids.GRID, "cellDoubleClicked"), State(ids.REQUEST, "data"), State(ids.COLVALS, "data"),
    State(ids.STATE, "data"),
    prevent_initial_call=True,
)
def open_drill(cell: dict[str, Any] | None, body: dict[str, Any], colvals: dict[str, Any] | None,
               state_json: dict[str, Any]) -> tuple:
    try:
        path = json.loads((cell or {}).get("rowId") or "null")
    except ValueError:
        return no_update, no_update, no_update, no_update
    if not isinstance(path, list) or not path or path[-1] is None:
        return no_update, no_update, no_update, no_update  # total and "Other" rows hold no single set of trades
    _metric, index = split_index(str((cell or {}).get("colId") or ""))
    values = (colvals or {}).get("values") or []
    column_path = list(values[index]) if index is not None and 0 <= index < len(values) else []
    state = ViewState.model_validate(state_json)
    try:
        scope = drill_scope(body, path, column_path)
        total = count_trades(current_stores().warehouse, scope)
    except DrillError as exc:
        return True, "Trades", dmc.Alert(str(exc), color="red"), None
    title = "Trades · " + " › ".join("—" if v in (None, "") else str(v) for v in [*path, *column_path])
    cells = [*zip(state.rows, path, strict=False), *zip(state.cols, column_path, strict=False)]
    grid = dag.AgGrid(
        id=ids.drill_grid(json.dumps([path, column_path])[:200]),
        rowModelType="infinite",
        columnDefs=summary.drill_columns(scope.exposure),
        defaultColDef={"resizable": True},
        dashGridOptions={"cacheBlockSize": 200, "maxBlocksInCache": 20, "rowBuffer": 20, "rowHeight": 30,
                         "localeText": {"noRowsToShow": "No trades."}},
        style={"height": "60vh"},
        className="pivot-drill-grid",
    )
    head = dmc.Group([dmc.Text(f"{total:,} trade{'' if total == 1 else 's'}", fw=600, className="pivot-drill-count"),
                      _drill_export(state, cells)], justify="space-between", mb="xs")
    return True, title, [head, grid], {"request": body, "path": path, "column_path": column_path, "total": total}


@callback(
    Output(ids.drill_grid(MATCH), "getRowsResponse"), Input(ids.drill_grid(MATCH), "getRowsRequest"),
    State(ids.DRILL_SCOPE, "data"), prevent_initial_call=True,
)
def drill_rows(req: dict[str, Any] | None, scope: dict[str, Any] | None) -> Any:
    if not req or not scope:
        return no_update
    start, end = int(req.get("startRow", 0)), int(req.get("endRow", 100))
    total = scope.get("total") if isinstance(scope.get("total"), int) else None
    try:
        page = fetch_page(current_stores().warehouse, drill_scope(scope["request"], scope["path"], scope["column_path"]),
                          offset=start, limit=max(1, min(end - start, 5000)), sort=req.get("sortModel") or [],
                          total=total)
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
