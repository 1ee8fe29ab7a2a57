"""Plotly figures for /market: index intraday, foreign flow speed and leaders, futures against VN30."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import plotly.graph_objects as go

UP, DOWN, REF, CEIL, FLOOR = "#12b76a", "#f04438", "#eab308", "#a855f7", "#06b6d4"
_VN = timedelta(hours=7)


def _vn_times(epochs: list[float]) -> list[datetime]:
    # Plotly draws naive datetimes as they are: shift to the VN wall clock.
    return [datetime.fromtimestamp(t, UTC).replace(tzinfo=None) + _VN for t in epochs]


def _layout(fig: go.Figure, title: str, height: int = 260) -> go.Figure:
    fig.update_layout(
        title={"text": title, "font": {"size": 14}, "x": 0.01}, height=height,
        margin={"l": 48, "r": 16, "t": 36, "b": 28}, template="plotly_white", showlegend=True,
        legend={"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"}, uirevision="keep",
    )
    return fig


def empty_figure(title: str, note: str = "waiting for the feed…") -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=note, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, title)


def index_figure(view: dict[str, Any] | None, index_id: str) -> go.Figure:
    if not view or not view["values"]:
        return empty_figure(index_id)
    colour = UP if (view["change"] or 0) > 0 else DOWN if (view["change"] or 0) < 0 else REF
    fig = go.Figure(go.Scatter(x=_vn_times(view["times"]), y=view["values"], mode="lines", name=index_id,
                               line={"color": colour, "width": 2}))
    if view["prior"]:
        fig.add_hline(y=view["prior"], line={"color": REF, "dash": "dot", "width": 1})
    title = f"{index_id} {view['value']:,.2f}  {view['change']:+,.2f} ({view['change_pct']:+.2f}%)"
    fig = _layout(fig, title)
    fig.update_layout(showlegend=False)
    return fig


def foreign_speed_figure(series: list[list[float]]) -> go.Figure:
    if not series:
        return empty_figure("Foreign flow speed")
    times = _vn_times([p[0] for p in series])
    fig = go.Figure([
        go.Scatter(x=times, y=[p[1] / 1e9 for p in series], name="buy", line={"color": UP}),
        go.Scatter(x=times, y=[-p[2] / 1e9 for p in series], name="sell", line={"color": DOWN}),
    ])
    fig = _layout(fig, "Foreign buy / sell speed (bn VND per minute, 5-minute window)")
    fig.add_hline(y=0, line={"color": "#888", "width": 1})
    return fig


def foreign_leaders_figure(leaders: dict[str, list[dict[str, Any]]]) -> go.Figure:
    rows = leaders["buyers"][::-1] + leaders["sellers"]
    if not rows:
        return empty_figure("Top foreign buyers and sellers")
    fig = go.Figure(go.Bar(
        y=[r["symbol"] for r in rows][::-1], x=[r["net_val"] / 1e9 for r in rows][::-1], orientation="h",
        marker_color=[UP if r["net_val"] > 0 else DOWN for r in rows][::-1], name="net",
        hovertemplate="%{y}: %{x:,.2f} bn VND<extra></extra>",
    ))
    fig = _layout(fig, "Top foreign net buyers / sellers today (bn VND)", height=300)
    fig.update_layout(showlegend=False)
    return fig


def basis_figure(view: dict[str, Any] | None) -> go.Figure:
    if not view or not view["times"]:
        return empty_figure("Futures vs VN30")
    times = _vn_times(view["times"])
    fig = go.Figure([
        go.Scatter(x=times, y=view["index"], name="VN30", line={"color": "#6366f1"}),
        go.Scatter(x=times, y=view["futures"], name=view["symbol"] or "futures", line={"color": "#f97316"}),
        go.Bar(x=times, y=view["basis"], name="basis", yaxis="y2", opacity=0.35,
               marker_color=[UP if b >= 0 else DOWN for b in view["basis"]]),
    ])
    fig.update_layout(yaxis2={"overlaying": "y", "side": "right", "showgrid": False, "title": "basis (pts)"})
    last = view["last_basis"]
    stance = f" — {view['stance']} {last:+.1f} pts ({view['basis_pct']:+.2f}%)" if last is not None else ""
    return _layout(fig, f"{view['symbol'] or 'Futures'} vs VN30{stance}", height=300)
