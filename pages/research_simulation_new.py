"""/research/simulations/new: the form that runs a simulation or a sweep.

A dataset (and a symbol of a panel), a strategy — SMA crossover, an indicator rule, a threshold
on a column — fills, costs and sizing, and optionally a grid of one or two parameters to
sweep. The request is checked whole on the server (the same model the API uses) and every
problem is named next to the form; nothing is recorded unless all of it is right. A small run
answers at once and opens the new simulation; a large one runs as a job, with its progress and
a cancel button here, and opens the simulation when it is done. ``?dataset=`` (and ``symbol=``)
choose the dataset, so a link starts from it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import dash
import dash_mantine_components as dmc
from dash import ALL, Input, Output, State, callback, clientside_callback, dcc, html, no_update, set_props
from dash.exceptions import PreventUpdate

from backend.access.current import current_principal
from backend.access.permissions import RESEARCH_RUN
from backend.access.policy import may_run_job
from backend.jobs import JobError, JobNotFoundError, current_owner
from backend.jobs.runtime import current_jobs
from backend.jobs.states import JobState
from backend.measurements.frames import MeasurementNotFound
from backend.measurements.names import MeasurementNameError
from backend.research.dataset_service import DatasetError
from backend.research.indicators import catalogue
from backend.research.runtime import current_datasets, current_simulations
from backend.research.simulation_service import SimulationError
from backend.research.simulation_views import (
    GRID_PARAMS,
    FormError,
    form_error_text,
    request_from_form,
)
from backend.research.simulator.requests import SweepRequest, parse
from components import job_progress as job

# A static path, registered ahead of the /research/simulations/<name> template (pages with an
# order come first in the registry, and the first match wins), so "new" is never a name.
dash.register_page(__name__, path="/research/simulations/new", title="New simulation", name="New simulation",
                   nav=False, order=91)

JOB_ID = "research-new-job"
PRICE_COLUMNS = {"timestamp", "symbol", "open", "high", "low", "close", "volume"}
FUNCTIONS = ("RSI", "CCI", "WILLR", "MOM", "ROC", "CMO", "MFI", "ADX", "ATR", "SMA", "EMA")
OPS = [{"value": "crosses_above", "label": "crosses above"}, {"value": "crosses_below", "label": "crosses below"},
       {"value": "above", "label": "is above"}, {"value": "below", "label": "is below"}]
KINDS = [{"value": "sma_cross", "label": "SMA crossover"}, {"value": "indicator_rule", "label": "Indicator rule"},
         {"value": "threshold", "label": "Threshold on a column"}]


class ids:
    DATASET = "research-new-dataset"
    SYMBOL = "research-new-symbol"
    COLUMN = "research-new-column"
    KIND = "research-new-kind"
    SMA = "research-new-sma"
    RULE = "research-new-rule"
    THRESHOLD = "research-new-threshold"
    X_PARAM = "research-new-x-param"
    Y_PARAM = "research-new-y-param"
    SUBMIT = "research-new-submit"
    ERRORS = "research-new-errors"
    WATCH = "research-new-watch"
    WATCH_TICK = "research-new-watch-tick"
    URL = "research-new-url"
    JOB_BOX = "research-new-job-box"

    @staticmethod
    def field(name: str) -> dict[str, str]:
        return {"type": "research-new-field", "name": name}

    @staticmethod
    def toggle(name: str) -> dict[str, str]:
        return {"type": "research-new-toggle", "name": name}


def _number(name: str, label: str, value: Any, **kwargs: Any) -> dmc.NumberInput:
    return dmc.NumberInput(id=ids.field(name), label=label, value=value, w=kwargs.pop("w", 150), **kwargs)


def _switch(name: str, label: str, checked: bool = False) -> dmc.Switch:
    return dmc.Switch(id=ids.toggle(name), label=label, checked=checked, mt="lg")


def _select(name: str, label: str, data: list[Any], value: str, w: int = 170) -> dmc.Select:
    return dmc.Select(id=ids.field(name), label=label, data=data, value=value, w=w, allowDeselect=False)


def _first(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, str) and len(value) <= 60 else None


def _section(title: str, *children: Any, **kwargs: Any) -> dmc.Paper:
    return dmc.Paper([dmc.Title(title, order=5, mb=6), *children], withBorder=True, p="sm", radius="md", mb="sm",
                     **kwargs)


def layout(dataset: Any = None, symbol: Any = None, **_query: Any) -> html.Div:
    if not current_principal().can(RESEARCH_RUN):
        return html.Div([dmc.Title("New simulation", order=2),
                         dmc.Alert("Running simulations needs the research.run permission.", color="yellow"),
                         dcc.Link("← All simulations", href="/research/simulations")], className="research-page")
    infos = {info.name: info for info in current_datasets().list()}
    chosen = _first(dataset) if _first(dataset) in infos else next(iter(infos), None)
    asked = _first(symbol)
    wrong = chosen and asked and asked not in infos[chosen].symbols
    names = list(infos)
    functions = [f for f in FUNCTIONS if f in catalogue()]
    return html.Div(className="research-page research-new-page", children=[
        dcc.Store(id=ids.WATCH),
        dcc.Store(id=ids.URL),
        dcc.Interval(id=ids.WATCH_TICK, interval=job.POLL_MS, disabled=True),
        dmc.Group([dmc.Title("New simulation", order=2),
                   dcc.Link("← All simulations", href="/research/simulations")], justify="space-between", mb="sm"),
        _section("Data", dmc.Group([
            dmc.Select(id=ids.DATASET, label="Dataset", data=names, value=chosen, w=240, searchable=True,
                       allowDeselect=False),
            dmc.Select(id=ids.SYMBOL, label="Symbol", data=[], value=None if wrong else asked, w=160,
                       searchable=True, placeholder="one instrument"),
        ], align="flex-end"), dmc.Text(f"{chosen} has no symbol {asked!r}: choose one.", c="red", size="sm")
            if wrong else None),
        _section("Strategy", dmc.SegmentedControl(id=ids.KIND, data=KINDS, value="sma_cross", mb="sm"),
                 dmc.Group(id=ids.SMA, align="flex-end", children=[
                     _number("fast", "Fast SMA (bars)", 10), _number("slow", "Slow SMA (bars)", 50),
                     _switch("short", "Long and short")]),
                 dmc.Group(id=ids.RULE, align="flex-end", style={"display": "none"}, children=[
                     _select("function", "Indicator (TA-Lib)", functions, "RSI", w=150),
                     _number("period", "Period", 14, w=100),
                     _select("entry_op", "Enter when it", OPS, "crosses_below", w=150),
                     _number("entry_value", "Entry level", 30, w=110),
                     _select("exit_op", "Exit when it", OPS, "crosses_above", w=150),
                     _number("exit_value", "Exit level", 70, w=110)]),
                 dmc.Group(id=ids.THRESHOLD, align="flex-end", style={"display": "none"}, children=[
                     dmc.Select(id=ids.COLUMN, label="Column", data=[], w=200, searchable=True),
                     _number("long_threshold", "Long above", None), _number("short_threshold", "Short below", None)])),
        _section("Fills, costs and sizing", dmc.Group(align="flex-end", children=[
            _select("fill", "Fill at", [{"value": "next_open", "label": "next bar's open"},
                                        {"value": "close", "label": "signal bar's close"}], "next_open"),
            _number("fees", "Fees (fraction of value)", 0.0005, decimalScale=6, step=0.0001, w=170),
            _number("fixed_fee", "Fixed fee per fill", 0, w=140),
            _number("slippage_bps", "Slippage (bps)", 1, w=120),
            _number("init_cash", "Cash", 100_000, thousandSeparator=",", w=150),
        ]), dmc.Group(align="flex-end", mt="xs", children=[
            _select("sizing", "Sizing", [{"value": "all_in", "label": "all in"},
                                         {"value": "fraction", "label": "fraction of equity"},
                                         {"value": "units", "label": "units"}], "all_in"),
            _number("size", "Size", 1, w=100), _number("lot", "Lot", 1, w=90),
            _switch("fractional", "Fractional units"),
            _number("stop_loss", "Stop-loss %", None, w=110), _number("take_profit", "Take-profit %", None, w=120),
        ])),
        _section("Sweep (optional)", _switch("sweep", "Sweep a grid of parameters"), dmc.Group(align="flex-end", children=[
            dmc.Select(id=ids.X_PARAM, label="Vary", data=list(GRID_PARAMS["sma_cross"]), value="fast", w=190),
            _number("x_from", "from", 5, w=90), _number("x_to", "to", 20, w=90), _number("x_step", "step", 5, w=90),
        ]), dmc.Group(align="flex-end", children=[
            dmc.Select(id=ids.Y_PARAM, label="and", data=list(GRID_PARAMS["sma_cross"]), value="slow", w=190,
                       clearable=True, placeholder="(one parameter)"),
            _number("y_from", "from", 30, w=90), _number("y_to", "to", 120, w=90), _number("y_step", "step", 30, w=90),
        ])),
        dmc.Group([dmc.Button("Run", id=ids.SUBMIT), html.Div(id=ids.ERRORS, role="alert", className="research-new-errors")],
                  align="flex-start"),
        # shown once a run is large enough to go to the job runner
        html.Div(job.job_progress(JOB_ID, kind="simulation", label="Run again as a job"), id=ids.JOB_BOX,
                 style={"display": "none"}),
    ])


@callback(Output(ids.SYMBOL, "data"), Output(ids.SYMBOL, "disabled"), Output(ids.COLUMN, "data"),
          Output(ids.URL, "data"), Input(ids.DATASET, "value"), State(ids.SYMBOL, "value"))
def choose_dataset(name: str | None, symbol: str | None) -> tuple[Any, ...]:
    if not name:
        raise PreventUpdate
    try:
        info = current_datasets().info(name)
    except (DatasetError, MeasurementNotFound, MeasurementNameError):
        return [], True, [], no_update
    columns = [c for c in info.columns if c not in PRICE_COLUMNS]
    query = {"dataset": info.name, **({"symbol": symbol} if symbol and info.symbols else {})}
    return list(info.symbols), not info.symbols, columns, "?" + urlencode(query)


# The dataset joins the address without a page load, so a link starts from it.
clientside_callback(
    """function (query) {
        if (typeof query !== 'string') return window.dash_clientside.no_update;
        if (window.location.search !== query) window.history.replaceState(null, '', window.location.pathname + query);
        return window.dash_clientside.no_update;
    }""",
    Output(ids.URL, "data", allow_duplicate=True), Input(ids.URL, "data"), prevent_initial_call=True,
)


@callback(output={"sma_cross": Output(ids.SMA, "style"), "indicator_rule": Output(ids.RULE, "style"),
                  "threshold": Output(ids.THRESHOLD, "style"), "x_params": Output(ids.X_PARAM, "data"),
                  "x_param": Output(ids.X_PARAM, "value"), "y_params": Output(ids.Y_PARAM, "data"),
                  "y_param": Output(ids.Y_PARAM, "value")},
          inputs=[Input(ids.KIND, "value")], prevent_initial_call=True)
def choose_kind(kind: str | None) -> dict[str, Any]:
    params = list(GRID_PARAMS.get(kind or "", GRID_PARAMS["sma_cross"]))
    shown = {k["value"]: None if k["value"] == kind else {"display": "none"} for k in KINDS}
    return {**shown, "x_params": params, "x_param": params[0], "y_params": params,
            "y_param": params[1] if len(params) > 1 else None}


def _fields() -> dict[str, Any]:
    """The form's values by name, from the callback's states."""
    fields: dict[str, Any] = {}
    for group in dash.ctx.states_list:
        for item in group if isinstance(group, list) else [group]:
            key = item["id"]["name"] if isinstance(item["id"], dict) else item["id"]
            fields[key.removeprefix("research-new-").replace("-", "_")] = item.get("value", item.get("checked"))
    return fields


@callback(Output(ids.ERRORS, "children"), Output(ids.WATCH, "data"), Output(ids.WATCH_TICK, "disabled"),
          Input(ids.SUBMIT, "n_clicks"),
          State(ids.field(ALL), "value"), State(ids.toggle(ALL), "checked"), State(ids.DATASET, "value"),
          State(ids.SYMBOL, "value"), State(ids.COLUMN, "value"), State(ids.KIND, "value"),
          State(ids.X_PARAM, "value"), State(ids.Y_PARAM, "value"), prevent_initial_call=True)
def submit(_n: int | None, *_states: Any) -> tuple[Any, Any, Any]:
    fields = _fields()
    try:
        model, raw = request_from_form(fields)
        request = parse(model, raw)
        simulations, by = current_simulations(), current_principal().id
        if simulations.workload(request).large:
            return None, _as_job(request, raw), False
        name = simulations.sweep(request, created_by=by)["name"] if isinstance(request, SweepRequest) \
            else simulations.run(request, created_by=by).name
    except (FormError, SimulationError, DatasetError, MeasurementNotFound) as exc:
        return _errors([_named(str(exc))]), None, True
    except ValueError as exc:  # the request model's: one problem per line, each field named
        return _errors(form_error_text(str(exc))), None, True
    set_props("url", {"href": f"/research/simulations/{name}"})
    return None, None, True


def _named(message: str) -> str:
    where, sep, text = message.partition(": ")
    return f"{where.capitalize()}: {text}" if sep and where in ("symbol", "dataset", "cell") else message


def _errors(lines: list[str]) -> dmc.Alert:
    return dmc.Alert(html.Ul([html.Li(line) for line in lines], style={"margin": 0, "paddingLeft": "1rem"}),
                     title="Nothing was run:", color="red", variant="light", className="research-new-error")


def _as_job(request: Any, raw: dict[str, Any]) -> int:
    kind = "sweep" if isinstance(request, SweepRequest) else "simulation"
    if not may_run_job(current_principal(), kind):
        raise ValueError("this run is too large to answer at once, and running it as a job needs permission to "
                         "run jobs")
    parameters = {"request": request.model_dump(mode="json"), "created_by": current_principal().id}
    try:
        submitted = current_jobs().submit(kind, parameters, current_owner())
    except JobError as exc:
        raise ValueError(str(exc)) from None
    # The job control on the page watches it (progress, cancel); "again" re-submits the same request.
    set_props(job.ids.config(JOB_ID), {"data": {"kind": kind, "parameters": parameters}})
    set_props(job.ids.job(JOB_ID), {"data": {"id": submitted.id}})
    set_props(ids.JOB_BOX, {"style": {"marginTop": "0.5rem"}})
    return submitted.id


@callback(Output(ids.WATCH_TICK, "disabled", allow_duplicate=True), Input(ids.WATCH_TICK, "n_intervals"),
          State(ids.WATCH, "data"), prevent_initial_call=True)
def follow(_tick: int | None, job_id: Any) -> Any:
    if not isinstance(job_id, int):
        return True
    try:
        record = current_jobs().get(job_id, current_owner())
    except JobNotFoundError:
        return True
    if not record.finished:
        return no_update
    name = (record.result or {}).get("simulation")
    if record.state == JobState.COMPLETED and name:
        set_props("url", {"href": f"/research/simulations/{name}"})
    return True
