"""A symbol's detail in a drawer beside the board: price and day figures, intraday chart, the three-level
book, recent trades and foreign flow. The drawer's parts keep fixed IDs so a refresh updates them in
place (the chart redraws through Plotly, never remounts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import dash_mantine_components as dmc
import plotly.graph_objects as go
from dash import dcc, html

from backend.access.user_settings import localised
from backend.market.board_view import price_tone
from backend.market.symbol_detail import SymbolDetail, price_series

_VN = timedelta(hours=7)
# VN colours for Plotly, readable on light and dark backgrounds alike.
_TONE_COLOURS = {"up": "#16a34a", "down": "#dc2626", "ref": "#ca8a04", "ceiling": "#9333ea", "floor": "#0891b2"}


class detail_ids:
    DRAWER = "board-drawer"
    HEAD = "board-detail-head"
    CHART = "board-detail-chart"
    BOOK = "board-detail-book"
    TRADES = "board-detail-trades"
    FOREIGN = "board-detail-foreign"


def _is_future(symbol: str, row: dict[str, Any] | None) -> bool:
    return bool(row and row.get("kind") == "future") or symbol.startswith("VN30F")


def fmt_price(value: float | None, future: bool) -> str:
    if value is None or value == 0:
        return "—"
    return localised(f"{value:,.1f}" if future else f"{value / 1000:,.2f}")


def fmt_volume(value: float | None) -> str:
    return "—" if value is None else localised(f"{value:,.0f}")


def fmt_value(value: float | None) -> str:
    """VND as billions (the unit VN market reports use for traded and foreign value)."""
    return "—" if value is None else localised(f"{value / 1e9:,.2f}") + " bn"


def _vn_time(ts: float) -> datetime:
    # Plotly draws naive datetimes as they are: shift to the VN wall clock.
    return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None) + _VN


def _tone_class(price: float | None, row: dict[str, Any] | None) -> str:
    row = row or {}
    tone = price_tone(price, row.get("ref"), row.get("ceiling"), row.get("floor"))
    return f"board-{tone}" if tone else ""


def head(detail: SymbolDetail) -> list[Any]:
    row = dict(detail.row or {})
    future = _is_future(detail.symbol, row)
    last = row.get("last")
    change, pct = row.get("change"), row.get("change_pct")
    change_text = "" if change is None else localised(f"{change:+,.1f}" if future else f"{change / 1000:+,.2f}")
    facts = [("Ref", fmt_price(row.get("ref"), future), "board-ref"),
             ("Ceil", fmt_price(row.get("ceiling"), future), "board-ceiling"),
             ("Floor", fmt_price(row.get("floor"), future), "board-floor"),
             ("High", fmt_price(row.get("high"), future), _tone_class(row.get("high"), row)),
             ("Low", fmt_price(row.get("low"), future), _tone_class(row.get("low"), row)),
             ("Volume", fmt_volume(row.get("total_vol")), ""),
             ("Value", fmt_value(row.get("total_val")), "")]
    return [
        html.Span(fmt_price(last, future), className=f"board-detail-price {_tone_class(last, row)}",
                  **{"data-price": "" if last is None else str(last)}),
        html.Span(f"{change_text} ({localised(f'{pct:+.2f}')}%)" if pct is not None else "",
                  className=_tone_class(last, row)),
        *(html.Span([html.B(f"{label} "), html.Span(text, className=css)]) for label, text, css in facts),
        html.Span("Futures, index points" if future else "Prices in thousand VND", className="board-version"),
    ]


def price_figure(detail: SymbolDetail) -> go.Figure:
    """Minute closes (a gap over the lunch break) above minute volume, with the reference price dotted."""
    row = dict(detail.row or {})
    future = _is_future(detail.symbol, row)
    scale = 1.0 if future else 1 / 1000
    series = price_series(detail.bars)
    fig = go.Figure()
    if not detail.bars:
        note = ("No trades stored for this day yet" if detail.history
                else detail.unavailable or "This server keeps no market history")
        fig.add_annotation(text=note, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
    else:
        times = [None if t is None else _vn_time(t) for t in series["times"]]
        closes = [None if c is None else c * scale for c in series["close"]]
        colour = _TONE_COLOURS.get(price_tone(row.get("last"), row.get("ref"), row.get("ceiling"),
                                              row.get("floor")) or "ref", _TONE_COLOURS["ref"])
        fig.add_trace(go.Scatter(x=times, y=closes, mode="lines", name="price", connectgaps=False,
                                 line={"color": colour, "width": 1.8}, yaxis="y"))
        fig.add_trace(go.Bar(x=times, y=series["volume"], name="volume", marker={"color": "rgba(128,128,128,0.45)"},
                             yaxis="y2"))
        if row.get("ref"):
            fig.add_hline(y=row["ref"] * scale, line={"color": _TONE_COLOURS["ref"], "dash": "dot", "width": 1})
    fig.update_layout(
        height=250, margin={"l": 44, "r": 8, "t": 8, "b": 24}, showlegend=False, uirevision=detail.symbol,
        paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)", font={"color": "#888", "size": 11},
        yaxis={"domain": [0.3, 1.0], "gridcolor": "rgba(128,128,128,0.2)", "tickformat": ".1f" if future else ".2f"},
        yaxis2={"domain": [0.0, 0.24], "gridcolor": "rgba(128,128,128,0.2)", "showticklabels": False},
        xaxis={"gridcolor": "rgba(128,128,128,0.2)", "tickformat": "%H:%M"}, bargap=0.1,
    )
    return fig


def _price_cell(price: float | None, detail: SymbolDetail, future: bool, side: str, trade: bool) -> html.Td:
    """A book price; where the viewer trades on paper, a link opening the ticket at that price
    (an ask is bought, a bid is sold)."""
    text = fmt_price(price, future) if price else ""
    tone = _tone_class(price, detail.row or {})
    if not (trade and price and not future):
        return html.Td(text, className=tone)
    href = f"/portfolio?symbol={detail.symbol}&side={side}&price={round(price)}"
    return html.Td(dcc.Link(text, href=href, className=f"board-detail-trade {tone}".strip(),
                            title=f"{side.title()} {detail.symbol} at {text} on paper"))


def book_table(detail: SymbolDetail, trade: bool = False) -> html.Table | dmc.Text:
    row = detail.row or {}
    if not detail.book or not any(lv.bid or lv.ask for lv in detail.book):
        return dmc.Text("No orders in the book.", size="sm", c="dimmed")
    future = _is_future(detail.symbol, row)
    body = [
        html.Tr([
            html.Td(f"{lv.level}"),
            html.Td(fmt_volume(lv.bid_vol) if lv.bid else ""),
            _price_cell(lv.bid, detail, future, "sell", trade),
            _price_cell(lv.ask, detail, future, "buy", trade),
            html.Td(fmt_volume(lv.ask_vol) if lv.ask else ""),
        ], **{"data-level": str(lv.level)})
        for lv in detail.book
    ]
    header = html.Tr([html.Th("Level"), html.Th("Bid vol"), html.Th("Bid"), html.Th("Ask"), html.Th("Ask vol")])
    return html.Table([html.Thead(header), html.Tbody(body)], className="board-detail-table")


_SIDES = {1: ("Buy", "board-up"), -1: ("Sell", "board-down"), 0: ("—", "")}


def trades_table(detail: SymbolDetail) -> html.Div | dmc.Text:
    if not detail.trades:
        note = ("No trades stored for this day yet." if detail.history
                else f"{detail.unavailable}." if detail.unavailable else "This server keeps no market history.")
        return dmc.Text(note, size="sm", c="dimmed")
    row = detail.row or {}
    future = _is_future(detail.symbol, row)
    body = []
    for trade in detail.trades:
        side, side_css = _SIDES.get(trade.side, ("—", ""))
        body.append(html.Tr([
            html.Td(_vn_time(trade.ts).strftime("%H:%M:%S")),
            html.Td(fmt_price(trade.price, future), className=_tone_class(trade.price, row)),
            html.Td(fmt_volume(trade.volume)),
            html.Td(side, className=side_css),
        ]))
    header = html.Tr([html.Th("Time"), html.Th("Price"), html.Th("Volume"), html.Th("Side")])
    return html.Div(html.Table([html.Thead(header), html.Tbody(body)], className="board-detail-table"),
                    className="board-detail-trades")


def foreign_table(detail: SymbolDetail) -> html.Table | dmc.Text:
    flow = detail.foreign
    if flow is None:
        return dmc.Text("No foreign flow reported for this symbol.", size="sm", c="dimmed")
    net_css = "board-up" if flow.net_val > 0 else "board-down" if flow.net_val < 0 else ""
    usage = "—" if flow.room_usage is None else localised(f"{flow.room_usage * 100:.1f}") + "% of the limit used"
    rows = [
        ("Buy", fmt_value(flow.buy_val), localised(f"{flow.buy_vol:,}") + " shares", ""),
        ("Sell", fmt_value(flow.sell_val), localised(f"{flow.sell_vol:,}") + " shares", ""),
        ("Net", fmt_value(flow.net_val), localised(f"{flow.buy_vol - flow.sell_vol:+,}") + " shares", net_css),
        ("Room", fmt_volume(flow.room), usage, ""),
    ]
    return html.Table(html.Tbody([
        html.Tr([html.Td(label), html.Td(value, className=css), html.Td(extra)], **{"data-row": label.lower()})
        for label, value, extra, css in rows
    ]), className="board-detail-table")


def detail_parts(detail: SymbolDetail | None, trade: bool = False) -> tuple[Any, ...]:
    """(title, head, figure, book, trades, foreign) for the drawer; empty parts when nothing is open."""
    if detail is None:
        return "", [], go.Figure(), [], [], []
    title = html.Span([detail.symbol, html.Span(f"  {detail.day:%d/%m/%Y}", className="board-version")])
    return (title, head(detail), price_figure(detail), book_table(detail, trade), trades_table(detail),
            foreign_table(detail))


def detail_drawer(detail: SymbolDetail | None, trade: bool = False) -> dmc.Drawer:
    """The drawer, open and filled when ``detail`` is given (a shared ``?symbol=`` link)."""
    title, top, figure, book, trades, foreign = detail_parts(detail, trade)
    section = lambda text: html.Div(text, className="board-detail-section")
    return dmc.Drawer(
        id=detail_ids.DRAWER,
        opened=detail is not None,
        title=title,
        position="right",
        size=540,
        padding="sm",
        lockScroll=False,
        withOverlay=False,
        closeOnClickOutside=False,
        trapFocus=False,
        children=[
            html.Div(top, id=detail_ids.HEAD, className="board-detail-head"),
            dcc.Graph(id=detail_ids.CHART, figure=figure, config={"displayModeBar": False}),
            section("Order book"),
            html.Div(book, id=detail_ids.BOOK),
            section("Foreign investors today"),
            html.Div(foreign, id=detail_ids.FOREIGN),
            section("Recent trades"),
            html.Div(trades, id=detail_ids.TRADES),
        ],
    )
