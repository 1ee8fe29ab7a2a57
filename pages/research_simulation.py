"""/research/simulations/<name>: one simulation, or one sweep.

A simulation shows its equity against buy-and-hold with the drawdown under it, the price with
each trade's entry and exit, monthly returns, a rolling Sharpe ratio, its statistics, its
trades a hundred to a page (read from the server page by page), downloads, and what it was
made of — the request, the code version, the data's hash, the trials the deflated Sharpe
ratio discounts for. A sweep shows one statistic (``?stat=``) over its grid; a click on a
cell opens that cell's simulation.
"""

from __future__ import annotations

import json
from typing import Any

import dash
import dash_ag_grid as dag
import dash_mantine_components as dmc
from dash import Input, Output, State, callback, clientside_callback, dcc, html, no_update
from dash.exceptions import PreventUpdate

from backend.access.current import current_principal
from backend.access.permissions import RESEARCH_RUN
from backend.research.dataset_service import DatasetError
from backend.research.runtime import current_datasets, current_simulations
from backend.research.simulation_service import HEATMAP_KEYS, SimulationError
from backend.research.simulation_views import (
    ROLLING_BARS,
    format_stat,
    monthly_returns,
    rolling_sharpe,
    sweep_matrix,
    trade_markers,
)
from backend.research.simulator.stats import STAT_KEYS, STAT_LABELS
from components import simulation_charts as charts
from components.admin_nav import notice

dash.register_page(__name__, path_template="/research/simulations/<name>", title="Simulation", name="Simulation",
                   nav=False)

API = "/api/v1/research/simulations/{name}/{part}?format={fmt}"
TRADE_COLUMNS = [
    {"field": "entry_time", "headerName": "Entry", "width": 150},
    {"field": "exit_time", "headerName": "Exit", "width": 150},
    {"field": "direction", "headerName": "Side", "width": 80},
    *[{"field": f, "headerName": h, "type": "rightAligned", "width": w,
       "valueFormatter": {"function": f"params.value == null ? '' : d3.format('{fmt}')(params.value)"}}
      for f, h, w, fmt in (("entry_price", "Entry price", 110, ",.2f"), ("exit_price", "Exit price", 110, ",.2f"),
                           ("size", "Size", 90, ",.4~f"), ("fees", "Fees", 90, ",.2f"), ("pnl", "P&L", 110, ",.2f"),
                           ("return_pct", "Return %", 100, ",.2f"), ("duration_bars", "Bars held", 95, ","),
                           ("mae_pct", "MAE %", 90, ",.2f"), ("mfe_pct", "MFE %", 90, ",.2f"))],
    {"field": "is_open", "headerName": "Open", "width": 80},
]
for _column in TRADE_COLUMNS[:2]:
    _column["valueFormatter"] = {"function": "params.value ? params.value.slice(0, 16).replace('T', ' ') : ''"}


class ids:
    STATE = "research-sim-state"
    EQUITY = "research-sim-equity"
    PRICE = "research-sim-price"
    MONTHLY = "research-sim-monthly"
    ROLLING = "research-sim-rolling"
    TRADES = "research-sim-trades"
    STAT = "research-sim-stat"
    HEATMAP = "research-sim-heatmap"
    SWEEP_URL = "research-sim-sweep-url"  # the sweep's own, so no callback sees half its inputs on the other body
    SWEEP_NOTICES = "research-sim-sweep-notices"
    GO = "research-sim-go"


def _first(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, str) and len(value) <= 60 else None


def _time_zone(dataset: str) -> str:
    try:
        return current_datasets().info(dataset).time_zone
    except (DatasetError, ValueError, KeyError):
        return "UTC"


def _missing_page(name: str) -> html.Div:
    return html.Div([dmc.Title(name[:40] or "Simulation", order=2), notice(f"There is no simulation {name[:60]!r}."),
                     dcc.Link("← All simulations", href="/research/simulations")], className="research-page")


def _card(title: str, *children: Any, **kwargs: Any) -> dmc.Paper:
    return dmc.Paper([dmc.Title(title, order=5, mb=4), *children], withBorder=True, p="sm", radius="md", **kwargs)


def _graph(graph_id: str, height: int) -> dcc.Graph:
    return dcc.Graph(id=graph_id, config={"displaylogo": False}, style={"height": f"{height}px"})


