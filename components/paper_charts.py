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
    days = [p["day"] for p in curve]
    data = [_line(days, [p["equity"] for p in curve], "equity", palette[0])]
    if any("drawdown_pct" in p for p in curve):
        drawdown = _line(days, [p.get("drawdown_pct") for p in curve], "drawdown %", palette[1])
        data.append({**drawdown, "yaxis": "y2", "fill": "tozeroy"})
    layout = _base(colours, hovermode="x unified", xaxis=_axis(colours, type="date"),
                   yaxis=_axis(colours, title={"text": "equity (₫)"}, domain=[0.35, 1.0]),
                   yaxis2=_axis(colours, title={"text": "drawdown %"}, domain=[0.0, 0.28]))
    return {"data": data, "layout": layout}


__all__ = ["equity_figure"]
