"""Figures of the simulation pages as plain dicts: equity with its underwater curve, the price
with the trades on it, monthly returns, the rolling Sharpe ratio, a sweep's heatmap and
several equity curves overlaid. Colours follow the theme as the other research charts do."""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import pandas as pd

from backend.research.downsample import extremes
from components.market_charts import THEMES
from components.research_charts import DARK_LINE_COLOURS, LINE_COLOURS, _axis


def _base(colours: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {"margin": {"l": 60, "r": 16, "t": 8, "b": 32}, "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)", "font": {"color": colours["font"]},
            "legend": {"orientation": "h", "y": 1.02, "x": 0, "yanchor": "bottom"}, **extra}


# A curve is drawn through each of this many slices' lowest and highest bars: every peak and
# trough a chart can show stays, and the browser draws a few thousand points as SVG rather
# than hundreds of thousands (WebGL is slow or missing on kiosk displays and in iframes).
BUCKETS: Final = 1_500


def _line(x: Any, y: Any, name: str, colour: str, **extra: Any) -> dict[str, Any]:
    return {"type": "scatter", "mode": "lines", "name": name, "x": x, "y": y,
            "line": {"width": 1.4, "color": colour}, **extra}


def thinned(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """The rows holding each slice's extremes of any of ``columns``, in time order."""
    keep = np.unique(np.concatenate([extremes(frame[c].to_numpy(dtype=float, na_value=np.nan), BUCKETS)
                                     for c in columns]))
    return frame.iloc[keep]


def _times(stamps: Any, time_zone: str) -> list[str]:
    index = pd.DatetimeIndex(stamps)
    if index.tz is not None:
        index = index.tz_convert(time_zone).tz_localize(None)
    return [t.isoformat(sep=" ") for t in index]


def equity_figure(equity: pd.DataFrame, *, dark: bool, time_zone: str = "UTC") -> dict[str, Any]:
    """Equity against buy-and-hold from the same cash on top, the drawdown (underwater) under it."""
    colours = THEMES["dark" if dark else "light"]
    palette = DARK_LINE_COLOURS if dark else LINE_COLOURS
    equity = thinned(equity, ("equity", "benchmark", "drawdown_pct"))
    x = _times(equity["timestamp"], time_zone)
    data = [_line(x, equity["equity"].tolist(), "strategy", palette[0], xaxis="x", yaxis="y"),
            _line(x, equity["benchmark"].tolist(), "buy & hold", colours["muted"], xaxis="x", yaxis="y"),
            _line(x, equity["drawdown_pct"].tolist(), "drawdown %", colours["down"], xaxis="x2", yaxis="y2",
                  fill="tozeroy", showlegend=False)]
    return {"data": data, "layout": _base(
        colours, hovermode="x unified",
        xaxis=_axis(colours, type="date", anchor="y", showticklabels=False),
        yaxis=_axis(colours, domain=[0.34, 1.0], title={"text": "equity"}),
        xaxis2=_axis(colours, type="date", anchor="y2", matches="x"),
        yaxis2=_axis(colours, domain=[0.0, 0.28], title={"text": "drawdown %"}))}


def price_figure(equity: pd.DataFrame, markers: dict[str, dict[str, list[Any]]], *, dark: bool,
                 time_zone: str = "UTC") -> dict[str, Any]:
    colours = THEMES["dark" if dark else "light"]
    equity = thinned(equity, ("close",))
    x = _times(equity["timestamp"], time_zone)
    data = [_line(x, equity["close"].tolist(), "close", colours["flow"])]
    for name, symbol, colour in (("entries", "triangle-up", colours["up"]), ("exits", "triangle-down", colours["down"])):
        points = markers[name]
        data.append({"type": "scatter", "mode": "markers", "name": name[:-1] if name == "entries" else "exit",
                     "x": _times(points["x"], time_zone), "y": points["y"], "text": points["text"],
                     "hovertemplate": "%{text}<br>%{y:,.2f}<extra></extra>",
                     "marker": {"symbol": symbol, "size": 9, "color": colour}})
    data[1]["name"] = "entry"
    return {"data": data, "layout": _base(colours, hovermode="closest", xaxis=_axis(colours, type="date"),
                                          yaxis=_axis(colours, title={"text": "price"}))}


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def monthly_figure(table: pd.DataFrame, *, dark: bool) -> dict[str, Any]:
    colours = THEMES["dark" if dark else "light"]
    z = [[None if pd.isna(v) else round(float(v), 2) for v in row] for row in table.to_numpy()]
    span = max([abs(v) for row in z for v in row if v is not None] or [1.0])
    return {"data": [{"type": "heatmap", "x": list(MONTHS), "y": [str(y) for y in table.index], "z": z,
                      "zmin": -span, "zmax": span, "zmid": 0,
                      "colorscale": [[0, colours["down"]], [0.5, colours["hover"]], [1, colours["up"]]],
                      "texttemplate": "%{z:.1f}", "textfont": {"size": 10}, "xgap": 1, "ygap": 1,
                      "hovertemplate": "%{y} %{x}: %{z:.2f} %<extra></extra>",
                      "colorbar": {"title": {"text": "%"}, "thickness": 10}}],
            "layout": _base(colours, xaxis=_axis(colours, side="top"),
                            yaxis=_axis(colours, autorange="reversed", type="category"))}


def rolling_figure(sharpe: pd.Series, *, window: int, dark: bool, time_zone: str = "UTC") -> dict[str, Any]:
    colours = THEMES["dark" if dark else "light"]
    palette = DARK_LINE_COLOURS if dark else LINE_COLOURS
    sharpe = sharpe.iloc[extremes(sharpe.to_numpy(dtype=float, na_value=np.nan), BUCKETS)]
    values = [None if pd.isna(v) else float(v) for v in sharpe]
    return {"data": [_line(_times(sharpe.index, time_zone), values, f"Sharpe ({window} bars)", palette[2])],
            "layout": _base(colours, hovermode="x unified", showlegend=False, xaxis=_axis(colours, type="date"),
                            yaxis=_axis(colours, title={"text": f"Sharpe, {window} bars"}, zeroline=True))}


def sweep_figure(matrix: dict[str, Any], *, stat: str, label: str, x_name: str, y_name: str | None,
                 dark: bool) -> dict[str, Any]:
    """A heatmap of ``stat`` over the grid (a bar chart for one parameter); each point carries its
    cell index, so a click opens that cell."""
    colours = THEMES["dark" if dark else "light"]
    xs = [f"{v:g}" for v in matrix["x"]]
    if y_name is None:
        data = [{"type": "bar", "x": xs, "y": matrix["z"][0], "customdata": matrix["index"][0],
                 "marker": {"color": (DARK_LINE_COLOURS if dark else LINE_COLOURS)[0]},
                 "hovertemplate": f"{x_name} %{{x}}: %{{y:.3f}}<extra></extra>"}]
        return {"data": data, "layout": _base(colours, xaxis=_axis(colours, type="category", title={"text": x_name}),
                                              yaxis=_axis(colours, title={"text": label}))}
    data = [{"type": "heatmap", "x": xs, "y": [f"{v:g}" for v in matrix["y"]], "z": matrix["z"],
             "customdata": matrix["index"],
             "colorscale": [[0, colours["down"]], [0.5, colours["hover"]], [1, colours["up"]]],
             "texttemplate": "%{z:.2f}", "xgap": 2, "ygap": 2, "colorbar": {"title": {"text": label[:18]},
                                                                           "thickness": 10},
             "hovertemplate": f"{x_name} %{{x}}, {y_name} %{{y}}: %{{z:.3f}}<extra></extra>"}]
    return {"data": data, "layout": _base(colours, xaxis=_axis(colours, type="category", title={"text": x_name}),
                                          yaxis=_axis(colours, type="category", title={"text": y_name}))}


def compare_figure(curves: list[tuple[str, pd.DataFrame, float]], *, dark: bool) -> dict[str, Any]:
    """Each simulation's equity as a return on its own cash, so different cash compares."""
    colours = THEMES["dark" if dark else "light"]
    palette = DARK_LINE_COLOURS if dark else LINE_COLOURS
    data = []
    for i, (name, frame, cash) in enumerate(curves):
        frame = thinned(frame, ("equity",))
        data.append(_line(_times(frame["timestamp"], "UTC"), ((frame["equity"] / cash - 1) * 100).round(4).tolist(),
                          name, palette[i % len(palette)]))
    return {"data": data, "layout": _base(colours, hovermode="x unified", xaxis=_axis(colours, type="date"),
                                          yaxis=_axis(colours, title={"text": "return %"}, zeroline=True))}
