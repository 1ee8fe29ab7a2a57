"""/research: the datasets a desk researches on, and a file upload that adds one.

Each dataset links to its explorer (``/research/datasets/<name>``). An upload — a CSV or Parquet
file of OHLCV bars, a name, the zone of its naive times — is checked whole on the server
(``backend.research.datasets``); a wrong file is refused with every problem named by its lines
and nothing is stored. Uploading needs ``research.run``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import dash
import dash_ag_grid as dag
import dash_mantine_components as dmc
from dash import Input, Output, State, callback, dcc, html, no_update
from flask import current_app

from backend.access.current import current_principal
from backend.access.permissions import RESEARCH_RUN
from backend.measurements.names import MeasurementNameError
from backend.research.dataset_service import DatasetError
from backend.research.datasets import DEFAULT_MAX_BYTES, MB, DatasetFileError, read_bars
from backend.research.description import DatasetInfo
from backend.research.runtime import UPLOAD_LIMIT_KEY, current_datasets
from components.admin_nav import notice

dash.register_page(__name__, path="/research", title="Research", name="Research", order=4)

ZONES = ["UTC", "America/New_York", "Europe/London", "Asia/Ho_Chi_Minh", "Asia/Singapore", "Asia/Tokyo"]


class ids:
    GRID = "research-datasets"
    UPLOAD = "research-upload"
    NAME = "research-upload-name"
    ZONE = "research-upload-zone"
    NOTICES = "research-upload-notices"
    SIMULATIONS = "research-simulations-link"
    RUNS = "research-runs-link"
    JOBS = "research-jobs-link"


COLUMNS = [
    {"field": "name", "headerName": "Dataset", "cellRenderer": "markdown", "width": 200},
    {"field": "rows", "headerName": "Bars", "type": "rightAligned", "width": 110,
     "valueFormatter": {"function": "d3.format(',')(params.value)"}},
    {"field": "frequency", "headerName": "Bars of", "width": 90},
    {"field": "first", "headerName": "From", "width": 120},
    {"field": "last", "headerName": "To", "width": 120},
    {"field": "symbols", "headerName": "Symbols", "width": 220},
    {"field": "source", "headerName": "Source", "flex": 1},
]


def _row(info: DatasetInfo) -> dict[str, Any]:
    def day(t: Any) -> str:
        return "" if t is None else t.tz_convert(info.time_zone).strftime("%Y-%m-%d")

    symbols = ", ".join(info.symbols[:6]) + (f" and {len(info.symbols) - 6} more" if len(info.symbols) > 6 else "")
    return {"name": f"[{info.name}](/research/datasets/{info.name})", "rows": info.rows, "frequency": info.frequency,
            "first": day(info.start), "last": day(info.end), "symbols": symbols or "one instrument",
            "source": info.source}


def dataset_rows() -> list[dict[str, Any]]:
    return [_row(info) for info in current_datasets().list()]


def _upload_form() -> dmc.Paper:
    return dmc.Paper(withBorder=True, p="md", radius="md", className="db-kiosk-hide", children=[
        dmc.Title("Add a dataset", order=4, mb="xs"),
        dmc.Text("A CSV or Parquet file with timestamp, open, high, low, close and volume columns (and symbol "
                 "for many instruments). The whole file is checked; nothing is kept unless all of it is right.",
                 size="sm", c="dimmed", mb="sm"),
        dmc.Group([
            dmc.TextInput(id=ids.NAME, label="Name", placeholder="e.g. vn30_daily", w=220),
            dmc.Select(id=ids.ZONE, label="Time zone of naive times", data=ZONES, value="UTC", w=220,
                       searchable=True, allowDeselect=False),
        ], align="flex-end"),
        dcc.Upload(id=ids.UPLOAD, className="research-upload", multiple=False,
                   children=html.Div(["Drop a file here or ", html.A("choose one")])),
        html.Div(id=ids.NOTICES, role="status"),
    ])


def layout(**_query: Any) -> html.Div:
    can_upload = current_principal().can(RESEARCH_RUN)
    return html.Div(className="research-page", children=[
        dmc.Group([dmc.Title("Research datasets", order=2),
                   dmc.Group([dcc.Link("Simulations →", href="/research/simulations", id=ids.SIMULATIONS),
                              dcc.Link("Walk-forward runs →", href="/research/runs", id=ids.RUNS),
                              dcc.Link("Jobs →", href="/research/jobs", id=ids.JOBS)], gap="lg")],
                  justify="space-between", mb="sm"),
        dag.AgGrid(id=ids.GRID, rowData=dataset_rows(), columnDefs=COLUMNS, className="ag-theme-quartz research-grid",
                   dashGridOptions={"domLayout": "autoHeight", "localeText": {"noRowsToShow": "No datasets yet."}},
                   style={"width": "100%"}),
        html.Div(_upload_form() if can_upload else None, style={"marginTop": "1rem"}),
    ])


def _decoded(contents: str) -> bytes:
    try:
        _kind, data = contents.split(",", 1)
        return base64.b64decode(data, validate=True)
    except (ValueError, binascii.Error):
        raise DatasetFileError(["the upload did not arrive whole; try again"]) from None


@callback(Output(ids.NOTICES, "children"), Output(ids.GRID, "rowData"),
          Input(ids.UPLOAD, "contents"), State(ids.UPLOAD, "filename"), State(ids.NAME, "value"),
          State(ids.ZONE, "value"), prevent_initial_call=True)
def upload(contents: str | None, filename: str | None, name: str | None, zone: str | None) -> tuple[Any, Any]:
    if not contents:
        return no_update, no_update
    limit = current_app.config.get(UPLOAD_LIMIT_KEY, DEFAULT_MAX_BYTES)
    filename = (filename or "upload.csv")[:200]
    try:
        if len(contents) > limit * 4 // 3 + 1024:
            raise DatasetFileError([f"{filename}: over the {limit / MB:,.0f} MB allowed"])
        bars = read_bars(_decoded(contents), filename, time_zone=zone or "UTC", max_bytes=limit)
        info = current_datasets().add((name or "").strip(), bars, created_by=current_principal().id, source=filename)
    except DatasetFileError as exc:
        items = [html.Li(problem) for problem in exc.problems[:20]]
        return notice([html.Div(f"{filename} was not added:"), html.Ul(items)]), no_update
    except (MeasurementNameError, DatasetError) as exc:
        return notice(f"Name: {exc}"), no_update
    text = f"Added {info.name}: {info.rows:,} bars of {info.frequency}."
    return notice([text, " ", dcc.Link("Open it →", href=f"/research/datasets/{info.name}")], "green"), dataset_rows()