def stats_table(stats: dict[str, Any], keys: tuple[str, ...] = STAT_KEYS) -> dmc.Table:
    rows = [[STAT_LABELS.get(k, k), format_stat(k, stats.get(k))] for k in keys if k in stats]
    return dmc.Table(data={"body": rows}, striped=True, withTableBorder=True, fz="sm", className="research-sim-stats",
                     verticalSpacing=2)


def _trace(record: dict[str, Any]) -> dmc.Paper:
    trials = record.get("trials") or {}
    stats = record.get("stats") or {}
    facts = [("Made", f"{record['created_at'][:19].replace('T', ' ')} UTC by {record.get('created_by') or '—'}"),
             ("Code version", record.get("code_version")), ("Data hash", (record.get("data_hash") or "")[:16] + "…"),
             ("Bars a year", format_stat("periods_per_year", record.get("periods_per_year"))),
             ("Trials on this dataset", f"{trials.get('count', '—')}"),
             ("Probabilistic Sharpe", format_stat("psr", stats.get("psr"))),
             ("Deflated Sharpe", format_stat("dsr", stats.get("dsr")))]
    origin = dmc.Text(["A cell of the sweep ", dcc.Link(record["sweep"], href=f"/research/simulations/{record['sweep']}"),
                       "."], size="sm") if record.get("sweep") else None
    return _card("How it was made", dmc.Table(data={"body": [[k, v] for k, v in facts]}, fz="sm", verticalSpacing=2),
                 origin,
                 html.Details([html.Summary("Request"),
                               html.Pre(json.dumps(record.get("request"), indent=2), className="research-sim-request")]),
                 className="research-sim-trace")


def _downloads(name: str) -> dmc.Group:
    links = [html.A(f"{label} ({fmt.upper()})", href=API.format(name=name, part=part, fmt=fmt), download="",
                    className="research-sim-download")
             for part, label in (("trades", "Trades"), ("equity", "Equity")) for fmt in ("csv", "parquet")]
    return dmc.Group([dmc.Text("Download:", size="sm"), *links], gap="sm", className="db-kiosk-hide")


def _simulation_body(record: dict[str, Any]) -> list[Any]:
    return [
        dmc.Grid([
            dmc.GridCol([_card("Equity and buy & hold, drawdown under it", _graph(ids.EQUITY, 420)),
                         _card("Price, entries and exits", _graph(ids.PRICE, 320), mt="sm")],
                        span={"base": 12, "lg": 8}),
            dmc.GridCol([_card("Statistics", stats_table(record.get("stats") or {})), html.Div(_trace(record), style={
                "marginTop": "0.5rem"})], span={"base": 12, "lg": 4}),
        ]),
        dmc.Grid([
            dmc.GridCol(_card("Monthly returns %", _graph(ids.MONTHLY, 360)), span={"base": 12, "lg": 7}),
            dmc.GridCol(_card(f"Rolling Sharpe ratio ({ROLLING_BARS} bars)", _graph(ids.ROLLING, 360)),
                        span={"base": 12, "lg": 5}),
        ], mt="xs"),
        _card("Trades", _downloads(record["name"]), dag.AgGrid(
            id=ids.TRADES, rowModelType="infinite", columnDefs=TRADE_COLUMNS,
            defaultColDef={"sortable": True, "resizable": True}, className="ag-theme-quartz research-sim-trades",
            dashGridOptions={"pagination": True, "paginationPageSize": 100, "cacheBlockSize": 100,
                             "paginationPageSizeSelector": False, "maxBlocksInCache": 10,
                             "localeText": {"noRowsToShow": "No trades."}},
            style={"height": "440px", "marginTop": "0.5rem"}), mt="sm"),
    ]


