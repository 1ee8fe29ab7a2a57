"""Backups: a full round trip checked table by table, and every way a restore must refuse.

chDB lets one process open one warehouse folder, and this pytest process may hold the
session's. So the source data directory is built, backed up, restored and read back in
child processes (the CLI as a user runs it); this process compares what they wrote with
DuckDB and sqlite3, which share no code with the backup.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from backend.backup.common import BackupRefused
from backend.backup.create import prepare_destination
from backend.backup.manifest import MANIFEST_MAX_BYTES, MANIFEST_NAME, read_manifest, verify_files
from backend.backup.restore import open_backup, restore_backup
from backend.config import load_settings
from backend.warehouse.schema import MIGRATIONS

ROOT = Path(__file__).resolve().parents[2]
BASE_TABLES = ("constituents", "data_loads", "instruments", "market_alerts", "market_basis", "market_foreign",
               "market_index", "market_trades", "trades_1d")
ROLLUPS = ("trades_1d_rollup", "trades_1d_book_rollup", "trades_1d_counterparty_rollup")
CLI_TIMEOUT = 300

# Builds a source data directory the way the app fills one: generated trades loaded by the
# loader, market history rows with awkward values, saved views and jobs, a side database,
# measurement files and a completed job's result file.
BUILD = textwrap.dedent("""
    import sqlite3, sys
    from datetime import date
    from pathlib import Path
    from backend.datagen import generate_to_folder
    from backend.jobs.store import JobStore
    from backend.jobs.states import JobState
    from backend.meta import open_meta
    from backend.meta.views import SavedViews
    from backend.warehouse import close_all, open_warehouse
    from backend.warehouse.loader import load_folder

    src = Path(sys.argv[1])
    generate_to_folder(src.parent / "generated", rows=4000, start=date(2024, 1, 2), end=date(2024, 2, 9), seed=5)
    wh = open_warehouse(f"chdb://{src}/warehouse")
    load_folder(wh, src.parent / "generated")
    wh.command("INSERT INTO {db}.market_foreign VALUES (now64(3), today(), 'FPT', 1, 2, 3.5, inf, NULL, -5), "
               "(now64(3) - INTERVAL 1 DAY, today() - 1, 'VNM', 0, 18446744073709551615, nan, -0.0, 7, NULL)")
    wh.command("INSERT INTO {db}.market_alerts VALUES ('a1', now64(3), today(), 'VN30F1M', 'basis', 'warn', "
               "'tiếng Việt \\\\n \\"quoted\\" ''single''', 1.25, 1, 'r1', NULL, '', 1)")
    # Its acknowledgement, inserted apart: two rows until a merge replaces the first.
    wh.command("INSERT INTO {db}.market_alerts VALUES "
               "('a1', now64(3), today(), 'VN30F1M', 'basis', 'warn', 'acked', 1.25, 1, 'r1', now64(3), 'ana', 2)")
    wh.command("INSERT INTO {db}.market_trades SELECT now64(3) + number, today(), 'HPG', 27000 + number, 100, 1, "
               "100 * number, 2.7e6 * number FROM numbers(500)")
    close_all()
    meta = open_meta(f"sqlite:///{src}/meta.sqlite3")
    views = SavedViews(meta)
    views.create("local", "Desk ✓ view", "/pivot", {"dims": ["desk", "book"], "q": "a&b=c"})
    views.create("ana", "Ana's", "/market", {"symbol": "VNM"})
    jobs = JobStore(meta)
    done = jobs.create(kind="probe", parameters={"steps": 1}, owner="local", runner="embedded", placement="worker")
    jobs.claim(done.id, "w", 1)
    jobs.transition(done.id, JobState.COMPLETED, result={"file": "probe.txt", "summary": "ok"}, message="ok")
    running = jobs.create(kind="probe", parameters={}, owner="ana", runner="embedded", placement="worker")
    jobs.claim(running.id, "w", 2)
    for job_id, text in ((done.id, "completed result"), (running.id, "half-written")):
        (src / "job-results" / str(job_id)).mkdir(parents=True)
        (src / "job-results" / str(job_id) / "probe.txt").write_text(text)
    (src / "measurements" / "vn30_1").mkdir(parents=True)
    import pyarrow as pa, pyarrow.parquet as pq
    pq.write_table(pa.table({"ts": list(range(100)), "close": [1.5 * i for i in range(100)]}),
                   src / "measurements" / "vn30_1" / "part-0.parquet")
    (src / "measurements" / "README").write_text("measurements")
    side = sqlite3.connect(src / "market.sqlite3")
    side.execute("PRAGMA journal_mode=WAL")  # as the market service keeps it
    side.execute("CREATE TABLE watch (id TEXT PRIMARY KEY, symbols TEXT)")
    side.executemany("INSERT INTO watch VALUES (?, ?)", [("w1", "VNM,FPT"), ("w2", "HPG")])
    side.commit()
    side.close()
    print(done.id, running.id)
