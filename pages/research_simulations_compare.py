"""/research/simulations/compare?names=a,b: two to five simulations side by side.

Their equity curves overlaid (each as a return on its own cash, so different cash compares)
and their statistics in columns, the best value of each row marked.
"""

from __future__ import annotations

from typing import Any

import dash
import dash_mantine_components as dmc
from dash import Input, Output, callback, dcc, html
from dash.exceptions import PreventUpdate

from backend.research.runtime import current_simulations
from backend.research.simulation_service import SimulationError
from backend.research.simulation_views import compare_stats, format_stat
from components import simulation_charts as charts
from components.admin_nav import notice

# A static path, registered ahead of the /research/simulations/<name> template (pages with an
# order come first in the registry, and the first match wins), so "compare" is never a name.
dash.register_page(__name__, path="/research/simulations/compare", title="Compare simulations",
                   name="Compare simulations", nav=False, order=90)

COMPARE_MIN, COMPARE_MAX = 2, 5


class ids:
    NAMES = "research-compare-names"
    CHART = "research-compare-chart"


def _names(raw: Any) -> list[str]:
    if isinstance(raw, list):
        raw = raw[0] if raw else ""
    if not isinstance(raw, str) or len(raw) > 400:
        return []
    return list(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))


def _table(records: list[dict[str, Any]]) -> html.Table:
    head = html.Thead(html.Tr([html.Th("Statistic"), *[html.Th(dcc.Link(r["name"], href=f"/research/simulations/"
                                                                                        f"{r['name']}")) for r in records]]))
    body = []
    for row in compare_stats(records):
        cells = [html.Td(format_stat(row["key"], value), className="research-compare-best" if i in row["best"] else None,
                         title="best" if i in row["best"] else None)
                 for i, value in enumerate(row["values"])]
        body.append(html.Tr([html.Th(row["label"], scope="row"), *cells]))
    return html.Table([head, html.Tbody(body)], className="research-compare-table")


def layout(names: Any = None, **_query: Any) -> html.Div:
    wanted = _names(names)
    back = dcc.Link("← All simulations", href="/research/simulations")
    if not COMPARE_MIN <= len(wanted) <= COMPARE_MAX:
        return html.Div([dmc.Title("Compare simulations", order=2), back,
                         notice(f"Choose {COMPARE_MIN} to {COMPARE_MAX} simulations to compare "
                                f"({len(wanted)} given).", "yellow")], className="research-page")
    simulations = current_simulations()
    records, missing = [], []
    for name in wanted:
        try:
            records.append(simulations.get(name))
        except SimulationError:
            missing.append(name[:60])
    if missing:
        return html.Div([dmc.Title("Compare simulations", order=2), back,
                         notice("There is no simulation " + ", ".join(repr(n) for n in missing) + ".")],
                        className="research-page")
    subtitle = [dmc.Text(f"{r['name']}: {r.get('label')} on {r.get('dataset')}"
                         + (f" ({r.get('type')})" if r.get("type") == "sweep" else ""), size="sm", c="dimmed")
                for r in records]
    return html.Div(className="research-page", children=[
        dcc.Store(id=ids.NAMES, data=[r["name"] for r in records]),
        dmc.Group([dmc.Title("Compare simulations", order=2), back], justify="space-between"),
        *subtitle,
        dmc.Paper([dmc.Title("Return on cash %", order=5),
                   dcc.Graph(id=ids.CHART, config={"displaylogo": False}, style={"height": "380px"})],
                  withBorder=True, p="sm", radius="md", mt="sm"),
        dmc.Paper([dmc.Title("Statistics (best of each row marked)", order=5, mb=4), _table(records)],
                  withBorder=True, p="sm", radius="md", mt="sm"),
    ])


@callback(Output(ids.CHART, "figure"), Input(ids.NAMES, "data"), Input("shell-scheme", "data"))
def draw(names: list[str] | None, scheme: str | None) -> Any:
    if not isinstance(names, list) or not COMPARE_MIN <= len(names) <= COMPARE_MAX:
        raise PreventUpdate
    simulations = current_simulations()
    try:
        curves = [(name, simulations.equity(name),
                   float(((simulations.get(name).get("request") or {}).get("costs") or {}).get("init_cash") or 1.0))
                  for name in names]
    except SimulationError:
        raise PreventUpdate from None
    return charts.compare_figure(curves, dark=scheme == "dark")
