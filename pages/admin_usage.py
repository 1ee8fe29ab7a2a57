"""/admin/usage: what is used, by whom and how often — views, pivot dimensions, routes, jobs, trends.

The view lives in the URL (``?from=YYYY-MM-DD&to=YYYY-MM-DD&user=NAME``); a bad value gets a
notice and its default. Figures come from the usage events the app records in the warehouse
(``backend.access.usage``), through the questions of ``backend.access.usage_queries``. Events
reach the warehouse within a few seconds of the request (they are written in batches).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import dash
import dash_ag_grid as dag
import dash_mantine_components as dmc
from dash import Input, Output, State, callback, clientside_callback, dcc, html, set_props

from backend.access.usage import current_recorder
from backend.access.usage_queries import UsageFilter, UsageReport, filter_from_url, report
from backend.meta.views import SavedViews
from backend.stores import current_stores
from components import usage_charts as charts
from components.admin_nav import admin_nav

dash.register_page(__name__, path="/admin/usage", title="Usage", name="Usage", order=10)

KIOSK_REFRESH_MS = 60_000
URL = "url"  # the shell's dcc.Location
THEME = "shell-scheme"  # the colour scheme the shell shows


class ids:
    TICK = "usage-kiosk-tick"
    DRAWN = "usage-drawn"
    NOTICES = "usage-notices"
    RANGE_TEXT = "usage-range-text"
    DATES = "usage-dates"
    USER = "usage-user"
    STATS = "usage-stats"
    TREND = "usage-trend"
    DAU = "usage-dau"
    DIMENSIONS = "usage-dimensions"
    METRICS = "usage-metrics"
    ROUTES = "usage-routes"
    VIEWS = "usage-views"


def _today() -> Any:
    return datetime.now(UTC).date()


# -- drawing ---------------------------------------------------------------------------
def _stat(key: str, label: str, value: int, detail: str) -> dmc.Paper:
    return dmc.Paper(
        [dmc.Text(label, size="xs", c="dimmed"),
         dmc.Text(f"{value:,}", size="xl", fw=700, id={"type": "usage-stat", "name": key}),
         dmc.Text(detail, size="xs", c="dimmed")],
        withBorder=True, p="sm", radius="sm", miw=150,
    )


def stats(r: UsageReport | None) -> list[dmc.Paper]:
    t = r.totals if r else {}
    peak = max(r.daily_active_users, key=lambda x: (x[1], x[0]), default=None) if r else None
    return [
        _stat("active_users", "Active users", t.get("active_users", 0),
              f"peak {peak[1]:,} on {peak[0]}" if peak else "nobody in this range"),
        _stat("page_view", "Page views", t.get("page_view", 0), "pages opened, in-app navigation included"),
        _stat("api_call", "API calls", t.get("api_call", 0), "requests to /api"),
        _stat("pivot", "Pivots", t.get("pivot", 0), "pivot requests"),
        _stat("job", "Jobs", t.get("job", 0), "jobs submitted"),
    ]


def route_rows(r: UsageReport | None) -> list[dict[str, Any]]:
    return [{**x, "id": f"{x['kind']}|{x['route']}", "kind": charts.KIND_LABELS.get(x["kind"], x["kind"]),
             "p50": round(x["p50"], 1), "p95": round(x["p95"], 1)} for x in (r.routes if r else [])]


def view_rows(r: UsageReport | None) -> list[dict[str, Any]]:
    return [{"page": x["page"], "query": x["query"], "views": x["views"], "users": x["users"],
             "saved": x.get("saved", ""), "id": f"{x['page']}?{x['query']}",
             "href": f"{x['page']}?{x['query']}" if x["query"] else x["page"]} for x in (r.views if r else [])]


def _figures(r: UsageReport | None, f: UsageFilter) -> dict[str, Any]:
    return {"trend": charts.trend_figure(r.trend if r else [], f.start, f.end),
            "dau": charts.active_users_figure(r.daily_active_users if r else [], f.start, f.end),
            "dimensions": charts.top_figure(r.dimensions if r else [], "dimensions"),
            "metrics": charts.top_figure(r.metrics if r else [], "metrics")}


def _range_text(f: UsageFilter) -> str:
    days = (f.end - f.start).days + 1
    who = f"user {f.user}" if f.user else "all users"
    return f"{f.start} to {f.end} ({days} day{'' if days == 1 else 's'}), {who}"


def _notices(notices: list[str]) -> list[dmc.Alert]:
    return [dmc.Alert(n, color="yellow", variant="light", mb=4, className="usage-notice") for n in notices]


def load(query: dict[str, Any]) -> tuple[UsageFilter, UsageReport | None, list[str]]:
    """The filter from the URL, its report, and what to tell the user (bad values, no recorder, no warehouse)."""
    f, notices = filter_from_url(query, _today())
    recorder = current_recorder()
    if recorder is None:
        return f, None, [*notices, "Usage is not recorded on this server."]
    try:
        saved = SavedViews(current_stores().meta)
        return f, report(recorder.warehouse, f, saved_of=saved.list), notices
    except Exception as exc:  # noqa: BLE001 - the page says why instead of failing
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        return f, None, [*notices, f"Usage cannot be read now: {reason}"]


def _grid(grid_id: str, columns: list[dict[str, Any]], data: list[dict[str, Any]], empty: str) -> dag.AgGrid:
    return dag.AgGrid(
        id=grid_id, rowData=data, columnDefs=columns, getRowId="params.data.id",
        defaultColDef={"sortable": True, "resizable": True, "suppressHeaderMenuButton": True},
        dashGridOptions={"domLayout": "autoHeight", "animateRows": False, "rowHeight": 30,
                         "pagination": True, "paginationPageSize": 20, "paginationPageSizeSelector": False,
                         "localeText": {"noRowsToShow": empty}},
        className="usage-grid",
    )


NUMBER = {"type": "rightAligned", "width": 110, "valueFormatter": {"function": "d3.format(',')(params.value)"}}
ROUTE_COLUMNS = [
    {"field": "route", "headerName": "Page, route or callback", "flex": 2, "minWidth": 240, "tooltipField": "route"},
    {"field": "kind", "headerName": "Kind", "width": 170},
    {"field": "calls", "headerName": "Calls", **NUMBER},
    {"field": "p50", "headerName": "p50 ms", "type": "rightAligned", "width": 110},
    {"field": "p95", "headerName": "p95 ms", "type": "rightAligned", "width": 110},
    {"field": "errors", "headerName": "Failed", **NUMBER},
]
VIEW_COLUMNS = [
    {"field": "page", "headerName": "Page", "width": 160},
    {"field": "query", "headerName": "View (URL state)", "flex": 2, "minWidth": 240, "tooltipField": "href"},
    {"field": "saved", "headerName": "Saved as", "flex": 1, "minWidth": 160, "tooltipField": "saved"},
    {"field": "views", "headerName": "Views", **NUMBER},
    {"field": "users", "headerName": "Users", **NUMBER},
]


def _graph(graph_id: str, figure: dict[str, Any], height: int) -> dcc.Graph:
    return dcc.Graph(id=graph_id, figure=figure, config={"displayModeBar": False, "responsive": True},
                     style={"height": f"{height}px"})


def _card(title: str, child: Any) -> dmc.Paper:
    return dmc.Paper([dmc.Text(title, fw=600, size="sm", mb=4), child], withBorder=True, p="sm", radius="sm")


def layout(kiosk: str | None = None, **query: Any) -> html.Div:
    f, r, notices = load(query)
    figures = _figures(r, f)
    users = list(r.users if r else [])
    if f.user and f.user not in users:
        users.append(f.user)
    return html.Div([
        admin_nav("/admin/usage"),
        dcc.Interval(id=ids.TICK, interval=KIOSK_REFRESH_MS, disabled=kiosk != "1"),
        dcc.Store(id=ids.DRAWN, data=0),
        dmc.Group([dmc.Title("Usage", order=2), dmc.Text(_range_text(f), size="sm", c="dimmed", id=ids.RANGE_TEXT)],
                  justify="space-between", align="center"),
        html.Div(_notices(notices), id=ids.NOTICES, role="status"),
        dmc.Group([
            dmc.DatePickerInput(id=ids.DATES, label="Dates", type="range", allowSingleDateInRange=True,
                                value=[f.start.isoformat(), f.end.isoformat()], valueFormat="YYYY-MM-DD",
                                size="xs", clearable=False, w=240),
            dmc.Select(id=ids.USER, label="User", data=users, value=f.user, placeholder="All users",
                       searchable=True, clearable=True, size="xs", w=240, limit=200),
        ], gap="md", mt="xs", className="db-kiosk-hide"),
        dmc.Group(stats(r), id=ids.STATS, gap="sm", mt="sm", mb="md", align="stretch"),
        dmc.SimpleGrid([
            _card("Events per day, by kind", _graph(ids.TREND, figures["trend"], 280)),
            _card("Active users per day", _graph(ids.DAU, figures["dau"], 280)),
            _card("Pivot dimensions used most", _graph(ids.DIMENSIONS, figures["dimensions"], 300)),
            _card("Pivot metrics used most", _graph(ids.METRICS, figures["metrics"], 300)),
        ], cols={"base": 1, "md": 2}, spacing="sm"),
        dmc.Title("Busiest pages, routes and callbacks", order=4, mt="md", mb="xs"),
        _grid(ids.ROUTES, ROUTE_COLUMNS, route_rows(r), "Nothing recorded in this range."),
        dmc.Title("Most used views", order=4, mt="md", mb="xs"),
        _grid(ids.VIEWS, VIEW_COLUMNS, view_rows(r), "No page views in this range."),
    ], className="usage-page")


# -- callbacks ---------------------------------------------------------------------------
def usage_href(dates: Any, user: Any, search: str | None) -> str | None:
    """The page's URL for the chosen dates and user (embed/kiosk kept); None while a range is half chosen."""
    if not isinstance(dates, list) or len(dates) != 2 or not all(isinstance(d, str) and d for d in dates):
        return None
    kept = [(k, v) for k, v in parse_qsl((search or "").lstrip("?")) if k in ("embed", "kiosk")]
    params = [("from", dates[0][:10]), ("to", dates[1][:10])]
    if isinstance(user, str) and user:
        params.append(("user", user))
    return "/admin/usage?" + urlencode(params + kept)


