"""Each day's market history comes from one feed: a simulated session replaces its own day, an
exchange feed's day is never written over by a simulator, and the record survives a restart.

The record lives in the records store, shared by every host, on SQLite and on PostgreSQL; an
older version's ``market_history.sqlite3`` (built here with that version's exact SQL) is
imported once at start.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from backend.market.history_sources import DayOwner, HistorySources, decide, open_sources
from backend.market.store import MarketStore
from backend.meta import MetaStore, close_meta, open_meta
from backend.meta.models import MarketDayOwner
from backend.meta.store import create_meta_engine
from backend.warehouse import Warehouse

SIM = DayOwner("simulator", True, "s1")
SIM2 = DayOwner("simulator", True, "s2")
SSI = DayOwner("ssi", False, "x1")
SSI2 = DayOwner("ssi", False, "x2")


@pytest.mark.parametrize(("owner", "session", "has_rows", "action"), [
    (None, SIM, False, "append"), (None, SIM, True, "replace"),  # unrecorded history counts as simulated
    (SIM, SIM2, True, "replace"), (SSI, SIM, True, "refuse"), (SSI, SIM, False, "append"),
    (None, SSI, True, "replace"), (SIM, SSI, True, "replace"), (SSI, SSI2, True, "append"),
])
def test_what_a_session_does_with_a_day(owner: DayOwner | None, session: DayOwner, has_rows: bool,
                                        action: str) -> None:
    assert decide(owner, session, has_rows) == action


@pytest.fixture
def meta_sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / 'records' / 'meta.sqlite3'


@pytest.fixture
def meta_db_prefix() -> str:
    return "hs"


@pytest.fixture
def meta(meta_url: str) -> MetaStore:
    return open_meta(meta_url)


def other_host(meta_url: str) -> MetaStore:
    """The same records database through an engine of its own, as another host opens it."""
    return MetaStore(create_meta_engine(meta_url))


HOSTILE = "ssi'); DROP TABLE market_day_owners; -- ngày 📈 \"%_"


def test_the_record_survives_a_restart_and_takes_hostile_names_as_text(meta_url: str, meta: MetaStore) -> None:
    day = date(2024, 3, 4)
    HistorySources(meta).record(day, DayOwner(HOSTILE, False, "x"))
    close_meta(meta_url)  # the process ends
    again = HistorySources(open_meta(meta_url))
    assert again.owner(day) == DayOwner(HOSTILE, False, "x")
    assert again.owner(day + timedelta(days=1)) is None
    again.record(day, SIM)
    assert HistorySources(open_meta(meta_url)).owner(day) == SIM
    with open_meta(meta_url).read() as conn:
        rows = conn.execute(select(MarketDayOwner.day, MarketDayOwner.claimed_at)).all()
    assert [r.day for r in rows] == [day] and rows[0].claimed_at is not None


def test_every_host_sees_the_same_owner(meta_url: str, meta: MetaStore) -> None:
    day = date(2026, 12, 2)
    here, there = HistorySources(meta), HistorySources(other_host(meta_url))
    here.record(day, SSI)
    assert there.owner(day) == SSI
    there.record(day, SIM)
    assert here.owner(day) == SIM
    there.meta.dispose()


@pytest.mark.parametrize("day", [date(1, 1, 1), date(9999, 12, 31), date(2024, 2, 29)])
def test_odd_days_and_the_longest_names_are_kept_exactly(meta: MetaStore, day: date) -> None:
    owner = DayOwner("s" * 64, True, "é" * 64)
    HistorySources(meta).record(day, owner)
    assert HistorySources(meta).owner(day) == owner


@pytest.mark.parametrize(("owner", "error"), [
    (DayOwner("s" * 65, True, "x"), ValueError), (DayOwner("ssi", False, "x" * 65), ValueError),
    (DayOwner("a\x00b", True, "x"), ValueError), (DayOwner("", True, "x"), ValueError),
    (DayOwner("ssi", False, ""), ValueError), (DayOwner(None, True, "x"), ValueError),  # type: ignore[arg-type]
    (DayOwner("ssi", 1, "x"), TypeError), (DayOwner("ssi", "false", "x"), TypeError),  # type: ignore[arg-type]
])
def test_an_owner_the_store_cannot_hold_is_refused_and_nothing_changes(
    meta: MetaStore, owner: DayOwner, error: type[Exception]
) -> None:
    day = date(2024, 3, 4)
    for sources in (HistorySources(meta), HistorySources()):
        sources.record(day, SIM)
        with pytest.raises(error):
            sources.record(day, owner)
        with pytest.raises(error):
            sources.claim(day + timedelta(days=1), owner, has_rows=False)
        assert sources.owner(day) == SIM and sources.owner(day + timedelta(days=1)) is None


@pytest.mark.parametrize("in_memory", [False, True])
def test_a_claim_records_what_decide_says(meta: MetaStore, in_memory: bool) -> None:
    sources = HistorySources(None if in_memory else meta)
    day = date(2024, 3, 4)
    assert sources.claim(day, SIM, has_rows=False) == "append" and sources.owner(day) == SIM
    assert sources.claim(day, SIM, has_rows=True) == "append"  # its own day, claimed again
    assert sources.claim(day, SIM2, has_rows=True) == "replace" and sources.owner(day) == SIM2
    assert sources.claim(day, SSI, has_rows=True) == "replace" and sources.owner(day) == SSI
    assert sources.claim(day, SIM, has_rows=True) == "refuse" and sources.owner(day) == SSI
    assert sources.claim(day, SSI2, has_rows=True) == "append" and sources.owner(day) == SSI2


def _race(meta_url: str, sessions: list[DayOwner], days: list[date], has_rows: bool) -> list[dict[date, str]]:
    """Each session claims every day from a host of its own, all starting together."""
    stores = [other_host(meta_url) for _ in sessions]
    barrier = threading.Barrier(len(sessions))
    results: list[dict[date, str]] = [{} for _ in sessions]
    errors: list[BaseException] = []

    def run(i: int) -> None:
        sources = HistorySources(stores[i])
        try:
            for day in days:
                barrier.wait(timeout=60)
                results[i][day] = sources.claim(day, sessions[i], has_rows=has_rows)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(sessions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for store in stores:
        store.dispose()
    assert errors == []
    return results


def test_claims_racing_from_many_hosts_leave_one_owner_per_day(meta_url: str, meta: MetaStore) -> None:
    sessions = [DayOwner("simulator", True, f"s{i}") for i in range(3)]
    days = [date(2025, 1, 1) + timedelta(days=i) for i in range(15)]
    results = _race(meta_url, sessions, days, has_rows=False)
    sources = HistorySources(meta)
    with meta.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM market_day_owners")).scalar() == len(days)
    for day in days:
        owner = sources.owner(day)
        assert owner in sessions and results[sessions.index(owner)][day] != "refuse"


def test_an_exchange_feed_racing_a_simulator_always_ends_owning_the_day(meta_url: str, meta: MetaStore) -> None:
    days = [date(2025, 2, 1) + timedelta(days=i) for i in range(15)]
    results = _race(meta_url, [SIM, SSI], days, has_rows=True)  # the day holds rows already
    sources = HistorySources(meta)
    for day in days:
        assert sources.owner(day) == SSI and results[1][day] == "replace"


class _Interrupted(HistorySources):
    """Another host claims the day between this one's read of the owner and its write."""

    def __init__(self, meta: MetaStore, other: HistorySources, other_session: DayOwner) -> None:
        super().__init__(meta)
        self.other, self.other_session, self.reads = other, other_session, 0

    def owner(self, day: date) -> DayOwner | None:
        seen = super().owner(day)
        self.reads += 1
        if self.reads == 1:
            assert self.other.claim(day, self.other_session, has_rows=True) != "refuse"
        return seen


