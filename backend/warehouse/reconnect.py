"""A warehouse server that does not answer: one bounded connect attempt at a time, a plain reason.

``open_server_warehouse`` opens the configured warehouse; when a ClickHouse *server* does
not answer it gives a :class:`ReconnectingWarehouse`, which tries again at most once per
``RETRY_SECONDS`` and otherwise raises :class:`WarehouseUnreachable` at once, whose message
names the server and the reason (written for users: pages and ``/health`` show it). An
embedded folder that cannot be opened is not an outage to wait out: that still raises.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from clickhouse_connect.driver.exceptions import ClickHouseError

from backend.config import Settings
from backend.warehouse import Warehouse, WarehouseError, open_warehouse
from backend.warehouse.client import _connect

log = logging.getLogger(__name__)

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


def warehouse_reachable(warehouse: Warehouse) -> bool:
    return not isinstance(warehouse, ReconnectingWarehouse) or warehouse.reachable
