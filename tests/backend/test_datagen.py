"""The trade generator's output, checked over its Parquet files with DuckDB and pandas."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from backend.datagen import ensure_demo_data, generate_to_folder
from backend.datagen.demo import demo_dates
from backend.datagen.reference import isin_check_digit
from backend.warehouse import Warehouse
from backend.warehouse.schema import TRADES_COLUMNS

ROOT = Path(__file__).resolve().parents[2]
ROWS = 30_000
START = date(2024, 3, 1)
END = date(2024, 4, 30)
SEED = 5
CHUNK_ROWS = 12_000  # several files, so ids and explosion are checked across chunk boundaries

MONEY = ("notional", "market_value", "cost_basis", "realized_pnl", "unrealized_pnl", "fees",
         "commission", "pnl", "delta", "var_95", "dv01")  # fmt: skip
EXPECTED_ARROW = {
    "UInt64": pa.uint64(),
    "UInt8": pa.uint8(),
    "Float64": pa.float64(),
    "Date": pa.date32(),
    # Parquet's smallest time unit is the millisecond; the values are whole seconds.
    "DateTime": pa.timestamp("ms"),
    "LowCardinality(String)": pa.dictionary(pa.int32(), pa.string()),
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen")
    generate_to_folder(out, rows=ROWS, start=START, end=END, seed=SEED, chunk_rows=CHUNK_ROWS)
    return out


@pytest.fixture(scope="module")
def trades(folder: Path) -> pd.DataFrame:
    df = pq.read_table(folder / "trades_1d").to_pandas()
    for column in df.columns:
        if isinstance(df[column].dtype, pd.CategoricalDtype):
            df[column] = df[column].astype(str)
    return df


@pytest.fixture(scope="module")
def constituents(folder: Path) -> pd.DataFrame:
    return pq.read_table(folder / "constituents.parquet").to_pandas()


@pytest.fixture(scope="module")
def instruments(folder: Path) -> pd.DataFrame:
    return pq.read_table(folder / "instruments.parquet").to_pandas()


def _sql(folder: Path, query: str) -> pd.DataFrame:
    con = duckdb.connect()
    con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{folder}/trades_1d/*.parquet')")
    con.execute(f"CREATE VIEW c AS SELECT * FROM read_parquet('{folder}/constituents.parquet')")
    return con.execute(query).df()


def test_reference_data_has_29_instruments_and_at_least_24_constituent_weights(
    instruments: pd.DataFrame, constituents: pd.DataFrame
) -> None:
    assert len(instruments) == 29 and instruments["symbol"].is_unique and instruments["isin"].is_unique
    counts = instruments["asset_class"].value_counts().to_dict()
    assert counts == {"Equity": 15, "ETF": 6, "ETC": 4, "Commodity": 4}
    assert len(constituents) >= 24
    kinds = instruments.set_index("symbol")["asset_class"]
    etf = constituents[constituents["parent_symbol"].map(kinds) == "ETF"]
    etc = constituents[constituents["parent_symbol"].map(kinds) == "ETC"]
    assert len(etf) + len(etc) == len(constituents)
    assert (etf["constituent_symbol"].map(kinds) == "Equity").all()
    assert (etc["constituent_symbol"].map(kinds) == "Commodity").all()
    coverage = constituents.groupby("parent_symbol")["weight"].sum()
    assert (coverage <= 1 + 1e-12).all() and (coverage < 0.99).any()
    assert set(coverage.index) == set(kinds[kinds.isin(["ETF", "ETC"])].index)
    assert (constituents["weight"] > 0).all()


def test_isin_check_digits_follow_iso_6166(instruments: pd.DataFrame) -> None:
    # Published ISINs of Apple, Nestle and the iShares gold ETC.
    assert isin_check_digit("US037833100") == "5"
    assert isin_check_digit("CH003886335") == "0"
    assert isin_check_digit("IE00B4ND360") == "2"
    assert instruments["isin"].str.fullmatch(r"[A-Z]{2}[A-Z0-9]{9}[0-9]").all()


def test_trade_files_match_the_warehouse_contract(folder: Path) -> None:
    files = sorted((folder / "trades_1d").glob("*.parquet"))
    assert [f.name for f in files] == [f"part-{k:05d}.parquet" for k in range(3)]
    for path in files:
        schema = pq.read_schema(path)
        assert [(f.name, f.type) for f in schema] == [(n, EXPECTED_ARROW[t]) for n, t in TRADES_COLUMNS]
    times = pq.read_table(files[0], columns=["trade_time"]).column("trade_time").cast(pa.int64()).to_numpy()
    assert (times % 1000 == 0).all()


def test_rows_counts_all_rows_including_look_through(trades: pd.DataFrame) -> None:
    max_fanout = 1 + 6  # SPY has the most constituents
    assert ROWS <= len(trades) <= ROWS + 3 * max_fanout
    assert set(trades["exposure_type"]) == {"Direct", "ETF", "ETC", "Constituent"}


def test_constituent_explosion_preserves_notional_times_coverage(folder: Path) -> None:
    df = _sql(folder, """
        WITH cov AS (SELECT parent_symbol, sum(weight) AS coverage, count(*) AS n FROM c GROUP BY 1),
             kids AS (SELECT parent_position_id, sum(notional) AS s, count(*) AS k
                      FROM t WHERE exposure_type = 'Constituent' GROUP BY 1)
        SELECT p.position_id, p.symbol, p.notional, cov.coverage, cov.n, kids.s, kids.k
        FROM t p JOIN cov ON cov.parent_symbol = p.symbol
        LEFT JOIN kids ON kids.parent_position_id = p.position_id
        WHERE p.exposure_type IN ('ETF', 'ETC')
    """)  # fmt: skip
    assert len(df) > 1000
    assert (df["k"] == df["n"]).all(), "every fund row has one row per constituent"
    np.testing.assert_allclose(df["s"], df["notional"] * df["coverage"], rtol=1e-9)
    orphans = _sql(folder, """
        SELECT count(*) AS n FROM t k WHERE exposure_type = 'Constituent'
        AND parent_position_id NOT IN (SELECT position_id FROM t WHERE exposure_type IN ('ETF', 'ETC'))
    """)  # fmt: skip
    assert orphans["n"][0] == 0


def test_constituent_rows_are_parent_times_weight(trades: pd.DataFrame, constituents: pd.DataFrame) -> None:
    kids = trades[trades["exposure_type"] == "Constituent"]
    parents = trades[trades["exposure_type"].isin(["ETF", "ETC"])].set_index("position_id")
    p = parents.loc[kids["parent_position_id"].to_numpy()]
    weights = constituents.set_index(["parent_symbol", "constituent_symbol"])["weight"]
    expected_w = weights.loc[list(zip(kids["parent_symbol"], kids["symbol"], strict=True))].to_numpy()
    assert (kids["constituent_weight"].to_numpy() == expected_w).all()
    assert (kids["parent_symbol"].to_numpy() == p["symbol"].to_numpy()).all()
    for column in MONEY:
        assert (kids[column].to_numpy() == p[column].to_numpy() * expected_w).all(), column
    for column in ("trade_date", "portfolio_manager_id", "desk", "book", "legal_entity", "is_hedge"):
        assert (kids[column].to_numpy() == p[column].to_numpy()).all(), column
    np.testing.assert_allclose(kids["notional_local"] * kids["fx_rate"], kids["notional"], rtol=1e-12)
    np.testing.assert_allclose(kids["quantity"] * kids["price"] * kids["fx_rate"], kids["notional"], rtol=1e-12)


def test_shorts_stay_negative_through_the_explosion(trades: pd.DataFrame) -> None:
    kids = trades[trades["exposure_type"] == "Constituent"]
    parents = trades.set_index("position_id").loc[kids["parent_position_id"].to_numpy()]
    assert (np.sign(kids["quantity"].to_numpy()) == np.sign(parents["quantity"].to_numpy())).all()
    assert (kids["quantity"] < 0).any() and (kids["quantity"] > 0).any()
    assert ((trades["quantity"] > 0) == (trades["side"] == "Buy")).all()
    assert (trades["quantity"] != 0).all()


def test_position_rows_are_internally_consistent(trades: pd.DataFrame) -> None:
    pos = trades[trades["exposure_type"] != "Constituent"]
    assert (pos["parent_position_id"] == 0).all() and (pos["parent_symbol"] == "").all()
    assert (pos["constituent_weight"] == 1.0).all()
    assert (trades[trades["exposure_type"] == "Constituent"]["parent_position_id"] > 0).all()
    np.testing.assert_allclose(pos["quantity"] * pos["price"], pos["notional_local"], rtol=1e-12)
    np.testing.assert_allclose(pos["notional_local"] * pos["fx_rate"], pos["notional"], rtol=1e-12)
    pnl = pos["realized_pnl"] + pos["unrealized_pnl"] - pos["fees"] - pos["commission"]
    np.testing.assert_allclose(pos["pnl"], pnl, rtol=1e-9, atol=1e-6)
    assert (pos["fees"] >= 0).all() and (pos["commission"] > 0).all()
    assert trades["trade_id"].is_unique
    assert pos["position_id"].is_unique


def test_dates_are_business_days_in_range(trades: pd.DataFrame) -> None:
    days = pd.to_datetime(trades["trade_date"])
    assert days.min() >= pd.Timestamp(START) and days.max() <= pd.Timestamp(END)
    assert (days.dt.dayofweek < 5).all()
    expected = pd.bdate_range(START, END)
    assert set(days.unique()) == set(expected)
    assert (pd.to_datetime(trades["settlement_date"]) > days).all()
    assert (pd.to_datetime(trades["trade_time"]).dt.normalize() == days).all()


def test_symbol_fixes_instrument_attributes_and_manager_fixes_desk(
    trades: pd.DataFrame, instruments: pd.DataFrame
) -> None:
    ref = instruments.set_index("symbol")
    for column in ("asset_class", "sector", "industry", "region", "country", "currency", "exchange", "isin"):
        assert (trades[column].to_numpy() == ref.loc[trades["symbol"].to_numpy(), column].to_numpy()).all()
    assert (trades["instrument_name"].to_numpy() == ref.loc[trades["symbol"].to_numpy(), "name"].to_numpy()).all()
    per_pm = trades.groupby("portfolio_manager_id")[["desk", "legal_entity", "portfolio_manager_name"]].nunique()
    assert len(per_pm) == 20 and (per_pm == 1).all().all()
    usd = trades["currency"] == "USD"
    assert (trades.loc[usd, "fx_rate"] == 1.0).all() and (trades.loc[~usd, "fx_rate"] != 1.0).any()


def test_same_arguments_give_byte_identical_files(folder: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate_to_folder(again, rows=ROWS, start=START, end=END, seed=SEED, chunk_rows=CHUNK_ROWS, workers=2)
    names = ["instruments.parquet", "constituents.parquet"] + [
        f"trades_1d/{p.name}" for p in sorted((folder / "trades_1d").glob("*.parquet"))
    ]
    for name in names:
        assert filecmp.cmp(folder / name, again / name, shallow=False), name


def test_a_different_seed_gives_different_trades(folder: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    generate_to_folder(other, rows=ROWS, start=START, end=END, seed=SEED + 1, chunk_rows=CHUNK_ROWS)
    a = (folder / "trades_1d/part-00000.parquet").read_bytes()
    b = (other / "trades_1d/part-00000.parquet").read_bytes()
    assert a != b


def test_no_explode_writes_no_constituent_rows(tmp_path: Path) -> None:
    report = generate_to_folder(tmp_path, rows=5_000, start=START, end=END, seed=SEED, explode=False)
    df = pq.read_table(tmp_path / "trades_1d", columns=["exposure_type"]).to_pandas()
    assert len(df) == report.rows == 5_000
    assert "Constituent" not in set(df["exposure_type"].astype(str))
    assert report.by_exposure["Constituent"] == 0


def test_a_second_run_replaces_old_part_files(tmp_path: Path) -> None:
    generate_to_folder(tmp_path, rows=9_000, start=START, end=END, seed=SEED, chunk_rows=3_000)
    generate_to_folder(tmp_path, rows=2_000, start=START, end=END, seed=SEED, chunk_rows=3_000)
    assert [p.name for p in (tmp_path / "trades_1d").iterdir()] == ["part-00000.parquet"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rows": 0}, "rows must be positive"),
        ({"rows": 10**12}, "rows must be at most"),
        ({"start": END, "end": START}, "is before start date"),
        ({"start": date(2024, 3, 2), "end": date(2024, 3, 3)}, "no business days"),
        ({"chunk_rows": 0}, "chunk_rows must be"),
    ],
)
def test_bad_arguments_raise_value_error_and_write_nothing(kwargs: dict, message: str, tmp_path: Path) -> None:
    args = {"rows": 100, "start": START, "end": END, "seed": 1} | kwargs
    with pytest.raises(ValueError, match=message):
        generate_to_folder(tmp_path / "out", **args)
    assert not (tmp_path / "out").exists()


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backend.datagen", *args],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rows", "100", "--start", "2024-03-05", "--end", "2024-03-01"], "is before start date"),
        (["--rows", "0", "--start", "2024-03-01", "--end", "2024-03-05"], "rows must be positive"),
        (["--rows", "-5", "--start", "2024-03-01", "--end", "2024-03-05"], "rows must be positive"),
        (["--rows", "999999999999", "--start", "2024-03-01", "--end", "2024-03-05"], "rows must be at most"),
        (["--rows", "lots", "--start", "2024-03-01", "--end", "2024-03-05"], "not a whole number"),
        (["--rows", "100", "--start", "01/03/2024", "--end", "2024-03-05"], "not a date in YYYY-MM-DD form"),
        (["--rows", "100", "--start", "2024-02-30", "--end", "2024-03-05"], "not a date in YYYY-MM-DD form"),
        (["--rows", "100", "--start", "2024-03-01"], "required: --end"),
    ],
)
def test_cli_rejects_bad_arguments_with_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    result = _cli(*args, "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "trades_1d").exists()


def test_cli_writes_the_folder(tmp_path: Path) -> None:
    result = _cli("--rows", "3000", "--start", "2024-03-01", "--end", "2024-03-08", "--seed", "3",
                  "--out", str(tmp_path), "--no-explode")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "wrote 3,000 rows" in result.stdout
    assert pq.read_metadata(tmp_path / "trades_1d/part-00000.parquet").num_rows == 3000


def test_demo_dates_end_on_the_last_business_day() -> None:
    assert demo_dates(date(2024, 3, 9)) == (date(2023, 12, 18), date(2024, 3, 8))  # a Saturday
    start, end = demo_dates(date(2024, 3, 6))
    assert end == date(2024, 3, 6) and len(pd.bdate_range(start, end)) == 60


def test_ensure_demo_data_fills_an_empty_warehouse_once(fresh_warehouse: Warehouse, tmp_path: Path) -> None:
    today = date(2024, 3, 6)
    assert ensure_demo_data(fresh_warehouse, rows=4_000, seed=3, folder=tmp_path, today=today)
    rows = fresh_warehouse.query_rows("SELECT count(), min(trade_date), max(trade_date) FROM {db}.trades_1d")
    count, lo, hi = rows[0]
    assert count >= 4_000 and hi == today and lo == demo_dates(today)[0]
    assert not ensure_demo_data(fresh_warehouse, rows=4_000, seed=4, folder=tmp_path / "again", today=today)
    assert fresh_warehouse.query_rows("SELECT count() FROM {db}.trades_1d")[0][0] == count
    assert not (tmp_path / "again").exists()
