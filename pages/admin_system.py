"""/admin/system: is the system healthy? Latency per route and callback, errors, feed lag, memory.

Every figure comes from the metrics ``/metrics`` exports (``backend.observability.summary``),
over the last five minutes or since the server started; the page redraws them every few seconds.
"""

from __future__ import annotations

from typing import Any

import dash
import dash_ag_grid as dag
import dash_mantine_components as dmc
from dash import Input, Output, callback, dcc, html

from backend.backup.listing import list_backups
from backend.observability.summary import Latency, SystemSummary, system_summary
from backend.stores import current_stores
from components.admin_nav import admin_nav
from components.job_progress import job_progress

dash.register_page(__name__, path="/admin/system", title="System", name="System", order=9)

REFRESH_MS = 5_000


class ids:
    TICK = "system-tick"
    STATS = "system-stats"
    ROUTES = "system-routes"
    CALLBACKS = "system-callbacks"
    UPDATED = "system-updated"
    SPAN = "system-span"
    BACKUPS = "system-backups"


RECENT, SINCE_START = "recent", "start"


def _percent(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:.2f} %"


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f} ms"


def span_text(span: float | None) -> str:
    if span is None:
        return "Since the server started; refreshed every 5 s."
    minutes, seconds = divmod(round(span), 60)
    covered = f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"
    return f"Over the last {covered}; refreshed every 5 s."


def _stat(key: str, label: str, value: str, detail: str = "", color: str | None = None) -> dmc.Paper:
    shade = {"c": color} if color else {}  # a null colour prop would hide the figure
    return dmc.Paper(
        [dmc.Text(label, size="xs", c="dimmed"),
         dmc.Text(value, size="xl", fw=700, id={"type": "system-stat", "name": key}, **shade),
         dmc.Text(detail, size="xs", c="dimmed", id={"type": "system-detail", "name": key})],
        withBorder=True, p="sm", radius="sm", miw=170,
    )


_FEED_COLORS = {"live": "green", "stale": "orange", "disconnected": "red", "starting": "gray", "stopped": "gray"}


def stats(summary: SystemSummary) -> list[dmc.Paper]:
    errors = summary.server_errors + summary.callback_errors
    rate = summary.error_rate
    feed = summary.feed
    if feed is None:
        feed_value, feed_detail, feed_color = "no feed", "this server runs no market service", "gray"
    else:
        lag = feed.get("lag_seconds")
        feed_value = "–" if lag is None else f"{lag:,.1f} s"
        feed_detail = f"{feed.get('state', '?')} · {int(feed.get('messages', 0)):,} messages"
        feed_color = _FEED_COLORS.get(str(feed.get("state")))
    memory = summary.memory_bytes
    processes = len(summary.memory)
    pivot = summary.pivot
    jobs = summary.jobs
    return [
        _stat("requests", "Requests", f"{summary.requests:,}", "HTTP requests and page updates"),
        _stat("error-rate", "Error rate", _percent(rate),
              f"{errors:,} failed: {summary.server_errors:,} HTTP 5xx, {summary.callback_errors:,} callbacks",
              "red" if rate else None),
        _stat("feed-lag", "Feed lag", feed_value, feed_detail, feed_color),
        _stat("memory", "Memory (RSS)", "–" if memory is None else f"{memory / 2**20:,.0f} MiB",
              f"{processes} process{'' if processes == 1 else 'es'}"),
        _stat("pivot", "Pivot p50 / p95",
              "–" if pivot is None else f"{_ms(pivot.p50_ms)} / {_ms(pivot.p95_ms)}",
              f"cache hit rate {_percent(summary.cache_hit_rate)}"),
        _stat("jobs", "Jobs running", f"{jobs.get('RUNNING', 0):,}",
              f"{jobs.get('QUEUED', 0):,} queued · {jobs.get('FAILED', 0):,} failed"),
    ]


def rows(latencies: list[Latency]) -> list[dict[str, Any]]:
    return [
        {"name": x.name, "requests": x.requests, "p50": x.p50_ms, "p95": x.p95_ms, "errors": x.errors,
         "error_rate": None if x.error_rate is None else round(x.error_rate * 100, 2)}
        for x in latencies
    ]


