"""Backups round trip: every table row for row, rollups rebuilt, records and files unchanged, older schemas.

The source data directory is built, backed up and restored by the CLI in child processes
(see ``backup_support``); what they wrote is compared with DuckDB, sqlite3 and SQLAlchemy.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from backend.backup.manifest import MANIFEST_NAME, read_manifest, verify_files
from backend.backup.restore import open_backup
from backend.warehouse.schema import MIGRATIONS
from tests.backend.backup_support import (
    BASE_TABLES,
    DUMP,
    ROLLUPS,
    _copy,
    _count,
    _missing,
    _python,
    _replace_file,
    _same_rows,
    _sqlite_rows,
    cli,
    work,
)

__all__ = ["work"]  # the module-scoped fixture, imported for pytest
# Each test runs the backup and restore commands over a whole data dir: a long scenario.
pytestmark = pytest.mark.slow


def test_round_trip_restores_every_base_table_row_for_row(work: dict[str, Path]) -> None:
    con = duckdb.connect()
    manifest = json.loads((work["backup"] / MANIFEST_NAME).read_text())
    assert sorted(manifest["warehouse"]["tables"]) == sorted(BASE_TABLES)
    for table in BASE_TABLES:
        src, dst = work["check_src"] / f"{table}.parquet", work["check_dst"] / f"{table}.parquet"
        stored = work["backup"] / "warehouse" / f"{table}.parquet"
        source_rows = _count(con, src)
        assert _count(con, stored) == source_rows == manifest["warehouse"]["tables"][table]["rows"], table
        a, b = f"SELECT * FROM read_parquet('{src}')", f"SELECT * FROM read_parquet('{dst}')"
        if table == "data_loads":
            # The restore records itself as a load, so caches keyed on the data version start afresh.
            assert _count(con, dst) == source_rows + 1
            assert con.execute(f"SELECT count(*) FROM ({b}) WHERE source LIKE 'restore of the backup made at %'"
                               ).fetchone()[0] == 1
            b += " WHERE source NOT LIKE 'restore of the backup made at %'"
        else:
            assert _count(con, dst) == source_rows, table
        assert _missing(con, a, b) == 0 and _missing(con, b, a) == 0, f"{table} differs after the round trip"
        assert _same_rows(con, src, stored), f"the backup's {table} differs from the source table"
    assert _count(con, work["check_src"] / "trades_1d.parquet") > 3000  # the generated trades, exploded
    # Values that break naive encodings came back as they were.
    dst = work["check_dst"]
    assert con.execute(f"SELECT count(*) FROM read_parquet('{dst}/market_foreign.parquet') "
                       "WHERE isinf(sell_val) OR isnan(buy_val) OR total_room IS NULL").fetchone()[0] == 2
    assert con.execute(f"SELECT max(sell_vol) FROM read_parquet('{dst}/market_foreign.parquet')"
                       ).fetchone()[0] == 18446744073709551615
    messages = sorted(r[0] for r in con.execute(f"SELECT message FROM read_parquet('{dst}/market_alerts.parquet')"
                                                 ).fetchall())
    assert messages == ["acked", 'tiếng Việt \n "quoted" \'single\'']  # a real line break


def test_rollups_are_rebuilt_once_from_the_restored_trades(work: dict[str, Path]) -> None:
    con = duckdb.connect()
    trades = work["backup"] / "warehouse" / "trades_1d.parquet"
    total = _count(con, trades)
    dims = "trade_date, exposure_type, portfolio_manager_id, desk, asset_class, region, currency, sector, symbol, " \
           "parent_symbol"
    expected = con.execute(
        f"SELECT {dims}, sum(notional) AS n, sum(pnl) AS p, count(*) AS c FROM read_parquet('{trades}') "
        f"GROUP BY {dims}").fetchdf()
    restored = con.execute(
        f"SELECT {dims}, sum(sum_notional) AS n, sum(sum_pnl) AS p, sum(sum_trade_count) AS c "
        f"FROM read_parquet('{work['check_dst']}/trades_1d_rollup.parquet') GROUP BY {dims}").fetchdf()
    assert len(restored) == len(expected)
    merged = expected.merge(restored, on=dims.split(", "), suffixes=("_e", "_r"), how="outer", indicator=True)
    assert (merged["_merge"] == "both").all()
    assert (merged["c_e"] == merged["c_r"]).all()
    assert ((merged["n_e"] - merged["n_r"]).abs() <= 1e-6 * (1 + merged["n_e"].abs())).all()
    assert ((merged["p_e"] - merged["p_r"]).abs() <= 1e-6 * (1 + merged["p_e"].abs())).all()
    for rollup in ROLLUPS:
        counted = con.execute(
            f"SELECT sum(sum_trade_count) FROM read_parquet('{work['check_dst']}/{rollup}.parquet')").fetchone()[0]
        assert counted == total, f"{rollup} counts {counted} trades, the backup holds {total}"
    assert not any((work["backup"] / "warehouse" / f"{r}.parquet").exists() for r in ROLLUPS)


def test_records_side_databases_and_files_come_back_unchanged(work: dict[str, Path]) -> None:
    source, restored = _sqlite_rows(work["src"] / "meta.sqlite3"), _sqlite_rows(work["dst"] / "meta.sqlite3")
    assert source.keys() == restored.keys()
    assert source == restored
    assert len(restored["saved_views"]) == 2 and len(restored["jobs"]) == 2
    assert _sqlite_rows(work["dst"] / "market.sqlite3") == _sqlite_rows(work["src"] / "market.sqlite3")
    for rel in ("measurements/vn30_1/part-0.parquet", "measurements/README"):
        assert (work["dst"] / rel).read_bytes() == (work["src"] / rel).read_bytes()
    # A completed job's result is kept; a running job's half-written one is not.
    done, running = work["completed_job"].name, work["running_job"].name
    assert (work["dst"] / "job-results" / done / "probe.txt").read_text() == "completed result"
    assert not (work["dst"] / "job-results" / running).exists()
    assert sorted(p.name for p in work["dst"].iterdir()) == [
        "job-results", "market.sqlite3", "measurements", "meta.sqlite3", "warehouse"]


def test_manifest_lists_versions_counts_and_checksums(work: dict[str, Path]) -> None:
    from backend.meta import head_revision

    manifest = json.loads((work["backup"] / MANIFEST_NAME).read_text())
    assert manifest["warehouse"]["schema_version"] == max(v for v, _, _ in MIGRATIONS)
    assert manifest["records"]["revision"] == head_revision()
    assert manifest["created_at"] and manifest["mode"] == "offline"
    assert manifest["measurements"] == {"present": True, "files": 2, "bytes": manifest["measurements"]["bytes"],
                                        "note": ""}
    assert set(manifest["warehouse"]["rebuilt"]) == set(ROLLUPS)
    assert next(iter(manifest["warehouse"]["tables"])) == "data_loads"  # the load log is read before the data
    on_disk = {p.relative_to(work["backup"]).as_posix() for p in work["backup"].rglob("*") if p.is_file()}
    assert on_disk - {MANIFEST_NAME} == set(manifest["files"])
    for name, entry in manifest["files"].items():
        data = (work["backup"] / name).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (entry["bytes"], entry["sha256"]), name
    con = sqlite3.connect(work["src"] / "meta.sqlite3")
    for table, entry in manifest["records"]["tables"].items():
        assert entry["rows"] == con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
        assert len((work["backup"] / entry["file"]).read_bytes().splitlines()) == entry["rows"]


def test_verify_reports_progress_over_every_file(work: dict[str, Path]) -> None:
    manifest = open_backup(work["backup"])
    seen: list[float] = []
    verify_files(work["backup"], manifest, lambda fraction, _message: seen.append(fraction))
    assert len(seen) == len(manifest.files) and seen[-1] == pytest.approx(1.0)
    assert seen == sorted(seen)


def test_an_older_backup_keeps_market_history_past_its_retention(work: dict[str, Path], tmp_path: Path) -> None:
    """Rows past a table's TTL do not fail the restore; every row the TTL keeps comes back."""
    import io
    from datetime import UTC, datetime, timedelta

    import pyarrow as pa
    import pyarrow.parquet as pq

    copy = _copy(work, tmp_path)
    name = "warehouse/market_basis.parquet"
    schema = pq.read_schema(copy / name)
    now = datetime.now(UTC)
    rows = {"ts": [now - timedelta(days=40), now], "day": [(now - timedelta(days=40)).date(), now.date()],
            "symbol": ["VN30F1M", "VN30F1M"], "index_symbol": ["VN30", "VN30"], "futures_price": [1300.5, 1310.0],
            "index_value": [1301.0, 1309.0], "basis": [-0.5, 1.0]}
    buffer = io.BytesIO()
    pq.write_table(pa.table(rows, schema=schema), buffer)
    _replace_file(copy, name, buffer.getvalue(), 2)
    target = tmp_path / "target"
    done = cli("restore", copy, data_dir=target)
    assert done.returncode == 0, done.stderr
    _python(DUMP, f"chdb://{target}/warehouse", "deskboard", tmp_path / "check")
    restored = duckdb.sql(f"SELECT basis FROM read_parquet('{tmp_path}/check/market_basis.parquet') ORDER BY basis")
    # The expired row goes whenever the engine's TTL merge runs: before the restore counted it
    # (then the restore says so), or later; the row the TTL keeps is there either way.
    rows = restored.fetchall()
    assert rows in ([(-0.5,), (1.0,)], [(1.0,)])
    if "note: 1 rows of market_basis were past the table's retention" in done.stdout:
        assert rows == [(1.0,)]


