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

from backend.market.alerts import fold_alerts
from backend.market.board import BoardState
from backend.market.market_view import MarketView, empty_view
from backend.market.settings import ServiceSettings
from backend.market.store import MarketStore
from backend.market.watchlists import (
    PriceBand,
    StoredRule,
    UserData,
    UserDataError,
    check_rule_price,
    parse_condition,
    price_from_board_units,
    rule_symbol,
)

log = logging.getLogger(__name__)

EXTENSION_KEY = "deskboard.market"


class Runner(Protocol):
    def run(self, service: MarketService, stop: threading.Event) -> None: ...

    def close(self) -> None: ...


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
        # Today's alert rows, each one condition's repeats folded together (see record_alert).
        self._alerts: deque[dict[str, Any]] = deque(maxlen=self.settings.recent_alerts)
        self._open_rows: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.alerts_revision = 0  # moves whenever the alert list changes, so screens ask only then
        self.summary: dict[str, Any] = {}
        self.view: MarketView = empty_view()  # what /market shows, rebuilt by the pipeline each tick
        self.runner: Runner | None = None
        self.userdata: UserData | None = userdata
        self.core: Any = None  # the processing core, for users' alert rules (see attach_core)
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
        """What the banner and ``/health`` need: state, message age, counts, the feed's clock and source.

        ``simulated`` is true whenever prices are not live from the exchange (the simulator, a replay);
        ``catching_up`` while the feed still replays the session so far faster than real time.
        """
        c = self._counters
        age = None if c.last_message_at is None else round(self._monotonic() - c.last_message_at, 3)
        source = getattr(self.runner, "source", None)
        simulated = bool(getattr(self.runner, "simulated", False))
        return {
            "state": self.state().value,
            "age_seconds": age,
            "stale_after_seconds": self.settings.stale_seconds,
            "messages": c.messages,
            "rejected": c.rejected,
            "market_ts": c.last_market_ts,
            "error": c.error,
            "source": source,
            "simulated": simulated,
            "catching_up": bool(getattr(self.runner, "catching_up", False)),
        }

    def history_status(self) -> dict[str, Any] | None:
        """How market history is being written: rows waiting for the warehouse, rows dropped at the
        buffer cap, rows refused (a day another feed holds), flushes so far and the last write error.
        None when this service keeps no history."""
        store = self.store
        if store is None:
            return None
        return {"pending": sum(store.pending().values()), "dropped": store.dropped_rows,
                "refused": store.refused_rows, "flushes": store.flushes, "error": store.last_error}

    # -- alerts ------------------------------------------------------------------
    def record_alert(self, alert: dict[str, Any]) -> None:
        """Keep an alert for the live panel and queue it for history.

        History keeps every alert; the live list folds one condition's repeats (same kind, symbol
        and rule, each within ``alert_fold_seconds`` of the previous) into one open row with a
        count, the latest message and value and the highest severity, so one noisy condition can
        neither flood the list nor push other alerts out of it.
        """
        member = {k: alert.get(k) for k in ("id", "ts", "day", "severity", "message", "value", "threshold")}
        key = (str(alert.get("kind")), str(alert.get("symbol")), str(alert.get("rule_id") or ""))
        with self._lock:
            row = self._open_rows.get(key)
            if row is not None and alert["ts"] - row["ts"] <= self.settings.alert_fold_seconds:
                row["_members"].append(member)
                del row["_members"][:-_MAX_MEMBERS]
                _show_latest(row, count=row["count"] + 1)
            else:
                if len(self._alerts) == self._alerts.maxlen:
                    self._forget(self._alerts[0])
                row = {**alert, "acked_at": None, "acked_by": "", "_members": [member]}
                _show_latest(row, count=1)
                self._alerts.append(row)
                self._open_rows[key] = row
            self.alerts_revision += 1
        if self.store is not None:
            self.store.add("alerts", [alert])

    def _forget(self, row: dict[str, Any]) -> None:
        key = (str(row.get("kind")), str(row.get("symbol")), str(row.get("rule_id") or ""))
        if self._open_rows.get(key) is row:
            del self._open_rows[key]

    def alerts(self, *, day: date | None = None, symbol: str | None = None, unacked: bool = False,
               limit: int = 200) -> list[dict[str, Any]]:
        """Alert rows, newest first: today's from memory, an earlier day's from history (folded alike)."""
        if day is None:
            with self._lock:
                items = [{k: v for k, v in a.items() if k != "_members"} for a in self._alerts]
        elif self.store is not None:
            stored = self.store.history("alerts", day, limit=50_000)
            for item in stored:
                item["ts"] = item["ts"].timestamp()
                item["day"] = item["day"].toordinal()
                item["acked_at"] = item["acked_at"].timestamp() if item["acked_at"] else None
                item.pop("revision", None)
            items = fold_alerts(stored, self.settings.alert_fold_seconds)
            for item in items:
                item.pop("ids", None)
        else:
            items = []
        if symbol:
            items = [a for a in items if a.get("symbol") == symbol]
        if unacked:
            items = [a for a in items if not a.get("acked_at")]
        items.sort(key=lambda a: (a["ts"], a["id"]), reverse=True)
        return items[:limit]

    def acknowledge(self, alert_id: str, *, by: str, upto: str | None = None) -> bool:
        """Acknowledge the alert row ``alert_id`` (a row's id, or the id of any alert in it).

        ``upto`` is the newest alert of the row the user saw: alerts folded into the row after it
        stay open, as a row of their own, so an acknowledgement never swallows an alert unseen.
        """
        now = time.time()
        with self._lock:
            row = next((a for a in self._alerts if a["id"] == alert_id), None) or next(
                (a for a in self._alerts if any(m["id"] == alert_id for m in a["_members"])), None)
            if row is None:
                return False
            members = row["_members"]
            cut = next((i + 1 for i, m in enumerate(members) if m["id"] == upto), len(members))
            if row["acked_at"]:
                return True  # already acknowledged: nothing new to record
            seen, unseen = members[:cut], members[cut:]
            self._forget(row)
            if unseen:
                rest = {**row, "_members": unseen}
                _show_latest(rest, count=len(unseen))
                self._alerts.append(rest)
                self._open_rows[(str(row.get("kind")), str(row.get("symbol")), str(row.get("rule_id") or ""))] = rest
            row["_members"] = seen
            _show_latest(row, count=row["count"] - len(unseen))
            row["acked_at"], row["acked_by"] = now, by
            self.alerts_revision += 1
            by_day: dict[int, list[str]] = {}
            for m in seen:
                by_day.setdefault(m["day"], []).append(m["id"])
        if self.store is not None:
            for day, ids in by_day.items():
                self.store.acknowledge_many(ids, date.fromordinal(day), by=by, at=now)
        return True

    # -- alert rules -------------------------------------------------------------
    def attach_core(self, core: Any) -> None:
        """Give the service the core whose alert engine runs the users' rules."""
        self.core = core
        if self.userdata is not None:
            for rule in self.userdata.rules():
                core.add_rule(_engine_rule(rule))

    def add_rule(self, symbol: str, op: str, price: object = None, note: str = "", *,
                 board_units: bool = False) -> StoredRule:
        """Store an alert rule and start watching it.

        ``op`` names the condition: ``price_above`` / ``price_below`` (or ``above`` / ``below``),
        ``foreign_buy_accelerating`` / ``foreign_sell_accelerating``. A price rule's ``price`` is
        in feed units (VND; points for futures), or as the board shows it with ``board_units``. It
        must be a price the symbol can trade at today — inside its band and on the tick grid — or
        the rule is refused with the reason and the nearest valid prices. A foreign-flow rule has no
        price and watches a symbol on today's board.
        """
        if self.userdata is None:
            raise UserDataError("alert rules are not stored on this server")
        symbol = rule_symbol(symbol)
        kind, _side = parse_condition(op)
        row = self.board.row(symbol)
        if kind == "foreign":
            if price is not None:
                raise UserDataError("a foreign-flow rule has no price", field="price")
            if row is None:
                raise UserDataError(f"{symbol} is not on today's board: the feed has not sent this symbol, "
                                    "so its foreign flow could never be followed", field="symbol")
            rule = self.userdata.add_rule(symbol, op, None, note)
        else:
            if board_units:
                value = price_from_board_units(symbol, price)
            elif isinstance(price, bool) or not isinstance(price, int | float) or not 0 < price < 1e12:
                raise UserDataError("price must be a positive number", field="price")
            else:
                value = float(price)
            check_rule_price(symbol, value, PriceBand.of_row(symbol, row), in_dong=not board_units)
            rule = self.userdata.add_rule(symbol, op, value, note)
        if self.core is not None:
            self.core.add_rule(_engine_rule(rule))
        return rule

    def delete_rule(self, rule_id: str) -> bool:
        if self.userdata is None:
            return False
        removed = self.userdata.delete_rule(rule_id)
        if self.core is not None:
            self.core.remove_rule(rule_id)
        return removed

    def rules(self) -> list[StoredRule]:
        return self.userdata.rules() if self.userdata is not None else []

    def rule_alerts(self, *, limit: int = 200) -> list[dict[str, Any]]:
        """Today's alert rows raised by users' rules (those with a rule id), newest first."""
        return [a for a in self.alerts(limit=self.settings.recent_alerts) if a.get("rule_id")][:limit]

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


_MAX_MEMBERS = 10_000  # alerts remembered per row (its count stays exact beyond it)
_SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


def _show_latest(row: dict[str, Any], *, count: int) -> None:
    """A row shows its newest alert's time, message and value, and the highest severity in it."""
    members = row["_members"]
    latest = members[-1]
    row.update({k: latest[k] for k in ("ts", "day", "message", "value", "threshold")})
    row["severity"] = max((m["severity"] for m in members), key=lambda s: _SEVERITY_RANK.get(s, 0))
    row["id"], row["first_ts"], row["last_id"], row["count"] = members[0]["id"], members[0]["ts"], latest["id"], count


def _engine_rule(rule: StoredRule) -> Any:
    from backend.market.alerts import ForeignRule, PriceRule

    if rule.kind == "foreign":
        return ForeignRule(id=rule.id, symbol=rule.symbol, side=rule.op, note=rule.note)  # type: ignore[arg-type]
    return PriceRule(id=rule.id, symbol=rule.symbol, op=rule.op, price=rule.price, note=rule.note)  # type: ignore[arg-type]


def current_market_service() -> MarketService | None:
    """The market service of the Flask app handling the current request, if one runs."""
    from flask import current_app

    return current_app.extensions.get(EXTENSION_KEY)