@pytest.mark.parametrize(("before", "mine", "theirs", "action", "final"), [
    (None, SIM, SIM2, "refuse", SIM2),  # a simulator that lost writes nothing of the day
    (SIM, SIM2, DayOwner("simulator", True, "s3"), "refuse", DayOwner("simulator", True, "s3")),
    (None, SSI, SIM, "replace", SSI),  # an exchange feed still replaces the simulator that won
    (None, SSI, SSI2, "append", SSI),  # and appends beside another exchange session, recorded as the latest
    (None, SIM, SSI, "refuse", SSI),
])
def test_a_claim_lost_to_another_host_is_decided_again_against_the_winner(
    meta_url: str, meta: MetaStore, before: DayOwner | None, mine: DayOwner, theirs: DayOwner, action: str,
    final: DayOwner,
) -> None:
    day = date(2025, 3, 3)
    if before is not None:
        HistorySources(meta).record(day, before)
    there = other_host(meta_url)
    sources = _Interrupted(meta, HistorySources(there), theirs)
    assert sources.claim(day, mine, has_rows=True) == action
    assert HistorySources(meta).owner(day) == final
    there.dispose()


def _trade(day: date, price: float, i: int) -> dict:
    ts = datetime(day.year, day.month, day.day, 3, 0, tzinfo=UTC).timestamp() + i
    return {"ts": ts, "day": day.toordinal(), "symbol": "FPT", "price": price, "volume": 100, "side": 1,
            "total_volume": 100 * (i + 1), "total_value": price * 100 * (i + 1)}


