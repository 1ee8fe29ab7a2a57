"""The feed process of server mode: ``python -m backend.market.feed_process``.

It owns the live feed (simulator, replay or SSI, as ``DESKBOARD_MARKET_SOURCE`` says),
runs the processing core and the alert engine, writes market history to the warehouse
and publishes the board, the market view and today's alerts to Redis once per tick
(see :mod:`backend.market.board_state`). Web workers started with
``DESKBOARD_FEED=process`` serve what it publishes. Run exactly one.

A warehouse that does not answer never stops the feed: history rows wait in the
store's buffer (up to its cap, then the oldest are dropped and counted) and the
counts travel with every heartbeat and into the log. Stop with SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from dataclasses import dataclass
from typing import Any

from backend.config import Settings, SettingsError, load_settings
from backend.market.board_publisher import BoardPublisher, CommandHandler
from backend.market.board_state import redis_client
from backend.market.service import MarketService
from backend.meta import MetaError, MetaStore, open_meta
from backend.observability.collectors import MarketCollector
from backend.observability.logs import configure_logging
from backend.observability.process_server import start_from_env
from backend.warehouse import Warehouse, WarehouseError
from backend.warehouse.reconnect import ReconnectingWarehouse, open_server_warehouse

log = logging.getLogger("deskboard.feed")

REPORT_SECONDS = 30.0


@dataclass
class _StoresView:
    """What the market runtime takes from the stores (no cache: the feed process serves nothing)."""

    settings: Settings
    warehouse: Warehouse
    meta: MetaStore


def history_warehouse(settings: Settings) -> Warehouse:
    """The warehouse the history is written to; never one the web server holds."""
    if settings.embedded_warehouse:
        # chDB lets one process open its folder and that process is the web server: history
        # needs a ClickHouse server. Rows are kept (and beyond the cap counted as dropped).
        return ReconnectingWarehouse(settings.warehouse_url, settings.warehouse_database, never=True,
                                     reason="the embedded warehouse belongs to the web server; point "
                                            "DESKBOARD_WAREHOUSE_DSN at a ClickHouse server to keep history")
    return open_server_warehouse(settings)


def build_service(settings: Settings) -> MarketService:
    """The market service with its feed pipeline, built as the embedded runtime builds it, not started."""
    from backend.market.runtime import build_market_service
    from backend.stream.runtime import open_bus

    stores = _StoresView(settings, history_warehouse(settings), open_meta(settings.meta_database_url))
    service = build_market_service(stores, bus=open_bus(settings))  # type: ignore[arg-type]
    if service is None:
        raise SettingsError("the live market is disabled (DESKBOARD_MARKET_ENABLED=false); nothing to run")
    return service


class FeedProcess:
    """The service, its publisher and its command handler, started and stopped together."""

    def __init__(self, settings: Settings) -> None:
        if not settings.redis_url:
            raise SettingsError("the feed process needs DESKBOARD_REDIS_URL: it publishes the board there")
        self.settings = settings
        self.service = build_service(settings)
        self.publisher = BoardPublisher(self.service, redis_client(settings.redis_url))
        self.commands = CommandHandler(self.service, redis_client(settings.redis_url, blocking_seconds=0.5),
                                       self.publisher)
        self.stop_event = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> bool:
        """Start once this process holds the board's lease (False: stopped while waiting for it)."""
        if not self.publisher.wait_for_lease(self.stop_event):
            return False
        self.service.start(self.service.pipeline)
        for name, target in (("board-publisher", self.publisher.run_forever),
                             ("market-commands", self.commands.run_forever)):
            thread = threading.Thread(target=target, args=(self.stop_event,), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return True

    def report(self) -> dict[str, Any]:
        """One line's worth of how the feed, the history writer and the publisher are doing."""
        status = self.service.status()
        return {
            "state": status["state"], "messages": status["messages"], "board": self.service.board.version,
            "published": self.publisher.seq, "redis_error": self.publisher.last_error,
            "history": self.service.history_status(),
        }

    def run(self) -> None:
        """Run until SIGTERM/SIGINT; log a status line every ``REPORT_SECONDS``."""
        if not self.start():
            return
        log.info("feed process started: publishing to Redis every %.2f s (run %s)", self.publisher.interval,
                 self.publisher.run)
        while not self.stop_event.wait(REPORT_SECONDS):
            log.info("feed %s", self.report())

    def stop(self) -> None:
        self.stop_event.set()
        started = self.service.running
        self.service.stop()
        if started and not self.publisher.lost:
            self.publisher.publish()  # the last state, so readers show the feed stopped rather than a guess
            self.publisher.release_lease()
        for thread in self._threads:
            thread.join(timeout=5)


def main() -> int:
    configure_logging()  # the web workers' JSON lines, so one log search follows a request across processes
    try:
        process = FeedProcess(load_settings())
    except (SettingsError, WarehouseError, MetaError) as exc:
        print(f"Deskboard feed process cannot start: {exc}", file=sys.stderr)
        return 2
    # The pod's probes and Prometheus' scrape (DESKBOARD_PROCESS_HTTP_PORT; unset: none).
    start_from_env(health=lambda: (process.service.running, process.report()),
                   collectors=[MarketCollector(process.service)])

    def _stop(signum: int, _frame: Any) -> None:
        log.info("feed process stopping (signal %d)", signum)
        process.stop_event.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        process.run()
    finally:
        process.stop()
    # Another feed process took over: a non-zero exit, so a supervisor restarts this one as its standby.
    return 3 if process.publisher.lost else 0


if __name__ == "__main__":
    sys.exit(main())