""")

# Writes every warehouse table (rollups included) to Parquet through clickhouse-connect's Arrow
# reader: a path independent of the engine's Parquet writer that the backup uses.
DUMP = textwrap.dedent("""
    import sys
    from pathlib import Path
    import pyarrow.parquet as pq
    from backend.warehouse import open_warehouse
    url, database, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    wh = open_warehouse(url, database, migrate=False)
    for (name,) in wh.query_rows("SELECT name FROM system.tables WHERE database = {d:String} "
                                 "AND engine NOT IN ('View', 'MaterializedView')", {"d": database}):
        pq.write_table(wh.query_arrow(f"SELECT * FROM {{db}}.`{name}`"), out / f"{name}.parquet")
""")

# Holds the warehouse folder open, as the running app does, until its standard input closes.
HOLD = textwrap.dedent("""
    import sys
    from backend.warehouse import open_warehouse
    wh = open_warehouse(sys.argv[1])
    wh.query_rows("SELECT 1")
    print("ready", flush=True)
    sys.stdin.read()
""")


def _env(data_dir: Path | None = None, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESKBOARD_")}
    if data_dir is not None:
        env["DESKBOARD_DATA_DIR"] = str(data_dir)
    env.update({f"DESKBOARD_{name.upper()}": value for name, value in settings.items()})
    env["PYTHONPATH"] = str(ROOT)
    return env


def _python(script: str, *args: object) -> str:
    done = subprocess.run([sys.executable, "-c", script, *map(str, args)], check=False, cwd=ROOT,
                          env=_env(), capture_output=True, text=True, timeout=CLI_TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def cli(*args: object, data_dir: Path | None = None, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "backend.backup", *map(str, args), "--quiet"], check=False,
                          cwd=ROOT, env=_env(data_dir, **settings), capture_output=True, text=True, timeout=CLI_TIMEOUT)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Source data dir → CLI backup → CLI restore into an empty dir; both warehouses dumped for comparison."""
    root = tmp_path_factory.mktemp("backup")
    paths = {"root": root, "src": root / "src", "backup": root / "backup", "dst": root / "dst",
             "check_src": root / "check-src", "check_dst": root / "check-dst"}
    job_ids = _python(BUILD, paths["src"]).split()
    paths["completed_job"], paths["running_job"] = Path(job_ids[0]), Path(job_ids[1])
    _python(DUMP, f"chdb://{paths['src']}/warehouse", "deskboard", paths["check_src"])
    made = cli("create", paths["backup"], data_dir=paths["src"])
    assert made.returncode == 0, made.stderr
    assert "backup written to" in made.stdout
    restored = cli("restore", paths["backup"], data_dir=paths["dst"])
    assert restored.returncode == 0, restored.stderr
    _python(DUMP, f"chdb://{paths['dst']}/warehouse", "deskboard", paths["check_dst"])
    return paths