def _prices(store: MarketStore, day: date) -> list[float]:
    return [r["price"] for r in store.history("trades", day, "FPT")]


def _run(warehouse: Warehouse, sources: HistorySources, source: str, simulated: bool,
         rows: list[dict]) -> MarketStore:
    store = MarketStore(warehouse, sources=sources)
    store.begin_session(source, simulated=simulated)
    store.add("trades", rows)
    store.flush()
    return store


def test_sessions_over_two_days(fresh_warehouse: Warehouse, meta: MetaStore) -> None:
    sources = HistorySources(meta)
    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    _run(fresh_warehouse, sources, "simulator", True, [_trade(yesterday, 1, 0), _trade(today, 2, 0)])
    # The simulator restarts: both of its days are replaced, each by the new run's path.
    store = _run(fresh_warehouse, sources, "simulator", True, [_trade(today, 3, 0), _trade(today, 4, 1)])
    assert _prices(store, today) == [3, 4] and _prices(store, yesterday) == [1]  # a day it did not write stays
    # The exchange feed connects: it replaces the simulated day, then a reconnect appends to its own.
    store = _run(fresh_warehouse, sources, "ssi", False, [_trade(today, 5, 0)])
    store = _run(fresh_warehouse, sources, "ssi", False, [_trade(today, 6, 1)])
    assert _prices(store, today) == [5, 6]
    # A simulator started afterwards writes nothing of that day and says how much it held back.
    store = _run(fresh_warehouse, sources, "simulator", True, [_trade(today, 7, 0), _trade(today, 8, 1)])
    assert _prices(store, today) == [5, 6] and store.refused_rows == 2
    assert sources.owner(today).source == "ssi"


def test_a_session_s_later_flushes_of_its_day_append(fresh_warehouse: Warehouse) -> None:
    store = MarketStore(fresh_warehouse)
    today = datetime.now(UTC).date()
    store.begin_session("simulator", simulated=True)
    for i in range(3):
        store.add("trades", [_trade(today, 10 + i, i)])
        store.flush()
    assert _prices(store, today) == [10, 11, 12]


def test_rows_wait_while_the_records_store_is_unreachable(fresh_warehouse: Warehouse, meta: MetaStore) -> None:
    down = MetaStore(create_meta_engine("postgresql+psycopg://deskboard@127.0.0.1:9/none"))  # nothing listens
    sources = HistorySources(down)
    store = MarketStore(fresh_warehouse, sources=sources)
    store.begin_session("ssi", simulated=False)
    today = datetime.now(UTC).date()
    store.add("trades", [_trade(today, 5, 0), _trade(today, 6, 1)])
    assert store.flush() == {} and "claiming a day" in (store.last_error or "")
    assert store.pending()["trades"] == 2 and _prices(store, today) == []
    sources.meta = meta  # the records store answers again
    assert store.flush() == {"trades": 2} and _prices(store, today) == [5, 6]
    assert sources.owner(today).source == "ssi"
    down.dispose()


