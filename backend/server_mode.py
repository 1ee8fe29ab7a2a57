"""What a process needs to run in server mode (gunicorn web workers, one feed process).

- ``open_stores``: the stores, where a ClickHouse server that does not answer at start
  leaves the process running with a :class:`ReconnectingWarehouse` — pages and ``/health``
  say the warehouse is unreachable, and it is used as soon as it answers — instead of a
  web worker that cannot start.
- ``install_market``: the live market as ``DESKBOARD_FEED`` says: the feed thread in this
  process (``embedded``), the board the feed process publishes to Redis (``process``), or
  none (``off``).
- ``install_worker_header``: every response names the process that served it
  (``X-Deskboard-Worker``), so a load balancer's spread can be seen.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask, Response, request

from backend.config import Settings, SettingsError
from backend.stores import Stores
from backend.warehouse import client as client_module
from backend.warehouse.reconnect import (  # noqa: F401  (re-exported: one place to import server mode from)
    RETRY_SECONDS,
    ReconnectingWarehouse,
    WarehouseUnreachable,
    open_server_warehouse,
    warehouse_reachable,
)

log = logging.getLogger(__name__)

WORKER_HEADER = "X-Deskboard-Worker"


def open_stores(settings: Settings, cache: Any) -> Stores:
    """``Stores.open``, where a warehouse server that is down does not stop the start."""
    warehouse = open_server_warehouse(settings)
    if isinstance(warehouse, ReconnectingWarehouse):
        # Stores.open asks open_warehouse, which answers from this per-process registry.
        with client_module._open_lock:
            client_module._open[f"{settings.warehouse_url}#{settings.warehouse_database}"] = warehouse
    return Stores.open(settings, cache)


def install_warehouse_errors(server: Flask) -> None:
    """An unreachable warehouse is a 503 with the reason on the API, not a logged 500."""
    from backend.api.errors import error_response

    def _unreachable(exc: WarehouseUnreachable):
        if request.path.startswith("/api/") or request.path == "/health":
            return error_response(str(exc), 503)
        return Response(f"Deskboard: {exc}", status=503, mimetype="text/plain")

    server.register_error_handler(WarehouseUnreachable, _unreachable)
    # Flask asks a blueprint's handlers before the app's, and the API blueprints catch every
    # Exception as a logged 500: give each registered blueprint this handler too.
    for name in server.blueprints:
        server.error_handler_spec[name][None][WarehouseUnreachable] = _unreachable


def install_worker_header(server: Flask) -> None:
    pid = str(os.getpid())

    @server.after_request
    def _worker(response: Response) -> Response:
        response.headers[WORKER_HEADER] = pid
        return response


def install_market(server: Flask, stores: Stores) -> Any:
    """This process's market service as ``DESKBOARD_FEED`` chooses (see the module doc)."""
    mode = stores.settings.feed
    if mode == "off":
        log.info("live market: off in this process (DESKBOARD_FEED=off)")
        return None
    if mode == "embedded":
        from backend.market.runtime import install_market_service
        from backend.paper.runtime import install_matcher
        from backend.stream.runtime import EXTENSION_KEY as STREAM_KEY

        service = install_market_service(server, stores, bus=server.extensions.get(STREAM_KEY))
        if service is not None:  # resting paper orders fill as this process's board moves
            install_matcher(server, stores.meta, service.board)
        return service
    return install_remote_market(server, stores)


def install_remote_market(server: Flask, stores: Stores) -> Any:
    """Serve the board the feed process publishes to Redis (``DESKBOARD_FEED=process``)."""
    from backend.market.board_state import REPLY_TIMEOUT_SECONDS, RemoteMarketService, redis_client
    from backend.market.service import EXTENSION_KEY
    from backend.market.store import DEFAULT_RETENTION_DAYS, MarketStore
    from backend.market.watchlists import UserData

    url = stores.settings.redis_url
    if not url:
        raise SettingsError("DESKBOARD_FEED=process needs DESKBOARD_REDIS_URL: the feed process publishes there")
    settings = stores.settings.market
    if not settings.enabled:
        return None
    # A reader of history only: the feed process writes it.
    store = MarketStore(stores.warehouse, retention_days=DEFAULT_RETENTION_DAYS, flush_seconds=settings.flush_seconds)
    service = RemoteMarketService(redis_client(url), commands=redis_client(url, blocking_seconds=REPLY_TIMEOUT_SECONDS),
                                  settings=settings, store=store,
                                  userdata=UserData(stores.meta))  # shared with the feed process
    service.start()
    server.extensions[EXTENSION_KEY] = service
    return service
