"""Records store: engine settings, migrations, concurrent start, health probe.

Every test runs against a SQLite file and against the real PostgreSQL server of
the test command (a database of its own per test).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from backend.meta import MetaError, close_meta, downgrade, head_revision, open_meta, upgrade
from backend.meta.migrate import current_revision
from backend.meta.models import Base

ROOT = Path(__file__).resolve().parents[2]


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_from_empty_creates_the_schema_the_models_describe(meta_url: str) -> None:
    store = upgrade(meta_url)
    assert _tables(meta_url) == {"alembic_version", *Base.metadata.tables}
    assert current_revision(store) == head_revision()
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diffs == []


def test_upgrade_again_is_a_no_op_and_keeps_data(meta_url: str) -> None:
    store = upgrade(meta_url)
    with store.write() as conn:
        conn.execute(text("INSERT INTO users (id, display_name, created_at) VALUES ('ana', 'Ana', CURRENT_TIMESTAMP)"))
    upgrade(meta_url)
    upgrade(meta_url)
    with store.read() as conn:
        assert conn.execute(text("SELECT id, display_name FROM users")).all() == [("ana", "Ana")]
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
    assert current_revision(store) == head_revision()


def test_downgrade_to_base_then_upgrade_round_trips(meta_url: str) -> None:
    upgrade(meta_url)
    downgrade(meta_url, "base")
    assert _tables(meta_url) <= {"alembic_version"}
    store = upgrade(meta_url)
    assert _tables(meta_url) == {"alembic_version", *Base.metadata.tables}
    assert store.ping()["schema_version"] == head_revision()


def test_open_meta_migrates_once_and_returns_the_same_store(meta_url: str) -> None:
    first = open_meta(meta_url)
    assert open_meta(meta_url) is first
    assert current_revision(first) == head_revision()


def test_ping_reports_backend_and_schema_and_refuses_an_old_schema(meta_url: str) -> None:
    store = open_meta(meta_url)
    assert store.ping() == {"backend": make_url(meta_url).get_backend_name(), "schema_version": head_revision()}
    downgrade(meta_url, "base")
    with pytest.raises(MetaError, match="schema is at None"):
        store.ping()


def test_processes_starting_together_migrate_exactly_once(meta_url: str, tmp_path: Path) -> None:
    # Four processes race to migrate an empty database, as web and job workers do at
    # start; each waits for a start signal after importing so the migrations overlap.
    go = tmp_path / "go"
    code = (
        "import os, sys, time\n"
        "from backend.meta import upgrade\n"
        "while not os.path.exists(sys.argv[2]): time.sleep(0.001)\n"
        "upgrade(sys.argv[1])\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, meta_url, str(go)], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    time.sleep(2.5)
    go.touch()
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [err[-600:] for _, err in results]
    store = open_meta(meta_url)
    assert current_revision(store) == head_revision()
    with store.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1


def test_foreign_keys_are_enforced(meta_url: str) -> None:
    store = open_meta(meta_url)
    with pytest.raises(IntegrityError), store.write() as conn:
        conn.execute(text(
            "INSERT INTO saved_views (owner, name, page, state, created_at, updated_at, version) "
            "VALUES ('nobody', 'x', '/pivot', '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)"
        ))
    with store.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM saved_views")).scalar_one() == 0


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'deep' / 'folder' / 'meta.sqlite3'}"
    store = open_meta(url)
    try:
        with store.read() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() >= 5000
    finally:
        close_meta(url)


def test_the_settings_default_url_opens_in_the_data_dir(tmp_path: Path) -> None:
    from backend.config import load_settings

    settings = load_settings(data_dir=tmp_path / "data")
    store = open_meta(settings.meta_database_url)
    try:
        assert (tmp_path / "data" / "meta.sqlite3").is_file()
        assert store.ping()["backend"] == "sqlite"
    finally:
        close_meta(settings.meta_database_url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "not a valid database URL"),
        ("mysql://u:p@127.0.0.1/x", "SQLite or PostgreSQL, not mysql"),
    ],
)
def test_unusable_urls_are_refused_plainly(url: str, message: str) -> None:
    with pytest.raises(MetaError, match=message):
        open_meta(url)


def test_unreachable_postgres_is_a_clear_error_without_the_password() -> None:
    url = "postgresql+psycopg://desk:hunter2@127.0.0.1:1/deskboard"
    try:
        with pytest.raises(MetaError, match="cannot open the records store at") as info:
            open_meta(url)
        assert "hunter2" not in str(info.value)
    finally:
        close_meta(url)


def test_the_watchlist_revision_upgrades_a_store_in_use_and_downgrades_cleanly(meta_url: str) -> None:
    from backend.meta.migrate import downgrade_store, upgrade_store

    store = open_meta(meta_url, migrate=False)
    upgrade_store(store, "0002")
    assert not {"watchlists", "price_rules"} & _tables(meta_url)
    with store.write() as conn:
        conn.execute(text("INSERT INTO users (id, display_name, created_at) VALUES ('ana', 'Ana', CURRENT_TIMESTAMP)"))
    upgrade_store(store)
    assert {"watchlists", "price_rules", "jobs"} <= _tables(meta_url)
    assert store.ping()["schema_version"] == head_revision() == "0010"
    assert "measurements" in _tables(meta_url)
    with store.write() as conn:
        conn.execute(text("INSERT INTO price_rules (id, symbol, op, price, note, created_at) "
                          "VALUES ('p-1', 'FPT', 'above', 131000, '', CURRENT_TIMESTAMP)"))
        with pytest.raises(IntegrityError), conn.begin_nested():
            conn.execute(text("INSERT INTO price_rules (id, symbol, op, price, note, created_at) "
                              "VALUES ('p-2', 'FPT', 'near', 131000, '', CURRENT_TIMESTAMP)"))
        with pytest.raises(IntegrityError), conn.begin_nested():
            conn.execute(text("INSERT INTO price_rules (id, symbol, op, price, note, created_at) "
                              "VALUES ('p-3', 'FPT', 'above', 0, '', CURRENT_TIMESTAMP)"))
    downgrade_store(store, "0002")
    assert not {"watchlists", "price_rules", "measurements"} & _tables(meta_url) and "jobs" in _tables(meta_url)
    with store.read() as conn:
        assert conn.execute(text("SELECT id FROM users")).scalars().all() == ["ana"]


_RULE = "INSERT INTO price_rules (id, symbol, kind, op, price, note, created_at) VALUES "


def test_the_rule_kinds_revision_keeps_price_rules_and_holds_foreign_flow_rules(meta_url: str) -> None:
    from backend.meta.migrate import downgrade_store, upgrade_store

    store = open_meta(meta_url, migrate=False)
    upgrade_store(store, "0008")
    with store.write() as conn:
        conn.execute(text("INSERT INTO price_rules (id, symbol, op, price, note, created_at) "
                          "VALUES ('p-1', 'FPT', 'above', 131000, 'kept', CURRENT_TIMESTAMP)"))
    upgrade_store(store, "0009")
    with store.write() as conn:
        assert conn.execute(text("SELECT id, kind, op, price, note FROM price_rules")).all() == [
            ("p-1", "price", "above", 131000.0, "kept")]
        conn.execute(text(_RULE + "('f-1', 'HPG', 'foreign', 'sell', NULL, '', CURRENT_TIMESTAMP)"))
        # a kind with another kind's op, a price rule without a price, a foreign rule with one
        for values in ("('x-1', 'HPG', 'foreign', 'above', NULL", "('x-2', 'FPT', 'price', 'buy', 5",
                       "('x-3', 'FPT', 'price', 'above', NULL", "('x-4', 'HPG', 'foreign', 'buy', 5",
                       "('x-5', 'HPG', 'other', 'buy', NULL", "('x-6', 'FPT', 'price', 'above', 0"):
            with pytest.raises(IntegrityError), conn.begin_nested():
                conn.execute(text(_RULE + values + ", '', CURRENT_TIMESTAMP)"))
    downgrade_store(store, "0008")  # the older schema holds price rules only
    with store.read() as conn:
        assert conn.execute(text("SELECT id, op, price FROM price_rules")).all() == [("p-1", "above", 131000.0)]
    upgrade_store(store)
    with store.read() as conn:
        assert conn.execute(text("SELECT id, kind FROM price_rules")).all() == [("p-1", "price")]