# -- the file older versions kept in the data directory ---------------------------------------
# The schema and statement of the earlier versions' ``backend/market/history_sources.py``, verbatim.
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS market_history_days (
    day TEXT PRIMARY KEY, source TEXT NOT NULL, simulated INTEGER NOT NULL CHECK (simulated IN (0, 1)),
    session TEXT NOT NULL, claimed_at TEXT NOT NULL
);
"""
OLD_RECORD = (
    "INSERT INTO market_history_days (day, source, simulated, session, claimed_at) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT(day) DO UPDATE SET source = excluded.source, simulated = excluded.simulated, "
    "session = excluded.session, claimed_at = excluded.claimed_at"
)
OLD_OWNERS = {
    date(2026, 11, 30): SIM,
    date(2026, 12, 1): DayOwner("ssi", False, "0123456789abcdef"),
    date(2026, 12, 2): DayOwner(HOSTILE, True, "fedcba9876543210"),
    date(2000, 1, 3): DayOwner("s" * 40, False, "e" * 16),
}


def write_old_file(path: Path, owners: dict[date, DayOwner] = OLD_OWNERS) -> None:
    """What an earlier version left in the data dir, written the way it wrote it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=10, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(OLD_SCHEMA)
    for day, owner in owners.items():
        conn.execute(OLD_RECORD, (day.isoformat(), owner.source, int(owner.simulated), owner.session,
                                  datetime.now(UTC).isoformat()))
    conn.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def old_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    write_old_file(folder / "market_history.sqlite3")
    return folder


def test_an_old_file_arrives_whole_at_start_and_is_renamed(meta: MetaStore, old_dir: Path) -> None:
    old = old_dir / "market_history.sqlite3"
    sources = open_sources(meta, old_dir)
    assert {day: sources.owner(day) for day in OLD_OWNERS} == OLD_OWNERS
    assert not old.exists()
    kept = sqlite3.connect(old_dir / "market_history.sqlite3.migrated")  # still readable by the old SQL
    assert kept.execute("SELECT count(*) FROM market_history_days").fetchone() == (len(OLD_OWNERS),)
    kept.close()
    with meta.read() as conn:
        claimed = conn.execute(select(MarketDayOwner.claimed_at)).scalars().all()
    assert len(claimed) == len(OLD_OWNERS) and all(c.year >= 2026 for c in claimed)


def test_a_second_start_changes_nothing_and_newer_claims_win(meta: MetaStore, old_dir: Path) -> None:
    open_sources(meta, old_dir)
    day = date(2026, 12, 1)
    HistorySources(meta).claim(day, SIM2, has_rows=True)  # the exchange day: refused, the owner stays
    HistorySources(meta).record(date(2026, 11, 30), SSI)  # a later session took this one
    assert open_sources(meta, old_dir).owner(date(2026, 11, 30)) == SSI
    # Even the old file put back by hand adds nothing already held and never overwrites.
    (old_dir / "market_history.sqlite3.migrated").rename(old_dir / "market_history.sqlite3")
    write_old_file(old_dir / "market_history.sqlite3", {date(2026, 11, 30): SIM, date(2026, 11, 27): SIM2})
    sources = open_sources(meta, old_dir)
    assert sources.owner(date(2026, 11, 30)) == SSI and sources.owner(date(2026, 11, 27)) == SIM2
    assert sources.owner(day) == OLD_OWNERS[day]
    assert not (old_dir / "market_history.sqlite3").exists()


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.write_bytes(b"this is not a database at all" * 100),
        lambda p: p.write_bytes(p.read_bytes()[:1024] + b"\x00" * 512 + p.read_bytes()[1536:3000]),
    ],
    ids=["not-sqlite", "truncated"],
)
def test_a_damaged_file_is_named_in_the_log_and_the_market_starts(
    meta: MetaStore, old_dir: Path, damage, caplog: pytest.LogCaptureFixture
) -> None:
    old = old_dir / "market_history.sqlite3"
    sqlite3.connect(old).execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    damage(old)
    before = digest(old)
    with caplog.at_level(logging.WARNING):
        sources = open_sources(meta, old_dir)
    assert str(old) in caplog.text and "starts without" in caplog.text
    assert digest(old) == before and not (old_dir / "market_history.sqlite3.migrated").exists()
    assert all(sources.owner(day) is None for day in OLD_OWNERS)
    sources.record(date(2026, 12, 3), SSI)  # and it works
    assert sources.owner(date(2026, 12, 3)) == SSI