def _count(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    return con.execute("SELECT count(*) FROM read_parquet(?)", [str(path)]).fetchone()[0]


def _missing(con: duckdb.DuckDBPyConnection, a: str, b: str) -> int:
    """Rows of ``a`` that ``b`` lacks, counting duplicates (multiset difference)."""
    return con.execute(f"SELECT count(*) FROM ({a} EXCEPT ALL {b})").fetchone()[0]


def _select(con: duckdb.DuckDBPyConnection, path: Path, like: Path) -> str:
    """All columns of ``path``, a DateTime read as seconds (the Arrow reader's form) made a timestamp like ``like``'s."""
    mine = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
    theirs = dict(con.execute(f"DESCRIBE SELECT * FROM read_parquet('{like}')").fetchall()[i][:2]
                  for i in range(len(mine)))
    columns = [f'to_timestamp("{name}") AS "{name}"' if kind == "UINTEGER" and theirs.get(name, "").startswith(
        "TIMESTAMP") else f'"{name}"' for name, kind, *_ in mine]
    return f"SELECT {', '.join(columns)} FROM read_parquet('{path}')"


def _same_rows(con: duckdb.DuckDBPyConnection, a: Path, b: Path) -> bool:
    """Whether two Parquet files hold the same multiset of rows (DuckDB, after aligning DateTime columns)."""
    left, right = _select(con, a, b), _select(con, b, a)
    return _missing(con, left, right) == 0 and _missing(con, right, left) == 0


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


def _sqlite_rows(path: Path) -> dict[str, list[tuple]]:
    con = sqlite3.connect(path)
    try:
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {n: sorted(con.execute(f'SELECT * FROM "{n}"').fetchall(), key=repr) for n in names}
    finally:
        con.close()


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


def test_restore_refuses_a_non_empty_data_dir_and_force_moves_it_aside(work: dict[str, Path], tmp_path: Path) -> None:
    before = sorted(p.name for p in work["dst"].iterdir())
    again = cli("restore", work["backup"], data_dir=work["dst"])
    assert again.returncode == 2
    assert "is not empty" in again.stderr and "--force" in again.stderr
    assert sorted(p.name for p in work["dst"].iterdir()) == before

    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    forced = cli("restore", work["backup"], "--force", data_dir=target)
    assert forced.returncode == 0, forced.stderr
    aside = [p for p in target.iterdir() if p.name.startswith(".replaced-")]
    assert len(aside) == 1 and (aside[0] / "notes.txt").read_text() == "keep me"
    assert "moved to" in forced.stdout
    assert (target / "warehouse").is_dir() and (target / "meta.sqlite3").is_file()
    assert not [p for p in target.iterdir() if p.name.startswith(".restore-")]


def _copy(work: dict[str, Path], tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(work["backup"], copy)
    return copy


def _edit_manifest(folder: Path, change) -> None:
    path = folder / MANIFEST_NAME
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _refused(folder: Path, tmp_path: Path, needle: str) -> None:
    """Restoring ``folder`` is refused naming ``needle``, and the target data dir is never created."""
    target = tmp_path / "target"
    with pytest.raises(BackupRefused) as refused:
        restore_backup(folder, load_settings(data_dir=target))
    assert needle in str(refused.value)
    assert not target.exists()


def test_restore_refuses_a_changed_file_of_the_same_size(work: dict[str, Path], tmp_path: Path) -> None:
    copy = _copy(work, tmp_path)
    path = copy / "records" / "saved_views.jsonl"
    data = bytearray(path.read_bytes())
    data[5] ^= 1
    path.write_bytes(bytes(data))
    _refused(copy, tmp_path, "does not match its checksum")


def test_restore_refuses_a_truncated_file(work: dict[str, Path], tmp_path: Path) -> None:
    copy = _copy(work, tmp_path)
    path = copy / "warehouse" / "trades_1d.parquet"
    path.write_bytes(path.read_bytes()[:-100])
    _refused(copy, tmp_path, "truncated")


def test_restore_refuses_a_missing_file(work: dict[str, Path], tmp_path: Path) -> None:
    copy = _copy(work, tmp_path)
    (copy / "measurements" / "README").unlink()
    _refused(copy, tmp_path, "measurements/README is missing")


def test_restore_refuses_a_linked_file(work: dict[str, Path], tmp_path: Path) -> None:
    copy = _copy(work, tmp_path)
    path = copy / "measurements" / "README"
    outside = tmp_path / "outside"
    outside.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(outside)
    _refused(copy, tmp_path, "link")


def test_restore_refuses_a_backup_from_a_newer_schema(work: dict[str, Path], tmp_path: Path) -> None:
    copy = _copy(work, tmp_path)
    _edit_manifest(copy, lambda m: m["warehouse"].update(schema_version=999))
    _refused(copy, tmp_path, "newer than this Deskboard knows")
    copy2 = tmp_path / "copy2"
    shutil.copytree(work["backup"], copy2)
    _edit_manifest(copy2, lambda m: m["records"].update(revision="9999_future"))
    _refused(copy2, tmp_path, "newer than this Deskboard knows")
    copy3 = tmp_path / "copy3"
    shutil.copytree(work["backup"], copy3)
    _edit_manifest(copy3, lambda m: m.update(format_version=2))
    _refused(copy3, tmp_path, "newer Deskboard")


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/passwd", "warehouse/../../x", "warehouse//x",
                                  "warehouse\\..\\x", "warehouse/x\x00y", "elsewhere/x", "warehouse"])
