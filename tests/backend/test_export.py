"""CSV exports: the screen as shown, and every raw trade of the current filters."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pytest

from backend.pivot import PivotRequest
from backend.pivot.drill import drill_scope
from backend.pivot.engine import latest_trade_date, run_pivot
from backend.pivot.export import export_chunks, screen_csv, stream_trades_csv
from backend.pivot.result import tree_rows
from backend.pivot.view_state import Expansion, visible_rows
from backend.warehouse import Warehouse
from components.pivot_grid import metric_fields


@pytest.fixture(scope="module")
def trades(trades_folder: Path) -> pd.DataFrame:
    return pd.concat(pd.read_parquet(p) for p in sorted((trades_folder / "trades_1d").glob("*.parquet")))


def _read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_screen_csv_is_the_visible_tree_with_plain_numbers(loaded_warehouse: Warehouse) -> None:
    day = latest_trade_date(loaded_warehouse).isoformat()
    body = {"dimensions": ["desk", "asset_class", "symbol"], "metrics": ["pnl", "notional"],
            "filters": {"trade_date": day}}
    result = run_pivot(loaded_warehouse, PivotRequest.model_validate(body)).to_dict()
    tree = tree_rows(result)
    first = next(r for r in tree if r["_kind"] == "group")
    exp = Expansion(open=(first["_id"],))
    fields = metric_fields(["pnl", "notional"], [], [])
    rows = _read(screen_csv(tree, result["totals"], exp, body["dimensions"], fields))

    assert rows[0] == ["Row type", "Desk", "Asset class", "Symbol", "P&L", "Notional"]
    shown = visible_rows(tree, exp)
    assert len(rows) == 1 + len(shown) + 1
    # Top level and the one opened desk's children; nothing deeper.
    assert {len(r["_path"]) for r in shown} == {1, 2}
    for line, row in zip(rows[1:-1], shown, strict=True):
        assert line[0] == ("Subtotal" if row["_kind"] == "group" else "Detail")
        assert line[1 : 1 + len(row["_path"])] == [str(v) for v in row["_path"]]
        assert float(line[4]) == pytest.approx(row["pnl"]) and "," not in line[4]
    assert rows[-1][0] == "Total" and float(rows[-1][4]) == pytest.approx(result["totals"]["pnl"])
    # The top-level subtotals add up to the total written on the last line.
    assert sum(float(r[4]) for r in rows[1:-1] if r[2] == "") == pytest.approx(float(rows[-1][4]))


def test_screen_csv_quotes_hostile_labels_and_leaves_missing_values_blank() -> None:
    tree = [{"_id": "a", "_path": ['=HYPERLINK("x"),"evil"'], "_kind": "leaf", "_level": 1, "pnl": None}]
    rows = _read(screen_csv(tree, {"pnl": float("nan")}, Expansion(), ["desk"], [("pnl", "P&L")]))
    assert rows[1] == ["Detail", '=HYPERLINK("x"),"evil"', ""]
    assert rows[2] == ["Total", "", ""]


def _raw_csv(wh: Warehouse, scope, chunk_rows: int) -> pd.DataFrame:
    data = b"".join(stream_trades_csv(wh, scope, chunk_rows=chunk_rows))
    return pd.read_csv(io.BytesIO(data))


@pytest.mark.parametrize("chunk_rows", [500, 250_000])
def test_raw_export_holds_every_trade_of_the_filters_once(
    loaded_warehouse: Warehouse, trades: pd.DataFrame, chunk_rows: int
) -> None:
    body = {"dimensions": ["desk"], "metrics": ["pnl"],
            "filters": {"trade_date": {"from": "2024-01-02", "to": "2024-02-29"}, "asset_class": ["Equity"]}}
    scope = drill_scope(body, [])
    expected = trades[(trades.asset_class == "Equity") & trades.exposure_type.isin(["Direct", "ETF", "ETC"])]
    assert len(expected) > 1000
    if chunk_rows == 500:
        assert len(export_chunks(loaded_warehouse, scope, chunk_rows)) > 3
    got = _raw_csv(loaded_warehouse, scope, chunk_rows)
    assert len(got) == len(expected)
    assert got.pnl.sum() == pytest.approx(expected.pnl.sum())
    key = ["trade_id", "symbol", "exposure_type"]
    assert not got.duplicated(key).any()
    assert sorted(map(tuple, got[key].values.tolist())) == sorted(map(tuple, expected[key].values.tolist()))


def test_raw_export_of_an_empty_selection_is_just_the_header(loaded_warehouse: Warehouse) -> None:
    scope = drill_scope({"dimensions": ["desk"], "metrics": ["pnl"],
                         "filters": {"trade_date": "2024-01-02", "desk": ["'; DROP TABLE trades_1d; --"]}}, [])
    chunks = list(stream_trades_csv(loaded_warehouse, scope))
    assert len(chunks) == 1 and chunks[0].startswith(b"trade_id,position_id,trade_date")
