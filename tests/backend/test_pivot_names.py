"""Names beside ids in the pivot tree, checked against DuckDB over the generator's files."""

from __future__ import annotations

from pathlib import Path

import duckdb

from backend.pivot import PivotRequest, run_pivot
from backend.pivot.engine import latest_trade_date
from backend.pivot.names import NAME_FIELD, id_names, with_names
from backend.pivot.result import tree_rows
from backend.warehouse import Warehouse


def test_every_manager_id_gets_its_names_from_the_trades(loaded_warehouse: Warehouse, trades_folder: Path) -> None:
    want = dict(duckdb.execute(
        "SELECT portfolio_manager_id, string_agg(DISTINCT portfolio_manager_name, ' / ' ORDER BY portfolio_manager_name) "
        f"FROM read_parquet('{trades_folder}/trades_1d/*.parquet') GROUP BY 1").fetchall())
    got = id_names(loaded_warehouse)
    assert got == {"portfolio_manager_id": want}
    assert all(name and name != pm for pm, name in want.items())


def test_rows_whose_own_level_is_a_manager_carry_the_name_and_nothing_else_changes(
        loaded_warehouse: Warehouse) -> None:
    day = latest_trade_date(loaded_warehouse).isoformat()
    body = {"dimensions": ["desk", "portfolio_manager_id", "symbol"], "metrics": ["pnl"],
            "filters": {"trade_date": day}, "limit": 3}
    tree = tree_rows(run_pivot(loaded_warehouse, PivotRequest.model_validate(body)).to_dict())
    names = id_names(loaded_warehouse)
    named = with_names(tree, body["dimensions"], names)
    assert len(named) == len(tree)
    for before, after in zip(tree, named, strict=True):
        own = len(before["_path"]) == 2 and before["_kind"] in ("group", "leaf")
        assert after.get(NAME_FIELD) == (names["portfolio_manager_id"][before["_path"][-1]] if own else None)
        assert {k: v for k, v in after.items() if k != NAME_FIELD} == before  # the row itself is untouched
    assert any(NAME_FIELD in r for r in named) and any(r["_kind"] == "other" for r in named)
    assert all(NAME_FIELD not in r for r in tree)  # the input is not changed


def test_unknown_and_hostile_ids_get_no_name() -> None:
    tree = [{"_path": ["'; DROP TABLE x; --"], "_kind": "leaf"}, {"_path": [None], "_kind": "leaf"},
            {"_path": [], "_kind": "total"}]
    named = with_names(tree, ["portfolio_manager_id"], {"portfolio_manager_id": {"PM01": "A"}})
    assert named == tree
