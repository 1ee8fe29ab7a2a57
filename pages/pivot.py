"""Pivot explorer: P&L and exposure by any hierarchy, as held or looked through.

The whole view lives in the URL (backend.pivot.view_state). The page's layout
answers the URL's view itself (through the cached pivot service), so the first
paint already shows numbers; after that, control changes go through one reducer
callback that re-validates the view exactly as a link would be, and one query
callback. Expanding and collapsing groups happens in the browser
(assets/pivot_grid.js). Every read passes the request's data scope
(``current_scope()``): the answers, the charts, the drill-through, the exports and
the filter value lists hold only the rows the user may see.
"""

from __future__ import annotations

from functools import partial
from typing import Any
from urllib.parse import urlencode

import dash
import dash_mantine_components as dmc
from dash import ALL, MATCH, Input, Output, Patch, State, callback, clientside_callback, ctx, dcc, html, no_update
from dash.dependencies import ClientsideFunction
from dash.exceptions import PreventUpdate
from flask import has_request_context

from backend.access.current import current_principal, current_scope
from backend.access.scope_sql import scope_key
from backend.access.sessions import is_user_activity
from backend.access.usage import note_pivot
from backend.access.user_settings import current_prefs, default_pivot_state
from backend.cache import cached_call, request_key
from backend.meta.view_panel import SavedViewsPanel
from backend.meta.views import SavedViews
from backend.pivot.catalog import DIMENSIONS
from backend.pivot.drill import count_trades, fetch_page
from backend.pivot.engine import distinct_values, latest_trade_date
from backend.pivot.names import id_names, with_names
from backend.pivot.result import tree_rows
from backend.pivot.service import pivot_answer as answer
from backend.pivot.view_state import FILTERABLE, ViewState, grid_rows, parse_view, revise, types_for
from backend.stores import current_stores
from components import pivot_actions as actions
from components import pivot_charts as charts
from components import pivot_drill as drill
from components import pivot_summary as summary
from components.job_progress import job_progress
from components.pivot_controls import controls_panel, export_controls
from components.pivot_controls import ids as cids
from components.pivot_grid import EMPTY_TEXT, column_defs, pivot_grid, total_row
from components.saved_views import saved_views, use_service

dash.register_page(__name__, path="/pivot", title="Pivot", name="Pivot", order=1)
# The saved-views panel is handed its service (a component never opens a store nor picks the user).
use_service(lambda: SavedViewsPanel(SavedViews(current_stores().meta), current_principal().id))


class ids:
    STATE = "pivot-state"
    REQUEST = "pivot-request"
    QUERY = "pivot-query"
    RESULT = "pivot-result"
    META = "pivot-meta"
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


SHORTCUTS = [("/", "Focus the filter search"), ("e", "Expand all"), ("c", "Collapse all"),
             ("t", "Switch between table and chart"), ("x", "Export what is on screen as CSV"),
             ("?", "Show this help")]
TABLE_BOX_CLASS = "pivot-table-box"


def _query_of(kwargs: dict[str, Any]) -> str:
    return urlencode([(k, v) for k, vs in kwargs.items() for v in (vs if isinstance(vs, list) else [vs])])


def _help_table() -> dmc.Table:
    # Rows built from table parts: a Kbd inside ``Table(data=...)`` is not a React child (error #31).
    rows = [dmc.TableTr([dmc.TableTd(dmc.Kbd(key)), dmc.TableTd(action)]) for key, action in SHORTCUTS]
    head = dmc.TableThead(dmc.TableTr([dmc.TableTh("Key"), dmc.TableTh("Action")]))
    return dmc.Table([head, dmc.TableTbody(rows)], className="pivot-help-table")


# -- one answer, drawn: shared by the first render and the query callback ----------------
def pivot_answer(body: dict[str, Any]) -> dict[str, Any]:
    return answer(current_stores(), body, current_scope())


LINK_NOTICE = "This signed link shows one view: its controls change nothing."


