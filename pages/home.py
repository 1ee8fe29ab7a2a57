"""Overview (/): what needs attention today — the latest day's P&L and exposure
against the previous trade date, the biggest winners and losers, P&L by desk over
recent days and exposure by desk, each a way into the pivot page."""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, State, callback, clientside_callback, ctx, html, set_props

from backend.overview import cached_overview, chart_click_href
from backend.stores import current_stores
from components.overview_charts import THEME_JS
from components.tiles import ids as tile_ids
from components.tiles import overview_tiles

dash.register_page(__name__, path="/", title="Overview", name="Overview", order=0)


class ids:
    ROOT = "overview"
    URL = "url"  # the shell's dcc.Location
    THEME = "shell-theme"  # the shell's stored colour scheme


def layout(**_query: Any) -> html.Div:
    stores = current_stores()
    overview = cached_overview(stores.warehouse, stores.cache.cache)
    return html.Div(overview_tiles(overview), id=ids.ROOT)


clientside_callback(
    THEME_JS,
    dash.Output(tile_ids.TREND, "figure"), dash.Output(tile_ids.EXPOSURE, "figure"),
    Input(ids.THEME, "data"), State(ids.URL, "search"),
    State(tile_ids.TREND, "figure"), State(tile_ids.EXPOSURE, "figure"),
)


@callback(Input(tile_ids.TREND, "clickData"), Input(tile_ids.EXPOSURE, "clickData"), prevent_initial_call=True)
def open_clicked_desk(trend_click: Any, exposure_click: Any) -> None:
    chart, click = ("pnl", trend_click) if ctx.triggered_id == tile_ids.TREND else ("exposure", exposure_click)
    href = chart_click_href(chart, click)
    if href is not None:
        set_props(ids.URL, {"href": href})
