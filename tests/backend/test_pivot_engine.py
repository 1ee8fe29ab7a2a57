"""Engine behaviour on the shared fixture warehouse: rollup vs raw, look-through
totals, hostile values, column caps and the filter-value look-ups."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import duckdb
import pytest

from backend.pivot import (
    PivotRequest,
    PivotRequestError,
    distinct_values,
    latest_trade_date,
    run_pivot,
)
from backend.pivot.sql import RAW_TABLE, request_columns, table_can_answer
from backend.warehouse import Warehouse
from backend.warehouse.schema import ROLLUP_TABLES

ROLLUP_REQUESTS: list[dict[str, Any]] = [
    {"dimensions": ["portfolio_manager_id", "asset_class", "symbol"], "metrics": ["notional", "pnl", "avg_price", "trade_count"]},
    {"dimensions": ["desk", "exposure_type"], "columns": ["currency"], "metrics": ["gross_exposure", "long_exposure", "short_exposure", "pnl_pct_gross"], "exposure": "look_through"},
    {"dimensions": ["parent_symbol", "symbol"], "metrics": ["notional", "quantity", "avg_price", "fees"], "exposure": "look_through", "limit": 3, "sort": {"field": "notional", "direction": "desc"}},
    {"dimensions": ["trade_date", "region"], "metrics": ["net_exposure", "delta", "market_value"], "filters": {"trade_date": {"from": "2024-01-10", "to": "2024-01-31"}, "sector": ["Information Technology", "Energy"]}},
    {"dimensions": ["sector"], "columns": ["exposure_type"], "metrics": ["realized_pnl", "unrealized_pnl"], "exposure": "look_through", "filters": {"exposure_type": ["Residual", "Constituent"]}},
    {"dimensions": ["book", "strategy"], "columns": ["region"], "metrics": ["net_exposure", "pnl", "avg_price"], "filters": {"trade_date": {"from": "2024-01-10", "to": "2024-02-05"}}},
    {"dimensions": ["counterparty", "book"], "metrics": ["gross_exposure", "pnl_pct_gross"], "stocks": "average", "filters": {"trade_date": {"from": "2024-01-10", "to": "2024-02-05"}}},
    {"dimensions": ["desk", "trade_date"], "columns": ["exposure_type"], "metrics": ["long_exposure", "fees"], "filters": {"trade_date": {"from": "2024-02-10", "to": "2024-02-20"}, "book": ["no such book"]}},
]


def _close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


def _same(x: dict, y: dict) -> None:
    assert x.keys() == y.keys()
    for key, value in x.items():
        if isinstance(value, float) or isinstance(y[key], float):
            assert _close(value, y[key]), f"{key}: {value} != {y[key]}"
        else:
            assert value == y[key], key


@pytest.mark.parametrize("body", ROLLUP_REQUESTS)
def test_every_rollup_that_can_answer_equals_the_raw_table(loaded_warehouse: Warehouse, body: dict) -> None:
    req = PivotRequest.model_validate(body)
    raw = run_pivot(loaded_warehouse, req, table=RAW_TABLE)
    able = [r.name for r in ROLLUP_TABLES if table_can_answer(r.name, request_columns(req))]
    assert able and run_pivot(loaded_warehouse, req).meta["source"] == able[0]  # the smallest
    for table in able:
        fast = run_pivot(loaded_warehouse, req, table=table)
        assert fast.meta["source"] == table and raw.meta["source"] == RAW_TABLE
        assert (fast.meta["as_of"], fast.meta["stock_days"]) == (raw.meta["as_of"], raw.meta["stock_days"])
        _same(fast.totals, raw.totals)
        assert fast.column_values == raw.column_values
        for a, b in zip(fast.tree_rows(), raw.tree_rows(), strict=True):
            _same(a, b)


@pytest.mark.parametrize(
    ("dimension", "source"),
    [("desk", "trades_1d_rollup"), ("book", "trades_1d_book_rollup"), ("strategy", "trades_1d_book_rollup"),
     ("counterparty", "trades_1d_counterparty_rollup"), ("trader", "trades_1d")],
)
def test_the_smallest_table_that_holds_the_request_answers(
    loaded_warehouse: Warehouse, dimension: str, source: str
) -> None:
    req = PivotRequest.model_validate({"dimensions": [dimension], "metrics": ["pnl"]})
    assert run_pivot(loaded_warehouse, req).meta["source"] == source
    # A filter on a column a rollup lacks moves the pivot to a table that has it.
    filtered = PivotRequest.model_validate({"dimensions": ["desk"], "metrics": ["pnl"], "filters": {dimension: "x"}})
    assert run_pivot(loaded_warehouse, filtered).meta["source"] == source


def test_the_counterparty_rollup_answers_as_held_only(loaded_warehouse: Warehouse) -> None:
    body = {"dimensions": ["counterparty", "book"], "metrics": ["pnl"]}
    held = run_pivot(loaded_warehouse, PivotRequest.model_validate(body))
    through = run_pivot(loaded_warehouse, PivotRequest.model_validate({**body, "exposure": "look_through"}))
    # Look-through scales each fund by its symbol, which that rollup does not keep.
    assert held.meta["source"] == "trades_1d_counterparty_rollup" and through.meta["source"] == "trades_1d"
    assert math.isclose(held.totals["pnl"], through.totals["pnl"], rel_tol=1e-9)
    with pytest.raises(PivotRequestError, match="does not hold"):
        run_pivot(loaded_warehouse, PivotRequest.model_validate({**body, "exposure": "look_through"}),
                  table="trades_1d_counterparty_rollup")


def test_a_rollup_cannot_be_forced_for_dimensions_it_lacks(loaded_warehouse: Warehouse) -> None:
    req = PivotRequest.model_validate({"dimensions": ["book"], "metrics": ["pnl"]})
    with pytest.raises(PivotRequestError, match="rollup"):
        run_pivot(loaded_warehouse, req, table="trades_1d_rollup")
    with pytest.raises(PivotRequestError, match="rollup"):
        run_pivot(loaded_warehouse, PivotRequest.model_validate({"dimensions": ["trader"], "metrics": ["pnl"]}),
                  table="trades_1d_counterparty_rollup")
    with pytest.raises(PivotRequestError, match="unknown source table"):
        run_pivot(loaded_warehouse, req, table="system.users")


@pytest.mark.parametrize("dimension", ["trade_date", "portfolio_manager_id", "book"])
def test_look_through_total_notional_equals_as_held(loaded_warehouse: Warehouse, dimension: str) -> None:
    def run(exposure: str) -> Any:
        body = {"dimensions": [dimension], "metrics": ["notional", "pnl", "market_value"], "exposure": exposure}
        return run_pivot(loaded_warehouse, PivotRequest.model_validate(body))

    held, through = run("as_held"), run("look_through")
    for metric in ("notional", "pnl", "market_value"):
        assert math.isclose(held.totals[metric], through.totals[metric], rel_tol=1e-9)
    by_key = {r[dimension]: r["notional"] for r in through.rows}
    for row in held.rows:  # per group too: a fund's look-through stays in its group
        assert math.isclose(row["notional"], by_key[row[dimension]], rel_tol=1e-9, abs_tol=1e-3)


def test_look_through_regroups_each_fund_to_its_as_held_value(loaded_warehouse: Warehouse) -> None:
    held = run_pivot(loaded_warehouse, PivotRequest.model_validate(
        {"dimensions": ["symbol"], "metrics": ["notional"], "filters": {"exposure_type": ["ETF", "ETC"]}}))
    through = run_pivot(loaded_warehouse, PivotRequest.model_validate(
        {"dimensions": ["parent_symbol"], "metrics": ["notional"], "exposure": "look_through",
         "filters": {"exposure_type": ["Constituent", "Residual"]}}))
    funds = {r["parent_symbol"]: r["notional"] for r in through.rows}
    assert {r["symbol"] for r in held.rows} == set(funds)
    for row in held.rows:
        assert math.isclose(row["notional"], funds[row["symbol"]], rel_tol=1e-9)


@pytest.mark.parametrize(
    "value",
    ["x' OR '1'='1", "PM01'); DROP TABLE trades_1d; --", "PM01` , 1) --", "Ünïcødé ✓ 中文 \u202e", "\\' \\\" %s {x:String}"],
)
def test_hostile_filter_values_match_nothing_and_leave_tables_intact(loaded_warehouse: Warehouse, value: str) -> None:
    before = loaded_warehouse.table_counts()
    for dimension, exposure in (("portfolio_manager_id", "as_held"), ("book", "look_through")):
        req = PivotRequest.model_validate({
            "dimensions": [dimension], "metrics": ["notional", "trade_count", "avg_price"],
            "filters": {dimension: [value]}, "exposure": exposure,
        })
        result = run_pivot(loaded_warehouse, req)
        assert result.rows == [] and result.subtotals == []
        assert result.totals == {"notional": 0.0, "trade_count": 0, "avg_price": None}
    assert distinct_values(loaded_warehouse, "symbol", search=value) == []
    assert loaded_warehouse.table_counts() == before


def test_column_combinations_are_capped_and_flagged(loaded_warehouse: Warehouse) -> None:
    req = PivotRequest.model_validate(
        {"dimensions": ["desk"], "columns": ["symbol", "book"], "metrics": ["notional"]})
    result = run_pivot(loaded_warehouse, req)
    assert len(result.column_values) == 200
    assert result.truncated and result.meta["columns_truncated"]
    assert result.column_values == sorted(result.column_values)
    unsplit = run_pivot(loaded_warehouse, PivotRequest.model_validate({"dimensions": ["desk"], "metrics": ["notional"]}))
    assert math.isclose(result.totals["notional"], unsplit.totals["notional"], rel_tol=1e-9)


def test_result_is_plain_json(loaded_warehouse: Warehouse) -> None:
    import json

    req = PivotRequest.model_validate({"dimensions": ["trade_date", "desk"], "columns": ["side"], "metrics": ["pnl", "trade_count", "avg_price"], "limit": 2})
    result = run_pivot(loaded_warehouse, req)
    assert json.loads(json.dumps(result.to_dict())) == result.to_dict()
    assert result.meta["data_version"] == loaded_warehouse.data_version()
    assert isinstance(result.rows[0]["trade_date"], str) and len(result.rows[0]["trade_date"]) == 10


def test_distinct_values_and_latest_date_match_the_parquet(loaded_warehouse: Warehouse, trades_folder: Path) -> None:
    files = str(trades_folder / "trades_1d" / "*.parquet")
    con = duckdb.connect()
    books = [r[0] for r in con.execute(f"SELECT DISTINCT book FROM read_parquet('{files}') ORDER BY 1").fetchall()]
    assert distinct_values(loaded_warehouse, "book", limit=10_000) == books
    assert distinct_values(loaded_warehouse, "book", limit=2) == books[:2]
    needle = books[0][1:3].lower()
    assert distinct_values(loaded_warehouse, "book", search=needle) == [b for b in books if needle in b.lower()]
    latest = con.execute(f"SELECT max(trade_date) FROM read_parquet('{files}')").fetchone()[0]
    assert latest_trade_date(loaded_warehouse) == latest


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"dimension": "book`; DROP TABLE x"}, "dimension"),
        ({"dimension": "book", "search": "x" * 201}, "search"),
        ({"dimension": "book", "limit": 0}, "limit"),
        ({"dimension": "book", "limit": 10_001}, "limit"),
        ({"dimension": "book", "limit": "5"}, "limit"),
    ],
)
def test_distinct_values_refuses_bad_arguments(loaded_warehouse: Warehouse, kwargs: dict, field: str) -> None:
    with pytest.raises(PivotRequestError, match=f"^{field}: "):
        distinct_values(loaded_warehouse, **kwargs)


def test_latest_trade_date_of_an_empty_warehouse_is_none(fresh_warehouse: Warehouse) -> None:
    assert latest_trade_date(fresh_warehouse) is None
    result = run_pivot(fresh_warehouse, PivotRequest.model_validate({"dimensions": ["desk"], "metrics": ["pnl", "avg_price"]}))
    assert result.rows == [] and result.totals == {"pnl": 0.0, "avg_price": None}
