"""A scoped pivot is a pivot over the allowed rows only: rows, subtotals and totals against DuckDB over
the fixture's Parquet files, the rollup that answers, the filter value lists, names and latest date,
hostile scope values, and the result cache kept apart per scope."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import duckdb
import pytest

from backend.access.principal import EVERYTHING, DataScope
from backend.pivot import PivotRequest, distinct_values, latest_trade_date, run_pivot
from backend.pivot.names import id_names
from backend.pivot.service import pivot_answer
from backend.pivot.sql import build_query
from backend.warehouse import Warehouse
from tests.backend.access.test_scopes_support import (
    AS_HELD,
    HOSTILE_VALUES,
    SCOPES,
    close,
    duck_connection,
    duck_rows,
)

RANGE = {"from": "2024-02-01", "to": "2024-02-29"}
FLOWS = ("pnl", "notional", "trade_count")


@pytest.fixture(scope="module")
def duck(trades_folder: Path) -> duckdb.DuckDBPyConnection:
    return duck_connection(trades_folder)


def _flows(duck: duckdb.DuckDBPyConnection, scope: DataScope, dims: tuple[str, ...]) -> list[tuple]:
    keys = "".join(f"{d}, " for d in dims)
    group = f"GROUP BY {', '.join(dims)}" if dims else ""
    return duck_rows(duck, f"SELECT {keys}sum(pnl), sum(notional), count(*) FROM trades WHERE {AS_HELD} "
                           "AND trade_date BETWEEN DATE '2024-02-01' AND DATE '2024-02-29' AND {scope} "
                           f"{group}", scope)


def _check(got: dict[str, Any], want: tuple, scale: float) -> None:
    pnl, notional, count = want
    assert close(got["pnl"], pnl, scale) and close(got["notional"], notional, scale)
    assert got["trade_count"] == count


@pytest.mark.parametrize("dims", [("desk", "portfolio_manager_id"), ("book",), ("asset_class", "symbol")])
@pytest.mark.parametrize("name", list(SCOPES))
def test_scoped_rows_subtotals_and_totals_are_over_the_allowed_rows_only(
    loaded_warehouse: Warehouse, duck: duckdb.DuckDBPyConnection, name: str, dims: tuple[str, ...],
) -> None:
    scope = SCOPES[name]
    req = PivotRequest.model_validate({"dimensions": list(dims), "metrics": list(FLOWS),
                                       "filters": {"trade_date": RANGE}, "limit": 10_000})
    result = run_pivot(loaded_warehouse, req, scope=scope)
    leaves = _flows(duck, scope, dims)
    scale = sum(abs(w[-2]) for w in leaves) or 1.0
    assert not any(r.get("_other") for r in result.rows)
    got = {tuple(r[d] for d in dims): r for r in result.rows}
    assert set(got) == {tuple(w[: len(dims)]) for w in leaves}
    for want in leaves:
        _check(got[tuple(want[: len(dims)])], want[len(dims):], scale)
    if len(dims) == 2:
        firsts = {w[0]: w[1:] for w in _flows(duck, scope, dims[:1])}
        subs = {s[dims[0]]: s for s in result.subtotals if s["_level"] == 1}
        assert set(subs) == set(firsts)
        for key, want in firsts.items():
            _check(subs[key], want, scale)
    [(pnl, notional, count)] = _flows(duck, scope, ())
    _check(result.totals, (pnl or 0.0, notional or 0.0, count), scale)
    if name in ("empty", "unknown"):
        assert result.rows == [] and result.subtotals == []
        assert all(float(result.totals[m] or 0) == 0 for m in FLOWS)
    else:
        assert result.rows  # a scope over real values still shows its rows


@pytest.mark.parametrize("exposure", ["as_held", "look_through"])
@pytest.mark.parametrize("name", list(SCOPES))
def test_scoped_stocks_on_a_day_are_the_allowed_rows_levels(
    loaded_warehouse: Warehouse, duck: duckdb.DuckDBPyConnection, name: str, exposure: str,
) -> None:
    scope = SCOPES[name]
    req = PivotRequest.model_validate({"dimensions": ["desk"], "exposure": exposure,
                                       "metrics": ["gross_exposure", "net_exposure", "long_exposure"],
                                       "filters": {"trade_date": {"from": "2024-02-20", "to": "2024-02-29"}}})
    result = run_pivot(loaded_warehouse, req, scope=scope)
    # The as-of date is the last date with data among the allowed rows.
    [(as_of,)] = duck_rows(duck, "SELECT max(trade_date) FROM trades WHERE trade_date <= DATE '2024-02-29' "
                                 "AND trade_date >= DATE '2024-02-20' AND {scope}", scope)
    assert result.meta["as_of"] == (as_of.isoformat() if as_of else None)
    if exposure == "as_held" and as_of is not None:
        want = duck_rows(duck, f"SELECT desk, sum(abs(notional)), sum(notional), sum(greatest(notional, 0)) "
                               f"FROM trades WHERE {AS_HELD} AND trade_date = $day AND {{scope}} GROUP BY desk",
                         scope, {"day": as_of})
        got = {r["desk"]: r for r in result.rows}
        assert set(got) == {w[0] for w in want}
        scale = sum(w[1] for w in want)
        for desk, gross, net, long in want:
            row = got[desk]
            assert close(row["gross_exposure"], gross, scale) and close(row["net_exposure"], net, scale)
            assert close(row["long_exposure"], long, scale)
        assert close(result.totals["gross_exposure"], sum(w[1] for w in want), scale)
    if exposure == "look_through":
        # Look-through moves value between rows of one position, never across managers, desks or books.
        held = run_pivot(loaded_warehouse, req.model_copy(update={"exposure": "as_held"}), scope=scope)
        total = abs(held.totals["gross_exposure"] or 0) + 1.0
        assert close(result.totals["net_exposure"] or 0.0, held.totals["net_exposure"] or 0.0, total)


@pytest.mark.parametrize(("name", "dims", "source"), [
    ("pm", ["desk", "portfolio_manager_id", "symbol"], "trades_1d_rollup"),
    ("desk", ["asset_class"], "trades_1d_rollup"),
    ("combined", ["desk"], "trades_1d_book_rollup"),
    ("book", ["portfolio_manager_id"], "trades_1d_book_rollup"),
    ("pm", ["trader"], "trades_1d"),  # trader is in no rollup, scoped or not
])
def test_scoped_pivots_are_answered_from_the_rollup_that_holds_the_scope_columns(
    loaded_warehouse: Warehouse, name: str, dims: list[str], source: str,
) -> None:
    req = PivotRequest.model_validate({"dimensions": dims, "metrics": ["pnl"]})
    assert run_pivot(loaded_warehouse, req, scope=SCOPES[name]).meta["source"] == source
    # The same request unscoped reads the same table or a smaller one: the scope adds only its own columns.
    assert run_pivot(loaded_warehouse, req).meta["source"] in (source, "trades_1d_rollup")


def test_the_unrestricted_scope_gives_exactly_the_unscoped_answer(loaded_warehouse: Warehouse) -> None:
    req = PivotRequest.model_validate({"dimensions": ["desk", "book"], "metrics": ["pnl", "gross_exposure"],
                                       "filters": {"trade_date": RANGE}})
    plain, everything = run_pivot(loaded_warehouse, req), run_pivot(loaded_warehouse, req, scope=EVERYTHING)
    # The same query (sums may differ in the last bit: the engine adds in parallel, in no fixed order).
    for table in ("trades_1d", "trades_1d_book_rollup"):
        assert build_query(req, table, None).sql == build_query(req, table, None, scope=EVERYTHING).sql
        assert build_query(req, table, None).parameters == build_query(req, table, None, scope=EVERYTHING).parameters
    assert plain.meta["source"] == everything.meta["source"]
    assert [r["book"] for r in plain.rows] == [r["book"] for r in everything.rows]
    assert plain.totals == pytest.approx(everything.totals, rel=1e-12)


def test_hostile_scope_values_are_bound_never_spliced(loaded_warehouse: Warehouse) -> None:
    many = frozenset({f"PM{i:05d}" for i in range(10_000)})
    scope = DataScope(portfolio_managers=frozenset({*HOSTILE_VALUES, "PM11"}) | many,
                      desks=frozenset({*HOSTILE_VALUES, "Global Macro"}), books=None)
    req = PivotRequest.model_validate({"dimensions": ["portfolio_manager_id"], "metrics": ["pnl", "trade_count"]})
    query = build_query(req, "trades_1d_rollup", None, scope=scope)
    plain = build_query(req, "trades_1d_rollup", None,
                        scope=DataScope(portfolio_managers=frozenset({"x"}), desks=frozenset({"y"})))
    # The text is the same whatever the values: they travel as parameters only.
    assert query.sql == plain.sql
    assert query.parameters["scope_pm"] == sorted(scope.portfolio_managers or ())
    got = run_pivot(loaded_warehouse, req, scope=scope)
    only = run_pivot(loaded_warehouse, req, scope=DataScope(portfolio_managers=frozenset({"PM11"})))
    assert [r["portfolio_manager_id"] for r in got.rows] == ["PM11"]
    assert got.totals == pytest.approx(only.totals, rel=1e-12)
    nothing = run_pivot(loaded_warehouse, req, scope=DataScope(portfolio_managers=frozenset(HOSTILE_VALUES)))
    assert nothing.rows == [] and nothing.totals["trade_count"] == 0
    assert distinct_values(loaded_warehouse, "desk", scope=scope) == ["Global Macro"]


@pytest.mark.parametrize("name", list(SCOPES))
def test_filter_value_lists_names_and_latest_date_come_from_the_allowed_rows(
    loaded_warehouse: Warehouse, duck: duckdb.DuckDBPyConnection, name: str,
) -> None:
    scope = SCOPES[name]
    for dim in ("portfolio_manager_id", "desk", "book", "symbol"):
        want = [str(r[0]) for r in duck_rows(duck, f"SELECT DISTINCT {dim} FROM trades WHERE {{scope}} "
                                                   f"ORDER BY 1 LIMIT 200", scope)]
        assert distinct_values(loaded_warehouse, dim, scope=scope) == want, dim
    searched = distinct_values(loaded_warehouse, "portfolio_manager_id", search="pm1", scope=scope)
    assert all("PM1" in v for v in searched)
    names = id_names(loaded_warehouse, scope)["portfolio_manager_id"]
    allowed = {r[0] for r in duck_rows(duck, "SELECT DISTINCT portfolio_manager_id FROM trades "
                                             "WHERE portfolio_manager_name != '' AND {scope}", scope)}
    assert set(names) == allowed
    [(latest,)] = duck_rows(duck, "SELECT max(trade_date) FROM trades WHERE {scope}", scope)
    assert latest_trade_date(loaded_warehouse, scope) == latest


class _DictCache:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def set(self, key: str, value: Any, timeout: int | None = None) -> None:
        self.data[key] = value


def test_cached_answers_are_kept_apart_per_scope(loaded_warehouse: Warehouse) -> None:
    stores: Any = SimpleNamespace(warehouse=loaded_warehouse, cache=SimpleNamespace(cache=_DictCache()))
    body = {"dimensions": ["desk"], "metrics": ["pnl", "trade_count"], "filters": {"trade_date": RANGE}}
    pm, desk = SCOPES["pm"], SCOPES["desk"]
    first = pivot_answer(stores, body, pm)
    other = pivot_answer(stores, body, desk)
    assert first["meta"]["cached"] is False and other["meta"]["cached"] is False
    assert first["totals"] != other["totals"]
    assert {r["desk"] for r in other["rows"]} == {"Commodities", "Asia Equities"}
    again = pivot_answer(stores, body, pm)
    assert again["meta"]["cached"] is True and again["totals"] == first["totals"] and again["rows"] == first["rows"]
    everyone = pivot_answer(stores, body, EVERYTHING)
    assert everyone["meta"]["cached"] is False
    assert everyone["totals"]["trade_count"] > first["totals"]["trade_count"] + other["totals"]["trade_count"]
    nobody = pivot_answer(stores, body, SCOPES["empty"])
    assert nobody["meta"]["cached"] is False and nobody["rows"] == [] and nobody["totals"]["trade_count"] == 0
    # Equal scopes share an answer, however their values were ordered when made.
    same = DataScope(portfolio_managers=frozenset(sorted(pm.portfolio_managers or (), reverse=True)))
    assert pivot_answer(stores, body, same)["meta"]["cached"] is True
    assert len(stores.cache.cache.data) == 4
