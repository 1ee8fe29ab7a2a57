"""/research/new: the form that starts a walk-forward run.

A dataset or one of its indicator versions (and a symbol of a panel), the feature columns, the
target (the forward return over h bars, its sign, or its quantile class), a model from the
whitelist with its hyperparameters inside their bounds, the folds (train, validation and test
sizes, purge, embargo, rolling or expanding), the threshold rule, the seed and thread count.
The whole request is checked on the server before anything is queued — the dataset read, the
features found, the folds laid out — and every problem is named next to its field and listed
under the button. A good request goes to the job runner; its progress and a cancel button show
here, and the run opens when it is done. ``?from=<run>`` fills the form from that run's request,
to run it again with changes; ``?dataset=`` starts from a dataset.
"""

from __future__ import annotations

from typing import Any, Final

import dash
import dash_mantine_components as dmc
from dash import ALL, Input, Output, State, callback, dcc, html, no_update, set_props
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
from backend.research.run_views import (
    error_lines,
    field_of,
    form_from_request,
    model_kinds,
    model_params,
    request_from_form,
    task_of,
)
from backend.research.runtime import current_datasets
from backend.research.walkforward.folds import GROUPS_MAX
from backend.research.walkforward.requests import RunError
from backend.research.walkforward.service import Runs
from components import job_progress as job

# A static path, ahead of nothing it could be mistaken for, but ordered like the other forms.
dash.register_page(__name__, path="/research/new", title="New walk-forward run", name="New walk-forward run",
                   nav=False, order=93)

JOB_ID = "research-run-new-job"
PRICE_COLUMNS: Final = {"timestamp", "symbol", "open", "high", "low", "close", "volume"}
FOLD_MODES: Final = [{"value": "rolling", "label": "walk forward, rolling window"},
                     {"value": "expanding", "label": "walk forward, expanding window"},
                     {"value": "combinatorial", "label": "combinatorial purged CV"}]
TARGETS: Final = [{"value": "return", "label": "Forward return"}, {"value": "sign", "label": "Its sign (up / not)"},
                  {"value": "quantile", "label": "Its quantile class"}]
DEFAULTS: Final = {"target_kind": "return", "horizon": 1, "classes": 3, "model_kind": "ridge", "model_params": {},
                   "train": 250, "validation": 60, "test": 60, "purge": None, "embargo": 0, "mode": "rolling",
                   "groups": 6, "test_groups": 2,
                   "rule_kind": "quantile", "long_quantile": 0.7, "short": True, "seed": 0, "threads": 1,
                   "features": [], "symbol": None}


class ids:
    SUBMIT = "research-run-new-submit"
    ERRORS = "research-run-new-errors"
    PARAMS = "research-run-new-params"
    WATCH = "research-run-new-watch"
    WATCH_TICK = "research-run-new-watch-tick"
    JOB_BOX = "research-run-new-job-box"
    JOB_LINK = "research-run-new-job-link"

    @staticmethod
    def field(name: str) -> dict[str, str]:
        return {"type": "research-run-new-field", "name": name}

    @staticmethod
    def param(name: str) -> dict[str, str]:
        return {"type": "research-run-new-param", "name": name}

    @staticmethod
    def toggle(name: str) -> dict[str, str]:
        return {"type": "research-run-new-toggle", "name": name}


def _first(value: Any, limit: int = 60) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, str) and len(value) <= limit else None


def _section(title: str, *children: Any) -> dmc.Paper:
    return dmc.Paper([dmc.Title(title, order=5, mb=6), *children], withBorder=True, p="sm", radius="md", mb="sm")


def _number(name: str, label: str, value: Any, w: int = 130, **kwargs: Any) -> dmc.NumberInput:
    return dmc.NumberInput(id=ids.field(name), label=label, value=value, w=w, **kwargs)


def _bounds(p: dict[str, Any]) -> str:
    low = "" if p["min"] is None else f"{p['min']:g}"
    high = "" if p["max"] is None else f"{p['max']:g}"
    return f"{low} to {high}" if low and high else (f"at least {low}" if low else f"at most {high}")


