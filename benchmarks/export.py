"""Raw-trades CSV export speed, beside DuckDB writing the same rows to CSV.

    .venv/bin/python -m benchmarks.export [--rows 1000000]

Uses the generator folder kept under /tmp/deskboard-bench/<rows> (generated once,
shared with benchmarks.pivot_browser), loads it into a throwaway chDB
folder, streams every trade of the data's date range through the same function
the /api/v1/trades.csv route serves, and times DuckDB's COPY of the same Parquet
to CSV in the same run. Target: 1 million rows in at most 10 s, no row cap.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _data(rows: int) -> Path:
    """The generator folder for ``rows`` trades under /tmp/deskboard-bench (made once, shared)."""
    from backend.datagen import generate_to_folder

    folder = Path(tempfile.gettempdir()) / "deskboard-bench" / str(rows)
    if not (folder / "instruments.parquet").exists():
        print(f"generating {rows:,} trades into {folder} (once) ...", flush=True)
        generate_to_folder(folder, rows=rows, start=date(2024, 1, 2), end=date(2024, 12, 31), seed=7)
    return folder


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()

    import duckdb

    from backend.pivot.drill import drill_scope
    from backend.pivot.engine import latest_trade_date
    from backend.pivot.export import stream_trades_csv
    from backend.warehouse import close_all, open_warehouse
    from backend.warehouse.loader import load_folder
    folder = _data(args.rows)
    work = Path(tempfile.mkdtemp(prefix="deskboard-export-"))
    try:
        wh = open_warehouse(f"chdb://{work / 'warehouse'}", "bench")
        load_folder(wh, folder)
        first = wh.query_rows("SELECT min(trade_date) FROM {db}.trades_1d")[0][0]
        last = latest_trade_date(wh)
        body = {
            "dimensions": ["desk"],
            "metrics": ["notional"],
            "filters": {"trade_date": {"from": first.isoformat(), "to": last.isoformat()}},
            "exposure": "as_held",
        }
        scope = drill_scope(body, [])
        started = time.perf_counter()
        size = lines = 0
        for chunk in stream_trades_csv(wh, scope):
            size += len(chunk)
            lines += chunk.count(b"\n")
        ours = time.perf_counter() - started
        rows = lines - 1

        print(f"deskboard: {rows:,} rows in {ours:.2f} s (stocks as of {last}: the is_as_of_date rows)", flush=True)
        out = work / "reference.csv"
        con = duckdb.connect()
        started = time.perf_counter()
        con.execute(
            f"COPY (SELECT * FROM read_parquet('{folder}/trades_1d/*.parquet') "
            "WHERE exposure_type IN ('Direct', 'ETF', 'ETC') ORDER BY trade_date, trade_id) "
            f"TO '{out}' (HEADER, DELIMITER ',')"
        )
        reference = time.perf_counter() - started
        ref_rows = con.execute(f"SELECT count(*) FROM read_csv('{out}')").fetchone()[0]
    finally:
        close_all()
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nraw-trades CSV export, as held, {first} .. {last}")
    print(f"{'run':<34}{'rows':>12}{'seconds':>10}{'rows/s':>12}{'MB':>8}")
    print(f"{'deskboard stream_trades_csv':<34}{rows:>12,}{ours:>10.2f}{rows / ours:>12,.0f}{size / 1e6:>8.0f}")
    print(f"{'reference: DuckDB COPY TO csv':<34}{ref_rows:>12,}{reference:>10.2f}{ref_rows / reference:>12,.0f}")
    print(f"ratio (deskboard time / reference time): {ours / reference:.2f}x")
    per_million = ours / rows * 1e6
    print(f"target 1M rows <= 10 s: {per_million:.1f} s per million rows — {'met' if per_million <= 10 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
