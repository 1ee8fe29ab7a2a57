"""What the live market puts on the event bus.

Trades go out one by one as the feed reports them. The market snapshot (the board rows that
changed), the foreign summary and the indices are throttled per channel — a client of the
stream gets at most one of each per ``THROTTLE_SECONDS`` of its channel, and none when nothing
changed — since a board row can change many times a second and a browser redraws once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

from backend.stream.bus import EventBus

log = logging.getLogger(__name__)

THROTTLE_SECONDS: Final = {"market": 1.0, "foreign": 2.0, "indices": 1.0}


class MarketPublisher:
    def __init__(self, bus: EventBus, *, throttle: Mapping[str, float] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.bus = bus
        self.throttle = {**THROTTLE_SECONDS, **(throttle or {})}
        self.clock = clock
        self._sent_at: dict[str, float] = {}
        self._board_version: object = None
        self._last: dict[str, Any] = {}
        self.errors = 0

    def _publish(self, channel: str, data: Mapping[str, Any]) -> None:
        try:
            self.bus.publish(channel, data)
        except Exception:  # the stream is a view of the market: it must never stop the feed
            self.errors += 1
            if self.errors == 1 or self.errors % 1000 == 0:
                log.exception("event bus: could not publish on %s (%d failures)", channel, self.errors)

    def _due(self, channel: str) -> bool:
        now = self.clock()
        if now - self._sent_at.get(channel, -1e18) < self.throttle[channel]:
            return False
        self._sent_at[channel] = now
        return True

    def trade(self, symbol: str, ts: float, price: float, volume: int, side: int, total_volume: int) -> None:
        self._publish("trades", {"symbol": symbol, "ts": ts, "price": price, "volume": volume, "side": side,
                                 "total_volume": total_volume})

    def alert(self, record: Mapping[str, Any]) -> None:
        self._publish("alerts", record)

    def tick(self, board: Any, summary: Mapping[str, Any] | None, leaders: Mapping[str, Any] | None = None) -> None:
        """After a board tick: the changed rows, the foreign summary and the indices, each when due."""
        if board.version != self._board_version and self._due("market"):
            changes = board.changes_since(self._board_version)
            self._board_version = changes.version
            if changes.rows or changes.removed:
                self._publish("market", {"version": changes.version, "full": bool(changes.full),
                                         "rows": [dict(row) for row in changes.rows],
                                         "removed": list(changes.removed)})
        if not summary:
            return
        clock = summary.get("clock") or {}
        foreign = {**(summary.get("foreign") or {}), **({"leaders": leaders} if leaders else {})}
        indices = {"indices": summary.get("indices") or {}, "basis": summary.get("basis") or {}}
        for channel, data in (("foreign", foreign), ("indices", indices)):
            if data != self._last.get(channel) and self._due(channel):
                self._last[channel] = data
                self._publish(channel, {"clock": clock, **data})


__all__ = ["THROTTLE_SECONDS", "MarketPublisher"]
