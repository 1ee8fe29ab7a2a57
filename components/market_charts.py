"""Plotly figures for /market as plain dicts: index intraday with volume, foreign flow, futures basis.

Each chart's headline (level, change, basis, flow) is the part's ``title``, shown as page text
above the chart by ``chart_title`` — so the numbers appear before Plotly has drawn anything.

The page's first render builds every figure here from the shared market view (so the first
numbers arrive with the page); afterwards the browser extends them in place from the view's
changes (``assets/market.js``), using ``CHARTS`` to know which trace draws which column, and
re-colours them from ``THEMES`` when the theme changes. Dicts, not ``go.Figure``: validating
a figure costs more than the whole update it carries.
"""

from __future__ import annotations

from typing import Any, Final

from backend.market.market_view import MarketView

# Colours that follow the theme; backgrounds stay transparent so the card's colour shows. The VN
# tones (up, down, reference, ceiling, floor) are the board's (--db-* in assets/base.css): at
# least 4.5:1 on the light card and on the dark one, so lines and bars keep well over the 3:1
# WCAG 1.4.11 asks of graphics in either theme.
TONE_NAMES: Final = ("up", "down", "ref", "ceiling", "floor")
THEMES: Final[dict[str, dict[str, str]]] = {
    "light": {"font": "#1f2937", "muted": "#6b7280", "grid": "#e5e7eb", "zero": "#9ca3af", "hover": "#ffffff",
              "flow": "#64748b", "index": "#4f46e5", "futures": "#c2410c",
              "up": "#067647", "down": "#c8261a", "ref": "#8f6200", "ceiling": "#8b2fd9", "floor": "#0b7285"},
    "dark": {"font": "#e5e7eb", "muted": "#9ca3af", "grid": "#3f3f46", "zero": "#71717a", "hover": "#27272a",
             "flow": "#94a3b8", "index": "#818cf8", "futures": "#fb923c",
             "up": "#32d583", "down": "#ff7b72", "ref": "#fac515", "ceiling": "#c792ff", "floor": "#22d3ee"},
}


# Which graph draws which view series, and the column each trace (in order) draws.
# ``themed``: traces whose colour is a theme colour; ``signs``: the bar trace coloured by its sign.
CHARTS: Final[dict[str, dict[str, Any]]] = {
    "vn30": {"graph": "market-vn30", "traces": ["value", "flow"], "themed": {"1": "flow"}},
    "vnindex": {"graph": "market-vnindex", "traces": ["value", "flow"], "themed": {"1": "flow"}},
    "foreign": {"graph": "market-foreign-speed", "traces": ["buy", "sell"]},
    "basis": {"graph": "market-basis", "traces": ["index", "futures", "basis"],
              "themed": {"0": "index", "1": "futures"}, "signs": 2},
}
LEADERS_GRAPH: Final = "market-foreign-leaders"
# The order of the page's figure outputs.
GRAPHS: Final[tuple[str, ...]] = (CHARTS["vn30"]["graph"], CHARTS["vnindex"]["graph"], CHARTS["foreign"]["graph"],
                                  LEADERS_GRAPH, CHARTS["basis"]["graph"])
# The lunch break (11:30–13:00 VN) is cut out of the time axis; the data has a gap point there too.
_LUNCH_BREAK: Final = [{"bounds": [11.5, 13], "pattern": "hour"}]


def client_config(*, kiosk: bool) -> dict[str, Any]:
    """What the browser needs to extend and re-colour the charts."""
    return {"charts": CHARTS, "leaders": LEADERS_GRAPH, "graphs": list(GRAPHS), "themes": THEMES,
            "toneNames": list(TONE_NAMES), "kiosk": kiosk}


def chart_title(part: dict[str, Any]) -> str:
    return part["title"]


def title_class(part: dict[str, Any]) -> str:
    """The headline's class: coloured by the index's change where it has one."""
    return "market-title" + (f" market-{part['tone']}" if "tone" in part else "")