@pytest.mark.parametrize(("sql", "what"), [
    ("INSERT INTO market_history_days VALUES ('2026-13-01', 'ssi', 0, 'x', '')", "2026-13-01"),
    ("INSERT INTO market_history_days VALUES ('20261201', 'ssi', 0, 'x', '')", "20261201.*YYYY-MM-DD"),
    ("INSERT INTO market_history_days VALUES (20261201, 'ssi', 0, 'x', '')", "20261201"),
    ("INSERT INTO market_history_days VALUES ('2026-12-09', 'ssi', 0, '', '')", "2026-12-09.*session"),
    (f"INSERT INTO market_history_days VALUES ('2026-12-09', '{'s' * 65}', 0, 'x', '')", "2026-12-09.*longer"),
    ("INSERT INTO market_history_days VALUES ('2026-12-09', 'a' || char(0), 0, 'x', '')", "2026-12-09.*NUL"),
    ("INSERT INTO market_history_days VALUES ('2026-12-09', x'00ff', 0, 'x', '')", "2026-12-09.*source"),
])
def test_a_row_the_store_could_not_hold_stops_the_import_whole(
    meta: MetaStore, old_dir: Path, sql: str, what: str, caplog: pytest.LogCaptureFixture
) -> None:
    old = old_dir / "market_history.sqlite3"
    conn = sqlite3.connect(old, isolation_level=None)
    conn.execute(sql)
    conn.close()
    with caplog.at_level(logging.WARNING):
        sources = open_sources(meta, old_dir)
    assert rf"{old}" in caplog.text
    import re

    assert re.search(what, caplog.text), caplog.text
    assert old.exists() and all(sources.owner(day) is None for day in OLD_OWNERS)


def test_odd_but_valid_old_values_arrive(meta: MetaStore, tmp_path: Path) -> None:
    folder = tmp_path / "odd"
    write_old_file(folder / "market_history.sqlite3", {})
    conn = sqlite3.connect(folder / "market_history.sqlite3", isolation_level=None)
    # A claim time the old code never wrote, and one without a zone (read as UTC).
    conn.execute("INSERT INTO market_history_days VALUES ('2026-12-04', 'ssi', 1, 'x', 'not a time')")
    conn.execute("INSERT INTO market_history_days VALUES ('2026-12-05', 'ssi', 0, 'y', '2026-12-05 01:02:03')")
    conn.close()
    sources = open_sources(meta, folder)
    assert sources.owner(date(2026, 12, 4)) == DayOwner("ssi", True, "x")
    assert sources.owner(date(2026, 12, 5)) == DayOwner("ssi", False, "y")
    with meta.read() as conn:
        when = conn.execute(select(MarketDayOwner.claimed_at).where(MarketDayOwner.day == date(2026, 12, 5))).scalar()
    assert when.replace(tzinfo=None) == datetime(2026, 12, 5, 1, 2, 3)


def test_the_revision_upgrades_a_store_in_use_and_downgrades_cleanly(meta_url: str) -> None:
    from backend.meta.migrate import downgrade_store, upgrade_store

    store = open_meta(meta_url, migrate=False)
    upgrade_store(store, "0003")
    with store.write() as conn:
        conn.execute(text("INSERT INTO price_rules (id, symbol, op, price, note, created_at) "
                          "VALUES ('p-1', 'FPT', 'above', 131000, '', CURRENT_TIMESTAMP)"))
    upgrade_store(store)
    HistorySources(store).record(date(2026, 12, 2), SSI)
    assert HistorySources(store).owner(date(2026, 12, 2)) == SSI
    downgrade_store(store, "0003")
    with store.read() as conn:
        assert conn.execute(text("SELECT id FROM price_rules")).scalars().all() == ["p-1"]
        with pytest.raises(Exception, match="market_day_owners"):
            conn.execute(text("SELECT * FROM market_day_owners"))
    upgrade_store(store)
    assert HistorySources(store).owner(date(2026, 12, 2)) is None
