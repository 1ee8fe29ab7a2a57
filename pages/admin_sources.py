"""/admin/sources: the feeds and stores Deskboard reads — status, lag, message rate, last error.

Redrawn every few seconds; the feed's message rate is measured between two redraws (the last
reading of its counter is kept in the browser). The status filter lives in the URL (``?status=down``).
"""

from __future__ import annotations

from typing import Any, Final

import dash
import dash_ag_grid as dag
import dash_mantine_components as dmc
from dash import Input, Output, State, callback, dcc, html, set_props
from flask import current_app

from backend.jobs.runtime import EXTENSION_KEY as JOBS_KEY
from backend.market.service import current_market_service
from backend.sources import STATUSES, Sample, data_sources, feed_sample
from backend.stores import current_stores
from components.admin_nav import admin_href, notice, page_header

dash.register_page(__name__, path="/admin/sources", title="Data sources", name="Data sources", nav=False)

URL = "url"
REFRESH_MS: Final = 5_000


class ids:
    TICK = "sources-tick"
    GRID = "sources-grid"
    SAMPLE = "sources-sample"
    STATUS = "sources-status"
    NOTICES = "sources-notices"


COLUMNS = [
    {"field": "name", "headerName": "Source", "width": 230},
    {"field": "kind", "headerName": "Kind", "width": 100},
    {"field": "status", "headerName": "Status", "width": 100,
     "cellClassRules": {"admin-status-ok": "params.value === 'ok'",
                        "admin-status-warn": "params.value === 'degraded'",
                        "admin-status-bad": "params.value === 'down'"}},
    {"field": "lag", "headerName": "Lag (s)", "width": 90, "type": "rightAligned"},
    {"field": "rate", "headerName": "Messages/s", "width": 110, "type": "rightAligned"},
    {"field": "last_error", "headerName": "Last error", "width": 220, "tooltipField": "last_error"},
    {"field": "detail", "headerName": "Detail", "flex": 1, "minWidth": 240, "tooltipField": "detail"},
]


def read(status: str | None, previous: Any) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The rows (filtered by status) and this reading of the feed's counter."""
    market = current_market_service()
    sample = feed_sample(market)
    sources = data_sources(current_stores(), market=market, jobs=current_app.extensions.get(JOBS_KEY),
                           previous=Sample.from_dict(previous), now=sample.at if sample else None)
    rows = [{"id": s.name, "name": s.name, "kind": s.kind, "status": s.status,
             "lag": "" if s.lag_seconds is None else f"{s.lag_seconds:,.1f}",
             "rate": "" if s.message_rate is None else f"{s.message_rate:,.1f}",
             "last_error": s.last_error or "", "detail": s.detail}
            for s in sources if status is None or s.status == status]
    return rows, None if sample is None else {"at": sample.at, "messages": sample.messages}


def layout(status: str | None = None, **_query: Any) -> html.Div:
    problems = []
    if status not in (None, "") and status not in STATUSES:
        problems.append(notice(f"status: one of {', '.join(STATUSES)}; showing every source", "yellow"))
        status = None
    status = status or None
    rows, sample = read(status, None)
    return html.Div([
        page_header("Data sources", "/admin/sources"),
        html.Div(problems, id=ids.NOTICES, role="status"),
        dcc.Interval(id=ids.TICK, interval=REFRESH_MS),
        dcc.Store(id=ids.SAMPLE, data=sample),
        dmc.SegmentedControl(id=ids.STATUS, value=status or "all", size="xs", mb="sm", className="db-kiosk-hide",
                             data=[{"value": "all", "label": "All"}] + [{"value": s, "label": s} for s in STATUSES]),
        dag.AgGrid(id=ids.GRID, rowData=rows, columnDefs=COLUMNS, getRowId="params.data.id",
                   defaultColDef={"resizable": True, "suppressHeaderMenuButton": True},
                   dashGridOptions={"domLayout": "autoHeight", "rowHeight": 30, "tooltipShowDelay": 300,
                                    "localeText": {"noRowsToShow": "No source has this status."}},
                   className="admin-grid"),
        dmc.Text("Messages per second are measured between two redraws (every 5 s); lag is the time since "
                 "the feed's last message.", size="xs", c="dimmed", mt="xs"),
    ], className="admin-page")


@callback(Input(ids.STATUS, "value"), State(URL, "search"), prevent_initial_call=True)
def choose_status(value: Any, search: str | None) -> None:
    set_props(URL, {"href": admin_href("/admin/sources", search, status=value if value in STATUSES else None)})


@callback(Output(ids.GRID, "rowData"), Output(ids.SAMPLE, "data"),
          Input(ids.TICK, "n_intervals"), State(ids.STATUS, "value"), State(ids.SAMPLE, "data"),
          prevent_initial_call=True)
def refresh(_n: int | None, status: Any, previous: Any) -> tuple[list[dict[str, Any]], Any]:
    return read(status if status in STATUSES else None, previous)