# A warehouse still at schema version 4 (before the book and counterparty rollups existed).
OLD_SCHEMA = textwrap.dedent("""
    import sys
    from datetime import date
    from pathlib import Path
    from backend.backup.warehouse import _migrate_to
    from backend.datagen import generate_to_folder
    from backend.warehouse import open_warehouse
    from backend.warehouse.schema import TRADES_COLUMN_NAMES

    src = Path(sys.argv[1])
    generate_to_folder(src.parent / "gen", rows=1200, start=date(2024, 5, 2), end=date(2024, 5, 10), seed=4)
    wh = open_warehouse(f"chdb://{src}/warehouse", migrate=False)
    _migrate_to(wh, 4)
    cols = ", ".join(TRADES_COLUMN_NAMES)
    wh.command(f"INSERT INTO {{db}}.trades_1d ({cols}) SELECT {cols} FROM file({{p:String}}, Parquet)",
               {"p": str(src.parent / "gen" / "trades_1d" / "*.parquet")})
    print(wh.schema_version())
""")


def test_a_backup_from_an_older_warehouse_schema_is_migrated_after_loading(tmp_path: Path) -> None:
    src, backup, target = tmp_path / "src", tmp_path / "backup", tmp_path / "target"
    assert _python(OLD_SCHEMA, src).strip() == "4"
    (target / ".restore-0badf00d").mkdir(parents=True)  # what a killed restore leaves behind
    made = cli("create", backup, data_dir=src)
    assert made.returncode == 0, made.stderr
    manifest = json.loads((backup / MANIFEST_NAME).read_text())
    assert manifest["warehouse"]["schema_version"] == 4
    assert list(manifest["warehouse"]["rebuilt"]) == ["trades_1d_rollup"]
    assert manifest["records"] is None  # this data dir never stored a record
    done = cli("restore", backup, data_dir=target)
    assert done.returncode == 0, done.stderr
    assert not (target / ".restore-0badf00d").exists()
    _python(DUMP, f"chdb://{target}/warehouse", "deskboard", tmp_path / "check")
    con = duckdb.connect()
    trades = _count(con, backup / "warehouse" / "trades_1d.parquet")
    assert trades > 1000
    # The later migrations created the newer rollups and backfilled them from the restored trades, once.
    for rollup in ROLLUPS:
        counted = con.execute(f"SELECT sum(sum_trade_count) FROM read_parquet('{tmp_path}/check/{rollup}.parquet')"
                              ).fetchone()[0]
        assert counted == trades, rollup
    versions = con.execute(f"SELECT max(version) FROM read_parquet('{tmp_path}/check/schema_migrations.parquet')"
                           ).fetchone()[0]
    assert versions == max(v for v, _, _ in MIGRATIONS)


