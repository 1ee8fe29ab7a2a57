"""Overview tiles: one figure per tile, each a way into the pivot page.

``overview_tiles(overview)`` lays out a ``backend.overview.Overview``. Every
figure carries its exact value in ``data-value`` (the text is rounded for
reading), its change against the previous trade date, and a link to the pivot
view that explains it. Only P&L is coloured as profit or loss: exposure is a
position, so it is told long or short in words and kept in neutral colours.
"""

from __future__ import annotations

import math
from datetime import date

import dash_mantine_components as dmc
from dash import dcc, html

from backend.access.user_settings import localised
from backend.overview import Change, Contributor, Contributors, Overview
from components.overview_charts import desk_exposure_figure, desk_pnl_figure, exposure_title, trend_title


class ids:
    DATE = "overview-date"
    TREND = "overview-trend"
    EXPOSURE = "overview-desk-exposure"

    @staticmethod
    def figure(name: str) -> dict[str, str]:
        return {"type": "overview-figure", "name": name}

    @staticmethod
    def change(name: str) -> dict[str, str]:
        return {"type": "overview-change", "name": name}

    @staticmethod
    def link(name: str) -> dict[str, str]:
        return {"type": "overview-link", "name": name}

    @staticmethod
    def contributor(dimension: str, side: str, rank: int) -> dict[str, str | int]:
        return {"type": "overview-contributor", "dimension": dimension, "side": side, "rank": rank}


def money(value: float | None, *, signed: bool = False) -> str:
    """$1.23M, -$45.6K, $789: short enough for a tile, exact value kept elsewhere."""
    if value is None or not math.isfinite(value):
        return "–"
    sign = "-" if value < 0 else ("+" if signed and value > 0 else "")
    size = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if size >= limit:
            return sign + "$" + localised(f"{size / limit:,.2f}") + suffix
    return sign + "$" + localised(f"{size:,.0f}")


def short_day(day: date) -> str:
    """'Fri 12 Jan': how a trader names a recent trade date."""
    return f"{day:%a} {day.day} {day:%b}"


def _tone(value: float) -> str:
    return "num-pos" if value > 0 else "num-neg" if value < 0 else ""


def change_line(name: str, change: Change | None, previous: date | None) -> dmc.Text:
    """'▲ +$0.50M (+23.4%) vs Fri 12 Jan', in neutral colours (a change is not a profit)."""
    if change is None or previous is None:
        return dmc.Text("No earlier trade date to compare", id=ids.change(name), size="sm", c="dimmed",
                        className="overview-change")
    arrow = "▲" if change.delta > 0 else "▼" if change.delta < 0 else "="
    pct = "" if change.pct is None else f" ({localised(f'{change.pct:+.1f}')}%)"
    return dmc.Text(
        [html.Span(arrow, className="overview-arrow"), f" {money(change.delta, signed=True)}{pct}",
         html.Span(f" vs {short_day(previous)}", className="overview-vs")],
        id=ids.change(name), size="sm", className="overview-change",
        **{"data-delta": repr(change.delta), "data-previous": repr(change.previous),
           "data-pct": "" if change.pct is None else repr(change.pct),
           "data-previous-date": previous.isoformat()},
        attributes={"title": f"{short_day(previous)}: {money(change.previous)}"},
    )


def figure_tile(name: str, label: str, value: float, shown: str, href: str, link_text: str, *,
                change: Change | None, previous: date | None, tone: str = "", badge: str | None = None,
                note: str | None = None) -> dmc.Paper:
    return dmc.Paper(
        withBorder=True, p="md", radius="md", className="overview-tile",
        children=[
            dmc.Group([dmc.Text(label, size="sm", c="dimmed"),
                       dmc.Badge(badge, variant="light", color="gray", className="overview-badge") if badge else None],
                      justify="space-between", gap="xs"),
            dmc.Text(shown, id=ids.figure(name), fz=28, fw=700, className=f"overview-figure {tone}".strip(),
                     **{"data-value": repr(float(value))}),
            change_line(name, change, previous),
            dmc.Text(note, size="xs", c="dimmed") if note else None,
            dcc.Link(f"{link_text} →", href=href, id=ids.link(name), className="overview-link db-kiosk-hide"),
        ],
    )


