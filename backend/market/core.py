"""MarketCore: raw messages in, per-symbol rows, index/basis/foreign state and alerts out.

One object runs the whole pipeline (normalise → quote cache → classifier → aggregators
→ trackers → alerts) for one feed thread. Readers take ``lock`` and copy what they need;
rows are dicts updated in place, each stamped with the core's ``version`` at its last
change, so a snapshot builder copies only rows changed since its previous snapshot.
"""

from __future__ import annotations

import threading
import time as _time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from backend.market.alerts import AlertConfig, AlertEngine, Rule
from backend.market.events import (
    Alert,
    Bar,
    ForeignFlow,
    IndexUpdate,
    MarketEvent,
    Phase,
    Quote,
    SecurityStatus,
    Snapshot,
    Trade,
)
from backend.market.normalize import MessageError, Normalizer
from backend.market.processors import (
    BreadthTracker,
    DerivativesTracker,
    Drop,
    ForeignTracker,
    IndexTracker,
    QuoteCache,
    SessionAggregator,
    TradeClassifier,
)
from backend.market.reference import (
    ATO_START,
    FUTURES_MULTIPLIER,
    VN30_SYMBOLS,
    is_vn30_future,
    phase_at,
    vn_day,
    vn_seconds_of_day,
)

RawMessage = str | bytes | dict[str, Any]

# Keys of a board row. Prices are VND for stocks and index points for futures.
ROW_KEYS: tuple[str, ...] = (
    "symbol", "kind", "vn30", "ref", "ceiling", "floor", "open", "high", "low", "last", "last_vol",
    "change", "change_pct", "total_vol", "total_val",
    "bid1", "bid1_vol", "bid2", "bid2_vol", "bid3", "bid3_vol",
    "ask1", "ask1_vol", "ask2", "ask2_vol", "ask3", "ask3_vol",
    "buy_vol", "sell_vol", "neutral_vol", "buy_val", "sell_val", "buy_share",
    "f_buy_vol", "f_sell_vol", "f_net_vol", "f_buy_val", "f_sell_val", "f_net_val",
    "f_speed_val", "f_accel_val", "f_room", "f_room_usage", "session", "ts", "v",
)  # fmt: skip


def _new_row(symbol: str) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(ROW_KEYS)
    row["symbol"] = symbol
    row["kind"] = "future" if is_vn30_future(symbol) else "stock"
    row["vn30"] = symbol in VN30_SYMBOLS
    return row


def _day_value(previous: float | None, previous_volume: int | None, trade: Trade) -> float | None:
    """The day's traded value after ``trade``: the feed's figure, or — when it sent none (NaN,
    null, 0.0) — the previous figure plus what this trade added at its price, so the board's
    average price stays right. Unknown (None) until the feed has sent a value once, unless
    this is the day's first match (its volume is the whole day's)."""
    if trade.total_value:
        return trade.total_value
    unit = FUTURES_MULTIPLIER if is_vn30_future(trade.symbol) else 1  # a futures point is worth 100,000 VND
    if previous is None:
        first = not previous_volume and trade.total_volume == trade.volume
        return trade.price * unit * trade.volume if first else None
    return previous + trade.price * unit * max(trade.total_volume - (previous_volume or 0), 0)


