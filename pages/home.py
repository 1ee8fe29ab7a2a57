"""Overview (/): what needs attention today — the latest day's P&L and exposure,
the biggest winners and losers, each a link into the pivot page."""

from __future__ import annotations

from typing import Any

import dash
from dash import html

from backend.overview import cached_overview
from backend.stores import current_stores
from components.tiles import overview_tiles

dash.register_page(__name__, path="/", title="Overview", name="Overview", order=0)


class ids:
    ROOT = "overview"


def layout(**_query: Any) -> html.Div:
    stores = current_stores()
    overview = cached_overview(stores.warehouse, stores.cache.cache)
    return html.Div(overview_tiles(overview), id=ids.ROOT)
