"""The raw-trades CSV export job, checked against the fixture trades read by DuckDB from the Parquet files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from backend.jobs import InvalidJobError, JobRunner, JobState
from backend.jobs.context import JobContext
from backend.jobs.export import run_trades_csv
from backend.jobs.params import TradesCsvParams
from backend.warehouse import Warehouse
from tests.backend.jobs.conftest import wait_state

KEY = ["trade_date", "trade_id", "symbol", "exposure_type"]


@pytest.fixture(scope="module")
def duck(trades_folder: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"CREATE VIEW trades AS SELECT * FROM read_parquet('{trades_folder}/trades_1d/*.parquet')")
    return con


def _expected(duck: duckdb.DuckDBPyConnection, where: str, params: list[Any]) -> pd.DataFrame:
    frame = duck.execute(
        f"SELECT *, (trade_date = max(trade_date) OVER ())::INT AS is_as_of_date FROM trades WHERE {where}", params
    ).df()
    frame["trade_date"] = frame["trade_date"].astype(str).str[:10]
    frame["trade_id"] = frame["trade_id"].astype(str)
    return frame.sort_values(KEY).reset_index(drop=True)


def _read(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype={"trade_id": str, "trade_date": str})
    return frame.sort_values(KEY).reset_index(drop=True)


def _same_trades(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert len(got) == len(expected) > 1000
    assert not got.duplicated(KEY).any()  # every trade exactly once
    pd.testing.assert_frame_equal(got[KEY], expected[KEY])
    for column in ("pnl", "notional", "quantity", "is_as_of_date"):
        assert column in got.columns
        assert got[column].to_numpy() == pytest.approx(expected[column].to_numpy(), rel=1e-9, abs=1e-6)


@pytest.mark.parametrize("chunk_rows", [1_000, 250_000])
def test_the_export_job_writes_every_trade_of_a_request_once(
    make_runner: Callable[..., JobRunner], loaded_warehouse: Warehouse, duck: duckdb.DuckDBPyConnection,
    chunk_rows: int,
) -> None:
    runner = make_runner()
    body = {"dimensions": ["desk"], "metrics": ["pnl"],
            "filters": {"trade_date": {"from": "2024-01-10", "to": "2024-02-20"}, "asset_class": ["Equity"]}}
    job = runner.submit("trades_csv", {"request": body, "chunk_rows": chunk_rows}, "local")
    assert job.placement == "web"  # the embedded warehouse belongs to the web process
    final = wait_state(runner, job.id, JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED, timeout=120)
    assert final.state == JobState.COMPLETED, (final.error, final.traceback)

    expected = _expected(duck, "asset_class = 'Equity' AND exposure_type IN ('Direct', 'ETF', 'ETC') "
                               "AND trade_date BETWEEN ?::DATE AND ?::DATE", ["2024-01-10", "2024-02-20"])
    found = runner.result_file(job.id, "local")
    assert found.media_type == "text/csv"
    assert found.download_name == f"trades-{expected.trade_date.min()}-to-{expected.trade_date.max()}.csv"
    got = _read(found.path)
    _same_trades(got, expected)
    assert final.result["rows"] == len(expected) and final.result["as_of"] == expected.trade_date.max()
    assert final.result["bytes"] == found.path.stat().st_size
    assert not list(found.path.parent.glob("*.part"))  # no half-written file is left


def test_the_export_job_takes_the_pivot_page_s_query_string(
    make_runner: Callable[..., JobRunner], loaded_warehouse: Warehouse, duck: duckdb.DuckDBPyConnection,
) -> None:
    runner = make_runner()
    job = runner.submit("trades_csv", {"view": "?date=2024-02-01..2024-02-09&f.desk=Global%20Macro&f.desk=Commodities"}, "local")
    final = wait_state(runner, job.id, JobState.COMPLETED, JobState.FAILED, timeout=120)
    assert final.state == JobState.COMPLETED, final.error
    expected = _expected(duck, "desk IN ('Global Macro', 'Commodities') AND exposure_type IN ('Direct', 'ETF', 'ETC') "
                               "AND trade_date BETWEEN DATE '2024-02-01' AND DATE '2024-02-09'", [])
    if expected.empty:
        pytest.fail("the fixture has no such trades in the window; pick other filters")
    _same_trades(_read(runner.result_file(job.id, "local").path), expected)


class _Recorder(JobContext):
    """A context that records each progress report instead of writing it."""

    def __init__(self, wh: Warehouse, folder: Path) -> None:
        self.reports: list[tuple[float | None, str | None]] = []
        self._wh, self._folder = wh, folder

    def progress(self, fraction: float | None, message: str | None = None, *, force: bool = False) -> None:
        self.reports.append((fraction, message))

    def log(self, line: str) -> None:
        pass

    def warehouse(self) -> Warehouse:
        return self._wh

    def result_dir(self) -> Path:
        self._folder.mkdir(parents=True, exist_ok=True)
        return self._folder


def test_export_progress_counts_rows_up_to_the_total(loaded_warehouse: Warehouse, tmp_path: Path) -> None:
    body = {"dimensions": ["desk"], "metrics": ["pnl"],
            "filters": {"trade_date": {"from": "2024-01-02", "to": "2024-02-29"}}}
    ctx = _Recorder(loaded_warehouse, tmp_path)
    result = run_trades_csv(ctx, TradesCsvParams(request=body, chunk_rows=2_000, scope={}))
    fractions = [f for f, _ in ctx.reports]
    assert len(fractions) > 10 and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert fractions == sorted(fractions)
    assert ctx.reports[-1][1] == f"{result['rows']:,} of {result['rows']:,} rows"


@pytest.mark.parametrize("parameters", [
    {},  # neither a view nor a request
    {"view": "?date=2024-01-02", "request": {"dimensions": ["desk"], "metrics": ["pnl"]}},
    {"view": "a\x00b"},
    {"view": "x" * 9_000},
    {"request": {"dimensions": ["no_such_dimension"], "metrics": ["pnl"]}},
    {"request": {"dimensions": "desk; DROP TABLE trades_1d", "metrics": ["pnl"]}},
    {"request": {"dimensions": ["desk"], "metrics": ["pnl"]}, "path": ["x"] * 11},
    {"request": {"dimensions": ["desk"], "metrics": ["pnl"]}, "chunk_rows": 10},
    {"request": {"dimensions": ["desk"], "metrics": ["pnl"]}, "chunk_rows": "many"},
    {"request": {"dimensions": ["desk"], "metrics": ["pnl"]}, "extra": 1},
    {"view": "?date=2024-01-02", "path": ["Rates"]},
    ["not", "an", "object"],
])
def test_bad_export_parameters_are_refused_before_anything_is_queued(
    make_runner: Callable[..., JobRunner], parameters: Any,
) -> None:
    runner = make_runner()
    with pytest.raises(InvalidJobError, match=r"^parameters"):
        runner.submit("trades_csv", parameters, "local")
    assert runner.list() == []
