"""Overview tiles: one figure per tile, each a way into the pivot page.

``overview_tiles(overview)`` lays out a ``backend.overview.Overview``. Every
figure carries its exact value in ``data-value`` (the text is rounded for
reading) and a link to the pivot filtered to what it summarises.
"""

from __future__ import annotations

import math

import dash_mantine_components as dmc
from dash import dcc, html

from backend.overview import Contributor, Contributors, Overview


class ids:
    @staticmethod
    def figure(name: str) -> dict[str, str]:
        return {"type": "overview-figure", "name": name}

    @staticmethod
    def contributor(dimension: str, side: str, rank: int) -> dict[str, str | int]:
        return {"type": "overview-contributor", "dimension": dimension, "side": side, "rank": rank}


def money(value: float, *, signed: bool = False) -> str:
    """$1.23M, -$45.6K, $789: short enough for a tile, exact value kept elsewhere."""
    if value is None or not math.isfinite(value):
        return "–"
    sign = "-" if value < 0 else ("+" if signed and value > 0 else "")
    size = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if size >= limit:
            return f"{sign}${size / limit:,.2f}{suffix}"
    return f"{sign}${size:,.0f}"


def _tone(value: float) -> str:
    return "num-pos" if value > 0 else "num-neg" if value < 0 else ""


def figure_tile(name: str, label: str, value: float, href: str, *, signed: bool = False,
                note: str | None = None) -> dmc.Paper:
    return dmc.Paper(
        withBorder=True, p="md", radius="md",
        children=[
            dmc.Text(label, size="sm", c="dimmed"),
            dmc.Text(money(value, signed=signed), id=ids.figure(name), fz=28, fw=700,
                     className=_tone(value) if signed else "", **{"data-value": repr(float(value))}),
            dmc.Text(note, size="xs", c="dimmed") if note else None,
            dcc.Link("Open in pivot →", href=href, className="overview-link"),
        ],
    )


def _contributor_rows(group: Contributors, side: str, items: list[Contributor]) -> list[html.Tr]:
    return [
        html.Tr([
            html.Td(str(rank)),
            html.Td(dcc.Link(item.value, href=item.href, id=ids.contributor(group.dimension, side, rank))),
            html.Td(money(item.pnl, signed=True), className=_tone(item.pnl), style={"textAlign": "right"},
                    **{"data-value": repr(item.pnl)}),
            html.Td(money(item.gross_exposure), style={"textAlign": "right"}),
        ])
        for rank, item in enumerate(items, start=1)
    ]


def contributors_tile(group: Contributors) -> dmc.Paper:
    def table(side: str, title: str, items: list[Contributor]) -> html.Div:
        return html.Div([
            dmc.Text(title, size="sm", fw=600, mb=4),
            dmc.Table(
                [
                    html.Thead(html.Tr([html.Th("#"), html.Th(group.label), html.Th("P&L"), html.Th("Gross")])),
                    html.Tbody(_contributor_rows(group, side, items)),
                ],
                striped=True, highlightOnHover=True, fz="sm",
            ),
        ])

    return dmc.Paper(
        withBorder=True, p="md", radius="md",
        children=[
            dmc.Text(f"P&L by {group.label.lower()}", fw=600, mb="xs"),
            dmc.SimpleGrid(cols={"base": 1, "md": 2}, spacing="md", children=[
                table("top", "Top 5", group.top),
                table("bottom", "Bottom 5", group.bottom),
            ]),
        ],
    )


def overview_tiles(overview: Overview) -> dmc.Stack:
    if not overview.has_data:
        return dmc.Stack([
            dmc.Title("Overview", order=2),
            dmc.Text("There are no trades in the warehouse yet. Load a folder of trades "
                     "(python -m backend.warehouse load DIR) or start with demo data."),
        ])
    totals = overview.totals
    view = "as held (Direct, ETF, ETC)" if overview.exposure == "as_held" else "looked through"
    return dmc.Stack(gap="md", children=[
        dmc.Group(justify="space-between", children=[
            dmc.Title("Overview", order=2),
            dmc.Text(f"Trade date {overview.trade_date:%a %d %b %Y} · exposure {view}", c="dimmed",
                     id="overview-date", **{"data-date": overview.trade_date.isoformat()}),
        ]),
        dmc.SimpleGrid(cols={"base": 1, "sm": 3}, spacing="md", children=[
            figure_tile("pnl", "P&L", totals["pnl"], overview.pivot_href, signed=True),
            figure_tile("gross_exposure", "Gross exposure", totals["gross_exposure"], overview.pivot_href,
                        note=f"long {money(totals['long_exposure'])} · short {money(totals['short_exposure'])}"),
            figure_tile("net_exposure", "Net exposure", totals["net_exposure"], overview.pivot_href, signed=True),
        ]),
        dmc.SimpleGrid(cols={"base": 1, "lg": 2}, spacing="md",
                       children=[contributors_tile(group) for group in overview.contributors]),
    ])
