"""Overview (/): what needs attention today — the latest day's P&L and exposure
against the previous trade date, the biggest winners and losers, P&L by desk over
recent days and exposure by desk, each a way into the pivot page.

On a kiosk (``?kiosk=1``) the overview fills the screen without scrolling and
redraws itself every ``REFRESH_MS`` when new data has been loaded; at a desk it
stays as drawn (a reload shows the latest).
"""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, State, callback, clientside_callback, ctx, dcc, html, no_update, set_props

from backend.access.current import current_scope
from backend.overview import cached_overview, chart_click_href
from backend.stores import Stores, current_stores
from components.overview_charts import THEME_JS
from components.tiles import ids as tile_ids
from components.tiles import overview_tiles

dash.register_page(__name__, path="/", title="Overview", name="Overview", order=0)

REFRESH_MS = 60_000


class ids:
    PAGE = "overview-page"
    ROOT = "overview"
    TICK = "overview-kiosk-tick"
    DRAWN = "overview-drawn"  # the data version on screen
    URL = "url"  # the shell's dcc.Location
    THEME = "shell-scheme"  # the colour scheme the shell shows


def data_version(stores: Stores) -> str:
    return str(stores.warehouse.data_version())


def _tiles(stores: Stores) -> Any:
    """The overview of the rows the user may see (their scope is in the cache key too)."""
    return overview_tiles(cached_overview(stores.warehouse, stores.cache.cache, scope=current_scope()))


def layout(kiosk: str | None = None, **_query: Any) -> html.Div:
    stores = current_stores()
    on = kiosk == "1"
    return html.Div(
        [
            dcc.Interval(id=ids.TICK, interval=REFRESH_MS, disabled=not on),
            dcc.Store(id=ids.DRAWN, data=data_version(stores)),
            html.Div(_tiles(stores), id=ids.ROOT),
        ],
        id=ids.PAGE, className="overview-page overview-kiosk" if on else "overview-page",
    )


@callback(Output(ids.ROOT, "children"), Output(ids.DRAWN, "data"),
          Input(ids.TICK, "n_intervals"), State(ids.DRAWN, "data"), prevent_initial_call=True)
def refresh(_tick: int | None, drawn: str | None) -> tuple[Any, Any]:
    """A kiosk's tick: the overview again, only when the data changed (no redraw, no flicker otherwise)."""
    stores = current_stores()
    version = data_version(stores)
    if version == drawn:
        return no_update, no_update
    return _tiles(stores), version


# The charts are recoloured in the browser for the theme, and again after a kiosk redraw.
clientside_callback(
    THEME_JS,
    Output(tile_ids.TREND, "figure"), Output(tile_ids.EXPOSURE, "figure"),
    Input(ids.THEME, "data"), Input(ids.DRAWN, "data"), State(ids.URL, "search"),
    State(tile_ids.TREND, "figure"), State(tile_ids.EXPOSURE, "figure"),
)


@callback(Input(tile_ids.TREND, "clickData"), Input(tile_ids.EXPOSURE, "clickData"), prevent_initial_call=True)
def open_clicked_desk(trend_click: Any, exposure_click: Any) -> None:
    chart, click = ("pnl", trend_click) if ctx.triggered_id == tile_ids.TREND else ("exposure", exposure_click)
    href = chart_click_href(chart, click)
    if href is not None:
        set_props(ids.URL, {"href": href})