@callback(Input(ids.DATES, "value"), Input(ids.USER, "value"), State(URL, "search"), prevent_initial_call=True)
def choose(dates: Any, user: Any, search: str | None) -> None:
    href = usage_href(dates, user, search)
    if href is not None:
        set_props(URL, {"href": href})


REFRESH_OUT = {"stats": Output(ids.STATS, "children"), "trend": Output(ids.TREND, "figure"),
               "dau": Output(ids.DAU, "figure"), "dimensions": Output(ids.DIMENSIONS, "figure"),
               "metrics": Output(ids.METRICS, "figure"), "routes": Output(ids.ROUTES, "rowData"),
               "views": Output(ids.VIEWS, "rowData"), "notices": Output(ids.NOTICES, "children"),
               "drawn": Output(ids.DRAWN, "data")}


@callback(output=REFRESH_OUT, inputs=[Input(ids.TICK, "n_intervals"), State(URL, "search")],
          prevent_initial_call=True)
def refresh(n: int | None, search: str | None) -> dict[str, Any]:
    """A kiosk's tick: the same view again, with the events recorded since."""
    f, r, notices = load(dict(parse_qsl((search or "").lstrip("?"))))
    return {"stats": stats(r), **_figures(r, f), "routes": route_rows(r), "views": view_rows(r),
            "notices": _notices(notices), "drawn": n or 0}


# Recoloured in the browser for the theme (kiosk is always dark), and again after a kiosk redraw.
clientside_callback(
    charts.THEME_JS,
    Output(ids.TREND, "figure", allow_duplicate=True), Output(ids.DAU, "figure", allow_duplicate=True),
    Output(ids.DIMENSIONS, "figure", allow_duplicate=True), Output(ids.METRICS, "figure", allow_duplicate=True),
    Input(THEME, "data"), Input(ids.DRAWN, "data"), State(URL, "search"),
    State(ids.TREND, "figure"), State(ids.DAU, "figure"), State(ids.DIMENSIONS, "figure"), State(ids.METRICS, "figure"),
    prevent_initial_call="initial_duplicate",
)
