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
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from clickhouse_connect.driver.exceptions import ClickHouseError
from flask import Flask, Response, request

from backend.config import Settings, SettingsError
from backend.stores import Stores
from backend.warehouse import Warehouse, WarehouseError, open_warehouse
from backend.warehouse import client as client_module
from backend.warehouse.client import _connect

log = logging.getLogger(__name__)

WORKER_HEADER = "X-Deskboard-Worker"
RETRY_SECONDS = 5.0


class WarehouseUnreachable(WarehouseError):
    """The warehouse server did not answer; the message says where and why."""

    @property
    def user_message(self) -> str:
        """Shown to the user as it is: it names the server and the reason, never a query."""
        return str(self)


class ReconnectingWarehouse(Warehouse):
    """A server warehouse that did not answer at start: every use tries to connect again (at most
    once per ``retry_seconds``, never two threads at once) and raises :class:`WarehouseUnreachable`
    at once in between, so no request waits longer than one bounded connect attempt."""

    def __init__(self, url: str, database: str, *, reason: str, retry_seconds: float = RETRY_SECONDS,
                 never: bool = False) -> None:
        # Deliberately not Warehouse.__init__: there is no client yet.
        self.database = database
        self.url = url
        self.embedded = url.startswith("chdb://")
        self._version = None
        self._version_lock = threading.Lock()
        self._connected: Any = None
        self._connect_lock = threading.Lock()
        self._retry_seconds = retry_seconds
        self._next_try = time.monotonic() + retry_seconds
        self._never = never
        self.reason = reason

    @property
    def _client(self) -> Any:  # type: ignore[override]
        client = self._connected
        if client is not None:
            return client
        if self._never or time.monotonic() < self._next_try or not self._connect_lock.acquire(blocking=False):
            raise WarehouseUnreachable(self.reason)
        try:
            fresh = Warehouse(_connect(self.url), self.database, self.url)
            fresh.migrate()
            self._connected = fresh._client
            log.info("warehouse at %s answers again", _where(self.url))
            return self._connected
        except (WarehouseError, ClickHouseError, OSError) as exc:
            self.reason = _unreachable_text(self.url, exc)
            self._next_try = time.monotonic() + self._retry_seconds
            raise WarehouseUnreachable(self.reason) from None
        finally:
            self._connect_lock.release()

    @property
    def reachable(self) -> bool:
        return self._connected is not None

    def close(self) -> None:
        if self._connected is not None:
            self._connected.close()


def _where(url: str) -> str:
    parts = urlsplit(url)
    return parts.path if parts.scheme == "chdb" else f"{parts.hostname}:{parts.port or 8123}"


_REASONS = (("refused", "connection refused"), ("timed out", "no answer in time"), ("timeout", "no answer in time"),
            ("Name or service not known", "unknown host"), ("Temporary failure in name resolution", "unknown host"),
            ("Authentication failed", "authentication failed"))


def _unreachable_text(url: str, exc: Exception) -> str:
    """One plain line: where, why (connection refused, no answer in time, ...) and what happens next."""
    text = str(exc)
    why = next((plain for needle, plain in _REASONS if needle.lower() in text.lower()), None)
    if why is None:
        why = text.splitlines()[0][:160] if text else type(exc).__name__
    return f"the warehouse at {_where(url)} is unreachable ({why}); retrying every {RETRY_SECONDS:.0f} s"


def open_server_warehouse(settings: Settings) -> Warehouse:
    """The warehouse; a server that does not answer gives a :class:`ReconnectingWarehouse`."""
    try:
        return open_warehouse(settings.warehouse_url, settings.warehouse_database)
    except WarehouseError as exc:
        if settings.embedded_warehouse:
            raise  # a locked or broken folder is not an outage to wait out
        log.warning("%s", _unreachable_text(settings.warehouse_url, exc))
        return ReconnectingWarehouse(settings.warehouse_url, settings.warehouse_database,
                                     reason=_unreachable_text(settings.warehouse_url, exc))


def open_stores(settings: Settings, cache: Any) -> Stores:
    """``Stores.open``, where a warehouse server that is down does not stop the start."""
    warehouse = open_server_warehouse(settings)
    if isinstance(warehouse, ReconnectingWarehouse):
        # Stores.open asks open_warehouse, which answers from this per-process registry.
        with client_module._open_lock:
            client_module._open[f"{settings.warehouse_url}#{settings.warehouse_database}"] = warehouse
    return Stores.open(settings, cache)


def warehouse_reachable(warehouse: Warehouse) -> bool:
    return not isinstance(warehouse, ReconnectingWarehouse) or warehouse.reachable


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

        return install_market_service(server, stores)
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