def _axis(colours: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {"gridcolor": colours["grid"], "linecolor": colours["grid"], "zerolinecolor": colours["zero"],
            "tickfont": {"color": colours["font"]}, "title": {"font": {"color": colours["font"]}}, **extra}


def _time_axis(colours: dict[str, str], session: tuple[int, int] | None) -> dict[str, Any]:
    axis = _axis(colours, type="date", tickformat="%H:%M", hoverformat="%H:%M", rangebreaks=_LUNCH_BREAK)
    if session:
        axis["range"] = list(session)  # the whole trading day: the line grows left to right
    return axis


def _layout(note: str | None, colours: dict[str, str], *, height: int, **extra: Any) -> dict[str, Any]:
    # No Plotly title: the page shows each chart's headline as text above it, drawn before Plotly is.
    return {
        "meta": "dark" if colours is THEMES["dark"] else "light",  # the theme these colours are
        "height": height, "margin": {"l": 52, "r": 16, "t": 24, "b": 28},
        "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)", "font": {"color": colours["font"]},
        "hoverlabel": {"bgcolor": colours["hover"], "font": {"color": colours["font"]}},
        "legend": {"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right", "font": {"color": colours["font"]}},
        "uirevision": "keep", "hovermode": "x unified",
        "annotations": [{"text": note or "", "visible": bool(note), "showarrow": False, "x": 0.5, "y": 0.5,
                         "xref": "paper", "yref": "paper", "font": {"color": colours["muted"], "size": 13}}],
        **extra,
    }


def _cols(view: MarketView, name: str) -> tuple[list[int], dict[str, list[float | None]]]:
    series = view.series[name]
    return list(series.x), {k: list(v) for k, v in series.cols.items()}


def index_figure(view: MarketView, key: str, theme: str = "light") -> dict[str, Any]:
    """An index's level by minute (coloured by its change) over what traded each minute."""
    colours, part = THEMES[theme], view.parts[key]
    x, cols = _cols(view, key)
    unit = part["unit"]
    data = [
        {"type": "scatter", "mode": "lines", "x": x, "y": cols["value"], "name": key.upper(), "connectgaps": False,
         "line": {"color": colours[part["tone"]], "width": 2}, "hovertemplate": "%{y:,.2f}<extra></extra>"},
        {"type": "bar", "x": x, "y": cols["flow"], "yaxis": "y2", "name": f"traded ({unit})",
         "marker": {"color": colours["flow"]}, "hovertemplate": f"%{{y:,.2f}} {unit}<extra></extra>"},
    ]
    prior = part["prior"]
    shapes = [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": prior or 0, "y1": prior or 0,
               "visible": bool(prior), "line": {"color": colours["ref"], "dash": "dot", "width": 1}}]
    layout = _layout(part["note"], colours, height=300, showlegend=False, shapes=shapes, bargap=0.1,
                     xaxis=_time_axis(colours, view.session),
                     yaxis=_axis(colours, domain=[0.3, 1], tickformat=",.0f"),
                     yaxis2=_axis(colours, domain=[0, 0.22], showgrid=False, title={"text": unit, "font": {
                         "color": colours["muted"], "size": 10}}))
    return {"data": data, "layout": layout}


def foreign_speed_figure(view: MarketView, theme: str = "light") -> dict[str, Any]:
    colours, part = THEMES[theme], view.parts["foreign"]
    x, cols = _cols(view, "foreign")
    data = [
        {"type": "scatter", "mode": "lines", "x": x, "y": cols["buy"], "name": "buy", "connectgaps": False,
         "line": {"color": colours["up"]}, "hovertemplate": "%{y:,.2f}<extra>buy</extra>"},
        {"type": "scatter", "mode": "lines", "x": x, "y": cols["sell"], "name": "sell", "connectgaps": False,
         "line": {"color": colours["down"]}, "hovertemplate": "%{y:,.2f}<extra>sell</extra>"},
    ]
    layout = _layout(part["note"], colours, height=280, xaxis=_time_axis(colours, view.session),
                     yaxis=_axis(colours, title={"text": "bn VND / min", "font": {"color": colours["muted"],
                                                                                   "size": 10}}))
    return {"data": data, "layout": layout}


def foreign_leaders_figure(view: MarketView, theme: str = "light") -> dict[str, Any]:
    colours, part = THEMES[theme], view.parts["leaders"]
    data = [{"type": "bar", "orientation": "h", "y": part["symbols"], "x": part["values"], "name": "net",
             "marker": {"color": [colours[t] for t in part["tones"]]},
             "hovertemplate": "%{y}: %{x:,.2f} bn VND<extra></extra>"}]
    layout = _layout(part["note"], colours, height=300, showlegend=False, hovermode="closest",
                     xaxis=_axis(colours, zeroline=True), yaxis=_axis(colours, type="category"))
    return {"data": data, "layout": layout}


def basis_figure(view: MarketView, theme: str = "light") -> dict[str, Any]:
    colours, part = THEMES[theme], view.parts["basis"]
    x, cols = _cols(view, "basis")
    data = [
        {"type": "scatter", "mode": "lines", "x": x, "y": cols["index"], "name": "VN30", "connectgaps": False,
         "line": {"color": colours["index"]}, "hovertemplate": "%{y:,.2f}<extra>VN30</extra>"},
        {"type": "scatter", "mode": "lines", "x": x, "y": cols["futures"], "name": part["symbol"] or "futures",
         "connectgaps": False, "line": {"color": colours["futures"]}, "hovertemplate": "%{y:,.1f}<extra></extra>"},
        {"type": "bar", "x": x, "y": cols["basis"], "name": "basis", "yaxis": "y2", "opacity": 0.35,
         "marker": {"color": [colours["up"] if (b or 0) >= 0 else colours["down"] for b in cols["basis"]]},
         "hovertemplate": "%{y:+,.1f} pts<extra>basis</extra>"},
    ]
    layout = _layout(part["note"], colours, height=300, xaxis=_time_axis(colours, view.session),
                     yaxis=_axis(colours, tickformat=",.0f"),
                     yaxis2=_axis(colours, overlaying="y", side="right", showgrid=False, zeroline=True,
                                  title={"text": "basis (pts)", "standoff": 4,
                                         "font": {"color": colours["muted"], "size": 10}}))
    layout["margin"] = {**layout["margin"], "r": 52}
    return {"data": data, "layout": layout}


def figures(view: MarketView, theme: str = "light") -> dict[str, dict[str, Any]]:
    """Every figure of the page, by graph id."""
    return {
        CHARTS["vn30"]["graph"]: index_figure(view, "vn30", theme),
        CHARTS["vnindex"]["graph"]: index_figure(view, "vnindex", theme),
        CHARTS["foreign"]["graph"]: foreign_speed_figure(view, theme),
        LEADERS_GRAPH: foreign_leaders_figure(view, theme),
        CHARTS["basis"]["graph"]: basis_figure(view, theme),
    }
