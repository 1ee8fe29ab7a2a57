"""Flows and stocks over a date range, against brute force over the fixture Parquet.

Flows (P&L, fees, notional, quantity, trade counts) add up over the range. Stocks
(exposure, market value, unrealised P&L, delta) are read as of the range's last
trade date that has data under the filters — one date for the whole answer — or,
with ``"stocks": "average"``, averaged over the dates that have data. pandas and
DuckDB compute every expected number here from the Parquet files, never from the
engine; the engine is run on the raw table and on every rollup that can answer.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from backend.pivot import METRICS, PivotRequest, run_pivot
from backend.pivot.sql import RAW_TABLE, request_columns, table_can_answer
from backend.warehouse import Warehouse
from backend.warehouse.schema import ROLLUP_TABLES
from tests.backend.test_pivot_integration import Reference, verify

STOCKS = [m for m, spec in METRICS.items() if spec.kind == "stock"]
FLOWS = ["notional", "pnl", "quantity", "realized_pnl", "fees", "trade_count"]
AS_HELD = ("Direct", "ETF", "ETC")
# Each stock as a column of the brute-force frame.
_STOCK_COLUMN = {
    "gross_exposure": "gross", "net_exposure": "notional", "long_exposure": "long", "short_exposure": "short",
    "market_value": "market_value", "unrealized_pnl": "unrealized_pnl", "delta": "delta",
}
_FLOW_COLUMN = {"notional": "notional", "pnl": "pnl", "quantity": "quantity", "realized_pnl": "realized_pnl",
                "fees": "fees_all", "trade_count": "one"}


@pytest.fixture(scope="module")
def reference(trades_folder: Path) -> Reference:
    return Reference(trades_folder)


@pytest.fixture(scope="module")
def trades(trades_folder: Path) -> pd.DataFrame:
    frame = pd.concat(pd.read_parquet(p) for p in sorted((trades_folder / "trades_1d").glob("*.parquet")))
    frame = frame[frame.exposure_type.isin(AS_HELD)].copy()
    for col in ("desk", "symbol", "portfolio_manager_id", "book", "exposure_type"):
        frame[col] = frame[col].astype(str)
    frame["trade_date"] = pd.to_datetime(frame["trade_date"]).dt.date
    frame["gross"] = frame.notional.abs()
    frame["long"] = frame.notional.clip(lower=0)
    frame["short"] = frame.notional.clip(upper=0)
    frame["fees_all"] = frame.fees + frame.commission
    frame["one"] = 1.0
    return frame


def _select(frame: pd.DataFrame, start: date, end: date, filters: dict[str, str]) -> pd.DataFrame:
    out = frame[(frame.trade_date >= start) & (frame.trade_date <= end)]
    for name, value in filters.items():
        out = out[out[name] == value]
    return out


def _close(actual: Any, expected: float, scale: float, what: str) -> None:
    assert actual is not None, f"{what}: no value"
    assert abs(actual - expected) <= 1e-9 * max(abs(expected), scale, 1.0), f"{what}: {actual} != {expected}"


def _tables(req: PivotRequest) -> list[str]:
    return [RAW_TABLE, *(r.name for r in ROLLUP_TABLES if table_can_answer(r.name, request_columns(req)))]


def _sparse_pair(trades: pd.DataFrame, start: date, end: date) -> tuple[dict[str, str], date]:
    """A manager and symbol whose last trade date in the range is before the range's last."""
    span = _select(trades, start, end, {})
    last_all = span.trade_date.max()
    last = span.groupby(["portfolio_manager_id", "symbol"]).trade_date.max()
    early = last[last < last_all]
    assert len(early), "the fixture needs a manager/symbol pair that stops trading before the end"
    (pm, symbol), day = early.index[0], early.iloc[0]
    return {"portfolio_manager_id": pm, "symbol": symbol}, day


# -- the range view of stocks is the one-day view of its last date with data ------------------

RANGE = (date(2024, 2, 1), date(2024, 2, 25))  # ends on a Sunday: no data that day or the day before


