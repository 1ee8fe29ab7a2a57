"""Start the live market in the web server process: ``install_market_service(server, stores)``
(``build_market_service`` alone for the feed process of server mode).

Builds the board, the history store, the user data file and the processing core,
loads the users' price rules into the alert engine, starts the feed thread and
registers the service on the Flask app for pages and the REST API.
"""

from __future__ import annotations

import atexit
import logging
from collections.abc import Callable

from flask import Flask

from backend.market.board import BoardState
from backend.market.core import MarketCore
from backend.market.feed.base import MarketFeed
from backend.market.history_sources import open_sources
from backend.market.pipeline import BOARD_FIELDS, FeedPipeline
from backend.market.service import EXTENSION_KEY, MarketService
from backend.market.settings import MarketSettings
from backend.market.store import MarketStore
from backend.market.watchlists import UserData
from backend.stores import Stores
from backend.stream.bus import EventBus
from backend.stream.market import MarketPublisher

log = logging.getLogger(__name__)

FeedFactory = Callable[[], MarketFeed]


def install_market_service(
    server: Flask,
    stores: Stores,
    *,
    feed_factory: FeedFactory | None = None,
    settings: MarketSettings | None = None,
    start: bool = True,
    bus: EventBus | None = None,
) -> MarketService | None:
    """Create, register and (by default) start this process's market service."""
    service = build_market_service(stores, feed_factory=feed_factory, settings=settings, bus=bus)
    if service is None:
        return None
    server.extensions[EXTENSION_KEY] = service
    if start:
        service.start(service.pipeline)
        atexit.register(service.stop)
    return service


def build_market_service(
    stores: Stores,
    *,
    feed_factory: FeedFactory | None = None,
    settings: MarketSettings | None = None,
    bus: EventBus | None = None,
) -> MarketService | None:
    """The market service with its history store, user data, core and feed pipeline, not started
    (the web process installs it; the feed process of server mode runs it on its own); with
    ``bus``, its trades, alerts and throttled market channels go out as events there."""
    settings = settings or stores.settings.market
    if not settings.enabled:
        log.info("live market service disabled (DESKBOARD_MARKET_ENABLED=false)")
        return None
    # Which feed wrote each day's history outlives the process, so a simulator started after an
    # exchange session never replaces that session's day.
    store = MarketStore(stores.warehouse, retention_days=settings.retention_days,
                        flush_seconds=settings.flush_seconds, buffer_cap=settings.history_buffer_rows,
                        sources=open_sources(stores.meta, stores.settings.data_dir))
    userdata = UserData(stores.meta)  # watchlists and price rules live in the records store
    service = MarketService(settings=settings, board=BoardState(fields=BOARD_FIELDS), store=store,
                            userdata=userdata)
    core = MarketCore()
    service.attach_core(core)
    service.pipeline = FeedPipeline(service, core, feed_factory or default_feed_factory(settings))
    if bus is not None:
        service.pipeline.publisher = MarketPublisher(bus)
    return service


def default_feed_factory(market_settings: MarketSettings) -> FeedFactory:
    """The feed named by ``DESKBOARD_MARKET_SOURCE`` (the simulator by default)."""
    from backend.market.feed import open_feed

    return lambda: open_feed(market_settings)
