"""Pivot request validation and the WHERE builder, with hostile and malformed input."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from backend.pivot import DIMENSIONS, METRICS, PivotRequest, PivotRequestError, build_where
from backend.pivot.result import tree_rows
from backend.pivot.where import FundCoverage

BASE: dict[str, Any] = {"dimensions": ["desk"], "metrics": ["pnl"]}
SQL_TEXT = "desk`; DROP TABLE trades_1d; --"


def refused(body: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        PivotRequest.model_validate(body)
    message = PivotRequestError.from_validation(info.value)
    assert "DROP" not in message and "SELECT" not in message
    return message


def test_whitelists_have_labels_formats_and_the_required_entries() -> None:
    assert len(DIMENSIONS) >= 12
    for name in ("trade_date", "portfolio_manager_id", "desk", "book", "strategy", "region",
                 "country", "currency", "asset_class", "sector", "industry", "symbol",
                 "exposure_type", "side", "parent_symbol", "counterparty"):
        assert DIMENSIONS[name].label
    for name in ("notional", "pnl", "quantity", "market_value", "realized_pnl", "unrealized_pnl",
                 "fees", "gross_exposure", "net_exposure", "long_exposure", "short_exposure",
                 "trade_count", "avg_price", "pnl_pct_gross", "delta"):
        spec = METRICS[name]
        assert spec.label and spec.format in {"money", "qty", "count", "pct", "price"}
    assert not METRICS["avg_price"].additive and not METRICS["pnl_pct_gross"].additive
    assert METRICS["notional"].additive


def test_minimal_request_gets_documented_defaults() -> None:
    req = PivotRequest.model_validate(BASE)
    assert (req.limit, req.exposure, req.cache, req.columns, req.sort) == (1000, "as_held", True, [], None)
    assert req.stocks == "last"


def test_every_metric_is_a_flow_or_a_stock() -> None:
    stocks = {m for m, spec in METRICS.items() if spec.kind == "stock"}
    assert stocks == {"gross_exposure", "net_exposure", "long_exposure", "short_exposure", "market_value",
                      "unrealized_pnl", "delta"}
    assert {m for m, spec in METRICS.items() if spec.kind == "flow"} == set(METRICS) - stocks
    # P&L % of gross is the range's P&L over a stock (the gross exposure as of the date).
    assert METRICS["pnl_pct_gross"].reads_stock and not METRICS["pnl"].reads_stock


def test_sort_by_a_split_column_and_the_stock_mode_are_accepted_and_part_of_the_request() -> None:
    body = BASE | {"columns": ["side", "region"], "stocks": "average",
                   "sort": {"field": "pnl", "direction": "asc", "column": ["Buy", "x" * 200]}}
    req = PivotRequest.model_validate(body)
    assert req.sort is not None and req.sort.column == ["Buy", "x" * 200]
    dumped = req.model_dump(mode="json")  # the cache key is built from this
    assert dumped["stocks"] == "average" and dumped["sort"]["column"] == ["Buy", "x" * 200]
    assert PivotRequest.model_validate(dumped) == req


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"dimensions": [SQL_TEXT]}, "dimensions", "not a known dimension"),
        ({"dimensions": []}, "dimensions", "at least 1"),
        ({"dimensions": ["desk", "desk"]}, "dimensions", "once"),
        ({"dimensions": ["desk", "book", "region", "symbol", "side", "sector", "trader"]}, "dimensions", "at most 6"),
        ({"dimensions": "desk"}, "dimensions", "valid list"),
        ({"dimensions": [7]}, "dimensions.0", "valid string"),
        ({"metrics": ["pnl); DROP TABLE x; --"]}, "metrics", "not a known metric"),
        ({"metrics": []}, "metrics", "at least 1"),
        ({"columns": ["desk"]}, "columns", "already a row dimension"),
        ({"columns": ["side", "region", "book"]}, "columns", "at most 2"),
        ({"columns": [SQL_TEXT]}, "columns", "not a known dimension"),
        ({"sort": {"field": "pnl desc; DROP TABLE x"}}, "sort.field", "not a metric or dimension"),
        ({"sort": {"field": "book"}}, "sort.field", "row dimensions"),
        ({"sort": {"field": "pnl", "direction": "sideways"}}, "sort.direction", "'asc' or 'desc'"),
        ({"sort": {"field": "pnl", "nulls": "first"}}, "sort.nulls", "unknown field"),
        ({"limit": 0}, "limit", "greater than or equal to 1"),
        ({"limit": -5}, "limit", "greater than or equal to 1"),
        ({"limit": 10**12}, "limit", "less than or equal to 10000"),
        ({"limit": "10"}, "limit", "valid integer"),
        ({"limit": True}, "limit", "valid integer"),
        ({"limit": 2.5}, "limit", "valid integer"),
        ({"exposure": "both"}, "exposure", "'as_held' or 'look_through'"),
        ({"cache": "yes"}, "cache", "valid boolean"),
        ({"where": "1=1"}, "where", "unknown field"),
        ({"filters": {"desk; DROP": "x"}}, "filters.<unnamed>", "unknown field"),
        ({"filters": {"desk": 5}}, "filters.desk", "string or a list of strings"),
        ({"filters": {"desk": {"$ne": 1}}}, "filters.desk", "string or a list of strings"),
        ({"filters": {"desk": []}}, "filters.desk", "at least one value"),
        ({"filters": {"desk": ["a", 3]}}, "filters.desk", "value 1 is not a string"),
        ({"filters": {"desk": "x" * 201}}, "filters.desk", "at most 200 characters"),
        ({"filters": {"desk": ["x"] * 10_001}}, "filters.desk", "at most 10,000 values"),
        ({"filters": {"trade_date": "2024-02-30"}}, "filters.trade_date", "ISO date"),
        ({"filters": {"trade_date": "15/01/2024"}}, "filters.trade_date", "ISO date"),
        ({"filters": {"trade_date": 20240115}}, "filters.trade_date", "ISO date"),
        ({"filters": {"trade_date": ["2024-01-15"]}}, "filters.trade_date", "ISO date"),
        ({"filters": {"trade_date": {"from": "2024-02-01", "to": "2024-01-01"}}}, "filters.trade_date",
         "end date 2024-01-01 is before start 2024-02-01"),
        ({"filters": {"trade_date": {"from": "2024-01-01", "until": "2024-02-01"}}}, "filters.trade_date", "unknown key"),
        ({"filters": {"trade_date": {}}}, "filters.trade_date", "'from', 'to' or both"),
        ({"filters": {"exposure_type": "Bogus"}}, "filters.exposure_type", "unknown exposure type"),
        ({"stocks": "sum"}, "stocks", "'last' or 'average'"),
        ({"stocks": "last'; DROP TABLE trades_1d; --"}, "stocks", "'last' or 'average'"),
        ({"stocks": ["last"]}, "stocks", "'last' or 'average'"),
        ({"stocks": None}, "stocks", "'last' or 'average'"),
        ({"stocks": 1}, "stocks", "'last' or 'average'"),
        ({"stocks": "x" * 100_000}, "stocks", "'last' or 'average'"),
        ({"sort": {"field": "pnl", "column": ["Buy"]}}, "sort.column", "only a pivot with columns"),
        ({"columns": ["side"], "sort": {"field": "pnl", "column": ["Buy", "Sell"]}}, "sort.column",
         "one value per column dimension (1)"),
        ({"columns": ["side"], "sort": {"field": "pnl", "column": ["a", "b", "c"]}}, "sort.column", "at most 2"),
        ({"columns": ["side", "region"], "sort": {"field": "pnl", "column": ["Buy"]}}, "sort.column",
         "one value per column dimension (2)"),
        ({"columns": ["side"], "sort": {"field": "pnl", "column": []}}, "sort.column", "at least 1"),
        ({"columns": ["side"], "sort": {"field": "pnl", "column": "Buy"}}, "sort.column", "valid list"),
        ({"columns": ["side"], "sort": {"field": "pnl", "column": [7]}}, "sort.column.0", "valid string"),
        ({"columns": ["side"], "sort": {"field": "pnl", "column": [None]}}, "sort.column.0", "valid string"),
        ({"columns": ["side"], "sort": {"field": "pnl", "column": ["x" * 201]}}, "sort.column.0", "at most 200"),
        ({"columns": ["side"], "sort": {"field": "desk", "column": ["Buy"]}}, "sort.column", "by a metric"),
        ({"columns": ["side"], "sort": {"field": "pnl", "column": {"$gt": ""}}}, "sort.column", "valid list"),
    ],
)
def test_bad_request_is_refused_with_a_message_naming_the_field(change: dict, field: str, words: str) -> None:
    message = refused(BASE | change)
    assert message.startswith(f"{field}: "), message
    assert words in message, message


def test_hostile_values_that_are_valid_strings_are_accepted_as_values() -> None:
    body = BASE | {"filters": {"desk": [SQL_TEXT, "Ünïcødé ✓ 中文", "' OR 1=1 --", "x" * 200]}}
    req = PivotRequest.model_validate(body)
    where, params = build_where({"desk": req.filters.desk}, "as_held")
    assert SQL_TEXT not in where and "OR 1=1" not in where and "中文" not in where
    assert params["f0"] == body["filters"]["desk"]


def test_ten_thousand_filter_values_are_accepted() -> None:
    req = PivotRequest.model_validate(BASE | {"filters": {"symbol": [f"S{i}" for i in range(10_000)]}})
    assert len(req.filters.symbol) == 10_000


@pytest.mark.parametrize(
    ("exposure", "types", "words"),
    [
        ("as_held", ["ETF", "Constituent"], "counts the same fund twice"),
        ("look_through", ["ETC", "Constituent"], "counts the same fund twice"),
        ("as_held", ["Direct", "Constituent"], "not part of the as_held view"),
        ("as_held", "Residual", "not part of the as_held view"),
        ("look_through", ["Direct", "ETF"], "not part of the look_through view"),
    ],
)
def test_double_counting_exposure_filters_are_refused(exposure: str, types: Any, words: str) -> None:
    message = refused(BASE | {"exposure": exposure, "filters": {"exposure_type": types}})
    assert message.startswith("filters.exposure_type: ") and words in message
    with pytest.raises(ValueError, match="filters.exposure_type"):
        build_where({"exposure_type": types}, exposure)


def test_exposure_filters_inside_the_view_are_accepted() -> None:
    for exposure, types in (("as_held", ["Direct", "ETF", "ETC"]), ("look_through", ["Direct", "Constituent", "Residual"])):
        PivotRequest.model_validate(BASE | {"exposure": exposure, "filters": {"exposure_type": types}})


def test_where_binds_every_value_and_maps_residual_to_fund_rows() -> None:
    where, params = build_where(
        {"trade_date": {"from": "2024-01-02", "to": "2024-01-31"}, "exposure_type": ["Residual"], "parent_symbol": "SPY"},
        "look_through",
        FundCoverage({"SPY": 0.08, "QQQ": 0.0}),
    )
    assert params["td_from"] == date(2024, 1, 2) and params["td_to"] == date(2024, 1, 31)
    assert sorted(params["f0"]) == ["ETC", "ETF"]  # residual rows are the funds' own rows
    assert params["lt_full"] == ["QQQ"]  # fully explained: no residual row
    assert "SPY" not in where and "2024" not in where


def test_where_refuses_unknown_dimensions_and_views() -> None:
    with pytest.raises(ValueError, match="unknown dimension"):
        build_where({"desk`) OR (1=1": "x"}, "as_held")
    with pytest.raises(ValueError, match="exposure"):
        build_where({}, "both")


def test_validation_message_never_echoes_the_input() -> None:
    message = refused(BASE | {"metrics": ["SELECT secret FROM users"]})
    assert "secret" not in message


def test_tree_rows_interleaves_groups_others_and_leaves_depth_first() -> None:
    result = {
        "dimensions": ["a", "b"],
        "rows": [
            {"a": "x", "b": "1", "v": 1}, {"a": "x", "b": None, "v": 2, "_other": True, "_folded": 3},
            {"a": "y", "b": "1", "v": 3},
        ],
        "subtotals": [
            {"a": "x", "v": 3, "_level": 1}, {"a": "y", "v": 3, "_level": 1},
            {"a": None, "v": 9, "_level": 1, "_other": True, "_folded": 2},
        ],
    }
    got = [(r["_kind"], r["_path"]) for r in tree_rows(result)]
    assert got == [
        ("group", ["x"]), ("leaf", ["x", "1"]), ("other", ["x", None]),
        ("group", ["y"]), ("leaf", ["y", "1"]), ("other", [None]),
    ]
    ids = [r["_id"] for r in tree_rows(result)]
    assert len(set(ids)) == len(ids)
