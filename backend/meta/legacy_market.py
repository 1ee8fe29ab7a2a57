"""Bring the live market's old watchlist file into the records store, once.

Before the records store kept them, watchlists and price rules lived in a SQLite
file of their own in the data directory (``market.sqlite3``, tables ``watchlists``
and ``price_rules``). At start ``import_market_file`` copies every row of that file
into the records store, keeping ids, names, symbols in their order, prices, notes
and creation times, then marks the file as imported so it is never read again:

- a file that holds nothing else is renamed ``market.sqlite3.migrated``;
- a file that other features also keep tables in stays where it is, and only the two
  imported tables are renamed (``watchlists_migrated``, ``price_rules_migrated``).

The copy is one records-store transaction that skips ids already present, so an import
interrupted after it committed (before the file was marked) is simply repeated. A file
that cannot be read (corrupt, locked by a process of an older version, rows the records
store cannot hold) raises ``LegacyImportError`` naming the file: the caller logs it and
starts anyway; neither the file nor the records store is changed.

``import_history_file`` does the same for ``market_history.sqlite3`` (table
``market_history_days``: which feed session holds each trading day's market history),
into ``market_day_owners``. A day the records store already holds keeps its owner there:
it was claimed after the file was last written.
"""

from __future__ import annotations

import fcntl
import logging
import math
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Connection, Table, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from backend.meta.models import (
    MARKET_ID_MAX,
    MARKET_SESSION_MAX,
    MARKET_SOURCE_MAX,
    PRICE_RULE_OPS,
    MarketDayOwner,
    PriceRuleRecord,
    WatchlistRecord,
    utc_now,
)
from backend.meta.store import MetaStore

log = logging.getLogger(__name__)

LEGACY_FILE_NAME: Final = "market.sqlite3"
IMPORTED_SUFFIX: Final = ".migrated"
_TABLES: Final = ("watchlists", "price_rules")
HISTORY_TABLE: Final = "market_history_days"
# How long to wait for a process of an older version that is writing the file.
_LOCK_TIMEOUT_SECONDS: Final = 2.0
# How long a starting worker waits for another one that is importing the file.
_IMPORT_WAIT_SECONDS: Final = 60.0


class LegacyImportError(RuntimeError):
    """The old market file could not be imported; the message names the file and the reason."""


@dataclass(frozen=True)
class ImportReport:
    path: Path
    watchlists: int  # rows in the file
    rules: int
    added: int  # rows the records store did not hold yet
    moved_to: Path | None  # where the file went (None: it stays, with its imported tables renamed)


def _tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows if not name.startswith("sqlite_")}


def is_legacy_market_file(path: Path) -> bool:
    """Whether ``path`` is an old-format market file (and not a records store)."""
    if not path.is_file():
        return False
    try:
        with closing(sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, timeout=_LOCK_TIMEOUT_SECONDS)) as conn:
            tables = _tables(conn)
    except sqlite3.Error:
        return False
    return "alembic_version" not in tables and bool(tables & set(_TABLES))


