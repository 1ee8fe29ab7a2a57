"""The old market file (watchlists, price rules) moves into the records store at first start.

The old file is built with the exact SQL the earlier versions ran, so the import is
tested against what users have on disk, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from backend.market.watchlists import VN30_ID, StoredRule, UserData, UserDataError, Watchlist
from backend.meta import close_meta, open_meta
from backend.meta.legacy_market import LegacyImportError, import_market_file, is_legacy_market_file
from backend.meta.models import WatchlistRecord

ROOT = Path(__file__).resolve().parents[2]

# The schema and statements of the earlier versions' ``backend/market/watchlists.py``, verbatim.
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS watchlists (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, symbols TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE IF NOT EXISTS price_rules (
    id TEXT PRIMARY KEY, symbol TEXT NOT NULL, op TEXT NOT NULL CHECK (op IN ('above', 'below')),
    price REAL NOT NULL CHECK (price > 0), note TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
"""
OLD_INSERT_LIST = ("INSERT INTO watchlists (id, name, symbols) VALUES (?, ?, ?) "
                   "ON CONFLICT(id) DO UPDATE SET name = excluded.name, symbols = excluded.symbols")
OLD_INSERT_RULE = "INSERT INTO price_rules (id, symbol, op, price, note) VALUES (?, ?, ?, ?, ?)"

LISTS = [
    ("w-0123456789", "My banks", ("VCB", "BID", "CTG")),
    ("w-aaaaaaaaaa", "Robert'); DROP TABLE watchlists;--", ("FPT",)),
    ("w-bbbbbbbbbb", "ngân hàng 🏦 \"quoted\" %_", ("VN30F2412", "HPG", "SSI", "MWG")),
    ("w-cccccccccc", "x" * 60, tuple(f"S{i:03d}" for i in range(300))),
]
RULES = [
    ("p-000000000001", "FPT", "above", 131_000.0, "breakout"),
    ("p-000000000002", "VN30F2412", "below", 1_301.3, "ghi chú 📉 '; DROP TABLE price_rules; --"),
    ("p-000000000003", "VCB", "above", 91_500.0, ""),
    # The longest note the app takes, with the line break the old code let through.
    ("p-000000000004", "HPG", "below", 25_050.0, "n" * 100 + "\n" + "ñ" * 99),
]


