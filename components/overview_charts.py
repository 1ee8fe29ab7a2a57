"""Overview charts: P&L by desk over recent trade dates, and exposure by desk on the day.

Figures are plain Plotly dicts (no template), drawn in light colours; the page
recolours text and grid for the dark theme in the browser (``THEME_JS``), so a
theme switch costs no server round trip. Every desk bar carries
``customdata = [desk, "YYYY-MM-DD"]`` and every day's total ``["YYYY-MM-DD"]``,
which ``backend.overview.chart_click_href`` turns into the pivot link for them.
"""

from __future__ import annotations

import json
import math
from datetime import date
from typing import Any

from backend.overview import DeskExposure, DeskTrend

# Desk colours: categorical, with no green or red (those mean profit and loss).
DESK_COLOURS = ("#845ef7", "#22b8cf", "#fcc419", "#cc5de8", "#868e96", "#91a7ff", "#66d9e8", "#ffd8a8")
# Long and short are positions, not gains: two neutral hues not used for any desk.
LONG, SHORT = "#364fc7", "#ff922b"
LIGHT = {"ink": "#343a40", "grid": "rgba(0,0,0,0.08)", "zero": "rgba(0,0,0,0.35)"}
DARK = {"ink": "#c9c9c9", "grid": "rgba(255,255,255,0.10)", "zero": "rgba(255,255,255,0.45)"}

# Recolours both figures for the theme the shell stores ("light"/"dark"; kiosk is always dark).
# Traces drawn in the text colour say so with meta "ink".
THEME_JS = """
function (theme, _drawn, search, trend, exposure) {
  const kiosk = new URLSearchParams(search || "").get("kiosk") === "1";
  const c = (theme === "dark" || kiosk) ? __DARK__ : __LIGHT__;
  function paint(fig) {
    if (!fig || !fig.layout) { return window.dash_clientside.no_update; }
    const layout = Object.assign({}, fig.layout, {font: Object.assign({}, fig.layout.font, {color: c.ink})});
    ["xaxis", "yaxis"].forEach(function (k) {
      layout[k] = Object.assign({}, fig.layout[k], {gridcolor: c.grid, zerolinecolor: c.zero, linecolor: c.grid});
    });
    const data = (fig.data || []).map(function (t) {
      if (t.meta !== "ink") { return t; }
      return Object.assign({}, t, {marker: Object.assign({}, t.marker, {color: c.ink}),
                                   line: Object.assign({}, t.line, {color: c.ink})});
    });
    return Object.assign({}, fig, {layout: layout, data: data});
  }
  return [paint(trend), paint(exposure)];
}
""".replace("__DARK__", json.dumps(DARK)).replace("__LIGHT__", json.dumps(LIGHT))


def _layout(**extra: Any) -> dict[str, Any]:
    axis = {"gridcolor": LIGHT["grid"], "zerolinecolor": LIGHT["zero"], "linecolor": LIGHT["grid"],
            "automargin": True}
    layout: dict[str, Any] = {
        "font": {"color": LIGHT["ink"], "family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif",
                 "size": 12},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
        # Above the plot (the title is the page's): below it, rotated date ticks on a narrow screen run into it.
        "legend": {"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom"},
        "hoverlabel": {"namelength": -1},
        "xaxis": dict(axis),
        "yaxis": dict(axis),
    }
    for key, value in extra.items():
        layout[key] = {**layout[key], **value} if isinstance(value, dict) and key in layout else value
    return layout


def _short(day: date) -> str:
    return f"{day.day} {day:%b}"


def desk_pnl_figure(trend: DeskTrend) -> dict[str, Any]:
    """Stacked P&L bars per desk for each trade date (gains above zero, losses below), and the day's total."""
    iso = [d.isoformat() for d in trend.dates]
    step = max(1, math.ceil(len(iso) / 10))
    data: list[dict[str, Any]] = [
        {
            "type": "bar", "name": desk, "x": iso, "y": trend.pnl[desk],
            "customdata": [[desk, d] for d in iso],
            "marker": {"color": DESK_COLOURS[i % len(DESK_COLOURS)]},
            "hovertemplate": "<b>%{customdata[0]}</b><br>%{customdata[1]}<br>P&L %{y:$,.0f}<extra></extra>",
        }
        for i, desk in enumerate(trend.desks)
    ]
    data.append({
        "type": "scatter", "mode": "lines+markers", "name": "Total", "x": iso, "y": trend.total, "meta": "ink",
        "customdata": [[d] for d in iso],
        "line": {"color": LIGHT["ink"], "width": 1.5}, "marker": {"color": LIGHT["ink"], "size": 5},
        "hovertemplate": "<b>Total</b><br>%{x}<br>P&L %{y:$,.0f}<extra></extra>",
    })
    return {"data": data, "layout": _layout(
        barmode="relative",
        xaxis={"type": "category", "tickvals": iso[::-1][::step][::-1],
               "ticktext": [_short(d) for d in trend.dates[::-1][::step][::-1]]},
        yaxis={"tickformat": "$~s"},
    )}


def trend_title(trend: DeskTrend) -> str:
    return f"P&L by desk · last {len(trend.dates)} trade date{'s' if len(trend.dates) != 1 else ''}"


def exposure_title(day: date) -> str:
    return f"Exposure by desk · as of {day:%a} {_short(day)}"


def desk_exposure_figure(desks: list[DeskExposure], day: date) -> dict[str, Any]:
    """Long and short exposure per desk on ``day`` as horizontal bars, with net as a marker."""
    names = [d.desk for d in desks]
    custom = [[d.desk, day.isoformat()] for d in desks]
    gross = [d.gross for d in desks]
    hover = "<b>%{y}</b><br>{0} %{x:$,.0f}<br>Gross %{text}<extra></extra>"
    text = [f"${g:,.0f}" for g in gross]

    def bar(name: str, values: list[float], colour: str) -> dict[str, Any]:
        return {"type": "bar", "orientation": "h", "name": name, "y": names, "x": values, "customdata": custom,
                "text": text, "textposition": "none", "marker": {"color": colour},
                "hovertemplate": hover.replace("{0}", name)}

    data = [
        bar("Long", [d.long for d in desks], LONG),
        bar("Short", [d.short for d in desks], SHORT),
        {"type": "scatter", "mode": "markers", "name": "Net", "y": names, "x": [d.net for d in desks],
         "customdata": custom, "meta": "ink", "marker": {"symbol": "diamond", "size": 10, "color": LIGHT["ink"]},
         "hovertemplate": "<b>%{y}</b><br>Net %{x:$,.0f}<extra></extra>"},
    ]
    return {"data": data, "layout": _layout(
        barmode="relative",
        xaxis={"tickformat": "$~s"}, yaxis={"autorange": "reversed"},
    )}
