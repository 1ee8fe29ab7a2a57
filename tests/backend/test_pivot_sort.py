"""Sorting siblings by a metric in one split column, checked against DuckDB over the Parquet."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from backend.pivot import PivotRequest, run_pivot
from backend.warehouse import Warehouse
from tests.backend.test_pivot_integration import Reference, verify


@pytest.fixture(scope="module")
def reference(trades_folder: Path) -> Reference:
    return Reference(trades_folder)


def _index(result: Any, column: list[str]) -> int:
    return [list(c) for c in result.column_values].index(column)


def _children(result: Any) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = defaultdict(list)
    for row in result.tree_rows():
        out[tuple(row["_path"][:-1])].append(row)
    return out


@pytest.mark.parametrize(
    ("body", "column"),
    [
        # Fund symbols hold only ETF/ETC rows: most symbols have no value in the ETF column.
        ({"dimensions": ["symbol"], "columns": ["exposure_type"], "metrics": ["pnl", "notional"],
          "sort": {"field": "pnl", "direction": "desc"}}, ["ETF"]),
        ({"dimensions": ["desk", "symbol"], "columns": ["side"], "metrics": ["gross_exposure", "pnl"],
          "sort": {"field": "gross_exposure", "direction": "asc"}, "limit": 3,
          "filters": {"trade_date": {"from": "2024-01-20", "to": "2024-02-10"}}}, ["Sell"]),
        ({"dimensions": ["portfolio_manager_id", "asset_class"], "columns": ["side", "exposure_type"],
          "metrics": ["notional"], "sort": {"field": "avg_price", "direction": "desc"}, "limit": 4,
          "exposure": "as_held"}, ["Buy", "Direct"]),
        ({"dimensions": ["book", "desk"], "columns": ["trade_date"], "metrics": ["net_exposure"],
          "sort": {"field": "net_exposure", "direction": "desc"}, "limit": 5,
          "filters": {"trade_date": {"from": "2024-02-20", "to": "2024-02-23"}}}, ["2024-02-21"]),
    ],
)
def test_siblings_follow_the_metric_in_the_chosen_split_column(
    loaded_warehouse: Warehouse, reference: Reference, body: dict, column: list[str]
) -> None:
    req = PivotRequest.model_validate({**body, "sort": {**body["sort"], "column": column}})
    result = run_pivot(loaded_warehouse, req)
    verify(result, req, reference)  # the order at every level, Others and values, from DuckDB
    field, desc = req.sort.field, req.sort.direction == "desc"
    if field not in req.metrics:
        return  # a metric not shown orders the rows; verify() has checked that order
    i = _index(result, column)
    for siblings in _children(result).values():
        kept = [r for r in siblings if r["_kind"] != "other"]
        values = [r.get(f"{field}__c{i}") for r in kept]
        present = [v for v in values if v is not None]
        assert values[: len(present)] == present, "groups with no value in the column come last"
        assert present == sorted(present, reverse=desc)


def test_groups_with_no_value_in_the_column_come_last_in_key_order(loaded_warehouse: Warehouse) -> None:
    req = PivotRequest.model_validate({"dimensions": ["symbol"], "columns": ["exposure_type"], "metrics": ["pnl"],
                                       "sort": {"field": "pnl", "direction": "desc", "column": ["ETF"]}})
    result = run_pivot(loaded_warehouse, req)
    i = _index(result, ["ETF"])
    symbols = [r["symbol"] for r in result.rows]
    with_value = [r["symbol"] for r in result.rows if r[f"pnl__c{i}"] is not None]
    without = [r["symbol"] for r in result.rows if r[f"pnl__c{i}"] is None]
    assert with_value and without
    assert symbols == with_value + sorted(without)
    # The same metric over all columns would order the rows differently.
    overall = run_pivot(loaded_warehouse, PivotRequest.model_validate(
        {**req.model_dump(), "sort": {"field": "pnl", "direction": "desc"}}))
    assert [r["symbol"] for r in overall.rows] != symbols


def test_a_column_that_is_not_in_the_answer_leaves_the_key_order(loaded_warehouse: Warehouse) -> None:
    body = {"dimensions": ["desk"], "columns": ["side"], "metrics": ["pnl"]}
    plain = run_pivot(loaded_warehouse, PivotRequest.model_validate(body))
    gone = run_pivot(loaded_warehouse, PivotRequest.model_validate(
        {**body, "sort": {"field": "pnl", "direction": "desc", "column": ["Hold' OR 1=1 --"]}}))
    assert [r["desk"] for r in gone.rows] == sorted(r["desk"] for r in plain.rows)
    assert gone.totals.keys() == plain.totals.keys()
    for name, value in plain.totals.items():  # sums over threads may differ in the last bits
        assert math.isclose(gone.totals[name], value, rel_tol=1e-12), name


def test_sorting_by_a_split_column_changes_nothing_but_the_order(loaded_warehouse: Warehouse) -> None:
    body = {"dimensions": ["desk", "symbol"], "columns": ["side"], "metrics": ["pnl", "net_exposure"]}
    plain = run_pivot(loaded_warehouse, PivotRequest.model_validate(body))
    ranked = run_pivot(loaded_warehouse, PivotRequest.model_validate(
        {**body, "sort": {"field": "pnl", "direction": "asc", "column": ["Buy"]}}))

    def by_path(result: Any) -> dict[str, dict]:
        return {r["_id"]: r for r in result.tree_rows()}

    a, b = by_path(plain), by_path(ranked)
    assert a.keys() == b.keys()
    for key, row in a.items():
        for name, value in row.items():
            if isinstance(value, float):
                assert math.isclose(value, b[key][name], rel_tol=1e-12, abs_tol=1e-6), (key, name)
    assert [r["_id"] for r in plain.tree_rows()] != [r["_id"] for r in ranked.tree_rows()]