def _tiles(overview: Overview) -> list[dmc.Paper]:
    totals, prev, links, day = overview.totals, overview.previous_date, overview.links, overview.trade_date
    pnl, gross, net = totals["pnl"], totals["gross_exposure"], totals["net_exposure"]
    side = "Net long" if net > 0 else "Net short" if net < 0 else "Flat"
    share = f"{abs(net) / gross:.0%} of gross" if gross else None
    return [
        # P&L is the day's flow; exposure a level, so it is labelled with the date it stands at.
        figure_tile("pnl", f"P&L on {short_day(day)}", pnl, money(pnl, signed=True), links["pnl"], "P&L by manager",
                    change=overview.change("pnl"), previous=prev, tone=_tone(pnl)),
        figure_tile("gross_exposure", f"Gross exposure as of {short_day(day)}", gross, money(gross), links["gross_exposure"],
                    "Exposure by desk and asset class", change=overview.change("gross_exposure"), previous=prev,
                    note=f"long {money(totals['long_exposure'])} · short {money(abs(totals['short_exposure']))}"),
        figure_tile("net_exposure", f"Net exposure as of {short_day(day)}", net, money(abs(net)), links["net_exposure"],
                    "Net by asset class and symbol", change=overview.change("net_exposure"), previous=prev,
                    badge=side, note=share),
    ]


# Column headings that fit a half-width table on a laptop screen.
_SHORT_LABELS = {"portfolio_manager_id": "Manager"}


def _contributor_rows(group: Contributors, side: str, items: list[Contributor]) -> list[html.Tr]:
    return [
        html.Tr([
            html.Td(str(rank)),
            html.Td([dcc.Link(item.value, href=item.href, id=ids.contributor(group.dimension, side, rank)),
                     html.Span(item.name, className="overview-name", title=item.name) if item.name else None]),
            html.Td(money(item.pnl, signed=True), className=_tone(item.pnl), style={"textAlign": "right"},
                    **{"data-value": repr(item.pnl)}),
            html.Td(money(item.gross_exposure), style={"textAlign": "right"}, className="overview-gross"),
        ])
        for rank, item in enumerate(items, start=1)
    ]


def contributors_tile(group: Contributors) -> dmc.Paper:
    def table(side: str, title: str, items: list[Contributor]) -> html.Div:
        return html.Div([
            dmc.Text(title, size="sm", fw=600, mb=4),
            dmc.Table(
                [
                    html.Thead(html.Tr([html.Th("#"), html.Th(_SHORT_LABELS.get(group.dimension, group.label)),
                                        html.Th("P&L"), html.Th("Gross", className="overview-gross")])),
                    html.Tbody(_contributor_rows(group, side, items)),
                ],
                striped=True, highlightOnHover=True, fz="sm", className="overview-table",
            ),
        ])

    return dmc.Paper(
        withBorder=True, p="md", radius="md", className="overview-contributors",
        children=[
            dmc.Text(f"P&L by {group.label.lower()}", fw=600, mb="xs"),
            dmc.SimpleGrid(cols={"base": 1, "md": 2}, spacing="md", children=[
                table("top", f"Top {len(group.top)}", group.top),
                table("bottom", f"Bottom {len(group.bottom)}", group.bottom),
            ]),
        ],
    )


def _chart(graph_id: str, title: str, figure: dict, hint: str) -> dmc.Paper:
    return dmc.Paper(withBorder=True, p="md", radius="md", className="overview-chart", children=[
        dmc.Text(title, fw=600),
        dcc.Graph(id=graph_id, figure=figure, config={"displayModeBar": False, "responsive": True},
                  style={"height": "320px"}),
        dmc.Text(hint, size="xs", c="dimmed", className="db-kiosk-hide"),
    ])


def overview_tiles(overview: Overview) -> dmc.Stack:
    if not overview.has_data:
        return dmc.Stack([
            dmc.Title("Overview", order=2),
            dmc.Text("There are no trades in the warehouse yet. Load a folder of trades "
                     "(python -m backend.warehouse load DIR) or start with demo data.", id="overview-empty"),
        ])
    day = overview.trade_date
    view = "as held (Direct, ETF, ETC)" if overview.exposure == "as_held" else "looked through"
    compared = f" · compared with {short_day(overview.previous_date)}" if overview.previous_date else ""
    return dmc.Stack(gap="md", className="overview", children=[
        dmc.Group(justify="space-between", children=[
            dmc.Title("Overview", order=2),
            dmc.Text(f"Trade date {day:%a %d %b %Y}{compared} · exposure {view}", c="dimmed",
                     id=ids.DATE, **{"data-date": day.isoformat()}),
        ]),
        dmc.SimpleGrid(cols={"base": 1, "sm": 3}, spacing="md", children=_tiles(overview), className="overview-row"),
        dmc.SimpleGrid(cols={"base": 1, "lg": 2}, spacing="md", className="overview-row",
                       children=[contributors_tile(group) for group in overview.contributors]),
        html.Div(className="overview-charts", children=[
            _chart(ids.TREND, trend_title(overview.trend), desk_pnl_figure(overview.trend),
                   "Click a bar for that desk's P&L by manager and symbol on that day, a total for the day by desk."),
            _chart(ids.EXPOSURE, exposure_title(day), desk_exposure_figure(overview.desk_exposure, day),
                   "Levels on the day, not summed over days. Click a bar for that desk's exposure."),
        ]),
    ])