def _grid(grid_id: str, first: str, data: list[dict[str, Any]]) -> dag.AgGrid:
    number = {"type": "rightAligned", "width": 110}
    columns = [
        {"field": "name", "headerName": first, "flex": 1, "minWidth": 260, "tooltipField": "name"},
        {"field": "requests", "headerName": "Requests", **number},
        {"field": "p50", "headerName": "p50 ms", **number},
        {"field": "p95", "headerName": "p95 ms", **number},
        {"field": "errors", "headerName": "Errors", **number},
        {"field": "error_rate", "headerName": "Error %", **number},
    ]
    return dag.AgGrid(
        id=grid_id, rowData=data, columnDefs=columns, getRowId="params.data.name",
        defaultColDef={"sortable": True, "resizable": True, "suppressHeaderMenuButton": True},
        dashGridOptions={"domLayout": "autoHeight", "animateRows": False, "rowHeight": 30,
                         "localeText": {"noRowsToShow": "Nothing counted yet."}},
        className="system-grid",
    )


def layout(**_query: Any) -> html.Div:
    summary, span = system_summary(dash.get_app().server, recent=True)
    return html.Div([
        admin_nav("/admin/system"),
        dcc.Interval(id=ids.TICK, interval=REFRESH_MS),
        dmc.Group([
            dmc.Group([dmc.Title("System", order=2),
                       dmc.SegmentedControl(id=ids.SPAN, value=RECENT, size="xs",
                                            data=[{"value": RECENT, "label": "Last 5 minutes"},
                                                  {"value": SINCE_START, "label": "Since start"}])],
                      gap="md", align="center"),
            dmc.Text(span_text(span), size="sm", c="dimmed", id=ids.UPDATED),
        ], justify="space-between", align="center"),
        dmc.Group(stats(summary), id=ids.STATS, gap="sm", mt="sm", mb="md", align="stretch"),
        dmc.Title("Routes", order=4, mb="xs"),
        _grid(ids.ROUTES, "Route", rows(summary.routes)),
        dmc.Title("Callbacks", order=4, mt="md", mb="xs"),
        _grid(ids.CALLBACKS, "Callback (outputs)", rows(summary.callbacks)),
        dmc.Title("Backups", order=4, mt="md", mb="xs"),
        dmc.Text("A backup of the records, the warehouse tables and the measurements, taken through the running "
                 "app's own connections into the data directory's backups folder. Restoring is done with the app "
                 "stopped: python -m backend.backup restore DIR.", size="sm", c="dimmed", mb="xs"),
        job_progress("admin-backup", kind="backup", label="Back up now", parameters={}),
        dag.AgGrid(id=ids.BACKUPS, rowData=backup_rows(), columnDefs=[
            {"field": "name", "headerName": "Backup", "flex": 2}, {"field": "created", "headerName": "Taken (UTC)"},
            {"field": "mode"}, {"field": "size", "headerName": "Size", "type": "rightAligned"},
            {"field": "rows", "headerName": "Warehouse rows", "type": "rightAligned"},
            {"field": "problem", "headerName": "Problem", "flex": 2}],
            dashGridOptions={"domLayout": "autoHeight", "animateRows": False, "rowHeight": 30,
                             "localeText": {"noRowsToShow": "No backups yet."}},
            className="system-grid", style={"marginTop": "8px"}),
    ], className="system-page")


def backup_rows() -> list[dict[str, Any]]:
    """The backups in the data directory, newest first (manifests only: checksums are checked on restore)."""
    return [{"name": b.name, "created": b.created_at.strftime("%Y-%m-%d %H:%M:%S") if b.created_at else "",
             "mode": b.mode, "size": f"{b.bytes / 1e6:,.1f} MB", "rows": f"{b.warehouse_rows:,}",
             "problem": b.problem or ""} for b in list_backups(current_stores().settings.data_dir, limit=50)]


@callback(Output(ids.BACKUPS, "rowData"), Input(ids.TICK, "n_intervals"), prevent_initial_call=True)
def refresh_backups(_n: int | None) -> list[dict[str, Any]]:
    return backup_rows()


@callback(Output(ids.STATS, "children"), Output(ids.ROUTES, "rowData"), Output(ids.CALLBACKS, "rowData"),
          Output(ids.UPDATED, "children"),
          Input(ids.TICK, "n_intervals"), Input(ids.SPAN, "value"), prevent_initial_call=True)
def refresh(_n: int | None, span: str | None) -> tuple[list[dmc.Paper], list[dict[str, Any]],
                                                        list[dict[str, Any]], str]:
    summary, covered = system_summary(dash.get_app().server, recent=span != SINCE_START)
    return stats(summary), rows(summary.routes), rows(summary.callbacks), span_text(covered)