def test_restore_refuses_file_names_outside_the_backup(work: dict[str, Path], tmp_path: Path, name: str) -> None:
    copy = _copy(work, tmp_path)
    _edit_manifest(copy, lambda m: m["files"].update({name: {"bytes": 1, "sha256": "0" * 64}}))
    with pytest.raises(BackupRefused, match="the manifest names a file"):
        read_manifest(copy)


def test_restore_refuses_table_names_that_are_not_identifiers(work: dict[str, Path], tmp_path: Path) -> None:
    copy = _copy(work, tmp_path)

    def rename(m: dict) -> None:
        m["warehouse"]["tables"]["x`; DROP TABLE trades_1d; --"] = m["warehouse"]["tables"].pop("instruments")

    _edit_manifest(copy, rename)
    _refused(copy, tmp_path, "invalid warehouse table")


def test_restore_refuses_damaged_and_oversized_manifests(work: dict[str, Path], tmp_path: Path) -> None:
    copy = _copy(work, tmp_path)
    manifest = copy / MANIFEST_NAME
    manifest.write_text(manifest.read_text()[:200])
    _refused(copy, tmp_path, "not valid JSON")
    manifest.write_text("[1, 2, 3]")
    _refused(copy, tmp_path, "not a Deskboard backup manifest")
    manifest.write_text("[" * 200_000 + "]" * 200_000)
    _refused(copy, tmp_path, "nests deeper than any manifest")
    with open(manifest, "wb") as handle:  # a sparse file: large on paper, cheap on disk
        handle.truncate(MANIFEST_MAX_BYTES + 1)
    _refused(copy, tmp_path, "more than any Deskboard manifest")
    manifest.unlink()
    _refused(copy, tmp_path, "holds no manifest.json")
    _edit_rows = _copy(work, tmp_path / "rows")
    _edit_manifest(_edit_rows, lambda m: m["warehouse"]["tables"]["trades_1d"].update(rows=-1))
    _refused(_edit_rows, tmp_path, "not a valid manifest")


def test_restore_names_a_file_given_as_the_backup(tmp_path: Path) -> None:
    file = tmp_path / "backup.tar"
    file.write_text("not a folder")
    _refused(file, tmp_path, "is a file, not a backup folder")
    _refused(tmp_path / "nowhere", tmp_path, "does not exist")


def test_cli_refuses_a_tampered_backup_with_a_clear_message(work: dict[str, Path], tmp_path: Path) -> None:
    copy = _copy(work, tmp_path)
    path = copy / "warehouse" / "instruments.parquet"
    path.write_bytes(path.read_bytes()[:-1] + b"X")
    target = tmp_path / "target"
    done = cli("restore", copy, data_dir=target)
    assert done.returncode == 2
    assert done.stderr.startswith("error: the backup is damaged: warehouse/instruments.parquet")
    assert "Traceback" not in done.stderr
    assert not target.exists()
    assert cli("verify", copy).returncode == 2
    ok = cli("verify", work["backup"])
    assert ok.returncode == 0 and "is complete" in ok.stdout


def test_create_refuses_hostile_destinations(work: dict[str, Path], tmp_path: Path) -> None:
    file = tmp_path / "a-file"
    file.write_text("x")
    with pytest.raises(BackupRefused, match="is a file, not a folder"):
        prepare_destination(file)
    with pytest.raises(BackupRefused, match="is not empty"):
        prepare_destination(work["backup"])
    with pytest.raises(BackupRefused, match="does not exist: create it first"):
        prepare_destination(tmp_path / "missing" / "backup")
    with pytest.raises(BackupRefused, match="cannot write in /sys"):
        prepare_destination(Path("/sys/deskboard-backup"))
    assert [p.name for p in tmp_path.iterdir()] == ["a-file"]
    done = cli("create", file, data_dir=work["src"])
    assert done.returncode == 2 and "is a file, not a folder" in done.stderr
    inside = cli("create", work["src"] / "measurements" / "b", data_dir=work["src"])
    assert inside.returncode == 2 and "which the backup copies" in inside.stderr
    nothing = cli("create", tmp_path / "b", data_dir=tmp_path / "no-data")
    assert nothing.returncode == 2 and "there is nothing to back up" in nothing.stderr


