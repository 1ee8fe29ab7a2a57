"""The embedded warehouse: migrations, bulk loads, the rollup, bad folders, the lock and the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from backend.warehouse import Warehouse, WarehouseError
from backend.warehouse.loader import load_folder
from backend.warehouse.schema import MIGRATIONS

ROOT = Path(__file__).resolve().parents[2]


def _trade_count(folder: Path) -> int:
    return sum(pq.read_metadata(p).num_rows for p in (folder / "trades_1d").glob("*.parquet"))


def _sums(wh: Warehouse, table: str, measure: str) -> pd.DataFrame:
    df = wh.query_df(
        f"SELECT trade_date, symbol, exposure_type, sum({measure}) AS v FROM {{db}}.{table} "
        "GROUP BY trade_date, symbol, exposure_type"
    )
    df["trade_date"] = pd.to_datetime(df["trade_date"])
    for column in ("symbol", "exposure_type"):
        df[column] = df[column].astype(str)
    return df.sort_values(["trade_date", "symbol", "exposure_type"]).reset_index(drop=True)


def _state(wh: Warehouse) -> tuple:
    wh.forget_data_version()
    counts = wh.query_rows(
        # An order-independent fingerprint of every row's id and money (float sums vary with thread order).
        "SELECT (SELECT count() FROM {db}.trades_1d), "
        "(SELECT groupBitXor(cityHash64(trade_id, notional, pnl, symbol)) FROM {db}.trades_1d), "
        "(SELECT count() FROM {db}.instruments), (SELECT count() FROM {db}.constituents)"
    )[0]
    return (*counts, wh.data_version())


def test_migrations_are_idempotent_and_recorded(fresh_warehouse: Warehouse) -> None:
    expected = [version for version, _, _ in MIGRATIONS]
    recorded = sorted(r[0] for r in fresh_warehouse.query_rows("SELECT version FROM {db}.schema_migrations"))
    assert recorded == expected
    assert fresh_warehouse.migrate() == []
    assert fresh_warehouse.migrate() == []
    again = sorted(r[0] for r in fresh_warehouse.query_rows("SELECT version FROM {db}.schema_migrations"))
    assert again == expected
    assert fresh_warehouse.schema_version() == max(expected)


def test_load_counts_rows_and_changes_the_data_version_every_time(
    fresh_warehouse: Warehouse, trades_folder: Path
) -> None:
    wh = fresh_warehouse
    assert wh.data_version() == "empty"
    first = load_folder(wh, trades_folder)
    expected = _trade_count(trades_folder)
    assert first.trades == expected and first.instruments == 29
    assert first.constituents == pq.read_metadata(trades_folder / "constituents.parquet").num_rows
    assert wh.query_rows("SELECT count() FROM {db}.trades_1d")[0][0] == expected
    assert wh.data_version() == first.data_version
    second = load_folder(wh, trades_folder)
    assert second.data_version != first.data_version
    assert wh.data_version() == second.data_version
    assert wh.query_rows("SELECT count() FROM {db}.trades_1d")[0][0] == expected
    assert wh.query_rows("SELECT count() FROM {db}.instruments")[0][0] == 29


def test_loading_twice_does_not_double_count_and_the_rollup_matches_the_facts(
    fresh_warehouse: Warehouse, trades_folder: Path
) -> None:
    wh = fresh_warehouse
    load_folder(wh, trades_folder)
    load_folder(wh, trades_folder)
    facts = _sums(wh, "trades_1d", "notional")
    rollup = _sums(wh, "trades_1d_rollup", "sum_notional")
    pd.testing.assert_frame_equal(facts[["trade_date", "symbol", "exposure_type"]],
                                  rollup[["trade_date", "symbol", "exposure_type"]])  # fmt: skip
    np.testing.assert_allclose(rollup["v"], facts["v"], rtol=1e-9, atol=1e-6)
    # Independent of the warehouse: the same aggregation over the Parquet files.
    files = str(trades_folder / "trades_1d" / "*.parquet")
    raw = duckdb.sql(
        f"SELECT trade_date, symbol::VARCHAR AS symbol, exposure_type::VARCHAR AS exposure_type, "
        f"sum(notional) AS v FROM read_parquet('{files}') GROUP BY ALL ORDER BY 1, 2, 3"
    ).df()
    assert len(raw) == len(facts)
    assert (pd.to_datetime(raw["trade_date"]).to_numpy() == facts["trade_date"].to_numpy()).all()
    assert (raw["symbol"].to_numpy() == facts["symbol"].to_numpy()).all()
    np.testing.assert_allclose(facts["v"], raw["v"], rtol=1e-9, atol=1e-6)
    pnl = _sums(wh, "trades_1d", "pnl")
    np.testing.assert_allclose(_sums(wh, "trades_1d_rollup", "sum_pnl")["v"], pnl["v"], rtol=1e-9, atol=1e-6)


def _bad_folder(src: Path, dst: Path, trades: pa.Table | bytes) -> Path:
    (dst / "trades_1d").mkdir(parents=True)
    # A smaller instruments file proves reference tables stay untouched when trades are bad.
    pq.write_table(pq.read_table(src / "instruments.parquet").slice(0, 3), dst / "instruments.parquet")
    target = dst / "trades_1d" / "part-00000.parquet"
    if isinstance(trades, bytes):
        target.write_bytes(trades)
    else:
        pq.write_table(trades, target)
    return dst


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing column", "is missing columns: notional"),
        ("garbage file", "is not a readable Parquet file"),
        ("wrong type", "has columns of the wrong type: notional"),
        ("empty file", "is not a readable Parquet file"),
    ],
)
def test_a_bad_folder_is_refused_and_leaves_loaded_data_intact(
    fresh_warehouse: Warehouse, trades_folder: Path, tmp_path: Path, case: str, message: str
) -> None:
    wh = fresh_warehouse
    load_folder(wh, trades_folder)
    before = _state(wh)
    good = pq.read_table(trades_folder / "trades_1d" / "part-00000.parquet").slice(0, 500)
    trades: pa.Table | bytes = {
        "missing column": lambda: good.drop_columns(["notional"]),
        "garbage file": lambda: b"PAR1 this is not parquet \x00\xff" * 100,
        "wrong type": lambda: good.set_column(
            good.schema.get_field_index("notional"), "notional", pa.array(["1.5"] * good.num_rows)
        ),
        "empty file": lambda: b"",
    }[case]()
    folder = _bad_folder(trades_folder, tmp_path / "bad", trades)
    with pytest.raises(WarehouseError, match=message):
        load_folder(wh, folder)
    assert _state(wh) == before


def test_a_folder_without_generator_files_is_refused(fresh_warehouse: Warehouse, tmp_path: Path) -> None:
    with pytest.raises(WarehouseError, match="holds no instruments.parquet"):
        load_folder(fresh_warehouse, tmp_path)
    with pytest.raises(WarehouseError, match="is not a folder"):
        load_folder(fresh_warehouse, tmp_path / "missing")


def test_unknown_reference_columns_are_refused(fresh_warehouse: Warehouse, tmp_path: Path) -> None:
    pq.write_table(pa.table({"symbol": ["X"], "shoe_size": [42]}), tmp_path / "instruments.parquet")
    with pytest.raises(WarehouseError, match="instruments does not have: shoe_size"):
        load_folder(fresh_warehouse, tmp_path)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESKBOARD_") or k.startswith("DESKBOARD_TEST_")}
    return env | extra


def _run(module: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=180, env=env,
    )  # fmt: skip


def test_a_second_process_gets_a_plain_locked_error(fresh_warehouse: Warehouse, warehouse_url: str) -> None:
    assert fresh_warehouse.ping()  # this process holds the session folder
    code = (
        "import sys\n"
        "from backend.warehouse import WarehouseLockedError, open_warehouse\n"
        "try:\n"
        f"    open_warehouse({warehouse_url!r}, 'other')\n"
        "except WarehouseLockedError as exc:\n"
        "    print(exc)\n"
        "    sys.exit(3)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 3, result.stderr
    assert "is in use by another Deskboard process" in result.stdout
    assert warehouse_url.removeprefix("chdb://") in result.stdout


def test_generator_load_into_a_locked_folder_prints_a_plain_message(
    fresh_warehouse: Warehouse, warehouse_url: str, tmp_path: Path
) -> None:
    assert fresh_warehouse.ping()
    env = _env(DESKBOARD_DATA_DIR=str(tmp_path), DESKBOARD_WAREHOUSE_DSN=warehouse_url)
    result = _run("backend.datagen", "--rows", "2000", "--start", "2024-03-01", "--end", "2024-03-08",
                  "--out", str(tmp_path / "gen"), "--load", env=env)  # fmt: skip
    assert result.returncode == 1
    assert "is in use by another Deskboard process" in result.stderr
    assert "python -m backend.warehouse load" in result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "gen" / "trades_1d" / "part-00000.parquet").exists()


def test_warehouse_and_generator_clis_load_and_report(trades_folder: Path, tmp_path: Path) -> None:
    env = _env(DESKBOARD_DATA_DIR=str(tmp_path / "data"))
    loaded = _run("backend.warehouse", "load", str(trades_folder), env=env)
    assert loaded.returncode == 0, loaded.stderr
    assert f"loaded {_trade_count(trades_folder):,} trades" in loaded.stdout
    gen = _run("backend.datagen", "--rows", "3000", "--start", "2023-06-01", "--end", "2023-06-30",
               "--seed", "2", "--out", str(tmp_path / "gen"), "--load", env=env)  # fmt: skip
    assert gen.returncode == 0, gen.stderr
    assert "loaded" in gen.stdout and "data version" in gen.stdout
    info = _run("backend.warehouse", "info", env=env)
    assert info.returncode == 0, info.stderr
    lines = {line.split()[0]: line.split()[-1] for line in info.stdout.splitlines() if line.startswith("  ")}
    total = _trade_count(trades_folder) + _trade_count(tmp_path / "gen")
    assert lines["trades_1d"] == f"{total:,}" and lines["instruments"] == "29"
    assert "data version:" in info.stdout and "data version: empty" not in info.stdout
    missing = _run("backend.warehouse", "load", str(tmp_path / "nowhere"), env=env)
    assert missing.returncode == 2 and "is not a folder" in missing.stderr and "Traceback" not in missing.stderr
    shutil.rmtree(tmp_path / "data")


def _rollup_vs_parquet(wh: Warehouse, trades_folder: Path, table: str, keys: tuple[str, ...]) -> None:
    """A rollup's rows are exactly the Parquet's groups over its keys, with the same sums."""
    cols = ", ".join(keys)
    got = wh.query_df(
        f"SELECT {cols}, sum(sum_notional) AS n, sum(sum_gross_notional) AS g, sum(sum_trade_count) AS c "
        f"FROM {{db}}.{table} GROUP BY {cols}"
    )
    stored = wh.query_rows(f"SELECT count() FROM {{db}}.{table}")[0][0]
    files = str(trades_folder / "trades_1d" / "*.parquet")
    want = duckdb.sql(
        f"SELECT {', '.join(f'{k}::VARCHAR AS {k}' for k in keys)}, sum(notional) AS n, sum(abs(notional)) AS g, "
        f"count(*)::DOUBLE AS c FROM read_parquet('{files}') GROUP BY ALL"
    ).df()
    assert stored == len(want) == len(got)  # merged: one row per group
    for frame in (got, want):
        for k in keys:
            frame[k] = frame[k].astype(str)
        frame.sort_values(list(keys), inplace=True, ignore_index=True)
    assert (got[list(keys)].to_numpy() == want[list(keys)].to_numpy()).all()
    for col in ("n", "g", "c"):
        np.testing.assert_allclose(got[col], want[col], rtol=1e-9, atol=1e-6)


def test_every_rollup_holds_the_facts_grouped_by_its_keys_after_two_loads(
    fresh_warehouse: Warehouse, trades_folder: Path
) -> None:
    from backend.warehouse.schema import ROLLUP_TABLES

    load_folder(fresh_warehouse, trades_folder)
    load_folder(fresh_warehouse, trades_folder)
    assert [r.name for r in ROLLUP_TABLES][:2] == ["trades_1d_rollup", "trades_1d_book_rollup"]
    assert {"book", "strategy"} <= set(ROLLUP_TABLES[1].dimensions)
    for rollup in ROLLUP_TABLES:
        _rollup_vs_parquet(fresh_warehouse, trades_folder, rollup.name, rollup.dimensions)


def test_a_warehouse_loaded_before_the_book_rollups_gets_them_filled_on_migration(
    fresh_warehouse: Warehouse, trades_folder: Path
) -> None:
    from backend.warehouse.schema import ROLLUP_TABLES

    wh = fresh_warehouse
    load_folder(wh, trades_folder)
    # As a warehouse migrated before versions 5 and 6 existed: no book or counterparty rollup.
    for rollup in ROLLUP_TABLES[1:]:
        wh.command(f"DROP VIEW {{db}}.{rollup.view} SYNC")
        wh.command(f"DROP TABLE {{db}}.{rollup.name} SYNC")
    wh.command("ALTER TABLE {db}.schema_migrations DELETE WHERE version >= 5 SETTINGS mutations_sync = 2")
    assert wh.migrate() == [5, 6, 7]
    for rollup in ROLLUP_TABLES[1:]:
        _rollup_vs_parquet(wh, trades_folder, rollup.name, rollup.dimensions)
    assert wh.migrate() == []
    # A load after the migration goes through the new views too, and replaces its dates.
    load_folder(wh, trades_folder)
    for rollup in ROLLUP_TABLES[1:]:
        _rollup_vs_parquet(wh, trades_folder, rollup.name, rollup.dimensions)