def param_inputs(kind: str, values: dict[str, Any] | None = None) -> list[Any]:
    """The hyperparameters of model ``kind``, each with its bounds said under it."""
    values = values or {}
    return [dmc.NumberInput(id=ids.param(p["name"]), label=p["name"].replace("_", " "), description=_bounds(p),
                            value=values.get(p["name"], p["default"]), w=150,
                            step=1 if p["integer"] else None, allowDecimal=not p["integer"])
            for p in model_params(kind)]


def _datasets() -> list[str]:
    """Every dataset and indicator version, by name."""
    return [r.name for r in current_datasets().records.list() if r.kind in ("dataset", "indicators")]


def _choices(name: str | None) -> tuple[list[str], list[str]]:
    """The symbols and the feature columns (every column but time, symbol and prices) of ``name``."""
    if not name:
        return [], []
    try:
        info = current_datasets().info(name)
    except (DatasetError, MeasurementNotFound, MeasurementNameError, ValueError):
        return [], []
    return list(info.symbols), [c for c in info.columns if c not in PRICE_COLUMNS]


def _from_run(name: str | None, job_id: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """The form's values from run ``name``'s request, or from walk-forward job ``job_id``'s (one of
    this user's), with what to say when there is no such run or job."""
    if name:
        try:
            return form_from_request(Runs(current_datasets()).get(name).get("request") or {}), None
        except RunError:
            return None, f"There is no run {name!r} to start from."
    if job_id and job_id.isdigit() and len(job_id) < 12:
        try:
            found = current_jobs().get(int(job_id), current_owner())
        except JobNotFoundError:
            found = None
        if found is not None and found.kind == "walkforward":
            return form_from_request((found.parameters or {}).get("request") or {}), None
        return None, f"There is no walk-forward job {job_id} of yours to start from."
    return None, None


def layout(dataset: Any = None, **query: Any) -> html.Div:
    if not current_principal().can(RESEARCH_RUN):
        return html.Div([dmc.Title("New walk-forward run", order=2),
                         dmc.Alert("Starting runs needs the research.run permission.", color="yellow"),
                         dcc.Link("← All runs", href="/research/runs")], className="research-page")
    source = _first(query.get("from"))
    prefill, missing = _from_run(source, _first(query.get("job"), 12))
    names = _datasets()
    values = {**DEFAULTS, **{k: v for k, v in (prefill or {}).items() if v is not None}}
    combinatorial = values["mode"] == "combinatorial"
    chosen = values.get("dataset") if prefill else (_first(dataset) if _first(dataset) in names else
                                                    next(iter(names), None))
    symbols, columns = _choices(chosen)
    kinds = [{"value": k, "label": k.replace("_", " ")} for k in model_kinds()]
    title = f"Re-run {source or 'job ' + str(_first(query.get('job')))} with changes" if prefill else \
        "New walk-forward run"
    return html.Div(className="research-page research-run-new-page", children=[
        dcc.Store(id=ids.WATCH),
        dcc.Interval(id=ids.WATCH_TICK, interval=job.POLL_MS, disabled=True),
        dmc.Group([dmc.Title(title, order=2), dmc.Group([dcc.Link("← All runs", href="/research/runs"),
                                                         dcc.Link("Jobs", href="/research/jobs")])],
                  justify="space-between", mb="sm"),
        dmc.Alert(missing, color="yellow", mb="sm") if missing else None,
        _section("Data and features", dmc.Group([
            dmc.Select(id=ids.field("dataset"), label="Dataset", data=names, value=chosen, w=220, searchable=True,
                       allowDeselect=False),
            dmc.Select(id=ids.field("symbol"), label="Symbol", data=symbols, value=values.get("symbol"), w=150,
                       searchable=True, clearable=True, disabled=not symbols, placeholder="one instrument"),
            dmc.MultiSelect(id=ids.field("features"), label="Features", data=columns,
                            value=[f for f in values["features"] if f in columns], w=520, searchable=True,
                            clearable=True, placeholder="columns the model reads", maxDropdownHeight=280),
        ], align="flex-start")),
        _section("Target", dmc.Group([
            dmc.Select(id=ids.field("target_kind"), label="Predict", data=TARGETS, value=values["target_kind"],
                       w=200, allowDeselect=False),
            _number("horizon", "Horizon (bars ahead)", values["horizon"], min=1, w=160),
            _number("classes", "Classes (quantile)", values["classes"], min=2, max=10, w=150),
        ], align="flex-start")),
        _section("Model", dmc.Select(id=ids.field("model_kind"), label="Model", data=kinds,
                                     value=values["model_kind"], w=260, allowDeselect=False, mb="xs"),
                 dmc.Group(param_inputs(values["model_kind"], values["model_params"]), id=ids.PARAMS,
                           align="flex-start")),
        _section("Folds", dmc.Group([
            dmc.Select(id=ids.field("mode"), label="Folds", data=FOLD_MODES, value=values["mode"], w=260,
                       allowDeselect=False),
            _number("train", "Train bars", values["train"], min=1, disabled=combinatorial),
            _number("test", "Test bars", values["test"], min=1, disabled=combinatorial),
            _number("groups", "Groups", values["groups"], min=3, max=GROUPS_MAX, w=100, disabled=not combinatorial),
            _number("test_groups", "Test groups", values["test_groups"], min=2, max=GROUPS_MAX - 1, w=110,
                    disabled=not combinatorial),
            _number("validation", "Validation bars", values["validation"], min=1),
            _number("purge", "Purge bars", values["purge"], min=0, placeholder="the horizon", w=120),
            _number("embargo", "Embargo bars", values["embargo"], min=0, w=120),
        ], align="flex-start"),
            dmc.Text("Combinatorial: the bars cut into groups, every choice of test groups fitted once and "
                     "recombined into several full out-of-sample paths; each split's validation is the end of "
                     "its longest training stretch.", size="xs", c="dimmed", mt=4)),
        _section("Thresholds and reproducibility", dmc.Group([
            dmc.Select(id=ids.field("rule_kind"), label="Threshold rule", data=[
                {"value": "quantile", "label": "a quantile of validation"},
                {"value": "sharpe", "label": "best validation Sharpe"}], value=values["rule_kind"], w=220,
                allowDeselect=False),
            _number("long_quantile", "Long quantile", values["long_quantile"], decimalScale=3, step=0.05, w=130),
            dmc.Switch(id=ids.toggle("short"), label="Long and short", checked=bool(values["short"]), mt="xl"),
            _number("seed", "Seed", values["seed"], min=0, w=110),
            _number("threads", "Threads", values["threads"], min=1, max=64, w=100),
        ], align="flex-start")),
        dmc.Group([dmc.Button("Start run", id=ids.SUBMIT),
                   html.Div(id=ids.ERRORS, role="alert", className="research-run-new-errors")], align="flex-start"),
        html.Div([job.job_progress(JOB_ID, kind="walkforward", label="Run again"),
                  dcc.Link("Watch it in the queue", href="/research/jobs", id=ids.JOB_LINK)],
                 id=ids.JOB_BOX, style={"display": "none"}),
    ])


@callback(Output(ids.field("train"), "disabled"), Output(ids.field("test"), "disabled"),
          Output(ids.field("groups"), "disabled"), Output(ids.field("test_groups"), "disabled"),
          Input(ids.field("mode"), "value"), prevent_initial_call=True)
def choose_fold_mode(mode: str | None) -> tuple[bool, bool, bool, bool]:
    combinatorial = mode == "combinatorial"
    return combinatorial, combinatorial, not combinatorial, not combinatorial


@callback(Output(ids.field("symbol"), "data"), Output(ids.field("symbol"), "disabled"),
          Output(ids.field("features"), "data"), Output(ids.field("features"), "value"),
          Input(ids.field("dataset"), "value"), State(ids.field("features"), "value"), prevent_initial_call=True)
def choose_dataset(name: str | None, features: list[str] | None) -> tuple[Any, ...]:
    symbols, columns = _choices(name)
    return symbols, not symbols, columns, [f for f in features or [] if f in columns]


@callback(Output(ids.PARAMS, "children"), Output(ids.field("target_kind"), "value"),
          Input(ids.field("model_kind"), "value"), State(ids.field("target_kind"), "value"),
          prevent_initial_call=True)
def choose_model(kind: str | None, target: str | None) -> tuple[Any, Any]:
    if not kind:
        raise PreventUpdate
    # a classifier learns a sign or a class, a regressor the return: keep the target one that fits
    fits = (target == "return") == (task_of(kind) == "regression")
    return param_inputs(kind), no_update if fits else ("return" if task_of(kind) == "regression" else "sign")


def _fields() -> dict[str, Any]:
    """The form's values by name, from the callback's states."""
    fields: dict[str, Any] = {"model_params": {}}
    for group in dash.ctx.states_list:
        for item in group if isinstance(group, list) else [group]:
            key = item["id"]
            value = item.get("value", item.get("checked"))
            if key.get("type") == "research-run-new-param":
                fields["model_params"][key["name"]] = value
            else:
                fields[key["name"]] = value
    return fields


@callback(output={"errors": Output(ids.ERRORS, "children"), "field_errors": Output(ids.field(ALL), "error"),
                  "param_errors": Output(ids.param(ALL), "error"), "job": Output(ids.WATCH, "data"),
                  "idle": Output(ids.WATCH_TICK, "disabled")},
          inputs=[Input(ids.SUBMIT, "n_clicks")],
          state=[State(ids.field(ALL), "value"), State(ids.param(ALL), "value"), State(ids.toggle(ALL), "checked")],
          prevent_initial_call=True)
def submit(_n: int | None, field_values: list[Any], param_values: list[Any], _toggles: list[Any]) -> dict[str, Any]:
    fields = _fields()
    # the error outputs are the same fields as the states, in the same order
    field_names = [item["id"]["name"] for item in dash.ctx.states_list[0]]
    param_names = [item["id"]["name"] for item in dash.ctx.states_list[1]]
    try:
        raw = request_from_form(fields)
        prepared = Runs(current_datasets()).prepare(raw)  # every check a run makes, before anything is queued
        job_id = _queue(prepared.request.model_dump(mode="json"))
    except (RunError, ValueError) as exc:
        lines = error_lines(str(exc))
        at = {field_of(key, param_names): text for key, text in reversed(lines)}
        return {"errors": _errors([text for _, text in lines]), "field_errors": [at.get(n) for n in field_names],
                "param_errors": [at.get("param:" + n) for n in param_names], "job": None, "idle": True}
    return {"errors": None, "field_errors": [None] * len(field_names), "param_errors": [None] * len(param_names),
            "job": job_id, "idle": False}


def _errors(lines: list[str]) -> dmc.Alert:
    return dmc.Alert(html.Ul([html.Li(line) for line in lines], style={"margin": 0, "paddingLeft": "1rem"}),
                     title="Nothing was queued:", color="red", variant="light", className="research-run-new-error")


def _queue(request: dict[str, Any]) -> int:
    if not may_run_job(current_principal(), "walkforward"):
        raise ValueError("starting a run needs permission to run jobs")
    parameters = {"request": request, "created_by": current_principal().id, "resume_from": None}
    try:
        submitted = current_jobs().submit("walkforward", parameters, current_owner())
    except JobError as exc:
        raise ValueError(str(exc)) from None
    # The job control on the page watches it (progress, cancel); "again" queues the same request.
    set_props(job.ids.config(JOB_ID), {"data": {"kind": "walkforward", "parameters": parameters}})
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
    name = (record.result or {}).get("run")
    if record.state == JobState.COMPLETED and isinstance(name, str):
        set_props("url", {"href": f"/research/runs/{name}"})
    return True
