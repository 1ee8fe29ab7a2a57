"""Generator and bulk-load throughput, side by side with a DuckDB reference.

    python -m benchmarks.datagen [--rows 20000000] [--workers N] [--keep DIR]

Generation: ``generate_to_folder`` against DuckDB's multi-threaded
``COPY (SELECT ... FROM range(N)) TO parquet`` of the same number of rows with the
same 56 column types (random values, low-cardinality strings), the fastest
general-purpose way to write such a file on this machine.
Loading: ``load_folder`` (insert, rollup view, OPTIMIZE FINAL) into a throwaway
chDB folder, against a plain ``INSERT ... SELECT FROM file()`` of the reference
file into a copy of trades_1d without the rollup.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

from backend.datagen import generate_to_folder
from backend.warehouse import close_all, open_warehouse
from backend.warehouse.loader import load_folder
from backend.warehouse.schema import TRADES_COLUMNS

START, END = date(2024, 1, 2), date(2024, 12, 31)


def _reference_select(rows: int) -> str:
    exprs = []
    for k, (name, ctype) in enumerate(TRADES_COLUMNS):
        if ctype == "UInt64":
            value = "i::UBIGINT"
        elif ctype == "UInt8":
            value = f"(hash(i, {k}) % 2)::UTINYINT"
        elif ctype == "Date":
            value = f"DATE '2024-01-02' + (hash(i, {k}) % 365)::INTEGER"
        elif ctype == "DateTime":
            value = f"TIMESTAMP '2024-01-02' + to_seconds((hash(i, {k}) % 31536000)::BIGINT)"
        elif ctype == "Float64":
            value = "random() * 1e6 - 5e5"
        else:
            value = f"('v' || (hash(i, {k}) % 20)::VARCHAR)"
        exprs.append(f"{value} AS {name}")
    return f"SELECT {', '.join(exprs)} FROM range({rows}) t(i)"


def _peak_rss_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.datagen")
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it")
    args = parser.parse_args(argv)

    import duckdb

    work = args.keep or Path(tempfile.mkdtemp(prefix="deskboard-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        report = generate_to_folder(work / "gen", rows=args.rows, start=START, end=END, seed=7, workers=args.workers)
        gen_s = time.perf_counter() - t0
        gen_bytes = sum(p.stat().st_size for p in report.files)

        ref_file = work / "reference.parquet"
        t0 = time.perf_counter()
        duckdb.sql(
            f"COPY ({_reference_select(report.rows)}) TO '{ref_file}' "
            "(FORMAT parquet, COMPRESSION lz4, ROW_GROUP_SIZE 262144)"
        )
        ref_s = time.perf_counter() - t0

        wh = open_warehouse(f"chdb://{work / 'warehouse'}", "bench")
        t0 = time.perf_counter()
        loaded = load_folder(wh, work / "gen")
        load_s = time.perf_counter() - t0
        wh.command("CREATE TABLE {db}.ref AS {db}.trades_1d")
        t0 = time.perf_counter()
        wh.command("INSERT INTO {db}.ref SELECT * FROM file({p:String}, Parquet)", {"p": str(ref_file)})
        ref_load_s = time.perf_counter() - t0
        close_all()

        own, children = _peak_rss_mb()
        rows = report.rows
        print(f"rows {rows:,} (Direct {report.by_exposure['Direct']:,}, ETF {report.by_exposure['ETF']:,}, "
              f"ETC {report.by_exposure['ETC']:,}, Constituent {report.by_exposure['Constituent']:,}), "
              f"{len(report.files)} files, {gen_bytes / 1e9:.2f} GB")
        print(f"{'':28}{'deskboard':>14}{'reference':>14}{'ratio':>8}")
        print(f"{'generate rows/s':28}{rows / gen_s:>14,.0f}{rows / ref_s:>14,.0f}{ref_s / gen_s:>8.2f}x"
              f"   (reference: DuckDB COPY of random columns, {ref_file.stat().st_size / 1e9:.2f} GB)")
        print(f"{'load rows/s':28}{loaded.trades / load_s:>14,.0f}{rows / ref_load_s:>14,.0f}"
              f"{ref_load_s / load_s:>8.2f}x   (reference: plain INSERT FROM file(), no rollup, no OPTIMIZE)")
        print(f"{'seconds':28}{gen_s:>14.1f}{ref_s:>14.1f}   generate")
        print(f"{'':28}{load_s:>14.1f}{ref_load_s:>14.1f}   load")
        print(f"{'generate + load seconds':28}{gen_s + load_s:>14.1f}")
        print(f"peak RSS: this process {own:,.0f} MB, largest worker {children:,.0f} MB")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
