"""Drill-through pages against the fixture data, checked with pandas over the generator's files."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from backend.pivot import PivotRequest
from backend.pivot.drill import (
    DRILL_COLUMNS,
    DRILL_LABELS,
    MAX_PAGE,
    DrillError,
    count_trades,
    drill_scope,
    fetch_page,
    stock_as_of,
)
from backend.pivot.engine import latest_trade_date, run_pivot
from backend.warehouse import Warehouse


@pytest.fixture(scope="module")
def trades(trades_folder: Path) -> pd.DataFrame:
    return pd.concat(pd.read_parquet(p) for p in sorted((trades_folder / "trades_1d").glob("*.parquet")))


def _body(day: str, **extra: object) -> dict:
    return {"dimensions": ["portfolio_manager_id", "symbol"], "metrics": ["pnl"],
            "filters": {"trade_date": day}, **extra}


def test_leaf_drill_pages_through_exactly_the_leaf_trades(loaded_warehouse: Warehouse, trades: pd.DataFrame) -> None:
    day = latest_trade_date(loaded_warehouse)
    held = trades[(trades.trade_date == pd.Timestamp(day).date()) & trades.exposure_type.isin(["Direct", "ETF", "ETC"])]
    pm, symbol = held.groupby(["portfolio_manager_id", "symbol"]).size().idxmax()
    expected = held[(held.portfolio_manager_id == pm) & (held.symbol == symbol)]
    scope = drill_scope(_body(day.isoformat()), [pm, symbol])
    assert count_trades(loaded_warehouse, scope) == len(expected)

    seen: list[dict] = []
    page_size = max(1, len(expected) // 3)
    while True:
        page = fetch_page(loaded_warehouse, scope, offset=len(seen), limit=page_size,
                          sort=[{"colId": "pnl", "sort": "desc"}])
        assert page.total == len(expected)
        if not page.rows:
            break
        seen += page.rows
    assert len(seen) == len(expected)
    assert [r["pnl"] for r in seen] == sorted(expected.pnl, reverse=True)
    assert sorted((r["trade_id"], r["exposure_type"]) for r in seen) == sorted(
        zip(expected.trade_id, expected.exposure_type, strict=True))
    assert abs(sum(r["pnl"] for r in seen) - expected.pnl.sum()) < 1e-6


def test_group_drill_covers_all_children(loaded_warehouse: Warehouse, trades: pd.DataFrame) -> None:
    day = latest_trade_date(loaded_warehouse)
    held = trades[(trades.trade_date == pd.Timestamp(day).date()) & trades.exposure_type.isin(["Direct", "ETF", "ETC"])]
    pm = held.portfolio_manager_id.iloc[0]
    scope = drill_scope(_body(day.isoformat()), [pm])
    assert count_trades(loaded_warehouse, scope) == int((held.portfolio_manager_id == pm).sum())


def test_look_through_drill_shows_constituents_and_residual_factor(loaded_warehouse: Warehouse) -> None:
    day = latest_trade_date(loaded_warehouse).isoformat()
    scope = drill_scope(_body(day, exposure="look_through", dimensions=["exposure_type"]), ["Constituent"])
    page = fetch_page(loaded_warehouse, scope, offset=0, limit=50)
    assert page.rows and all(r["exposure_type"] == "Constituent" for r in page.rows)
    assert all(r["look_through_factor"] == 1.0 for r in page.rows)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"offset": -1, "limit": 10}, "offset"),
        ({"offset": 0, "limit": 0}, "page size"),
        ({"offset": 0, "limit": MAX_PAGE + 1}, "page size"),
        ({"offset": 0, "limit": 10, "sort": [{"colId": "pnl; DROP TABLE x", "sort": "asc"}]}, "unknown column"),
        ({"offset": 0, "limit": 10, "sort": [{"colId": "pnl", "sort": "sideways"}]}, "direction"),
    ],
)
def test_bad_page_requests_are_refused(loaded_warehouse: Warehouse, kwargs: dict, message: str) -> None:
    scope = drill_scope(_body("2024-01-02"), ["PM01"])
    with pytest.raises(DrillError, match=message):
        fetch_page(loaded_warehouse, scope, **kwargs)


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        (_body("2024-01-02"), ["a", "b", "c"], "does not belong"),
        (_body("2024-01-02", dimensions=["bogus"]), ["x"], "not a known dimension"),
        (_body("2024-01-02"), [{"x": 1}], "not a single value"),
        ({**_body("2024-01-02"), "filters": {"trade_date": "2024-01-02", "desk": ["Rates"]},
          "dimensions": ["desk"]}, ["Equities"], "outside the current filter"),
        (_body("2024-01-02", dimensions=["trade_date"]), ["not-a-date"], "not a date"),
    ],
)
def test_bad_scopes_are_refused(body: dict, path: list, message: str) -> None:
    with pytest.raises(DrillError, match=message):
        drill_scope(body, path)


def test_hostile_path_values_are_bound_not_pasted(loaded_warehouse: Warehouse) -> None:
    scope = drill_scope(_body("2024-01-02"), ["x' OR '1'='1", "'; DROP TABLE trades_1d; --"])
    assert fetch_page(loaded_warehouse, scope, offset=0, limit=10).rows == []
    assert count_trades(loaded_warehouse, drill_scope(_body("2024-01-02"), [])) > 0


def test_pages_show_dates_and_times_as_text_a_trader_reads(loaded_warehouse: Warehouse, trades: pd.DataFrame) -> None:
    day = latest_trade_date(loaded_warehouse)
    page = fetch_page(loaded_warehouse, drill_scope(_body(day.isoformat()), []), offset=0, limit=200,
                      sort=[{"colId": "trade_id", "sort": "asc"}])
    assert page.rows
    by_id = trades.set_index(["trade_id", "exposure_type"])
    for row in page.rows:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", row["trade_time"]), row["trade_time"]
        assert row["trade_date"] == day.isoformat()
        stored = by_id.loc[(row["trade_id"], row["exposure_type"]), "trade_time"]
        stored = stored.iloc[0] if isinstance(stored, pd.Series) else stored
        assert row["trade_time"] == pd.Timestamp(stored).strftime("%Y-%m-%d %H:%M:%S")
        # The manager's name stands beside the id.
        names = by_id.loc[(row["trade_id"], row["exposure_type"]), "portfolio_manager_name"]
        assert row["portfolio_manager_name"] == (names.iloc[0] if isinstance(names, pd.Series) else names)


@pytest.mark.parametrize("zone", ["Asia/Ho_Chi_Minh", "America/New_York", "Europe/London", "UTC"])
def test_times_show_on_the_readers_wall_clock(loaded_warehouse: Warehouse, trades: pd.DataFrame, zone: str) -> None:
    day = latest_trade_date(loaded_warehouse)
    page = fetch_page(loaded_warehouse, drill_scope(_body(day.isoformat()), []), offset=0, limit=100,
                      sort=[{"colId": "trade_id", "sort": "asc"}], zone=zone)
    assert page.rows
    by_id = trades.set_index(["trade_id", "exposure_type"])
    for row in page.rows:
        stored = by_id.loc[(row["trade_id"], row["exposure_type"]), "trade_time"]
        stored = pd.Timestamp(stored.iloc[0] if isinstance(stored, pd.Series) else stored)
        utc = stored.tz_localize("UTC") if stored.tzinfo is None else stored.tz_convert("UTC")
        assert row["trade_time"] == utc.tz_convert(zone).strftime("%Y-%m-%d %H:%M:%S"), (zone, row["trade_id"])
        assert row["trade_date"] == day.isoformat()  # a trade date is a date, in no zone


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../../etc/passwd", "", "x" * 10_000])
def test_an_unknown_time_zone_is_refused(loaded_warehouse: Warehouse, zone: str) -> None:
    day = latest_trade_date(loaded_warehouse)
    with pytest.raises(DrillError, match="time zone"):
        fetch_page(loaded_warehouse, drill_scope(_body(day.isoformat()), []), offset=0, limit=10, zone=zone)


def test_drill_columns_lead_with_the_trade_and_carry_labels() -> None:
    assert DRILL_COLUMNS[:4] == ("side", "quantity", "price", "pnl")
    assert len(set(DRILL_COLUMNS)) == len(DRILL_COLUMNS)
    assert {DRILL_LABELS[c] for c in DRILL_COLUMNS[:4]} == {"Side", "Quantity", "Price", "P&L"}
    assert DRILL_LABELS["trade_time"] == "Time" and DRILL_LABELS["portfolio_manager_id"] == "Portfolio manager"
    at = DRILL_COLUMNS.index("portfolio_manager_id")
    assert DRILL_COLUMNS[at + 1] == "portfolio_manager_name" and DRILL_LABELS["portfolio_manager_name"] == "PM name"
    assert all(DRILL_LABELS[c] != c for c in DRILL_COLUMNS)  # never a raw field name


# -- stock cells over a range: the trades of the as-of date only ----------------------
HELD = ["Direct", "ETF", "ETC"]


def _range_body(trades: pd.DataFrame, **extra: object) -> dict:
    days = sorted(trades.trade_date.unique())
    # The range ends past the data: the as-of date is the last date with trades, not the range's end.
    return {"dimensions": ["desk", "symbol"], "metrics": ["pnl", "gross_exposure"],
            "filters": {"trade_date": {"from": days[-6].isoformat(), "to": "2099-12-31"}}, **extra}


def test_a_stock_cell_over_a_range_drills_to_the_as_of_date_and_a_flow_to_every_date(
        loaded_warehouse: Warehouse, trades: pd.DataFrame) -> None:
    body = _range_body(trades)
    answer = run_pivot(loaded_warehouse, PivotRequest.model_validate(body)).to_dict()
    start = pd.Timestamp(body["filters"]["trade_date"]["from"]).date()
    held = trades[(trades.trade_date >= start) & trades.exposure_type.isin(HELD)]
    last = max(held.trade_date)  # computed here, not read from the answer
    assert str(answer["meta"]["as_of"])[:10] == last.isoformat()
    desk = held[held.trade_date == last].desk.iloc[0]

    as_of = stock_as_of(body, "gross_exposure", [desk], [], answer["meta"]["as_of"])
    assert as_of == last
    stock_scope = drill_scope(body, [desk], as_of=as_of)
    on_day = held[(held.desk == desk) & (held.trade_date == last)]
    assert count_trades(loaded_warehouse, stock_scope) == len(on_day)
    page = fetch_page(loaded_warehouse, stock_scope, offset=0, limit=MAX_PAGE)
    # The drilled trades add up to the cell: gross exposure is the sum of |notional| on the as-of date.
    assert sum(abs(r["notional"]) for r in page.rows) == pytest.approx(on_day.notional.abs().sum(), rel=1e-9)
    cell = next(r for r in answer["subtotals"] + answer["rows"] if r.get("desk") == desk and r.get("symbol") is None)
    assert cell["gross_exposure"] == pytest.approx(on_day.notional.abs().sum(), rel=1e-9)

    # P&L is a flow: the same row's P&L cell opens every date of the range.
    assert stock_as_of(body, "pnl", [desk], [], answer["meta"]["as_of"]) is None
    assert count_trades(loaded_warehouse, drill_scope(body, [desk])) == int((held.desk == desk).sum())


@pytest.mark.parametrize(
    ("extra", "path"),
    [
        ({"stocks": "average"}, ["Equities"]),  # an average is made of every date
        ({"dimensions": ["trade_date", "desk"]}, ["2024-01-02"]),  # the row names its own day
        ({"columns": ["trade_date"]}, ["Equities"]),  # a dated split column is that day's level
    ],
)
def test_stock_cells_that_show_every_date_or_their_own_day_keep_the_request_dates(
        trades: pd.DataFrame, extra: dict, path: list) -> None:
    body = _range_body(trades, **extra)
    column_path = ["2024-01-02"] if extra.get("columns") else []
    assert stock_as_of(body, "gross_exposure", path, column_path, "2024-01-02") is None


def test_one_day_and_an_empty_answer_keep_the_request_dates(trades: pd.DataFrame) -> None:
    assert stock_as_of(_body("2024-01-02"), "gross_exposure", ["PM01"], [], "2024-01-02") is None
    assert stock_as_of(_range_body(trades), "gross_exposure", ["Equities"], [], None) is None


@pytest.mark.parametrize(
    ("as_of", "message"),
    [("1999-01-01", "not a date of this pivot"), ("2024-13-45", "not a date"), ("'; DROP TABLE x; --", "not a date"),
     ({"x": 1}, "not a date"), ("9" * 10_000, "not a date")],
)
def test_bad_as_of_dates_are_refused(trades: pd.DataFrame, as_of: object, message: str) -> None:
    with pytest.raises(DrillError, match=message):
        stock_as_of(_range_body(trades), "gross_exposure", ["Equities"], [], as_of)
    with pytest.raises(DrillError, match="not a date"):
        drill_scope(_range_body(trades), ["Equities"], as_of=as_of)
