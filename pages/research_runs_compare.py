"""/research/runs/compare?names=a,b: walk-forward runs side by side.

Parallel axes over only the hyperparameters that differ between the runs, then a metric
(``?metric=``, which also colours the lines); that metric per fold, a line per run; and each
run's stitched out-of-sample equity overlaid.
"""

from __future__ import annotations

from typing import Any

import dash
import dash_mantine_components as dmc
from dash import Input, Output, State, callback, clientside_callback, dcc, html
from dash.exceptions import PreventUpdate

from backend.research.run_views import differing_columns, fold_metrics, label, metric_columns, oos_curves
from backend.research.runtime import current_datasets
from backend.research.walkforward.service import RunError, Runs
from components import run_charts as charts
from components.admin_nav import notice

# A static path, registered ahead of the /research/runs/<name> template (pages with an order come
# first in the registry, and the first match wins), so "compare" is never a run's name.
dash.register_page(__name__, path="/research/runs/compare", title="Compare runs", name="Compare runs", nav=False,
                   order=92)

COMPARE_MIN, COMPARE_MAX = 2, 8


class ids:
    NAMES = "research-runs-cmp-names"
    METRIC = "research-runs-cmp-metric"
    PARCOORDS = "research-runs-cmp-parcoords"
    FOLDS = "research-runs-cmp-folds"
    EQUITY = "research-runs-cmp-equity"
    URL = "research-runs-cmp-url"


def _names(raw: Any) -> list[str]:
    if isinstance(raw, list):
        raw = raw[0] if raw else ""
    if not isinstance(raw, str) or len(raw) > 800:
        return []
    return list(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))


def _card(title: str, *children: Any, **kwargs: Any) -> dmc.Paper:
    return dmc.Paper([dmc.Title(title, order=5, mb=4), *children], withBorder=True, p="sm", radius="md", **kwargs)


def _rows(names: list[str]) -> list[dict[str, Any]]:
    wanted = set(names)
    found = {r["name"]: r for r in Runs(current_datasets()).summaries() if r["name"] in wanted}
    return [found[n] for n in names if n in found]


def layout(names: Any = None, metric: Any = None, **_query: Any) -> html.Div:
    wanted = _names(names)
    back = dcc.Link("← All runs", href="/research/runs")
    if not COMPARE_MIN <= len(wanted) <= COMPARE_MAX:
        return html.Div([dmc.Title("Compare runs", order=2), back,
                         notice(f"Choose {COMPARE_MIN} to {COMPARE_MAX} runs to compare ({len(wanted)} given).",
                                "yellow")], className="research-page")
    rows = _rows(wanted)
    missing = [n[:60] for n in wanted if n not in {r["name"] for r in rows}]
    if missing:
        return html.Div([dmc.Title("Compare runs", order=2), back,
                         notice("There is no run " + ", ".join(repr(n) for n in missing) + ".")],
                        className="research-page")
    metrics = metric_columns(rows)
    asked = metric[0] if isinstance(metric, list) and metric else metric
    chosen = asked if asked in metrics else ("metric.sharpe" if "metric.sharpe" in metrics else
                                             (metrics[0] if metrics else None))
    differ = differing_columns(rows)
    said = ("The runs differ in " + ", ".join(label(c) for c in differ) + "." if differ else
            "The runs share every hyperparameter (they differ in data, features, target or folds).")
    return html.Div(className="research-page research-runs-cmp-page", children=[
        dcc.Store(id=ids.NAMES, data=wanted),
        dcc.Store(id=ids.URL),
        dmc.Group([dmc.Title("Compare runs", order=2), back], justify="space-between"),
        dmc.Group([dcc.Link(n, href=f"/research/runs/{n}") for n in wanted], gap="sm"),
        dmc.Text(said, size="sm", c="dimmed", mb="xs", className="research-runs-cmp-differ"),
        dmc.Select(id=ids.METRIC, label="Metric", data=[{"value": m, "label": label(m)} for m in metrics],
                   value=chosen, w=220, allowDeselect=False, mb="xs"),
        _card("Hyperparameters that differ, and the metric",
              dcc.Graph(id=ids.PARCOORDS, config={"displaylogo": False}, style={"height": "360px"})),
        dmc.Grid([
            dmc.GridCol(_card("The metric per fold", dcc.Graph(id=ids.FOLDS, config={"displaylogo": False},
                                                                style={"height": "340px"})), span={"base": 12, "lg": 5}),
            dmc.GridCol(_card("Out-of-sample equity (test windows stitched)",
                              dcc.Graph(id=ids.EQUITY, config={"displaylogo": False}, style={"height": "340px"})),
                        span={"base": 12, "lg": 7}),
        ], mt="xs"),
    ])


@callback(Output(ids.PARCOORDS, "figure"), Output(ids.FOLDS, "figure"), Output(ids.URL, "data"),
          Input(ids.METRIC, "value"), Input("shell-scheme", "data"), State(ids.NAMES, "data"))
def draw(metric: str | None, scheme: str | None, names: list[str] | None) -> tuple[Any, ...]:
    if not isinstance(names, list) or not metric or not metric.startswith("metric."):
        raise PreventUpdate
    dark = scheme == "dark"
    rows = _rows([str(n) for n in names[:COMPARE_MAX]])
    runs = Runs(current_datasets())
    try:
        per_run = [(r["name"], fold_metrics(runs.get(r["name"]))) for r in rows]
    except RunError:
        raise PreventUpdate from None
    axes = [*differing_columns(rows), metric]
    key = metric.removeprefix("metric.")
    return (charts.parcoords_figure(rows, axes, metric, dark=dark),
            charts.fold_compare_figure(per_run, key, dark=dark), metric)


@callback(Output(ids.EQUITY, "figure"), Input(ids.NAMES, "data"), Input("shell-scheme", "data"))
def draw_equity(names: list[str] | None, scheme: str | None) -> Any:
    if not isinstance(names, list):
        raise PreventUpdate
    runs = Runs(current_datasets())
    try:
        curves = [curve for n in names[:COMPARE_MAX]
                  for curve in oos_curves(str(n), runs.predictions(str(n)), runs.get(str(n)))]
    except RunError:
        raise PreventUpdate from None
    return charts.equity_figure(curves, dark=scheme == "dark")


# The chosen metric joins the address without a page load.
clientside_callback(
    """function (metric) {
        if (typeof metric !== 'string') return window.dash_clientside.no_update;
        const params = new URLSearchParams(window.location.search);
        params.set('metric', metric);
        const query = '?' + params.toString();
        if (window.location.search !== query) window.history.replaceState(null, '', window.location.pathname + query);
        return window.dash_clientside.no_update;
    }""",
    Output(ids.URL, "data", allow_duplicate=True), Input(ids.URL, "data"), prevent_initial_call=True,
)