def _sweep_body(record: dict[str, Any], stat: str) -> list[Any]:
    grid = (record.get("request") or {}).get("grid") or {}
    best = record.get("best_cell")
    cells = record.get("cells") or []
    best_cell = cells[best] if isinstance(best, int) and 0 <= best < len(cells) else None
    side: list[Any] = [dmc.Text("No cell could be simulated.", size="sm")]
    if best_cell is not None:
        where = f"{grid['x']['param']} {best_cell['x']:g}" + (
            f", {grid['y']['param']} {best_cell['y']:g}" if grid.get("y") else "")
        side = [dmc.Text(f"Best Sharpe ratio: {where}", fw=600, size="sm"),
                dmc.Text(best_cell.get("label", ""), size="sm", c="dimmed", mb=4),
                stats_table({**best_cell.get("stats", {}), "trials": (record.get("trials") or {}).get("count")},
                            ("sharpe", "psr", "dsr", "trials", "return_pct", "max_drawdown_pct", "trades")),
                dmc.Text("The deflated Sharpe ratio discounts the best of many tries: it counts every cell of "
                         "this sweep and every simulation before it on the dataset.", size="xs", c="dimmed", mt=4),
                dmc.Button("Open the best cell", id={"type": "research-sim-cell", "index": best}, size="compact-sm",
                           variant="light", mt="xs")
                if current_principal().can(RESEARCH_RUN) else None]
    options = [{"value": k, "label": STAT_LABELS.get(k, k)} for k in HEATMAP_KEYS]
    return [
        dcc.Store(id=ids.SWEEP_URL),
        dcc.Store(id=ids.GO),
        html.Div(id=ids.SWEEP_NOTICES, role="status"),
        dmc.Grid([
            dmc.GridCol(_card("Statistic over the grid", dmc.Select(
                id=ids.STAT, data=options, value=stat, w=260, allowDeselect=False, mb="xs",
                attributes={"aria-label": "Statistic"}),
                dmc.Text("Click a cell to open its simulation.", size="xs", c="dimmed"),
                _graph(ids.HEATMAP, 480)), span={"base": 12, "lg": 8}),
            dmc.GridCol([_card("Best cell", *side, className="research-sim-best"),
                         html.Div(_trace(record), style={"marginTop": "0.5rem"})], span={"base": 12, "lg": 4}),
        ]),
    ]


def layout(name: str = "", stat: Any = None, **_query: Any) -> html.Div:
    try:
        record = current_simulations().get(name)
    except SimulationError:
        return _missing_page(name)
    is_sweep = record.get("type") == "sweep"
    chosen = _first(stat) if _first(stat) in HEATMAP_KEYS else "sharpe"
    state = {"name": record["name"], "type": record.get("type"), "time_zone": _time_zone(record["dataset"]),
             "periods": record.get("periods_per_year") or 252.0,
             "init_cash": ((record.get("request") or {}).get("costs") or {}).get("init_cash")}
    subtitle = " · ".join(str(p) for p in (record.get("label"), record.get("dataset"), record.get("symbol"),
                                           f"sweep of {len(record.get('cells') or [])} cells" if is_sweep else None)
                          if p)
    return html.Div(className="research-page research-sim-page", children=[
        dcc.Store(id=ids.STATE, data=state),
        dmc.Group([dmc.Title(record["name"], order=2),
                   dmc.Group([dcc.Link("← All simulations", href="/research/simulations"),
                              dcc.Link("New simulation", href=f"/research/simulations/new?dataset={record['dataset']}",
                                       className="db-kiosk-hide")])], justify="space-between"),
        dmc.Text(subtitle, size="sm", c="dimmed", mb="xs", id="research-sim-subtitle"),
        *(_sweep_body(record, chosen) if is_sweep else _simulation_body(record)),
    ])


@callback(Output(ids.EQUITY, "figure"), Output(ids.PRICE, "figure"), Output(ids.MONTHLY, "figure"),
          Output(ids.ROLLING, "figure"), Input(ids.STATE, "data"), Input("shell-scheme", "data"))
def draw(state: dict[str, Any] | None, scheme: str | None) -> tuple[Any, ...]:
    if not isinstance(state, dict) or state.get("type") == "sweep":
        raise PreventUpdate
    simulations, dark, zone = current_simulations(), scheme == "dark", state.get("time_zone") or "UTC"
    try:
        equity, trades = simulations.equity(state["name"]), simulations.trades(state["name"])
    except SimulationError:
        raise PreventUpdate from None
    monthly = monthly_returns(equity, init_cash=state.get("init_cash"), time_zone=zone)
    rolling = rolling_sharpe(equity, periods_per_year=float(state["periods"]))
    return (charts.equity_figure(equity, dark=dark, time_zone=zone),
            charts.price_figure(equity, trade_markers(trades), dark=dark, time_zone=zone),
            charts.monthly_figure(monthly, dark=dark),
            charts.rolling_figure(rolling, window=ROLLING_BARS, dark=dark, time_zone=zone))