@pytest.mark.parametrize("case", ["weekend end", "filter empties the last days", "look-through"])
@pytest.mark.parametrize("with_flows", [False, True])
def test_range_stocks_equal_the_one_day_view_of_the_last_date_with_data(
    loaded_warehouse: Warehouse, trades: pd.DataFrame, reference: Reference, case: str, with_flows: bool
) -> None:
    start, end = RANGE
    filters: dict[str, Any] = {}
    expected_day = _select(trades, start, end, {}).trade_date.max()
    if case == "filter empties the last days":
        pair, expected_day = _sparse_pair(trades, start, end)
        filters = {name: [value] for name, value in pair.items()}
    assert expected_day < end
    body = {
        "dimensions": ["desk", "portfolio_manager_id", "symbol"],
        "metrics": [*STOCKS, *(["pnl", "pnl_pct_gross"] if with_flows else [])],
        "filters": {"trade_date": {"from": start.isoformat(), "to": end.isoformat()}, **filters},
        "exposure": "look_through" if case == "look-through" else "as_held",
        "limit": 3,
    }
    req = PivotRequest.model_validate(body)
    one_day = PivotRequest.model_validate({**body, "filters": {**body["filters"], "trade_date": expected_day.isoformat()}})
    for table in _tables(req):
        ranged = run_pivot(loaded_warehouse, req, table=table)
        day = run_pivot(loaded_warehouse, one_day, table=table)
        assert ranged.meta["as_of"] == expected_day.isoformat() == day.meta["as_of"]
        verify(ranged, req, reference)  # every level and Other bucket against DuckDB
        for metric in STOCKS:
            assert math.isclose(ranged.totals[metric], day.totals[metric], rel_tol=1e-9, abs_tol=1e-6), metric
        # Leaf by leaf (limit cuts differ once flows change the order, so compare at full depth).
        full = PivotRequest.model_validate({**body, "limit": 10_000})
        day_rows = {tuple(r[d] for d in req.dimensions): r
                    for r in run_pivot(loaded_warehouse, one_day.model_copy(update={"limit": 10_000}), table=table).rows}
        range_rows = {tuple(r[d] for d in req.dimensions): r for r in run_pivot(loaded_warehouse, full, table=table).rows}
        if not with_flows:
            assert set(range_rows) == set(day_rows)  # stocks only: exactly the groups of that day
        assert set(day_rows) <= set(range_rows)
        for key, row in range_rows.items():
            for metric in STOCKS:
                want = day_rows[key][metric] if key in day_rows else 0.0  # no position that day
                assert math.isclose(row[metric], want, rel_tol=1e-9, abs_tol=1e-6), (key, metric)


def test_flows_add_up_over_the_range_and_stocks_do_not(loaded_warehouse: Warehouse, trades: pd.DataFrame) -> None:
    start, end = date(2024, 1, 8), date(2024, 2, 9)
    body = {"dimensions": ["desk"], "metrics": [*FLOWS, *STOCKS, "pnl_pct_gross"],
            "filters": {"trade_date": {"from": start.isoformat(), "to": end.isoformat()}}}
    req = PivotRequest.model_validate(body)
    frame = _select(trades, start, end, {})
    as_of = frame.trade_date.max()
    last = frame[frame.trade_date == as_of]
    flows = frame.groupby("desk")[list(_FLOW_COLUMN.values())].sum()
    stocks = last.groupby("desk")[list(_STOCK_COLUMN.values())].sum()
    for table in _tables(req):
        result = run_pivot(loaded_warehouse, req, table=table)
        assert result.meta["as_of"] == as_of.isoformat()
        assert result.meta["stock_days"] == frame.trade_date.nunique()
        for row in result.rows:
            desk = row["desk"]
            for metric, col in _FLOW_COLUMN.items():
                _close(row[metric], flows.at[desk, col], frame[col].abs().sum(), f"{desk} {metric}")
            for metric, col in _STOCK_COLUMN.items():
                _close(row[metric], stocks.at[desk, col], last[col].abs().sum(), f"{desk} {metric}")
            _close(row["pnl_pct_gross"], 100 * flows.at[desk, "pnl"] / stocks.at[desk, "gross"], 1e-9, desk)
        _close(result.totals["gross_exposure"], last.gross.sum(), 1.0, "total gross")
        _close(result.totals["pnl"], frame.pnl.sum(), frame.pnl.abs().sum(), "total pnl")
        # Summing the days would multiply the exposure by the number of days: it must not.
        assert result.totals["gross_exposure"] < frame.gross.sum() / 10


@pytest.mark.parametrize("sparse", [False, True])
def test_average_mode_is_the_mean_over_the_dates_with_data(
    loaded_warehouse: Warehouse, trades: pd.DataFrame, reference: Reference, sparse: bool
) -> None:
    start, end = date(2024, 1, 10), date(2024, 2, 25)
    filters: dict[str, Any] = {}
    if sparse:
        pair, _ = _sparse_pair(trades, start, end)
        filters = {"portfolio_manager_id": pair["portfolio_manager_id"]}
    body = {"dimensions": ["symbol", "book"], "metrics": [*STOCKS, "pnl"], "stocks": "average", "limit": 4,
            "filters": {"trade_date": {"from": start.isoformat(), "to": end.isoformat()},
                        **{k: [v] for k, v in filters.items()}}}
    req = PivotRequest.model_validate(body)
    frame = _select(trades, start, end, filters)
    dates = sorted(frame.trade_date.unique())
    # Daily totals per symbol (absent on a date: 0), averaged over the dates of the whole answer.
    daily = frame.groupby(["symbol", "trade_date"])[list(_STOCK_COLUMN.values())].sum()
    full = pd.MultiIndex.from_product([sorted(frame.symbol.unique()), dates], names=["symbol", "trade_date"])
    mean = daily.reindex(full, fill_value=0.0).groupby(level="symbol").mean()
    for table in _tables(req):
        result = run_pivot(loaded_warehouse, req, table=table)
        assert result.meta["stocks"] == "average" and result.meta["stock_days"] == len(dates)
        verify(result, req, reference)
        symbols = {s["symbol"]: s for s in result.subtotals if s["_level"] == 1 and not s.get("_other")}
        assert len(symbols) == min(req.limit, len(mean)) and set(symbols) <= set(mean.index)
        for symbol, row in symbols.items():
            for metric, col in _STOCK_COLUMN.items():
                _close(row[metric], mean.at[symbol, col], frame[col].abs().sum() / len(dates), f"{symbol} {metric}")
        _close(result.totals["net_exposure"], frame.notional.sum() / len(dates), frame.gross.sum() / len(dates), "total")


