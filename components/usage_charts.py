"""Usage charts: events per day by kind, active users per day, and the pivot's most used dimensions and metrics.

Plain Plotly dicts drawn in light colours; ``THEME_JS`` recolours text and grid for the dark
theme (and the kiosk) in the browser, like the overview's charts, so a theme switch costs no
round trip.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from components.overview_charts import DARK, LIGHT

# Kinds in a fixed order and colour, so a kind keeps its colour whatever the range holds.
KIND_LABELS = {"page_view": "Page views", "api_call": "API calls", "callback": "Actions (callbacks)",
               "pivot": "Pivots", "job": "Jobs"}
KIND_COLOURS = {"page_view": "#4c6ef5", "api_call": "#22b8cf", "callback": "#adb5bd", "pivot": "#cc5de8",
                "job": "#fcc419"}
BAR = "#5c7cfa"

# Arguments: the shell's theme, the page's redraw counter, the URL's query string, then every figure;
# returns every figure recoloured.
THEME_JS = """
function (theme, _drawn, search) {
  const figures = Array.prototype.slice.call(arguments, 3);
  const kiosk = new URLSearchParams(search || "").get("kiosk") === "1";
  const c = (theme === "dark" || kiosk) ? __DARK__ : __LIGHT__;
  return figures.map(function (fig) {
    if (!fig || !fig.layout) { return window.dash_clientside.no_update; }
    const layout = Object.assign({}, fig.layout, {font: Object.assign({}, fig.layout.font, {color: c.ink})});
    ["xaxis", "yaxis"].forEach(function (k) {
      layout[k] = Object.assign({}, fig.layout[k], {gridcolor: c.grid, zerolinecolor: c.zero, linecolor: c.grid});
    });
    return Object.assign({}, fig, {layout: layout});
  });
}
""".replace("__DARK__", json.dumps(DARK)).replace("__LIGHT__", json.dumps(LIGHT))


def _layout(**extra: Any) -> dict[str, Any]:
    axis = {"gridcolor": LIGHT["grid"], "zerolinecolor": LIGHT["zero"], "linecolor": LIGHT["grid"],
            "automargin": True}
    return {
        "font": {"color": LIGHT["ink"], "family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif",
                 "size": 12},
        "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
        "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
        "legend": {"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom"},
        "xaxis": dict(axis), "yaxis": dict(axis), **extra,
    }


def days_between(start: date, end: date) -> list[str]:
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def trend_figure(trend: list[tuple[date, str, int]], start: date, end: date) -> dict[str, Any]:
    """Stacked bars of events per day, one trace per kind, every day of the range (zero when quiet)."""
    days = days_between(start, end)
    at = {d: i for i, d in enumerate(days)}
    series = {kind: [0] * len(days) for kind in KIND_LABELS}
    for day, kind, n in trend:
        if kind in series and day.isoformat() in at:
            series[kind][at[day.isoformat()]] = n
    data = [{"type": "bar", "name": KIND_LABELS[k], "x": days, "y": ys, "meta": k,
             "marker": {"color": KIND_COLOURS[k]}, "hovertemplate": "%{x}: %{y:,}<extra>" + KIND_LABELS[k] + "</extra>"}
            for k, ys in series.items()]
    return {"data": data, "layout": _layout(barmode="stack", xaxis={**_layout()["xaxis"], "type": "date"},
                                            yaxis={**_layout()["yaxis"], "rangemode": "nonnegative",
                                                   "title": {"text": "events"}})}


def active_users_figure(dau: list[tuple[date, int]], start: date, end: date) -> dict[str, Any]:
    days = days_between(start, end)
    by_day = {d.isoformat(): n for d, n in dau}
    return {"data": [{"type": "scatter", "mode": "lines+markers", "name": "Active users", "x": days,
                      "y": [by_day.get(d, 0) for d in days], "line": {"color": BAR},
                      "hovertemplate": "%{x}: %{y:,} users<extra></extra>"}],
            "layout": _layout(showlegend=False, xaxis={**_layout()["xaxis"], "type": "date"},
                              yaxis={**_layout()["yaxis"], "rangemode": "tozero", "title": {"text": "users"}})}


def top_figure(items: list[dict[str, Any]], what: str) -> dict[str, Any]:
    """Horizontal bars, the most used on top."""
    ordered = list(reversed(items))
    return {"data": [{"type": "bar", "orientation": "h", "name": what, "x": [i["uses"] for i in ordered],
                      "y": [i["name"] for i in ordered], "customdata": [i["users"] for i in ordered],
                      "marker": {"color": BAR},
                      "hovertemplate": "%{y}: %{x:,} uses by %{customdata:,} users<extra></extra>"}],
            "layout": _layout(showlegend=False, yaxis={**_layout()["yaxis"], "type": "category"},
                              xaxis={**_layout()["xaxis"], "title": {"text": "uses"}})}
