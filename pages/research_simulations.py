"""/research/simulations: every simulation and sweep, with every statistic to sort and filter by.

The name opens a simulation (``/research/simulations/<name>``); ticking two to five rows and
"Compare" opens them side by side (``/research/simulations/compare?names=a,b``). The quick
search (``?q=``) is kept in the address, so a link finds the same rows.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import quote

import dash
import dash_ag_grid as dag
import dash_mantine_components as dmc
from dash import Input, Output, State, callback, clientside_callback, dcc, html, no_update, set_props

from backend.research.runtime import current_simulations
from backend.research.simulation_views import COUNT_STATS, PRECISE_STATS
from backend.research.simulator.stats import STAT_KEYS, STAT_LABELS
from components.admin_nav import notice

dash.register_page(__name__, path="/research/simulations", title="Simulations", name="Simulations", nav=False)

COMPARE_MIN, COMPARE_MAX = 2, 5
TEXT_STATS = ("start", "end")


class ids:
    GRID = "research-sims-grid"
    SEARCH = "research-sims-search"
    COMPARE = "research-sims-compare"
    NOTICES = "research-sims-notices"
    URL = "research-sims-url"


FIRST_STATS: Final = ("return_pct", "sharpe", "dsr", "max_drawdown_pct", "trades", "win_rate_pct", "profit_factor")


def _stat_column(key: str) -> dict[str, Any]:
    if key in TEXT_STATS:
        return {"field": key, "headerName": STAT_LABELS[key], "width": 120, "filter": "agTextColumnFilter",
                "valueFormatter": {"function": "params.value ? params.value.slice(0, 10) : ''"}}
    places = ",.0f" if key in COUNT_STATS else ",.3f" if key in PRECISE_STATS else ",.2f"
    return {"field": key, "headerName": STAT_LABELS[key], "type": "rightAligned", "width": 130,
            "filter": "agNumberColumnFilter", "headerTooltip": STAT_LABELS[key],
            "valueFormatter": {"function": f"params.value == null ? '' : d3.format('{places}')(params.value)"}}


COLUMNS: list[dict[str, Any]] = [
    {"field": "link", "headerName": "Name", "pinned": "left", "width": 170, "filter": "agTextColumnFilter",
     "cellRenderer": "markdown"},
    {"field": "type", "headerName": "Type", "width": 105, "filter": "agTextColumnFilter"},
    {"field": "dataset", "headerName": "Dataset", "width": 120, "filter": "agTextColumnFilter"},
    {"field": "symbol", "headerName": "Symbol", "width": 95, "filter": "agTextColumnFilter"},
    {"field": "strategy", "headerName": "Strategy", "width": 230, "filter": "agTextColumnFilter"},
    # the figures a desk ranks by come first; every other statistic follows the record's details
    *[_stat_column(key) for key in FIRST_STATS],
    {"field": "created_at", "headerName": "Created", "width": 150, "sort": "desc",
     "valueFormatter": {"function": "params.value ? params.value.slice(0, 16).replace('T', ' ') : ''"}},
    {"field": "created_by", "headerName": "By", "width": 100, "filter": "agTextColumnFilter"},
    *[_stat_column(key) for key in STAT_KEYS if key not in FIRST_STATS],
]


def simulation_rows() -> list[dict[str, Any]]:
    # the markdown renderer draws the link; the name stays plain for sorting and search
    return [{**row, "link": f"[{row['name']}](/research/simulations/{row['name']})"}
            for row in current_simulations().summaries()]


def layout(q: Any = None, **_query: Any) -> html.Div:
    search = q if isinstance(q, str) and len(q) <= 100 else ""
    return html.Div(className="research-page", children=[
        dcc.Store(id=ids.URL),
        dmc.Group([
            dmc.Title("Simulations", order=2),
            dmc.Group([dcc.Link("← Datasets", href="/research"),
                       dcc.Link(dmc.Button("New simulation", size="sm"), href="/research/simulations/new",
                                className="db-kiosk-hide")]),
        ], justify="space-between", mb="sm"),
        dmc.Group([
            dmc.TextInput(id=ids.SEARCH, placeholder="Search names, datasets, strategies…", value=search, w=320,
                          debounce=250, attributes={"aria-label": "Search simulations"}),
            dmc.Button("Compare", id=ids.COMPARE, variant="light", size="sm"),
            dmc.Text(f"Tick {COMPARE_MIN} to {COMPARE_MAX} rows to compare them.", size="sm", c="dimmed"),
        ], mb="xs"),
        html.Div(id=ids.NOTICES, role="status"),
        dag.AgGrid(
            id=ids.GRID, rowData=simulation_rows(), columnDefs=COLUMNS, getRowId="params.data.name",
            className="ag-theme-quartz research-sims-grid", style={"width": "100%", "height": "70vh"},
            defaultColDef={"sortable": True, "resizable": True, "floatingFilter": False},
            dashGridOptions={"rowSelection": {"mode": "multiRow", "headerCheckbox": False},
                             "quickFilterText": search, "tooltipShowDelay": 300,
                             "localeText": {"noRowsToShow": "No simulations yet."}},
        ),
    ])


@callback(Output(ids.GRID, "dashGridOptions"), Output(ids.URL, "data"), Input(ids.SEARCH, "value"),
          State(ids.GRID, "dashGridOptions"), prevent_initial_call=True)
def search(text: str | None, options: dict[str, Any] | None) -> tuple[Any, Any]:
    text = (text or "")[:100]
    return {**(options or {}), "quickFilterText": text}, text


# The search joins the address without a page load.
clientside_callback(
    """function (text) {
        const params = new URLSearchParams(window.location.search);
        if (text) { params.set('q', text); } else { params.delete('q'); }
        const query = params.toString() ? '?' + params.toString() : '';
        if (window.location.search !== query) window.history.replaceState(null, '', window.location.pathname + query);
        return window.dash_clientside.no_update;
    }""",
    Output(ids.URL, "data", allow_duplicate=True), Input(ids.URL, "data"), prevent_initial_call=True,
)


@callback(Output(ids.NOTICES, "children"), Input(ids.COMPARE, "n_clicks"), State(ids.GRID, "selectedRows"),
          prevent_initial_call=True)
def compare(_n: int | None, selected: list[dict[str, Any]] | None) -> Any:
    names = [str(row.get("name")) for row in selected or [] if isinstance(row, dict) and row.get("name")]
    if not COMPARE_MIN <= len(names) <= COMPARE_MAX:
        return notice(f"Tick {COMPARE_MIN} to {COMPARE_MAX} rows to compare ({len(names)} ticked).", "yellow")
    set_props("url", {"href": "/research/simulations/compare?names=" + ",".join(quote(n) for n in names)})
    return no_update