def test_a_backup_into_an_empty_folder_says_what_the_data_dir_lacked(tmp_path: Path) -> None:
    from backend.backup import create_backup

    data_dir, dest = tmp_path / "data", tmp_path / "dest"
    (data_dir / "measurements" / "prices_1").mkdir(parents=True)
    (data_dir / "measurements" / "prices_1" / "part-0.parquet").write_bytes(b"PAR1\x00PAR1")
    (data_dir / "measurements" / "link").symlink_to(tmp_path)
    dest.mkdir()
    manifest = create_backup(dest, data_dir=data_dir, warehouse=None, meta=None, warehouse_database="desk")
    assert manifest.records is None
    assert (manifest.warehouse.present, manifest.warehouse.database, manifest.warehouse.tables) == (False, "desk", {})
    assert (manifest.measurements.present, manifest.measurements.files) == (True, 1)
    assert "link" in manifest.measurements.note  # a link is left out, and the manifest says so
    assert manifest.job_results.present is False
    assert read_manifest(dest) == manifest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "dest"]  # no staging folder left behind
    (tmp_path / "empty").mkdir()
    nothing = create_backup(tmp_path / "dest2", data_dir=tmp_path / "empty", warehouse=None, meta=None)
    assert nothing.measurements.present is False and nothing.files == {}


