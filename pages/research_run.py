"""/research/runs/<name>: one walk-forward run.

The leakage audit first (passed, flagged or failed, with every problem and flag), then the
folds on a timeline — train | purge | validation | purge | test | embargo, in recorded time —
the test metrics of each fold as a table and a chart, the thresholds each fold chose on its
validation window, the feature importances, the stitched out-of-sample equity, downloads of
the predictions, and what the run was made of. "Re-run with changes" opens the form filled
from this run's request.
"""

from __future__ import annotations

import json
from typing import Any, Final

import dash
import dash_mantine_components as dmc
from dash import Input, Output, State, callback, dcc, html, set_props
from dash.exceptions import PreventUpdate

from backend.access.current import current_principal
from backend.access.permissions import RESEARCH_RUN
from backend.research.run_simulation import paths_of, simulate_run
from backend.research.run_views import fold_bands, fold_metrics, importances, oos_curves, threshold_rows
from backend.research.runtime import current_datasets
from backend.research.walkforward.service import RunError, Runs
from components import run_charts as charts
from components.admin_nav import notice

dash.register_page(__name__, path_template="/research/runs/<name>", title="Walk-forward run", name="Walk-forward run",
                   nav=False)

TABLE_METRICS: Final = ("ic", "hit_rate", "auc", "rmse", "return_pct", "sharpe", "max_drawdown_pct", "trades",
                        "exposure_pct", "test_bars")
CHART_METRICS: Final = ["ic", "hit_rate", "sharpe"]
API: Final = "/api/v1/research/runs/{name}/predictions?format={fmt}"


class ids:
    STATE = "research-run-state"
    TIMELINE = "research-run-timeline"
    METRICS = "research-run-metrics"
    IMPORTANCES = "research-run-importances"
    EQUITY = "research-run-equity"
    SIMULATE = "research-run-simulate"
    NOTICES = "research-run-notices"


def _card(title: str, *children: Any, **kwargs: Any) -> dmc.Paper:
    return dmc.Paper([dmc.Title(title, order=5, mb=4), *children], withBorder=True, p="sm", radius="md", **kwargs)


def _graph(graph_id: str, height: int) -> dcc.Graph:
    return dcc.Graph(id=graph_id, config={"displaylogo": False}, style={"height": f"{height}px"})


def _number(value: Any, fmt: str = ".4f") -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    return f"{value:,}" if isinstance(value, int) else format(value, fmt)


def audit_panel(audit: dict[str, Any]) -> dmc.Alert:
    problems, flags = audit.get("problems") or [], audit.get("flags") or []
    if not audit.get("passed", False):
        title, colour = "Leakage audit failed", "red"
    elif flags:
        title, colour = "Leakage audit passed, with flags to look at", "yellow"
    else:
        title, colour = "Leakage audit passed", "teal"
    items = [html.Li(f"{'Problem' if f in problems else 'Flag'} — {f.get('check')}"
                     + (f" (fold {f['fold']})" if f.get("fold") is not None else "") + f": {f.get('detail')}")
             for f in [*problems, *flags]]
    checked = ", ".join(audit.get("checked") or [])
    return dmc.Alert([html.Ul(items, style={"margin": 0, "paddingLeft": "1rem"}) if items else None,
                      dmc.Text(f"Checked: {checked}.", size="xs", c="dimmed", mt=4)],
                     title=title, color=colour, variant="light", className=f"research-run-audit audit-{colour}",
                     mb="sm")


def _metrics_table(record: dict[str, Any]) -> dmc.Table:
    frame = fold_metrics(record)
    keys = [k for k in TABLE_METRICS if k in frame.columns]
    head = ["Fold", *[k.replace("_", " ") for k in keys]]
    body = [[str(row["fold"]), *[_number(row.get(k)) if k not in ("trades", "test_bars") else _number(row.get(k), ",")
                                 for k in keys]] for row in frame.to_dict("records")]
    summary = record.get("summary") or {}
    body.append(["all", *[_number(summary.get(k)) if k not in ("trades", "test_bars") else
                          _number(summary.get(k), ",") for k in keys]])
    return dmc.Table(data={"head": head, "body": body}, striped=True, withTableBorder=True, fz="xs",
                     verticalSpacing=2, className="research-run-metrics-table")


def _thresholds_table(record: dict[str, Any]) -> dmc.Table:
    rows = threshold_rows(record)
    body = [[str(r["fold"]), str(r["rule"]), _number(r["long"], ".5g"), _number(r["short"], ".5g"), r["from"],
             str(r["tried"] or "—")] for r in rows]
    return dmc.Table(data={"head": ["Fold", "Rule", "Long above", "Short below", "Chosen on", "Candidates"],
                           "body": body}, striped=True, withTableBorder=True, fz="xs", verticalSpacing=2,
                     className="research-run-thresholds")


def _trace(record: dict[str, Any]) -> dmc.Paper:
    request = record.get("request") or {}
    facts = [("Made", f"{record['created_at'][:19].replace('T', ' ')} UTC by {record.get('created_by') or '—'}"),
             ("Model", (request.get("model") or {}).get("kind")),
             ("Features", ", ".join(request.get("features") or [])),
             ("Bars", _number(record.get("bars"), ",")), ("Seed · threads", f"{record.get('seed')} · {record.get('threads')}"),
             ("Code version", record.get("code_version")), ("Data hash", (record.get("data_hash") or "")[:16] + "…")]
    return _card("How it was made", dmc.Table(data={"body": [[k, v] for k, v in facts]}, fz="xs", verticalSpacing=2),
                 html.Details([html.Summary("Request"), html.Pre(json.dumps(request, indent=2),
                                                                 className="research-sim-request")]),
                 className="research-run-trace")


