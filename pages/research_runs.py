"""/research/runs: every walk-forward run, with its hyperparameters and fold-averaged metrics.

The grid reads its rows from the server a block at a time — sorted, filtered and searched
there — so ten thousand runs of a hundred columns scroll as easily as ten. A column's filter
narrows the rows (numbers on the metrics and parameters), the quick search (``?q=``) matches
names, datasets, models and authors, and "Hide columns" hides and shows them (``?hide=``); both are
kept in the address. Ticking two or more runs and "Compare" opens them side by side
(``/research/runs/compare?names=a,b``).
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import quote

import dash
import dash_ag_grid as dag
import dash_mantine_components as dmc
import pandas as pd
from dash import Input, Output, State, callback, clientside_callback, dcc, html, no_update, set_props

from backend.research.run_views import FIXED, METRIC, PARAM, block, label, summary_frame
from backend.research.runtime import current_datasets
from backend.research.walkforward.service import Runs
from components.admin_nav import notice

dash.register_page(__name__, path="/research/runs", title="Walk-forward runs", name="Walk-forward runs", nav=False)

COMPARE_MIN, COMPARE_MAX = 2, 8
BLOCK: Final = 100
TEXT_FILTER: Final = {"filter": "agTextColumnFilter",
                      "filterParams": {"filterOptions": ["contains", "equals", "startsWith"], "maxNumConditions": 1}}
NUMBER_FILTER: Final = {"filter": "agNumberColumnFilter", "filterParams": {
    "filterOptions": ["greaterThan", "lessThan", "inRange", "equals", "blank", "notBlank"], "maxNumConditions": 2}}


class ids:
    GRID = "research-runs-grid"
    SEARCH = "research-runs-search"
    COLUMNS = "research-runs-columns"
    COMPARE = "research-runs-compare"
    NOTICES = "research-runs-notices"
    URL = "research-runs-url"


def run_summaries() -> list[dict[str, Any]]:
    return Runs(current_datasets()).summaries()


def _column(field: str) -> dict[str, Any]:
    base: dict[str, Any] = {"field": field, "headerName": label(field), "headerTooltip": field}
    if field == "name":
        return {**base, "headerName": "Run", "pinned": "left", "width": 170, **TEXT_FILTER,
                "cellRenderer": "markdown", "valueGetter": {"function": "params.data ? "
                                                            "`[${params.data.name}](/research/runs/${params.data.name})`"
                                                            " : ''"}}
    if field == "created_at":
        return {**base, "headerName": "Created", "width": 150, "filter": False,
                "valueFormatter": {"function": "params.value ? params.value.slice(0, 16).replace('T', ' ') : ''"}}
    if field.startswith((PARAM, METRIC)) or field in ("folds", "seed", "features"):
        digits = ",.4~f" if field.startswith(METRIC) else ",.6~g"
        return {**base, "type": "rightAligned", "width": 125, **NUMBER_FILTER,
                "valueFormatter": {"function": f"params.value == null ? '' : (typeof params.value === 'number' ? "
                                               f"d3.format('{digits}')(params.value) : String(params.value))"},
                "headerClass": "research-runs-metric" if field.startswith(METRIC) else None}
    return {**base, "width": 120 if field != "model" else 170, **TEXT_FILTER}


def columns_of(frame: pd.DataFrame, hidden: set[str]) -> list[dict[str, Any]]:
    fields = list(frame.columns) if len(frame.columns) else list(FIXED)
    return [{**_column(f), "hide": f in hidden} for f in fields if f not in ("base",)]


def _words(value: Any, limit: int = 100) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    return value if isinstance(value, str) and len(value) <= limit else ""


def layout(q: Any = None, hide: Any = None, **_query: Any) -> html.Div:
    search = _words(q)
    frame = summary_frame(run_summaries())
    fields = [f for f in frame.columns if f not in ("name", "base")]
    hidden = {h for h in _words(hide, 4000).split(",") if h in fields}
    return html.Div(className="research-page research-runs-page", children=[
        dcc.Store(id=ids.URL),
        dmc.Group([
            dmc.Title("Walk-forward runs", order=2),
            dmc.Group([dcc.Link("← Datasets", href="/research"), dcc.Link("Jobs", href="/research/jobs"),
                       dcc.Link(dmc.Button("New run", size="sm"), href="/research/new", className="db-kiosk-hide")]),
        ], justify="space-between", mb="sm"),
        dmc.Group([
            dmc.TextInput(id=ids.SEARCH, placeholder="Search runs, datasets, models, people…", value=search, w=300,
                          debounce=300, attributes={"aria-label": "Search runs"}),
            # the columns hidden, not those shown: a hundred shown columns would be a hundred pills
            dmc.MultiSelect(id=ids.COLUMNS, data=[{"value": f, "label": f} for f in fields],
                            value=sorted(hidden), w=360, maxDropdownHeight=320, searchable=True, clearable=True,
                            placeholder="Hide columns…", attributes={"aria-label": "Hidden columns"},
                            className="research-runs-columns",
                            styles={"pillsList": {"maxHeight": 58, "overflowY": "auto"}}),
            dmc.Button("Compare", id=ids.COMPARE, variant="light", size="sm"),
            dmc.Text(f"{len(frame):,} runs · tick {COMPARE_MIN} or more to compare", size="sm", c="dimmed"),
        ], mb="xs", align="flex-start"),
        html.Div(id=ids.NOTICES, role="status"),
        dag.AgGrid(
            id=ids.GRID, rowModelType="infinite", columnDefs=columns_of(frame, hidden), getRowId="params.data.name",
            className="ag-theme-quartz research-runs-grid", style={"width": "100%", "height": "68vh"},
            defaultColDef={"sortable": True, "resizable": True, "floatingFilter": False},
            dashGridOptions={"rowSelection": {"mode": "multiRow", "headerCheckbox": False},
                             "selectionColumnDef": {"pinned": "left", "width": 44},
                             "cacheBlockSize": BLOCK, "maxBlocksInCache": 50, "infiniteInitialRowCount": BLOCK,
                             "context": {"q": search}, "tooltipShowDelay": 300,
                             "localeText": {"noRowsToShow": "No runs yet."}},
        ),
    ])


@callback(Output(ids.GRID, "getRowsResponse"), Input(ids.GRID, "getRowsRequest"), prevent_initial_call=True)
def serve_rows(req: dict[str, Any] | None) -> Any:
    if not isinstance(req, dict):
        return no_update
    quick = _words((req.get("context") or {}).get("q") if isinstance(req.get("context"), dict) else "")
    rows, total = block(summary_frame(run_summaries()), start=int(req.get("startRow") or 0),
                        end=int(req.get("endRow") or BLOCK), sort_model=req.get("sortModel"),
                        filter_model=req.get("filterModel"), quick=quick)
    return {"rowData": rows, "rowCount": total}


# The search reaches the server with the next block the grid asks for: it rides in the grid's
# context, and the cached blocks are dropped so the grid asks again from the top.
clientside_callback(
    """function (text) {
        text = (text || '').slice(0, 100);
        dash_ag_grid.getApiAsync('research-runs-grid').then(api => {
            api.setGridOption('context', {q: text});
            api.purgeInfiniteCache();
        });
        const params = new URLSearchParams(window.location.search);
        if (text) { params.set('q', text); } else { params.delete('q'); }
        const query = params.toString() ? '?' + params.toString() : '';
        if (window.location.search !== query) window.history.replaceState(null, '', window.location.pathname + query);
        return window.dash_clientside.no_update;
    }""",
    Output(ids.URL, "data"), Input(ids.SEARCH, "value"), prevent_initial_call=True,
)

# Hiding and showing columns is the grid's own business: no rows are read again.
clientside_callback(
    """function (hidden, all) {
        if (!Array.isArray(hidden)) return window.dash_clientside.no_update;
        const fields = (all || []).map(o => o.value);
        const shown = fields.filter(f => !hidden.includes(f));
        dash_ag_grid.getApiAsync('research-runs-grid').then(api => {
            api.setColumnsVisible(shown, true);
            api.setColumnsVisible(hidden, false);
        });
        const params = new URLSearchParams(window.location.search);
        if (hidden.length) { params.set('hide', hidden.join(',')); } else { params.delete('hide'); }
        const query = params.toString() ? '?' + params.toString() : '';
        if (window.location.search !== query) window.history.replaceState(null, '', window.location.pathname + query);
        return window.dash_clientside.no_update;
    }""",
    Output(ids.URL, "data", allow_duplicate=True), Input(ids.COLUMNS, "value"), State(ids.COLUMNS, "data"),
    prevent_initial_call=True,
)


@callback(Output(ids.NOTICES, "children"), Input(ids.COMPARE, "n_clicks"), State(ids.GRID, "selectedRows"),
          prevent_initial_call=True)
def compare(_n: int | None, selected: list[dict[str, Any]] | None) -> Any:
    names = [str(row.get("name")) for row in selected or [] if isinstance(row, dict) and row.get("name")]
    if not COMPARE_MIN <= len(names) <= COMPARE_MAX:
        return notice(f"Tick {COMPARE_MIN} to {COMPARE_MAX} runs to compare ({len(names)} ticked).", "yellow")
    set_props("url", {"href": "/research/runs/compare?names=" + ",".join(quote(n) for n in names)})
    return no_update