def test_server_path_streams_tables_out_and_back_through_the_client(fresh_warehouse, tmp_path: Path) -> None:
    """A warehouse server is read and written through the client (Arrow), not the engine's file():
    the same client over the embedded engine, with the server code path, round-trips every table."""
    from datetime import date

    import pyarrow.parquet as pq

    from backend.backup.warehouse import dump_warehouse, restore_warehouse
    from backend.datagen import generate_to_folder
    from backend.warehouse import Warehouse
    from backend.warehouse.loader import load_folder

    generate_to_folder(tmp_path / "gen", rows=1200, start=date(2024, 4, 1), end=date(2024, 4, 5), seed=2)
    load_folder(fresh_warehouse, tmp_path / "gen")
    fresh_warehouse.command("INSERT INTO {db}.market_index VALUES (now64(3), today(), 'VNINDEX', 1250.5, 1249, "
                            "300, 150, NULL, 5, 1, 1e9, NULL)")
    client = fresh_warehouse._client
    source = Warehouse(client, fresh_warehouse.database, "http://warehouse.invalid:8123")
    assert not source.embedded
    section = dump_warehouse(source, tmp_path / "backup" / "warehouse", "warehouse")
    target_db = f"{fresh_warehouse.database}_r"
    target = Warehouse(client, target_db, "http://warehouse.invalid:8123")
    try:
        counts = restore_warehouse(target, tmp_path / "backup", section, created_at="2024-04-06T00:00:00")
        assert counts == {name: entry.rows for name, entry in section.tables.items()}
        con = duckdb.connect()
        for name in (*section.tables, *ROLLUPS):
            where = " WHERE source NOT LIKE 'restore of%'" if name == "data_loads" else ""
            final = " FINAL" if name in ROLLUPS else ""
            for wh, label in ((source, "a"), (target, "b")):
                pq.write_table(wh.query_arrow(f"SELECT * FROM {{db}}.`{name}`{final}{where}"),
                               tmp_path / f"{label}.parquet")
            if name in ROLLUPS:  # a source rollup may hold rows not merged yet: compare merged (FINAL) rows
                assert _count(con, tmp_path / "a.parquet") == _count(con, tmp_path / "b.parquet"), name
                continue
            assert _same_rows(con, tmp_path / "a.parquet", tmp_path / "b.parquet"), name
    finally:
        client.command(f"DROP DATABASE IF EXISTS `{target_db}` SYNC")


# -- records on PostgreSQL -----------------------------------------------------------------------------

@pytest.fixture
def pg_meta_url(postgres_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for the records store."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from backend.meta import close_meta

    name = f"backup_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        close_meta(url)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _records(url: str) -> dict[str, list[tuple]]:
    """Every records table as rows of plain values (instants in UTC), read through SQLAlchemy."""
    from datetime import UTC, datetime

    from sqlalchemy import MetaData, create_engine, select

    engine = create_engine(url)
    try:
        md = MetaData()
        md.reflect(engine)
        out = {}
        with engine.connect() as conn:
            for table in md.sorted_tables:
                rows = conn.execute(select(table).order_by(*table.primary_key.columns or table.columns)).all()
                out[table.name] = [tuple(v.astimezone(UTC).replace(tzinfo=None) if isinstance(v, datetime)
                                         and v.tzinfo else v for v in row) for row in rows]
        return out
    finally:
        engine.dispose()


def test_records_restore_into_postgresql_and_back_into_sqlite(work: dict[str, Path], pg_meta_url: str,
                                                              tmp_path: Path) -> None:
    from backend.meta import open_meta
    from backend.meta.views import SavedViews

    source = _records(f"sqlite:///{work['src'] / 'meta.sqlite3'}")
    done = cli("restore", work["backup"], data_dir=tmp_path / "d1", meta_url=pg_meta_url)
    assert done.returncode == 0, done.stderr
    assert _records(pg_meta_url) == source
    assert not (tmp_path / "d1" / "meta.sqlite3").exists()

    # New records continue after the restored ids.
    views = SavedViews(open_meta(pg_meta_url))
    added = views.create("local", "After restore", "/pivot", {"dims": ["book"]})
    assert added.id == max(row[0] for row in source["saved_views"]) + 1

    refused = cli("restore", work["backup"], data_dir=tmp_path / "d2", meta_url=pg_meta_url)
    assert refused.returncode == 2 and "already holds records" in refused.stderr
    assert not (tmp_path / "d2").exists() or not any((tmp_path / "d2").iterdir())
    forced = cli("restore", work["backup"], "--force", data_dir=tmp_path / "d2", meta_url=pg_meta_url)
    assert forced.returncode == 0, forced.stderr
    assert _records(pg_meta_url) == source

    # A backup of PostgreSQL records restores into the embedded SQLite file, row for row.
    made = cli("create", tmp_path / "b2", data_dir=tmp_path / "d2", meta_url=pg_meta_url)
    assert made.returncode == 0, made.stderr
    assert json.loads((tmp_path / "b2" / MANIFEST_NAME).read_text())["records"]["backend"] == "postgresql"
    back = cli("restore", tmp_path / "b2", data_dir=tmp_path / "d3")
    assert back.returncode == 0, back.stderr
    assert _sqlite_rows(tmp_path / "d3" / "meta.sqlite3") == _sqlite_rows(work["src"] / "meta.sqlite3")
