"""Resting paper orders worked as the live board moves.

A loop reads the board's changes since the version it last saw and hands each changed symbol's
quote to ``Ledger.on_quote`` — only symbols some portfolio has a working order on (that set is
read again each round, so a new order is picked up within a round). Embedded, the loop is a
thread of the web process; in server mode ``python -m backend.paper.worker`` runs it beside the
board in Redis. Running it in two places at once fills nothing twice: each order is worked under
its portfolio's lock and read again there.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Final

from sqlalchemy import select

from backend.market.board_state import BoardState
from backend.paper.engine import StrategyEngine
from backend.paper.ledger import ORDERS, WORKING, Ledger
from backend.paper.quotes import Quote

log = logging.getLogger(__name__)
ROUND_SECONDS: Final = 0.25
SNAPSHOT_SECONDS: Final = 60.0


class Matcher:
    def __init__(self, ledger: Ledger, board: BoardState, *, clock: Callable[[], float] = time.time,
                 engine: StrategyEngine | None = None) -> None:
        self.ledger = ledger
        self.board = board
        self.engine = engine
        self.clock = clock
        self.version: object = None
        self.fills = 0
        self.snapshot_at = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def watched(self) -> set[str]:
        with self.ledger.meta.read() as conn:
            return set(conn.execute(select(ORDERS.c.symbol).where(ORDERS.c.status.in_(WORKING)).distinct()).scalars())

    def round(self) -> int:
        """One pass over what changed on the board since the last; the fills it made."""
        changes = self.board.changes_since(self.version)
        self.version = changes.version
        watched = self.watched() if changes.rows else set()
        strategies = self.engine is not None and self.engine.refresh() > 0
        made = 0
        for row in changes.rows:
            if row.get("symbol") not in watched and not strategies:
                continue
            try:
                quote = Quote.from_row(row, self.clock())
            except ValueError:
                continue  # no band yet today
            if row.get("symbol") in watched:
                made += len(self.ledger.on_quote(quote))
            if strategies and self.engine is not None:
                self.engine.on_row(row, quote)
        self.fills += made
        return made

    def price(self, symbol: str) -> int | None:
        row = self.board.row(symbol)
        last = (row or {}).get("last")
        return round(last) if last else None

    def snapshot(self) -> int:
        """Every portfolio's value at the board's prices, once ``SNAPSHOT_SECONDS`` have passed."""
        now = self.clock()
        if now - self.snapshot_at < SNAPSHOT_SECONDS:
            return 0
        self.snapshot_at = now
        return self.ledger.snapshot_all(self.price)

    def run(self, seconds: float = ROUND_SECONDS) -> None:
        while not self._stop.is_set():
            try:
                self.round()
                self.snapshot()
            except Exception:  # one bad round must not stop the fills of the rest of the day
                log.exception("paper order matching failed; going on")
            self._stop.wait(seconds)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="paper-matcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


__all__ = ["Matcher"]
