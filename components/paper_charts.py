"""The paper portfolio's equity and drawdown, one point a trading day, as a plain figure dict in
the research charts' colours."""

from __future__ import annotations

from typing import Any

from components.market_charts import THEMES
from components.research_charts import DARK_LINE_COLOURS, LINE_COLOURS, _axis
from components.simulation_charts import _base, _line


def equity_figure(curve: list[dict[str, Any]], *, dark: bool) -> dict[str, Any]:
    """Equity (đồng) over the days, and underneath it the drawdown of the time-weighted growth."""
    colours = THEMES["dark" if dark else "light"]
    palette = DARK_LINE_COLOURS if dark else LINE_COLOURS
    if len(curve) < 2:  # one point makes no curve: say when there will be one
        hidden = {"visible": False}
        return {"data": [], "layout": _base(colours, xaxis=hidden, yaxis=hidden, annotations=[{
            "text": "The curve starts once the portfolio has lived through a trading day "
                    "(its value is kept every minute while the market runs).",
            "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5,
            "font": {"color": colours["font"], "size": 13}}])}
    days = [p["day"] for p in curve]
    data = [_line(days, [p["equity"] for p in curve], "equity", palette[0])]
    if any("drawdown_pct" in p for p in curve):
        drawdown = _line(days, [p.get("drawdown_pct") for p in curve], "drawdown %", palette[1])
        data.append({**drawdown, "yaxis": "y2", "fill": "tozeroy"})
    layout = _base(colours, hovermode="x unified", xaxis=_axis(colours, type="date"),
                   yaxis=_axis(colours, title={"text": "equity (₫)"}, domain=[0.35, 1.0], tickformat=",.0f"),
                   yaxis2=_axis(colours, title={"text": "drawdown %"}, domain=[0.0, 0.28]))
    return {"data": data, "layout": layout}


__all__ = ["equity_figure"]