@callback(Output(ids.TRADES, "getRowsResponse"), Input(ids.TRADES, "getRowsRequest"), State(ids.STATE, "data"),
          prevent_initial_call=True)
def trade_rows(req: dict[str, Any] | None, state: dict[str, Any] | None) -> Any:
    if not req or not isinstance(state, dict):
        return no_update
    start, end = int(req.get("startRow") or 0), int(req.get("endRow") or 100)
    sort = (req.get("sortModel") or [{}])[0]
    try:
        rows, total = current_simulations().trades_page(state["name"], offset=max(0, start),
                                                        limit=max(1, min(end - start, 1000)), sort=sort.get("colId"),
                                                        descending=sort.get("sort") == "desc")
    except SimulationError:
        return {"rowData": [], "rowCount": max(0, start)}
    return {"rowData": rows, "rowCount": total}


@callback(Output(ids.HEATMAP, "figure"), Output(ids.SWEEP_URL, "data"), Input(ids.STAT, "value"), Input(ids.STATE, "data"),
          Input("shell-scheme", "data"))
def draw_sweep(stat: str | None, state: dict[str, Any] | None, scheme: str | None) -> tuple[Any, Any]:
    if not isinstance(state, dict) or state.get("type") != "sweep" or stat not in HEATMAP_KEYS:
        raise PreventUpdate
    try:
        record = current_simulations().get(state["name"])
    except SimulationError:
        raise PreventUpdate from None
    grid = record["request"]["grid"]
    figure = charts.sweep_figure(sweep_matrix(record.get("cells") or [], stat), stat=stat,
                                 label=STAT_LABELS.get(stat, stat), x_name=grid["x"]["param"],
                                 y_name=(grid.get("y") or {}).get("param"), dark=scheme == "dark")
    return figure, "" if stat == "sharpe" else f"?stat={stat}"


# The chosen statistic joins the address without a page load.
clientside_callback(
    """function (query) {
        if (typeof query !== 'string') return window.dash_clientside.no_update;
        if (window.location.search !== query) window.history.replaceState(null, '', window.location.pathname + query);
        return window.dash_clientside.no_update;
    }""",
    Output(ids.SWEEP_URL, "data", allow_duplicate=True), Input(ids.SWEEP_URL, "data"), prevent_initial_call=True,
)


# The cell's simulation opens as a new page load: moving the shell's location from here was seen
# to bounce back to the sweep (a second history entry written by a location with stale props).
clientside_callback(
    """function (href) {
        if (typeof href === 'string' && href.startsWith('/research/simulations/')) window.location.assign(href);
        return window.dash_clientside.no_update;
    }""",
    Output(ids.GO, "data", allow_duplicate=True), Input(ids.GO, "data"), prevent_initial_call=True,
)


@callback(Output(ids.SWEEP_NOTICES, "children"), Output(ids.GO, "data"), Input(ids.HEATMAP, "clickData"),
          Input({"type": "research-sim-cell", "index": dash.ALL}, "n_clicks"), State(ids.STATE, "data"),
          prevent_initial_call=True)
def open_cell(click: dict[str, Any] | None, _best: list[Any], state: dict[str, Any] | None) -> tuple[Any, Any]:
    trigger = dash.ctx.triggered_id
    if isinstance(trigger, dict):
        index = trigger.get("index") if any(_best) else None
    else:
        points = (click or {}).get("points") or [{}]
        index = points[0].get("customdata")
    if not isinstance(index, int) or not isinstance(state, dict):
        raise PreventUpdate
    if not current_principal().can(RESEARCH_RUN):
        return notice("Opening a cell records its simulation, which needs permission to run simulations."), no_update
    try:
        name = current_simulations().open_cell(state["name"], index, created_by=current_principal().id)
    except SimulationError as exc:
        return notice(str(exc)), no_update
    return notice(f"Opening {name}…", "blue"), f"/research/simulations/{name}"
