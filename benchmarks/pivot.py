"""Pivot latency: Deskboard uncached and cached beside DuckDB over the same Parquet.

    python -m benchmarks.pivot --rows 20000000 [--repeat 15] [--seed 7]

Generates the trades once per (rows, seed) under /tmp/deskboard-bench (reused by
later runs), loads them into a throwaway chDB folder, then times each request.
DuckDB runs the same aggregation (same keys, same rollup levels, same sums,
look-through computed from the constituents file) over the raw Parquet in the
same process, so the ratio column compares like with like on this machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from backend.cache import cached_call, request_key
from backend.datagen import generate_to_folder
from backend.pivot import PivotRequest, run_pivot
from backend.warehouse import open_warehouse
from backend.warehouse.loader import load_folder

CACHE_ROOT = Path(tempfile.gettempdir()) / "deskboard-bench"
START, END = date(2024, 1, 2), date(2024, 12, 31)

REQUESTS: dict[str, dict[str, Any]] = {
    "3 dims (PM/asset class/symbol)": {
        "dimensions": ["portfolio_manager_id", "asset_class", "symbol"],
        "metrics": ["notional", "pnl", "gross_exposure", "trade_count"],
        "sort": {"field": "pnl", "direction": "desc"},
    },
    "3 dims + column split": {
        "dimensions": ["portfolio_manager_id", "asset_class", "symbol"],
        "columns": ["exposure_type"],
        "metrics": ["notional", "pnl"],
    },
    "look-through desk/sector/symbol": {
        "dimensions": ["desk", "sector", "symbol"],
        "metrics": ["notional", "pnl", "avg_price"],
        "exposure": "look_through",
    },
    "rollup: date x PM, one month": {
        "dimensions": ["trade_date", "portfolio_manager_id"],
        "metrics": ["net_exposure", "pnl_pct_gross"],
        "filters": {"trade_date": {"from": "2024-06-01", "to": "2024-06-30"}},
    },
    "raw only: book/strategy/counterparty": {
        "dimensions": ["book", "strategy", "counterparty"],
        "metrics": ["notional", "pnl", "avg_price"],
    },
}

_DUCK_SUMS = (
    "sum(notional) AS n, sum(pnl) AS p, sum(abs(notional)) AS g, count(*) AS c, "
    "sum(price * abs(quantity)) AS pq, sum(abs(quantity)) AS aq"
)


def data_folder(rows: int, seed: int) -> Path:
    folder = CACHE_ROOT / f"trades-{rows}-s{seed}"
    if not (folder / "COMPLETE").exists():
        print(f"generating {rows:,} rows into {folder} (once) ...", flush=True)
        shutil.rmtree(folder, ignore_errors=True)
        report = generate_to_folder(folder / "data", rows=rows, start=START, end=END, seed=seed)
        (folder / "COMPLETE").write_text(str(report.rows))
    return folder / "data"


def duckdb_query(con: duckdb.DuckDBPyConnection, folder: Path, body: dict[str, Any]) -> Callable[[], Any]:
    trades = f"read_parquet('{folder / 'trades_1d' / '*.parquet'}')"
    keys = [*body.get("columns", []), *body["dimensions"]]
    where = "TRUE"
    if "filters" in body:
        rng = body["filters"]["trade_date"]
        where = f"trade_date BETWEEN DATE '{rng['from']}' AND DATE '{rng['to']}'"
    if body.get("exposure") == "look_through":
        con.execute(
            "CREATE OR REPLACE TABLE cov AS SELECT parent_symbol AS fund, 1 - sum(weight) AS f "
            f"FROM read_parquet('{folder / 'constituents.parquet'}') GROUP BY 1"
        )
        source = (
            f"(SELECT * REPLACE (notional * f AS notional, pnl * f AS pnl, quantity * f AS quantity), "
            f"'Residual' AS exposure_type_v FROM (SELECT t.*, coalesce(cov.f, 1) AS f FROM {trades} t "
            "LEFT JOIN cov ON cov.fund = t.symbol WHERE t.exposure_type IN ('ETF', 'ETC')) WHERE abs(f) > 1e-9 "
            f"UNION ALL SELECT *, 1.0 AS f, exposure_type FROM {trades} "
            "WHERE exposure_type IN ('Direct', 'Constituent'))"
        )
    else:
        source = f"(SELECT * FROM {trades} WHERE exposure_type IN ('Direct', 'ETF', 'ETC'))"
    groups = ", ".join(keys)
    sql = f"SELECT {groups}, {_DUCK_SUMS} FROM {source} WHERE {where} GROUP BY ROLLUP({groups})"
    return lambda: con.sql(sql).to_arrow_table()


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    fn()  # warm: first call pays file opening and plan caching
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def p(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pivot")
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--duckdb-repeat", type=int, default=5)
    args = parser.parse_args(argv)

    folder = data_folder(args.rows, args.seed)
    work = Path(tempfile.mkdtemp(prefix="deskboard-bench-wh-"))
    try:
        wh = open_warehouse(f"chdb://{work / 'wh'}", "bench")
        t = time.perf_counter()
        report = load_folder(wh, folder)
        print(f"loaded {report.trades:,} trades in {time.perf_counter() - t:.1f} s; "
              f"tables: {wh.table_counts()}")
        from flask_caching.backends import FileSystemCache

        cache = FileSystemCache(str(work / "cache"), threshold=1000, default_timeout=600)
        con = duckdb.connect()
        print(f"load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
              "(figures from a busy machine are upper bounds)")
        header = (f"{'request':<38} {'source':<17} {'groups':>7} | {'uncached p50/p95 ms':>20} | "
                  f"{'cached p50/p95 ms':>18} | {'DuckDB p50/p95 ms':>18} | {'ratio p50':>9}")
        print(header)
        print("-" * len(header))
        for name, body in REQUESTS.items():
            req = PivotRequest.model_validate(body)
            result = run_pivot(wh, req)

            def cached(req: PivotRequest = req) -> Any:
                key = request_key("pivot", req.model_dump(mode="json"), wh.data_version())
                return cached_call(cache, key, lambda: run_pivot(wh, req).to_dict())

            raw = timed(lambda req=req: run_pivot(wh, req), args.repeat)
            hit = timed(cached, args.repeat)
            duck = timed(duckdb_query(con, folder, body), args.duckdb_repeat)
            print(f"{name:<38} {result.meta['source']:<17} {result.meta['groups']:>7} | "
                  f"{p(raw, 50):>9.1f} /{p(raw, 95):>8.1f} | {p(hit, 50):>8.2f} /{p(hit, 95):>7.2f} | "
                  f"{p(duck, 50):>8.1f} /{p(duck, 95):>7.1f} | {p(raw, 50) / p(duck, 50):>8.2f}x",
                  flush=True)
    finally:
        from backend.warehouse import close_all

        close_all()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
