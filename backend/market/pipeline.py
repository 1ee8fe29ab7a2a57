"""The feed loop: raw messages → core; every tick, core → board, history rows → store.

Two threads per service. The *reader* pulls messages from the feed and applies
them to the core as they arrive (it may be told to hold, which makes the feed go
quiet while it stays connected). The *ticker* wakes every ``tick_seconds``,
copies the rows the core changed since its previous tick into the board (one
new board version per tick, however many messages arrived), hands new alerts
to the service and builds the one market view every /market screen and the
summary endpoint read (so a request only looks up what changed).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from backend.market.core import ROW_KEYS, MarketCore
from backend.market.events import Alert, ForeignFlow, IndexUpdate, Snapshot, Trade
from backend.market.feed.base import ConnectionState, MarketFeed
from backend.market.market_view import MarketViewBuilder
from backend.market.normalize import MessageError
from backend.market.reference import vn_day

if TYPE_CHECKING:
    from backend.market.service import MarketService
    from backend.stream.market import MarketPublisher

log = logging.getLogger(__name__)

# The board carries every core row key except the core's own change counter.
BOARD_FIELDS: tuple[str, ...] = tuple(k for k in ROW_KEYS if k != "v")
_DOWN_STATES = {ConnectionState.RECONNECTING, ConnectionState.ENDED, ConnectionState.CLOSED, ConnectionState.FAILED}


def alert_record(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id, "ts": alert.ts, "day": vn_day(alert.ts), "symbol": alert.symbol,
        "kind": str(alert.kind), "severity": str(alert.severity), "message": alert.message,
        "value": float(alert.value), "threshold": float(alert.threshold), "rule_id": alert.rule_id or "",
    }


class FeedPipeline:
    def __init__(self, service: MarketService, core: MarketCore, feed_factory: Callable[[], MarketFeed]) -> None:
        self.service = service
        self.core = core
        self.feed_factory = feed_factory
        self.feed: MarketFeed | None = None
        self.hold = threading.Event()
        self.views = MarketViewBuilder()
        self._core_version = 0
        self._viewed: tuple[int, int] = (-1, -1)
        self._day = 0
        self._last_total: dict[str, int] = {}
        self._last_basis: tuple[float | None, float | None] = (None, None)
        # Where trades, alerts and the throttled market channels go out as events (the stream).
        self.publisher: MarketPublisher | None = None

    @property
    def source(self) -> str | None:
        """The feed's source name ("simulator", "replay", "ssi"), once the feed is open."""
        return self.feed.source if self.feed is not None else None

    @property
    def simulated(self) -> bool:
        """True unless the prices come live from the exchange: generated, or replayed from a recording."""
        feed = self.feed
        return feed is not None and (bool(getattr(feed, "simulated", False)) or feed.source != "ssi")

    @property
    def catching_up(self) -> bool:
        """True while the feed replays the session so far faster than real time (the simulator at start)."""
        feed = self.feed
        return feed is not None and feed.catching_up

    # -- reader ------------------------------------------------------------------
    def run(self, service: MarketService, stop: threading.Event) -> None:
        done = threading.Event()
        ticker = threading.Thread(target=self._tick_loop, args=(stop, done), name="market-ticker", daemon=True)
        ticker.start()
        try:
            self.feed = self.feed_factory()
            if service.store is not None:
                # Each day this session writes is claimed first: a restarted simulator replaces
                # its earlier run's day instead of writing a second path beside it.
                service.store.begin_session(self.feed.source, simulated=self.simulated)
            for raw in self.feed.messages():
                if stop.is_set():
                    break
                while self.hold.is_set() and not stop.is_set():
                    stop.wait(0.05)
                self._on_message(raw)
        finally:
            done.set()
            ticker.join(timeout=5)
            self.tick()  # publish what arrived since the last tick
            self.close()

    def close(self) -> None:
        """Close the feed (from any thread); the reader ends once the feed stops yielding."""
        if self.feed is not None:
            self.feed.close()

    def _on_message(self, raw: Any) -> None:
        try:
            event = self.core.normalizer.parse(raw)
        except MessageError as exc:
            self.service.note_rejected(exc.reason)
            return
        if not self.core.apply(event):
            self.service.note_message(None)
            return
        self.service.note_message(getattr(event, "ts", None))
        self._history(event)

    def _history(self, event: Any) -> None:
        store = self.service.store
        kind = type(event)
        if kind is Snapshot:
            event = event.trade
            kind = type(event)
        if kind is Trade:
            # Snapshots repeat the last trade; only a growing day total is a new match.
            if event.total_volume <= self._last_total.get(event.symbol, -1):
                return
            self._last_total[event.symbol] = event.total_volume
            side = int(event.side or 0)
            if self.publisher is not None:
                self.publisher.trade(event.symbol, event.ts, event.price, event.volume, side, event.total_volume)
            if store is not None:
                store.add("trades", [{
                    "ts": event.ts, "day": event.day, "symbol": event.symbol, "price": event.price,
                    "volume": event.volume, "side": side, "total_volume": event.total_volume,
                    "total_value": event.total_value,
                }])
            return
        if store is None:
            return
        if kind is ForeignFlow:
            store.add("foreign", [{
                "ts": event.ts, "day": event.day, "symbol": event.symbol, "buy_vol": event.buy_vol,
                "sell_vol": event.sell_vol, "buy_val": event.buy_val, "sell_val": event.sell_val,
                "total_room": event.total_room, "current_room": event.current_room,
            }])
        elif kind is IndexUpdate:
            store.add("index", [{
                "ts": event.ts, "day": event.day, "symbol": event.index_id, "value": event.value,
                "prior_value": event.prior_value, "advances": event.advances, "declines": event.declines,
                "unchanged": event.unchanged, "ceilings": event.ceilings, "floors": event.floors,
                "total_volume": event.total_volume, "total_value": event.total_value,
            }])

    # -- ticker ------------------------------------------------------------------
    def _tick_loop(self, stop: threading.Event, done: threading.Event) -> None:
        while not stop.wait(self.service.settings.tick_seconds) and not done.is_set():
            try:
                self.tick()
            except Exception:  # a bad tick must not stop the board; the next one retries
                log.exception("market tick failed")

    def tick(self) -> None:
        core, service = self.core, self.service
        core.tick()
        if core.day != self._day:
            # A new trading day: the core forgot yesterday, so the board starts over too.
            self._day, self._core_version = core.day, 0
            self._last_total.clear()
            version, rows = core.changed_rows(0)
            service.board.publish((_board_row(r) for r in rows), complete=True)
        else:
            version, rows = core.changed_rows(self._core_version)
            service.board.publish(_board_row(r) for r in rows)
        self._core_version = version
        for alert in core.drain_alerts():
            record = alert_record(alert)
            service.record_alert(record)
            if self.publisher is not None:
                self.publisher.alert(record)
        seen = (core.version, service.board.version)
        if seen != self._viewed:  # a quiet tick (no message since the last) rebuilds nothing
            self._viewed = seen
            summary = core.summary()
            service.summary = summary
            service.view = self.views.build(summary, service.board.rows())
            if core.clock:
                self._store_basis(summary["basis"], core.clock)
        if self.publisher is not None:
            view = service.view
            self.publisher.tick(service.board, view.summary, view.parts.get("leaders"))
        if self.feed is not None and self.feed.status.state in _DOWN_STATES:
            service.note_disconnected(self.feed.status.last_error or f"feed {self.feed.status.state}")

    def _store_basis(self, basis: dict[str, Any], ts: float) -> None:
        key = (basis["futures"], basis["index"])
        if self.service.store is None or basis["basis"] is None or key == self._last_basis:
            return
        self._last_basis = key
        self.service.store.add("basis", [{
            "ts": ts, "day": vn_day(ts), "symbol": basis["active"] or "", "index_symbol": "VN30",
            "futures_price": basis["futures"], "index_value": basis["index"], "basis": basis["basis"],
        }])


def _board_row(row: dict[str, Any]) -> dict[str, Any]:
    row.pop("v", None)
    return row
