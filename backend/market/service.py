"""The live market service: feed → core → board → store, in a background thread.

One service runs in the web server process (``install_market_service``). Its
thread reads the feed, hands every message to the processing core, publishes
one board tick at most every ``tick_seconds`` and queues history rows for the
store, which writes them once a second. Readers (pages, the REST API) only ever
touch the board's immutable snapshots and the small status record here.

The feed is *stale* when no message has arrived for ``stale_seconds`` while the
market should be trading, and *disconnected* when the source ended or failed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any, Protocol

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from backend.market.board import BoardState
from backend.market.store import DEFAULT_RETENTION_DAYS, MarketStore
from backend.market.watchlists import StoredRule, UserData, UserDataError

log = logging.getLogger(__name__)

EXTENSION_KEY = "deskboard.market"


class Runner(Protocol):
    def run(self, service: MarketService, stop: threading.Event) -> None: ...

    def close(self) -> None: ...


class ServiceSettings(BaseSettings):
    """How the service runs (environment prefix ``DESKBOARD_MARKET_``)."""

    model_config = SettingsConfigDict(env_prefix="DESKBOARD_MARKET_", extra="ignore", frozen=True)

    enabled: bool = True
    stale_seconds: float = Field(10.0, gt=0, le=3600)
    tick_seconds: float = Field(0.25, ge=0.02, le=10)
    flush_seconds: float = Field(1.0, ge=0.05, le=60)
    retention_days: int = Field(DEFAULT_RETENTION_DAYS, ge=1, le=3650)
    recent_alerts: int = Field(500, ge=10, le=100_000)


class FeedState(StrEnum):
    STARTING = "starting"
    LIVE = "live"
    STALE = "stale"
    DISCONNECTED = "disconnected"
    STOPPED = "stopped"


@dataclass
class _Counters:
    messages: int = 0
    rejected: int = 0
    last_message_at: float | None = None  # monotonic seconds
    last_market_ts: float | None = None  # the feed's own clock, epoch seconds
    connected: bool = False
    error: str | None = None
    reasons: dict[str, int] = field(default_factory=dict)


class MarketService:
    """Owns the board, the store writer and the feed thread of one process."""

    def __init__(
        self,
        *,
        settings: ServiceSettings | None = None,
        board: BoardState | None = None,
        store: MarketStore | None = None,
        userdata: UserData | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or ServiceSettings()
        self.board = board or BoardState()
        self.store = store
        self._monotonic = monotonic
        self._counters = _Counters()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = False
        self._alerts: deque[dict[str, Any]] = deque(maxlen=self.settings.recent_alerts)
        self.summary: dict[str, Any] = {}
        self.runner: Runner | None = None
        self.userdata: UserData | None = userdata
        self.core: Any = None  # the processing core, for price rules (see attach_core)
        self.pipeline: Any = None

    # -- status ------------------------------------------------------------------
    def note_message(self, market_ts: float | None = None) -> None:
        with self._lock:
            c = self._counters
            c.messages += 1
            c.connected = True
            c.error = None
            c.last_message_at = self._monotonic()
            if market_ts is not None:
                c.last_market_ts = market_ts

    def note_rejected(self, reason: str) -> None:
        with self._lock:
            self._counters.rejected += 1
            self._counters.reasons[reason] = self._counters.reasons.get(reason, 0) + 1

    def note_disconnected(self, error: str | None = None) -> None:
        with self._lock:
            self._counters.connected = False
            self._counters.error = error

    def state(self) -> FeedState:
        c = self._counters
        if not self._started:
            return FeedState.STOPPED
        if not c.connected:
            return FeedState.DISCONNECTED if c.messages or c.error else FeedState.STARTING
        age = self._monotonic() - (c.last_message_at or 0.0)
        return FeedState.STALE if age > self.settings.stale_seconds else FeedState.LIVE

    def status(self) -> dict[str, Any]:
        """What the banner and ``/health`` need: state, message age, counts, the feed's clock."""
        c = self._counters
        age = None if c.last_message_at is None else round(self._monotonic() - c.last_message_at, 3)
        return {
            "state": self.state().value,
            "age_seconds": age,
            "stale_after_seconds": self.settings.stale_seconds,
            "messages": c.messages,
            "rejected": c.rejected,
            "market_ts": c.last_market_ts,
            "error": c.error,
        }

    # -- alerts ------------------------------------------------------------------
    def record_alert(self, alert: dict[str, Any]) -> None:
        """Keep an alert for the live panel and queue it for history."""
        with self._lock:
            self._alerts.append({**alert, "acked_at": None, "acked_by": ""})
        if self.store is not None:
            self.store.add("alerts", [alert])

    def alerts(self, *, day: date | None = None, symbol: str | None = None, unacked: bool = False,
               limit: int = 200) -> list[dict[str, Any]]:
        """Newest first: today's from memory, an earlier day's from history."""
        if day is None:
            with self._lock:
                items = [dict(a) for a in self._alerts]
        elif self.store is not None:
            items = self.store.history("alerts", day, limit=50_000)
            for item in items:
                item["ts"] = item["ts"].timestamp()
                item["day"] = item["day"].toordinal()
                item["acked_at"] = item["acked_at"].timestamp() if item["acked_at"] else None
        else:
            items = []
        if symbol:
            items = [a for a in items if a.get("symbol") == symbol]
        if unacked:
            items = [a for a in items if not a.get("acked_at")]
        items.sort(key=lambda a: a["ts"], reverse=True)
        return items[:limit]

    def acknowledge(self, alert_id: str, *, by: str) -> bool:
        now = time.time()
        found = None
        with self._lock:
            for alert in self._alerts:
                if alert["id"] == alert_id:
                    alert["acked_at"], alert["acked_by"] = now, by
                    found = alert
        if found is not None and self.store is not None:
            self.store.acknowledge(alert_id, date.fromordinal(found["day"]), by=by, at=now)
        return found is not None

    # -- price rules -------------------------------------------------------------
    def attach_core(self, core: Any) -> None:
        """Give the service the core whose alert engine runs the users' price rules."""
        self.core = core
        if self.userdata is not None:
            for rule in self.userdata.rules():
                core.add_price_rule(_engine_rule(rule))

    def add_rule(self, symbol: str, op: str, price: float, note: str = "") -> StoredRule:
        if self.userdata is None:
            raise UserDataError("price rules are not stored on this server")
        rule = self.userdata.add_rule(symbol, op, price, note)
        if self.core is not None:
            self.core.add_price_rule(_engine_rule(rule))
        return rule

    def delete_rule(self, rule_id: str) -> bool:
        if self.userdata is None:
            return False
        removed = self.userdata.delete_rule(rule_id)
        if self.core is not None:
            self.core.remove_price_rule(rule_id)
        return removed

    def rules(self) -> list[StoredRule]:
        return self.userdata.rules() if self.userdata is not None else []

    # -- running -----------------------------------------------------------------
    def start(self, runner: Runner) -> None:
        """Run ``runner.run(service, stop_event)`` in the background until ``stop``."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._started = True
        self.runner = runner
        with self._lock:
            self._counters = _Counters()
        if self.store is not None:
            self.store.start()
        self._thread = threading.Thread(target=self._guarded, args=(runner,), name="market-feed", daemon=True)
        self._thread.start()

    def _guarded(self, runner: Runner) -> None:
        try:
            runner.run(self, self._stop)
            self.note_disconnected(None if self._stop.is_set() else "the feed ended")
        except Exception as exc:  # the page shows the state; the log has the trace
            log.exception("market feed stopped")
            self.note_disconnected(f"feed error: {type(exc).__name__}")

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self.runner is not None:
            self.runner.close()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None
        if self.store is not None:
            self.store.stop()
        self._started = False

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


def _engine_rule(rule: StoredRule) -> Any:
    from backend.market.alerts import PriceRule

    return PriceRule(id=rule.id, symbol=rule.symbol, op=rule.op, price=rule.price, note=rule.note)


def current_market_service() -> MarketService | None:
    """The market service of the Flask app handling the current request, if one runs."""
    from flask import current_app

    return current_app.extensions.get(EXTENSION_KEY)
