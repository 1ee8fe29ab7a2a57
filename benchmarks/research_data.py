"""Research data speed: import, reads, indicators and the explorer's redraw, each beside a reference.

    .venv/bin/python -m benchmarks.research_data [--import-rows 1000000] [--read-rows 10000000]
                                                 [--indicator-rows 1000000] [--redraw-rows 5000000]

- **CSV import** (``backend.research.datasets.read_bars``: parse, check every rule, convert) in
  rows/s beside ``pyarrow.csv.read_csv`` reading the same file. Target: ≥ 0.5× pyarrow's read.
- **Reading 10 M bars** from the Parquet measurements store and from the ClickHouse store (chDB,
  in this process), beside ``pyarrow.parquet.read_table`` of the same file. Reported only.
- **20 indicators on 1 M bars**: computation alone, and with the write of the new version.
  Target: ≤ 1 s of computation.
- **Explorer redraw on 5 M bars** (``explorer_window`` for a 1,600-pixel chart: the whole range, then
  a zoomed window), server time. Target: ≤ 300 ms.

Each figure is the median of ``--repeat`` runs, with the reference timed in the same rounds.
Data is generated (seeded geometric random walks, minute bars) under /tmp/deskboard-bench/research.
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from backend.measurements.clickhouse_store import ClickHouseMeasurements
from backend.measurements.frames import as_table
from backend.measurements.parquet_store import ParquetMeasurements
from backend.measurements.records import MeasurementRecords
from backend.meta import open_meta
from backend.research.dataset_service import Datasets
from backend.research.datasets import Bars, read_bars
from backend.research.explorer import explorer_window
from backend.research.indicator_service import IndicatorVersions
from backend.research.indicators import clean_request, compute
from backend.warehouse import open_warehouse

ROOT = Path(tempfile.gettempdir()) / "deskboard-bench" / "research"
TWENTY = [
    {"function": "SMA", "params": {"timeperiod": 20}}, {"function": "SMA", "params": {"timeperiod": 50}},
    {"function": "EMA", "params": {"timeperiod": 12}}, {"function": "EMA", "params": {"timeperiod": 26}},
    {"function": "RSI"}, {"function": "MACD"}, {"function": "BBANDS"}, {"function": "ATR"}, {"function": "ADX"},
    {"function": "CCI"}, {"function": "MOM"}, {"function": "ROC"}, {"function": "WILLR"}, {"function": "STOCH"},
    {"function": "OBV"}, {"function": "MFI"}, {"function": "NATR"}, {"function": "TRIX"},
    {"function": "RETURNS", "params": {"horizon": 1}}, {"function": "FORWARD_RETURNS", "params": {"horizon": 5}},
]


def bars(n: int, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.0005, n)))
    spread = rng.uniform(0, 0.001, n)
    return pd.DataFrame({"timestamp": pd.date_range("2010-01-04", periods=n, freq="min", tz="UTC"),
                         "open": close * (1 + spread / 3), "high": close * (1 + spread), "low": close * (1 - spread),
                         "close": close, "volume": rng.integers(1, 10_000, n).astype(float)})


def timed(fn: Callable[[], Any], repeat: int) -> float:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return statistics.median(out)


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.research_data")
    parser.add_argument("--import-rows", type=int, default=1_000_000)
    parser.add_argument("--read-rows", type=int, default=10_000_000)
    parser.add_argument("--indicator-rows", type=int, default=1_000_000)
    parser.add_argument("--redraw-rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    ROOT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=ROOT))
    try:
        rows: list[tuple[str, str, str, str]] = []

        # -- CSV import -----------------------------------------------------------------------
        frame = bars(args.import_rows)
        text = frame.assign(timestamp=frame["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")).to_csv(index=False)
        data = text.encode()
        ours = timed(lambda: read_bars(data, "bench.csv", max_bytes=len(data) + 1), args.repeat)
        theirs = timed(lambda: pacsv.read_csv(io.BytesIO(data)), args.repeat)
        ratio = theirs / ours
        rows.append(("CSV import (parse + check + convert)", f"{args.import_rows / ours:,.0f} rows/s",
                     f"pyarrow.csv read {args.import_rows / theirs:,.0f} rows/s → {ratio:.2f}×",
                     f"≥ 0.5× · {verdict(ratio >= 0.5)}"))

        # -- reading 10 M bars ----------------------------------------------------------------
        big = as_table(bars(args.read_rows, 3))
        parquet = ParquetMeasurements(work / "m")
        parquet.write("big", big)
        wh = open_warehouse(f"chdb://{work / 'wh'}", "bench")
        clickhouse = ClickHouseMeasurements(wh)
        clickhouse.write("big", big)
        part = next((work / "m" / "big").glob("part-*.parquet"))
        p_read = timed(lambda: parquet.read("big"), args.repeat)
        c_read = timed(lambda: clickhouse.read("big"), args.repeat)
        raw = timed(lambda: pq.read_table(part), args.repeat)
        rows.append((f"read {args.read_rows:,} bars, Parquet store", f"{p_read * 1000:,.0f} ms",
                     f"pyarrow.parquet.read_table {raw * 1000:,.0f} ms → {raw / p_read:.2f}×", "reported"))
        rows.append((f"read {args.read_rows:,} bars, ClickHouse store (chDB)", f"{c_read * 1000:,.0f} ms",
                     f"Parquet store {p_read * 1000:,.0f} ms → {p_read / c_read:.2f}×", "reported"))
        del big

        # -- 20 indicators on 1 M bars ----------------------------------------------------------
        specs = clean_request(TWENTY)
        one_m = as_table(bars(args.indicator_rows, 5))
        compute_s = timed(lambda: compute(one_m, specs), args.repeat)
        datasets = Datasets(parquet, MeasurementRecords(open_meta(f"sqlite:///{work / 'meta.db'}")), "parquet")
        datasets.add("one_m", Bars(one_m, "UTC"))
        made: list[float] = []
        for i in range(args.repeat):
            # a new request each round (a repeated one is answered from the version made before)
            round_specs = clean_request([*TWENTY[:-1], {"function": "FORWARD_RETURNS", "params": {"horizon": 6 + i}}])
            started = time.perf_counter()
            IndicatorVersions(datasets).make("one_m", round_specs)
            made.append(time.perf_counter() - started)
        with_write = statistics.median(made)
        rows.append((f"20 indicators on {args.indicator_rows:,} bars, computation", f"{compute_s * 1000:,.0f} ms",
                     f"with the read and the version's write {with_write * 1000:,.0f} ms",
                     f"≤ 1,000 ms · {verdict(compute_s <= 1.0)}"))

        # -- explorer redraw on 5 M bars --------------------------------------------------------
        five = as_table(bars(args.redraw_rows, 9))
        datasets.add("five_m", Bars(five, "UTC"))
        mid = pd.Timestamp("2010-01-04", tz="UTC") + pd.Timedelta(minutes=args.redraw_rows // 2)
        whole = timed(lambda: explorer_window(datasets, "five_m", width=1600), args.repeat)
        zoom = timed(lambda: explorer_window(datasets, "five_m", start=mid, end=mid + pd.Timedelta(days=2),
                                             width=1600), args.repeat)
        worst = max(whole, zoom)
        rows.append((f"explorer redraw, {args.redraw_rows:,} bars, whole range", f"{whole * 1000:,.0f} ms",
                     f"a two-day window {zoom * 1000:,.0f} ms", f"≤ 300 ms · {verdict(worst <= 0.3)}"))

        width = max(len(r[0]) for r in rows)
        print(f"{'figure':<{width}}  {'measured':>16}  {'beside':<52}  budget")
        for name, value, beside, budget in rows:
            print(f"{name:<{width}}  {value:>16}  {beside:<52}  {budget}")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
