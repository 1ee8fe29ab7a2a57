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

The record lives in the records store (table ``market_day_owners``), which every host and
process of a server shares, or in memory for a store without one. The day is the table's key:
two processes claiming a day together leave one owner, and ``claim`` tells the one that lost.
Older versions kept it in ``market_history.sqlite3`` in the data directory; ``open_sources``
copies that file in once (``backend.meta.legacy_market``).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Connection, and_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from backend.meta.models import MARKET_SESSION_MAX, MARKET_SOURCE_MAX, MarketDayOwner, utc_now
from backend.meta.store import MetaStore

log = logging.getLogger(__name__)

LEGACY_FILE_NAME: Final = "market_history.sqlite3"
# A claim lost to another process is decided again against the winner; a real feed racing
# simulators could in theory lose every time, so the rounds are bounded.
_CLAIM_ROUNDS: Final = 5
_TABLE = MarketDayOwner.__table__


@dataclass(frozen=True)
class DayOwner:
    """The session whose history a day holds."""

    source: str
    simulated: bool
    session: str


def _checked(owner: DayOwner) -> DayOwner:
    for what, value, limit in (("source", owner.source, MARKET_SOURCE_MAX), ("session", owner.session, MARKET_SESSION_MAX)):
        if not isinstance(value, str) or not value or len(value) > limit or "\x00" in value:
            raise ValueError(f"a history owner's {what} is text of 1 to {limit} characters without NUL, "
                             f"not {str(value)[:40]!r}")
    if not isinstance(owner.simulated, bool):
        raise TypeError(f"a history owner's simulated flag is true or false, not {owner.simulated!r}")
    return owner


def _insert(conn: Connection) -> Any:  # the dialect's INSERT, which has ON CONFLICT
    return (postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert)(_TABLE)


def _row(day: date, owner: DayOwner) -> dict[str, object]:
    return {"day": day, "source": owner.source, "simulated": owner.simulated, "session": owner.session,
            "claimed_at": utc_now()}


class HistorySources:
    """Day → the source of its stored history, in ``meta``; in memory without one."""

    def __init__(self, meta: MetaStore | None = None) -> None:
        self.meta = meta
        self._memory: dict[date, DayOwner] = {}
        self._memory_lock = threading.Lock()

    def owner(self, day: date) -> DayOwner | None:
        """Who wrote ``day``'s history; None when no session recorded it."""
        if self.meta is None:
            return self._memory.get(day)
        with self.meta.read() as conn:
            return self._read(conn, day)

    @staticmethod
    def _read(conn: Connection, day: date) -> DayOwner | None:
        row = conn.execute(
            select(_TABLE.c.source, _TABLE.c.simulated, _TABLE.c.session).where(_TABLE.c.day == day)
        ).first()
        return None if row is None else DayOwner(row.source, bool(row.simulated), row.session)

    def record(self, day: date, owner: DayOwner) -> None:
        """``owner`` now holds ``day``'s history, whoever held it before."""
        _checked(owner)
        if self.meta is None:
            with self._memory_lock:
                self._memory[day] = owner
            return
        with self.meta.write() as conn:
            stmt = _insert(conn).values(_row(day, owner))
            conn.execute(stmt.on_conflict_do_update(
                index_elements=[_TABLE.c.day],
                set_={c: stmt.excluded[c] for c in ("source", "simulated", "session", "claimed_at")},
            ))

    def claim(self, day: date, session: DayOwner, has_rows: bool) -> str:
        """What ``session`` does with ``day`` at its first write (see ``decide``), recorded atomically.

        The owner is replaced only if it is still the one the decision was made against: of
        two processes claiming a day together one wins, and the other decides again against
        the winner. A simulated session that lost writes nothing of the day (``"refuse"``):
        the day is another live session's now. An exchange feed still replaces a simulated
        winner and appends beside an exchange winner, as ``decide`` says.
        """
        _checked(session)
        for _ in range(_CLAIM_ROUNDS):
            current = self.owner(day)
            if current == session:  # its own day already: what it wrote stays
                return "append"
            action = decide(current, session, has_rows)
            if action == "refuse":
                return action
            if self._swap(day, current, session):
                return action
            if session.simulated:
                log.warning("market history of %s was claimed by another session at the same time; this %s "
                            "session does not write it", day, session.source)
                return "refuse"
            has_rows = True  # the winner may have written already
        log.warning("market history of %s: claims kept changing hands; this %s session does not write it",
                    day, session.source)
        return "refuse"

    def _swap(self, day: date, expected: DayOwner | None, owner: DayOwner) -> bool:
        """Make ``owner`` hold ``day`` if ``expected`` holds it now; whether it did."""
        if self.meta is None:
            with self._memory_lock:
                if self._memory.get(day) != expected:
                    return False
                self._memory[day] = owner
                return True
        with self.meta.write() as conn:
            if expected is None:
                conn.execute(_insert(conn).values(_row(day, owner)).on_conflict_do_nothing(
                    index_elements=[_TABLE.c.day]))
            else:
                conn.execute(update(_TABLE).where(and_(
                    _TABLE.c.day == day, _TABLE.c.source == expected.source,
                    _TABLE.c.simulated == expected.simulated, _TABLE.c.session == expected.session,
                )).values({k: v for k, v in _row(day, owner).items() if k != "day"}))
            # Read back rather than trust a row count: the outcome is whatever the table holds.
            return self._read(conn, day) == owner


def open_sources(meta: MetaStore, data_dir: Path) -> HistorySources:
    """The records store's day owners, with an older version's ``market_history.sqlite3`` copied in once.

    A file that cannot be imported does not stop the market: the log names it and says why,
    the file stays untouched, and the next start tries again.
    """
    from backend.meta.legacy_market import LegacyImportError, import_history_file

    try:
        import_history_file(meta, data_dir / LEGACY_FILE_NAME)
    except LegacyImportError as exc:
        log.warning("%s — the market starts without those days' owners (their history counts as simulated); "
                    "the next start tries again", exc)
    return HistorySources(meta)


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
