"""/research/datasets/<name>: the indicator explorer and its signal analysis.

The view lives in the URL — ``?symbol=`` (a panel's instrument), ``show=`` (indicator columns,
comma-separated), ``start=`` / ``end=`` (the window) and ``ic=`` (the column analysed) — so a
link shows the same view to everyone. Candles and price overlays on top, volume and each
oscillator in a panel of its own under them, all on one time axis. Zooming or panning asks the
server for that window again, thinned to the chart's width, so millions of bars stay fluid.
Adding indicators makes a new version ``<name>_<n>`` and opens it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import dash
import dash_mantine_components as dmc
from dash import Input, Output, State, callback, clientside_callback, dcc, html, no_update, set_props
from dash.exceptions import PreventUpdate

from backend.access.current import current_principal
from backend.access.permissions import RESEARCH_RUN
from backend.measurements.frames import FrameError, MeasurementNotFound
from backend.measurements.names import MeasurementNameError, parse_name
from backend.research.dataset_service import DatasetError
from backend.research.description import DatasetInfo
from backend.research.explorer import explorer_window, indicator_columns
from backend.research.indicator_service import IndicatorVersions
from backend.research.indicators import IndicatorError, catalogue, clean_request
from backend.research.runtime import current_datasets
from backend.research.signals import SignalError, as_public, instrument_ic, panel_ic
from components import research_charts as charts
from components.admin_nav import notice

dash.register_page(__name__, path_template="/research/datasets/<name>", title="Dataset", name="Dataset", nav=False)

COMMON = ["SMA", "EMA", "RSI", "MACD", "BBANDS", "ATR", "ADX", "STOCH", "OBV", "CCI", "WILLR", "MOM", "ROC",
          "RETURNS", "FORWARD_RETURNS"]
HORIZONS = (1, 5, 20)


class ids:
    NAME = "research-name"
    SYMBOL = "research-symbol"
    SHOW = "research-show"
    GRAPH = "research-chart"
    NOTICES = "research-notices"
    WIDTH = "research-width"
    WINDOW = "research-window"
    QUERY = "research-query"
    FUNCTION = "research-function"
    PERIOD = "research-period"
    ADD = "research-add"
    ADD_NOTICES = "research-add-notices"
    IC_COLUMN = "research-ic-column"
    IC_TABLE = "research-ic-table"
    IC_CHART = "research-ic-chart"
    IC_NOTICES = "research-ic-notices"
    IC_URL = "research-ic-url"


def _first(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, str) and len(value) <= 200 else None


def _info_line(info: DatasetInfo) -> str:
    daily = info.frequency.endswith("D")

    def day(t: Any) -> str:
        return "—" if t is None else t.tz_convert(info.time_zone).strftime("%Y-%m-%d" if daily else "%Y-%m-%d %H:%M")

    parts = [f"{info.rows:,} bars of {info.frequency}", f"{day(info.start)} → {day(info.end)} ({info.time_zone})",
             f"{len(info.symbols)} symbols" if info.symbols else "one instrument"]
    if info.gaps:
        parts.append(f"{info.gaps:,} gaps")
    if info.missing:
        parts.append("missing: " + ", ".join(f"{k} {v:,}" for k, v in list(info.missing.items())[:4]))
    parts.append("columns: " + ", ".join(c for c in info.columns if c != "timestamp"))
    return " · ".join(parts)


def _missing_page(name: str, text: str) -> html.Div:
    return html.Div([dmc.Title(name[:40] or "Dataset", order=2), notice(text),
                     dcc.Link("← All datasets", href="/research")], className="research-page")


def layout(name: str = "", symbol: Any = None, show: Any = None, start: Any = None, end: Any = None, ic: Any = None,
           **_query: Any) -> html.Div:
    try:
        info = current_datasets().info(name)
    except (DatasetError, MeasurementNameError, MeasurementNotFound):
        return _missing_page(name, f"There is no dataset {name[:40]!r}.")
    columns = indicator_columns(info)
    shown = [c for c in (_first(show) or "").split(",") if c in columns]
    if show is None:  # a new version opens with its indicators shown
        shown = [c for c in columns if not c.startswith(("fwd_ret", "ret_", "adj_"))][:6]
    chosen_symbol = _first(symbol) if _first(symbol) in info.symbols else (info.symbols[0] if info.symbols else None)
    state = {"name": info.name, "symbol": chosen_symbol, "start": _first(start), "end": _first(end)}
    ic_column = _first(ic) if _first(ic) in columns else None
    can_run = current_principal().can(RESEARCH_RUN)
    functions = [f for f in COMMON if f in catalogue()]
    return html.Div(className="research-page", children=[
        dcc.Store(id=ids.NAME, data=state),
        dcc.Store(id=ids.WIDTH),
        dcc.Store(id=ids.QUERY),
        dcc.Store(id=ids.IC_URL),
        dmc.Group([
            dmc.Title(info.name, order=2),
            dcc.Link("← All datasets", href="/research", className="db-kiosk-hide"),
        ], justify="space-between"),
        dmc.Text(_info_line(info), size="sm", c="dimmed", id="research-info", mb="xs"),
        dmc.Group(className="db-kiosk-hide", align="flex-end", children=[
            dmc.Select(id=ids.SYMBOL, label="Symbol", data=list(info.symbols), value=chosen_symbol, w=140,
                       searchable=True, allowDeselect=False) if info.symbols else None,
            dmc.MultiSelect(id=ids.SHOW, label="Indicators shown", data=columns, value=shown, w=420,
                            searchable=True, clearable=True, placeholder="none" if columns else "add one →"),
            *([dmc.Select(id=ids.FUNCTION, label="Add (TA-Lib)", data=functions, value="SMA", w=170, searchable=True,
                          allowDeselect=False),
               dmc.NumberInput(id=ids.PERIOD, label="Period / horizon", value=20, min=1, max=100_000, w=130),
               dmc.Button("Compute", id=ids.ADD, size="sm")] if can_run else []),
        ]),
        html.Div(id=ids.ADD_NOTICES, role="status"),
        html.Div(id=ids.NOTICES, role="status", className="research-notices"),
        dcc.Loading(dcc.Graph(id=ids.GRAPH, className="research-chart", config={"displaylogo": False,
                                                                                 "scrollZoom": True},
                              style={"height": "620px"}), delay_show=400),
        dmc.Paper(withBorder=True, p="md", radius="md", mt="md", children=[
            dmc.Group([dmc.Title("Signal analysis", order=4),
                       dmc.Select(id=ids.IC_COLUMN, data=columns, value=ic_column, w=260, clearable=True,
                                  placeholder="choose an indicator", searchable=True)]),
            dmc.Text("Spearman correlation of the indicator with the return over the next 1, 5 and 20 bars: "
                     + ("per date across symbols (cross-sectional), with mean forward return by quintile."
                        if info.symbols else
                        "on non-overlapping samples, and over the last 250 bars as time goes."),
                     size="sm", c="dimmed", mb="xs"),
            html.Div(id=ids.IC_NOTICES, role="status"),
            html.Div(id=ids.IC_TABLE),
            dcc.Graph(id=ids.IC_CHART, config={"displaylogo": False}, style={"height": "300px"}),
        ]),
    ])


# The chart's width in pixels, so a window is thinned to what the screen can show.
clientside_callback(
    """function (_state) {
        const el = document.getElementById('research-chart');
        return Math.max(300, Math.round((el && el.clientWidth) || window.innerWidth || 1200));
    }""",
    Output(ids.WIDTH, "data"), Input(ids.NAME, "data"),
)


def _window_of(relayout: dict[str, Any] | None, state: dict[str, Any]) -> tuple[Any, Any]:
    if not isinstance(relayout, dict):
        return state.get("start"), state.get("end")
    if relayout.get("xaxis.autorange") or any(k.endswith("autorange") for k in relayout):
        return None, None
    for axis in ("xaxis", "xaxis2", "xaxis3", "xaxis4", "xaxis5", "xaxis6"):
        lo, hi = relayout.get(f"{axis}.range[0]"), relayout.get(f"{axis}.range[1]")
        if lo is None and isinstance(relayout.get(f"{axis}.range"), list):
            lo, hi = relayout[f"{axis}.range"][:2]
        if lo is not None and hi is not None:
            return str(lo)[:40], str(hi)[:40]
    return state.get("start"), state.get("end")


def _local_to_utc(value: Any, zone: str) -> Any:
    """A chart's axis value (the dataset's wall clock, naive) as an instant."""
    import pandas as pd

    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        return None
    return stamp.tz_localize(zone, ambiguous="NaT", nonexistent="shift_forward") if stamp.tzinfo is None else stamp


@callback(
    Output(ids.GRAPH, "figure"), Output(ids.NOTICES, "children"), Output(ids.QUERY, "data"),
    Input(ids.GRAPH, "relayoutData"), Input(ids.SHOW, "value"), Input(ids.WIDTH, "data"),
    Input(ids.NAME, "data"), Input("shell-scheme", "data"),
    State(ids.IC_COLUMN, "value"),
)
def redraw(relayout: Any, show: list[str] | None, width: int | None, state: dict[str, Any] | None,
           scheme: str | None, ic_column: str | None) -> tuple[Any, Any, Any]:
    if not isinstance(state, dict) or not width:
        raise PreventUpdate
    datasets = current_datasets()
    try:
        info = datasets.info(state["name"])
        start, end = _window_of(relayout, state)
        window = explorer_window(datasets, info.name, start=_local_to_utc(start, info.time_zone),
                                 end=_local_to_utc(end, info.time_zone), symbol=state.get("symbol"),
                                 columns=show or [], width=int(width))
    except (DatasetError, FrameError, MeasurementNotFound, MeasurementNameError) as exc:
        return no_update, notice(str(exc)), no_update
    dark = scheme == "dark"
    figure = charts.explorer_figure(window, dark=dark, revision=f"{info.name}:{window.symbol}")
    notices = [dmc.Text(text, size="sm", c="dimmed") for text in window.notices]
    if window.merged > 1:
        notices.append(dmc.Text(f"{window.rows:,} bars in view, up to {window.merged:,} per candle: zoom in for "
                                "single bars.", size="sm", c="dimmed"))
    query = {k: v for k, v in (("symbol", window.symbol), ("show", ",".join(show or [])), ("start", start),
                               ("end", end), ("ic", ic_column)) if v}
    return figure, notices, "?" + urlencode(query) if query else ""


@callback(Output(ids.NAME, "data", allow_duplicate=True), Input(ids.SYMBOL, "value"), State(ids.NAME, "data"),
          prevent_initial_call=True)
def choose_symbol(symbol: str | None, state: dict[str, Any] | None) -> Any:
    if not isinstance(state, dict) or not symbol or symbol == state.get("symbol"):
        raise PreventUpdate
    return {**state, "symbol": symbol}


# The view goes into the address bar without a page load, so a link shows the same view.
clientside_callback(
    """function (query) {
        if (typeof query !== 'string') return window.dash_clientside.no_update;
        const params = new URLSearchParams(window.location.search);
        ['kiosk', 'embed'].forEach(function (k) { if (params.get(k)) query += (query ? '&' : '?') + k + '=1'; });
        if (window.location.search !== query) window.history.replaceState(null, '', window.location.pathname + query);
        return window.dash_clientside.no_update;
    }""",
    Output(ids.QUERY, "data", allow_duplicate=True), Input(ids.QUERY, "data"), prevent_initial_call=True,
)


# The analysed column joins the address too.
clientside_callback(
    """function (column) {
        const params = new URLSearchParams(window.location.search);
        if (column) { params.set('ic', column); } else { params.delete('ic'); }
        const query = params.toString() ? '?' + params.toString() : '';
        if (window.location.search !== query) window.history.replaceState(null, '', window.location.pathname + query);
        return column || null;
    }""",
    Output(ids.IC_URL, "data"), Input(ids.IC_COLUMN, "value"), prevent_initial_call=True,
)


@callback(Output(ids.ADD_NOTICES, "children"), Input(ids.ADD, "n_clicks"), State(ids.FUNCTION, "value"),
          State(ids.PERIOD, "value"), State(ids.NAME, "data"), State(ids.SHOW, "value"), prevent_initial_call=True)
def add_indicator(_n: int | None, function: str | None, period: Any, state: dict[str, Any] | None,
                  show: list[str] | None) -> Any:
    if not _n or not isinstance(state, dict):
        raise PreventUpdate
    base = parse_name(state["name"]).base
    params: dict[str, Any] = {}
    known = catalogue().get(str(function or "").upper(), {}).get("parameters", {})
    for key in ("timeperiod", "horizon"):
        if key in known and period is not None:
            params[key] = period
    try:
        specs = clean_request([{"function": function, "params": params}])
        datasets = current_datasets()
        record = datasets.records.get(state["name"])
        earlier = list(record.inputs.get("request") or []) if record and record.kind == "indicators" else []
        every = clean_request([*earlier, *(s.key() for s in specs)]) if earlier else specs
        version = IndicatorVersions(datasets).make(base, every, created_by=current_principal().id)
    except (IndicatorError, DatasetError) as exc:
        return notice(str(exc))
    new_columns = [c for c in version.columns if c not in (show or [])]
    query = {k: v for k, v in (("symbol", state.get("symbol")), ("show", ",".join([*(show or []), *new_columns])))
             if v}
    set_props("url", {"href": f"/research/datasets/{version.name}?{urlencode(query)}"})
    return notice(f"{'Opened' if version.reused else 'Made'} {version.name}.", "green")


@callback(Output(ids.IC_TABLE, "children"), Output(ids.IC_CHART, "figure"), Output(ids.IC_NOTICES, "children"),
          Input(ids.IC_COLUMN, "value"), Input(ids.NAME, "data"), Input("shell-scheme", "data"))
def signal_analysis(column: str | None, state: dict[str, Any] | None, scheme: str | None) -> tuple[Any, Any, Any]:
    empty = {"data": [], "layout": {"paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
                                    "xaxis": {"visible": False}, "yaxis": {"visible": False}}}
    if not column or not isinstance(state, dict):
        return dmc.Text("Choose an indicator to see how it relates to the returns that followed.", size="sm"), \
            empty, None
    datasets = current_datasets()
    try:
        info = datasets.info(state["name"])
        if column not in indicator_columns(info):
            return None, empty, notice(f"{info.name} has no column {column[:40]!r}.")
        read = ["close", column] + (["symbol"] if info.symbols else [])
        frame = datasets.measurements.read(info.name, columns=read).to_pandas()
        dark = scheme == "dark"
        if info.symbols:
            results = as_public(panel_ic(frame, column, HORIZONS))
            rows = [[f"{r['horizon']}", _num(r["mean_ic"]), _num(r["t_stat"]), f"{len(r['dates']):,} dates"]
                    for r in results]
            head = ["Horizon (bars)", "Mean IC", "t-statistic", "Cross-sections"]
            figure = charts.quantile_figure(results, dark=dark)
        else:
            results = as_public(instrument_ic(frame["timestamp"], frame[column].to_numpy(float),
                                              frame["close"].to_numpy(float), HORIZONS))
            rows = [[f"{r['horizon']}", _num(r["ic"]), _num(r["t_stat"]), f"{r['samples']:,}"] for r in results]
            head = ["Horizon (bars)", "IC", "t-statistic", "Samples (non-overlapping)"]
            figure = charts.rolling_ic_figure(results, dark=dark)
    except (SignalError, DatasetError, FrameError, MeasurementNotFound) as exc:
        return None, empty, notice(str(exc))
    table = dmc.Table(data={"head": head, "body": rows}, striped=True, className="research-ic-table",
                      withTableBorder=True)
    return table, figure, None


def _num(value: Any) -> str:
    return "—" if value is None else f"{value:+.3f}"