@pytest.mark.parametrize("stocks", ["last", "average"])
@pytest.mark.parametrize("exposure", ["as_held", "look_through"])
def test_subtotals_others_and_totals_add_up_at_the_one_date(
    loaded_warehouse: Warehouse, reference: Reference, stocks: str, exposure: str
) -> None:
    body = {"dimensions": ["asset_class", "portfolio_manager_id", "symbol"], "columns": ["exposure_type"],
            "metrics": ["gross_exposure", "net_exposure", "long_exposure", "delta", "pnl"], "limit": 2,
            "sort": {"field": "gross_exposure", "direction": "desc"}, "stocks": stocks, "exposure": exposure,
            "filters": {"trade_date": {"from": "2024-01-15", "to": "2024-02-18"}}}
    req = PivotRequest.model_validate(body)
    for table in _tables(req):
        result = run_pivot(loaded_warehouse, req, table=table)
        verify(result, req, reference)
        tree = result.tree_rows()
        assert any(r["_kind"] == "other" for r in tree)
        children: dict[tuple, list[dict]] = defaultdict(list)
        for row in tree:
            children[tuple(row["_path"][:-1])].append(row)
        parents = {(): result.totals} | {tuple(r["_path"]): r for r in tree if r["_kind"] == "group"}
        for path, parent in parents.items():
            for metric in ("gross_exposure", "net_exposure", "long_exposure", "delta", "pnl"):
                got = sum(c[metric] for c in children[path])
                assert math.isclose(got, parent[metric], rel_tol=1e-9, abs_tol=1e-3), (path, metric)
            for i in range(len(result.column_values)):  # each split column adds up as well
                got = sum(c.get(f"gross_exposure__c{i}") or 0.0 for c in children[path])
                assert math.isclose(got, parent.get(f"gross_exposure__c{i}") or 0.0, rel_tol=1e-9, abs_tol=1e-3)


def test_a_by_date_pivot_shows_each_day_and_totals_as_of_the_last(
    loaded_warehouse: Warehouse, trades: pd.DataFrame, reference: Reference
) -> None:
    start, end = date(2024, 2, 5), date(2024, 2, 25)
    for body in (
        {"dimensions": ["trade_date", "desk"], "metrics": ["net_exposure", "gross_exposure", "pnl"]},
        {"dimensions": ["desk"], "columns": ["trade_date"], "metrics": ["net_exposure", "pnl_pct_gross"]},
    ):
        req = PivotRequest.model_validate({**body, "filters": {"trade_date": {"from": start.isoformat(),
                                                                             "to": end.isoformat()}}})
        frame = _select(trades, start, end, {})
        per_day = frame.groupby("trade_date")[["notional", "gross"]].sum()
        for table in _tables(req):
            result = run_pivot(loaded_warehouse, req, table=table)
            assert result.meta["stocks_by_date"] is True
            verify(result, req, reference)
            if "columns" in body:
                for i, (day,) in enumerate(result.column_values):
                    _close(result.totals[f"net_exposure__c{i}"], per_day.at[date.fromisoformat(day), "notional"],
                           per_day.gross.sum(), day)
            else:
                for row in (s for s in result.subtotals if s["_level"] == 1):
                    day = date.fromisoformat(row["trade_date"])
                    _close(row["net_exposure"], per_day.at[day, "notional"], per_day.gross.sum(), str(day))
            _close(result.totals["net_exposure"], per_day.notional.iloc[-1], per_day.gross.sum(), "total")


def test_an_empty_answer_has_no_as_of_date(loaded_warehouse: Warehouse) -> None:
    req = PivotRequest.model_validate({"dimensions": ["desk"], "metrics": ["gross_exposure", "pnl"],
                                       "filters": {"trade_date": {"from": "2023-01-01", "to": "2023-12-31"}}})
    result = run_pivot(loaded_warehouse, req)
    assert result.rows == [] and result.meta["as_of"] is None and result.meta["stock_days"] == 0
    assert result.totals == {"gross_exposure": 0.0, "pnl": 0.0}