def write_old_file(path: Path, lists=LISTS, rules=RULES) -> None:
    """What an earlier version left in the data dir (WAL mode, like it ran)."""
    conn = sqlite3.connect(path, timeout=10, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(OLD_SCHEMA)
    for list_id, name, symbols in lists:
        conn.execute(OLD_INSERT_LIST, (list_id, name, ",".join(symbols)))
    for rule in rules:
        conn.execute(OLD_INSERT_RULE, rule)
    conn.execute("UPDATE watchlists SET created_at = '2025-03-04 05:06:07' WHERE id = 'w-0123456789'")
    conn.close()


def expected_lists() -> list[Watchlist]:
    return sorted((Watchlist(i, n, s) for i, n, s in LISTS), key=lambda w: (w.name, w.id))


def expected_rules() -> list[StoredRule]:
    return sorted((StoredRule(*r) for r in RULES), key=lambda r: (r.symbol, r.price, r.id))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def meta_sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / 'records' / 'meta.sqlite3'


@pytest.fixture
def meta_db_prefix() -> str:
    return "mig"


@pytest.fixture
def old_file(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "market.sqlite3"
    write_old_file(path)
    return path


def test_an_old_file_arrives_whole_and_is_renamed(meta_url: str, old_file: Path) -> None:
    store = open_meta(meta_url)
    report = import_market_file(store, old_file)
    assert report is not None and (report.watchlists, report.rules, report.added) == (4, 4, 8)
    assert not old_file.exists() and report.moved_to == old_file.with_name("market.sqlite3.migrated")
    data = UserData(store)
    lists = data.watchlists()
    assert lists[0].id == VN30_ID and lists[1:] == expected_lists()
    assert data.rules() == expected_rules()
    with store.read() as conn:
        created = conn.execute(
            select(WatchlistRecord.created_at).where(WatchlistRecord.id == "w-0123456789")
        ).scalar_one()
    assert created.replace(tzinfo=None).isoformat(sep=" ") == "2025-03-04 05:06:07"
    # The renamed file still holds everything, readable by the old code's SQL.
    kept = sqlite3.connect(report.moved_to)
    assert kept.execute("SELECT count(*) FROM watchlists").fetchone() == (4,)
    assert kept.execute("SELECT count(*) FROM price_rules").fetchone() == (4,)
    kept.close()


def test_imported_lists_and_rules_work_like_any_other(meta_url: str, old_file: Path) -> None:
    store = open_meta(meta_url)
    import_market_file(store, old_file)
    data = UserData(store)
    data.save_watchlist("My banks", ["ACB"], watchlist_id="w-0123456789")
    assert data.watchlist("w-0123456789").symbols == ("ACB",)
    assert data.delete_rule("p-000000000004")
    assert len(data.rules()) == 3


def test_a_second_start_imports_nothing_twice(meta_url: str, old_file: Path) -> None:
    store = open_meta(meta_url)
    import_market_file(store, old_file)
    UserData(store).delete_watchlist("w-aaaaaaaaaa")
    assert import_market_file(store, old_file) is None  # the file is gone: nothing to do
    # Even an old file put back by hand adds nothing already imported, and never resurrects.
    moved = old_file.with_name("market.sqlite3.migrated")
    moved.rename(old_file)
    report = import_market_file(store, old_file)
    assert report is not None and report.added == 1  # only the list deleted since comes back
    assert old_file.with_name("market.sqlite3.migrated").exists()
    assert len(UserData(store).watchlists()) == 1 + len(LISTS) and len(UserData(store).rules()) == len(RULES)


def test_rows_still_in_the_write_ahead_log_are_not_lost(meta_url: str, tmp_path: Path) -> None:
    # An older process that died without closing leaves committed rows only in the -wal file.
    path = tmp_path / "market.sqlite3"
    code = (
        "import os, sqlite3, sys\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "from tests.backend.test_records_migration import write_old_file, LISTS, RULES\n"
        "write_old_file(__import__('pathlib').Path(sys.argv[1]), lists=[], rules=[])\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute('PRAGMA wal_autocheckpoint=0')\n"
        "from tests.backend.test_records_migration import OLD_INSERT_LIST, OLD_INSERT_RULE\n"
        "for i, n, s in LISTS: c.execute(OLD_INSERT_LIST, (i, n, ','.join(s)))\n"
        "for r in RULES: c.execute(OLD_INSERT_RULE, r)\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(path), str(ROOT)], check=True, timeout=60)
    assert path.with_name("market.sqlite3-wal").stat().st_size > 0
    store = open_meta(meta_url)
    report = import_market_file(store, path)
    assert report is not None and report.added == len(LISTS) + len(RULES)
    assert UserData(store).rules() == expected_rules()
    assert not path.with_name("market.sqlite3-wal").exists()
    kept = sqlite3.connect(report.moved_to)
    assert kept.execute("SELECT count(*) FROM price_rules").fetchone() == (len(RULES),)
    kept.close()


def test_a_file_other_features_share_keeps_its_place_and_their_tables(meta_url: str, old_file: Path) -> None:
    conn = sqlite3.connect(old_file, isolation_level=None)
    conn.execute("CREATE TABLE market_history_days (day TEXT PRIMARY KEY, source TEXT NOT NULL)")
    conn.execute("INSERT INTO market_history_days VALUES ('2026-12-01', 'simulator')")
    conn.close()
    store = open_meta(meta_url)
    report = import_market_file(store, old_file)
    assert report is not None and report.moved_to is None and report.added == 8
    conn = sqlite3.connect(old_file)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"market_history_days", "watchlists_migrated", "price_rules_migrated"}
    assert conn.execute("SELECT * FROM market_history_days").fetchall() == [("2026-12-01", "simulator")]
    assert conn.execute("SELECT count(*) FROM price_rules_migrated").fetchone() == (4,)
    conn.close()
    assert import_market_file(store, old_file) is None
    assert UserData(store).rules() == expected_rules()


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.write_bytes(b"this is not a database at all" * 100),
        lambda p: p.write_bytes(p.read_bytes()[:1024] + b"\x00" * 512 + p.read_bytes()[1536:3000]),
    ],
    ids=["not-sqlite", "truncated"],
)
def test_a_damaged_file_is_named_and_left_alone(meta_url: str, old_file: Path, damage) -> None:
    damage(old_file)
    before = digest(old_file)
    store = open_meta(meta_url)
    with pytest.raises(LegacyImportError, match=str(old_file)):
        import_market_file(store, old_file)
    assert digest(old_file) == before and not old_file.with_name("market.sqlite3.migrated").exists()
    assert UserData(store).watchlists()[1:] == [] and UserData(store).rules() == []


