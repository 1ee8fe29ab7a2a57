"""Figures of the research pages as plain dicts: the explorer's linked panels and the IC charts.

The explorer stacks panels on one time axis: candles with the price overlays on top, volume
under them, then one panel per oscillator. Panels share the x axis (``matches``), so zooming
one zooms all; the page redraws the window from the server at the screen's resolution.
"""

from __future__ import annotations

from typing import Any, Final

from backend.research.chart_data import ExplorerWindow
from components.market_charts import THEMES

LINE_COLOURS: Final = ("#4f46e5", "#c2410c", "#0b7285", "#8b2fd9", "#067647", "#b45309", "#be185d", "#475569")
DARK_LINE_COLOURS: Final = ("#818cf8", "#fb923c", "#22d3ee", "#c792ff", "#32d583", "#fac515", "#f472b6", "#94a3b8")


def _axis(colours: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {"gridcolor": colours["grid"], "zerolinecolor": colours["zero"], "color": colours["font"], **extra}


def explorer_figure(window: ExplorerWindow, *, dark: bool, revision: str) -> dict[str, Any]:
    colours = THEMES["dark" if dark else "light"]
    palette = DARK_LINE_COLOURS if dark else LINE_COLOURS
    oscillators = [s for s in window.lines if not s.overlay]
    panels = 2 + len(oscillators)  # prices, volume, one per oscillator
    # the price panel takes half the height, the others share the rest
    heights = [0.5] + [0.5 / (panels - 1)] * (panels - 1)
    tops, top = [], 1.0
    for h in heights:
        tops.append((max(top - h + 0.03, 0.0), top))
        top -= h
    data: list[dict[str, Any]] = [{
        "type": "candlestick", "name": window.symbol or window.info.name, "x": window.x, "open": window.open,
        "high": window.high, "low": window.low, "close": window.close, "xaxis": "x", "yaxis": "y",
        "increasing": {"line": {"color": colours["up"]}}, "decreasing": {"line": {"color": colours["down"]}},
        "showlegend": False,
    }]
    for i, line in enumerate(s for s in window.lines if s.overlay):
        data.append({"type": "scattergl" if len(line.x) > 2_000 else "scatter", "mode": "lines", "name": line.name,
                     "x": line.x, "y": line.y, "xaxis": "x", "yaxis": "y", "connectgaps": False,
                     "line": {"width": 1.4, "color": palette[i % len(palette)]}})
    data.append({"type": "bar", "name": "volume", "x": window.x, "y": window.volume, "xaxis": "x2", "yaxis": "y2",
                 "marker": {"color": colours["flow"]}, "showlegend": False})
    layout: dict[str, Any] = {
        "uirevision": revision, "margin": {"l": 56, "r": 16, "t": 8, "b": 32}, "hovermode": "x unified",
        "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)", "font": {"color": colours["font"]},
        "legend": {"orientation": "h", "y": 1.02, "x": 0, "yanchor": "bottom"}, "dragmode": "zoom",
        "xaxis": _axis(colours, rangeslider={"visible": False}, anchor="y", type="date",
                       showticklabels=False),
        "yaxis": _axis(colours, domain=list(tops[0]), title={"text": "price"}),
        "xaxis2": _axis(colours, matches="x", anchor="y2", type="date", showticklabels=panels == 2),
        "yaxis2": _axis(colours, domain=list(tops[1]), title={"text": "volume"}),
    }
    for i, line in enumerate(oscillators):
        n = i + 3
        data.append({"type": "scattergl" if len(line.x) > 2_000 else "scatter", "mode": "lines", "name": line.name,
                     "x": line.x, "y": line.y, "xaxis": f"x{n}", "yaxis": f"y{n}", "connectgaps": False,
                     "line": {"width": 1.2, "color": palette[(i + 3) % len(palette)]}})
        layout[f"xaxis{n}"] = _axis(colours, matches="x", anchor=f"y{n}", type="date",
                                    showticklabels=n == panels)
        layout[f"yaxis{n}"] = _axis(colours, domain=list(tops[n - 1]), title={"text": line.name[:14]})
    return {"data": data, "layout": layout}


def rolling_ic_figure(results: list[dict[str, Any]], *, dark: bool) -> dict[str, Any]:
    colours = THEMES["dark" if dark else "light"]
    palette = DARK_LINE_COLOURS if dark else LINE_COLOURS
    data = [{"type": "scatter", "mode": "lines", "name": f"{r['horizon']} bar{'s' if r['horizon'] > 1 else ''}",
             "x": r["rolling_end"], "y": r["rolling_ic"], "line": {"color": palette[i % len(palette)], "width": 1.4}}
            for i, r in enumerate(results)]
    return {"data": data, "layout": {
        "margin": {"l": 48, "r": 16, "t": 8, "b": 32}, "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)", "font": {"color": colours["font"]}, "hovermode": "x unified",
        "legend": {"orientation": "h", "y": 1.02, "x": 0, "yanchor": "bottom"},
        "xaxis": _axis(colours, type="date"), "yaxis": _axis(colours, title={"text": "rolling IC"}, zeroline=True)}}


def quantile_figure(results: list[dict[str, Any]], *, dark: bool) -> dict[str, Any]:
    colours = THEMES["dark" if dark else "light"]
    palette = DARK_LINE_COLOURS if dark else LINE_COLOURS
    data = [{"type": "bar", "name": f"{r['horizon']} bar{'s' if r['horizon'] > 1 else ''}",
             "x": [f"Q{q}" for q in r["quantile_returns"]],
             "y": [None if v is None else v * 1e4 for v in r["quantile_returns"].values()],
             "marker": {"color": palette[i % len(palette)]}} for i, r in enumerate(results)]
    return {"data": data, "layout": {
        "margin": {"l": 48, "r": 16, "t": 8, "b": 32}, "paper_bgcolor": "rgba(0,0,0,0)", "barmode": "group",
        "plot_bgcolor": "rgba(0,0,0,0)", "font": {"color": colours["font"]},
        "legend": {"orientation": "h", "y": 1.02, "x": 0, "yanchor": "bottom"},
        "xaxis": _axis(colours, title={"text": "indicator quintile (Q1 lowest)"}),
        "yaxis": _axis(colours, title={"text": "mean forward return (bp)"})}}