def _missing_page(name: str) -> html.Div:
    return html.Div([dmc.Title(name[:40] or "Run", order=2), notice(f"There is no run {name[:60]!r}."),
                     dcc.Link("← All runs", href="/research/runs")], className="research-page")


def layout(name: str = "", **_query: Any) -> html.Div:
    try:
        record = Runs(current_datasets()).get(name)
    except RunError:
        return _missing_page(name)
    request = record.get("request") or {}
    target = request.get("target") or {}
    folds = request.get("folds") or {}
    subtitle = " · ".join(str(p) for p in (
        (request.get("model") or {}).get("kind"), record.get("dataset"), record.get("symbol"),
        f"target {target.get('kind')} over {target.get('horizon')} bars",
        f"{len(record.get('folds') or [])} folds ({folds.get('mode', 'rolling')})") if p)
    return html.Div(className="research-page research-run-page", children=[
        dcc.Store(id=ids.STATE, data={"name": record["name"]}),
        dmc.Group([dmc.Title(record["name"], order=2), dmc.Group([
            dcc.Link("← All runs", href="/research/runs"),
            dmc.Button("Simulate path 0's predictions" if paths_of(record) else "Simulate these predictions",
                       id=ids.SIMULATE, size="sm", variant="light",
                       className="db-kiosk-hide") if current_principal().can(RESEARCH_RUN) else None,
            dcc.Link(dmc.Button("Re-run with changes", size="sm", variant="light"),
                     href=f"/research/new?from={record['name']}", className="db-kiosk-hide research-run-rerun")])],
                  justify="space-between"),
        dmc.Text(subtitle, size="sm", c="dimmed", mb="xs"),
        html.Div(id=ids.NOTICES, role="status"),
        audit_panel(record.get("audit") or {}),
        _card("Folds", _graph(ids.TIMELINE, 60 + 34 * len(record.get("folds") or [])), className="research-run-folds"),
        dmc.Grid([
            dmc.GridCol(_card("Test metrics per fold", _metrics_table(record), _graph(ids.METRICS, 240)),
                        span={"base": 12, "lg": 7}),
            dmc.GridCol(_card("Feature importance (mean share over folds)", _graph(ids.IMPORTANCES, 300)),
                        span={"base": 12, "lg": 5}),
        ], mt="xs"),
        dmc.Grid([
            dmc.GridCol([_card("Out-of-sample equity (test windows stitched)", _graph(ids.EQUITY, 300)),
                         _card("Thresholds (chosen on each fold's validation window)", _thresholds_table(record),
                               mt="sm")], span={"base": 12, "lg": 8}),
            dmc.GridCol([_trace(record), _card("Predictions", dmc.Group([
                html.A(fmt.upper(), href=API.format(name=record["name"], fmt=fmt), download="",
                       className="research-run-download") for fmt in ("csv", "parquet", "arrow")]),
                dmc.Text("Every predicted bar: fold, band, prediction, target, forward return, and the equity and "
                         "position on test bars.", size="xs", c="dimmed", mt=4), mt="sm",
                className="db-kiosk-hide")], span={"base": 12, "lg": 4}),
        ], mt="xs"),
    ])


@callback(Output(ids.TIMELINE, "figure"), Output(ids.METRICS, "figure"), Output(ids.IMPORTANCES, "figure"),
          Output(ids.EQUITY, "figure"), Input(ids.STATE, "data"), Input("shell-scheme", "data"))
def draw(state: dict[str, Any] | None, scheme: str | None) -> tuple[Any, ...]:
    if not isinstance(state, dict):
        raise PreventUpdate
    runs, dark = Runs(current_datasets()), scheme == "dark"
    try:
        record, predictions = runs.get(state["name"]), runs.predictions(state["name"])
    except RunError:
        raise PreventUpdate from None
    last = predictions["timestamp"].max().isoformat() if len(predictions) else None
    return (charts.timeline_figure(fold_bands(record, last), dark=dark),
            charts.fold_metric_figure(fold_metrics(record), CHART_METRICS, dark=dark),
            charts.importance_figure(importances(record), dark=dark),
            charts.equity_figure(oos_curves(record["name"], predictions, record), dark=dark))


@callback(Output(ids.NOTICES, "children"), Input(ids.SIMULATE, "n_clicks"), State(ids.STATE, "data"),
          prevent_initial_call=True)
def simulate(_n: int | None, state: dict[str, Any] | None) -> Any:
    if not isinstance(state, dict):
        raise PreventUpdate
    if not current_principal().can(RESEARCH_RUN):
        return notice("Simulating a run needs the research.run permission.")
    try:
        name = simulate_run(current_datasets(), state["name"], created_by=current_principal().id)
    except RunError as exc:
        return notice(str(exc))
    set_props("url", {"href": f"/research/simulations/{name}"})
    return notice(f"Opening {name}…", "blue")