@contextmanager
def _import_lock(path: Path, what: str = "watchlists and price rules") -> Iterator[None]:
    # Web workers start together; one imports while the others wait, then find nothing to do.
    with open(path.with_name(path.name + ".import-lock"), "a+b") as handle:
        deadline = time.monotonic() + _IMPORT_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LegacyImportError(f"cannot import {what} from {path}: another "
                                            f"process has been importing it for {_IMPORT_WAIT_SECONDS:.0f} s") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _created_at(value: Any) -> datetime:
    """The file's ``CURRENT_TIMESTAMP`` text (UTC) as an aware datetime; now when unreadable."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return utc_now()
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return utc_now()


def _text(value: Any, what: str, limit: int, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not allow_empty):
        raise ValueError(f"{what} is not text")
    if len(value) > limit:
        raise ValueError(f"{what} is longer than {limit} characters")
    if "\x00" in value:
        raise ValueError(f"{what} holds a NUL character")
    return value


def _watchlist_rows(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    # The market's own rules: a list the app could not have saved would break its screens.
    from backend.market.watchlists import WATCHLIST_ID, UserDataError, clean_symbols, clean_watchlist_name

    out = []
    for row_id, name, symbols, created in conn.execute(
        "SELECT id, name, symbols, created_at FROM watchlists ORDER BY rowid"
    ):
        try:
            if not isinstance(row_id, str) or not WATCHLIST_ID.match(row_id):
                raise ValueError("the id is not one the app gives a list")
            clean_watchlist_name(name)
            listed = _text(symbols, "symbols", 1_000_000).split(",")
            if clean_symbols(listed) != tuple(listed):
                raise ValueError("the symbols are not upper-case, valid and listed once each")
            when = _created_at(created)
            out.append({"id": row_id, "name": name, "symbols": listed, "created_at": when, "updated_at": when})
        except (ValueError, UserDataError) as exc:
            raise ValueError(f"watchlist {str(row_id)[:40]!r}: {exc}") from None
    return out


def _rule_rows(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    from backend.market.watchlists import NOTE_MAX, RULE_SYMBOL

    out = []
    for row_id, symbol, op, price, note, created in conn.execute(
        "SELECT id, symbol, op, price, note, created_at FROM price_rules ORDER BY rowid"
    ):
        try:
            key = _text(row_id, "the id", MARKET_ID_MAX)
            if not key.isprintable():
                raise ValueError("the id holds control characters")
            if not isinstance(symbol, str) or not RULE_SYMBOL.match(symbol):
                raise ValueError(f"{str(symbol)[:24]!r} is not a symbol the alert engine can watch")
            if op not in PRICE_RULE_OPS:
                raise ValueError(f"op {str(op)[:20]!r} is neither above nor below")
            if isinstance(price, bool) or not isinstance(price, int | float) or not (
                math.isfinite(price) and 0 < price < 1e12
            ):
                raise ValueError(f"price {str(price)[:20]!r} is not a positive number")
            out.append({"id": key, "symbol": symbol, "op": op, "price": float(price),
                        "note": _text(note, "the note", NOTE_MAX, allow_empty=True), "created_at": _created_at(created)})
        except ValueError as exc:
            raise ValueError(f"price rule {str(row_id)[:40]!r}: {exc}") from None
    return out


def _insert_missing(conn: Connection, table: Table, key: str, rows: list[dict[str, Any]]) -> int:
    """Insert the rows whose ``key`` the records store does not hold; how many were added."""
    if not rows:
        return 0
    dialect_insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
    before = set(conn.execute(select(table.c[key])).scalars())
    conn.execute(dialect_insert(table).on_conflict_do_nothing(index_elements=[table.c[key]]), rows)
    held = set(conn.execute(select(table.c[key])).scalars())
    missing = {r[key] for r in rows} - held
    if missing:  # never expected; refuse to mark the file as imported if it happens
        raise ValueError(f"{len(missing)} rows of {table.name} did not arrive in the records store")
    return len(held - before)


def _copy(conn: Connection, watchlists: list[dict[str, Any]], rules: list[dict[str, Any]]) -> int:
    """Insert the rows whose id the records store does not hold; how many were added."""
    return (_insert_missing(conn, WatchlistRecord.__table__, "id", watchlists)
            + _insert_missing(conn, PriceRuleRecord.__table__, "id", rules))


def _mark_imported(conn: sqlite3.Connection, path: Path, others: set[str],
                   imported: tuple[str, ...] = _TABLES) -> Path | None:
    """Make sure the file is never imported again (see the module's docstring)."""
    if others:
        present = _tables(conn)
        for table in imported:
            if table in present:
                target, n = f"{table}_migrated", 2
                while target in present:
                    target, n = f"{table}_migrated_{n}", n + 1
                conn.execute(f'ALTER TABLE "{table}" RENAME TO "{target}"')  # names from this module only
        conn.execute("COMMIT")
        return None
    conn.execute("ROLLBACK")  # nothing in the file changed
    conn.close()
    target, n = path.with_name(path.name + IMPORTED_SUFFIX), 2
    while target.exists():
        target, n = path.with_name(f"{path.name}{IMPORTED_SUFFIX}-{n}"), n + 1
    path.rename(target)
    return target


def import_market_file(store: MetaStore, path: Path) -> ImportReport | None:
    """Copy the watchlists and price rules of the old file at ``path`` into ``store``, once.

    None when there is nothing to import (no file, a file already imported, a records
    store rather than an old file). Raises ``LegacyImportError`` when the file cannot be
    imported; nothing is changed then.
    """
    if not path.is_file():
        return None
    with _import_lock(path):
        if not path.is_file():  # another process imported it while we waited
            return None
        with _named_errors(path, "watchlists and price rules"):
            return _import_locked(store, path)


@contextmanager
def _named_errors(path: Path, what: str) -> Iterator[None]:
    """Any failure of an import as a ``LegacyImportError`` naming the file and the reason."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        reason = str(exc)
        if "locked" in reason or "another process" in reason:
            reason += " (stop every process of an older Deskboard version using it, then restart)"
        raise LegacyImportError(f"cannot import {what} from {path}: {reason}") from None
    except (ValueError, OSError) as exc:
        raise LegacyImportError(f"cannot import {what} from {path}: {exc}") from None
    except SQLAlchemyError as exc:
        reason = getattr(exc, "orig", None) or exc
        raise LegacyImportError(f"cannot import {what} from {path} into the records store: {reason}") from None


def _open_old_file(path: Path, imported: tuple[str, ...]) -> tuple[sqlite3.Connection, set[str] | None]:
    """The old file, checked and write-locked, with its tables; None for tables when there is nothing to import."""
    conn = sqlite3.connect(path.resolve().as_uri() + "?mode=rw", uri=True, timeout=_LOCK_TIMEOUT_SECONDS, isolation_level=None)
    try:
        check = conn.execute("PRAGMA quick_check").fetchall()
        if check != [("ok",)]:
            raise sqlite3.DatabaseError("the file is damaged: " + "; ".join(str(r[0]) for r in check[:3]))
        tables = _tables(conn)
        if "alembic_version" in tables or not tables & set(imported):
            return conn, None
        if not tables - set(imported):
            # The whole file will be renamed: fold its write-ahead log into it first, which also
            # fails at once (before anything is copied) when another process has the file open.
            mode = conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
            if str(mode).lower() != "delete":
                raise sqlite3.OperationalError("the file is open in another process")
        # Hold the file's write lock from the read to the mark: no write of an older process
        # can slip in between and be left behind.
        conn.execute("BEGIN IMMEDIATE")
    except BaseException:
        conn.close()
        raise
    return conn, tables


def _import_locked(store: MetaStore, path: Path) -> ImportReport | None:
    conn, tables = _open_old_file(path, _TABLES)
    try:
        if tables is None:
            return None
        watchlists = _watchlist_rows(conn) if "watchlists" in tables else []
        rules = _rule_rows(conn) if "price_rules" in tables else []
        with store.write() as target:
            added = _copy(target, watchlists, rules)
        moved_to = _mark_imported(conn, path, tables - set(_TABLES))
    except BaseException:
        with suppress(sqlite3.Error):
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()
    report = ImportReport(path, len(watchlists), len(rules), added, moved_to)
    log.info("imported %d watchlists and %d price rules from %s into the records store (%d new)%s",
             report.watchlists, report.rules, path, added, f"; the file is now {moved_to}" if moved_to else "")
    return report



# -- market_history.sqlite3: which feed session holds each trading day's history ---------------
@dataclass(frozen=True)
class HistoryImportReport:
    path: Path
    days: int  # rows in the file
    added: int  # days the records store did not hold yet
    moved_to: Path | None  # where the file went (None: it stays, with its imported table renamed)


def _iso_day(value: Any) -> date:
    try:
        parsed = date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.isoformat() != value:  # fromisoformat also takes 20240304
        raise ValueError("the day is not a date written YYYY-MM-DD")
    return parsed


def _owner_rows(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    out = []
    for day, source, simulated, session, claimed in conn.execute(
        f"SELECT day, source, simulated, session, claimed_at FROM {HISTORY_TABLE} ORDER BY rowid"
    ):
        try:
            parsed = _iso_day(day)
            if isinstance(simulated, bool) or simulated not in (0, 1):
                raise ValueError(f"simulated {str(simulated)[:20]!r} is neither 0 nor 1")
            out.append({"day": parsed, "source": _text(source, "the source", MARKET_SOURCE_MAX),
                        "simulated": bool(simulated), "session": _text(session, "the session", MARKET_SESSION_MAX),
                        "claimed_at": _created_at(claimed)})
        except ValueError as exc:
            raise ValueError(f"day {str(day)[:40]!r}: {exc}") from None
    return out


def import_history_file(store: MetaStore, path: Path) -> HistoryImportReport | None:
    """Copy the day owners of the old file at ``path`` into ``store``, once.

    None when there is nothing to import. Raises ``LegacyImportError`` naming the file
    when it cannot be imported; nothing is changed then.
    """
    what = "market history owners"
    if not path.is_file():
        return None
    with _import_lock(path, what):
        if not path.is_file():  # another process imported it while we waited
            return None
        with _named_errors(path, what):
            return _import_history_locked(store, path)


def _import_history_locked(store: MetaStore, path: Path) -> HistoryImportReport | None:
    conn, tables = _open_old_file(path, (HISTORY_TABLE,))
    try:
        if tables is None:
            return None
        rows = _owner_rows(conn)
        with store.write() as target:
            added = _insert_missing(target, MarketDayOwner.__table__, "day", rows)
        moved_to = _mark_imported(conn, path, tables - {HISTORY_TABLE}, (HISTORY_TABLE,))
    except BaseException:
        with suppress(sqlite3.Error):
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()
    log.info("imported the owners of %d market history days from %s into the records store (%d new)%s",
             len(rows), path, added, f"; the file is now {moved_to}" if moved_to else "")
    return HistoryImportReport(path, len(rows), added, moved_to)
