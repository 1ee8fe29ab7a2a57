"""What the backup tests share: a source data directory backed up and restored by the CLI, and readers.

chDB lets one process open one warehouse folder, and this pytest process may hold the
session's. So the source data directory is built, backed up, restored and read back in
child processes (the CLI as a user runs it); the tests compare what they wrote with
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
from pathlib import Path

import duckdb
import pytest

from backend.backup.manifest import MANIFEST_NAME

ROOT = Path(__file__).resolve().parents[2]
BASE_TABLES = ("constituents", "data_loads", "instruments", "market_alerts", "market_basis", "market_foreign",
               "market_index", "market_trades", "trades_1d", "usage_events")
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


def _sqlite_rows(path: Path) -> dict[str, list[tuple]]:
    con = sqlite3.connect(path)
    try:
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {n: sorted(con.execute(f'SELECT * FROM "{n}"').fetchall(), key=repr) for n in names}
    finally:
        con.close()


def _copy(work: dict[str, Path], tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(work["backup"], copy)
    return copy


def _edit_manifest(folder: Path, change) -> None:
    path = folder / MANIFEST_NAME
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _replace_file(folder: Path, name: str, data: bytes, rows: int) -> None:
    """Put ``data`` in the backup as ``name`` with a manifest that vouches for it (a backup made so)."""
    (folder / name).write_bytes(data)

    def vouch(m: dict) -> None:
        m["files"][name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        m["warehouse"]["tables"][Path(name).stem]["rows"] = rows

    _edit_manifest(folder, vouch)