def test_create_and_restore_say_so_when_the_app_holds_the_data_dir(work: dict[str, Path], tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, f"chdb://{work['dst']}/warehouse"], cwd=ROOT,
                              env=_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        made = cli("create", tmp_path / "b", data_dir=work["dst"])
        assert made.returncode == 3
        assert "in use by a running Deskboard" in made.stderr and "admin page" in made.stderr
        assert not (tmp_path / "b").exists() and not list(tmp_path.iterdir())
        forced = cli("restore", work["backup"], "--force", data_dir=work["dst"])
        assert forced.returncode == 3 and "stop the app" in forced.stderr
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=60)


def test_restore_into_a_file_data_dir_is_refused(work: dict[str, Path], tmp_path: Path) -> None:
    file = tmp_path / "data"
    file.write_text("x")
    done = cli("restore", work["backup"], "--force", data_dir=file)
    assert done.returncode == 2 and "not a folder" in done.stderr and "Traceback" not in done.stderr
    assert file.read_text() == "x" and sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_verify_reports_progress_over_every_file(work: dict[str, Path]) -> None:
    manifest = open_backup(work["backup"])
    seen: list[float] = []
    verify_files(work["backup"], manifest, lambda fraction, _message: seen.append(fraction))
    assert len(seen) == len(manifest.files) and seen[-1] == pytest.approx(1.0)
    assert seen == sorted(seen)


