"""Pivot charts: P&L by the first dimension, exposure mix, gross vs net and long vs short.

Each figure is drawn from a pivot answer of the same request (other dimensions
and metrics); bars and slices carry their value in ``customdata`` so a click can
drill into it. The "Other" bucket carries no value and cannot be drilled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go

from backend.pivot.catalog import DIMENSIONS

_UP, _DOWN = "#12b76a", "#f04438"


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


def pnl_bar(payload: Mapping[str, Any], dim: str, dark: bool = False) -> go.Figure:
    labels, values, custom = [], [], []
    for row in _rows(payload):
        text, value = _label(row, dim)
        labels.append(text)
        values.append(row.get("pnl") or 0.0)
        custom.append(value)
    fig = go.Figure(go.Bar(x=labels, y=values, customdata=custom, name="P&L",
                           marker_color=[_UP if v >= 0 else _DOWN for v in values],
                           hovertemplate="%{x}<br>P&L %{y:,.0f}<extra></extra>"))
    return _layout(fig, f"P&L by {DIMENSIONS[dim].label}", dark)


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