class MarketCore:
    def __init__(
        self,
        *,
        vn30: frozenset[str] = VN30_SYMBOLS,
        alert_config: AlertConfig | None = None,
        now: Callable[[], float] = _time.time,
        alert_history: int = 500,
    ) -> None:
        self.lock = threading.RLock()
        self.now = now
        self.normalizer = Normalizer(now=now)
        self.quotes = QuoteCache()
        self.classifier = TradeClassifier()
        self.flows = SessionAggregator()
        self.foreign = ForeignTracker()
        self.indices = IndexTracker()
        self.derivatives = DerivativesTracker()
        self.breadth = BreadthTracker(vn30)
        self.alerts = AlertEngine(alert_config)
        self.rows: dict[str, dict[str, Any]] = {}
        self.counters: dict[str, int] = {"received": 0, "parsed": 0, "applied": 0, "dropped": 0}
        self.dropped: dict[str, int] = {}
        self.version = 0
        self.day = 0
        self.clock = 0.0  # latest event time seen (epoch seconds)
        self.statuses: dict[str, str] = {}
        self.bars: dict[str, Bar] = {}
        self._recent: deque[Alert] = deque(maxlen=alert_history)
        self._pending: list[Alert] = []
        self._quote_ts: dict[str, float] = {}
        self._handlers: dict[type, Callable[[Any], bool]] = {
            Trade: self._on_trade,
            Quote: self._on_quote,
            Snapshot: self._on_snapshot,
            ForeignFlow: self._on_foreign,
            IndexUpdate: self._on_index,
            SecurityStatus: self._on_status,
            Bar: self._on_bar,
        }

    # --- input ------------------------------------------------------------------------
    def process(self, raw: RawMessage) -> bool:
        """Parse and apply one provider message; False when it was dropped (and counted)."""
        with self.lock:
            self.counters["received"] += 1
            try:
                event = self.normalizer.parse(raw)
            except MessageError as exc:
                self._drop(exc.reason)
                return False
            self.counters["parsed"] += 1
            return self._apply(event)

    def process_many(self, messages: Iterable[RawMessage]) -> int:
        """Apply a batch under one lock acquisition; returns how many were applied."""
        applied = 0
        with self.lock:
            counters, parse = self.counters, self.normalizer.parse
            for raw in messages:
                counters["received"] += 1
                try:
                    event = parse(raw)
                except MessageError as exc:
                    self._drop(exc.reason)
                    continue
                counters["parsed"] += 1
                applied += self._apply(event)
        return applied

    def apply(self, event: MarketEvent) -> bool:
        """Apply an already-typed event (tests, replays of events)."""
        with self.lock:
            self.counters["received"] += 1
            self.counters["parsed"] += 1
            return self._apply(event)

    def _apply(self, event: MarketEvent) -> bool:
        day = event.quote.day if type(event) is Snapshot else event.day  # type: ignore[union-attr]
        if day != self.day:
            if day < self.day:
                self._drop("stale_day")
                return False
            self._start_day(day)
        ok = self._handlers[type(event)](event)
        if ok:
            self.counters["applied"] += 1
        return ok

    def _drop(self, reason: str) -> None:
        reason = str(reason)
        self.counters["dropped"] += 1
        self.dropped[reason] = self.dropped.get(reason, 0) + 1

    # --- handlers ---------------------------------------------------------------------
    def _row(self, symbol: str) -> dict[str, Any]:
        row = self.rows.get(symbol)
        if row is None:
            row = self.rows[symbol] = _new_row(symbol)
        return row

    def _touch(self, row: dict[str, Any], ts: float) -> None:
        self.version += 1
        row["v"] = self.version
        row["ts"] = ts
        if ts > self.clock:
            self._advance_clock(ts)

    def _on_quote(self, quote: Quote) -> bool:
        symbol = quote.symbol
        if quote.ts < self._quote_ts.get(symbol, 0.0):
            self._drop(Drop.OUT_OF_ORDER)
            return False
        self._quote_ts[symbol] = quote.ts
        self.quotes.apply(quote)
        row = self._row(symbol)
        bp, bv, ap, av = quote.bid_prices, quote.bid_vols, quote.ask_prices, quote.ask_vols
        row["bid1"], row["bid2"], row["bid3"] = bp[0] or None, bp[1] or None, bp[2] or None
        row["bid1_vol"], row["bid2_vol"], row["bid3_vol"] = bv[0], bv[1], bv[2]
        row["ask1"], row["ask2"], row["ask3"] = ap[0] or None, ap[1] or None, ap[2] or None
        row["ask1_vol"], row["ask2_vol"], row["ask3_vol"] = av[0], av[1], av[2]
        if quote.session:
            row["session"] = quote.session
        self._touch(row, quote.ts)
        return True

    def _on_trade(self, trade: Trade, *, snapshot: bool = False) -> bool:
        symbol = trade.symbol
        result = self.classifier.apply(trade, self.quotes.get(symbol), snapshot=snapshot)
        if type(result) is Drop:
            if not snapshot or result is not Drop.DUPLICATE:
                self._drop(result)
            return False
        flow = self.flows.apply(result)  # type: ignore[arg-type]
        row = self._row(symbol)
        price = trade.price
        if trade.ref:
            row["ref"] = trade.ref
        if trade.ceiling:
            row["ceiling"] = trade.ceiling
        if trade.floor:
            row["floor"] = trade.floor
        if row["open"] is None:
            row["open"] = price
        row["high"] = trade.high or max(row["high"] or price, price)
        row["low"] = trade.low or min(row["low"] or price, price)
        row["last"] = price
        row["last_vol"] = trade.volume
        row["total_val"] = _day_value(row["total_val"], row["total_vol"], trade)
        row["total_vol"] = trade.total_volume
        ref = row["ref"]
        if ref:
            row["change"] = price - ref
            row["change_pct"] = (price - ref) / ref * 100.0
        row["buy_vol"], row["sell_vol"], row["neutral_vol"] = flow.buy_vol, flow.sell_vol, flow.neutral_vol
        row["buy_val"], row["sell_val"], row["buy_share"] = flow.buy_val, flow.sell_val, flow.buy_share
        if trade.session:
            row["session"] = trade.session
        self._touch(row, trade.ts)
        ts = trade.ts
        if row["kind"] == "future":
            self._emit(self.alerts.on_basis(self.derivatives.apply_trade(trade), ts))
        elif ref and row["vn30"]:
            breadth = self.breadth.apply(symbol, price, ref, row["ceiling"], row["floor"])
            self._emit(self.alerts.on_breadth("VN30", breadth, ts))
        if self.alerts.has_rules(symbol):
            self._emit(self.alerts.on_price(symbol, price, ts))
        return True

    def _on_snapshot(self, snap: Snapshot) -> bool:
        quote = snap.quote
        if quote.ts < self._quote_ts.get(quote.symbol, 0.0):
            self._drop(Drop.OUT_OF_ORDER)
            return False
        # Classify against the quote *before* this message, then store the new quote.
        traded = self._on_trade(snap.trade, snapshot=True) if snap.trade is not None else False
        quoted = self._on_quote(quote)
        return traded or quoted

    def _on_foreign(self, event: ForeignFlow) -> bool:
        known = self.rows.get(event.symbol)
        state = self.foreign.apply(event, known["session"] if known is not None else None)
        if type(state) is Drop:
            self._drop(state)
            return False
        row = self._row(event.symbol)
        row["f_buy_vol"], row["f_sell_vol"] = state.buy_vol, state.sell_vol  # type: ignore[union-attr]
        row["f_net_vol"] = state.buy_vol - state.sell_vol  # type: ignore[union-attr]
        row["f_buy_val"], row["f_sell_val"] = state.buy_val, state.sell_val  # type: ignore[union-attr]
        row["f_net_val"] = state.buy_val - state.sell_val  # type: ignore[union-attr]
        row["f_speed_val"], row["f_accel_val"] = state.speed_net_val, state.accel_net_val  # type: ignore[union-attr]
        row["f_room"], row["f_room_usage"] = state.current_room, state.room_usage  # type: ignore[union-attr]
        self._touch(row, event.ts)
        self._emit(self.alerts.on_foreign("MARKET", self.foreign.market, event.ts))
        self._emit(self.alerts.on_foreign(event.symbol, state, event.ts))  # type: ignore[arg-type]
        return True

    def _on_index(self, event: IndexUpdate) -> bool:
        state = self.indices.apply(event)
        if type(state) is Drop:
            self._drop(state)
            return False
        self.version += 1
        if event.ts > self.clock:
            self._advance_clock(event.ts)
        if event.index_id == "VN30":
            self._emit(self.alerts.on_basis(self.derivatives.apply_index(event.value, event.ts), event.ts))
        return True

    def _on_status(self, event: SecurityStatus) -> bool:
        row = self._row(event.symbol)
        if event.ref:
            row["ref"] = event.ref
        if event.ceiling:
            row["ceiling"] = event.ceiling
        if event.floor:
            row["floor"] = event.floor
        if event.session:
            row["session"] = event.session
            self.statuses[event.symbol] = event.session
        self._touch(row, event.ts)
        return True

    def _advance_clock(self, ts: float) -> None:
        # Entering a new minute of event time: roll the market's foreign window to it, so the
        # speed series has a point for every minute with any message, flow or not.
        if self.clock and ts // 60 != self.clock // 60:
            self.foreign.advance(ts)
        self.clock = ts

    def _on_bar(self, bar: Bar) -> bool:
        self.bars[bar.symbol] = bar
        return True

    def _emit(self, alerts: list[Alert]) -> None:
        if alerts:
            self._recent.extend(alerts)
            self._pending.extend(alerts)

    # --- day --------------------------------------------------------------------------
    def _start_day(self, day: int) -> None:
        if self.day:
            self._reset_state()
        self.day = day

    def _reset_state(self) -> None:
        for part in (self.quotes, self.classifier, self.flows, self.foreign, self.indices, self.derivatives):
            part.reset()
        self.breadth.reset()
        self.alerts.reset()
        self.rows.clear()
        self.statuses.clear()
        self.bars.clear()
        self._quote_ts.clear()
        self.version += 1

    def reset(self) -> None:
        """Forget the day's state (counters and user rules stay)."""
        with self.lock:
            self._reset_state()
            self.day = 0
            self.clock = 0.0

    def tick(self, now: float | None = None) -> None:
        """Housekeeping: reset once a new day's pre-open starts (wall clock); roll the market's
        foreign window to the latest event time, so its speed decays when flow stops."""
        now = self.now() if now is None else now
        with self.lock:
            if self.day and vn_day(now) > self.day and vn_seconds_of_day(now) >= ATO_START - 1800:
                self._reset_state()
                self.day = vn_day(now)
            if self.clock:
                # Event time, not the wall clock: a feed replaying the day so far at speed is
                # ahead of or behind the wall, and its minutes must line up with its own events.
                self.foreign.advance(self.clock)

    # --- output -----------------------------------------------------------------------
    @property
    def phase(self) -> Phase:
        return phase_at(vn_seconds_of_day(self.clock)) if self.clock else Phase.CLOSED

    def changed_rows(self, since: int = 0) -> tuple[int, list[dict[str, Any]]]:
        """(current version, copies of rows changed after ``since``)."""
        with self.lock:
            return self.version, [dict(r) for r in self.rows.values() if (r["v"] or 0) > since]

    def drain_alerts(self) -> list[Alert]:
        """Alerts raised since the previous call (for storage and notification)."""
        with self.lock:
            out, self._pending = self._pending, []
            return out

    def recent_alerts(self) -> list[Alert]:
        with self.lock:
            return list(self._recent)

    def add_rule(self, rule: Rule) -> None:
        """Watch a user's rule: a price level or a symbol's foreign flow accelerating."""
        with self.lock:
            self.alerts.add_rule(rule)

    def remove_rule(self, rule_id: str) -> bool:
        with self.lock:
            return self.alerts.remove_rule(rule_id)

    # The names rules had when every rule was a price rule (the feed process's commands use them).
    add_price_rule = add_rule
    remove_price_rule = remove_rule

    def summary(self) -> dict[str, Any]:
        """Market-level state: indices (with minute series), breadth, basis, foreign totals, counters."""
        with self.lock:
            basis = self.derivatives.basis
            market = self.foreign.market
            b = self.breadth.breadth
            return {
                "version": self.version,
                "clock": self.clock,
                "phase": self.phase.value,
                "indices": {
                    k: {
                        "value": s.value, "prior": s.prior_value, "change": s.change, "change_pct": s.change_pct,
                        "high": s.high, "low": s.low, "advances": s.advances, "declines": s.declines,
                        "unchanged": s.unchanged, "ceilings": s.ceilings, "floors": s.floors,
                        "total_volume": s.total_volume, "total_value": s.total_value,
                        "series": [list(p) for p in s.series],
                    }
                    for k, s in self.indices.items()
                },
                "vn30_breadth": {
                    "advances": b.advances, "declines": b.declines, "unchanged": b.unchanged,
                    "ceilings": b.ceilings, "floors": b.floors,
                },
                "basis": {
                    "active": basis.active, "futures": basis.futures_price, "index": basis.index_value,
                    "basis": basis.basis, "basis_pct": basis.basis_pct, "stance": basis.stance,
                    "series": [list(p) for p in basis.series],
                },
                "contracts": [
                    {"symbol": c.symbol, "last": c.last, "total_volume": c.total_volume} for c in self.derivatives.contracts()
                ],
                "foreign": {
                    "buy_val": market.buy_val, "sell_val": market.sell_val, "net_val": market.buy_val - market.sell_val,
                    "buy_vol": market.buy_vol, "sell_vol": market.sell_vol,
                    "speed_buy_val": market.speed_buy_val, "speed_sell_val": market.speed_sell_val,
                    "speed_net_val": market.speed_net_val, "accel_net_val": market.accel_net_val,
                    "series": [list(p) for p in self.foreign.series],
                },
                "counters": dict(self.counters),
                "dropped": dict(self.dropped),
            }
