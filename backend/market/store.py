"""Live market history: rows buffered in memory, written in one batch per table per second.

The feed produces hundreds of messages a second; ClickHouse wants few, large
inserts. ``MarketStore`` keeps one buffer per table and a writer thread flushes
them once a second (one insert per non-empty table). A failed flush keeps its
rows for the next attempt, up to a cap, so a warehouse hiccup loses nothing and
an outage cannot exhaust memory.

Rows expire after ``retention_days`` (30 by default) through the tables' TTL.
An embedded warehouse runs no background merges, so ``purge_expired`` applies
the TTL explicitly; the service calls it once a day.

A day holds the history of one feed: a session (``begin_session``) claims each day
before its first write of it, and a simulated session replaces the day's simulated
history instead of writing a second one beside it (see ``history_sources``).
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final

from backend.market.history_sources import DayOwner, HistorySources
from backend.warehouse import Warehouse

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HistoryTable:
    table: str
    columns: tuple[str, ...]


# The only tables and columns the store writes or reads; kinds are the public names.
TABLES: Final[dict[str, HistoryTable]] = {
    "trades": HistoryTable(
        "market_trades", ("ts", "day", "symbol", "price", "volume", "side", "total_volume", "total_value")
    ),
    "foreign": HistoryTable(
        "market_foreign",
        ("ts", "day", "symbol", "buy_vol", "sell_vol", "buy_val", "sell_val", "total_room", "current_room"),
    ),
    "index": HistoryTable(
        "market_index",
        (
            "ts", "day", "symbol", "value", "prior_value", "advances", "declines", "unchanged",
            "ceilings", "floors", "total_volume", "total_value",
        ),
    ),
    "basis": HistoryTable(
        "market_basis", ("ts", "day", "symbol", "index_symbol", "futures_price", "index_value", "basis")
    ),
    "alerts": HistoryTable(
        "market_alerts",
        (
            "id", "ts", "day", "symbol", "kind", "severity", "message", "value", "threshold", "rule_id",
            "acked_at", "acked_by", "revision",
        ),
    ),
}
KINDS: Final[tuple[str, ...]] = tuple(TABLES)
DEFAULT_RETENTION_DAYS: Final[int] = 30
MAX_HISTORY_ROWS: Final[int] = 50_000
MAX_RECENT_ROWS: Final[int] = 5_000
# Rows kept per table while the warehouse refuses writes; beyond it the oldest go.
DEFAULT_BUFFER_CAP: Final[int] = 500_000


class StoreError(ValueError):
    """A history request or row the store refuses, described for the caller."""


def _epoch_to_datetime(ts: float | datetime) -> datetime:
    if isinstance(ts, datetime):
        return ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    return datetime.fromtimestamp(float(ts), UTC)


class MarketStore:
    """Buffered writer and history reader over the ``market_*`` warehouse tables."""

    def __init__(
        self,
        warehouse: Warehouse,
        *,
        retention_days: int = DEFAULT_RETENTION_DAYS,
        flush_seconds: float = 1.0,
        buffer_cap: int = DEFAULT_BUFFER_CAP,
        sources: HistorySources | None = None,
    ) -> None:
        if not 1 <= retention_days <= 3650:
            raise ValueError(f"retention_days must be between 1 and 3650, got {retention_days!r}")
        if not 0.05 <= flush_seconds <= 60:
            raise ValueError(f"flush_seconds must be between 0.05 and 60, got {flush_seconds!r}")
        self.warehouse = warehouse
        self.retention_days = retention_days
        self.flush_seconds = flush_seconds
        self.buffer_cap = buffer_cap
        self.dropped_rows = 0
        self.flushes = 0
        self.last_error: str | None = None
        self._buffers: dict[str, list[tuple[Any, ...]]] = {kind: [] for kind in TABLES}
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sources = sources or HistorySources()
        self._session: DayOwner | None = None
        self._claimed: dict[date, bool] = {}  # days this session has claimed → whether it writes them
        self._unsessioned: set[date] = set()  # days written before the first session began
        self.refused_rows = 0  # rows of a day another (exchange) feed's history holds
        if retention_days != DEFAULT_RETENTION_DAYS:
            self._set_retention(retention_days)

    def _set_retention(self, days: int) -> None:
        # ``days`` is a validated int, so formatting it into the DDL is safe.
        for spec in TABLES.values():
            self.warehouse.command(
                f"ALTER TABLE {{db}}.{spec.table} MODIFY TTL toDateTime(ts) + INTERVAL {int(days)} DAY"
            )

    # -- buffering ---------------------------------------------------------------
    def add(self, kind: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """Queue rows of one kind for the next flush; return how many were queued."""
        spec = TABLES.get(kind)
        if spec is None:
            raise StoreError(f"unknown history kind {kind!r}")
        prepared = [self._prepare(spec, row) for row in rows]
        with self._lock:
            buffer = self._buffers[kind]
            buffer.extend(prepared)
            overflow = len(buffer) - self.buffer_cap
            if overflow > 0:
                del buffer[:overflow]
                self.dropped_rows += overflow
        return len(prepared)

    @staticmethod
    def _prepare(spec: HistoryTable, row: Mapping[str, Any]) -> tuple[Any, ...]:
        missing = [c for c in ("ts", "symbol") if row.get(c) is None]
        if missing:
            raise StoreError(f"{spec.table} row without {', '.join(missing)}")
        values = dict(row)
        values["ts"] = _epoch_to_datetime(values["ts"])
        day = values.get("day")
        if isinstance(day, int):
            values["day"] = date.fromordinal(day)
        elif day is None:
            values["day"] = values["ts"].date()
        if values.get("acked_at") is not None:
            values["acked_at"] = _epoch_to_datetime(values["acked_at"])
        unknown = set(values) - set(spec.columns)
        if unknown:
            raise StoreError(f"unknown columns for {spec.table}: {', '.join(sorted(unknown))}")
        defaults = {"rule_id": "", "acked_by": "", "revision": 0, "side": 0}
        return tuple(values.get(c, defaults.get(c)) for c in spec.columns)

    # -- sessions ----------------------------------------------------------------
    def begin_session(self, source: str, *, simulated: bool) -> None:
        """A feed session starts: each day it writes is claimed before its first write (see module doc)."""
        with self._flush_lock:
            first = self._session is None
            session = self._session = DayOwner(source=str(source)[:40], simulated=simulated,
                                               session=secrets.token_hex(8))
            self._claimed = {}
            if first:
                # Rows this store wrote before its first session (alerts recorded while the feed
                # was still opening) belong to that session: claiming their day must not delete them.
                for day in sorted(self._unsessioned):
                    owner = self.sources.owner(day)
                    self._claimed[day] = not (simulated and owner is not None and not owner.simulated)
                    if self._claimed[day]:
                        self.sources.record(day, session)
            self._unsessioned.clear()

    def _claim(self, day: date) -> bool:
        """Whether this session writes ``day``; replaces the day's rows first when it should."""
        claimed = self._claimed.get(day)
        if claimed is not None:
            return claimed
        session = self._session
        assert session is not None
        # The claim is recorded before the day's rows are replaced: of two processes claiming
        # the day together only one is told to write it.
        action = self.sources.claim(day, session, self._has_rows(day))
        if action == "replace":
            for spec in TABLES.values():
                self.warehouse.command(f"DELETE FROM {{db}}.{spec.table} WHERE day = {{day:Date}}", {"day": day})
            log.info("market history of %s replaced by this %s session", day, session.source)
        elif action == "refuse":
            log.warning("market history of %s comes from an exchange feed; this %s session does not write it",
                        day, session.source)
        self._claimed[day] = action != "refuse"
        return self._claimed[day]

    def _has_rows(self, day: date) -> bool:
        return any(
            self.warehouse.query_rows(f"SELECT 1 FROM {{db}}.{spec.table} WHERE day = {{day:Date}} LIMIT 1",
                                      {"day": day})
            for spec in TABLES.values()
        )

    def _claimed_rows(self, batches: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
        """The batches without rows of days this session may not write (their count is kept)."""
        if self._session is None:
            for kind, rows in batches.items():
                at = TABLES[kind].columns.index("day")
                self._unsessioned.update(row[at] for row in rows)
            return batches
        out = {}
        for kind, rows in batches.items():
            at = TABLES[kind].columns.index("day")
            kept = [row for row in rows if self._claim(row[at])]
            self.refused_rows += len(rows) - len(kept)
            if kept:
                out[kind] = kept
        return out

    def pending(self) -> dict[str, int]:
        with self._lock:
            return {kind: len(rows) for kind, rows in self._buffers.items()}

    def flush(self) -> dict[str, int]:
        """Write every buffered row, one insert per table; return rows written per kind."""
        with self._flush_lock:
            with self._lock:
                batches = {k: rows for k, rows in self._buffers.items() if rows}
                for kind in batches:
                    self._buffers[kind] = []
            try:
                batches = self._claimed_rows(batches)
            except Exception as exc:  # noqa: BLE001 - a day not yet claimed is written next second
                self.last_error = f"claiming a day: {type(exc).__name__}"
                log.warning("market history: %s; keeping the rows", self.last_error)
                with self._lock:
                    for kind, rows in batches.items():
                        self._buffers[kind] = rows + self._buffers[kind]
                return {}
            written: dict[str, int] = {}
            for kind, rows in batches.items():
                spec = TABLES[kind]
                try:
                    self.warehouse.insert_rows(spec.table, rows, spec.columns)
                except Exception as exc:  # noqa: BLE001 - keep the rows and retry next second
                    self.last_error = f"{spec.table}: {type(exc).__name__}"
                    log.warning("market history write failed (%s); keeping %d rows", self.last_error, len(rows))
                    with self._lock:
                        self._buffers[kind] = rows + self._buffers[kind]
                    continue
                written[kind] = len(rows)
            if written:
                self.flushes += 1
            return written

    # -- writer thread -----------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="market-store-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the writer and write whatever is still buffered."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            self.flush()

    # -- retention ---------------------------------------------------------------
    def purge_expired(self) -> None:
        """Apply the retention TTL now (an embedded warehouse never merges on its own)."""
        with self._flush_lock:
            for spec in TABLES.values():
                self.warehouse.command(f"OPTIMIZE TABLE {{db}}.{spec.table} FINAL")

    # -- reading -----------------------------------------------------------------
    def history(
        self,
        kind: str,
        day: date,
        symbol: str | None = None,
        *,
        limit: int = 10_000,
        columns: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Rows of one kind for one VN trading day (and one symbol), oldest first."""
        spec = TABLES.get(kind)
        if spec is None:
            raise StoreError(f"unknown history kind {kind!r}; choose one of {', '.join(KINDS)}")
        if not isinstance(day, date):
            raise StoreError("day must be a date")
        if not 1 <= limit <= MAX_HISTORY_ROWS:
            raise StoreError(f"limit must be between 1 and {MAX_HISTORY_ROWS:,}")
        wanted = tuple(columns) if columns else spec.columns
        bad = [c for c in wanted if c not in spec.columns]
        if bad:
            raise StoreError(f"unknown column for {kind}: {bad[0]!r}")
        select = ", ".join(f"`{c}`" for c in wanted)
        final = " FINAL" if kind == "alerts" else ""
        where = "day = {day:Date}" + (" AND symbol = {symbol:String}" if symbol else "")
        params: dict[str, Any] = {"day": day, "limit": limit}
        if symbol:
            params["symbol"] = symbol
        rows = self.warehouse.query_rows(
            f"SELECT {select} FROM {{db}}.{spec.table}{final} WHERE {where} ORDER BY ts LIMIT {{limit:UInt32}}",
            params,
        )
        return [dict(zip(wanted, row, strict=True)) for row in rows]

    def recent(self, kind: str, day: date, symbol: str, n: int = 20) -> list[dict[str, Any]]:
        """The latest ``n`` rows of one kind for ``symbol`` on ``day``, newest first.

        Trades stamped in the same millisecond are told apart by the day's running volume,
        which grows with every trade.
        """
        spec = self._spec(kind, day)
        if not isinstance(symbol, str) or not symbol:
            raise StoreError("symbol must be a non-empty text")
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_RECENT_ROWS:
            raise StoreError(f"n must be between 1 and {MAX_RECENT_ROWS:,}")
        select = ", ".join(f"`{c}`" for c in spec.columns)
        final = " FINAL" if kind == "alerts" else ""
        order = "ts DESC, total_volume DESC" if kind == "trades" else "ts DESC"
        rows = self.warehouse.query_rows(
            f"SELECT {select} FROM {{db}}.{spec.table}{final} WHERE day = {{day:Date}} AND symbol = {{symbol:String}} "
            f"ORDER BY {order} LIMIT {{n:UInt32}}",
            {"day": day, "symbol": symbol, "n": n},
        )
        return [dict(zip(spec.columns, row, strict=True)) for row in rows]

    def minute_bars(self, day: date, symbol: str) -> list[tuple[float, float, float, float, float, int, int]]:
        """The day's trades of ``symbol`` as one-minute bars, oldest first, aggregated in the warehouse:
        (minute start in epoch seconds, open, high, low, close, volume, trades).

        Open and close are the first and last trade of the minute by time, ties broken by the
        day's running volume.
        """
        spec = self._spec("trades", day)
        if not isinstance(symbol, str) or not symbol:
            raise StoreError("symbol must be a non-empty text")
        rows = self.warehouse.query_rows(
            "SELECT toUnixTimestamp(toStartOfMinute(ts)) AS m, argMin(price, (ts, total_volume)), max(price), "
            "min(price), argMax(price, (ts, total_volume)), sum(volume), count() "
            f"FROM {{db}}.{spec.table} WHERE day = {{day:Date}} AND symbol = {{symbol:String}} GROUP BY m ORDER BY m",
            {"day": day, "symbol": symbol},
        )
        return [(float(m), float(o), float(h), float(lo), float(c), int(v), int(k)) for m, o, h, lo, c, v, k in rows]

    @staticmethod
    def _spec(kind: str, day: date) -> HistoryTable:
        spec = TABLES.get(kind)
        if spec is None:
            raise StoreError(f"unknown history kind {kind!r}; choose one of {', '.join(KINDS)}")
        if not isinstance(day, date):
            raise StoreError("day must be a date")
        return spec

    def days(self, kind: str = "trades") -> list[date]:
        """Trading days that have history of ``kind``, newest first."""
        spec = TABLES.get(kind)
        if spec is None:
            raise StoreError(f"unknown history kind {kind!r}")
        rows = self.warehouse.query_rows(f"SELECT DISTINCT day FROM {{db}}.{spec.table} ORDER BY day DESC LIMIT 366")
        return [r[0] for r in rows]

    # -- alerts ------------------------------------------------------------------
    def acknowledge(self, alert_id: str, day: date, *, by: str, at: float) -> bool:
        """Record an acknowledgement as a new revision; False when the alert is unknown."""
        return self.acknowledge_many([alert_id], day, by=by, at=at) == 1

    def acknowledge_many(self, alert_ids: Sequence[str], day: date, *, by: str, at: float) -> int:
        """Acknowledge alerts of one day in one read and one insert; returns how many were found."""
        if not alert_ids:
            return 0
        self.flush()  # the alerts may still be in the buffer
        rows = self.warehouse.query_rows(
            "SELECT id, ts, day, symbol, kind, severity, message, value, threshold, rule_id, revision "
            "FROM {db}.market_alerts FINAL WHERE day = {day:Date} AND id IN {ids:Array(String)}",
            {"day": day, "ids": list(alert_ids)},
        )
        if rows:
            acked_at = _epoch_to_datetime(at)
            self.warehouse.insert_rows(
                "market_alerts",
                [(*row[:10], acked_at, by, int(row[10]) + 1) for row in rows],
                TABLES["alerts"].columns,
            )
        return len(rows)