def _replace_file(folder: Path, name: str, data: bytes, rows: int) -> None:
    """Put ``data`` in the backup as ``name`` with a manifest that vouches for it (a backup made so)."""
    (folder / name).write_bytes(data)

    def vouch(m: dict) -> None:
        m["files"][name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        m["warehouse"]["tables"][Path(name).stem]["rows"] = rows

    _edit_manifest(folder, vouch)


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


def test_restore_refuses_a_parquet_file_whose_rows_differ_from_the_manifest(work: dict[str, Path],
                                                                           tmp_path: Path) -> None:
    copy = _copy(work, tmp_path)
    name = "warehouse/instruments.parquet"
    _replace_file(copy, name, (copy / name).read_bytes(), 1)
    target = tmp_path / "target"
    done = cli("restore", copy, data_dir=target)
    assert done.returncode == 2 and "different number of rows than the manifest says" in done.stderr
    assert not target.exists()
    # Forced over a data dir in use before: the failure leaves it exactly as it was.
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    forced = cli("restore", copy, "--force", data_dir=target)
    assert forced.returncode == 2 and "different number of rows" in forced.stderr
    assert [p.name for p in target.iterdir()] == ["notes.txt"]


# -- the running app's backup: through its own open warehouse, as a job ------------------------------

@pytest.fixture
def online_app(fresh_warehouse, warehouse_url: str, tmp_path: Path):
    """A data dir whose warehouse is the session's open chDB (as the app holds it), with trades and records."""
    from datetime import date

    from backend.datagen import generate_to_folder
    from backend.meta import open_meta
    from backend.meta.views import SavedViews
    from backend.warehouse.loader import load_folder

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    generate_to_folder(tmp_path / "gen", rows=1500, start=date(2024, 3, 1), end=date(2024, 3, 15), seed=9)
    load_folder(fresh_warehouse, tmp_path / "gen")
    settings = load_settings(data_dir=data_dir, warehouse_dsn=warehouse_url,
                             warehouse_database=fresh_warehouse.database)
    meta = open_meta(settings.meta_database_url)
    SavedViews(meta).create("local", "Morning", "/pivot", {"dims": ["desk"]})
    return settings, fresh_warehouse, meta


def _running_job(meta, name: str):
    from backend.jobs.store import JobStore

    store = JobStore(meta)
    job = store.create(kind="backup", parameters={"name": name}, owner="local", runner="embedded", placement="web")
    assert store.claim(job.id, "test", os.getpid())
    return store, store.get(job.id)


def test_backup_job_reads_the_running_apps_warehouse_and_restores(online_app, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from backend.backup import list_backups
    from backend.backup.job import BackupParams, run_backup
    from backend.jobs.context import JobContext

    settings, wh, meta = online_app
    store, job = _running_job(meta, "nightly")
    ctx = JobContext(store, job, settings, warehouse=lambda: wh)
    result = run_backup(ctx, BackupParams(name="nightly"))
    folder = settings.data_dir / "backups" / "nightly"
    assert result["folder"] == str(folder) and (folder / MANIFEST_NAME).is_file()
    assert (store.get(job.id).progress, store.get(job.id).message) == (1.0, "backup complete")
    manifest = read_manifest(folder)
    assert manifest.mode == "online" and manifest.warehouse.database == wh.database

    # The stored trades are the warehouse's own rows (multiset equality, computed by DuckDB).
    pq.write_table(wh.query_arrow("SELECT * FROM {db}.trades_1d"), tmp_path / "live.parquet")
    con = duckdb.connect()
    assert _count(con, tmp_path / "live.parquet") == manifest.warehouse.tables["trades_1d"].rows > 1000
    assert _same_rows(con, tmp_path / "live.parquet", folder / "warehouse" / "trades_1d.parquet")
    # The job's own record was read while it ran: it is in the backup as RUNNING.
    jobs = (folder / "records" / "jobs.jsonl").read_text().splitlines()
    assert len(jobs) == 1 and '"RUNNING"' in jobs[0]

    listed = list_backups(settings.data_dir)
    assert [b.name for b in listed] == ["nightly"] and listed[0].problem is None
    assert listed[0].warehouse_rows == sum(t.rows for t in manifest.warehouse.tables.values())

    target = tmp_path / "restored"
    done = cli("restore", folder, data_dir=target)
    assert done.returncode == 0, done.stderr
    _python(DUMP, f"chdb://{target}/warehouse", "deskboard", tmp_path / "check")
    assert _same_rows(con, tmp_path / "live.parquet", tmp_path / "check" / "trades_1d.parquet")


def test_a_cancelled_backup_job_leaves_no_folder(online_app) -> None:
    from backend.backup import list_backups
    from backend.backup.job import BackupParams, run_backup
    from backend.jobs.context import JobContext
    from backend.jobs.states import JobCancelled

    settings, wh, meta = online_app
    store, job = _running_job(meta, "stopped")
    store.cancel(job.id)
    ctx = JobContext(store, job, settings, warehouse=lambda: wh)
    with pytest.raises(JobCancelled):
        run_backup(ctx, BackupParams(name="stopped"))
    backups = settings.data_dir / "backups"
    assert list(backups.iterdir()) == []
    (backups / "junk").mkdir()
    (backups / "junk" / MANIFEST_NAME).write_text("{")
    listed = list_backups(settings.data_dir)
    assert [b.name for b in listed] == ["junk"] and "not valid JSON" in (listed[0].problem or "")


@pytest.mark.parametrize("name", ["../etc", "a/b", ".hidden", "x" * 81, "", "nightly\n", "back up"])
def test_backup_job_names_are_plain_folder_names(name: str) -> None:
    from pydantic import ValidationError

    from backend.backup.job import BackupParams

    with pytest.raises(ValidationError):
        BackupParams(name=name)
    with pytest.raises(ValidationError):
        BackupParams.model_validate({"name": "ok", "folder": "/tmp"})


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


def test_restore_refuses_a_backup_inside_the_data_dir_it_would_replace(work: dict[str, Path]) -> None:
    with pytest.raises(BackupRefused, match="lies inside the data directory"):
        restore_backup(work["backup"], load_settings(data_dir=work["root"]), force=True)
    assert (work["backup"] / MANIFEST_NAME).is_file()


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


def test_backup_job_runs_through_the_job_runner_as_registered(online_app) -> None:
    """The kind as the runner registers it: the record ends COMPLETED with the backup's summary."""
    from backend.backup.job import BackupParams
    from backend.jobs.context import execute_job
    from backend.jobs.kinds import KINDS
    from backend.jobs.states import JobState

    settings, wh, meta = online_app
    kind = KINDS["backup"]
    assert kind.parameters is BackupParams and kind.needs_warehouse  # runs where the warehouse is open
    store, job = _running_job(meta, "weekly")
    done = execute_job(store, job.id, settings, heartbeat_seconds=0.5, warehouse=lambda: wh)
    assert done.state == JobState.COMPLETED, done.error
    assert done.result is not None and done.result["folder"] == str(settings.data_dir / "backups" / "weekly")
    assert done.message.startswith("backup weekly:")
    assert read_manifest(settings.data_dir / "backups" / "weekly").mode == "online"


def test_a_backup_too_large_to_restore_is_refused_when_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from backend.backup import BackupError, create_backup
    from backend.backup import create as create_module

    data_dir = tmp_path / "data"
    (data_dir / "measurements").mkdir(parents=True)
    for index in range(3):
        (data_dir / "measurements" / f"part-{index}.parquet").write_bytes(b"x")
    monkeypatch.setattr(create_module, "MAX_FILES", 2)
    with pytest.raises(BackupError, match="more than a restore accepts"):
        create_backup(tmp_path / "dest", data_dir=data_dir, warehouse=None, meta=None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
