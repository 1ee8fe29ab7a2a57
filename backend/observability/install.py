"""``install_observability(app)``: request ids, structured logs, ``/metrics`` and callback errors on one app.

``app`` is the Dash app (used only through ``app.server``, ``app.callback_map`` and
``app._on_error``, so this package never imports Dash). ``GET /metrics`` is open
unless ``DESKBOARD_METRICS_TOKEN`` is set, in which case it wants
``Authorization: Bearer <token>`` (Prometheus' ``authorization`` scrape setting).
"""

from __future__ import annotations

import hmac
import os
from typing import Any

from flask import Flask, Response, request
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

from backend.observability import logs, metrics
from backend.observability.callback_errors import Notify, callback_error_handler
from backend.observability.collectors import JobsCollector, MarketCollector
from backend.observability.requests import install_request_hooks
from backend.stores import EXTENSION_KEY as STORES_KEY

METRICS_PATH = "/metrics"
TOKEN_ENV = "DESKBOARD_METRICS_TOKEN"
# backend.market.service.EXTENSION_KEY, named here so that serving metrics never imports the market.
MARKET_KEY = "deskboard.market"


def metrics_collectors(server: Flask) -> list[Collector]:
    """The scrape-time collectors of one server: its market service's feed and its job records."""
    collectors: list[Collector] = []
    service = server.extensions.get(MARKET_KEY)
    if service is not None:
        collectors.append(MarketCollector(service))
    stores = server.extensions.get(STORES_KEY)
    if stores is not None:
        collectors.append(JobsCollector(stores.meta))
    return collectors


def _authorized() -> bool:
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        return True
    given = request.headers.get("Authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def install_metrics_route(server: Flask) -> None:
    def serve_metrics() -> Response:
        if not _authorized():
            return Response("metrics need a bearer token\n", status=401, mimetype="text/plain",
                            headers={"WWW-Authenticate": "Bearer"})
        body = metrics.exposition(metrics_collectors(server))
        return Response(body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4, "Cache-Control": "no-store"})

    server.add_url_rule(METRICS_PATH, "metrics", serve_metrics, methods=["GET"])


def install_observability(app: Any, *, notify: Notify | None = None, configure_logs: bool = True) -> None:
    """Install everything on a Dash app; ``notify`` shows the user a callback-error notice (``dash.set_props``)."""
    if configure_logs:
        logs.configure_logging()
    server: Flask = app.server
    if server.extensions.get("deskboard.observability"):
        return
    server.extensions["deskboard.observability"] = True
    install_request_hooks(server, known_callbacks=lambda: app.callback_map)
    install_metrics_route(server)
    app._on_error = callback_error_handler(notify, previous=getattr(app, "_on_error", None))