def test_a_file_held_by_an_old_process_is_named_and_imported_once_it_lets_go(meta_url: str, old_file: Path) -> None:
    holder = sqlite3.connect(old_file, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    store = open_meta(meta_url)
    try:
        started = time.monotonic()
        with pytest.raises(LegacyImportError, match=rf"{old_file}.*locked"):
            import_market_file(store, old_file)
        assert time.monotonic() - started < 30
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert old_file.exists() and UserData(store).rules() == []
    report = import_market_file(store, old_file)
    assert report is not None and report.added == 8


@pytest.mark.parametrize(
    ("sql", "what"),
    [
        ("INSERT INTO price_rules (id, symbol, op, price) VALUES ('p-bad', 'FPT', 'above', 'abc')", "p-bad"),
        ("INSERT INTO price_rules (id, symbol, op, price) VALUES ('p-inf', 'FPT', 'above', 9e999)", "p-inf"),
        (f"INSERT INTO price_rules (id, symbol, op, price) VALUES ('p-long', '{'X' * 40}', 'above', 1)", "p-long"),
        ("INSERT INTO price_rules (id, symbol, op, price) VALUES ('p-low', 'fpt', 'above', 1)", "p-low"),
        ("INSERT INTO price_rules (id, symbol, op, price) VALUES ('p-dash', 'A-B', 'above', 1)", "p-dash"),
        (f"INSERT INTO price_rules (id, symbol, op, price, note) VALUES ('p-note', 'FPT', 'above', 1, '{'n' * 5000}')",
         "p-note.*longer than 200"),
        ("INSERT INTO price_rules (id, symbol, op, price, note) VALUES ('p-nul', 'FPT', 'above', 1, 'a' || char(0))",
         "p-nul.*NUL"),
        (f"INSERT INTO price_rules (id, symbol, op, price) VALUES ('{'p' * 80}', 'FPT', 'above', 1)", "ppp"),
        (f"INSERT INTO watchlists (id, name, symbols) VALUES ('{'w' * 80}', 'n', 'FPT')", "www"),
        ("INSERT INTO watchlists (id, name, symbols) VALUES ('W-UPPER', 'n', 'FPT')", "W-UPPER"),
        ("INSERT INTO watchlists (id, name, symbols) VALUES ('w-nul', 'a' || char(0) || 'b', 'FPT')", "w-nul"),
        (f"INSERT INTO watchlists (id, name, symbols) VALUES ('w-name', '{'x' * 61}', 'FPT')", "w-name.*60"),
        ("INSERT INTO watchlists (id, name, symbols) VALUES ('w-empty', 'n', '')", "w-empty"),
        ("INSERT INTO watchlists (id, name, symbols) VALUES ('w-sym', 'n', 'FPT,<script>')", "w-sym"),
        ("INSERT INTO watchlists (id, name, symbols) VALUES ('w-dup', 'n', 'FPT,FPT')", "w-dup"),
        (f"INSERT INTO watchlists (id, name, symbols) VALUES ('w-many', 'n', '{','.join(f'S{i}' for i in range(301))}')",
         "w-many"),
    ],
)
def test_a_row_the_app_could_not_have_saved_stops_the_import_whole(
    meta_url: str, old_file: Path, sql: str, what: str
) -> None:
    conn = sqlite3.connect(old_file, isolation_level=None)
    conn.execute(sql)
    conn.close()
    store = open_meta(meta_url)
    with pytest.raises(LegacyImportError, match=rf"{old_file}.*{what}"):
        import_market_file(store, old_file)
    assert old_file.exists() and UserData(store).watchlists()[1:] == [] and UserData(store).rules() == []


def test_workers_starting_together_import_exactly_once(meta_url: str, old_file: Path, tmp_path: Path) -> None:
    go = tmp_path / "go"
    code = (
        "import os, sys, time\n"
        "from pathlib import Path\n"
        "from backend.meta import open_meta\n"
        "from backend.meta.legacy_market import import_market_file\n"
        "store = open_meta(sys.argv[1])\n"
        "while not os.path.exists(sys.argv[3]): time.sleep(0.001)\n"
        "r = import_market_file(store, Path(sys.argv[2]))\n"
        "print(r.added if r else 0)\n"
    )
    open_meta(meta_url)  # migrated once up front: this test is about the import
    procs = [subprocess.Popen([sys.executable, "-c", code, meta_url, str(old_file), str(go)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    time.sleep(2.5)
    go.touch()
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [err[-600:] for _, err in results]
    assert sorted(int(out.strip()) for out, _ in results) == [0, 0, 0, 8]
    data = UserData(open_meta(meta_url))
    assert data.watchlists()[1:] == expected_lists() and data.rules() == expected_rules()
    assert not old_file.exists() and old_file.with_name("market.sqlite3.migrated").exists()
    assert not old_file.with_name("market.sqlite3.migrated-2").exists()


def test_the_start_logs_a_file_it_cannot_import_and_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from backend.config import load_settings
    from backend.stores import _import_old_market_file

    settings = load_settings(data_dir=tmp_path / "data")
    settings.data_dir.mkdir(parents=True)
    broken = settings.data_dir / "market.sqlite3"
    broken.write_bytes(b"garbage" * 1000)
    store = open_meta(settings.meta_database_url)
    try:
        with caplog.at_level(logging.WARNING):
            _import_old_market_file(store, settings)
        assert str(broken) in caplog.text and "starts without them" in caplog.text
        assert broken.read_bytes() == b"garbage" * 1000
        write_old_file(broken.with_name("other.sqlite3"))
        broken.unlink()
        broken.with_name("other.sqlite3").rename(broken)
        _import_old_market_file(store, settings)
        assert UserData(store).rules() == expected_rules()
    finally:
        close_meta(settings.meta_database_url)


def test_userdata_refuses_to_treat_the_old_file_as_a_records_database(old_file: Path) -> None:
    assert is_legacy_market_file(old_file)
    with pytest.raises(UserDataError, match="old watchlist file"):
        UserData(old_file)


def test_concurrent_writers_during_an_import_lose_nothing(meta_url: str, old_file: Path) -> None:
    store = open_meta(meta_url)
    data = UserData(store)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for i in range(15):
                data.add_rule("MWG", "above", 50_000 + i * 100, f"during import {i}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    import_market_file(store, old_file)
    writer.join()
    assert errors == []
    rules = data.rules()
    assert len(rules) == len(RULES) + 15
    assert [r for r in rules if r.symbol != "MWG"] == [r for r in expected_rules() if r.symbol != "MWG"]


def test_a_worker_stuck_importing_does_not_hold_up_the_start_for_ever(
    meta_url: str, old_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fcntl

    from backend.meta import legacy_market

    monkeypatch.setattr(legacy_market, "_IMPORT_WAIT_SECONDS", 0.5)
    with open(old_file.with_name("market.sqlite3.import-lock"), "a+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(LegacyImportError, match=rf"{old_file}.*another process"):
            import_market_file(open_meta(meta_url), old_file)
    assert old_file.exists()
    assert import_market_file(open_meta(meta_url), old_file).added == 8


# -- market_history.sqlite3: which feed session holds each trading day's history ---------------
def _old_history_file(folder: Path) -> Path:
    from tests.backend.market_ui.test_history_sources import write_old_file as write_old_history

    path = folder / "market_history.sqlite3"
    write_old_history(path)
    return path


def test_both_old_files_arrive_at_one_start(tmp_path: Path) -> None:
    from backend.config import load_settings
    from backend.market.history_sources import HistorySources, open_sources
    from backend.stores import _import_old_market_file
    from tests.backend.market_ui.test_history_sources import OLD_OWNERS

    settings = load_settings(data_dir=tmp_path / "data")
    settings.data_dir.mkdir(parents=True)
    write_old_file(settings.data_dir / "market.sqlite3")
    _old_history_file(settings.data_dir)
    store = open_meta(settings.meta_database_url)
    try:
        _import_old_market_file(store, settings)
        open_sources(store, settings.data_dir)
        assert UserData(store).rules() == expected_rules()
        assert {day: HistorySources(store).owner(day) for day in OLD_OWNERS} == OLD_OWNERS
        assert sorted(p.name for p in settings.data_dir.glob("*.migrated")) == [
            "market.sqlite3.migrated", "market_history.sqlite3.migrated"]
    finally:
        close_meta(settings.meta_database_url)


def test_history_workers_starting_together_import_exactly_once(meta_url: str, tmp_path: Path) -> None:
    from backend.market.history_sources import HistorySources
    from tests.backend.market_ui.test_history_sources import OLD_OWNERS

    old = _old_history_file(tmp_path)
    go = tmp_path / "go"
    code = (
        "import os, sys, time\n"
        "from pathlib import Path\n"
        "from backend.meta import open_meta\n"
        "from backend.meta.legacy_market import import_history_file\n"
        "store = open_meta(sys.argv[1])\n"
        "while not os.path.exists(sys.argv[3]): time.sleep(0.001)\n"
        "r = import_history_file(store, Path(sys.argv[2]))\n"
        "print(r.added if r else 0)\n"
    )
    open_meta(meta_url)
    procs = [subprocess.Popen([sys.executable, "-c", code, meta_url, str(old), str(go)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    time.sleep(2.5)
    go.touch()
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err[-600:] for _, err in results]
    assert sorted(int(out.strip()) for out, _ in results) == [0, 0, len(OLD_OWNERS)]
    sources = HistorySources(open_meta(meta_url))
    assert {day: sources.owner(day) for day in OLD_OWNERS} == OLD_OWNERS
    assert not old.exists() and not old.with_name("market_history.sqlite3.migrated-2").exists()


def test_an_old_history_file_held_by_an_old_process_is_named_and_imported_later(
    meta_url: str, tmp_path: Path
) -> None:
    from backend.market.history_sources import HistorySources
    from backend.meta.legacy_market import import_history_file
    from tests.backend.market_ui.test_history_sources import OLD_OWNERS

    old = _old_history_file(tmp_path)
    holder = sqlite3.connect(old, isolation_level=None)  # an older version still running
    holder.execute("SELECT 1 FROM market_history_days").fetchall()
    store = open_meta(meta_url)
    try:
        with pytest.raises(LegacyImportError, match=rf"{old}.*older Deskboard version"):
            import_history_file(store, old)
    finally:
        holder.close()
    assert old.exists() and HistorySources(store).owner(next(iter(OLD_OWNERS))) is None
    report = import_history_file(store, old)
    assert report is not None and (report.days, report.added) == (len(OLD_OWNERS), len(OLD_OWNERS))
    assert report.moved_to == old.with_name("market_history.sqlite3.migrated")


def test_an_old_history_table_sharing_a_file_is_renamed_and_the_rest_kept(meta_url: str, tmp_path: Path) -> None:
    from backend.meta.legacy_market import import_history_file

    old = _old_history_file(tmp_path)
    conn = sqlite3.connect(old, isolation_level=None)
    conn.execute("CREATE TABLE notes (x TEXT)")
    conn.execute("INSERT INTO notes VALUES ('kept')")
    conn.close()
    report = import_history_file(open_meta(meta_url), old)
    assert report is not None and report.moved_to is None
    conn = sqlite3.connect(old)
    assert {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")} == {
        "notes", "market_history_days_migrated"}
    assert conn.execute("SELECT x FROM notes").fetchall() == [("kept",)]
    conn.close()
    assert import_history_file(open_meta(meta_url), old) is None
