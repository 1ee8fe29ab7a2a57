"""Which feed wrote each trading day's market history, so a simulated session replaces its own.

A restarted simulator replays the day so far along a different path. Appended to the rows
an earlier run left, the day would have two histories at once (FPT trading at 137 in one and
108 in the other). So the market store records, per VN trading day, the source of the
history it holds, and every feed session claims a day before its first write of it
(``MarketStore.begin_session``):

- a simulated session (the simulator, a replay: anything but a live exchange feed)
  replaces the day's history when that history is simulated, and writes nothing for a day
  whose history came from an exchange feed;
- an exchange feed replaces simulated history of its day and appends to its own (a
  reconnect or a restart continues the same day).

History written before sources were recorded counts as simulated: no exchange feed had
been connected to a Deskboard server before then.

The record lives in a small SQLite table beside the market's watchlists (multi-process
safe), or in memory for a store without a data directory.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS market_history_days (
    day TEXT PRIMARY KEY, source TEXT NOT NULL, simulated INTEGER NOT NULL CHECK (simulated IN (0, 1)),
    session TEXT NOT NULL, claimed_at TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class DayOwner:
    """The session whose history a day holds."""

    source: str
    simulated: bool
    session: str


class HistorySources:
    """Day → the source of its stored history. ``path=None`` keeps the record in memory."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._memory: dict[date, DayOwner] = {}
        self._local = threading.local()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn().executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            assert self.path is not None
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            self._local.conn = conn
        return conn

    def owner(self, day: date) -> DayOwner | None:
        """Who wrote ``day``'s history; None when no session recorded it."""
        if self.path is None:
            return self._memory.get(day)
        row = self._conn().execute(
            "SELECT source, simulated, session FROM market_history_days WHERE day = ?", (day.isoformat(),)
        ).fetchone()
        return None if row is None else DayOwner(row[0], bool(row[1]), row[2])

    def record(self, day: date, owner: DayOwner) -> None:
        """``owner`` now holds ``day``'s history."""
        if self.path is None:
            self._memory[day] = owner
            return
        self._conn().execute(
            "INSERT INTO market_history_days (day, source, simulated, session, claimed_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(day) DO UPDATE SET source = excluded.source, simulated = excluded.simulated, "
            "session = excluded.session, claimed_at = excluded.claimed_at",
            (day.isoformat(), owner.source, int(owner.simulated), owner.session, datetime.now(UTC).isoformat()),
        )


def decide(owner: DayOwner | None, session: DayOwner, has_rows: bool) -> str:
    """What a session does with a day at its first write: ``"append"``, ``"replace"`` or ``"refuse"``.

    ``owner`` is who holds the day now (None: unrecorded, which counts as simulated).
    """
    if not has_rows:
        return "append"
    held_real = owner is not None and not owner.simulated
    if session.simulated:
        return "refuse" if held_real else "replace"
    return "append" if held_real else "replace"