def _link_view(shown: ViewState) -> ViewState | None:
    """A signed link's own view, shown the way the screen asked (kiosk, embedded), whatever else
    the browser sends: the link's screen can show that one view only. None: not a link."""
    principal = current_principal()
    if principal.via != "link":
        return None
    own = parse_view(principal.link_query or "", latest_date=_latest_date()).state
    return own.model_copy(update={"kiosk": shown.kiosk, "embed": shown.embed})


def _counted(body: dict[str, Any]) -> dict[str, Any]:
    """The request, counted in usage by its dimensions and metrics when a person asked for it
    (a kiosk's timer refreshing the view is not use)."""
    if has_request_context() and is_user_activity():
        note_pivot([*body.get("dimensions", []), *body.get("columns", [])], body.get("metrics", []))
    return body


def _latest_date() -> Any:
    """The newest trade date the user has data on, cached per data version and scope (every page load asks)."""
    stores = current_stores()
    wh = stores.warehouse
    scope = current_scope()
    key = request_key("pivot-latest-date", {"scope": scope_key(scope)}, wh.data_version())
    found, _ = cached_call(stores.cache.cache, key, lambda: {"day": latest_trade_date(wh, scope)})
    return found["day"]


def _id_names() -> dict[str, dict[str, str]]:
    """Names shown beside ids (a manager's beside PM18) of the user's rows, cached per data version and scope."""
    stores = current_stores()
    wh = stores.warehouse
    scope = current_scope()
    found, _ = cached_call(stores.cache.cache,
                           request_key("pivot-id-names", {"scope": scope_key(scope)}, wh.data_version()),
                           lambda: id_names(wh, scope))
    return found


