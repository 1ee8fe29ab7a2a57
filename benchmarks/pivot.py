"""Pivot latency: Deskboard uncached and cached beside DuckDB over the same Parquet.

    python -m benchmarks.pivot --rows 20000000 [--repeat 15] [--seed 7] [--data-dir /tmp/x]

Generates the trades once per (rows, seed) under /tmp/deskboard-bench (reused by
later runs), loads them into a throwaway chDB folder beside it, then times each
request. DuckDB runs the same aggregation (same keys, same rollup levels, same
sums, stocks as of the last date with data, look-through computed from the
constituents file) over the raw Parquet in the same process, so the ratio column
compares like with like on this machine.

The budgets at the end are ratios measured in the same run (the machine is shared,
so absolute times move with its load): a column split costs at most 1.2x the
unsplit pivot; a pivot by book, strategy and counterparty takes at most half
DuckDB's time; and the time rule (stocks as of the last date) is set beside the
same pivot summing every day, as the engine did before the rule.
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
from backend.pivot import PivotRequest, choose_table, run_pivot
from backend.pivot.shape import shape
from backend.pivot.sql import build_query
from backend.warehouse import Warehouse, open_warehouse
from backend.warehouse.loader import load_folder

CACHE_ROOT = Path(tempfile.gettempdir()) / "deskboard-bench"
START, END = date(2024, 1, 2), date(2024, 12, 31)
THREE_DIMS = "3 dims (PM/asset class/symbol)"
SPLIT = "3 dims + column split"
SPLIT_TWIN = "3 dims, split's metrics, no split"
BOOKS = "book/strategy/counterparty"
SPLIT_BUDGET = 1.2
BOOKS_BUDGET = 0.5

REQUESTS: dict[str, dict[str, Any]] = {
    THREE_DIMS: {
        "dimensions": ["portfolio_manager_id", "asset_class", "symbol"],
        "metrics": ["notional", "pnl", "gross_exposure", "trade_count"],
        "sort": {"field": "pnl", "direction": "desc"},
    },
    SPLIT: {
        "dimensions": ["portfolio_manager_id", "asset_class", "symbol"],
        "columns": ["exposure_type"],
        "metrics": ["notional", "pnl"],
    },
    SPLIT_TWIN: {
        "dimensions": ["portfolio_manager_id", "asset_class", "symbol"],
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
    "exposure by desk/PM, one quarter": {
        "dimensions": ["desk", "portfolio_manager_id"],
        "metrics": ["gross_exposure", "net_exposure"],
        "filters": {"trade_date": {"from": "2024-04-01", "to": "2024-06-30"}},
    },
    BOOKS: {
        "dimensions": ["book", "strategy", "counterparty"],
        "metrics": ["notional", "pnl", "avg_price"],
    },
    "3 dims, two books (access filter)": {
        "dimensions": ["portfolio_manager_id", "asset_class", "symbol"],
        "metrics": ["notional", "pnl", "gross_exposure"],
        "filters": {"book": ["USEQ-PM01-CORE", "MACRO-PM12-TACTICAL"]},
    },
}

_DUCK_FLOWS = (
    "sum(notional) AS n, sum(pnl) AS p, count(*) AS c, sum(price * abs(quantity)) AS pq, sum(abs(quantity)) AS aq"
)
# Stocks over a range: as of the last date with data under the same filters.
_DUCK_STOCKS = (
    "sum(abs(notional)) FILTER (WHERE trade_date = (SELECT max(trade_date) FROM {source} WHERE {where})) AS g, "
    "sum(notional) FILTER (WHERE trade_date = (SELECT max(trade_date) FROM {source} WHERE {where})) AS ne"
)
_STOCK_METRICS = ("gross_exposure", "net_exposure", "long_exposure", "short_exposure", "pnl_pct_gross")


def data_folder(rows: int, seed: int, root: Path = CACHE_ROOT) -> Path:
    folder = root / f"trades-{rows}-s{seed}"
    if not (folder / "COMPLETE").exists():
        print(f"generating {rows:,} rows into {folder} (once) ...", flush=True)
        shutil.rmtree(folder, ignore_errors=True)
        report = generate_to_folder(folder / "data", rows=rows, start=START, end=END, seed=seed)
        (folder / "COMPLETE").write_text(str(report.rows))
    return folder / "data"


def duckdb_query(con: duckdb.DuckDBPyConnection, folder: Path, body: dict[str, Any]) -> Callable[[], Any]:
    trades = f"read_parquet('{folder / 'trades_1d' / '*.parquet'}')"
    keys = [*body.get("columns", []), *body["dimensions"]]
    conds = ["TRUE"]
    for name, value in body.get("filters", {}).items():
        if name == "trade_date":
            conds.append(f"trade_date BETWEEN DATE '{value['from']}' AND DATE '{value['to']}'")
        else:
            conds.append(f"{name} IN ({', '.join(repr(v) for v in value)})")
    where = " AND ".join(conds)
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
    sums = _DUCK_FLOWS
    if any(m in body["metrics"] for m in _STOCK_METRICS):
        sums += ", " + _DUCK_STOCKS.format(source=source, where=where)
    groups = ", ".join(keys)
    sql = f"SELECT {groups}, {sums} FROM {source} WHERE {where} GROUP BY ROLLUP({groups})"
    return lambda: con.sql(sql).to_arrow_table()


def legacy_pivot(wh: Warehouse, req: PivotRequest) -> Callable[[], Any]:
    """The same pivot summing every day's stocks, as the engine did before the time rule.

    The engine's own query for the average mode (range sums) without the time
    aggregates and with one "day", so each stock is its sum over the range; shaped
    the same way (benchmark only).
    """
    summed = req.model_copy(update={"stocks": "average"})
    query = build_query(summed, choose_table(summed), None)
    time_parts = "max(trade_date) AS _as_of, toUInt64(uniqExact(trade_date)) AS _stock_days"
    if time_parts not in query.sql:
        raise ValueError("the legacy form is the average-mode query without its time aggregates")
    sql = query.sql.replace(time_parts, "toDate('1970-01-01') AS _as_of, toUInt64(1) AS _stock_days")
    return lambda: shape(wh.query_arrow(sql, query.parameters), summed, query.sums, query.plan)


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


def _verdict(value: float, budget: float) -> str:
    return "met" if value <= budget else "missed"


def paired(a: Callable[[], Any], b: Callable[[], Any], rounds: int) -> tuple[float, float, float]:
    """Median wall ms of ``a`` and ``b`` timed alternately, and the median of the per-round ratios.

    Alternating keeps a busy neighbour from landing on one side of a ratio only.
    """
    a(), b()
    times_a, times_b, ratios = [], [], []
    for _ in range(rounds):
        t = time.perf_counter()
        a()
        t_a = time.perf_counter() - t
        t = time.perf_counter()
        b()
        t_b = time.perf_counter() - t
        times_a.append(t_a * 1000)
        times_b.append(t_b * 1000)
        ratios.append(t_a / t_b)
    return statistics.median(times_a), statistics.median(times_b), statistics.median(ratios)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pivot")
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--duckdb-repeat", type=int, default=5)
    parser.add_argument("--pairs", type=int, default=31, help="alternating rounds behind each budget ratio")
    parser.add_argument("--data-dir", type=Path, default=CACHE_ROOT,
                        help="where the generated Parquet is kept and the throwaway warehouse is made")
    args = parser.parse_args(argv)

    folder = data_folder(args.rows, args.seed, args.data_dir)
    work = Path(tempfile.mkdtemp(prefix="deskboard-bench-wh-", dir=args.data_dir))
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
        header = (f"{'request':<38} {'source':<29} {'groups':>7} | {'uncached p50/p95 ms':>20} | "
                  f"{'cached p50/p95 ms':>18} | {'DuckDB p50/p95 ms':>18} | {'ratio p50':>9}")
        print(header)
        print("-" * len(header))
        p50: dict[str, float] = {}
        duck50: dict[str, float] = {}
        for name, body in REQUESTS.items():
            req = PivotRequest.model_validate(body)
            result = run_pivot(wh, req)

            def cached(req: PivotRequest = req) -> Any:
                key = request_key("pivot", req.model_dump(mode="json"), wh.data_version())
                return cached_call(cache, key, lambda: run_pivot(wh, req).to_dict())

            raw = timed(lambda req=req: run_pivot(wh, req), args.repeat)
            hit = timed(cached, args.repeat)
            duck = timed(duckdb_query(con, folder, body), args.duckdb_repeat)
            p50[name], duck50[name] = p(raw, 50), p(duck, 50)
            print(f"{name:<38} {result.meta['source']:<29} {result.meta['groups']:>7} | "
                  f"{p(raw, 50):>9.1f} /{p(raw, 95):>8.1f} | {p(hit, 50):>8.2f} /{p(hit, 95):>7.2f} | "
                  f"{p(duck, 50):>8.1f} /{p(duck, 95):>7.1f} | {p(raw, 50) / p(duck, 50):>8.2f}x",
                  flush=True)

        def pivot(name: str) -> Callable[[], Any]:
            req = PivotRequest.model_validate(REQUESTS[name])
            return lambda: run_pivot(wh, req)

        rounds = args.pairs
        print(f"\nbudgets: median of per-round ratios, each pair timed alternately {rounds} times")
        split_ms, three_ms, split = paired(pivot(SPLIT), pivot(THREE_DIMS), rounds)
        _, twin_ms, twin = paired(pivot(SPLIT), pivot(SPLIT_TWIN), rounds)
        print(f"  column split vs the unsplit 3-dim pivot   {split:5.2f}x  budget <= {SPLIT_BUDGET}x: "
              f"{_verdict(split, SPLIT_BUDGET)}  ({split_ms:.1f} vs {three_ms:.1f} ms; "
              f"vs the same metrics unsplit {twin:.2f}x, {twin_ms:.1f} ms)")
        ours_ms, duck_ms, books = paired(pivot(BOOKS), duckdb_query(con, folder, REQUESTS[BOOKS]),
                                         max(3, rounds // 3))
        print(f"  book/strategy/counterparty vs DuckDB      {books:5.2f}x  budget <= {BOOKS_BUDGET}x: "
              f"{_verdict(books, BOOKS_BUDGET)}  ({ours_ms:.1f} vs {duck_ms:.1f} ms)")
        three = PivotRequest.model_validate(REQUESTS[THREE_DIMS])
        after, before, rule = paired(pivot(THREE_DIMS), legacy_pivot(wh, three), rounds)
        print(f"  3-dim rollup pivot and the time rule: every day summed (before) {before:.1f} ms, "
              f"stocks as of the last date (after) {after:.1f} ms: {rule:.2f}x")
    finally:
        from backend.warehouse import close_all

        close_all()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
