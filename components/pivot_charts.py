"""Pivot charts: P&L by the first dimension, exposure mix, gross vs net and long vs short.

Each figure is drawn from a pivot answer of the same request (other dimensions
and metrics); bars and slices carry their value in ``customdata`` so a click can
drill into it. The "Other" bucket carries no value and cannot be drilled.

The P&L chart shows the biggest winners *and* the biggest losers: it is drawn
from two answers, sorted by P&L each way, and only the middle is summarised.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go

from backend.pivot.catalog import DIMENSIONS

_UP, _DOWN, _OTHER = "#12b76a", "#f04438", "#98a2b3"


def _rows(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(payload.get("rows") or [])


def _label(row: Mapping[str, Any], dim: str) -> tuple[str, str | None]:
    if row.get("_other"):
        return f"Other ({row.get('_folded', 0)})", None
    value = row.get(dim)
    return ("—" if value in (None, "") else str(value)), value


def _layout(fig: go.Figure, title: str, dark: bool) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01, "font": {"size": 14}},
        template="plotly_dark" if dark else "plotly_white",
        margin={"l": 50, "r": 10, "t": 40, "b": 40},
        height=320,
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def top_and_bottom(best: Mapping[str, Any], worst: Mapping[str, Any], dim: str) -> list[dict[str, Any]]:
    """Bars for the P&L chart: the top of ``best`` (sorted desc), one "Other" bar for the
    middle, then the bottom of ``worst`` (sorted asc), all in descending P&L order.

    Both answers are of the same view with the same limit; a group in both shows once.
    The middle bar holds whatever neither shows, so the bars always add up to the total.
    """
    top = [r for r in _rows(best) if not r.get("_other")]
    seen = {r.get(dim) for r in top}
    bottom = [r for r in reversed(_rows(worst)) if not r.get("_other") and r.get(dim) not in seen]
    groups = len(top) + sum(int(r.get("_folded") or 0) for r in _rows(best) if r.get("_other"))
    bars = [{"label": _label(r, dim)[0], "value": r.get(dim), "pnl": r.get("pnl") or 0.0} for r in top]
    middle = groups - len(top) - len(bottom)
    if middle > 0:
        total = (best.get("totals") or {}).get("pnl") or 0.0
        rest = total - sum(b["pnl"] for b in bars) - sum(r.get("pnl") or 0.0 for r in bottom)
        bars.append({"label": f"Other ({middle:,})", "value": None, "pnl": rest})
    bars += [{"label": _label(r, dim)[0], "value": r.get(dim), "pnl": r.get("pnl") or 0.0} for r in bottom]
    return bars


def pnl_bar(best: Mapping[str, Any], worst: Mapping[str, Any], dim: str, dark: bool = False) -> go.Figure:
    bars = top_and_bottom(best, worst, dim)
    labels = [b["label"] for b in bars]
    values = [b["pnl"] for b in bars]
    custom = [b["value"] for b in bars]
    fig = go.Figure(go.Bar(x=labels, y=values, customdata=custom, name="P&L",
                           marker_color=[_OTHER if c is None else _UP if v >= 0 else _DOWN
                                         for v, c in zip(values, custom, strict=True)],
                           hovertemplate="%{x}<br>P&L %{y:,.0f}<extra></extra>"))
    fig.update_xaxes(type="category")  # numeric-looking labels (PM ids, dates) stay in this order
    return _layout(fig, f"P&L by {DIMENSIONS[dim].label}: biggest winners and losers", dark)


def exposure_pie(payload: Mapping[str, Any], dim: str, dark: bool = False) -> go.Figure:
    labels, values, custom = [], [], []
    for row in _rows(payload):
        text, value = _label(row, dim)
        labels.append(text)
        values.append(abs(row.get("gross_exposure") or 0.0))
        custom.append(value)
    fig = go.Figure(go.Pie(labels=labels, values=values, customdata=custom, hole=0.45, sort=False,
                           hovertemplate="%{label}<br>Gross %{value:,.0f} (%{percent})<extra></extra>"))
    return _layout(fig, f"Gross exposure by {DIMENSIONS[dim].label}", dark)


def exposure_bars(payload: Mapping[str, Any], dim: str, dark: bool = False) -> go.Figure:
    rows = _rows(payload)
    labels = [_label(r, dim)[0] for r in rows]
    custom = [_label(r, dim)[1] for r in rows]
    fig = go.Figure()
    for metric, name, colour in (("gross_exposure", "Gross", "#6366f1"), ("net_exposure", "Net", "#0ea5e9"),
                                 ("long_exposure", "Long", _UP), ("short_exposure", "Short", _DOWN)):
        fig.add_bar(x=labels, y=[r.get(metric) or 0.0 for r in rows], name=name, marker_color=colour,
                    customdata=custom, hovertemplate=f"%{{x}}<br>{name} %{{y:,.0f}}<extra></extra>")
    fig.update_layout(barmode="group")
    return _layout(fig, f"Gross vs net, long vs short by {DIMENSIONS[dim].label}", dark)


def clicked_value(click: Mapping[str, Any] | None) -> str | None:
    """The dimension value of a clicked bar or slice (None for "Other" or no click)."""
    points = (click or {}).get("points") or []
    if not points:
        return None
    value = points[0].get("customdata")
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, str) and value else None