def _drawn(state: ViewState, payload: dict[str, Any]) -> dict[str, Any]:
    """The grid, stores and text lines for one answer of ``state``'s request."""
    tree = with_names(tree_rows(payload), payload["dimensions"], _id_names())
    meta = payload.get("meta") or {}
    defs = column_defs(payload["dimensions"], payload["columns"], payload["metrics"], payload["column_values"],
                       tree, state.sort_field, state.sort_desc, state.sort_column, summary.as_of(state, meta),
                       tree_width=280 if state.kiosk else 170)
    truncated = dmc.Alert("Some groups were cut to the top rows; the rest are folded into \"Other\" rows.",
                          color="blue", className="pivot-truncated") if payload.get("truncated") else None
    title, subtitle = summary.view_title(state, meta)
    return {
        "result": {"tree": tree, "totals": payload["totals"], "dimensions": payload["dimensions"]},
        "meta": meta,
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
        return _drawn(state, pivot_answer(_counted(state.to_request()))), None
    except Exception as exc:  # noqa: BLE001 - shown to the user; the page still renders its controls
        return None, dmc.Alert(summary.error_text(exc), title="The pivot could not be computed", color="red")


def layout(**kwargs: Any) -> html.Div:
    if not kwargs:  # no query string: the user's default saved view, if any (a link's own view always wins)
        kwargs = default_pivot_state(current_stores().meta)
    parsed = parse_view(_query_of(kwargs), latest_date=_latest_date())
    state = _link_view(parsed.state) or parsed.state
    out = actions.view_values(state, parsed.notices)
    drawn, error = _first_answer(state)
    drawn = drawn or {}
    toolbar = dmc.Group(
        [
            dmc.Button("☰ Controls", id=ids.PANEL_TOGGLE, variant="subtle", size="compact-sm"),
            dmc.SegmentedControl(id=ids.VIEW, value=state.view, size="xs",
                                 data=[{"value": "table", "label": "Table"}, {"value": "chart", "label": "Chart"}]),
            dmc.Button("Expand all", id=ids.EXPAND_ALL, variant="light", size="compact-sm"),
            dmc.Button("Collapse all", id=ids.COLLAPSE_ALL, variant="light", size="compact-sm"),
            *export_controls(ids.EXPORT, ids.RAW_EXPORT, out["raw_href"]),
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
            dcc.Store(id=ids.STATE, data=out["state"]),
            dcc.Store(id=ids.REQUEST, data=out["request"]),
            dcc.Store(id=ids.QUERY, data=out["query"]),
            dcc.Store(id=ids.RESULT, data=drawn.get("result")),
            dcc.Store(id=ids.META, data=drawn.get("meta")),
            dcc.Store(id=ids.COLVALS, data=drawn.get("colvals")),
            dcc.Store(id=ids.URL_SHOWN),
            dcc.Store(id=ids.POPSTATE),
            dcc.Store(id=ids.PHONE, data=False),
            dcc.Store(id=ids.DRILL_SCOPE),
            dcc.Download(id=ids.DOWNLOAD),
            dcc.Store(id=ids.CHART_KICK),
            dcc.Interval(id=ids.KIOSK_TICK, interval=60_000, disabled=out["kiosk_off"]),
            html.Aside(controls_panel(state), id=ids.ASIDE, className="pivot-panel db-embed-hide db-kiosk-hide"),
            html.Main(
                [
                    html.Div(drawn.get("title"), id=ids.KIOSK_TITLE, className="pivot-kiosk-title"),
                    toolbar,
                    html.Div(saved_views("pivot"), id=ids.SAVED_SLOT, className="db-embed-hide"),
                    job_progress("pivot-trades", kind="trades_csv", label="Export all trades (job)"),
                    html.Div(out["notices"], id=ids.NOTICES, className="db-embed-hide"),
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
        id=ids.ROOT, className=out["root_class"],
    )


# -- the reducer: every control change becomes a new, re-validated view ------------
# Named outputs: the callbacks return dicts by these names (components.pivot_actions speaks them).
VIEW_OUT = {
    "state": Output(ids.STATE, "data"), "request": Output(ids.REQUEST, "data"), "query": Output(ids.QUERY, "data"),
    "notices": Output(ids.NOTICES, "children"), "rows": Output(cids.ROWS, "value"),
    "row_list": Output(cids.ROW_LIST, "children"), "cols": Output(cids.COLS, "value"),
    "metrics": Output(cids.METRICS, "value"), "exposure": Output(cids.EXPOSURE, "value"),
    "types": Output(cids.TYPES, "value"), "dates": Output(cids.DATES, "value"), "stocks": Output(cids.STOCKS, "value"),
    "active_filters": Output(cids.ACTIVE_FILTERS, "children"), "view": Output(ids.VIEW, "value"),
    "chart_by": Output(ids.CHART_BY, "value"), "raw_href": Output(ids.RAW_EXPORT, "href"),
    "tabs": Output(ids.VIEW_TABS, "value"), "root_class": Output(ids.ROOT, "className"),
    "kiosk_off": Output(ids.KIOSK_TICK, "disabled"),
}
# What an answer changes on screen; the reducer and the kiosk refresh both draw answers.
ANSWER_OUT = {
    "result": Output(ids.RESULT, "data"), "meta": Output(ids.META, "data"), "colvals": Output(ids.COLVALS, "data"),
    "defs": Output(ids.GRID, "columnDefs"), "options": Output(ids.GRID, "dashGridOptions"),
    "freshness": Output(ids.FRESHNESS, "children"), "truncated": Output(ids.TRUNCATED, "children"),
    "error": Output(ids.ERROR, "children"), "title": Output(ids.KIOSK_TITLE, "children"),
}
INPUTS = {
    "rows": Input(cids.ROWS, "value"), "row_move": Input({"type": "pivot-row-move", "dim": ALL, "step": ALL}, "n_clicks"),
    "cols": Input(cids.COLS, "value"), "metrics": Input(cids.METRICS, "value"),
    "exposure": Input(cids.EXPOSURE, "value"), "types": Input(cids.TYPES, "value"), "dates": Input(cids.DATES, "value"),
    "stocks": Input(cids.STOCKS, "value"), "filter_values": Input(cids.FILTER_VALUES, "value"),
    "filter_clear": Input({"type": "pivot-filter-clear", "dim": ALL}, "n_clicks"),
    "grid_sort": Input(ids.GRID, "eventData"), "view": Input(ids.VIEW, "value"), "chart_by": Input(ids.CHART_BY, "value"),
    "pnl_click": Input(ids.PNL_CHART, "clickData"), "pie_click": Input(ids.PIE_CHART, "clickData"),
    "gross_click": Input(ids.GROSS_CHART, "clickData"), "popstate": Input(ids.POPSTATE, "data"),
}
_INPUT_NAMES = {i.component_id: name for name, i in INPUTS.items() if isinstance(i.component_id, str)}


def _no_answer() -> dict[str, Any]:
    return dict.fromkeys(ANSWER_OUT, no_update)


def _answer_values(state: ViewState) -> dict[str, Any]:
    """``ANSWER_OUT`` for ``state``'s request; on failure a banner, and the rows shown stay."""
    try:
        drawn = _drawn(state, pivot_answer(_counted(state.to_request())))
    except Exception as exc:  # noqa: BLE001 - shown to the user; the previous result stays
        banner = dmc.Alert(summary.error_text(exc), title="The pivot could not be computed", color="red")
        return {**_no_answer(), "error": banner}
    options = Patch()
    options["pinnedBottomRowData"] = [total_row(drawn["totals"])]
    return {"result": drawn["result"], "meta": drawn["meta"], "colvals": drawn["colvals"], "defs": drawn["defs"],
            "options": options, "freshness": drawn["freshness"], "truncated": drawn["truncated"], "error": None,
            "title": drawn["title"]}


def _view_and_answer(old: ViewState, new: ViewState, notices: list[str], keep: Any = ()) -> dict[str, Any]:
    # One round trip per action: the new view and its answer go back together. A change
    # that asks the engine nothing new (table/chart, chart dimension) costs no query.
    fresh = (new.to_request(), new.sort_column, new.stocks) != (old.to_request(), old.sort_column, old.stocks)
    return {**actions.changed_values(old, new, notices, keep), "refused": None,
            **(_answer_values(new) if fresh else _no_answer())}


@callback(
    output={**VIEW_OUT, "refused": Output(cids.TYPES_REFUSED, "children"), **ANSWER_OUT},
    inputs=INPUTS,
    state={"colvals": State(ids.COLVALS, "data"), "state": State(ids.STATE, "data"),
           "filter_dim": State(cids.FILTER_DIM, "value")},
    running=[(Output(ids.LOADING, "style"), {"visibility": "visible"}, {"visibility": "hidden"}),
             (Output(ids.TABLE_BOX, "className"), f"{TABLE_BOX_CLASS} pivot-busy", TABLE_BOX_CLASS)],
    prevent_initial_call=True,
)
def update_view(**values: Any) -> Any:
    trigger = ctx.triggered_id
    state = ViewState.model_validate(values["state"])
    pinned = _link_view(state)
    if pinned is not None:  # the controls go back to the link's view; the link's answer only
        if pinned == state:
            return {**actions.view_values(state, [LINK_NOTICE]), "refused": None, **_no_answer()}
        return _view_and_answer(state, pinned, [LINK_NOTICE], VIEW_OUT)
    if trigger == ids.POPSTATE:
        parsed = parse_view((values["popstate"] or {}).get("search", ""), latest_date=state.date_from)
        return _view_and_answer(state, parsed.state, parsed.notices, VIEW_OUT)
    if isinstance(trigger, dict) and not ctx.triggered[0].get("value"):
        return no_update  # a button re-rendered, not clicked
    name = actions.PATTERN_NAMES.get(trigger.get("type")) if isinstance(trigger, dict) else _INPUT_NAMES.get(trigger)
    changes = actions.changes(name or "", trigger, state, values)
    if isinstance(changes, str):
        refused = dmc.Alert(changes, title="Not allowed: double counting", color="red", className="pivot-refused")
        # Put the chips back as they were.
        return {**dict.fromkeys(VIEW_OUT, no_update), "types": list(types_for(state)), "refused": refused,
                **_no_answer()}
    parsed = revise(state, **changes)
    echo = actions.ECHO.get(name or "", ())
    if parsed.state == state and not parsed.notices:
        # Controls echoing the view back (after a re-render) must not re-run the query; a
        # control left showing what the view refused (an emptied list) gets the view's value.
        view = actions.view_values(state, [])
        return {**{k: view[k] if k in echo else no_update for k in VIEW_OUT}, "refused": None, **_no_answer()}
    return _view_and_answer(state, parsed.state, parsed.notices, echo)


# -- kiosk refresh ----------------------------------------------------------------------
@callback(
    output={k: Output(o.component_id, o.component_property, allow_duplicate=True) for k, o in ANSWER_OUT.items()},
    inputs=[Input(ids.KIOSK_TICK, "n_intervals"), State(ids.STATE, "data")],
    prevent_initial_call=True,  # the layout carries the first answer
)
def refresh(_tick: int | None, state_json: dict[str, Any]) -> dict[str, Any]:
    state = ViewState.model_validate(state_json)
    return _answer_values(_link_view(state) or state)


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
    if dim not in FILTERABLE or current_principal().via == "link":
        return [], []
    if ctx.triggered_id == cids.FILTER_VALUES and "dropdownOpened" in ctx.triggered[0]["prop_id"] and not opened:
        return no_update, no_update
    current = list(ViewState.model_validate(state_json).filters.get(dim, ()))
    values = distinct_values(current_stores().warehouse, dim, search=(search or "")[:200], limit=200,
                             scope=current_scope())
    new_dim = ctx.triggered_id == cids.FILTER_DIM
    keep = current if new_dim else (chosen or [])
    return sorted(set(values) | set(keep)), keep if new_dim else no_update


# -- charts -------------------------------------------------------------------------
@callback(
    Output(ids.PNL_CHART, "figure"), Output(ids.PIE_CHART, "figure"), Output(ids.GROSS_CHART, "figure"),
    Input(ids.CHART_KICK, "data"), Input(ids.CHART_BY, "value"), Input("shell-scheme", "data"),
    State(ids.REQUEST, "data"), State(ids.VIEW, "value"), State(ids.STATE, "data"),
    # The table view asks for no charts: chartKick (in the browser) starts them in the chart view.
    prevent_initial_call=True,
)
def draw_charts(_kick: Any, chart_by: str, theme: str | None, body: dict[str, Any], view: str,
                state_json: dict) -> tuple:
    if view != "chart":
        return no_update, no_update, no_update
    state = ViewState.model_validate(state_json)
    pinned = _link_view(state)
    if pinned is not None:
        state, body, chart_by = pinned, pinned.to_request(), pinned.chart_by
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


# -- drill-through and export (components.pivot_drill) ------------------------------
@callback(
    Output(ids.DRILL_MODAL, "opened"), Output(ids.DRILL_MODAL, "title"), Output(ids.DRILL_BODY, "children"),
    Output(ids.DRILL_SCOPE, "data"),
    Input(ids.GRID, "cellDoubleClicked"), State(ids.REQUEST, "data"), State(ids.COLVALS, "data"),
    State(ids.STATE, "data"), State(ids.META, "data"),
    prevent_initial_call=True,
)
def open_drill(cell: dict[str, Any] | None, body: dict[str, Any], colvals: dict[str, Any] | None,
               state_json: dict[str, Any], meta: dict[str, Any] | None) -> tuple:
    if current_principal().via == "link":  # a link shows its view; the trades behind it are not part of it
        raise PreventUpdate
    return drill.open_drill(partial(count_trades, current_stores().warehouse), cell, body, colvals, state_json, meta,
                            data_scope=current_scope(), zone=current_prefs().time_zone)


@callback(
    Output(drill.grid_id(MATCH), "getRowsResponse"), Input(drill.grid_id(MATCH), "getRowsRequest"),
    State(ids.DRILL_SCOPE, "data"), prevent_initial_call=True,
)
def drill_rows(req: dict[str, Any] | None, scope: dict[str, Any] | None) -> Any:
    if current_principal().via == "link":
        raise PreventUpdate
    return drill.drill_rows(partial(fetch_page, current_stores().warehouse, zone=current_prefs().time_zone), req, scope,
                            data_scope=current_scope())


@callback(Output(ids.DOWNLOAD, "data"), Output(ids.ERROR, "children", allow_duplicate=True),
          Input(ids.EXPORT, "n_clicks"), State(ids.REQUEST, "data"), State(ids.STATE, "data"),
          prevent_initial_call=True)
def export_screen(_n: int, body: dict[str, Any], state_json: dict[str, Any]) -> tuple[Any, Any]:
    return drill.screen_export(pivot_answer, body, state_json)
